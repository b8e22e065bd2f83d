"""GPU parity of the fused CUDA kernels with the PyTorch path (``make test-gpu`` = ``pytest -m cuda``).

Skipped without CUDA. Tolerances: float32 <= 1e-5 relative to the largest reference magnitude (forward and
gradients); float16 <= 1e-2 of it (against the float32 PyTorch path on the same float16 inputs).
Strict: a plugin that hands a call to the PyTorch path raises (``ALIASFREE_OPS_STRICT=1``) and any recorded
fallback fails the test, so no case can compare the PyTorch path with itself.
NOT YET RUN ON A GPU: written and CPU-checked in a task without one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ops import backend, plugin
from ops.bias_act import activation_funcs, bias_act
from ops.cuda import build
from ops.filtered_lrelu import filtered_lrelu
from ops.upfirdn2d import upfirdn2d

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
TOL = {torch.float32: 1e-5, torch.float16: 1e-2}


@pytest.fixture(scope="module", autouse=True)
def kernels_built():
    for op in build.OPS:
        if build.KERNELS[op].get() is None:  # includes the self-check on this GPU
            pytest.fail(f"the {op} kernels are not usable: {build.KERNELS[op].status_text()}")


@pytest.fixture(autouse=True)
def no_fallback(monkeypatch):
    monkeypatch.setenv("ALIASFREE_OPS_STRICT", "1")
    before = len(plugin.fallbacks)
    yield
    assert plugin.fallbacks[before:] == [], "a fused kernel fell back to the PyTorch path"


def assert_rel_close(actual, expected, tol, what=""):
    expected = expected.float()
    scale = expected.abs().max().clamp_min(1e-6)
    err = (actual.float() - expected).abs().max() / scale
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol}"


def _run_both(fn, inputs, dtype, memory_format):
    """Forward and input gradients of fn with impl='cuda' (dtype) and impl='torch' (float32 reference)."""
    results = []
    for impl, dt in (("cuda", dtype), ("torch", torch.float32)):
        xs = [t.to(dt).contiguous(memory_format=memory_format if t.ndim == 4 else torch.contiguous_format)
              .detach().requires_grad_(True) for t in inputs]
        y = fn(*xs, impl=impl)
        dy = torch.randn(y.shape, generator=torch.Generator(device="cuda").manual_seed(1), device="cuda").to(dt)
        grads = torch.autograd.grad(y, xs, dy)
        results.append((y, grads))
    return results


def _filter(rng, taps, two_d):
    f = rng.standard_normal((taps, taps) if two_d else (taps,)) + 1.0
    return torch.tensor(f / f.sum(), dtype=torch.float32, device="cuda")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("act", sorted(activation_funcs))
def test_bias_act_parity(act, memory_format, dtype):
    for clamp in (None, 0.5):
        x = torch.randn(3, 8, 9, 7, device="cuda")
        b = torch.randn(8, device="cuda")
        (y, g), (y_ref, g_ref) = _run_both(
            lambda x, b, impl, clamp=clamp: bias_act(x, b, 1, act, None, None, clamp, impl=impl),
            [x, b], dtype, memory_format)
        assert y.dtype == dtype and y.is_contiguous(memory_format=memory_format)
        assert_rel_close(y, y_ref, TOL[dtype], f"{act} forward")
        for a, r in zip(g, g_ref, strict=True):
            assert_rel_close(a, r, TOL[dtype] * 4, f"{act} gradient")


def test_bias_act_double_backward_parity():
    x0 = torch.randn(2, 5, 6, 6, device="cuda")
    for act in activation_funcs:
        res = []
        for impl in ("cuda", "torch"):
            x = x0.clone().requires_grad_(True)
            y = bias_act(x, None, act=act, clamp=0.8, impl=impl)
            (g,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
            (gg,) = torch.autograd.grad(g.sum(), x)
            res.append(gg)
        assert_rel_close(res[0], res[1], 1e-4, f"{act} double backward")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_upfirdn2d_parity_random_cases(memory_format, dtype):
    rng = np.random.default_rng(11)
    done = 0
    while done < 40:
        upx, upy, downx, downy = (int(v) for v in rng.choice([1, 2, 4], size=4))
        f = _filter(rng, int(rng.integers(1, 13)), bool(rng.random() < 0.5))
        pad = [int(p) for p in rng.integers(-3, 9, size=4)]
        flip, gain = bool(rng.random() < 0.5), float(rng.uniform(0.5, 4))
        x = torch.randn(2, int(rng.integers(1, 6)), int(rng.integers(2, 20)), int(rng.integers(2, 20)), device="cuda")
        try:
            upfirdn2d(x, f, (upx, upy), (downx, downy), pad, flip, gain, impl="torch")
        except ValueError:
            continue
        (y, (g,)), (y_ref, (g_ref,)) = _run_both(
            lambda x, impl, f=f, upx=upx, upy=upy, downx=downx, downy=downy, pad=pad, flip=flip, gain=gain:
            upfirdn2d(x, f, (upx, upy), (downx, downy), pad, flip, gain, impl=impl), [x], dtype, memory_format)
        what = f"up {upx, upy} down {downx, downy} f {tuple(f.shape)} pad {pad} flip {flip}"
        assert_rel_close(y, y_ref, TOL[dtype], what)
        assert_rel_close(g, g_ref, TOL[dtype], what + " gradient")
        done += 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_filtered_lrelu_parity_random_cases(memory_format, dtype):
    rng = np.random.default_rng(5)
    done = 0
    while done < 40:
        up, down = (int(v) for v in rng.choice([1, 2, 4], size=2))
        two_d = bool(rng.random() < 0.3)
        fu = _filter(rng, int(rng.integers(1, 5)) * up, two_d) if rng.random() < 0.9 else None
        fd = _filter(rng, int(rng.integers(1, 5)) * down, two_d) if rng.random() < 0.9 else None
        pad = [int(p) for p in rng.integers(-2, 12, size=4)]
        gain, slope = float(rng.uniform(0.5, 2)), float(rng.choice([0.2, 0.0, 0.5, 1.0]))
        clamp = None if rng.random() < 0.4 else float(rng.uniform(0.2, 3))
        flip = bool(rng.random() < 0.3)
        x = torch.randn(int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(3, 40)),
                        int(rng.integers(3, 40)), device="cuda")
        b = torch.randn(x.shape[1], device="cuda")
        try:
            filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip, impl="torch")
        except ValueError:
            continue

        def fn(x, b, impl, fu=fu, fd=fd, up=up, down=down, pad=pad, gain=gain, slope=slope, clamp=clamp, flip=flip):
            return filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip, impl=impl)

        (y, g), (y_ref, g_ref) = _run_both(fn, [x, b], dtype, memory_format)
        what = f"up {up} down {down} pad {pad} gain {gain:.2f} slope {slope} clamp {clamp}"
        assert y.is_contiguous(memory_format=memory_format) or x.shape[1] == 1
        # fp16 tolerances also absorb sign flips of near-zero intermediates (the mask differs there).
        assert_rel_close(y, y_ref, TOL[dtype], what)
        for a, r in zip(g, g_ref, strict=True):
            assert_rel_close(a, r, TOL[dtype] * 4, what + " gradient")
        done += 1


def test_filtered_lrelu_parity_at_stylegan3_t_sizes():
    """Layers of a 256x256 SG3-T (sizes, 12-tap windowed sinc up/down, padding 10): a few planes each."""
    from networks.stylegan3 import Generator

    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=256, img_channels=3, channel_base=2048,
                  channel_max=32).cuda()
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        k = layer.conv_kernel - 1  # the modulated conv's output feeds filtered_lrelu
        x = torch.randn(2, layer.out_channels, int(layer.in_size[1]) + k, int(layer.in_size[0]) + k, device="cuda")
        kw = dict(fu=layer.up_filter, fd=layer.down_filter, b=layer.bias, up=layer.up_factor, down=layer.down_factor,
                  padding=layer.padding, gain=math.sqrt(2) if not layer.is_torgb else 1,
                  slope=0.2 if not layer.is_torgb else 1, clamp=layer.conv_clamp)
        y = filtered_lrelu(x, **kw, impl="cuda")
        assert_rel_close(y, filtered_lrelu(x, **kw, impl="torch"), 1e-5, name)


@pytest.mark.parametrize("kind", ["sg3-t", "sg3-r", "sg2"])
def test_whole_generator_parity(kind):
    if kind == "sg2":
        from networks.stylegan2 import Generator

        G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=64, img_channels=3, channel_base=1024, channel_max=64)
    else:
        from networks.stylegan3 import Generator

        kw = dict(conv_kernel=1, use_radial_filters=True, channel_base=2048) if kind == "sg3-r" else {}
        G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=64, img_channels=3, channel_max=64,
                      **{"channel_base": 1024, **kw})
    G = G.cuda().eval()
    z = torch.randn(4, 32, device="cuda")
    out = {}
    for impl in ("cuda", "torch"):
        backend.set_default_impl(impl)
        try:
            out[impl] = G(z, None, noise_mode="const")
        finally:
            backend.set_default_impl("auto")
    assert_rel_close(out["cuda"], out["torch"], 1e-4, kind)
