"""The project's default network: until a trained one ships, a small untrained StyleGAN3-T built in memory.

Its weights come from a fixed seed, so every machine shows the same (random-looking) images, and it is
small enough for a CPU to render it in a fraction of a second. The GUI and headless output label it
"untrained".
"""

from __future__ import annotations

import torch

DEFAULT_NETWORK_KWARGS = dict(
    z_dim=64, c_dim=0, w_dim=64, img_resolution=128, img_channels=3,
    channel_base=1024, channel_max=32, magnitude_ema_beta=0.999,
    output_scale=2.0,  # untrained outputs are faint at the usual 0.25; this gives visible contrast
)
DEFAULT_NETWORK_NAME = 'untrained StyleGAN3-T 128x128 (built in memory)'


def build_default_generator(device: str | torch.device = 'cpu') -> torch.nn.Module:
    """An untrained StyleGAN3-T generator with deterministic weights (seed 0), in eval mode, no grads."""
    from networks.stylegan3 import Generator

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = Generator(**DEFAULT_NETWORK_KWARGS)
    return G.eval().requires_grad_(False).to(device)
