"""StyleGAN3's grad-mode modulated convolutions against the grouped per-image weights.

``modulated_conv2d`` takes the grouped formulation without autograd or in eval mode and, in training when a
gradient will be needed, a factored one (per-image weights from one multiply) or x * s -> conv -> * dcoefs. These
tests hold them to the same values and gradients: exactly (to float64 rounding) on the op, within float32
tolerance through whole generators, and the no-grad and eval paths bit for bit unchanged.
"""

from unittest import mock

import pytest
import torch

from networks import stylegan3

NEW = pytest.mark.parametrize("new", ["factored", "activations"])  # the grad-mode formulations under test

R_KWARGS = dict(conv_kernel=1, use_radial_filters=True)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def _op_case(dtype, demodulate, kernel, gain):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 5, 9, 8, generator=g, dtype=dtype)
    w = torch.randn(7, 5, kernel, kernel, generator=g, dtype=dtype)
    # Styles spread over two orders of magnitude: a wrong demodulation shows up as a scale error.
    s = torch.randn(3, 5, generator=g, dtype=dtype) * torch.logspace(-1, 1, 5, dtype=dtype)
    input_gain = torch.tensor(gain, dtype=dtype) if gain is not None else None
    return x, w, s, dict(demodulate=demodulate, padding=kernel - 1, input_gain=input_gain)


def _run(x, w, s, kwargs, formulation: str):
    leaves = [t.clone().requires_grad_(True) for t in (x, w, s)]
    with mock.patch.object(stylegan3, "GRAD_FORMULATION", formulation):
        y = stylegan3.modulated_conv2d(*leaves, **kwargs, training=True)
    cotangent = torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=y.dtype)
    grads = torch.autograd.grad((y * cotangent).sum(), leaves)
    return y.detach(), grads


@NEW
@pytest.mark.parametrize("demodulate,kernel,gain", [(True, 3, 0.37), (True, 1, None), (False, 1, 2.5)])
def test_op_formulations_agree_in_float64(new, demodulate, kernel, gain):
    x, w, s, kwargs = _op_case(torch.float64, demodulate, kernel, gain)
    y_old, g_old = _run(x, w, s, kwargs, formulation="grouped")
    y_new, g_new = _run(x, w, s, kwargs, formulation=new)
    assert y_new.shape == y_old.shape == (3, 7, 9 + kernel - 1, 8 + kernel - 1)
    assert _rel(y_new, y_old) < 1e-13
    for name, a, b in zip("xws", g_new, g_old):
        assert _rel(a, b) < 1e-12, name


@pytest.mark.parametrize("formulation", ["grouped", "factored", "activations"])
def test_op_demodulation_against_direct_float64_reference(formulation):
    """Independent of the formulations: per-image weights built by loops, each image convolved alone."""
    x, w, s, kwargs = _op_case(torch.float64, True, 3, 0.37)
    with torch.enable_grad(), mock.patch.object(stylegan3, "GRAD_FORMULATION", formulation):
        y = stylegan3.modulated_conv2d(x, w.requires_grad_(True), s, **kwargs, training=True).detach()
    w0 = w.detach() / w.detach().square().mean(dim=[1, 2, 3], keepdim=True).sqrt()  # the pre-normalisation
    s0 = s / s.square().mean().sqrt()
    for n in range(x.shape[0]):
        wn = w0 * s0[n].reshape(1, -1, 1, 1)
        wn = wn / (wn.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        ref = torch.nn.functional.conv2d(x[n:n + 1] * 0.37, wn, padding=2)
        assert _rel(y[n:n + 1], ref) < 1e-12


@NEW
def test_op_float32_within_rounding(new):
    x, w, s, kwargs = _op_case(torch.float32, True, 3, 0.37)
    y_old, g_old = _run(x, w, s, kwargs, formulation="grouped")
    y_new, g_new = _run(x, w, s, kwargs, formulation=new)
    assert _rel(y_new, y_old) < 1e-5
    assert all(_rel(a, b) < 1e-5 for a, b in zip(g_new, g_old))


@NEW
def test_no_grad_path_is_the_grouped_one_bit_for_bit(new):
    x, w, s, kwargs = _op_case(torch.float32, True, 3, 0.37)
    with torch.no_grad():
        y_nograd = stylegan3.modulated_conv2d(x, w, s, **kwargs)
    y_grouped, _ = _run(x, w, s, kwargs, formulation="grouped")
    y_new, _ = _run(x, w, s, kwargs, formulation=new)
    assert torch.equal(y_nograd, y_grouped)
    leaves = [t.clone().requires_grad_(True) for t in (x, w, s)]
    with mock.patch.object(stylegan3, "GRAD_FORMULATION", new):  # eval mode (training=False): grouped bits
        assert torch.equal(stylegan3.modulated_conv2d(*leaves, **kwargs).detach(), y_nograd)
    assert not torch.equal(y_nograd, y_new)  # the grad-mode path really is a different computation


def _generator(cfg: str) -> stylegan3.Generator:
    torch.manual_seed(5)
    G = stylegan3.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, channel_base=1024,
                            channel_max=24, **(R_KWARGS if cfg == "R" else {}))
    for layer in G.synthesis.modules():  # trained-looking input gains instead of the initial 1
        if isinstance(layer, stylegan3.SynthesisLayer):
            layer.magnitude_ema.fill_(float(torch.empty([]).uniform_(0.2, 5.0)))
    return G


def _synthesis_grads(G, ws, formulation: str):
    G.zero_grad(set_to_none=True)
    ws = ws.clone().requires_grad_(True)
    with mock.patch.object(stylegan3, "GRAD_FORMULATION", formulation):
        img = G.synthesis(ws, noise_mode="const")
    cotangent = torch.randn(img.shape, generator=torch.Generator().manual_seed(6))
    (img * cotangent).sum().backward()
    return img.detach(), ws.grad, {k: p.grad.clone() for k, p in G.named_parameters() if p.grad is not None}


@NEW
@pytest.mark.parametrize("cfg", ["T", "R"])
def test_generator_outputs_and_gradients_agree(new, cfg):
    G = _generator(cfg)
    with torch.no_grad():
        ws = G.mapping(torch.randn(3, 16, generator=torch.Generator().manual_seed(7)), None)
    img_old, dws_old, dp_old = _synthesis_grads(G, ws, formulation="grouped")
    img_new, dws_new, dp_new = _synthesis_grads(G, ws, formulation=new)
    with torch.no_grad():
        img_nograd = G.synthesis(ws, noise_mode="const")
    assert torch.equal(img_nograd, img_old)  # the no-grad forward is untouched
    G.eval()
    with mock.patch.object(stylegan3, "GRAD_FORMULATION", new):  # eval mode keeps the grouped bits under autograd
        assert torch.equal(G.synthesis(ws.requires_grad_(True), noise_mode="const").detach(), img_nograd)
    assert _rel(img_new, img_old) < 1e-5
    assert _rel(dws_new, dws_old) < 1e-4
    synthesis_params = {"synthesis." + k for k, _ in G.synthesis.named_parameters()}
    assert synthesis_params <= set(dp_old) and set(dp_new) == set(dp_old)
    for k in dp_old:
        assert dp_old[k].abs().max() > 0, k  # every synthesis parameter gets a gradient to compare
        assert _rel(dp_new[k], dp_old[k]) < 1e-4, k
