"""Python side of the fused CPU filtered_lrelu: filter preparation, the call, and autograd.

The C++ op (``filtered_lrelu.cpp``) only correlates, so the filters are turned into correlation taps here:
flipped unless ``flip_filter`` (upfirdn2d convolves), the upsampling gain ``up**2`` folded into the up filter
(``up`` per axis for a separable 1-D filter), a missing filter as the single tap 1.

Gradients: :class:`FusedFilteredLrelu` runs the fused forward and, in backward, recomputes the op with the
PyTorch path's autograd (no intermediate is kept from the forward). The recomputation keeps the graph to the
saved inputs, so double backward works as well. A training step pays the fused forward on top of the PyTorch
path's forward and backward, but keeps no intermediate between them, and a network computes the same numbers
with and without autograd.
"""

from __future__ import annotations

import torch

SUPPORTED_DTYPES = (torch.float32, torch.float64)


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


def fused_forward(module, x: torch.Tensor, fu, fd, b, up: int, down: int, padding, gain: float, slope: float,
                  clamp: float | None, flip_filter: bool) -> torch.Tensor:
    """The fused op on validated arguments (padding as [x0, x1, y0, y1]); output in x's memory format."""
    from ..filtered_lrelu import output_size
    from ..upfirdn2d import layout_of

    px0, px1, py0, py1 = padding
    gu, gu2 = _taps(fu, float(up), not flip_filter, x.dtype)
    hd, hd2 = _taps(fd, 1.0, not flip_filter, x.dtype)
    bias = torch.empty(0, dtype=x.dtype) if b is None else b.detach().to(x.dtype).contiguous()
    out_h, out_w = output_size(x.shape[2], x.shape[3], fu, fd, up, down, padding)
    out = torch.empty([x.shape[0], x.shape[1], out_h, out_w], dtype=x.dtype, memory_format=layout_of(x))
    module.forward(x.detach(), bias, gu, gu2, hd, hd2, up, down, px0, px1, py0, py1, float(gain), float(slope),
                   -1.0 if clamp is None else float(clamp), out)
    return out


class FusedFilteredLrelu(torch.autograd.Function):
    """Fused forward; backward by recomputation through the PyTorch path (differentiable again)."""

    @staticmethod
    def forward(ctx, x, b, module, fu, fd, up, down, padding, gain, slope, clamp, flip_filter):
        ctx.save_for_backward(x, b)
        ctx.args = (fu, fd, up, down, padding, gain, slope, clamp, flip_filter)
        return fused_forward(module, x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter)

    @staticmethod
    def backward(ctx, grad_out):
        from ..filtered_lrelu import filtered_lrelu

        x, b = ctx.saved_tensors
        fu, fd, up, down, padding, gain, slope, clamp, flip_filter = ctx.args
        wanted = [t for t, need in zip((x, b), ctx.needs_input_grad[:2]) if need and t is not None]
        grads = iter(())
        if wanted:
            create_graph = torch.is_grad_enabled()  # set by autograd when double backward was asked for
            with torch.enable_grad():
                # The saved tensors keep their history, so with create_graph the gradients stay differentiable
                # with respect to the original inputs (double backward).
                y = filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=padding, gain=gain, slope=slope,
                                   clamp=clamp, flip_filter=flip_filter, impl="torch")
                grads = iter(torch.autograd.grad(y, wanted, grad_out, create_graph=create_graph, allow_unused=True))
        out = []
        for t, need in zip((x, b), ctx.needs_input_grad[:2]):
            g = next(grads) if (need and t is not None) else None
            out.append(torch.zeros_like(t) if (g is None and need and t is not None) else g)
        return (*out, None, None, None, None, None, None, None, None, None, None)
