"""The GPU report's harness without a GPU. The CPU rehearsal of the whole run is in
``tests/ops/test_gpu_report.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
import warnings
from pathlib import Path

import pytest

from benchmarks import gpu_report as gr
from benchmarks import gpu_timing as gt

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
NVLABS = REPO / "nvlabs"  # a git-ignored checkout of NVlabs/stylegan3, where a developer has one


@pytest.fixture
def section_process(tmp_path, monkeypatch):
    """run_section_here in this process, with its globals and the backend flags put back afterwards."""
    monkeypatch.setattr(gr, "_partial_path", None)
    monkeypatch.setattr(gt, "configure_backends", lambda: None)

    def run(name: str, ctx: dict) -> dict:
        ctx_path, result_path = tmp_path / "section-ctx.json", tmp_path / f"{name}.json"
        ctx_path.write_text(json.dumps(dict(work=str(tmp_path), tiny=True, **ctx)))
        with warnings.catch_warnings():
            gr.run_section_here(name, str(ctx_path), str(result_path))
        return json.loads(result_path.read_text())

    return run


def test_the_build_section_checks_the_kernels_it_builds(section_process, monkeypatch):
    """Before the build section has said which kernels are usable, nothing is disabled (the build section
    itself must load and self-check them); afterwards the unusable ones are."""
    from ops.cuda import build

    disabled: list[str] = []
    for op in build.OPS:
        monkeypatch.setattr(build.KERNELS[op], "disable", lambda reason, op=op: disabled.append(op))
    monkeypatch.setitem(gr.SECTIONS, "build", lambda ctx: dict(disabled_when_it_ran=list(disabled)))
    monkeypatch.setitem(gr.SECTIONS, "layers", lambda ctx: dict(disabled_when_it_ran=list(disabled)))
    result = section_process("build", dict(device="cuda"))
    assert result["ok"] and result["disabled_when_it_ran"] == [] and disabled == []
    result = section_process("layers", dict(device="cuda", usable=["bias_act"], all_ops=list(build.OPS)))
    assert result["disabled_when_it_ran"] == ["upfirdn2d", "filtered_lrelu"]


# ----------------------------------------------------------------------------------------------------------
# NVlabs' side


@pytest.fixture
def nvlabs_side(monkeypatch):
    """benchmarks/nvlabs_side.py imported as NVlabs' process imports it (its folder on sys.path)."""
    monkeypatch.syspath_prepend(str(BENCH))
    import nvlabs_side

    return nvlabs_side


def test_built_extensions_are_entered_in_sys_modules(nvlabs_side, monkeypatch):
    """A ``load`` that, like recent torch's, returns the module without entering it in ``sys.modules``: with the
    wrapper, importing it by name (what NVlabs' get_plugin does next) works."""
    from torch.utils import cpp_extension

    def load(name, sources, **kwargs):
        return types.ModuleType(name) if kwargs.get("is_python_module", True) else f"/tmp/{name}.so"

    monkeypatch.setattr(cpp_extension, "load", load)
    monkeypatch.delitem(sys.modules, "gpu_report_probe_plugin", raising=False)
    cpp_extension.load(name="gpu_report_probe_plugin", sources=[])
    with pytest.raises(ModuleNotFoundError):
        __import__("gpu_report_probe_plugin")
    nvlabs_side._register_built_modules()
    nvlabs_side._register_built_modules()  # a second call does not wrap twice
    assert cpp_extension.load.__wrapped__ is load
    module = cpp_extension.load(name="gpu_report_probe_plugin", sources=[])
    try:
        assert __import__("gpu_report_probe_plugin") is module
    finally:
        del sys.modules["gpu_report_probe_plugin"]
    assert cpp_extension.load(name="other", sources=[], is_python_module=False) == "/tmp/other.so"
    assert "other" not in sys.modules


@pytest.mark.skipif(not (NVLABS / "torch_utils" / "custom_ops.py").exists(), reason="no nvlabs/ checkout")
@pytest.mark.parametrize("wrapped", [False, True])
def test_nvlabs_get_plugin_imports_what_load_built(tmp_path, wrapped):
    """NVlabs' own get_plugin with a load that returns the module the way recent torch does: it fails with the
    GPU run's ModuleNotFoundError unless the wrapper is in place."""
    script = textwrap.dedent(f"""
        import sys, types
        sys.path[:0] = [{str(BENCH)!r}, {str(NVLABS)!r}]
        import torch, torch.utils.cpp_extension as cpp_extension
        import nvlabs_side
        cpp_extension.load = lambda name, sources, **kw: types.ModuleType(name)
        torch.cuda.get_device_name = lambda *args: "Probe GPU"
        if {wrapped!r}:
            nvlabs_side._register_built_modules()
        from torch_utils import custom_ops
        custom_ops.verbosity = "none"
        try:
            m = custom_ops.get_plugin("gpu_report_probe_plugin", sources=["bias_act.cpp", "bias_act.cu"],
                                      headers=["bias_act.h"], source_dir={str(NVLABS / "torch_utils" / "ops")!r})
            print("imported", m.__name__)
        except ModuleNotFoundError as e:
            print("failed:", e)
    """)
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    expected = "imported gpu_report_probe_plugin" if wrapped else \
        "failed: No module named 'gpu_report_probe_plugin'"
    assert out.stdout.strip() == expected
