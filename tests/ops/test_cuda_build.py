"""CPU tests of the CUDA kernels' plumbing: cache keys, build locks (ops.plugin, shared with the CPU builder),
the single logged fallback line, the status for the GUI, the --impl flag, and impl='cuda' on CPU tensors. No GPU
or CUDA torch needed."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import ops.cuda  # noqa: F401  (registers the loaders)
from ops import backend, plugin
from ops.bias_act import bias_act
from ops.cuda import build
from ops.filtered_lrelu import filtered_lrelu
from ops.upfirdn2d import upfirdn2d

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_build_state(monkeypatch, tmp_path):
    monkeypatch.setenv("ALIASFREE_CUDA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(plugin, "_said", set())
    for kernel in build.KERNELS.values():
        kernel.reset()
    yield
    for kernel in build.KERNELS.values():
        kernel.reset()


def _logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aliasfree.ops"]


def _fake_cuda_tensor():
    """Enough of a tensor for ops.backend.resolve_impl to take the CUDA branch on a CPU-only machine."""
    return SimpleNamespace(device=torch.device("cuda", 0))


def test_cache_key_changes_with_sources_arch_and_versions(tmp_path):
    srcs = []
    for name in build.COMMON_HEADERS + build.OPS["bias_act"]:
        shutil.copy(build.SOURCE_DIR / name, tmp_path / name)
        srcs.append(tmp_path / name)
    key = build.cache_key("bias_act", "8.6", sources=srcs)
    assert key == build.cache_key("bias_act", "8.6", sources=srcs)
    assert key == build.cache_key("bias_act", "8.6", sources=[build.SOURCE_DIR / p.name for p in srcs])
    assert key != build.cache_key("bias_act", "9.0", sources=srcs)
    assert key != build.cache_key("bias_act", "8.6", torch_version="0.0", sources=srcs)
    assert key != build.cache_key("bias_act", "8.6", cuda_version="11.1", sources=srcs)
    assert key != build.cache_key("upfirdn2d", "8.6", sources=srcs)
    srcs[-1].write_text(srcs[-1].read_text() + "\n// edited\n")
    assert key != build.cache_key("bias_act", "8.6", sources=srcs)
    srcs[0].write_text(srcs[0].read_text() + "\n// a shared header edited\n")
    assert len({key, build.cache_key("bias_act", "8.6", sources=srcs)}) == 2


def test_every_source_is_part_of_some_key():
    listed = {p.name for op in build.OPS for p in build.source_files(op)}
    on_disk = {p.name for p in build.SOURCE_DIR.iterdir() if p.suffix in (".cu", ".cuh", ".cpp", ".h")}
    assert on_disk == listed


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_of_a_dead_process_is_cleared_at_once(tmp_path, caplog):
    (tmp_path / plugin.LOCK_NAME).write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename}))
    (tmp_path / plugin.TORCH_LOCK_NAME).write_text("")  # torch's baton left by the killed compile
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"), plugin.BuildLock(tmp_path, timeout=600) as lock:
        assert lock.cleared_stale
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        assert not (tmp_path / plugin.TORCH_LOCK_NAME).exists()
    assert time.monotonic() - t0 < 5
    assert not (tmp_path / plugin.LOCK_NAME).exists()
    assert any("stale extension build lock" in line for line in _logged(caplog))


def test_lock_of_a_live_process_is_cleared_after_the_timeout(tmp_path, caplog):
    # Held by a live process (this one) that never releases it: a hung compile.
    (tmp_path / plugin.LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"), plugin.BuildLock(tmp_path, timeout=0.6,
                                                                                     poll=0.05):
        waited = time.monotonic() - t0
    assert 0.5 <= waited < 5
    assert any("stale" in line for line in _logged(caplog))


def test_old_lock_is_stale_and_fresh_one_is_not(tmp_path):
    path = tmp_path / plugin.LOCK_NAME
    path.write_text("garbage from an interrupted write")
    assert not plugin.lock_is_stale(path, timeout=60)
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert plugin.lock_is_stale(path, timeout=60)


def test_no_compile_at_import():
    code = ("import ops.bias_act, ops.upfirdn2d, ops.filtered_lrelu, ops.backend as b, ops.cuda.build as cb; "
            "print(sorted(b._plugins), [cb.KERNELS[o].status_text() for o in cb.OPS])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['bias_act', 'filtered_lrelu', 'upfirdn2d'] ['idle', 'idle', 'idle']"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_logs_once_and_ops_use_the_torch_path(fresh_build_state, caplog):
    x = torch.randn(2, 3, 8, 8)
    b = torch.randn(3)
    expected = bias_act(x, b, act="lrelu", impl="torch")
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"):
        for _ in range(3):
            for op in build.OPS:
                assert backend.resolve_impl(op, _fake_cuda_tensor(), "auto") == "torch"
        torch.testing.assert_close(bias_act(x, b, act="lrelu"), expected)
    ours = _logged(caplog)
    assert len(ours) == 1, ours  # one reason shared by the three kernels: one line
    assert "aliasfree ops: CUDA kernels unavailable, using the PyTorch path" in ours[0]
    reason = "built without CUDA" if torch.version.cuda is None else "no CUDA device"  # the first check failing
    assert reason in ours[0]
    assert all(build.KERNELS[op].status is plugin.Status.FAILED for op in build.OPS)
    with pytest.raises(RuntimeError, match="not available"):
        backend.resolve_impl("filtered_lrelu", _fake_cuda_tensor(), "cuda")


def test_broken_compiler_fails_the_build_with_one_logged_line(fresh_build_state, monkeypatch, tmp_path, caplog):
    # Pretend CUDA is fine up to the compiler, which is broken: torch's loader must fail and we must fall back.
    fake_home = tmp_path / "cuda"
    (fake_home / "bin").mkdir(parents=True)
    nvcc = fake_home / "bin" / "nvcc"
    nvcc.write_text("#!/bin/sh\necho 'nvcc: broken toolkit' >&2\nexit 1\n")
    nvcc.chmod(0o755)
    import torch.utils.cpp_extension as cpp_ext

    monkeypatch.setattr(cpp_ext, "CUDA_HOME", str(fake_home))
    monkeypatch.setattr(build, "check_environment", lambda: ("8.0", "12.4"))
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"):
        status = build.warm_up_async(["upfirdn2d"])
        assert status.status in ("building", "failed: " + build.KERNELS["upfirdn2d"].reason)
        final = status.wait(timeout=300)
        for _ in range(3):
            assert backend.resolve_impl("upfirdn2d", _fake_cuda_tensor(), "auto") == "torch"
    assert final.startswith("failed: building the upfirdn2d kernels failed"), final
    ours = _logged(caplog)
    assert len(ours) == 1 and "building the upfirdn2d kernels failed" in ours[0]
    assert not list((tmp_path / "cache").rglob(plugin.LOCK_NAME))  # the lock is released after a failure


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_warm_up_reports_the_reason_without_cuda(fresh_build_state):
    status = build.warm_up_async()
    assert status.wait(timeout=60).startswith("failed: ")
    assert status.done() and "CUDA" in status.status


def test_status_goes_idle_building_ready_and_ops_use_torch_meanwhile(fresh_build_state, monkeypatch):
    import threading

    release = threading.Event()
    fake_module = object()

    def slow_build(op, verbose=False):
        assert release.wait(30)
        return fake_module

    monkeypatch.setattr(build, "build_extension", slow_build)
    monkeypatch.setattr(build, "run_self_check", lambda op, plugin: None)  # test_cuda_selfcheck.py checks that
    kernel = build.KERNELS["bias_act"]
    assert kernel.status is plugin.Status.IDLE and kernel.status_text() == "idle"
    status = build.warm_up_async(["bias_act"])
    assert kernel.status is plugin.Status.BUILDING  # at once, before the thread has run
    assert status.status == "building" and not status.done()
    assert kernel.get() is None  # does not block the caller while building
    assert backend.resolve_impl("bias_act", _fake_cuda_tensor(), "auto") == "torch"
    release.set()
    assert status.wait(timeout=10) == "ready"
    loaded = kernel.get()
    assert loaded is not None and loaded.ext is fake_module
    assert backend.resolve_impl("bias_act", _fake_cuda_tensor(), "auto") == "cuda"


def test_impl_cuda_on_a_cpu_tensor_raises_clearly():
    x = torch.randn(1, 2, 8, 8)
    with pytest.raises(ValueError, match="impl='cuda' needs a CUDA tensor"):
        bias_act(x, impl="cuda")
    with pytest.raises(ValueError, match="impl='cuda' needs a CUDA tensor"):
        upfirdn2d(x, torch.ones(3), impl="cuda")
    with pytest.raises(ValueError, match="impl='cuda' needs a CUDA tensor"):
        filtered_lrelu(x, torch.ones(4), torch.ones(4), up=2, down=2, padding=3, impl="cuda")


def test_default_impl_is_overridable(monkeypatch):
    monkeypatch.setattr(backend, "_default_impl", "auto")
    backend.set_default_impl("torch")
    assert backend.get_default_impl() == "torch"
    assert backend.resolve_impl("bias_act", _fake_cuda_tensor(), "auto") == "torch"
    with pytest.raises(ValueError):
        backend.set_default_impl("triton")


def test_impl_flag_and_description(monkeypatch, fresh_build_state):
    import argparse

    monkeypatch.setattr(backend, "_default_impl", "auto")
    parser = argparse.ArgumentParser()
    backend.add_impl_argument(parser)
    assert parser.parse_args([]).impl == "auto"
    for choice in ("auto", "torch", "cuda", "cpu"):  # every choice the ops take
        assert parser.parse_args(["--impl", choice]).impl == choice
    backend.set_default_impl(parser.parse_args(["--impl", "torch"]).impl)
    assert backend.get_default_impl() == "torch" and "PyTorch path" in plugin.describe()
    backend.set_default_impl("auto")
    assert plugin.describe().splitlines()[0] == "impl=auto, CUDA kernels idle"
    build.KERNELS["upfirdn2d"].disable("no GPU here")
    assert plugin.describe().splitlines()[0] == "impl=auto, CUDA kernels failed: no GPU here"
    with pytest.raises(SystemExit):
        parser.parse_args(["--impl", "triton"])


@pytest.mark.parametrize("case, reason", [
    ("old_gpu", "compute capability 5.2 is below"),
    ("no_nvcc", "no CUDA compiler (nvcc) found"),
    ("wrong_cuda", "nvcc 13.0 does not match the CUDA 12.4 torch was built with"),
])
def test_environment_reasons(monkeypatch, case, reason):
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (5, 2) if case == "old_gpu" else (8, 6))
    monkeypatch.setattr(build, "_nvcc_path", lambda: None if case == "no_nvcc" else "/opt/cuda/bin/nvcc")
    monkeypatch.setattr(build, "_nvcc_version", lambda nvcc: "13.0")
    with pytest.raises(build.CudaUnavailable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        build.check_environment()
