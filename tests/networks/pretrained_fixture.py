"""A folder laid out like networks/pretrained/ (card + pickle + reference PNG per key), made of tiny networks, for
the tests of the default-network code while no trained network ships yet."""

from __future__ import annotations

import copy
import json
import os

import numpy as np

from tests.tiny_networks import tiny_generator

KIND_OF_KEY = {'sg3t': 'sg3', 'sg3r': 'sg3r', 'sg2': 'sg2'}
TITLE_OF_KEY = {'sg3t': 'StyleGAN3-T', 'sg3r': 'StyleGAN3-R', 'sg2': 'StyleGAN2'}
CFG_OF_KEY = {'sg3t': 'stylegan3-t', 'sg3r': 'stylegan3-r', 'sg2': 'stylegan2'}
SEED_OF_KEY = {'sg3t': 1, 'sg3r': 2, 'sg2': 3}  # the "trained" weights: a fixed seed per key, never 12345
RESOLUTION = 16


def card_for(key: str, kimg: float = 123.4) -> dict:
    """A complete, valid card for `key` (every field of the schema in h15_common.md)."""
    return {
        'key': key, 'title': TITLE_OF_KEY[key], 'cfg': CFG_OF_KEY[key], 'resolution': RESOLUTION,
        'file': f'{key}.pkl',
        'dataset': {'name': 'builtin:photos', 'command': 'python -m tools.dataset_tool --source builtin:photos',
                    'count': 10000, 'resolution': RESOLUTION},
        'training': {'command': 'python -m training.train_slice --minutes 12', 'kimg': kimg, 'seconds': 4567.0,
                     'hardware': '1x NVIDIA H200', 'slices': 3},
        'metrics': {'swd': 12.5, 'eqt50k_int': None, 'eqt50k_frac': 40.1, 'eqr50k': None, 'eq_samples': 1000,
                    'swd_images': 16384, 'notes': 'fixture'},
        'reference': {'seed': 0, 'psi': 1.0, 'png': f'{key}-ref.png', 'max_abs_tolerance': 0.02},
        'images': {'grid': f'docs/pretrained-{key}-grid.png', 'swd_curve': f'docs/pretrained-{key}-swd.png'},
        'created': '2026-11-29', 'format': 1,
    }


def tiny_for(key: str, seed: int | None = None):
    """The tiny generator standing in for the trained `key` network (output scaled so images use the range)."""
    kind = KIND_OF_KEY[key]
    extra = {} if kind == 'sg2' else {'output_scale': 2.0}
    return tiny_generator(kind, resolution=RESOLUTION, seed=SEED_OF_KEY[key] if seed is None else seed, **extra)


def write_card(root, card: dict) -> str:
    path = os.path.join(str(root), f'{card["key"]}.json')
    with open(path, 'w') as f:
        json.dump(card, f)
    return path


def write_default_folder(root, keys=('sg3t', 'sg3r', 'sg2'), seeds: dict | None = None) -> dict:
    """Write card, float16 pickle and reference PNG per key into `root`, as the export step ships them; the
    reference is rendered from the pickle as stored (float16 rounding included). Returns {key: card}."""
    import PIL.Image

    import networks
    from networks import pretrained

    cards = {}
    for key in keys:
        card = card_for(key)
        networks.save_network_pkl(os.path.join(str(root), card['file']),
                                  dict(G_ema=tiny_for(key, (seeds or {}).get(key))), half=True)
        G = pretrained.load_card_generator(card, str(root))
        img = pretrained.render_reference(G, card['reference']['seed'], card['reference']['psi'])
        PIL.Image.fromarray(np.ascontiguousarray(img)).save(os.path.join(str(root), card['reference']['png']))
        write_card(root, card)
        cards[key] = copy.deepcopy(card)
    return cards
