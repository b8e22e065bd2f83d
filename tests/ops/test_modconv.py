"""StyleGAN3's modulated convolution (ops/modconv.py): the training formulation against the inference one.

``modulated_conv2d`` takes NVlabs' grouped formulation without autograd or in eval mode and, in training when a
gradient will be needed, the factored one (per-image weights from one multiply by [N, O, I] coefficients).
These tests hold the two to the same values and gradients: exactly (to float64 rounding) on the op, within
float32 tolerance through whole generators, and the no-grad and eval paths bit for bit the grouped ones. The
Winograd formulation has its own tests (test_conv3x3.py).
"""

import copy
from unittest import mock

import pytest
import torch

from networks import stylegan3
from ops import modconv

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


def _run(x, w, s, kwargs, training: bool):
    """Output and gradients with autograd recording: training=True is the factored form, False the grouped."""
    leaves = [t.clone().requires_grad_(True) for t in (x, w, s)]
    y = modconv.modulated_conv2d(*leaves, **kwargs, training=training)
    cotangent = torch.randn(y.shape, generator=torch.Generator().manual_seed(4), dtype=y.dtype)
    grads = torch.autograd.grad((y * cotangent).sum(), leaves)
    return y.detach(), grads


@pytest.mark.parametrize("demodulate,kernel,gain", [(True, 3, 0.37), (True, 1, None), (False, 1, 2.5)])
def test_training_and_inference_formulations_agree_in_float64(demodulate, kernel, gain):
    x, w, s, kwargs = _op_case(torch.float64, demodulate, kernel, gain)
    y_grouped, g_grouped = _run(x, w, s, kwargs, training=False)
    y_factored, g_factored = _run(x, w, s, kwargs, training=True)
    assert y_factored.shape == y_grouped.shape == (3, 7, 9 + kernel - 1, 8 + kernel - 1)
    assert _rel(y_factored, y_grouped) < 1e-13
    for name, a, b in zip("xws", g_factored, g_grouped):
        assert _rel(a, b) < 1e-12, name


@pytest.mark.parametrize("kernel", [3, 1])
@pytest.mark.parametrize("training", [False, True])
def test_demodulation_against_a_direct_float64_reference(training, kernel):
    """Independent of the formulations: per-image weights built by loops, each image convolved alone."""
    x, w, s, kwargs = _op_case(torch.float64, True, kernel, 0.37)
    with torch.enable_grad():
        y = modconv.modulated_conv2d(x, w.requires_grad_(True), s, **kwargs, training=training).detach()
    w0 = w.detach() / w.detach().square().mean(dim=[1, 2, 3], keepdim=True).sqrt()  # the pre-normalisation
    s0 = s / s.square().mean().sqrt()
    for n in range(x.shape[0]):
        wn = w0 * s0[n].reshape(1, -1, 1, 1)
        wn = wn / (wn.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        ref = torch.nn.functional.conv2d(x[n:n + 1] * 0.37, wn, padding=kernel - 1)
        assert _rel(y[n:n + 1], ref) < 1e-12


def test_float32_within_rounding():
    x, w, s, kwargs = _op_case(torch.float32, True, 3, 0.37)
    y_grouped, g_grouped = _run(x, w, s, kwargs, training=False)
    y_factored, g_factored = _run(x, w, s, kwargs, training=True)
    assert _rel(y_factored, y_grouped) < 1e-5
    assert all(_rel(a, b) < 1e-5 for a, b in zip(g_factored, g_grouped))


def test_no_grad_and_eval_paths_are_the_grouped_one_bit_for_bit():
    x, w, s, kwargs = _op_case(torch.float32, True, 3, 0.37)
    with torch.no_grad():
        y_nograd = modconv.modulated_conv2d(x, w, s, **kwargs)
        assert torch.equal(modconv.modulated_conv2d(x, w, s, **kwargs, training=True), y_nograd)
    y_grouped, _ = _run(x, w, s, kwargs, training=False)  # eval mode under autograd
    y_factored, _ = _run(x, w, s, kwargs, training=True)
    assert torch.equal(y_nograd, y_grouped)
    assert not torch.equal(y_nograd, y_factored)  # the training path really is a different computation


def test_1x1_is_a_batched_matrix_product_on_the_cpu():
    """Config R's 1x1 layers run without the grouped convolution, which the CPU runs group by group: in training
    and in inference, with the grouped convolution's values and gradients."""
    x, w, s, kwargs = _op_case(torch.float64, True, 1, None)
    with mock.patch.object(torch.nn.functional, "conv2d", side_effect=AssertionError("grouped convolution")):
        y, grads = _run(x, w, s, kwargs, training=True)
        y_eval, g_eval = _run(x, w, s, kwargs, training=False)  # the inference form under autograd
        with torch.no_grad():
            y_inference = modconv.modulated_conv2d(x, w, s, **kwargs)
    assert torch.equal(y_eval, y_inference)
    assert _rel(y, y_eval) < 1e-13 and all(_rel(a, b) < 1e-12 for a, b in zip(grads, g_eval))
    # The grouped convolution itself, written out (NVlabs' form), against the inference product.
    w0 = w / w.square().mean(dim=[1, 2, 3], keepdim=True).sqrt()
    wn = w0.unsqueeze(0) * (s / s.square().mean().sqrt()).reshape(3, 1, 5, 1, 1)
    wn = wn / (wn.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).sqrt()
    ref = torch.nn.functional.conv2d(x.reshape(1, -1, 9, 8), wn.reshape(-1, 5, 1, 1), groups=3).reshape(3, 7, 9, 8)
    assert _rel(y_inference, ref) < 1e-13


def test_mismatched_shapes_are_refused_in_one_line():
    x, w, s, kwargs = _op_case(torch.float32, True, 3, 0.37)
    with pytest.raises(ValueError, match=r"modulated_conv2d: x \(3, 5, 9, 8\), w \(7, 5, 3, 3\), styles \(2, 5\)"):
        modconv.modulated_conv2d(x, w, s[:2], **kwargs)


def _generator(cfg: str) -> stylegan3.Generator:
    torch.manual_seed(5)
    G = stylegan3.Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, channel_base=1024,
                            channel_max=24, **(R_KWARGS if cfg == "R" else {}))
    for layer in G.synthesis.modules():  # trained-looking input gains instead of the initial 1
        if isinstance(layer, stylegan3.SynthesisLayer):
            layer.magnitude_ema.fill_(float(torch.empty([]).uniform_(0.2, 5.0)))
    return G


def _grouped_in_training(*args, training=False, **kwargs):
    """modulated_conv2d told it is not training: the grouped formulation, whatever the layer's mode."""
    return modconv.modulated_conv2d(*args, **kwargs, training=False)


def _synthesis_grads(G, ws, grouped: bool):
    """A training-mode forward and backward of a copy of G (each run starts from the same magnitude EMAs)."""
    G = copy.deepcopy(G).train()
    ws = ws.clone().requires_grad_(True)
    with mock.patch.object(stylegan3, "modulated_conv2d", _grouped_in_training if grouped else
                           modconv.modulated_conv2d):
        img = G.synthesis(ws, noise_mode="const")
    cotangent = torch.randn(img.shape, generator=torch.Generator().manual_seed(6))
    (img * cotangent).sum().backward()
    return img.detach(), ws.grad, {k: p.grad.clone() for k, p in G.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("cfg", ["T", "R"])
def test_generator_outputs_and_gradients_agree(cfg):
    G = _generator(cfg)
    with torch.no_grad():
        ws = G.mapping(torch.randn(3, 16, generator=torch.Generator().manual_seed(7)), None)
    img_grouped, dws_grouped, dp_grouped = _synthesis_grads(G, ws, grouped=True)
    img_factored, dws_factored, dp_factored = _synthesis_grads(G, ws, grouped=False)
    G.eval()
    with torch.no_grad():
        img_nograd = G.synthesis(ws, noise_mode="const")
    # Eval mode keeps the grouped bits under autograd.
    assert torch.equal(G.synthesis(ws.clone().requires_grad_(True), noise_mode="const").detach(), img_nograd)
    assert not torch.equal(img_factored, img_grouped)  # the two runs did take different formulations
    assert _rel(img_factored, img_grouped) < 1e-5
    assert _rel(dws_factored, dws_grouped) < 1e-4
    synthesis_params = {"synthesis." + k for k, _ in G.synthesis.named_parameters()}
    assert synthesis_params <= set(dp_grouped) and set(dp_factored) == set(dp_grouped)
    for k in dp_grouped:
        assert dp_grouped[k].abs().max() > 0, k  # every synthesis parameter gets a gradient to compare
        assert _rel(dp_factored[k], dp_grouped[k]) < 1e-4, k
