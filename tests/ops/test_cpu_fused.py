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
from ops.cpu import build
from ops.filtered_lrelu import filtered_lrelu

from .oracle import filtered_lrelu_ref, upfirdn2d_ref

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def plugin():
    module = build.get_plugin()
    if module is None:
        pytest.fail(f"the fused CPU op did not build here: {build.status()}")
    return module


def _random_case(rng):
    up = int(rng.choice([1, 2, 3, 4]))
    down = int(rng.choice([1, 2, 3, 4]))
    kind_u, kind_d = rng.choice(["none", "1d", "2d", "radial", "random1d"], size=2)
    def make(kind, factor):
        if kind == "none" or (kind in ("1d", "radial") and factor == 1):
            return None
        if kind == "random1d":
            return torch.tensor(rng.standard_normal(int(rng.integers(1, 14))))
        if kind == "2d":
            return torch.tensor(rng.standard_normal((int(rng.integers(1, 8)), int(rng.integers(1, 8)))))
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


def test_failed_build_falls_back_with_one_logged_line(monkeypatch, caplog):
    monkeypatch.setattr(build, "_state", {"state": "idle", "reason": "", "module": None})

    def broken(verbose=False):
        raise RuntimeError("building the fused CPU filtered_lrelu failed (g++: not found)")

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
    assert build.status().startswith("failed")
    with pytest.raises(RuntimeError, match="not available"):
        filtered_lrelu(x, **kw, impl="cpu")


def test_failed_self_check_is_not_used(monkeypatch, caplog, plugin):
    monkeypatch.setattr(build, "_state", {"state": "idle", "reason": "", "module": None})
    monkeypatch.setattr(build, "build_extension", lambda verbose=False: plugin)
    monkeypatch.setattr(build, "self_check", lambda module: "max |fused - PyTorch path| = 1 on the self-check case")
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"):
        assert build.get_plugin() is None
    assert "self-check" in build.status()


def test_real_self_check_catches_a_wrong_kernel(plugin):
    class Wrong:
        def forward(self, x, b, gu, gu2, hd, hd2, up, down, px0, px1, py0, py1, gain, slope, clamp, out):
            plugin.forward(x, b, gu, gu2, hd, hd2, up, down, px0, px1, py0, py1, gain * 1.001, slope, clamp, out)

    assert build.self_check(plugin) is None
    assert "self-check" in build.self_check(Wrong())


def test_cache_key_follows_source_flags_and_cpu(monkeypatch):
    key = build.cache_key()
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
        "print(build.status().split(':')[0], len(list(root.glob('*'))) if root.exists() else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env, "ALIASFREE_CPU_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expect.split()[0], "0"]  # nothing was built
    logged = [line for line in proc.stderr.splitlines() if "fused CPU filtered_lrelu unavailable" in line]
    assert len(logged) == int(expect.split()[1]), proc.stderr


def test_warm_up_async_keeps_the_pytorch_path_until_the_build_is_done(monkeypatch, plugin):
    import threading

    monkeypatch.setattr(build, "_state", {"state": "idle", "reason": "", "module": None})
    monkeypatch.setattr(build, "_wait_for_build", True)
    release, started = threading.Event(), threading.Event()

    def slow_build(verbose=False):
        started.set()
        assert release.wait(60)
        return plugin

    monkeypatch.setattr(build, "build_extension", slow_build)
    thread = build.warm_up_async()
    assert started.wait(60)
    x = torch.randn(1, 3, 6, 6)
    kw = dict(fu=torch.ones(4) / 4, fd=torch.ones(4) / 4, up=2, down=2, padding=3)
    with torch.no_grad():
        assert build.status() == "compiling"
        assert build.get_plugin() is None  # does not wait for the compiler: the PyTorch path meanwhile
        assert torch.equal(filtered_lrelu(x, **kw), filtered_lrelu(x, **kw, impl="torch"))
    release.set()
    thread.join(60)
    assert build.status() == "ready"
    assert build.get_plugin() is plugin
