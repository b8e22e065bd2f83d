"""CPU tests of the safe ``auto``: the self-check a plugin must pass before ops use it, and strict fallbacks.

The plugins here are the real plugin classes on ``FakeExt`` (the kernels' contract in PyTorch, from
test_cuda_functions.py), once faithful and once deliberately wrong in one way each; the self-check runs on the
CPU in place of the GPU.
"""

from __future__ import annotations

import logging
import math
import re
from types import SimpleNamespace

import pytest
import torch

import ops.cuda  # noqa: F401  (registers the loaders)
from ops import backend, plugin
from ops.cuda import build, functions, selfcheck
from ops.filtered_lrelu import filtered_lrelu
from tests.ops.test_cuda_functions import FakeExt

PLUGINS = {"bias_act": functions.BiasActPlugin, "upfirdn2d": functions.Upfirdn2dPlugin,
           "filtered_lrelu": functions.FilteredLreluPlugin}


class ForwardOff(FakeExt):
    """filtered_lrelu forward 0.1% too large: a kernel that is nearly right."""

    def fused(self, *args):
        y = super().fused(*args)
        return y * 1.001 if args[-2] == 0 else y  # mode 0 = forward; the gradient pass stays right


class BiasGradOff(FakeExt):
    """bias_act with a first-derivative kernel that ignores the bias."""

    def grad(self, dy, x, b, *rest):
        return super().grad(dy, x, torch.zeros_like(b), *rest)


class HalfOff(FakeExt):
    """bias_act right in float32, wrong in its float16 instantiation."""

    def forward(self, x, *rest):
        y = super().forward(x, *rest)
        return y * 1.1 if x.dtype == torch.float16 else y


class Crashes(FakeExt):
    def upfirdn2d(self, *args):
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device\nmore")


def _wrong_adjoint(fake: FakeExt):
    """upfirdn2d whose second (gradient) pass uses the wrong filter orientation."""
    calls = {"n": 0}
    orig = fake.upfirdn2d

    def run(x, fc, *rest):
        calls["n"] += 1
        return orig(x, fc.flip([0, 1]) if calls["n"] > 2 else fc, *rest)

    fake.upfirdn2d = run
    return fake


@pytest.mark.parametrize("op", sorted(PLUGINS))
def test_faithful_plugins_pass(op):
    assert selfcheck.self_check(op, PLUGINS[op](FakeExt()), "cpu") is None


@pytest.mark.parametrize("op, ext, expected", [
    ("filtered_lrelu", ForwardOff(), r"filtered_lrelu up 2 down 2, separable filters, clamp 1: forward relative error"),
    ("upfirdn2d", _wrong_adjoint(FakeExt()), r"upfirdn2d up 2.*: gradient of input 0 relative error"),
    ("bias_act", BiasGradOff(), r"bias_act lrelu clamp 0.9: gradient of input 0 relative error"),
    ("bias_act", HalfOff(), r"bias_act lrelu clamp 0.9: float16 forward relative error 0\.\d+ > 0\.02"),
    ("upfirdn2d", Crashes(), r"raised RuntimeError: CUDA error: no kernel image is available for execution on the "
                             r"device$"),
])
def test_wrong_plugins_are_caught_with_the_case_and_the_error(op, ext, expected):
    problem = selfcheck.self_check(op, PLUGINS[op](ext), "cpu")
    assert problem is not None
    assert re.search(expected, problem), problem


def test_self_check_leaves_random_state_and_grad_mode_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with torch.inference_mode():
        assert selfcheck.self_check("filtered_lrelu", PLUGINS["filtered_lrelu"](FakeExt()), "cpu") is None
        assert torch.is_inference_mode_enabled()
    with torch.no_grad():
        assert selfcheck.self_check("bias_act", PLUGINS["bias_act"](FakeExt()), "cpu") is None
        assert not torch.is_grad_enabled()
    torch.testing.assert_close(torch.rand(3), expected)


@pytest.fixture
def fake_build(monkeypatch, tmp_path):
    """get_plugin with the compiler replaced by FakeExt-based plugins and the self-check run on the CPU."""
    monkeypatch.setenv("ALIASFREE_CUDA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(plugin, "_said", set())
    monkeypatch.setattr(build, "build_extension", lambda op, verbose=False: SimpleNamespace(op=op))
    monkeypatch.setattr(build, "self_check_device", lambda: torch.device("cpu"))
    checks = []
    real_check = selfcheck.self_check

    def counting_check(op, plugin, device):
        checks.append(op)
        return real_check(op, plugin, device)

    monkeypatch.setattr(selfcheck, "self_check", counting_check)
    exts = {}
    monkeypatch.setattr(functions, "make_plugin", lambda op, module: PLUGINS[op](exts.get(op, FakeExt())))
    for kernel in build.KERNELS.values():
        kernel.reset()
    yield SimpleNamespace(exts=exts, checks=checks)
    for kernel in build.KERNELS.values():
        kernel.reset()


def test_auto_falls_back_with_one_logged_line_naming_the_op_and_the_error(fake_build, caplog):
    fake_build.exts["filtered_lrelu"] = ForwardOff()
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"):
        for _ in range(3):
            assert build.KERNELS["filtered_lrelu"].get() is None
            assert backend.resolve_impl("filtered_lrelu", SimpleNamespace(device=torch.device("cuda", 0))) == "torch"
        assert build.KERNELS["bias_act"].get() is not None  # the other ops are checked on their own
    msgs = [r.getMessage() for r in caplog.records if r.name == "aliasfree.ops"]
    assert len(msgs) == 1, msgs
    assert msgs[0].startswith("aliasfree ops: CUDA kernels unavailable, using the PyTorch path: the filtered_lrelu "
                              "CUDA kernel failed its self-check (filtered_lrelu up 2 down 2")
    assert "forward relative error" in msgs[0]
    assert fake_build.checks == ["filtered_lrelu", "bias_act"]  # once per op and process
    assert build.KERNELS["filtered_lrelu"].status_text().startswith(
        "failed: the filtered_lrelu CUDA kernel failed its self-check")
    assert build.KERNELS["bias_act"].status is plugin.Status.READY
    with pytest.raises(RuntimeError, match="CUDA kernels are not available"):
        backend.resolve_impl("filtered_lrelu", SimpleNamespace(device=torch.device("cuda", 0)), "cuda")


def test_a_passing_plugin_is_used_and_checked_once(fake_build):
    for _ in range(3):
        loaded = build.KERNELS["upfirdn2d"].get()
        assert isinstance(loaded, functions.Upfirdn2dPlugin)
    assert fake_build.checks == ["upfirdn2d"]
    assert backend.resolve_impl("upfirdn2d", SimpleNamespace(device=torch.device("cuda", 0))) == "cuda"


class TooBig(FakeExt):
    def fused(self, *args):
        raise RuntimeError(functions.UNSUPPORTED + "filters too large for shared memory")


def test_fallbacks_are_recorded_and_raise_when_strict(monkeypatch, caplog):
    monkeypatch.setattr(plugin, "_said", set())
    monkeypatch.setattr(plugin, "fallbacks", [])
    kernel = functions.FilteredLreluPlugin(TooBig())
    x, f = torch.randn(1, 2, 8, 8), torch.ones(12) / 12
    args = (x, f, f, None, 2, 2, (11, 11, 11, 11), math.sqrt(2), 0.2, None, False)
    monkeypatch.delenv("ALIASFREE_OPS_STRICT", raising=False)
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"):
        y = kernel.filtered_lrelu(*args)
    assert any("filtered_lrelu" in r.getMessage() and "filters too large" in r.getMessage() for r in caplog.records)
    torch.testing.assert_close(y, filtered_lrelu(*args[:7], impl="torch"))
    assert plugin.fallbacks == ["filtered_lrelu: filters too large for shared memory"]
    monkeypatch.setenv("ALIASFREE_OPS_STRICT", "1")
    with pytest.raises(plugin.FallbackError, match="filtered_lrelu: the fused kernel fell back"):
        kernel.filtered_lrelu(*args)
    big = torch.ones(200, 200) / 4e4
    with pytest.raises(plugin.FallbackError, match=r"upfirdn2d: the fused kernel fell back .*\(200, 200\) filter"):
        functions.Upfirdn2dPlugin(FakeExt()).upfirdn2d(x, big, (1, 1), (1, 1), (100, 99, 100, 99), False, 1.0)


def test_a_disabled_op_is_neither_built_nor_logged(fake_build, monkeypatch, caplog):
    built = []
    monkeypatch.setattr(build, "build_extension", lambda op, verbose=False: built.append(op))
    build.KERNELS["filtered_lrelu"].disable("known to fail")
    with caplog.at_level(logging.DEBUG, logger="aliasfree.ops"):
        assert build.KERNELS["filtered_lrelu"].get() is None
    assert built == [] and fake_build.checks == [] and not caplog.records
    assert build.KERNELS["filtered_lrelu"].status_text() == "failed: known to fail"
