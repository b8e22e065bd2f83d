"""What the tiny generators compute on the default path (impl 'auto', CPU), bit for bit against references
written out here: StyleGAN3's inference is NVlabs' grouped modulated convolution (its 1x1 kernels, config R's,
the same per-image weights as batched matrix products), and StyleGAN2's calls are all left to the PyTorch path
at these sizes (no fused CPU op takes them)."""

from __future__ import annotations

import functools
from unittest import mock

import pytest
import torch

from networks import stylegan3
from ops import backend
from tests.tiny_networks import tiny_generator


def _grouped_reference(x, w, s, demodulate=True, padding=0, input_gain=None, training=False, product_1x1=False):
    """One grouped convolution with per-image weights, StyleGAN3's inference formulation, step by step:
    weights and styles pre-normalised, weights modulated, demodulated, scaled by the input gain. With
    ``product_1x1``, a 1x1 kernel is one matrix product per image instead."""
    n, c = s.shape
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    wn = w[None] * s[:, None, :, None, None]
    if demodulate:
        wn = wn * (wn.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
    if input_gain is not None:
        wn = wn * input_gain.expand(n, c)[:, None, :, None, None]
    if product_1x1 and w.shape[2:] == (1, 1):
        return torch.bmm(wn[:, :, :, 0, 0].to(x.dtype), x.reshape(n, c, -1)).reshape(n, -1, *x.shape[2:])
    y = torch.nn.functional.conv2d(x.reshape(1, -1, *x.shape[2:]), wn.reshape(-1, c, *w.shape[2:]).to(x.dtype),
                                   padding=padding, groups=n)
    return y.reshape(n, -1, *y.shape[2:])


def _images(G, impl: str = "auto") -> torch.Tensor:
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1))
    saved = backend.get_default_impl()
    backend.set_default_impl(impl)
    try:
        with torch.no_grad():
            return G(z, None, noise_mode="const")
    finally:
        backend.set_default_impl(saved)


@pytest.mark.parametrize("kind", ["sg3", "sg3r"])
def test_stylegan3_inference_is_the_grouped_modulated_convolution(kind):
    G = tiny_generator(kind, seed=0)
    default = _images(G)
    with mock.patch.object(stylegan3, "modulated_conv2d", _grouped_reference):
        grouped = _images(G)
    with mock.patch.object(stylegan3, "modulated_conv2d", functools.partial(_grouped_reference, product_1x1=True)):
        reference = _images(G)
    assert torch.equal(default, reference)
    if kind == "sg3r":  # the products are the grouped convolution up to float32 rounding (equal on some BLAS)
        torch.testing.assert_close(default, grouped, rtol=0, atol=1e-5 * float(grouped.abs().max()))
    else:
        assert torch.equal(reference, grouped)
    assert torch.isfinite(default).all() and float(default.std()) > 0


def test_stylegan2_default_path_is_the_pytorch_path():
    G = tiny_generator("sg2", seed=0)
    default = _images(G)
    assert torch.equal(default, _images(G, impl="torch"))
    assert torch.isfinite(default).all() and float(default.std()) > 0
