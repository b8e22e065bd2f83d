"""Loading the generator of a network pickle for metrics and tools, with one-line errors (MetricError)."""

from __future__ import annotations

import os

import torch

from training.metrics.errors import MetricError

__all__ = ['load_generator']


def load_generator(path: str, device: str | torch.device = 'cpu') -> torch.nn.Module:
    """G_ema (or G) from a network pickle, ours or NVlabs'; MetricError with one line on any problem."""
    if not os.path.isfile(path):
        raise MetricError(f'network pickle not found: {path!r}')
    import networks
    try:
        data = networks.load_network_pkl(path, device=device)
    except (ValueError, OSError) as err:  # networks.PickleError is a ValueError
        raise MetricError(f'cannot load network {path!r}: {err}') from err
    for key in ('G_ema', 'G'):
        if isinstance(data, dict) and isinstance(data.get(key), torch.nn.Module):
            return data[key].eval().requires_grad_(False)
    raise MetricError(f'{path!r} holds no generator (no G_ema or G)')
