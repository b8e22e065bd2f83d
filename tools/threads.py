"""Thread settings that survive busy cores, applied before torch is imported (no torch import here).

PyTorch's CPU wheels use GNU OpenMP, whose idle threads spin ("active" wait) between parallel regions. When
another process holds the cores, a spinning thread burns the time slice its sibling needs and a forward pass
that takes 40 ms quiet takes 1.7 s (measured on 2 shared cores). ``OMP_WAIT_POLICY=PASSIVE`` makes
idle threads sleep instead; quiet speed is unchanged (README, "Threads"; ``benchmarks/bench_cpu_load.py``).

The OpenMP runtime reads these variables once, when torch loads it, so :func:`configure` must run before the
first ``import torch``: ``tools/__init__.py`` calls it (``python -m tools.X`` runs it first) and so does the top
of ``visualizer.py``. A variable the user set is never changed: their choice wins, and ``torch.set_num_threads``
called later still overrides the thread count.
"""

from __future__ import annotations

import os
import sys

__all__ = ['DEFAULTS', 'available_cores', 'configure', 'dataloader_workers']

# The measured choice (README, "Threads"): passive waiting; one OpenMP / MKL thread per core this process may use.
DEFAULTS = {'OMP_WAIT_POLICY': 'PASSIVE'}
_COUNT_VARIABLES = ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')

applied: dict[str, str] = {}   # what configure() set (not what the user had set), for tests and --debug


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. under taskset or a container), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def configure(environ: dict | None = None) -> dict[str, str]:
    """Set the wait policy and thread counts in ``environ`` (default ``os.environ``) where the user has not.

    Returns the variables it set. When torch is already imported the OpenMP runtime has read its settings, so
    nothing is changed then (changing the environment would only mislead child processes' readers of it).
    """
    env = os.environ if environ is None else environ
    if environ is None and 'torch' in sys.modules:
        return {}
    wanted = dict(DEFAULTS)
    # torch reads MKL_NUM_THREADS before OMP_NUM_THREADS (measured: OMP_NUM_THREADS=1 MKL_NUM_THREADS=2 gives 2
    # threads), so a count the user set for either one is kept by setting neither.
    if not any(name in env for name in _COUNT_VARIABLES):
        cores = str(available_cores())
        for name in _COUNT_VARIABLES:
            wanted[name] = cores
    set_now = {}
    for name, value in wanted.items():
        if name not in env:   # the user's own value, even an empty one, wins
            env[name] = value
            set_now[name] = value
    if environ is None:
        applied.update(set_now)
    return set_now


def dataloader_workers(requested: int, cores: int | None = None) -> int:
    """DataLoader worker processes that make sense here: at most one per core left beside the training process.

    On a 2-core machine NVlabs' default of 3 workers makes 4 processes fight for 2 cores (PyTorch warns about
    it); one worker keeps the data flowing while the main process uses the other core.
    """
    cores = available_cores() if cores is None else cores
    return max(0, min(int(requested), max(1, cores - 1)))
