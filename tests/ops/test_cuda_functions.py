"""CPU tests of the autograd wiring in ops/cuda/functions.py against an emulation of the kernels' contract.

``FakeExt`` implements, with the PyTorch path, exactly what each compiled entry point is specified to compute
(see the comments in ops/cuda/*.cu), including the 2-bit packed mask. Running the real plugin classes on it
checks everything around the kernels on any machine: correlation filters and their flips and gains, separable
passes, the adjoint paddings and swapped stages of the backward passes, mask packing, bias reduction and the
double backward. The kernels themselves are checked against the PyTorch path in test_cuda_parity.py (GPU only).
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from ops import plugin as ops_plugin
from ops.bias_act import activation_funcs, bias_act
from ops.cuda import functions
from ops.filtered_lrelu import filtered_lrelu
from ops.upfirdn2d import upfirdn2d, upfirdn2d_torch

ACTS = {v: k for k, v in functions.ACT_IDS.items()}


def _as_2d(f, sep):
    """A fused-kernel filter as its 2-D [fh, fw] correlation filter (outer product when separable)."""
    return f[1][:, None] * f[0][None, :] if sep else f


class FakeExt:
    """The compiled modules' contract, in PyTorch (float64-friendly, CPU)."""

    # bias_act
    def forward(self, x, b, dim, act, alpha, gain, clamp):
        return bias_act(x, b if b.numel() else None, dim, ACTS[act], alpha, gain, None if clamp < 0 else clamp,
                        impl="torch")

    def grad(self, dy, x, b, dim, act, alpha, gain, clamp, order):
        z = x.detach().requires_grad_(True)
        with torch.enable_grad():
            y = self.forward(z, b.detach(), dim, act, alpha, gain, clamp)
            (g1,) = torch.autograd.grad(y.sum(), z, create_graph=True)
            if order == 1:
                g = g1
            else:
                g = torch.autograd.grad(g1.sum(), z, allow_unused=True)[0] if g1.requires_grad else None
        return dy * (torch.zeros_like(x) if g is None else g.detach())

    # upfirdn2d: correlation with fc
    def upfirdn2d(self, x, fc, upx, upy, downx, downy, px0, px1, py0, py1):
        return upfirdn2d_torch(x, fc.to(x.dtype), (upx, upy), (downx, downy), (px0, px1, py0, py1), flip_filter=True)

    # filtered_lrelu: stage 1, pointwise with the packed mask, stage 2
    def fused(self, x, b, f1, f2, sep1, sep2, mask, up, down, p1x, p1y, p2x, p2y, mid_w, mid_h, out_w, out_h, gain,
              slope, clamp, mode, write_mask):
        f1, f2 = _as_2d(f1, sep1), _as_2d(f2, sep2)
        if b.numel():
            x = x + b.reshape(1, -1, 1, 1)
        (h, w), (f1h, f1w), (f2h, f2w) = x.shape[2:], f1.shape, f2.shape
        pad1 = (p1x, mid_w + f1w - 1 - w * up - p1x, p1y, mid_h + f1h - 1 - h * up - p1y)
        mid = upfirdn2d_torch(x, f1.to(x.dtype), (up, up), (1, 1), pad1, flip_filter=True).contiguous()
        assert mid.shape[2:] == (mid_h, mid_w)
        flat = mid.detach().reshape(-1).numpy()
        idx = np.arange(flat.size)
        if mode == 0:
            neg = ~(flat > 0)
            v = torch.where(mid > 0, mid, mid * slope) * gain
            code = neg.astype(np.int64)
            if clamp >= 0:
                code[np.abs(v.detach().reshape(-1).numpy()) > clamp] = 2
                v = v.clamp(-clamp, clamp)
            if write_mask:
                words = np.zeros(mask.numel(), dtype=np.int64)
                np.bitwise_or.at(words, idx >> 4, code << ((idx & 15) * 2))
                mask.copy_(torch.from_numpy(words.astype(np.uint32).view(np.int32)))
        else:
            words = mask.numpy().view(np.uint32).astype(np.int64)
            code = (words[idx >> 4] >> ((idx & 15) * 2)) & 3
            scale = np.where(code == 0, gain, np.where(code == 1, gain * slope, 0.0))
            v = mid * torch.from_numpy(scale).to(mid.dtype).reshape(mid.shape)
        pad2 = (p2x, (out_w - 1) * down + f2w - mid_w - p2x, p2y, (out_h - 1) * down + f2h - mid_h - p2y)
        y = upfirdn2d_torch(v, f2.to(x.dtype), (1, 1), (down, down), pad2, flip_filter=True)
        assert y.shape[2:] == (out_h, out_w)
        return y.contiguous()


def _random_filter(rng, taps, two_d):
    """Taps on a 1/64 grid, exact in float32 (the kernels' filter type), so float64 results agree tightly."""
    shape = (taps, taps) if two_d else (taps,)
    return torch.tensor(np.round((rng.standard_normal(shape) + (1.0 if taps > 1 else 0.0)) * 64) / 64)


def test_bias_act_wiring_forward_gradients_and_double_backward():
    plugin = functions.BiasActPlugin(FakeExt())
    torch.manual_seed(0)
    for act in activation_funcs:
        for clamp in (None, 0.7):
            x = torch.randn(2, 3, 4, 5, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
            x.requires_grad_(True)
            b = torch.randn(3, dtype=torch.float64, requires_grad=True)
            spec = activation_funcs[act]
            args = (1, act, spec.def_alpha or 0.1, 1.3, clamp)
            y = plugin.bias_act(x, b, *args)
            torch.testing.assert_close(y, bias_act(x, b, *args, impl="torch"))
            torch.autograd.gradcheck(lambda x, b: plugin.bias_act(x, b, *args), (x, b))  # noqa: B023
            torch.autograd.gradgradcheck(lambda x, b: plugin.bias_act(x, b, *args), (x, b))  # noqa: B023


def test_upfirdn2d_wiring_matches_the_torch_path_with_gradients():
    plugin = functions.Upfirdn2dPlugin(FakeExt())
    rng = np.random.default_rng(7)
    done = 0
    while done < 12:
        up, down = (int(v) for v in rng.choice([1, 2, 4], size=2))
        f = _random_filter(rng, int(rng.integers(1, 7)), bool(rng.random() < 0.5))
        pad = tuple(int(p) for p in rng.integers(-2, 5, size=4))
        flip, gain = bool(rng.random() < 0.5), float(rng.choice([0.25, 1.0, 4.0]))  # exact square roots
        x = torch.randn(1, 2, int(rng.integers(3, 7)), int(rng.integers(3, 7)), dtype=torch.float64)
        try:
            expected = upfirdn2d(x, f, up, down, pad, flip, gain, impl="torch")
        except ValueError:
            continue
        x.requires_grad_(True)

        def fn(x, f=f, up=up, down=down, pad=pad, flip=flip, gain=gain):
            return plugin.upfirdn2d(x, f, (up, up), (down, down), pad, flip, gain)

        torch.testing.assert_close(fn(x), expected)
        torch.autograd.gradcheck(fn, (x,))
        torch.autograd.gradgradcheck(fn, (x,))
        done += 1


@pytest.mark.parametrize("seed", range(6))
def test_filtered_lrelu_wiring_matches_the_torch_path_with_gradients(seed):
    plugin = functions.FilteredLreluPlugin(FakeExt())
    rng = np.random.default_rng(seed)
    while True:  # a case with a non-empty output
        up, down = (int(v) for v in rng.choice([1, 2, 4], size=2))
        two_d = bool(rng.random() < 0.4)
        fu = _random_filter(rng, int(rng.integers(1, 4)) * up, two_d) if rng.random() < 0.9 else None
        fd = _random_filter(rng, int(rng.integers(1, 4)) * down, two_d) if rng.random() < 0.9 else None
        pad = tuple(int(p) for p in rng.integers(-1, 6, size=4))
        h, w = int(rng.integers(4, 8)), int(rng.integers(4, 8))
        fuw, fdw = (1 if fu is None else fu.shape[0]), (1 if fd is None else fd.shape[0])
        if min(w * up + pad[0] + pad[1], h * up + pad[2] + pad[3]) - fuw - fdw + 2 >= 1:
            break
    gain, slope = float(rng.uniform(0.5, 2)), float(rng.choice([0.25, 0.0, 1.0, 0.5]))
    clamp = None if rng.random() < 0.4 else float(rng.uniform(0.3, 2))
    flip = bool(rng.random() < 0.5)
    x = torch.randn(2, 3, h, w, dtype=torch.float64)
    if seed % 2:
        x = x.contiguous(memory_format=torch.channels_last)
    b = torch.randn(3, dtype=torch.float64)
    args = (up, down, pad, gain, slope, clamp, flip)
    x.requires_grad_(True)
    b.requires_grad_(True)
    y_ref = filtered_lrelu(x, fu, fd, b, *args, impl="torch")
    y = plugin.filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip)
    torch.testing.assert_close(y, y_ref)
    dy = torch.randn_like(y)
    g_ref = torch.autograd.grad(y_ref, (x, b), dy, create_graph=True)
    g = torch.autograd.grad(y, (x, b), dy, create_graph=True)
    for a, r in zip(g, g_ref, strict=True):
        torch.testing.assert_close(a, r)
    # Double backward with respect to the incoming gradient (R1-style penalties through G's output).
    dy.requires_grad_(True)
    w = torch.randn_like(x)
    (gg_ref,) = torch.autograd.grad(torch.autograd.grad(y_ref, x, dy, create_graph=True)[0], dy, w)
    (gg,) = torch.autograd.grad(torch.autograd.grad(y, x, dy, create_graph=True)[0], dy, w)
    torch.testing.assert_close(gg, gg_ref)


def test_mask_is_compact():
    ext = FakeExt()
    plugin = functions.FilteredLreluPlugin(ext)
    seen = {}
    orig = ext.fused

    def spy(x, b, f1, f2, sep1, sep2, mask, *rest):
        seen.setdefault("mask", mask)
        seen.setdefault("sep", (sep1, sep2))
        return orig(x, b, f1, f2, sep1, sep2, mask, *rest)

    ext.fused = spy
    x = torch.randn(2, 4, 16, 16, requires_grad=True)
    plugin.filtered_lrelu(x, torch.ones(8) / 8, torch.ones(8) / 8, None, 2, 2, (7, 7, 7, 7), math.sqrt(2), 0.2,
                          None, False)
    mid_elems = 2 * 4 * (32 + 14 - 7) ** 2
    assert seen["mask"].numel() * seen["mask"].element_size() * 8 == pytest.approx(2 * mid_elems, abs=32)
    assert seen["sep"] == (True, True)  # 1-D filters stay separable in the fused kernel
    # No mask at all when nothing needs gradients.
    seen.clear()
    with torch.no_grad():
        f = torch.ones(8) / 8
        plugin.filtered_lrelu(x, f, f, None, 2, 2, (7, 7, 7, 7), math.sqrt(2), 0.2, None, False)
    assert seen["mask"].numel() == 0


def test_unsupported_parameters_fall_back_with_one_logged_line(monkeypatch, caplog):
    monkeypatch.setattr(ops_plugin, "_said", set())

    class TooBig(FakeExt):
        def fused(self, *args):
            raise RuntimeError(functions.UNSUPPORTED + "filters too large for shared memory\nmore C++ context")

    plugin = functions.FilteredLreluPlugin(TooBig())
    x = torch.randn(1, 2, 8, 8)
    fu = torch.ones(12) / 12
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"):
        for _ in range(3):
            y = plugin.filtered_lrelu(x, fu, fu, None, 2, 2, (11, 11, 11, 11), 1.0, 0.2, None, False)
    torch.testing.assert_close(y, filtered_lrelu(x, fu, fu, None, 2, 2, 11, 1.0, 0.2, impl="torch"))
    msgs = [r.getMessage() for r in caplog.records if r.name == "aliasfree.ops"]
    assert msgs == ["aliasfree ops: filtered_lrelu: the fused kernel hands a call to the PyTorch path (filters too "
                    "large for shared memory)"]


@pytest.mark.parametrize("kind", ["sg3-t", "sg3-r", "sg2"])
def test_generators_through_the_plugins_match_the_torch_path(monkeypatch, kind):
    """Every op call in the networks routed through the plugin classes (on FakeExt): same images and gradients,
    so the call sites hand the plugins the right arguments."""
    from ops import backend

    torch.manual_seed(0)
    if kind == "sg2":
        from networks.stylegan2 import Generator

        G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=256,
                      channel_max=16)
    else:
        from networks.stylegan3 import Generator

        extra = dict(conv_kernel=1, use_radial_filters=True) if kind == "sg3-r" else {}
        G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=512,
                      channel_max=16, **extra)
    z = torch.randn(2, 16)
    plugins = {"bias_act": functions.BiasActPlugin(FakeExt()), "upfirdn2d": functions.Upfirdn2dPlugin(FakeExt()),
               "filtered_lrelu": functions.FilteredLreluPlugin(FakeExt())}
    calls = dict.fromkeys(plugins, 0)

    def counting(op):
        calls[op] += 1
        return plugins[op]

    results = []
    for routed in (True, False):
        if routed:
            monkeypatch.setattr(backend, "resolve_impl",
                                lambda op, x, impl="auto": "torch" if impl == "torch" else "cuda")
            monkeypatch.setattr(backend, "cuda_plugin", counting)
        else:
            monkeypatch.undo()
        G.zero_grad(set_to_none=True)
        img = G(z, None, noise_mode="const")
        img.square().mean().backward()
        results.append((img.detach(), [p.grad.clone() for p in G.parameters() if p.grad is not None]))
    assert calls["bias_act"] > 0 and (calls["filtered_lrelu"] > 0 or kind == "sg2")
    (img_a, grads_a), (img_b, grads_b) = results
    torch.testing.assert_close(img_a, img_b, rtol=1e-4, atol=1e-5)
    assert len(grads_a) == len(grads_b)
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
