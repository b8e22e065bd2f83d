"""The GPU report's harness without a GPU. The CPU rehearsal of the whole run is in
``tests/ops/test_gpu_report.py``."""

from __future__ import annotations

import json
import warnings

import pytest

from benchmarks import gpu_report as gr
from benchmarks import gpu_timing as gt


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
