"""Generating images for given seeds, class, truncation, noise mode and input transform."""

from __future__ import annotations

import warnings

import torch

from analysis.directions import DirectionResolver
from networks.conventions import seed_latent, to_uint8_rgb
from networks.errors import UserError
from networks.stylegan3 import input_transform, input_transform_of

__all__ = ['class_label', 'generate_images']


def class_label(G: torch.nn.Module, class_idx: int | None) -> torch.Tensor:
    """[1, c_dim] one-hot label; conditional networks need a class, unconditional ones ignore it."""
    c_dim = int(getattr(G, 'c_dim', 0) or 0)
    label = torch.zeros([1, c_dim])
    if c_dim:
        if class_idx is None:
            raise UserError(f'this network is conditional ({c_dim} classes): pass --class C')
        if not 0 <= class_idx < c_dim:
            raise UserError(f'--class {class_idx} out of range: the network has {c_dim} classes')
        label[:, class_idx] = 1
    elif class_idx is not None:
        warnings.warn('--class ignored: the network is unconditional', stacklevel=2)
    return label


def generate_images(G: torch.nn.Module, seeds: list[int], truncation_psi: float = 1.0, class_idx: int | None = None,
                    noise_mode: str = 'const', translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0,
                    device: torch.device | str = 'cpu', directions=(), resolver: DirectionResolver | None = None):
    """Yields (seed, HWC uint8 image) for each seed; ``directions`` are edits (analysis.directions) of its ws.

    The arguments are checked, and a StyleGAN2 network warns that it ignores --translate/--rotate, when this is
    called (the warning names the caller's line), not when the first image is drawn."""
    if noise_mode not in ('const', 'random', 'none'):
        raise UserError(f'bad --noise-mode {noise_mode!r}: const, random or none')
    label = class_label(G, class_idx).to(device)
    if (translate != (0.0, 0.0) or rotate != 0.0) and input_transform_of(G) is None:
        warnings.warn('--translate/--rotate ignored: the network has no input transform (StyleGAN2)', stacklevel=2)
    return _generate(G, seeds, truncation_psi, label, noise_mode, translate, rotate, device, directions,
                     resolver or DirectionResolver())


@torch.no_grad()
def _generate(G, seeds, truncation_psi, label, noise_mode, translate, rotate, device, directions, resolver):
    with input_transform(G, translate, rotate):  # restored when the generator finishes or closes
        for seed in seeds:
            ws = G.mapping(seed_latent(G, seed).to(device), label, truncation_psi=truncation_psi)
            img = G.synthesis(resolver.edit(G, ws, directions), noise_mode=noise_mode)
            yield seed, to_uint8_rgb(img[0])
