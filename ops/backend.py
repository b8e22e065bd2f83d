"""Choice of implementation for the custom ops: the pure-PyTorch path or fused CUDA kernels.

Every op takes ``impl='auto' | 'torch' | 'cuda'``. The choice is made at call time from the tensor's
device, never at import. ``'auto'`` picks the fused kernels for CUDA tensors when a kernel plugin has been
registered for that op and built successfully, and the PyTorch path otherwise. The CUDA plugins (``ops/cuda``)
register themselves through :func:`register_cuda_plugin`; until one is registered, every call uses the
PyTorch path, which runs on CPU, CUDA and MPS alike.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import torch

_VALID_IMPLS = ("auto", "torch", "cuda")
_default_impl = os.environ.get("ALIASFREE_OPS_IMPL", "auto")
_plugins: dict[str, Callable[[], object | None]] = {}
_lock = threading.Lock()


def set_default_impl(impl: str) -> None:
    """Sets what ``impl='auto'`` means for every op: 'auto' (CUDA kernels where possible), 'torch' or 'cuda'."""
    global _default_impl
    if impl not in _VALID_IMPLS:
        raise ValueError(f"impl must be one of {_VALID_IMPLS}, got {impl!r}")
    _default_impl = impl


def get_default_impl() -> str:
    return _default_impl


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


def resolve_impl(op_name: str, x: torch.Tensor, impl: str = "auto") -> str:
    """Returns 'cuda' or 'torch' for this call."""
    if impl not in _VALID_IMPLS:
        raise ValueError(f"{op_name}: impl must be one of {_VALID_IMPLS}, got {impl!r}")
    if impl == "auto":
        impl = _default_impl
    if impl == "torch" or x.device.type != "cuda":
        if impl == "cuda" and x.device.type != "cuda":
            raise ValueError(f"{op_name}: impl='cuda' needs a CUDA tensor, got one on {x.device}")
        return "torch"
    plugin_ok = cuda_plugin(op_name) is not None
    if impl == "cuda" and not plugin_ok:
        raise RuntimeError(f"{op_name}: impl='cuda' was requested but the CUDA kernels are not available")
    return "cuda" if plugin_ok else "torch"
