"""Autograd wiring of the compiled kernels and the plugin objects that ``ops.backend`` hands to the ops.

Each plugin method takes the op's validated arguments (the call sites in ``ops/*.py``) and returns the op's
result. Parameters a kernel does not support fall back to the PyTorch path with one logged line naming the
reason (``ops.plugin.fall_back``; an error instead under ``$ALIASFREE_OPS_STRICT=1``).
Gradients: bias_act to any order (second derivatives in the kernel), upfirdn2d to any order (its adjoint is
again an upfirdn2d), filtered_lrelu forward, backward and the double backward with respect to the incoming
gradient (the mask is piecewise constant in x); no gradients flow to the filters (as in NVlabs' ops).
"""

from __future__ import annotations

import math

import torch

from ..plugin import fall_back

ACT_IDS = {"linear": 0, "relu": 1, "lrelu": 2, "tanh": 3, "sigmoid": 4, "elu": 5, "selu": 6, "softplus": 7, "swish": 8}
UNSUPPORTED = "aliasfree-unsupported: "


def _reason(e: Exception) -> str:
    return str(e).split(UNSUPPORTED, 1)[1].splitlines()[0]


def _dense(x: torch.Tensor) -> torch.Tensor:
    """x itself when it is contiguous or channels-last, a contiguous copy otherwise."""
    if x.is_contiguous() or (x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last)):
        return x
    return x.contiguous()


def _like(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """t with exactly ref's strides (the elementwise kernels index all operands alike)."""
    if t.stride() == ref.stride():
        return t
    out = torch.empty_like(ref, dtype=t.dtype)  # a dense ref's strides are preserved
    return out.copy_(t)


def _corr_filter(f: torch.Tensor | None, flip_filter: bool, gain: float, device) -> torch.Tensor:
    """The 2-D float32 correlation filter the kernels use (a true convolution unless flip_filter)."""
    if f is None:
        f = torch.ones([1, 1])
    f = f.to(device=device, dtype=torch.float32)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    return (f * gain).contiguous()


# ----------------------------------------------------------------------------------------------------------
# bias_act


def _reduce_bias(dx: torch.Tensor, dim: int) -> torch.Tensor:
    return dx.sum(dim=[i for i in range(dx.ndim) if i != dim])


class _BiasAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, ext, dim, act, alpha, gain, clamp):
        ctx.cfg = (ext, dim, act, alpha, gain, clamp)
        ctx.has_b = b.numel() > 0
        ctx.save_for_backward(x, b)
        return ext.forward(x, b, dim, act, alpha, gain, clamp)

    @staticmethod
    def backward(ctx, dy):
        x, b = ctx.saved_tensors
        dx = _BiasActGrad.apply(_like(dy, x), x, b, ctx.cfg)
        db = _reduce_bias(dx, ctx.cfg[1]) if ctx.has_b and ctx.needs_input_grad[1] else None
        return dx, db, None, None, None, None, None, None


class _BiasActGrad(torch.autograd.Function):
    """dx = dy * y'(x + b); differentiable again through the second-derivative kernel."""

    @staticmethod
    def forward(ctx, dy, x, b, cfg):
        ext, dim, act, alpha, gain, clamp = cfg
        ctx.cfg, ctx.has_b = cfg, b.numel() > 0
        ctx.save_for_backward(dy, x, b)
        return ext.grad(dy, x, b, dim, act, alpha, gain, clamp, 1)

    @staticmethod
    def backward(ctx, ddx):
        dy, x, b = ctx.saved_tensors
        ext, dim, act, alpha, gain, clamp = ctx.cfg
        ddx = _like(ddx, x)
        d_dy = _BiasActGrad.apply(ddx, x, b, ctx.cfg) if ctx.needs_input_grad[0] else None
        d_x = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            d_x = ext.grad(_like(ddx * dy, x), x, b, dim, act, alpha, gain, clamp, 2)
        d_b = _reduce_bias(d_x, dim) if d_x is not None and ctx.has_b and ctx.needs_input_grad[2] else None
        return d_dy, d_x, d_b, None


class BiasActPlugin:
    def __init__(self, ext):
        self.ext = ext

    def bias_act(self, x, b, dim, act, alpha, gain, clamp):
        x = _dense(x)
        b = torch.empty([0], dtype=x.dtype, device=x.device) if b is None else b.to(x.dtype).contiguous()
        c = -1.0 if clamp is None else float(clamp)
        return _BiasAct.apply(x, b, self.ext, int(dim), ACT_IDS[act], float(alpha), float(gain), c)


# ----------------------------------------------------------------------------------------------------------
# upfirdn2d


def _adjoint_padding(in_size, out_size, k, up, down, p0):
    """Padding of the upfirdn2d that computes the gradient (up and down swapped, filter flipped)."""
    return k - p0 - 1, in_size * up - out_size * down + p0 - up + 1


class _Upfirdn2d(torch.autograd.Function):
    """One pass with a 2-D correlation filter ``fc`` (flip and gain folded in)."""

    @staticmethod
    def forward(ctx, x, fc, ext, up, down, pad):
        y = ext.upfirdn2d(x, fc, up[0], up[1], down[0], down[1], *pad)
        ctx.cfg = (ext, up, down, pad, tuple(x.shape[2:]), tuple(y.shape[2:]))
        ctx.save_for_backward(fc)
        return y

    @staticmethod
    def backward(ctx, dy):
        (fc,) = ctx.saved_tensors
        ext, (upx, upy), (downx, downy), (px0, _, py0, _), (h, w), (oh, ow) = ctx.cfg
        fh, fw = fc.shape
        pad = (*_adjoint_padding(w, ow, fw, upx, downx, px0), *_adjoint_padding(h, oh, fh, upy, downy, py0))
        fa = fc.flip([0, 1]).contiguous()
        dx = _Upfirdn2d.apply(_dense(dy), fa, ext, (downx, downy), (upx, upy), pad)
        return dx, None, None, None, None, None


class Upfirdn2dPlugin:
    MAX_TAPS = 48 * 1024 // 4

    def __init__(self, ext):
        self.ext = ext

    def upfirdn2d(self, x, f, up, down, padding, flip_filter, gain):
        if f is not None and f.numel() > self.MAX_TAPS:
            return self._fallback(f"a {tuple(f.shape)} filter exceeds the kernel's shared memory", x, f, up, down,
                                  padding, flip_filter, gain)
        try:
            return self._run(x, f, up, down, padding, flip_filter, gain)
        except RuntimeError as e:
            if UNSUPPORTED not in str(e):
                raise
            return self._fallback(_reason(e), x, f, up, down, padding, flip_filter, gain)

    @staticmethod
    def _fallback(reason, x, f, up, down, padding, flip_filter, gain):
        fall_back("upfirdn2d", reason)
        from ..upfirdn2d import upfirdn2d

        return upfirdn2d(x, f, up, down, padding, flip_filter, gain, impl="torch")

    def _run(self, x, f, up, down, padding, flip_filter, gain):
        x = _dense(x)
        (px0, px1, py0, py1) = padding
        if f is not None and f.ndim == 1:  # separable: x pass then y pass, sqrt(gain) each (the torch path's order)
            g = math.sqrt(gain)
            fx = _corr_filter(f[None, :], flip_filter, g, x.device)
            fy = _corr_filter(f[:, None], flip_filter, g, x.device)
            x = _Upfirdn2d.apply(x, fx, self.ext, (up[0], 1), (down[0], 1), (px0, px1, 0, 0))
            return _Upfirdn2d.apply(x, fy, self.ext, (1, up[1]), (1, down[1]), (0, 0, py0, py1))
        fc = _corr_filter(f, flip_filter, gain, x.device)
        return _Upfirdn2d.apply(x, fc, self.ext, tuple(up), tuple(down), tuple(padding))


# ----------------------------------------------------------------------------------------------------------
# filtered_lrelu


def _fused_filter(f: torch.Tensor | None, flip_filter: bool, gain: float, device) -> tuple[torch.Tensor, bool]:
    """(filter, separable) for the fused kernel: a 1-D filter becomes [2, K] (x taps, y taps; sqrt(gain) each),
    a 2-D one its [fh, fw] correlation filter, None the 1x1 identity."""
    if f is not None and f.ndim == 1:
        fc = _corr_filter(f, flip_filter, math.sqrt(gain), device)
        return torch.stack([fc, fc]).contiguous(), True
    return _corr_filter(f, flip_filter, gain, device), False


def _fsize(f: torch.Tensor, sep: bool) -> tuple[int, int]:
    """(height, width) of a fused-kernel filter."""
    return (f.shape[1], f.shape[1]) if sep else (f.shape[0], f.shape[1])


class _Geometry:
    """Stage parameters of the fused kernel for the forward pass; ``.adjoint()`` gives the gradient pass."""

    def __init__(self, f1, sep1, f2, sep2, up, down, p1, p2, in_size, mid_size, out_size):
        self.f1, self.sep1, self.f2, self.sep2, self.up, self.down = f1, sep1, f2, sep2, up, down
        self.p1, self.p2 = p1, p2  # (x, y) leading paddings of stage 1 and stage 2
        self.in_size, self.mid_size, self.out_size = in_size, mid_size, out_size  # (w, h)

    @staticmethod
    def _flip(f, sep):
        return f.flip([1] if sep else [0, 1]).contiguous()

    def adjoint(self) -> _Geometry:
        f1h, f1w = _fsize(self.f1, self.sep1)
        f2h, f2w = _fsize(self.f2, self.sep2)
        return _Geometry(
            self._flip(self.f2, self.sep2), self.sep2, self._flip(self.f1, self.sep1), self.sep1, self.down, self.up,
            (f2w - 1 - self.p2[0], f2h - 1 - self.p2[1]), (f1w - 1 - self.p1[0], f1h - 1 - self.p1[1]),
            self.out_size, self.mid_size, self.in_size)

    def run(self, ext, x, b, mask, gain, slope, clamp, mode, write_mask):
        return ext.fused(x, b, self.f1, self.f2, self.sep1, self.sep2, mask, self.up, self.down, self.p1[0],
                         self.p1[1], self.p2[0], self.p2[1], self.mid_size[0], self.mid_size[1], self.out_size[0],
                         self.out_size[1], gain, slope, clamp, mode, write_mask)


class _FilteredLrelu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, b, ext, geom, gain, slope, clamp, needs_grad):
        n, c = x.shape[:2]
        mid_w, mid_h = geom.mid_size
        words = (n * c * mid_w * mid_h + 15) // 16
        mask = torch.zeros([words if needs_grad else 0], dtype=torch.int32, device=x.device)
        y = geom.run(ext, x, b, mask, gain, slope, clamp, 0, needs_grad)
        ctx.cfg = (ext, geom, gain, slope, clamp, b.numel() > 0)
        ctx.save_for_backward(mask)
        return y

    @staticmethod
    def backward(ctx, dy):
        (mask,) = ctx.saved_tensors
        ext, geom, gain, slope, clamp, has_b = ctx.cfg
        dx = _FilteredLreluGrad.apply(_dense(dy), mask, ext, geom, gain, slope)
        db = dx.sum([0, 2, 3]) if has_b and ctx.needs_input_grad[1] else None
        return dx, db, None, None, None, None, None, None


class _FilteredLreluGrad(torch.autograd.Function):
    """dx from dy: the adjoint pass with the stored mask; linear in dy, so its own gradient is the forward
    geometry with the same mask."""

    @staticmethod
    def forward(ctx, dy, mask, ext, geom, gain, slope):
        ctx.cfg = (ext, geom, gain, slope)
        ctx.save_for_backward(mask)
        empty = torch.empty([0], dtype=dy.dtype, device=dy.device)
        return geom.adjoint().run(ext, dy, empty, mask, gain, slope, -1.0, 1, False)

    @staticmethod
    def backward(ctx, ddx):
        (mask,) = ctx.saved_tensors
        ext, geom, gain, slope = ctx.cfg
        empty = torch.empty([0], dtype=ddx.dtype, device=ddx.device)
        d_dy = geom.run(ext, _dense(ddx), empty, mask, gain, slope, -1.0, 1, False)
        return d_dy, None, None, None, None, None


class FilteredLreluPlugin:
    def __init__(self, ext):
        self.ext = ext

    def filtered_lrelu(self, x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter):
        px0, px1, py0, py1 = padding
        f1, sep1 = _fused_filter(fu, flip_filter, up**2, x.device)
        f2, sep2 = _fused_filter(fd, flip_filter, 1.0, x.device)
        (f1h, f1w), (f2h, f2w) = _fsize(f1, sep1), _fsize(f2, sep2)
        in_size = (x.shape[3], x.shape[2])
        mid = (in_size[0] * up + px0 + px1 - f1w + 1, in_size[1] * up + py0 + py1 - f1h + 1)
        out = ((mid[0] - f2w) // down + 1, (mid[1] - f2h) // down + 1)
        geom = _Geometry(f1, sep1, f2, sep2, up, down, (px0, py0), (0, 0), in_size, mid, out)
        x = _dense(x)
        b = torch.empty([0], dtype=x.dtype, device=x.device) if b is None else b.to(x.dtype).contiguous()
        c = -1.0 if clamp is None else float(clamp)
        try:
            needs_grad = torch.is_grad_enabled() and (x.requires_grad or b.requires_grad)
            return _FilteredLrelu.apply(x, b, self.ext, geom, float(gain), float(slope), c, needs_grad)
        except RuntimeError as e:
            if UNSUPPORTED not in str(e):
                raise
            fall_back("filtered_lrelu", _reason(e))
            from ..filtered_lrelu import filtered_lrelu

            return filtered_lrelu(x, fu, fd, b if b.numel() else None, up, down, padding, gain, slope, clamp,
                                  flip_filter, impl="torch")


_PLUGINS = {"bias_act": BiasActPlugin, "upfirdn2d": Upfirdn2dPlugin, "filtered_lrelu": FilteredLreluPlugin}


def make_plugin(op: str, ext) -> object:
    return _PLUGINS[op](ext)
