"""Filtered leaky ReLU of StyleGAN3 (NVlabs' ``filtered_lrelu`` semantics).

``bias -> upsample by up with filter fu (gain up**2, padding) -> leaky ReLU (slope), * gain, clamp
-> filter fd and downsample by down``. The nonlinearity runs at the temporarily raised sampling rate so that
the new frequencies it creates are removed by ``fd`` before decimation (Karras et al. 2021, Sec. 3.2).

The PyTorch path uses the polyphase :func:`ops.upfirdn2d.upfirdn2d` for both resampling steps (no inserted
zeros are filtered, no discarded sample is computed) and folds the output gain into the downsampling filter,
which is exact because leaky ReLU is positively homogeneous: ``clamp(g * lrelu(x), c) = g * clamp(lrelu(x), c/g)``.

On the CPU, float32 / float64 calls use the fused C++ op of ``ops/cpu`` when it builds (one pass over
row tiles; the upsampled intermediate never goes to memory); ``impl='torch'`` or ``ALIASFREE_OPS_IMPL=torch``
forces the PyTorch path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import backend
from . import cpu as _cpu  # noqa: F401  (registers the lazily built fused CPU op)
from . import cuda as _cuda  # noqa: F401  (registers the lazily built CUDA kernels)
from .cpu.fused import SUPPORTED_DTYPES, FusedFilteredLrelu, fused_forward
from .upfirdn2d import filter_size, layout_of, parse_padding, upfirdn2d_torch


def _cpu_eligible(x: torch.Tensor, fu, fd, b, impl: str) -> bool:
    """Whether the fused CPU op may take this call: float32 / float64, no gradients with respect to the filters.

    Calls that need gradients take it too (its forward then also records a gradient mask for the fused
    backward), so that a network gives the same numbers with and without autograd.
    """
    return x.dtype in SUPPORTED_DTYPES and not any(f is not None and f.requires_grad for f in (fu, fd))


def output_size(in_h: int, in_w: int, fu, fd, up: int, down: int, padding) -> tuple[int, int]:
    """(height, width) of filtered_lrelu's output for an input of in_h x in_w."""
    px0, px1, py0, py1 = parse_padding(padding)
    fu_w, fu_h = filter_size(fu)
    fd_w, fd_h = filter_size(fd)
    out_w = (in_w * up + px0 + px1 - (fu_w - 1) - (fd_w - 1) + (down - 1)) // down
    out_h = (in_h * up + py0 + py1 - (fu_h - 1) - (fd_h - 1) + (down - 1)) // down
    return out_h, out_w


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None = None,
    fd: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding=0,
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
    flip_filter: bool = False,
    impl: str = "auto",
) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"filtered_lrelu: x must be a float tensor [N, C, H, W], got {getattr(x, 'shape', type(x))}")
    if b is not None and (b.ndim != 1 or b.shape[0] != x.shape[1]):
        raise ValueError(f"filtered_lrelu: bias must have shape [{x.shape[1]}], got {tuple(b.shape)}")
    if not isinstance(up, int) or not isinstance(down, int) or up < 1 or down < 1:
        raise ValueError(f"filtered_lrelu: up and down must be integers >= 1, got up={up}, down={down}")
    if gain <= 0 or slope < 0 or (clamp is not None and clamp < 0):
        raise ValueError(f"filtered_lrelu: need gain > 0, slope >= 0, clamp >= 0; got {gain}, {slope}, {clamp}")
    px0, px1, py0, py1 = parse_padding(padding)
    out_h, out_w = output_size(x.shape[2], x.shape[3], fu, fd, up, down, (px0, px1, py0, py1))
    if out_w < 1 or out_h < 1:
        raise ValueError(f"filtered_lrelu: output would be empty for input {tuple(x.shape)} and padding {padding}")

    choice = backend.resolve_impl("filtered_lrelu", x, impl)
    if choice == "cuda":
        plugin = backend.cuda_plugin("filtered_lrelu")
        return plugin.filtered_lrelu(x, fu, fd, b, up, down, (px0, px1, py0, py1), gain, slope, clamp, flip_filter)
    if choice == "cpu":
        if not _cpu_eligible(x, fu, fd, b, impl):
            if impl == "cpu":
                raise ValueError("filtered_lrelu: impl='cpu' is not available for this call (float32 / float64 "
                                 "only, no gradients with respect to the filters)")
        else:
            plugin = backend.cpu_plugin("filtered_lrelu")  # built on first use; None when it cannot be
            if plugin is not None:
                if not (torch.is_grad_enabled() and (x.requires_grad or (b is not None and b.requires_grad))):
                    # No gradient will be asked for: no autograd node, and the forward records no mask.
                    return fused_forward(plugin, x, fu, fd, b, up, down, (px0, px1, py0, py1), gain, slope, clamp,
                                         flip_filter)
                return FusedFilteredLrelu.apply(x, b, plugin, fu, fd, up, down, (px0, px1, py0, py1), gain, slope,
                                                clamp, flip_filter)
            if impl == "cpu":
                raise RuntimeError("filtered_lrelu: impl='cpu' was requested but the fused CPU op is not available")

    memory_format = layout_of(x)
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    # The whole chain stays in the resampling path's preferred layout; only the small output is converted back.
    x = upfirdn2d_torch(x, fu, (up, up), (1, 1), (px0, px1, py0, py1), flip_filter=flip_filter, gain=up**2)
    inplace = not (torch.is_grad_enabled() and x.requires_grad)
    x = F.leaky_relu(x, slope, inplace=inplace) if slope != 1 else x
    if clamp is not None:
        x = x.clamp_(-clamp / gain, clamp / gain) if inplace else x.clamp(-clamp / gain, clamp / gain)
    if fd is None and down == 1:
        x = x * gain if gain != 1 else x
    else:
        x = upfirdn2d_torch(x, fd, (1, 1), (down, down), (0, 0, 0, 0), flip_filter=flip_filter, gain=gain)
    return x.contiguous(memory_format=memory_format)
