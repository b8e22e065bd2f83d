"""The one factory of tiny real networks (StyleGAN3-T, StyleGAN3-R, StyleGAN2) for every test package.

Tiny means fast on two shared CPU cores while running every code path of the full networks. The metrics
and tool tests save a set of them with `write_tiny_networks`; the visualizer tests use 32 px ones with a
louder output (`pkl_dir` in tests/viz/conftest.py).
"""

from __future__ import annotations

import os

import torch

KINDS = ('sg3', 'sg3r', 'sg2')


def tiny_generator(kind: str = 'sg3', resolution: int = 32, c_dim: int = 0, channel_base: int = 512,
                   channel_max: int = 32, seed: int | None = None, **kwargs) -> torch.nn.Module:
    """A randomly initialised generator in eval mode; `seed` None draws from torch's current RNG state.

    `kind`: 'sg3' (StyleGAN3-T), 'sg3r' (StyleGAN3-R: 1x1 convolutions, radial filters) or 'sg2'
    (StyleGAN2 with a 2-layer mapping network unless `mapping_kwargs` says otherwise). `kwargs` go to the
    constructor.
    """
    from networks import stylegan2, stylegan3

    if seed is not None:
        torch.manual_seed(seed)
    common = dict(z_dim=16, c_dim=c_dim, w_dim=16, img_resolution=resolution, img_channels=3,
                  channel_base=channel_base, channel_max=channel_max)
    if kind == 'sg3':
        G = stylegan3.Generator(**common, **kwargs)
    elif kind == 'sg3r':
        G = stylegan3.Generator(**common, **{'conv_kernel': 1, 'use_radial_filters': True, **kwargs})
    elif kind == 'sg2':
        G = stylegan2.Generator(**common, **{'mapping_kwargs': dict(num_layers=2), **kwargs})
    else:
        raise ValueError(f'unknown kind {kind!r}: one of {KINDS}')
    return G.eval().requires_grad_(False)


def write_tiny_networks(root, resolution: int = 16, c_dim: int = 0) -> dict:
    """Tiny StyleGAN3-T, StyleGAN3-R and StyleGAN2 generators saved as our pickles: {kind: path}."""
    import networks

    torch.manual_seed(0)  # one seed for the three, drawn in this order
    paths = {}
    for kind in KINDS:
        G = tiny_generator(kind, resolution, c_dim, channel_base=256, channel_max=16)
        paths[kind] = os.path.join(str(root), f'{kind}.pkl')
        networks.save_network_pkl(paths[kind], dict(G_ema=G))
    return paths
