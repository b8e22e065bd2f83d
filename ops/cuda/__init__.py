"""Fused CUDA kernels for bias_act, upfirdn2d and filtered_lrelu (built at first use; see ``build.py``).

Importing this package only registers lazy loaders with :mod:`ops.backend`; nothing is compiled until an op
runs on a CUDA tensor with ``impl='auto'`` or ``'cuda'``, or :func:`warm_up_async` is called.

For command lines and the GUI: :func:`add_impl_argument` adds ``--impl {auto,torch,cuda}`` to an argparse
parser, :func:`apply_impl` makes it the default of every op, :func:`describe` says in one line what the ops
use now (for a performance panel).
"""

from __future__ import annotations

import functools

from .. import backend
from . import build
from .build import op_status, warm_up_async

for _op in build.OPS:
    backend.register_cuda_plugin(_op, functools.partial(build.get_plugin, _op))

IMPL_HELP = ("custom ops: 'auto' = fused CUDA kernels on CUDA tensors when they build, else PyTorch; 'torch' = "
             "always the PyTorch path; 'cuda' = the kernels or an error (default: $ALIASFREE_OPS_IMPL or auto)")


def add_impl_argument(parser) -> None:
    parser.add_argument("--impl", choices=("auto", "torch", "cuda"), default=backend.get_default_impl(),
                        help=IMPL_HELP)


def apply_impl(impl: str) -> None:
    backend.set_default_impl(impl)


def describe() -> str:
    """e.g. 'ops: auto, kernels compiling' or 'ops: auto, kernels failed: no CUDA device is available'."""
    impl = backend.get_default_impl()
    if impl == "torch":
        return "ops: PyTorch path (impl=torch)"
    states = {op_status(op) for op in build.OPS}
    failed = sorted(s for s in states if s.startswith("failed"))
    state = failed[0] if failed else ("ready" if states == {"ready"} else
                                      "compiling" if "compiling" in states else "not built yet")
    return f"ops: impl={impl}, CUDA kernels {state}"


__all__ = ["add_impl_argument", "apply_impl", "build", "describe", "op_status", "warm_up_async"]
