import numpy as np
import pytest
import torch

from ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

from .oracle import upfirdn2d_ref


def _random_case(rng):
    up = int(rng.choice([1, 2, 4]))
    down = int(rng.choice([1, 2, 4]))
    K = int(rng.integers(1, 13))
    f = rng.standard_normal(K) if rng.random() < 0.5 else rng.standard_normal((K, K))
    H, W = int(rng.integers(2, 14)), int(rng.integers(2, 14))
    pad = [int(p) for p in rng.integers(-4, 9, size=4)]
    return up, down, f, (H, W), pad, bool(rng.random() < 0.3), float(rng.uniform(0.5, 3))


def test_matches_naive_oracle_over_random_cases():
    rng = np.random.default_rng(1234)
    checked = 0
    while checked < 250:
        up, down, f, (H, W), pad, flip, gain = _random_case(rng)
        x = rng.standard_normal((2, 3, H, W))
        fh, fw = (f.shape[0], f.shape[0]) if f.ndim == 1 else f.shape
        if H * up + pad[2] + pad[3] < fh or W * up + pad[0] + pad[1] < fw:
            with pytest.raises(ValueError, match="empty"):
                upfirdn2d(torch.tensor(x), torch.tensor(f), up=up, down=down, padding=pad)
            continue
        ref = upfirdn2d_ref(x, f, up, down, pad, flip, gain)
        out = upfirdn2d(torch.tensor(x, dtype=torch.float32), torch.tensor(f, dtype=torch.float32),
                        up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
        assert out.shape == ref.shape, (up, down, f.shape, pad)
        err = np.abs(out.double().numpy() - ref).max() / max(np.abs(ref).max(), 1e-3)
        assert err <= 1e-5, (up, down, f.shape, pad, flip, err)
        checked += 1


def test_independent_x_and_y_factors():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 7, 9))
    f = rng.standard_normal((5, 5))
    out = upfirdn2d(torch.tensor(x), torch.tensor(f), up=[2, 1], down=[1, 2], padding=[3, 2, 1, 0])
    # Reference: x is upsampled along x only, y is decimated only.
    z = np.zeros((1, 2, 7, 18))
    z[:, :, :, ::2] = x
    from .oracle import convolve_valid, pad_crop
    ref = convolve_valid(pad_crop(z, 3, 2, 1, 0), f)[:, :, ::2, :]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("up,down,separable", [(2, 1, True), (1, 2, True), (2, 2, False), (4, 1, False), (1, 4, True)])
def test_gradcheck_and_double_backward(up, down, separable):
    torch.manual_seed(0)
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    f = torch.randn(4, dtype=torch.float64) if separable else torch.randn(3, 3, dtype=torch.float64)
    fn = lambda x: upfirdn2d(x, f, up=up, down=down, padding=[1, 2, -1, 2])  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_helpers_keep_size_and_scale():
    x = torch.ones(1, 1, 8, 8)
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and abs(float(f.sum()) - 1) < 1e-6
    assert setup_filter(np.ones(8)).shape == (8,)  # >= 8 taps stay separable, as in NVlabs
    assert filter2d(x, f).shape == (1, 1, 8, 8)
    up = upsample2d(x, f)
    assert up.shape == (1, 1, 16, 16)
    assert torch.allclose(up[:, :, 4:-4, 4:-4], torch.ones(1, 1, 8, 8), atol=1e-6)  # DC gain 1 in the interior
    down = downsample2d(x, f)
    assert down.shape == (1, 1, 4, 4)
    assert torch.allclose(down[:, :, 1:-1, 1:-1], torch.ones(1, 1, 2, 2), atol=1e-6)


def test_bad_input_messages():
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="4-D"):
        upfirdn2d(torch.zeros(4, 4), setup_filter([1, 1]))
    with pytest.raises(TypeError, match="floating"):
        upfirdn2d(torch.zeros(1, 1, 4, 4, dtype=torch.int64), setup_filter([1, 1]))
    with pytest.raises(ValueError, match="filter"):
        upfirdn2d(x, torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="up factors"):
        upfirdn2d(x, setup_filter([1, 1]), up=0)
    with pytest.raises(ValueError, match="empty"):
        upfirdn2d(x, setup_filter([1, 1]), padding=-4)
    with pytest.raises(ValueError, match="padding"):
        upfirdn2d(x, setup_filter([1, 1]), padding=[1, 2, 3])


def test_output_without_any_tap_still_has_a_zero_gradient():
    # A 1-tap filter with up 4 / down 4 along y and this padding: every output sample is an inserted zero.
    x = torch.randn(1, 1, 5, 2, requires_grad=True)
    y = upfirdn2d(x, torch.ones(1, 1), up=(4, 4), down=(4, 1), padding=(-1, 6, 3, 4))
    assert y.shape == (1, 1, 27, 4) and torch.equal(y, torch.zeros_like(y))
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(grad, torch.zeros_like(x))
