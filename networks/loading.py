"""The generator of a network pickle: the one loader every tool, the renderer and the metrics use."""

from __future__ import annotations

import os

import torch

from .errors import PickleError
from .pickle_io import load_network_pkl

__all__ = ['load_generator']


def load_generator(path: str | os.PathLike, device: str | torch.device = 'cpu') -> torch.nn.Module:
    """G_ema (or G) of a network pickle, ours or NVlabs', on `device`, in eval mode, without gradients.

    Raises :class:`PickleError` (a UserError: one line) when the file is missing, unreadable, unsafe, or
    holds no generator network (one with `mapping` and `synthesis`).
    """
    if isinstance(path, (str, os.PathLike)) and not os.path.exists(path):
        raise PickleError(f'network pickle not found: {os.fspath(path)}')
    G = load_network_pkl(path, device=device)['G_ema']  # load_network_pkl falls back on G, or raises
    if not isinstance(G, torch.nn.Module) or not hasattr(G, 'synthesis') or not hasattr(G, 'mapping'):
        raise PickleError(f'{os.fspath(path)}: holds no generator (G_ema is a {type(G).__name__})')
    return G
