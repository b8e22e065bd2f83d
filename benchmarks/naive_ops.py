"""The straightforward way to compose the resampling ops, used as the baseline in benchmarks.

Zero insertion, full-rate depthwise filtering (separable passes when the filter is 1-D, as NVlabs' reference
does), then decimation by slicing: every inserted zero is multiplied and every discarded sample computed.
"""

from __future__ import annotations

import torch.nn.functional as F

from ops.upfirdn2d import parse_padding


def upfirdn2d_naive(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    N, C, H, W = x.shape
    px0, px1, py0, py1 = parse_padding(padding)
    if up > 1:
        z = x.new_zeros([N, C, H, up, W, up])
        z[:, :, :, 0, :, 0] = x
        x = z.reshape(N, C, H * up, W * up)
    x = F.pad(x, [px0, px1, py0, py1])
    if f is not None:
        f = f.to(x.dtype)
        if not flip_filter:
            f = f.flip(list(range(f.ndim)))
        if f.ndim == 1:
            g = gain**0.5
            wx = (f * g)[None, None, None, :].expand(C, 1, 1, -1)
            wy = (f * g)[None, None, :, None].expand(C, 1, -1, 1)
            x = F.conv2d(F.conv2d(x, wx, groups=C), wy, groups=C)
        else:
            x = F.conv2d(x, (f * gain)[None, None].expand(C, 1, -1, -1), groups=C)
    elif gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down]


def filtered_lrelu_naive(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=2**0.5, slope=0.2, clamp=None,
                         flip_filter=False, impl="auto"):
    if b is not None:
        x = x + b.reshape(1, -1, 1, 1)
    x = upfirdn2d_naive(x, fu, up=up, padding=padding, gain=up**2, flip_filter=flip_filter)
    x = F.leaky_relu(x, slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d_naive(x, fd, down=down, flip_filter=flip_filter)
