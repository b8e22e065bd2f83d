"""Loading the generator of a network pickle for metrics and tools, with one-line errors."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import torch

from training.metrics.errors import MetricError

__all__ = ['load_generator', 'USER_ERRORS', 'run_cli']


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


def _user_errors() -> tuple[type[Exception], ...]:
    """Exception types that mean bad input (reported as one line by the CLIs), not a bug."""
    from networks import PickleError
    from training.dataset import DatasetError
    from training.metrics.detector import DetectorError
    return (MetricError, DetectorError, PickleError, DatasetError, FileNotFoundError)


USER_ERRORS = _user_errors()


def run_cli(body: Callable[[], object], extra_errors: tuple[type[Exception], ...] = ()) -> int:
    """Run a tool's body: 0 on success, 1 with one 'error: ...' line on stderr for bad input."""
    try:
        body()
    except (*USER_ERRORS, *extra_errors) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0
