"""Python side of the fused CPU filtered_lrelu: filter preparation, the call, and autograd.

The C++ op (``filtered_lrelu.cpp``) only correlates, so the filters are turned into correlation taps here:
flipped unless ``flip_filter`` (upfirdn2d convolves), the upsampling gain ``up**2`` folded into the up filter
(``up`` per axis for a separable 1-D filter), a missing filter as the single tap 1.

Gradients: when a gradient will be needed, :class:`FusedFilteredLrelu`'s forward also fills a byte mask over
the upsampled intermediate (negative slope taken / clamp cut), and its backward runs the same C++ kernel with
the roles swapped (:func:`fused_backward`): no PyTorch-path forward is recomputed. When double backward is asked
for (create_graph, e.g. R1), the backward instead recomputes the op through the PyTorch path's autograd, which
keeps the graph to the saved inputs. A network computes the same forward numbers with and without autograd.
"""

from __future__ import annotations

import torch

SUPPORTED_DTYPES = (torch.float32, torch.float64)
CHANNEL_BLOCK = {torch.float32: 16, torch.float64: 8}  # channels per kernel block (CB in filtered_lrelu.cpp)


def _taps(f: torch.Tensor | None, gain_per_axis: float, flip: bool, dtype: torch.dtype):
    """(1-D taps, empty) for a separable filter, (empty, 2-D taps) otherwise, as correlation taps."""
    empty = torch.empty(0, dtype=dtype)
    if f is None:
        return torch.tensor([gain_per_axis], dtype=dtype), empty
    f = f.detach().to(device="cpu", dtype=dtype)
    if flip:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 1:
        return (f * gain_per_axis).contiguous(), empty
    return empty, (f * gain_per_axis**2).contiguous()


def intermediate_size(in_h: int, in_w: int, fu, up: int, padding) -> tuple[int, int]:
    """(rows, columns) of the upsampled pre-activation intermediate, the grid the gradient mask covers."""
    from ..upfirdn2d import filter_size

    px0, px1, py0, py1 = padding
    fu_w, fu_h = filter_size(fu)
    return in_h * up + py0 + py1 - fu_h + 1, in_w * up + px0 + px1 - fu_w + 1


def new_mask(x: torch.Tensor, fu, up: int, padding) -> torch.Tensor:
    """An unfilled gradient mask for x: one byte per intermediate element, in the kernel's channel blocks of CB.

    Not zero-filled: the forward writes every row an output reads, and the backward's incoming gradient on the
    other rows is an empty sum, exactly zero, so whatever factor their bytes give is multiplied by zero. Filling
    it first cost about a tenth of a StyleGAN3-R training step on the CPU (the masks are tens of MB each).
    """
    my, mx = intermediate_size(x.shape[2], x.shape[3], fu, up, padding)
    cb = CHANNEL_BLOCK[x.dtype]
    return torch.empty([x.shape[0], -(-x.shape[1] // cb), my, mx, cb], dtype=torch.uint8)


def fused_forward(module, x: torch.Tensor, fu, fd, b, up: int, down: int, padding, gain: float, slope: float,
                  clamp: float | None, flip_filter: bool, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The fused op on validated arguments (padding as [x0, x1, y0, y1]); output in x's memory format.

    With ``mask`` (from :func:`new_mask`), the forward also records for :func:`fused_backward` which elements of
    the intermediate took the negative slope and which the clamp cut.
    """
    from ..filtered_lrelu import output_size
    from ..upfirdn2d import layout_of

    px0, px1, py0, py1 = padding
    gu, gu2 = _taps(fu, float(up), not flip_filter, x.dtype)
    hd, hd2 = _taps(fd, 1.0, not flip_filter, x.dtype)
    bias = torch.empty(0, dtype=x.dtype) if b is None else b.detach().to(x.dtype).contiguous()
    out_h, out_w = output_size(x.shape[2], x.shape[3], fu, fd, up, down, padding)
    out = torch.empty([x.shape[0], x.shape[1], out_h, out_w], dtype=x.dtype, memory_format=layout_of(x))
    module.forward(x.detach(), bias, gu, gu2, hd, hd2, up, down, px0, px1, py0, py1, float(gain), float(slope),
                   -1.0 if clamp is None else float(clamp), out,
                   torch.empty(0, dtype=torch.uint8) if mask is None else mask)
    return out


def _flipped(taps: torch.Tensor) -> torch.Tensor:
    return taps.flip(list(range(taps.ndim))).contiguous() if taps.numel() else taps


def fused_backward(module, grad_out: torch.Tensor, mask: torch.Tensor, x_shape, x_layout: torch.memory_format,
                   fu, fd, up: int, down: int, padding, gain: float, slope: float, flip_filter: bool) -> torch.Tensor:
    """Gradient of the fused op with respect to its input x (and so to x + b), from the forward's mask.

    The forward correlates twice: u[m] = sum_k g[k] zpad[m + k] (z zero-inserted by up, padded by p0 in front)
    and y[n] = sum_k h[k] v[n down + k]. Transposed, per axis (ku, kd taps):
      dv[m] = sum_k h~[k] dypad[m + k]    h~ = h flipped, dy zero-inserted by down, padded by kd - 1 in front
      dz[i] = sum_k g~[k] du[i up + k - s] with s = ku - 1 - p0, g~ = g flipped.
    The kernel's downsampling stage has no padding, so its intermediate is indexed from -s: it is dv shifted by
    s (padding kd - 1 + s in front), of length (W - 1) up + ku, and the pointwise step multiplies element r by
    the mask's factor at r - s (zero outside the forward's intermediate, whose gradient does not exist).
    """
    from ..upfirdn2d import filter_size

    px0, px1, py0, py1 = padding
    gu, gu2 = _taps(fu, float(up), not flip_filter, grad_out.dtype)
    hd, hd2 = _taps(fd, 1.0, not flip_filter, grad_out.dtype)
    fu_w, fu_h = filter_size(fu)
    fd_w, fd_h = filter_size(fd)
    n, c, h, w = x_shape
    my, mx = intermediate_size(h, w, fu, up, padding)
    ny, nx = grad_out.shape[2], grad_out.shape[3]

    def axis(size: int, p0: int, ku: int, kd: int, n_out: int) -> tuple[int, int, int]:
        shift = ku - 1 - p0
        q0 = kd - 1 + shift
        length = (size - 1) * up + ku
        return q0, length - n_out * down - q0 + kd - 1, shift

    qx0, qx1, sx = axis(w, px0, fu_w, fd_w, nx)
    qy0, qy1, sy = axis(h, py0, fu_h, fd_h, ny)
    dx = torch.empty(list(x_shape), dtype=grad_out.dtype, memory_format=x_layout)
    module.backward(grad_out, mask, _flipped(hd), _flipped(hd2), _flipped(gu), _flipped(gu2), down, up, qx0, qx1,
                    qy0, qy1, float(gain), float(slope), my, mx, sy, sx, dx)
    return dx


class FusedFilteredLrelu(torch.autograd.Function):
    """Fused forward; fused backward from the forward's mask, or recomputation when double backward is asked."""

    @staticmethod
    def forward(ctx, x, b, module, fu, fd, up, down, padding, gain, slope, clamp, flip_filter):
        ctx.save_for_backward(x, b)
        ctx.args = (fu, fd, up, down, padding, gain, slope, clamp, flip_filter)
        ctx.module = module
        # The mask costs a byte per intermediate element: only made when a gradient will be asked for.
        ctx.mask = new_mask(x, fu, up, padding) if any(ctx.needs_input_grad[:2]) else None
        return fused_forward(module, x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, ctx.mask)

    @staticmethod
    def backward(ctx, grad_out):
        x, b = ctx.saved_tensors
        fu, fd, up, down, padding, gain, slope, clamp, flip_filter = ctx.args
        need_x, need_b = ctx.needs_input_grad[:2]
        if not (need_x or (need_b and b is not None)):
            return (None,) * 12
        if torch.is_grad_enabled() or ctx.mask is None:
            # create_graph (double backward, e.g. R1): the fused backward is not differentiable itself, so the
            # gradient is recomputed through the PyTorch path's autograd instead.
            return _recompute_backward(ctx, grad_out)
        from ..upfirdn2d import layout_of

        dx = fused_backward(ctx.module, grad_out, ctx.mask, tuple(x.shape), layout_of(x), fu, fd, up, down,
                            padding, gain, slope, flip_filter)
        db = dx.sum(dim=(0, 2, 3)).to(b.dtype) if (need_b and b is not None) else None
        return (dx if need_x else None, db, None, None, None, None, None, None, None, None, None, None)


def _recompute_backward(ctx, grad_out):
    """Gradients through the PyTorch path's autograd, differentiable again with respect to the saved inputs."""
    from ..filtered_lrelu import filtered_lrelu

    x, b = ctx.saved_tensors
    fu, fd, up, down, padding, gain, slope, clamp, flip_filter = ctx.args
    wanted = [t for t, need in zip((x, b), ctx.needs_input_grad[:2]) if need and t is not None]
    create_graph = torch.is_grad_enabled()  # set by autograd when double backward was asked for
    with torch.enable_grad():
        # The saved tensors keep their history, so with create_graph the gradients stay differentiable with
        # respect to the original inputs (double backward).
        y = filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=padding, gain=gain, slope=slope,
                           clamp=clamp, flip_filter=flip_filter, impl="torch")
        grads = iter(torch.autograd.grad(y, wanted, grad_out, create_graph=create_graph, allow_unused=True))
    out = []
    for t, need in zip((x, b), ctx.needs_input_grad[:2]):
        g = next(grads) if (need and t is not None) else None
        out.append(torch.zeros_like(t) if (g is None and need and t is not None) else g)
    return (*out, None, None, None, None, None, None, None, None, None, None)
