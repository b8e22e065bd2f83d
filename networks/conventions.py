"""NVlabs' conventions at the two ends of a generator: seed -> latent z (and class c), float image -> uint8.

Every tool, the renderer and the metrics use these, so a seed gives the same image everywhere (and the same
image as NVlabs' `gen_images.py` for the same network).
"""

from __future__ import annotations

import numpy as np
import torch

from ops.spectrum import quantize_uint8

__all__ = ['seed_to_zc', 'seed_latent', 'to_uint8', 'to_uint8_rgb']


def seed_to_zc(seed: int, z_dim: int, c_dim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The latent z (float64 [z_dim], `RandomState(seed).randn`) of a seed, and a one-hot class c (float32
    [c_dim]) drawn from the same generator after z for conditional networks (all zeros when c_dim is 0)."""
    rnd = np.random.RandomState(int(seed) % (2**32))
    z = rnd.randn(z_dim)
    c = np.zeros(c_dim, dtype=np.float32)
    if c_dim > 0:
        c[rnd.randint(c_dim)] = 1
    return z, c


def seed_latent(G: torch.nn.Module, seed: int) -> torch.Tensor:
    """[1, z_dim] float32 latent of a seed for `G` (the z of :func:`seed_to_zc`)."""
    return torch.from_numpy(seed_to_zc(seed, G.z_dim)[0][None]).float()


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in about [-1, 1] -> uint8 of the same shape: x * 127.5 + 128, clamped, truncated."""
    return quantize_uint8(images.detach().to(torch.float32))


def to_uint8_rgb(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] (or [N, C, H, W]) float in about [-1, 1] -> uint8 HxWx3 (or NxHxWx3), contiguous.

    One channel is shown as grey, two as red and green, more than three as their first three.
    """
    img = to_uint8(x.cpu()).movedim(-3, -1).numpy()
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    elif img.shape[-1] == 2:
        img = np.concatenate([img, np.zeros_like(img[..., :1])], axis=-1)
    return np.ascontiguousarray(img[..., :3])
