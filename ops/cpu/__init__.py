"""Fused CPU kernel for filtered_lrelu (C++, built with ninja at first use; see ``build.py``).

Importing this package registers a lazy loader with :mod:`ops.backend`; nothing is compiled until
filtered_lrelu runs on a CPU tensor with ``impl='auto'`` or ``'cpu'``. ``ALIASFREE_OPS_IMPL=torch`` (every op)
or ``ALIASFREE_CPU_OPS=0`` (this one) keeps the PyTorch path. Its life cycle and status are :mod:`ops.plugin`'s
(``build.FUSED``).
"""

from __future__ import annotations

from .. import backend
from . import build

backend.register_cpu_plugin("filtered_lrelu", build.FUSED.get)

__all__ = ["build"]
