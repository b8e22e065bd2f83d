"""Fused CUDA kernels for bias_act, upfirdn2d and filtered_lrelu (built at first use; see ``build.py``).

Importing this package only registers lazy loaders with :mod:`ops.backend`; nothing is compiled until an op
runs on a CUDA tensor with ``impl='auto'`` or ``'cuda'``, or :func:`warm_up_async` is called.
"""

from __future__ import annotations

import functools

from .. import backend
from . import build
from .build import op_status, warm_up_async

for _op in build.OPS:
    backend.register_cuda_plugin(_op, functools.partial(build.get_plugin, _op))

__all__ = ["build", "op_status", "warm_up_async"]
