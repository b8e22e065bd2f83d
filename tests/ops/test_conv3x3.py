"""The Winograd F(2x2, 3x3) CPU convolution (ops/conv3x3.py, ops/cpu/winograd.cpp): a float64 oracle, its float32
rounding against a direct convolution's, when it is taken, and the fallbacks.

The C++ code is in the fused CPU op's module; the first test in a fresh cache builds it (about a minute).
"""

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ops import backend, conv3x3, modconv
from ops import plugin as ops_plugin
from ops.conv2d_resample import conv2d_resample
from ops.cpu import build


@pytest.fixture(scope="module")
def module():
    module = build.FUSED.get()
    if module is None:
        pytest.fail(f"the fused CPU op did not build here: {build.FUSED.status_text()}")
    conv3x3.WINOGRAD.reset()
    assert conv3x3.WINOGRAD.status is ops_plugin.Status.IDLE
    if conv3x3.WINOGRAD.get() is None:
        pytest.fail(f"the Winograd convolution is unusable: {conv3x3.WINOGRAD.status_text()}")
    assert conv3x3.WINOGRAD.status is ops_plugin.Status.READY
    if backend.get_default_impl() != "torch":
        assert ops_plugin.describe().splitlines()[1] == "fused CPU filtered_lrelu ready, Winograd CPU convolution ready"
    return module


def _reference(x, w, pad, per_image, a=None, d=None):
    """F.conv2d of x * a with w (per image: grouped), times d."""
    n, c, h, wd = x.shape
    if a is not None:
        x = x * a[:, :, None, None]
    if per_image:
        y = F.conv2d(x.reshape(1, n * c, h, wd), w, padding=pad, groups=n)
        y = y.reshape(n, -1, h + 2 * pad - 2, wd + 2 * pad - 2)
    else:
        y = F.conv2d(x, w, padding=pad)
    return y if d is None else y * d[:, :, None, None]


def test_float64_oracle_over_random_shapes(module):
    """Odd and even sizes (a last tile half outside), 1x1 to 3x3 inputs at padding 2, tile blocks that split
    rows, channel counts of 1 to 37, shared and per-image weights, with and without scales: 1e-12 relative."""
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(1, 4))
        c, o = int(rng.integers(1, 38)), int(rng.integers(1, 38))
        pad = int(rng.integers(0, 3))
        h, w = int(rng.integers(3 - pad, 17)), int(rng.integers(3 - pad, 17))
        h, w = max(h, 1), max(w, 1)
        per_image = bool(rng.random() < 0.5)
        x = torch.tensor(rng.standard_normal((n, c, h, w)))
        wt = torch.tensor(rng.standard_normal((o * (n if per_image else 1), c, 3, 3)))
        scales = rng.random() < 0.5
        a = torch.tensor(rng.random((n, c))) if scales else None
        d = torch.tensor(rng.random((n, o))) if scales else None
        saved = conv3x3.TILE_BLOCK
        conv3x3.TILE_BLOCK = int(rng.choice([1, 3, 7, 256]))
        try:
            y = conv3x3._run(module, x, wt, pad, per_image, a, d)
        finally:
            conv3x3.TILE_BLOCK = saved
        ref = _reference(x, wt, pad, per_image, a, d)
        assert y.shape == ref.shape
        assert float((y - ref).abs().max()) <= 1e-12 * float(ref.abs().max()), (n, c, o, h, w, pad, per_image)


def test_float32_rounding_stays_near_a_direct_convolutions(module):
    """Against float64, at an SG3 layer's channel count: at most 2.5x the direct convolution's error."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 256, 40, 40, generator=g, dtype=torch.float64)
    w = torch.randn(256, 256, 3, 3, generator=g, dtype=torch.float64) / 48
    a = torch.rand(2, 256, generator=g, dtype=torch.float64) + 0.5
    d = torch.rand(2, 256, generator=g, dtype=torch.float64)
    ref = _reference(x, w, 2, False, a, d)
    direct = _reference(x.float(), w.float(), 2, False, a.float(), d.float())
    wino = conv3x3._run(module, x.float(), w.float(), 2, False, a.float(), d.float())
    err_direct = float((direct.double() - ref).abs().max())
    err_wino = float((wino.double() - ref).abs().max())
    assert err_wino <= 2.5 * err_direct, (err_wino, err_direct)
    assert err_wino <= 2e-6 * float(ref.abs().max())


def _spy(monkeypatch):
    calls = []
    real = conv3x3._run

    def spy(*args, **kwargs):
        calls.append(tuple(args[2].shape))  # the weights: (module, x, w, ...)
        return real(*args, **kwargs)

    monkeypatch.setattr(conv3x3, "_run", spy)
    return calls


def test_conv2d_takes_winograd_only_where_it_should(module, monkeypatch):
    calls = _spy(monkeypatch)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 256, 64, 64, generator=g)
    w = torch.randn(256, 256, 3, 3, generator=g) / 48
    with torch.no_grad():
        y = conv3x3.conv2d(x, w, padding=2)
    assert len(calls) == 1
    torch.testing.assert_close(y, F.conv2d(x, w, padding=2), rtol=0, atol=2e-5)
    # Grouped, one image: one weight set per group (NVlabs' modulated convolution at batch 2).
    x2 = torch.randn(1, 512, 64, 64, generator=g)
    w2 = torch.randn(512, 256, 3, 3, generator=g) / 48
    with torch.no_grad():
        torch.testing.assert_close(conv3x3.conv2d(x2, w2, padding=1, groups=2),
                                   F.conv2d(x2, w2, padding=1, groups=2), rtol=0, atol=2e-5)
    assert len(calls) == 2
    # Not taken: a gradient to come, float64, a 1x1 kernel, few channels, a small image, asymmetric padding,
    # grouped with several images, impl='torch'.
    xg = x.clone().requires_grad_(True)
    conv3x3.conv2d(xg, w, padding=2)
    with torch.no_grad():
        conv3x3.conv2d(x.double(), w.double(), padding=2)
        conv3x3.conv2d(x, w[:, :, :1, :1])
        conv3x3.conv2d(x[:, :64], w[:64, :64], padding=2)
        conv3x3.conv2d(x[:, :, :20, :20], w, padding=2)
        conv3x3.conv2d(x, w, padding=[1, 2])
        conv3x3.conv2d(torch.randn(2, 512, 64, 64), w2, padding=1, groups=2)
        conv3x3.conv2d(x, w, padding=2, impl="torch")
        saved = backend.get_default_impl()
        try:
            for impl in ("torch", "cuda"):  # 'cuda' for every op: a CPU tensor gets the plain convolution
                backend.set_default_impl(impl)
                torch.testing.assert_close(conv3x3.conv2d(x, w, padding=2), F.conv2d(x, w, padding=2), rtol=0, atol=0)
        finally:
            backend.set_default_impl(saved)
    assert len(calls) == 2


def test_the_modulated_convolution_of_stylegan3_uses_it_and_agrees(module, monkeypatch):
    """Inference through modulated_conv2d (styles, demodulation, input gain) against the float64 grouped path."""
    calls = _spy(monkeypatch)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 128, 96, 96, generator=g)
    w = torch.randn(128, 128, 3, 3, generator=g)
    s = torch.randn(2, 128, generator=g)
    gain = torch.tensor(0.7)
    with torch.no_grad():
        y = modconv.modulated_conv2d(x, w, s, padding=2, input_gain=gain)
        ref = modconv.modulated_conv2d(x.double(), w.double(), s.double(), padding=2, input_gain=gain.double())
    assert len(calls) == 1 and calls[0] == (128, 128, 3, 3)  # shared weights, not [N * O, ...]
    assert float((y.double() - ref).abs().max()) <= 1e-5 * float(ref.abs().max())
    with torch.no_grad():  # the same call below the size threshold: the grouped convolution, as before
        modconv.modulated_conv2d(x[:, :, :20, :20], w, s, padding=2, input_gain=gain)
    assert len(calls) == 1
    # The threshold counts the tiles of all images: 46x46 inputs fall short at batch 1, not at batch 4.
    x4, s4 = torch.randn(4, 128, 46, 46, generator=g), torch.randn(4, 128, generator=g)
    with torch.no_grad():
        modconv.modulated_conv2d(x4[:1], w, s4[:1], padding=2)
        assert len(calls) == 1
        modconv.modulated_conv2d(x4, w, s4, padding=2)
        assert len(calls) == 2


def test_stylegan2s_convolutions_take_it_through_conv2d_resample(module, monkeypatch):
    calls = _spy(monkeypatch)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 128, 96, 96, generator=g)
    w = torch.randn(128, 128, 3, 3, generator=g) / 34
    with torch.no_grad():
        y = conv2d_resample(x, w, padding=1)
    assert len(calls) == 1
    torch.testing.assert_close(y, F.conv2d(x, w, padding=1), rtol=0, atol=2e-5)


class _WrongModule:
    @staticmethod
    def winograd_conv3x3(x, w, a, d, pad, per_image, tile_block, y):
        y.fill_(1.0)


def test_a_module_failing_the_self_check_falls_back_with_one_logged_line(monkeypatch, caplog):
    conv3x3.WINOGRAD.reset()
    monkeypatch.setattr(ops_plugin, "_said", set())
    monkeypatch.setattr(build.FUSED, "get", lambda: _WrongModule())
    x = torch.randn(1, 128, 96, 96)
    w = torch.randn(128, 128, 3, 3) / 34
    try:
        with caplog.at_level(logging.WARNING, logger="aliasfree.ops"), torch.no_grad():
            y1 = conv3x3.conv2d(x, w, padding=1)
            y2 = conv3x3.conv2d(x, w, padding=1)
    finally:
        status = conv3x3.WINOGRAD.status_text()
        conv3x3.WINOGRAD.reset()
    lines = [r.getMessage() for r in caplog.records if "Winograd" in r.getMessage()]
    assert len(lines) == 1 and "unavailable, using conv2d" in lines[0] and "max |Winograd - conv2d|" in lines[0]
    assert status.startswith("failed: the Winograd CPU convolution failed its self-check (max |Winograd - conv2d|")
    assert conv3x3.WINOGRAD.status is ops_plugin.Status.IDLE  # after reset()
    ref = F.conv2d(x, w, padding=1)
    assert torch.equal(y1, ref) and torch.equal(y2, ref)
