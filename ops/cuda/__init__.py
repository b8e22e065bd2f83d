"""Fused CUDA kernels for bias_act, upfirdn2d and filtered_lrelu (built at first use; see ``build.py``).

Importing this package only registers lazy loaders with :mod:`ops.backend`; nothing is compiled until an op
runs on a CUDA tensor with ``impl='auto'`` or ``'cuda'``, or :func:`warm_up_async` is called. Their life cycle
and status are :mod:`ops.plugin`'s (``build.KERNELS[op]``).
"""

from __future__ import annotations

from .. import backend
from . import build
from .build import warm_up_async

for _op, _kernel in build.KERNELS.items():
    backend.register_cuda_plugin(_op, _kernel.get)

__all__ = ["build", "warm_up_async"]
