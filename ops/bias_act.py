"""Bias, activation, gain and clamp in one call (NVlabs' ``bias_act`` semantics).

``y = clamp(act(x + b) * gain, -clamp, clamp)``. ``gain=None`` uses the activation's default gain
(sqrt(2) for relu/lrelu, 1 otherwise); ``alpha=None`` the default slope (0.2 for lrelu).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import backend
from . import cuda as _cuda  # noqa: F401  (registers the lazily built CUDA kernels)


@dataclass(frozen=True)
class Activation:
    func: Callable[[torch.Tensor, float], torch.Tensor]
    def_alpha: float
    def_gain: float


activation_funcs: dict[str, Activation] = {
    "linear": Activation(lambda x, a: x, 0.0, 1.0),
    "relu": Activation(lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": Activation(lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": Activation(lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": Activation(lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": Activation(lambda x, a: F.elu(x), 0.0, 1.0),
    "selu": Activation(lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": Activation(lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": Activation(lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
    impl: str = "auto",
) -> torch.Tensor:
    """Adds bias ``b`` along dimension ``dim``, applies ``act``, scales by ``gain``, clamps to +-``clamp``."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"bias_act: x must be a floating-point tensor, got {getattr(x, 'dtype', type(x))}")
    if act not in activation_funcs:
        raise ValueError(f"bias_act: unknown activation {act!r}; expected one of {sorted(activation_funcs)}")
    if clamp is not None and clamp < 0:
        raise ValueError(f"bias_act: clamp must be >= 0 or None, got {clamp}")
    spec = activation_funcs[act]
    alpha = float(spec.def_alpha if alpha is None else alpha)
    gain = float(spec.def_gain if gain is None else gain)
    if b is not None:
        if b.ndim != 1 or not 0 <= dim < x.ndim or b.shape[0] != x.shape[dim]:
            raise ValueError(
                f"bias_act: bias must be 1-D with x.shape[{dim}] = {x.shape[dim] if 0 <= dim < x.ndim else '?'} "
                f"entries, got shape {tuple(b.shape)}"
            )
    if backend.resolve_impl("bias_act", x, impl) == "cuda":
        return backend.cuda_plugin("bias_act").bias_act(x, b, dim, act, alpha, gain, clamp)

    if b is not None:
        x = x + b.to(x.dtype).reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = spec.func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x
