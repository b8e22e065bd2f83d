"""Upsample, FIR-filter and downsample a batch of 2-D images (NVlabs' ``upfirdn2d`` semantics).

Semantics (the definition the tests check against a naive oracle):

1. upsample by inserting ``up - 1`` zeros after every sample (in x and y),
2. pad with ``padding = [x0, x1, y0, y1]`` zeros (negative values crop),
3. convolve with the filter ``f`` (a true convolution; ``flip_filter=True`` makes it a correlation),
   scaled by ``gain`` (a 1-D filter is applied along x and then y, each pass with ``sqrt(gain)``),
4. keep every ``down``-th sample, starting with the first.

The PyTorch path never multiplies an inserted zero and never computes a sample that step 4 throws away:
upsampling alone is one depthwise transposed convolution (which skips the zeros by construction) whose
window is set exactly by its padding arguments, downsampling alone is one strided depthwise convolution, and
any other combination is split into polyphase components, each output phase one strided correlation of the
input with that phase's taps. On CPU the passes run channels-last (oneDNN's depthwise kernels are several
times faster there); results come back in the caller's layout. Everything is plain differentiable PyTorch,
so autograd (including the double backward that R1 needs) works on any device.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import backend
from . import cuda as _cuda  # noqa: F401  (registers the lazily built CUDA kernels)

# ----------------------------------------------------------------------------------------------------------
# Argument helpers


def parse_scaling(scaling: int | Sequence[int], name: str = "scaling") -> tuple[int, int]:
    """Returns (x, y) integer factors >= 1."""
    if isinstance(scaling, int | np.integer):
        scaling = [int(scaling), int(scaling)]
    sx, sy = (int(s) for s in scaling)
    if sx < 1 or sy < 1:
        raise ValueError(f"{name} factors must be >= 1, got {scaling}")
    return sx, sy


def parse_padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """Returns (x0, x1, y0, y1) from an int, [x, y] or [x0, x1, y0, y1]."""
    if isinstance(padding, int | np.integer):
        padding = [int(padding)] * 2
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        px, py = padding
        padding = [px, px, py, py]
    if len(padding) != 4:
        raise ValueError(f"padding must be an int, [x, y] or [x0, x1, y0, y1], got {padding}")
    return tuple(padding)  # type: ignore[return-value]


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """Returns (width, height) of a filter; 1-D filters are square when applied separably."""
    if f is None:
        return 1, 1
    if f.ndim not in (1, 2):
        raise ValueError(f"filter must be 1-D (separable) or 2-D, got shape {tuple(f.shape)}")
    fw = f.shape[-1]
    fh = f.shape[0]
    return int(fw), int(fh)


def setup_filter(
    f,
    device: torch.device | str | None = None,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1,
    separable: bool | None = None,
) -> torch.Tensor:
    """Turns a list/array of taps into a float32 filter tensor for :func:`upfirdn2d`.

    A 1-D filter of fewer than 8 taps becomes the 2-D outer product unless ``separable=True`` (as in NVlabs,
    so buffer shapes in their pickles match ours).
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[np.newaxis]
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"filter taps must be 1-D or 2-D and non-empty, got shape {tuple(f.shape)}")
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = f.ger(f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f if device is None else f.to(device=device)


# ----------------------------------------------------------------------------------------------------------
# Polyphase plan along one axis


@dataclass(frozen=True)
class _Phase:
    first_output: int  # m0: this phase produces outputs m0, m0 + P, m0 + 2P, ...
    count: int  # how many outputs
    tap0: int  # b: this phase uses taps f[b], f[b + up], f[b + 2 up], ...
    num_taps: int  # J: how many (0 when the filter is shorter than the upsampling factor)
    start: int  # first input index read (may be negative: zero padding)


@dataclass(frozen=True)
class _AxisPlan:
    out_len: int
    period: int  # P: number of phases
    stride: int  # input stride between consecutive outputs of one phase
    phases: tuple[_Phase, ...]
    pad_lo: int  # zeros needed before the input
    pad_hi: int  # zeros needed after the input


def _output_length(in_len: int, up: int, down: int, pad0: int, pad1: int, taps: int) -> int:
    """Output samples along one axis; raises a clear error when there would be none."""
    out_len = (in_len * up + pad0 + pad1 - taps) // down + 1
    if out_len <= 0:
        raise ValueError(
            f"upfirdn2d: output would be empty (input {in_len}, up {up}, down {down}, "
            f"padding {pad0},{pad1}, filter {taps} taps)"
        )
    return out_len


@functools.lru_cache(maxsize=4096)
def _axis_plan(in_len: int, up: int, down: int, pad0: int, pad1: int, taps: int) -> _AxisPlan:
    """Output m reads y[m*down + c] of the full convolution y[t] = sum_i x[i] f[t - up*i], c = taps-1-pad0.

    Grouping outputs by (m*down + c) mod up gives P = up / gcd(up, down) phases; within a phase the input
    position advances by down / gcd(up, down) per output, and the taps used are f[b], f[b + up], ...
    """
    out_len = _output_length(in_len, up, down, pad0, pad1, taps)
    g = math.gcd(up, down)
    period = up // g
    stride = down // g
    c = taps - 1 - pad0
    phases = []
    lo, hi = 0, 0
    for m0 in range(min(period, out_len)):
        q = m0 * down + c
        b = q % up
        a0 = (q - b) // up  # input index paired with tap b for output m0
        J = len(range(b, taps, up))  # f[b + up*j], j = 0..J-1, pairs with x[a0 - j]
        count = (out_len - m0 + period - 1) // period
        if J == 0:
            phases.append(_Phase(m0, count, b, 0, 0))
            continue
        start = a0 - (J - 1)  # correlation window x[start .. start + J - 1] with the taps reversed
        end = start + (count - 1) * stride + J - 1
        lo = max(lo, -start)
        hi = max(hi, end - (in_len - 1))
        phases.append(_Phase(m0, count, b, J, start))
    return _AxisPlan(out_len, period, stride, tuple(phases), lo, hi)


# ----------------------------------------------------------------------------------------------------------
# PyTorch implementation


def _correlate(x: torch.Tensor, w: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """Depthwise correlation of x [N, C, H, W] with one 2-D kernel w [kh, kw], the same for every channel.

    A grouped convolution (groups = C) is used: on CPU it is over an order of magnitude faster than folding
    the channels into the batch of a single-channel convolution. The window is made contiguous first: oneDNN's
    depthwise kernels are about ten times slower on strided views than the copy costs.
    """
    return F.conv2d(x.contiguous(), _depthwise(w, x.shape[1]), stride=stride, groups=x.shape[1])


def _pad_crop(x: torch.Tensor, x0: int, x1: int, y0: int, y1: int) -> torch.Tensor:
    """Zero-pads by the positive amounts, then crops by the negative ones (a crop may eat into the padding)."""
    if max(x0, x1, y0, y1) > 0:
        x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    if min(x0, x1, y0, y1) < 0:
        H, W = x.shape[2:]
        x = x[:, :, max(-y0, 0): H - max(-y1, 0), max(-x0, 0): W - max(-x1, 0)]
    return x


def _depthwise(f2d: torch.Tensor, C: int) -> torch.Tensor:
    return f2d[None, None].expand(C, 1, *f2d.shape).contiguous()


def _transposed_window(length: int, up: int, taps: int, pad0: int, pad1: int) -> tuple[int, int, int, int]:
    """Input zero-padding (a, b) and transposed-conv (padding, output_padding) giving exactly the output window.

    The full transposed-convolution output t of the input padded by (a, b) satisfies t[k] = sum_i x[i]
    f[k - up (i + a)]; upfirdn2d's output m is t[m + taps - 1 - pad0 + up a]. A transposed convolution with
    padding p and output_padding q returns t[p : T - p + q], so p and q are chosen to be that window: no
    output sample outside it is produced and nothing has to be copied to crop it.
    """
    out_len = length * up + pad0 + pad1 - taps + 1
    a = max(0, -(-(pad0 - taps + 1) // up))  # smallest a with a non-negative window start
    while True:
        start = taps - 1 - pad0 + up * a
        b, q = divmod(2 * start + out_len - (length + a - 1) * up - taps, up)
        if b >= 0:
            return a, b, start, q
        a += 1


def _upsample_only(x, f2d, upx, upy, px0, px1, py0, py1) -> torch.Tensor:
    """Zero insertion + filtering as one depthwise transposed convolution (it never multiplies inserted zeros)."""
    N, C, H, W = x.shape
    kh, kw = f2d.shape
    ax, bx, sx, qx = _transposed_window(W, upx, kw, px0, px1)
    ay, by, sy, qy = _transposed_window(H, upy, kh, py0, py1)
    if ax or bx or ay or by:
        x = F.pad(x, [ax, bx, ay, by])
    return F.conv_transpose2d(x, _depthwise(f2d, C), stride=(upy, upx), padding=(sy, sx), output_padding=(qy, qx),
                              groups=C)


def _downsample_only(x, f2d, downx, downy, px0, px1, py0, py1) -> torch.Tensor:
    """Padding + filtering + decimation as one strided depthwise correlation: only kept samples are computed."""
    C = x.shape[1]
    x = _pad_crop(x, px0, px1, py0, py1)
    return F.conv2d(x, _depthwise(f2d.flip([0, 1]), C), stride=(downy, downx), groups=C)


def _upfirdn2d_torch(x, f2d, upx, upy, downx, downy, px0, px1, py0, py1) -> torch.Tensor:
    """upfirdn with a 2-D convolution filter f2d [kh, kw] (already scaled and oriented).

    Up- or down-sampling alone (what the networks use) run as one transposed or strided depthwise
    convolution; any other combination runs the exact polyphase decomposition below.
    """
    kh, kw = f2d.shape
    _output_length(x.shape[3], upx, downx, px0, px1, kw)
    _output_length(x.shape[2], upy, downy, py0, py1, kh)
    if downx == 1 and downy == 1:
        return _upsample_only(x, f2d, upx, upy, px0, px1, py0, py1)
    if upx == 1 and upy == 1:
        return _downsample_only(x, f2d, downx, downy, px0, px1, py0, py1)
    return _upfirdn2d_polyphase(x, f2d, upx, upy, downx, downy, px0, px1, py0, py1)


def _upfirdn2d_polyphase(x, f2d, upx, upy, downx, downy, px0, px1, py0, py1) -> torch.Tensor:
    """Polyphase upfirdn: each output phase is one strided correlation of the input with that phase's taps."""
    N, C, H, W = x.shape
    kh, kw = f2d.shape
    plan_x = _axis_plan(W, upx, downx, px0, px1, kw)
    plan_y = _axis_plan(H, upy, downy, py0, py1, kh)
    xb = x
    if plan_x.pad_lo or plan_x.pad_hi or plan_y.pad_lo or plan_y.pad_hi:
        xb = F.pad(xb, [plan_x.pad_lo, max(plan_x.pad_hi, 0), plan_y.pad_lo, max(plan_y.pad_hi, 0)])
    ox, oy = plan_x.pad_lo, plan_y.pad_lo

    single = plan_x.period == 1 and plan_y.period == 1
    y = None if single else xb.new_empty([N, C, plan_y.out_len, plan_x.out_len])
    for ph_y in plan_y.phases:
        for ph_x in plan_x.phases:
            if ph_y.num_taps == 0 or ph_x.num_taps == 0:  # no tap meets an input sample: exact zeros
                out = xb.new_zeros([N, C, ph_y.count, ph_x.count])
                if xb.requires_grad:  # keep the (zero) gradient path to x so autograd.grad works
                    out = out + xb.narrow(2, 0, 1).narrow(3, 0, 1).sum() * 0
            else:
                # This phase's taps, reversed: convolution becomes the correlation that conv2d computes.
                w = f2d[ph_y.tap0 :: upy, ph_x.tap0 :: upx].flip([0, 1])
                y0, x0 = ph_y.start + oy, ph_x.start + ox
                y1 = y0 + (ph_y.count - 1) * plan_y.stride + ph_y.num_taps
                x1 = x0 + (ph_x.count - 1) * plan_x.stride + ph_x.num_taps
                out = _correlate(xb[:, :, y0:y1, x0:x1], w, (plan_y.stride, plan_x.stride))
            if single:
                return out
            # Interleave by strided assignment (much faster on CPU than stacking on the last dimension).
            y[:, :, ph_y.first_output :: plan_y.period, ph_x.first_output :: plan_x.period] = out
    return y


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int | Sequence[int] = 1,
    down: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1,
    impl: str = "auto",
) -> torch.Tensor:
    """Pad, upsample, filter and downsample ``x`` [N, C, H, W]; see the module docstring."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"upfirdn2d: x must be a 4-D tensor [N, C, H, W], got {getattr(x, 'shape', type(x))}")
    if not x.is_floating_point():
        raise TypeError(f"upfirdn2d: x must be floating point, got {x.dtype}")
    upx, upy = parse_scaling(up, "up")
    downx, downy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    if f is not None and (not isinstance(f, torch.Tensor) or f.ndim not in (1, 2) or f.numel() == 0):
        raise ValueError(f"upfirdn2d: filter must be a non-empty 1-D or 2-D tensor, got {getattr(f, 'shape', f)}")
    if backend.resolve_impl("upfirdn2d", x, impl) == "cuda":
        plugin = backend.cuda_plugin("upfirdn2d")
        return plugin.upfirdn2d(x, f, (upx, upy), (downx, downy), (px0, px1, py0, py1), flip_filter, gain)

    memory_format = layout_of(x)
    return upfirdn2d_torch(x, f, (upx, upy), (downx, downy), (px0, px1, py0, py1), flip_filter, gain).contiguous(
        memory_format=memory_format)


def layout_of(x: torch.Tensor) -> torch.memory_format:
    """The memory format to hand results back in: the caller's (channels-last stays channels-last)."""
    if x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def upfirdn2d_torch(x, f, up, down, padding, flip_filter=False, gain=1) -> torch.Tensor:
    """The PyTorch path on validated arguments; on CPU the result is left channels-last (callers chaining
    several resampling steps, like filtered_lrelu, avoid converting the large intermediate back and forth)."""
    (upx, upy), (downx, downy), (px0, px1, py0, py1) = up, down, padding
    if f is None:
        f = torch.ones([1, 1], dtype=x.dtype, device=x.device)
    f = f.to(device=x.device, dtype=x.dtype)
    if x.device.type == "cpu":
        # oneDNN's depthwise kernels are several times faster on channels-last data.
        x = x.contiguous(memory_format=torch.channels_last)
    if flip_filter:  # the torch path convolves; a flipped filter turns that into correlation with f
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 1:
        # Separable: along x, then along y, each pass with sqrt(gain).
        g = gain**0.5
        x = _upfirdn2d_torch(x, (f * g)[None, :], upx, 1, downx, 1, px0, px1, 0, 0)
        return _upfirdn2d_torch(x, (f * g)[:, None], 1, upy, 1, downy, 0, 0, py0, py1)
    return _upfirdn2d_torch(x, f * gain, upx, upy, downx, downy, px0, px1, py0, py1)


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Filters ``x`` with ``f``, padding so that the output has the input's size (plus ``padding``)."""
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Upsamples ``x`` by ``up`` with filter ``f``; output size is input size times ``up`` (plus ``padding``)."""
    upx, upy = parse_scaling(up, "up")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [
        px0 + (fw + upx - 1) // 2,
        px1 + (fw - upx) // 2,
        py0 + (fh + upy - 1) // 2,
        py1 + (fh - upy) // 2,
    ]
    return upfirdn2d(x, f, up=(upx, upy), padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl="auto") -> torch.Tensor:
    """Downsamples ``x`` by ``down`` with filter ``f``; output size is input size over ``down``."""
    downx, downy = parse_scaling(down, "down")
    px0, px1, py0, py1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [
        px0 + (fw - downx + 1) // 2,
        px1 + (fw - downx) // 2,
        py0 + (fh - downy + 1) // 2,
        py1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=(downx, downy), padding=p, flip_filter=flip_filter, gain=gain, impl=impl)
