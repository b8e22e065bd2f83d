"""The project's default network: the trained StyleGAN3-T of networks/pretrained/ when it ships, else a small
untrained StyleGAN3-T built in memory.

The untrained one's weights come from a fixed seed, so every machine shows the same (random-looking) images,
and it is small enough for a CPU to render it in a fraction of a second. The GUI and headless output label it
"untrained"; a trained default is labelled by its card (what it is, the dataset, the kimg trained).
"""

from __future__ import annotations

import os

import torch

from networks import pretrained
from viz.core.render_types import DEFAULT_PKL

DEFAULT_KEY = 'sg3t'  # the network the visualizer opens when its card and pickle are there

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


def default_entries(folder: str | None = None) -> list[tuple[str, str]]:
    """(label, pkl) of every available trained default network, then the built-in untrained one (DEFAULT_PKL):
    the pickle widget's "Default networks" list."""
    entries = [(pretrained.card_label(card), pretrained.pickle_path(card, folder))
               for card in pretrained.available(folder)]
    return entries + [(DEFAULT_NETWORK_NAME, DEFAULT_PKL)]


def default_pkl(folder: str | None = None) -> str:
    """What the visualizer opens when no pickle is named: the trained SG3-T's pickle, else DEFAULT_PKL."""
    for card in pretrained.available(folder):
        if card['key'] == DEFAULT_KEY:
            return pretrained.pickle_path(card, folder)
    return DEFAULT_PKL


def card_of_pickle(pkl: str, folder: str | None = None) -> dict | None:
    """The card of a shipped default network whose pickle `pkl` is (the same file), else None."""
    if pkl == DEFAULT_PKL or not os.path.isfile(pkl):
        return None
    for card in pretrained.available(folder):
        try:
            if os.path.samefile(pretrained.pickle_path(card, folder), pkl):
                return card
        except OSError:
            continue
    return None
