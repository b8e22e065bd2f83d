"""Bilinear `grid_sample` whose gradient with respect to the input can itself be differentiated, on every device.

R1 regularization differentiates the discriminator's gradient with respect to its input, and with ADA that input
went through the augment pipe's geometric transforms, i.e. through `F.grid_sample`. PyTorch's CUDA kernel for
`grid_sample`'s backward has no derivative of its own ("derivative for aten::grid_sampler_2d_backward is not
implemented"), so training with ADA on a GPU fails at the first R1 step once the augment probability is above
zero. The CPU path happens to work, which is why this is easy to miss.

Sampling with a fixed grid is linear in the input: y = A x. Its input gradient is the adjoint, g_x = A^T g_y,
computed by the stock backward kernel, and the derivative of that with respect to g_y is A^T again, whose own
backward is A, the forward sampling. Two small autograd functions express exactly that, so every order of
derivative runs the stock forward and backward kernels. The grid gets no gradient here: when it needs one, the
call goes to `F.grid_sample` unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ['grid_sample']

_PADDING = {'zeros': 0, 'border': 1, 'reflection': 2}
_BILINEAR = 0


def grid_sample(input: torch.Tensor, grid: torch.Tensor, padding_mode: str = 'zeros',
                align_corners: bool = False) -> torch.Tensor:
    """`F.grid_sample(input, grid, mode='bilinear', padding_mode, align_corners)` for 4-D inputs, with an input
    gradient that is differentiable again on every device."""
    if padding_mode not in _PADDING:
        raise ValueError(f'padding_mode must be one of {sorted(_PADDING)}, not {padding_mode!r}')
    if grid.requires_grad or input.ndim != 4:
        return F.grid_sample(input, grid, mode='bilinear', padding_mode=padding_mode, align_corners=align_corners)
    return _Sample.apply(input, grid, padding_mode, bool(align_corners))


class _Sample(torch.autograd.Function):
    """y = A x."""

    @staticmethod
    def forward(ctx, input, grid, padding_mode, align_corners):
        ctx.save_for_backward(input, grid)
        ctx.modes = (padding_mode, align_corners)
        return F.grid_sample(input, grid, mode='bilinear', padding_mode=padding_mode, align_corners=align_corners)

    @staticmethod
    def backward(ctx, grad_output):
        input, grid = ctx.saved_tensors
        grad_input = None
        if ctx.needs_input_grad[0]:
            grad_input = _Adjoint.apply(grad_output, input, grid, *ctx.modes)
        return grad_input, None, None, None


class _Adjoint(torch.autograd.Function):
    """g_x = A^T g_y; `input` only gives the kernel its shape (the result does not depend on its values)."""

    @staticmethod
    def forward(ctx, grad_output, input, grid, padding_mode, align_corners):
        ctx.save_for_backward(grid)
        ctx.modes = (padding_mode, align_corners)
        grad_input, _ = torch.ops.aten.grid_sampler_2d_backward(
            grad_output, input, grid, _BILINEAR, _PADDING[padding_mode], align_corners, [True, False])
        return grad_input

    @staticmethod
    def backward(ctx, grad_grad_input):
        grid, = ctx.saved_tensors
        grad_grad_output = None
        if ctx.needs_input_grad[0]:
            grad_grad_output = _Sample.apply(grad_grad_input, grid, *ctx.modes)
        return grad_grad_output, None, None, None, None
