import math

import numpy as np
import pytest
import torch

from networks.filters import design_lowpass_filter
from ops.bias_act import bias_act
from ops.filtered_lrelu import filtered_lrelu

from .oracle import filtered_lrelu_ref, lrelu_ref, upfirdn2d_ref


@pytest.mark.parametrize("act,ref", [
    ("linear", lambda x: x), ("relu", lambda x: np.maximum(x, 0) * math.sqrt(2)),
    ("lrelu", lambda x: lrelu_ref(x, 0.2, math.sqrt(2), None)), ("tanh", np.tanh),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("swish", lambda x: x / (1 + np.exp(-x)) * math.sqrt(2)),
])
def test_bias_act_activations(act, ref):
    rng = np.random.default_rng(0)
    x, b = rng.standard_normal((3, 4, 5)), rng.standard_normal(4)
    out = bias_act(torch.tensor(x), torch.tensor(b), act=act)
    np.testing.assert_allclose(out.numpy(), ref(x + b.reshape(1, 4, 1)), rtol=1e-10, atol=1e-12)


def test_bias_act_gain_clamp_dim_and_grads():
    rng = np.random.default_rng(1)
    x, b = rng.standard_normal((3, 5)) * 10, rng.standard_normal(5)
    out = bias_act(torch.tensor(x), torch.tensor(b), dim=1, act="lrelu", alpha=0.1, gain=3.0, clamp=7.0)
    np.testing.assert_allclose(out.numpy(), lrelu_ref(x + b, 0.1, 3.0, 7.0), rtol=1e-12)
    xt = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    bt = torch.randn(3, dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: bias_act(x, b, act="lrelu", clamp=100.0)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (xt, bt)) and torch.autograd.gradgradcheck(fn, (xt, bt))
    with pytest.raises(ValueError, match="bias must be 1-D"):
        bias_act(torch.zeros(2, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(torch.zeros(2, 3), act="gelu2")


def _random_filtered_case(rng):
    up = int(rng.choice([1, 2, 4]))
    down = int(rng.choice([1, 2, 4]))
    radial = rng.random() < 0.4
    fu = design_lowpass_filter(6 * up, cutoff=2.0, width=2.0, fs=8.0 * up) if up > 1 else None
    fd = design_lowpass_filter(6 * down, cutoff=2.0, width=2.0, fs=8.0 * down, radial=radial) if down > 1 else None
    if rng.random() < 0.2:  # arbitrary (non-symmetric) filters too
        fu = torch.tensor(rng.standard_normal(int(rng.integers(1, 9))), dtype=torch.float32) if up > 1 else fu
    H, W = int(rng.integers(4, 12)), int(rng.integers(4, 12))
    pad = [int(p) for p in rng.integers(-2, 12, size=4)]
    return dict(up=up, down=down, fu=fu, fd=fd, shape=(2, 3, H, W), pad=pad,
                gain=float(rng.uniform(0.5, 2)), slope=float(rng.choice([0.2, 0.0, 1.0, 0.5])),
                clamp=(float(rng.uniform(0.5, 3)) if rng.random() < 0.5 else None))


def test_filtered_lrelu_matches_oracle_over_random_cases():
    rng = np.random.default_rng(7)
    done = 0
    while done < 120:
        c = _random_filtered_case(rng)
        x = rng.standard_normal(c["shape"]) * 2
        b = rng.standard_normal(c["shape"][1])
        fu_np = None if c["fu"] is None else c["fu"].double().numpy()
        fd_np = None if c["fd"] is None else c["fd"].double().numpy()
        H, W = c["shape"][2:]
        ku = 1 if fu_np is None else fu_np.shape[0]
        kd = 1 if fd_np is None else fd_np.shape[0]
        if min(H * c["up"] + c["pad"][2] + c["pad"][3], W * c["up"] + c["pad"][0] + c["pad"][1]) < ku + kd - 1:
            continue
        ref = filtered_lrelu_ref(x, fu_np, fd_np, b, c["up"], c["down"], c["pad"], c["gain"], c["slope"],
                                 c["clamp"])
        out = filtered_lrelu(torch.tensor(x, dtype=torch.float32), c["fu"], c["fd"],
                             torch.tensor(b, dtype=torch.float32), up=c["up"], down=c["down"], padding=c["pad"],
                             gain=c["gain"], slope=c["slope"], clamp=c["clamp"])
        assert out.shape == ref.shape
        # float32 rounding scales with the upsampled pre-activation, which can exceed the clamped output.
        pre = upfirdn2d_ref(x + b.reshape(1, -1, 1, 1), fu_np, up=c["up"], pad=c["pad"], gain=c["up"] ** 2)
        scale = max(np.abs(ref).max(), np.abs(pre).max() * c["gain"], 1e-6)
        err = np.abs(out.double().numpy() - ref).max() / scale
        assert err <= 1e-5, (c, err)
        done += 1


def test_filtered_lrelu_gradcheck_including_double_backward():
    torch.manual_seed(0)
    fu = design_lowpass_filter(12, cutoff=2.0, width=2.0, fs=8.0).double()
    fd = design_lowpass_filter(12, cutoff=2.0, width=2.0, fs=8.0, radial=True).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    fn = lambda x, b: filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[11, 10, 11, 12], clamp=1.0)  # noqa: E731
    assert fn(x, b).shape == (1, 2, 6, 5)  # padding is [x0, x1, y0, y1]
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def test_filtered_lrelu_bad_input():
    with pytest.raises(ValueError, match="bias must have shape"):
        filtered_lrelu(torch.zeros(1, 3, 4, 4), b=torch.zeros(2))
    with pytest.raises(ValueError, match="up and down"):
        filtered_lrelu(torch.zeros(1, 3, 4, 4), up=0)
    with pytest.raises(ValueError, match="empty"):
        filtered_lrelu(torch.zeros(1, 3, 4, 4), padding=-3)
