"""The fused CPU filtered_lrelu (ops/cpu): the float64 oracle, gradients, the choice of path and the fallbacks.

The first test in a fresh cache builds the C++ op (about a minute on 2 busy cores); later runs load it.
"""

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from networks.filters import design_lowpass_filter
from ops import backend
from ops import plugin as ops_plugin
from ops.cpu import build
from ops.filtered_lrelu import filtered_lrelu

from .oracle import filtered_lrelu_ref, upfirdn2d_ref

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def plugin():
    module = build.FUSED.get()
    if module is None:
        pytest.fail(f"the fused CPU op did not build here: {build.FUSED.status_text()}")
    return module


def _random_case(rng):
    up = int(rng.choice([1, 2, 3, 4]))
    down = int(rng.choice([1, 2, 3, 4]))
    kind_u, kind_d = rng.choice(["none", "1d", "2d", "radial", "random1d", "mirrored2d"], size=2)
    def make(kind, factor):
        if kind == "none" or (kind in ("1d", "radial") and factor == 1):
            return None
        if kind == "random1d":
            return torch.tensor(rng.standard_normal(int(rng.integers(1, 14))))
        if kind == "2d":
            return torch.tensor(rng.standard_normal((int(rng.integers(1, 8)), int(rng.integers(1, 8)))))
        if kind == "mirrored2d":  # rows mirror (odd or even count), columns do not: the kernel folds it
            top = rng.standard_normal((int(rng.integers(1, 4)), int(rng.integers(1, 8))))
            middle = [rng.standard_normal((1, top.shape[1]))] if rng.random() < 0.5 else []
            return torch.tensor(np.concatenate([top, *middle, top[::-1]]))
        return design_lowpass_filter(6 * factor, cutoff=2.0, width=2.0, fs=8.0 * factor,
                                     radial=(kind == "radial")).double()
    fu, fd = make(kind_u, up), make(kind_d, down)
    C = int(rng.choice([1, 3, 8, 17, 40]))  # below, at and across the kernel's channel blocks (16 / 8)
    shape = (int(rng.integers(1, 3)), C, int(rng.integers(3, 13)), int(rng.integers(3, 13)))
    pad = [int(p) for p in rng.integers(-3, 14, size=4)]
    return dict(up=up, down=down, fu=fu, fd=fd, shape=shape, pad=pad, gain=float(rng.uniform(0.5, 2)),
                slope=float(rng.choice([0.2, 0.0, 1.0, 0.5])), clamp=(float(rng.uniform(0.5, 3)) if rng.random() < 0.5
                                                                 else None), flip=bool(rng.random() < 0.3),
                channels_last=bool(rng.random() < 0.3), bias=bool(rng.random() < 0.8))


def _fits(c):
    H, W = c["shape"][2:]
    ku = 1 if c["fu"] is None else c["fu"].shape[0]
    kd = 1 if c["fd"] is None else c["fd"].shape[0]
    kux = 1 if c["fu"] is None else c["fu"].shape[-1]
    kdx = 1 if c["fd"] is None else c["fd"].shape[-1]
    return (H * c["up"] + c["pad"][2] + c["pad"][3] >= ku + kd - 1
            and W * c["up"] + c["pad"][0] + c["pad"][1] >= kux + kdx - 1)


def _oracle(x, b, c):
    """flip_filter=True is the same as passing the filters flipped (upfirdn2d then correlates)."""
    fu = None if c["fu"] is None else c["fu"].double().numpy()
    fd = None if c["fd"] is None else c["fd"].double().numpy()
    if c["flip"]:
        fu = None if fu is None else fu[(slice(None, None, -1),) * fu.ndim]
        fd = None if fd is None else fd[(slice(None, None, -1),) * fd.ndim]
    return filtered_lrelu_ref(x, fu, fd, b, c["up"], c["down"], c["pad"], c["gain"], c["slope"], c["clamp"]), fu


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_fused_matches_float64_oracle_over_random_cases(plugin, dtype, tol):
    rng = np.random.default_rng(16)
    done = 0
    while done < 60:
        c = _random_case(rng)
        if not _fits(c):
            continue
        x = rng.standard_normal(c["shape"]) * 2
        b = rng.standard_normal(c["shape"][1]) if c["bias"] else None
        ref, fu_np = _oracle(x, b, c)
        xt = torch.tensor(x, dtype=dtype)
        if c["channels_last"]:
            xt = xt.contiguous(memory_format=torch.channels_last)
        bt = None if b is None else torch.tensor(b, dtype=dtype)
        kw = dict(up=c["up"], down=c["down"], padding=c["pad"], gain=c["gain"], slope=c["slope"], clamp=c["clamp"],
                  flip_filter=c["flip"])
        fu = None if c["fu"] is None else c["fu"].to(dtype)
        fd = None if c["fd"] is None else c["fd"].to(dtype)
        out = filtered_lrelu(xt, fu, fd, bt, impl="cpu", **kw)
        assert out.shape == ref.shape, c
        assert out.dtype == dtype
        # Same contract as the PyTorch path's oracle test: error relative to the larger of the output and the
        # (gain-scaled) upsampled pre-activation, whose rounding the output inherits.
        pre = upfirdn2d_ref(x + (0 if b is None else b.reshape(1, -1, 1, 1)), fu_np, up=c["up"], pad=c["pad"],
                            gain=c["up"] ** 2)
        scale = max(np.abs(ref).max(), np.abs(pre).max() * c["gain"], 1e-6)
        err = np.abs(out.double().numpy() - ref).max() / scale
        assert err <= tol, (c, err)
        # The caller's memory format comes back.
        assert out.is_contiguous(memory_format=torch.channels_last if c["channels_last"] and c["shape"][1] > 1
                                 else torch.contiguous_format)
        done += 1


def test_fused_equals_pytorch_path_at_stylegan3_layer_sizes(plugin):
    """A real SG3-T layer (up 4, 24 + 12 taps, clamp) on a strided, non-contiguous input, in float64."""
    torch.manual_seed(0)
    fu = design_lowpass_filter(24, cutoff=16.0, width=20.0, fs=128.0).double()
    fd = design_lowpass_filter(12, cutoff=22.6, width=18.0, fs=128.0, radial=True).double()
    x = torch.randn(2, 70, 44, 37, dtype=torch.float64)[:, ::2, :, 1:]  # 35 channels, strided
    b = torch.randn(35, dtype=torch.float64)
    kw = dict(up=4, down=2, padding=[21, 20, 19, 22], gain=2**0.5, slope=0.2, clamp=256.0 / 100)
    out = filtered_lrelu(x, fu, fd, b, impl="cpu", **kw)
    ref = filtered_lrelu(x, fu, fd, b, impl="torch", **kw)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    unclamped = filtered_lrelu(x, fu, fd, b, impl="cpu", **{**kw, "clamp": None})
    assert float((unclamped - out).abs().max()) > 0.1  # the clamp was reached: the case tests it


def test_radial_filters_fold_and_others_do_not(plugin):
    """The kernel halves a 2-D filter's work when its rows mirror: StyleGAN3-R's radial down filters do, as the
    forward's taps and, flipped, as the backward's up taps (the random cases above check the folded results)."""
    from ops.cpu.fused import _flipped, _taps

    for taps, fs in ((12, 8.0), (12, 128.0), (24, 256.0)):
        fd = design_lowpass_filter(taps, cutoff=fs / 4, width=fs / 8, fs=fs, radial=True)
        for flip in (False, True):
            hd, hd2 = _taps(fd, 1.0, flip, torch.float32)
            assert hd.numel() == 0 and plugin.rows_mirror(hd2) and plugin.rows_mirror(_flipped(hd2))
    rng = np.random.default_rng(3)
    assert not plugin.rows_mirror(torch.tensor(rng.standard_normal((6, 6)), dtype=torch.float32))
    mirrored = torch.tensor(rng.standard_normal((5, 4)), dtype=torch.float32)
    mirrored = torch.cat([mirrored, mirrored.flip(0)])
    assert plugin.rows_mirror(mirrored) and plugin.rows_mirror(mirrored[1:-1].contiguous())
    assert not plugin.rows_mirror(mirrored.t())  # not contiguous: never folded
    assert not plugin.rows_mirror(mirrored[:1])  # one row: nothing to fold
    broken = mirrored.clone()
    broken[0, 0] = torch.nextafter(broken[0, 0], torch.tensor(1e9))  # one ulp off
    assert not plugin.rows_mirror(broken)


def test_fused_gradcheck_and_double_backward(plugin):
    fu = design_lowpass_filter(12, cutoff=2.0, width=2.0, fs=8.0).double()
    fd = design_lowpass_filter(12, cutoff=2.0, width=2.0, fs=8.0, radial=True).double()
    torch.manual_seed(1)
    x = torch.randn(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def fn(x, b):
        return filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[11, 10, 11, 12], clamp=1.0, impl="cpu")

    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))
    # Gradient with respect to the bias only.
    xc = x.detach()
    assert torch.autograd.gradcheck(lambda b: fn(xc, b), (b,))


def _case_tensors(rng, c, dtype, requires_grad=True):
    x = torch.tensor(rng.standard_normal(c["shape"]) * 2, dtype=dtype)
    if c["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    b = torch.tensor(rng.standard_normal(c["shape"][1]), dtype=dtype) if c["bias"] else None
    kw = dict(fu=None if c["fu"] is None else c["fu"].to(dtype), fd=None if c["fd"] is None else c["fd"].to(dtype),
              up=c["up"], down=c["down"], padding=c["pad"], gain=c["gain"], slope=c["slope"], clamp=c["clamp"],
              flip_filter=c["flip"])
    x.requires_grad_(requires_grad)
    if b is not None:
        b.requires_grad_(requires_grad)
    return x, b, kw


def _no_pytorch_path(monkeypatch):
    """Makes any use of the PyTorch path (its resampling or the recomputing backward) fail the test."""
    import ops.cpu.fused as fused_mod
    import ops.filtered_lrelu as flr_mod

    def forbidden(*_a, **_k):
        raise AssertionError("the PyTorch path was called")

    monkeypatch.setattr(flr_mod, "upfirdn2d_torch", forbidden)
    monkeypatch.setattr(fused_mod, "_recompute_backward", forbidden)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_fused_backward_equals_pytorch_path_over_random_cases(plugin, dtype, tol, monkeypatch):
    """Gradients of x and b from the fused backward against the PyTorch path's autograd in float64."""
    rng = np.random.default_rng(61)
    done = clamped = negative = 0
    while done < 60:
        c = _random_case(rng)
        if not _fits(c):
            continue
        x, b, kw = _case_tensors(rng, c, dtype)
        x64 = x.detach().double().requires_grad_()
        b64 = None if b is None else b.detach().double().requires_grad_()
        kw64 = {**kw, "fu": None if kw["fu"] is None else kw["fu"].double(),
                "fd": None if kw["fd"] is None else kw["fd"].double()}
        y_ref = filtered_lrelu(x64, b=b64, impl="torch", **kw64)
        dy = torch.tensor(rng.standard_normal(y_ref.shape))
        if rng.random() < 0.3:  # a strided, non-contiguous incoming gradient
            dy = torch.tensor(rng.standard_normal((*y_ref.shape[:3], 2 * y_ref.shape[3])))[..., ::2]
        wanted64 = [x64] + ([b64] if b is not None else [])
        ref = torch.autograd.grad(y_ref, wanted64, dy)
        with monkeypatch.context() as m:
            _no_pytorch_path(m)
            y = filtered_lrelu(x, b=b, impl="cpu", **kw)
            got = torch.autograd.grad(y, [x] + ([b] if b is not None else []), dy.to(dtype))
        for g, r in zip(got, ref):
            assert g.shape == r.shape and g.dtype == dtype
            err = float((g.double() - r).abs().max()) / max(float(r.abs().max()), 1e-6)
            assert err <= tol, (c, err)
        assert got[0].is_contiguous(memory_format=torch.channels_last if c["channels_last"] and c["shape"][1] > 1
                                    else torch.contiguous_format)
        # The cases must exercise both branches the mask records: the clamp's cut and the negative slope.
        pre = filtered_lrelu(x64.detach(), b=None if b64 is None else b64.detach(), impl="torch",
                             **{**kw64, "fd": None, "down": 1, "gain": 1.0, "slope": 1.0, "clamp": None})
        if c["clamp"] is not None:
            act = torch.where(pre > 0, pre, pre * c["slope"]) * c["gain"]
            clamped += int((act.abs() > c["clamp"]).sum())
        negative += int((pre < 0).sum()) if c["slope"] not in (1.0,) else 0
        done += 1
    assert clamped > 100 and negative > 100


def test_fused_backward_ignores_mask_bytes_the_forward_leaves_unwritten(plugin, monkeypatch):
    """The mask is allocated unfilled: the gradients must not depend on what its memory held. Prefilled with 0
    (factor gain) and with 255 (factor 0), every case's gradients agree exactly; some cases do leave bytes
    unwritten (the prefill survives the forward), so the comparison is not vacuous."""
    from ops.cpu import fused as fused_mod
    original = fused_mod.new_mask
    rng = np.random.default_rng(7)
    done = with_unwritten = 0
    while done < 40:
        c = _random_case(rng)
        if not _fits(c):
            continue
        x, b, kw = _case_tensors(rng, c, torch.float64)
        dy = None
        grads, survivors = [], []
        for fill in (0, 255):
            masks = []

            def prefilled(*args, fill=fill, masks=masks, **kwargs):
                masks.append(original(*args, **kwargs).fill_(fill))
                return masks[-1]
            monkeypatch.setattr(fused_mod, "new_mask", prefilled)
            xg = x.detach().clone().requires_grad_()
            bg = None if b is None else b.detach().clone().requires_grad_()
            y = filtered_lrelu(xg, b=bg, impl="cpu", **kw)
            if dy is None:
                dy = torch.tensor(rng.standard_normal(y.shape))
            grads.append(torch.autograd.grad(y, [xg] + ([bg] if bg is not None else []), dy))
            survivors.append(int((masks[0] == fill).sum()) if masks else 0)
        monkeypatch.setattr(fused_mod, "new_mask", original)
        for g0, g255 in zip(*grads):
            assert torch.equal(g0, g255), c
        # 255 is never a value the forward writes (0, 1 or 2): bytes still 255 were left unwritten.
        with_unwritten += survivors[1] > 0
        done += 1
    assert with_unwritten >= 5


def test_fused_backward_gradcheck_over_random_cases(plugin, monkeypatch):
    """float64 gradcheck of the fused backward itself (no PyTorch path involved) on small random cases."""
    rng = np.random.default_rng(7)
    done = 0
    while done < 12:
        c = _random_case(rng)
        # Small inputs: gradcheck calls the op twice per input element (channel blocks are covered above).
        c["shape"] = (1, min(c["shape"][1], 3), min(c["shape"][2], 6), min(c["shape"][3], 6))
        if not _fits(c):
            continue
        x, b, kw = _case_tensors(rng, c, torch.float64)
        inputs = (x, b) if b is not None else (x,)

        def fn(x, b=None, kw=kw):
            return filtered_lrelu(x, b=b, impl="cpu", **kw)

        with monkeypatch.context() as m:
            _no_pytorch_path(m)
            assert torch.autograd.gradcheck(fn, inputs, eps=1e-7, atol=1e-6), c
        done += 1


def test_fused_double_backward_over_random_cases(plugin):
    """create_graph takes the recomputing backward: gradgradcheck on random cases, clamp on and off."""
    rng = np.random.default_rng(8)
    done = 0
    while done < 2:
        c = _random_case(rng)
        c["shape"] = (1, min(c["shape"][1], 2), min(c["shape"][2], 5), min(c["shape"][3], 5))
        if not _fits(c) or c["bias"] is False:
            continue
        c["clamp"] = 1.0 if done % 2 else None
        x, b, kw = _case_tensors(rng, c, torch.float64)
        assert torch.autograd.gradgradcheck(lambda x, b, kw=kw: filtered_lrelu(x, b=b, impl="cpu", **kw), (x, b)), c
        done += 1


def test_fused_backward_does_not_call_the_pytorch_path(plugin, monkeypatch):
    """A training-style step (forward, loss, backward) stays in the C++ op; only create_graph recomputes."""
    import ops.cpu.fused as fused_mod

    calls = {"backward": 0, "recompute": 0, "torch_resample": 0}
    real_backward, real_recompute = plugin.backward, fused_mod._recompute_backward
    import ops.filtered_lrelu as flr_mod
    real_resample = flr_mod.upfirdn2d_torch

    class Spy:
        forward = staticmethod(plugin.forward)

        @staticmethod
        def backward(*args):
            calls["backward"] += 1
            return real_backward(*args)

    def recompute(*args):
        calls["recompute"] += 1
        return real_recompute(*args)

    def resample(*args, **kwargs):
        calls["torch_resample"] += 1
        return real_resample(*args, **kwargs)

    monkeypatch.setattr(backend, "cpu_plugin", lambda op: Spy())
    monkeypatch.setattr(fused_mod, "_recompute_backward", recompute)
    monkeypatch.setattr(flr_mod, "upfirdn2d_torch", resample)
    fu = design_lowpass_filter(12, cutoff=2.0, width=2.0, fs=8.0)
    x = torch.randn(2, 5, 9, 9, requires_grad=True)
    b = torch.zeros(5, requires_grad=True)
    y = filtered_lrelu(x, fu, fu, b, up=2, down=2, padding=10, clamp=0.5)
    (y * y).sum().backward()
    assert calls == {"backward": 1, "recompute": 0, "torch_resample": 0}
    assert x.grad is not None and b.grad is not None and float(b.grad.abs().sum()) > 0
    y = filtered_lrelu(x, fu, fu, b, up=2, down=2, padding=10, clamp=0.5)
    (g,) = torch.autograd.grad(y.sum(), [x], create_graph=True)
    assert calls["backward"] == 1 and calls["recompute"] == 1 and calls["torch_resample"] > 0
    assert g.requires_grad


def test_mask_only_when_a_gradient_is_needed(plugin, monkeypatch):
    masks = []

    class Spy:
        @staticmethod
        def forward(*args):
            masks.append(args[-1].numel())
            return plugin.forward(*args)

    monkeypatch.setattr(backend, "cpu_plugin", lambda op: Spy())
    x = torch.randn(1, 20, 6, 7)
    kw = dict(fu=torch.ones(4) / 4, fd=torch.ones(3) / 3, up=2, down=2, padding=[3, 2, 1, 4])
    filtered_lrelu(x, **kw)
    with torch.no_grad():
        filtered_lrelu(x.requires_grad_(), **kw)
    filtered_lrelu(x, **kw)
    # One byte per element of the (6*2+1+4-3) x (7*2+3+2-3) intermediate, channels in two blocks of 16.
    assert masks == [0, 0, 1 * 2 * 16 * 14 * 16]


def test_auto_uses_fused_for_float_calls_without_filter_gradients(plugin, monkeypatch):
    x = torch.randn(1, 4, 8, 8)
    calls = []
    real = plugin.forward

    class Spy:
        def forward(self, *args):
            calls.append(1)
            return real(*args)

    monkeypatch.setattr(backend, "cpu_plugin", lambda op: Spy())
    kw = dict(fu=torch.ones(4) / 4, fd=torch.ones(4) / 4, up=2, down=2, padding=3)
    with torch.no_grad():
        filtered_lrelu(x, **kw)
    assert calls == [1]
    filtered_lrelu(x, **kw)  # grad mode on, but nothing requires grad: still fused
    assert calls == [1, 1]
    filtered_lrelu(x.requires_grad_(), **kw)  # training too: the same numbers with and without autograd
    assert calls == [1, 1, 1]
    filtered_lrelu(x.detach().double(), **{**kw, "fu": kw["fu"].double(), "fd": kw["fd"].double()}, impl="torch")
    assert calls == [1, 1, 1]
    filtered_lrelu(x.detach().to(torch.bfloat16), **kw)  # unsupported dtype: the PyTorch path
    assert calls == [1, 1, 1]
    filtered_lrelu(x.detach(), **{**kw, "fu": kw["fu"].clone().requires_grad_()})  # filter gradients: PyTorch path
    assert calls == [1, 1, 1]
    with pytest.raises(ValueError, match="impl='cpu' is not available"):
        filtered_lrelu(x.detach().to(torch.bfloat16), **kw, impl="cpu")
    monkeypatch.setattr(backend, "_default_impl", "torch")
    with torch.no_grad():
        filtered_lrelu(x.detach(), **kw)
    assert calls == [1, 1, 1]


@pytest.fixture
def fresh_fused(monkeypatch):
    """The fused op's plugin forgotten for one test (the real result is restored afterwards)."""
    monkeypatch.setattr(ops_plugin, "_said", set())
    saved = build.FUSED._status, build.FUSED._value, build.FUSED._reason
    build.FUSED.reset()
    yield build.FUSED
    build.FUSED.reset()
    build.FUSED._status, build.FUSED._value, build.FUSED._reason = saved


def test_failed_build_falls_back_with_one_logged_line(monkeypatch, caplog, fresh_fused):
    def broken(verbose=False):
        raise ops_plugin.Unavailable("building the fused CPU filtered_lrelu failed (g++: not found)")

    monkeypatch.setattr(build, "build_extension", broken)
    x = torch.randn(1, 3, 6, 6)
    kw = dict(fu=torch.ones(4) / 4, fd=torch.ones(4) / 4, up=2, down=2, padding=3)
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"), torch.no_grad():
        out1 = filtered_lrelu(x, **kw)
        out2 = filtered_lrelu(x, **kw)
    lines = [r.getMessage() for r in caplog.records if r.name == "aliasfree.ops"]
    assert len(lines) == 1 and "g++: not found" in lines[0] and "PyTorch path" in lines[0]
    torch.testing.assert_close(out1, filtered_lrelu(x, **kw, impl="torch"), rtol=0, atol=0)
    assert torch.equal(out1, out2)
    assert fresh_fused.status is ops_plugin.Status.FAILED
    assert fresh_fused.status_text() == "failed: building the fused CPU filtered_lrelu failed (g++: not found)"
    with pytest.raises(RuntimeError, match="not available"):
        filtered_lrelu(x, **kw, impl="cpu")


def test_failed_self_check_is_not_used(monkeypatch, caplog, plugin, fresh_fused):
    module = plugin
    monkeypatch.setattr(build, "build_extension", lambda verbose=False: module)
    monkeypatch.setattr(build, "self_check", lambda module: "max |fused - PyTorch path| = 1 on the self-check case")
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"):
        assert fresh_fused.get() is None
    assert fresh_fused.status_text() == ("failed: the fused CPU filtered_lrelu failed its self-check (max |fused - "
                                         "PyTorch path| = 1 on the self-check case)")
    assert len([r for r in caplog.records if "self-check" in r.getMessage()]) == 1


def test_real_self_check_catches_a_wrong_kernel(plugin):
    class Wrong:
        def forward(self, x, b, gu, gu2, hd, hd2, up, down, px0, px1, py0, py1, gain, slope, clamp, out, mask):
            plugin.forward(x, b, gu, gu2, hd, hd2, up, down, px0, px1, py0, py1, gain * 1.001, slope, clamp, out,
                           mask)

        backward = staticmethod(plugin.backward)

    class WrongBackward:
        forward = staticmethod(plugin.forward)

        @staticmethod
        def backward(*args):
            args = list(args)
            args[13] *= 1.001  # slope
            plugin.backward(*args)

    assert build.self_check(plugin) is None
    with torch.no_grad():  # the first call (which builds and checks) may come from a no-grad forward
        assert build.self_check(plugin) is None
    assert "self-check" in build.self_check(Wrong())
    assert "gradient" in build.self_check(WrongBackward())


def test_cache_key_follows_source_flags_cpu_and_checkout(monkeypatch, tmp_path):
    key = build.cache_key()
    copy = tmp_path / build.SOURCE.name  # the same source in another checkout: its own build directory
    copy.write_bytes(build.SOURCE.read_bytes())
    monkeypatch.setattr(build, "SOURCE", copy)
    assert build.cache_key() != key
    monkeypatch.undo()
    assert build.cache_key() == key
    monkeypatch.setattr(build, "cpu_signature", lambda: "model name: another CPU\nflags: sse2")
    assert build.cache_key() != key
    monkeypatch.undo()
    monkeypatch.setattr(build, "CFLAGS", build.CFLAGS + ["-DX"])
    assert build.cache_key() != key


@pytest.mark.parametrize("env,expect", [({"ALIASFREE_CPU_OPS": "0"}, "failed 1"), ({"ALIASFREE_OPS_IMPL": "torch"},
                                                                                      "idle 0")])
def test_env_switches_force_the_pytorch_path(env, expect, tmp_path):
    """In a fresh process: the switch keeps the PyTorch path (without building anything: the cache is empty)."""
    code = (
        "import logging, torch\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "from ops import backend\n"
        "from ops.filtered_lrelu import filtered_lrelu\n"
        "x = torch.randn(1, 3, 6, 6)\n"
        "with torch.no_grad():\n"
        "    for _ in range(2):\n"
        "        filtered_lrelu(x, torch.ones(4) / 4, torch.ones(4) / 4, up=2, down=2, padding=3)\n"
        "from ops.cpu import build\n"
        "root = build.cache_root()\n"
        "print(build.FUSED.status_text().split(':')[0], len(list(root.glob('*'))) if root.exists() else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env, "ALIASFREE_CPU_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expect.split()[0], "0"]  # nothing was built
    logged = [line for line in proc.stderr.splitlines() if "fused CPU filtered_lrelu unavailable" in line]
    assert len(logged) == int(expect.split()[1]), proc.stderr


def test_warm_up_async_keeps_the_pytorch_path_until_the_build_is_done(monkeypatch, plugin, fresh_fused):
    import threading

    module = plugin
    release, started = threading.Event(), threading.Event()

    def slow_build(verbose=False):
        started.set()
        assert release.wait(60)
        return module

    monkeypatch.setattr(build, "build_extension", slow_build)
    warm = ops_plugin.warm_up_async([fresh_fused])
    assert started.wait(60)
    x = torch.randn(1, 3, 6, 6)
    kw = dict(fu=torch.ones(4) / 4, fd=torch.ones(4) / 4, up=2, down=2, padding=3)
    with torch.no_grad():
        assert fresh_fused.status_text() == "building" and warm.status == "building"
        assert fresh_fused.get() is None  # does not wait for the compiler: the PyTorch path meanwhile
        assert torch.equal(filtered_lrelu(x, **kw), filtered_lrelu(x, **kw, impl="torch"))
    release.set()
    assert warm.wait(60) == "ready"
    assert fresh_fused.status is ops_plugin.Status.READY
    assert fresh_fused.get() is module

