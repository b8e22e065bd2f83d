"""NVlabs' conventions at the two ends of a generator: seed -> latent z (and class c), float image -> uint8.

Every tool, the renderer and the metrics use these, so a seed gives the same image everywhere (and the same
image as NVlabs' `gen_images.py` for the same network).

Class labels have one rule (:func:`class_label`): a given class index is its one-hot vector; without one, a
conditional network gets the seed's own class (drawn after z, as NVlabs' visualizer and avg_spectra do), or,
where the caller has no seed, a :class:`ClassRequired` error.
"""

from __future__ import annotations

import numpy as np
import torch

from networks.errors import UserError
from ops.spectrum import quantize_uint8

__all__ = ['MAX_SEED', 'ClassError', 'ClassRequired', 'class_count', 'class_label', 'one_hot', 'random_class_labels',
           'seed_to_zc', 'seed_latent', 'to_uint8', 'to_uint8_rgb']

MAX_SEED = 2**32 - 1  # numpy's RandomState, which turns a seed into a latent, takes 0 .. 2**32 - 1


class ClassError(UserError, ValueError):
    """A class index the network does not have. ``option`` names the setting that gave it ('class'), so a
    command line can say which flag and the GUI which control; the message itself names no flag."""

    option = 'class'


class ClassRequired(ClassError):
    """A conditional network was asked for an image without a class and without a seed to draw one from."""


def seed_to_zc(seed: int, z_dim: int, c_dim: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The latent z (float64 [z_dim], `RandomState(seed).randn`) of a seed, and a one-hot class c (float32
    [c_dim]) drawn from the same generator after z for conditional networks (all zeros when c_dim is 0)."""
    rnd = np.random.RandomState(int(seed) % (2**32))
    z = rnd.randn(z_dim)
    c = np.zeros(c_dim, dtype=np.float32)
    if c_dim > 0:
        c[rnd.randint(c_dim)] = 1
    return z, c


def class_count(G: torch.nn.Module) -> int:
    """The number of classes of a conditional generator; 0 for an unconditional one (or one without ``c_dim``)."""
    return int(getattr(G, 'c_dim', 0) or 0)


def one_hot(c_dim: int, class_idx: int) -> np.ndarray:
    """float32 [c_dim] with a 1 at ``class_idx``; :class:`ClassError` when the network has no such class."""
    if not 0 <= int(class_idx) < c_dim:
        raise ClassError(f'class {class_idx} out of range: the network has {c_dim} classes (0..{c_dim - 1})'
                         if c_dim else f'class {class_idx} given, but the network is unconditional')
    c = np.zeros(c_dim, dtype=np.float32)
    c[int(class_idx)] = 1
    return c


def random_class_labels(c_dim: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """[n, c_dim] float32 one-hot labels of classes drawn uniformly from `generator` ([n, 0] when unconditional):
    the labels of random samples (PCA of W, metrics), where no seed gives the class."""
    c = torch.zeros([n, c_dim])
    if c_dim:
        c[torch.arange(n), torch.randint(c_dim, [n], generator=generator)] = 1
    return c


def class_label(G: torch.nn.Module, class_idx: int | None = None, seed: int | None = None) -> torch.Tensor:
    """[1, c_dim] float32 label of the one class rule: ``class_idx``'s one-hot when given, else the seed's own
    class (:func:`seed_to_zc`); [1, 0] for an unconditional network, which ignores a class (callers that
    should say so warn). :class:`ClassError` for a class the network does not have, :class:`ClassRequired`
    for a conditional network without a class or a seed."""
    c_dim = class_count(G)
    if not c_dim:
        return torch.zeros([1, 0])
    if class_idx is not None:
        return torch.from_numpy(one_hot(c_dim, class_idx))[None]
    if seed is None:
        raise ClassRequired(f'this network is conditional ({c_dim} classes): give a class (0..{c_dim - 1})')
    return torch.from_numpy(seed_to_zc(seed, int(G.z_dim), c_dim)[1])[None]


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
