"""2-D convolution with optional FIR up/downsampling (NVlabs' ``conv2d_resample`` semantics).

Definition (what the tests compare against): with ``w'`` = ``w`` when ``flip_weight`` else ``w`` flipped,

    y = upfirdn2d(x, f, up=up, padding=p, gain=up**2)      (only the padding when up == 1)
    y = conv2d(y, w')                                       (a correlation, as torch computes it)
    y = upfirdn2d(y, f, down=down)                          (when down > 1)

where ``p`` is ``padding`` widened so that ``f`` is centred. The implementation reorders these linear,
shift-invariant steps so that nothing is computed at a rate higher than needed: transposed convolution for
upsampling (no inserted zeros are multiplied), strided convolution for downsampling, and 1x1 convolutions
applied at the lower of the two rates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import conv3x3
from .upfirdn2d import filter_size, parse_padding, upfirdn2d


def _weight_size(w: torch.Tensor) -> tuple[int, int, int, int]:
    if w.ndim != 4:
        raise ValueError(f"conv2d_resample: weight must be [out, in/groups, kh, kw], got {tuple(w.shape)}")
    return tuple(int(s) for s in w.shape)  # type: ignore[return-value]


def _conv(x, w, stride=1, padding=0, groups=1, flip_weight=True):
    if not flip_weight:
        w = w.flip([2, 3])
    if stride == 1:
        return conv3x3.conv2d(x, w, padding=padding, groups=groups)  # Winograd on the CPU when faster
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def _pad_or_crop(x: torch.Tensor, px0: int, px1: int, py0: int, py1: int) -> torch.Tensor:
    if px0 or px1 or py0 or py1:
        x = F.pad(x, [px0, px1, py0, py1])  # negative values crop
    return x


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding=0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"conv2d_resample: x must be [N, C, H, W], got {getattr(x, 'shape', type(x))}")
    out_channels, in_per_group, kh, kw = _weight_size(w)
    if x.shape[1] != in_per_group * groups:
        raise ValueError(
            f"conv2d_resample: x has {x.shape[1]} channels, weight expects {in_per_group} x {groups} groups"
        )
    if not isinstance(up, int) or not isinstance(down, int) or up < 1 or down < 1:
        raise ValueError(f"conv2d_resample: up and down must be integers >= 1, got {up}, {down}")
    if (up > 1 or down > 1) and f is None:
        raise ValueError("conv2d_resample: resampling needs a filter f")
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    if up == 1 and down == 1:
        if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
            return _conv(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
        return _conv(_pad_or_crop(x, px0, px1, py0, py1), w, groups=groups, flip_weight=flip_weight)

    if up == 1:  # downsampling only
        if kw == 1 and kh == 1:  # per-pixel mixing commutes with the spatial ops: decimate first
            x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
            return _conv(x, w, groups=groups, flip_weight=flip_weight)
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    if down == 1:  # upsampling only
        if kw == 1 and kh == 1:  # mix channels at the low rate, then upsample
            x = _conv(x, w, groups=groups, flip_weight=flip_weight)
            return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up**2, flip_filter=flip_filter)
        # Correlating the zero-stuffed, padded input with w' equals a transposed convolution of x with the
        # flipped w' (stride up), cropped by kw - 1 - p0 on the left; the filter then runs on that.
        wt = w if not flip_weight else w.flip([2, 3])
        wt = wt.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
        pad = [px0 - (kw - 1), px1 + up - kw, py0 - (kh - 1), py1 + up - kh]
        return upfirdn2d(x, f, padding=pad, gain=up**2, flip_filter=flip_filter)

    # Both up and down: the definition, step by step (not used by the networks).
    x = upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up**2, flip_filter=flip_filter)
    x = _conv(x, w, groups=groups, flip_weight=flip_weight)
    return upfirdn2d(x, f, down=down, flip_filter=flip_filter)
