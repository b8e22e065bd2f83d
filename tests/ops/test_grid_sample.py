"""ops.grid_sample: the same values and derivatives as `F.grid_sample` (whose CPU kernels differentiate twice),
without ever asking the stock backward kernel for a derivative, which PyTorch's CUDA kernel does not have."""

import pytest
import torch
import torch.nn.functional as F

from ops.grid_sample import grid_sample
from tests.autograd_nodes import node_names


def _case(seed, padding_mode, align_corners, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 7, 9, generator=g, dtype=dtype, requires_grad=True)
    # Points inside and well outside [-1, 1], so every padding rule is exercised.
    grid = (torch.rand(2, 5, 6, 2, generator=g, dtype=dtype) * 3 - 1.5)
    w = torch.randn(2, 3, 5, 6, generator=g, dtype=dtype)
    return x, grid, w, dict(padding_mode=padding_mode, align_corners=align_corners)


@pytest.mark.parametrize('padding_mode', ['zeros', 'border', 'reflection'])
@pytest.mark.parametrize('align_corners', [False, True])
def test_values_and_two_orders_of_derivatives_match_the_stock_op(padding_mode, align_corners):
    x, grid, w, kw = _case(0, padding_mode, align_corners)
    ours = grid_sample(x, grid, **kw)
    stock = F.grid_sample(x, grid, mode='bilinear', **kw)
    assert torch.equal(ours, stock)
    # An R1 penalty: D's input gradient, squared, then differentiated again. D is nonlinear, so the gradient
    # reaching the sampler depends on x and the second derivative runs through the adjoint's own backward.
    def penalty_grad(y):
        (g,) = torch.autograd.grad((torch.tanh(y) * w).sum(), x, create_graph=True)
        (gg,) = torch.autograd.grad(g.square().sum(), x)
        return g, gg
    g_ours, gg_ours = penalty_grad(ours)
    g_stock, gg_stock = penalty_grad(stock)
    torch.testing.assert_close(g_ours, g_stock, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gg_ours, gg_stock, rtol=1e-12, atol=1e-12)
    assert gg_ours.abs().sum() > 0


@pytest.mark.parametrize('padding_mode', ['zeros', 'reflection'])
def test_gradcheck_and_gradgradcheck(padding_mode):
    x, grid, _w, kw = _case(1, padding_mode, False)
    x = x.detach()[:1, :2, :4, :5].clone().requires_grad_(True)
    grid = grid[:1, :3, :3]
    assert torch.autograd.gradcheck(lambda t: grid_sample(t, grid, **kw), (x,))
    assert torch.autograd.gradgradcheck(lambda t: grid_sample(t, grid, **kw), (x,))


def test_the_stock_backward_is_never_differentiated():
    # PyTorch's CUDA kernel cannot differentiate grid_sample's backward; the first-order gradient must therefore
    # come from this module's adjoint, and its graph must reach the stock ops only through their forward.
    x, grid, w, kw = _case(2, 'reflection', False)
    (g,) = torch.autograd.grad((grid_sample(x, grid, **kw) * w).sum(), x, create_graph=True)
    names = node_names(g)
    assert not any('GridSampler2DBackward' in n for n in names), names
    assert '_AdjointBackward' in names


def test_a_grid_that_needs_a_gradient_uses_the_stock_op_and_bad_modes_are_refused():
    x, grid, _w, kw = _case(3, 'zeros', False)
    grid = grid.clone().requires_grad_(True)
    out = grid_sample(x, grid, **kw)
    assert type(out.grad_fn).__name__ == 'GridSampler2DBackward0'
    (gg,) = torch.autograd.grad(out.sum(), grid)
    assert gg.shape == grid.shape and gg.abs().sum() > 0
    with pytest.raises(ValueError, match='padding_mode'):
        grid_sample(x, grid.detach(), padding_mode='wrap')
