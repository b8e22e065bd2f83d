"""Tiny networks saved as pickles, shared by the visualizer tests."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

TINY_SG3 = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, channel_base=512, channel_max=32,
                output_scale=2.0)
TINY_SG2 = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, channel_base=512, channel_max=32)


def build_tiny_sg3() -> torch.nn.Module:
    from networks.stylegan3 import Generator

    torch.manual_seed(1)
    return Generator(**TINY_SG3).eval().requires_grad_(False)


@pytest.fixture(scope='session')
def pkl_dir(tmp_path_factory):
    """tiny_sg3.pkl, tiny_sg2.pkl, aliasing_sg3.pkl, garbage.pkl, truncated.pkl, malicious.pkl, no_generator.pkl."""
    import networks
    from networks.stylegan2 import Generator as G2

    root = tmp_path_factory.mktemp('pkls')
    networks.save_network_pkl(str(root / 'tiny_sg3.pkl'), dict(G_ema=build_tiny_sg3()))
    torch.manual_seed(2)
    g2 = G2(**TINY_SG2).eval()
    with torch.no_grad():
        for name, param in g2.named_parameters():
            if name.endswith('noise_strength'):
                param.fill_(0.5)  # zero at init: make the noise visible
    networks.save_network_pkl(str(root / 'tiny_sg2.pkl'), dict(G_ema=g2))
    # "StyleGAN2-like with Fourier input": the same schedule without anti-aliasing (no upsampling around the
    # nonlinearity, one-tap filters), as the paper's baseline configurations.
    torch.manual_seed(1)
    from networks.stylegan3 import Generator as G3

    networks.save_network_pkl(str(root / 'aliasing_sg3.pkl'), dict(
        G_ema=G3(**TINY_SG3, lrelu_upsampling=1, filter_size=1).eval()))
    (root / 'garbage.pkl').write_bytes(os.urandom(4096))
    data = (root / 'tiny_sg3.pkl').read_bytes()
    (root / 'truncated.pkl').write_bytes(data[: len(data) // 3])
    marker = root / 'PWNED'

    class Evil:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))

    (root / 'malicious.pkl').write_bytes(pickle.dumps({'G_ema': Evil()}, protocol=4))
    networks.save_network_pkl(str(root / 'no_generator.pkl'), dict(note='nothing here'))
    return root
