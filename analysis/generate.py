"""Generating images for given seeds, class, truncation, noise mode and input transform."""

from __future__ import annotations

import torch

from analysis.directions import DirectionResolver
from networks.conventions import ClassError, class_count, class_label, seed_latent, to_uint8_rgb
from networks.errors import UserError
from networks.stylegan2 import per_image_noise
from networks.stylegan3 import input_transform, input_transform_of

__all__ = ['generate_images', 'label_for']


def label_for(G: torch.nn.Module, class_idx: int | None) -> torch.Tensor:
    """[1, c_dim] label of `networks.conventions.class_label` for images of given seeds: a conditional network
    needs a class here (as NVlabs' gen_images and gen_video), and an unconditional one refuses one (a class that
    changes nothing would look as if it had been applied)."""
    if class_idx is not None and not class_count(G):
        raise ClassError(f'class {class_idx} given, but the network is unconditional (it has no classes)')
    return class_label(G, class_idx)


def generate_images(G: torch.nn.Module, seeds: list[int], truncation_psi: float = 1.0, class_idx: int | None = None,
                    noise_mode: str = 'const', translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0,
                    device: torch.device | str = 'cpu', directions=(), resolver: DirectionResolver | None = None):
    """Yields (seed, HWC uint8 image) for each seed; ``directions`` are edits (analysis.directions) of its ws.

    The arguments are checked when this is called, not when the first image is drawn: a translation or rotation
    asked of a network without an input transform (StyleGAN2) is refused, since it would change nothing.
    ``noise_mode='random'`` gives each image the fresh noise of its seed (``networks.stylegan2.noise_maps``), so
    the same seeds draw the same images on every run and in any order."""
    if noise_mode not in ('const', 'random', 'none'):
        raise UserError(f'bad noise mode {noise_mode!r}: const, random or none', option='noise_mode')
    label = label_for(G, class_idx).to(device)
    if (translate != (0.0, 0.0) or rotate != 0.0) and input_transform_of(G) is None:
        raise UserError('translate/rotate: this network has no input transform (StyleGAN2); '
                        'only StyleGAN3 networks can be moved', option=('translate', 'rotate'))
    return _generate(G, seeds, truncation_psi, label, noise_mode, translate, rotate, device, directions,
                     resolver or DirectionResolver())


@torch.no_grad()
def _generate(G, seeds, truncation_psi, label, noise_mode, translate, rotate, device, directions, resolver):
    with input_transform(G, translate, rotate):  # restored when the generator finishes or closes
        for seed in seeds:
            ws = G.mapping(seed_latent(G, seed).to(device), label, truncation_psi=truncation_psi)
            ws = resolver.edit(G, ws, directions)
            if noise_mode == 'random':
                with per_image_noise(G, [seed]):  # a seed's own noise in the const buffers
                    img = G.synthesis(ws, noise_mode='const')
            else:
                img = G.synthesis(ws, noise_mode=noise_mode)
            yield seed, to_uint8_rgb(img[0])
