"""Choice of implementation for the custom ops: the pure-PyTorch path, fused CUDA kernels or a fused CPU op.

Every op takes ``impl='auto' | 'torch' | 'cuda' | 'cpu'``. The choice is made at call time from the tensor's
device, never at import. ``'auto'`` picks the fused kernels for CUDA tensors when a kernel plugin has been
registered for that op and built successfully, the fused CPU ops (``ops/cpu``: filtered_lrelu, and the
Winograd convolution of :mod:`ops.conv3x3`) for CPU tensors likewise, and the PyTorch path otherwise. Plugins
register themselves through :func:`register_cuda_plugin` / :func:`register_cpu_plugin`; until one is
registered, every call uses the PyTorch path, which runs on CPU, CUDA and MPS alike.
``ALIASFREE_OPS_IMPL=torch`` forces the PyTorch path. How a plugin is built, checked and reported is
:mod:`ops.plugin`'s; command lines take the choice with :func:`add_impl_argument`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import torch

_VALID_IMPLS = ("auto", "torch", "cuda", "cpu")
_default_impl = os.environ.get("ALIASFREE_OPS_IMPL", "auto")
_plugins: dict[str, Callable[[], object | None]] = {}
_cpu_plugins: dict[str, Callable[[], object | None]] = {}
_lock = threading.Lock()


def set_default_impl(impl: str) -> None:
    """Sets what ``impl='auto'`` means for every op: 'auto' (fused kernels where possible), 'torch', 'cuda', 'cpu'."""
    global _default_impl
    if impl not in _VALID_IMPLS:
        raise ValueError(f"impl must be one of {_VALID_IMPLS}, got {impl!r}")
    _default_impl = impl


def get_default_impl() -> str:
    return _default_impl


IMPL_HELP = ("custom ops: 'auto' = the fused CUDA kernels on CUDA tensors and the fused CPU ops on CPU tensors, "
             "where they build and pass their self-check, else the PyTorch path; 'torch' = always the PyTorch "
             "path; 'cuda' = the CUDA kernels or an error; 'cpu' = as auto (the fused CPU ops where an op has "
             "one) (default: $ALIASFREE_OPS_IMPL or auto)")


def add_impl_argument(parser) -> None:
    """Adds ``--impl {auto,torch,cuda,cpu}`` to an argparse parser; pass its value to :func:`set_default_impl`."""
    parser.add_argument("--impl", choices=_VALID_IMPLS, default=get_default_impl(), help=IMPL_HELP)


def register_cuda_plugin(op_name: str, loader: Callable[[], object | None]) -> None:
    """Registers a loader that returns the compiled plugin for ``op_name``, or None when it is unavailable.

    The loader is called lazily on the first CUDA call and must never raise: on failure it returns None after
    warning once with the reason.
    """
    with _lock:
        _plugins[op_name] = loader


def cuda_plugin(op_name: str) -> object | None:
    loader = _plugins.get(op_name)
    return None if loader is None else loader()


def register_cpu_plugin(op_name: str, loader: Callable[[], object | None]) -> None:
    """Like :func:`register_cuda_plugin`, for a fused CPU op (called lazily on the first eligible CPU call)."""
    with _lock:
        _cpu_plugins[op_name] = loader


def cpu_plugin(op_name: str) -> object | None:
    loader = _cpu_plugins.get(op_name)
    return None if loader is None else loader()


def resolve_impl(op_name: str, x: torch.Tensor, impl: str = "auto") -> str:
    """Returns 'cuda', 'cpu' or 'torch' for this call.

    'cpu' means: this op has a fused CPU op registered and the call may use it; the op then checks that the call
    suits it (dtype, gradients) and loads it with :func:`cpu_plugin`, which builds it on first use (nothing is
    built here) and returns None when it is unavailable, in which case the op uses the PyTorch path. A default
    of 'cuda' or 'cpu' set for every op means the PyTorch path on the other device and for ops without such a
    kernel.
    """
    if impl not in _VALID_IMPLS:
        raise ValueError(f"{op_name}: impl must be one of {_VALID_IMPLS}, got {impl!r}")
    explicit = impl
    if impl == "auto":
        impl = _default_impl
    if impl == "torch":
        return "torch"
    if x.device.type == "cpu" and impl in ("auto", "cpu"):
        if op_name in _cpu_plugins:
            return "cpu"
        if explicit == "cpu":
            raise ValueError(f"{op_name}: impl='cpu' is not available: no fused CPU op for it")
        return "torch"
    if explicit == "cpu":
        raise ValueError(f"{op_name}: impl='cpu' needs a CPU tensor, got one on {x.device}")
    if impl == "cpu":
        impl = "auto"  # a global default of 'cpu' leaves CUDA tensors to 'auto'
    if x.device.type != "cuda":
        if impl == "cuda":
            raise ValueError(f"{op_name}: impl='cuda' needs a CUDA tensor, got one on {x.device}")
        return "torch"
    plugin_ok = cuda_plugin(op_name) is not None
    if impl == "cuda" and not plugin_ok:
        raise RuntimeError(f"{op_name}: impl='cuda' was requested but the CUDA kernels are not available")
    return "cuda" if plugin_ok else "torch"
