"""The GPU report's harness without a GPU: the build section checks the kernels it built, sections report their
phases as they go (and a killed one keeps them), the generators plan puts the targets' configurations first, the
targets read every generators section, and NVlabs' side builds its plugins side by side and can import them
with a torch that does not enter built extensions in ``sys.modules``. The CPU rehearsal of the whole run is in
``tests/ops/test_gpu_report.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import types
import warnings
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_report as gr
from benchmarks import gpu_timing as gt

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
NVLABS = REPO / "nvlabs"  # a git-ignored checkout of NVlabs/stylegan3, where a developer has one


# ----------------------------------------------------------------------------------------------------------
# Our side


@pytest.fixture
def section_process(tmp_path, monkeypatch):
    """run_section_here in this process, with its globals and the backend flags put back afterwards."""
    monkeypatch.setattr(gr, "_partial_path", None)
    monkeypatch.setattr(gr, "PROGRESS", None)
    monkeypatch.setattr(gr, "_partial_data", {})
    monkeypatch.setattr(gt, "configure_backends", lambda cudnn_benchmark=False: None)

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


def test_the_build_section_is_not_ok_when_a_kernel_is_not_usable(monkeypatch):
    from ops.cuda import build

    monkeypatch.setattr(build, "check_environment", lambda: ("9.0", "13.0"))
    monkeypatch.setattr(gr, "_build_all", lambda ops, result: result["ops"].update(
        {op: dict(build_s=1.0, rc=0, log_tail="") for op in ops}))
    for op in build.OPS:
        usable = op != "upfirdn2d"
        monkeypatch.setattr(build.KERNELS[op], "get", lambda usable=usable: object() if usable else None)
        monkeypatch.setattr(build.KERNELS[op], "status_text",
                            lambda usable=usable: "ready" if usable else "failed: its self-check")
    result = gr.section_build(dict(device="cuda"))
    assert result["incomplete"] == "not usable: upfirdn2d (see Kernel builds)"
    assert [result["ops"][op]["usable"] for op in build.OPS] == [op != "upfirdn2d" for op in build.OPS]
    monkeypatch.setattr(build.KERNELS["upfirdn2d"], "get", lambda: object())
    assert "incomplete" not in gr.section_build(dict(device="cuda"))


def test_a_section_result_has_its_phases_and_the_backend_flags(section_process, monkeypatch):
    def fake(ctx):
        with gr.phase("first"):
            pass
        gr.checkpoint(rows=[dict(a=1)])
        with gr.phase("second"):
            time.sleep(0.05)
        return dict(rows=[dict(a=1), dict(a=2)])

    monkeypatch.setitem(gr.SECTIONS, "renderer", fake)
    result = section_process("renderer", dict(device="cpu"))
    assert [p["phase"] for p in result["phases"]] == ["first", "second"]
    assert result["phases"][1]["seconds"] >= 0.05 and "running" not in result
    assert set(result["backends"]) == {"cudnn_benchmark", "matmul_tf32", "cudnn_tf32"}


def test_a_killed_section_says_what_it_did_and_what_it_was_in_the_middle_of(tmp_path):
    """The section is killed at its limit inside a phase: the report keeps the rows and the finished phases
    from its partial result, the phase it was in, and the printed progress in its tail."""
    (tmp_path / "section-ctx.json").write_text(json.dumps(dict(work=str(tmp_path), tiny=True, device="cpu")))
    script = textwrap.dedent(f"""
        import time
        from benchmarks import gpu_report as gr
        def slow(ctx):
            with gr.phase("load the network"):
                time.sleep(0.2)
            gr.checkpoint(rows=[dict(net="a")])
            with gr.phase("warm-up that hangs"):
                time.sleep(60)
        gr.SECTIONS["generators"] = slow
        gr.run_section_here("generators", {str(tmp_path / "section-ctx.json")!r}, {str(tmp_path / "generators.json")!r})
    """)
    runner = gr.Runner(dict(work=str(tmp_path)), budget_s=100, rehearsal=True, log=lambda line: None)
    rec = runner.run("generators", [sys.executable, "-c", script], limit=6)
    assert rec["status"] == "partial: killed after its 6 s limit, rows so far kept", rec
    assert rec["rows"] == [dict(net="a")]
    assert [p["phase"] for p in rec["phases"]] == ["load the network"] and rec["phases"][0]["seconds"] >= 0.2
    assert rec["running"]["phase"] == "warm-up that hangs"
    assert "warm-up that hangs ..." in rec["tail"] and "load the network: " in rec["tail"]
    line = gr._phases_line("generators", rec)
    assert "load the network 0.2" in line and "**in progress when it ended: warm-up that hangs**" in line


def test_sections_run_in_processes_started_ahead_and_unused_ones_end(tmp_path):
    """With standby, a section is handed to a process that started (and imported) ahead, the next one is
    started meanwhile, one that died while waiting is replaced by a fresh process, and close() ends the rest."""
    runner = gr.Runner(dict(work=str(tmp_path), device="cpu", tiny=True), budget_s=300, rehearsal=True,
                       log=lambda line: None, standby=True)
    try:
        runner.prepare("ours")
        rec = runner.ours("build")  # on a machine without CUDA the build section says so at once
        assert rec["status"].startswith("skipped: kernels not built") and rec["started_ahead"], rec
        waiting = runner._waiting["ours"]  # the next one, started when "build" was handed over
        _end_and_wait(waiting)
        rec = runner.ours("build")
        assert rec["status"].startswith("skipped: kernels not built") and not rec["started_ahead"]
        spare = runner._waiting["ours"]
    finally:
        runner.close()
    assert spare.poll() is not None and runner._waiting == {}


def _end_and_wait(proc) -> None:
    proc.kill()
    proc.wait()


def test_a_standby_runs_the_order_it_is_given_or_nothing(monkeypatch):
    import io

    calls = []
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert gt.serve_standby(lambda argv: calls.append(argv) or 3) == 0 and calls == []
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(dict(argv=["a", "b"], env=dict(GPU_REPORT_PROBE=1)))
                                                  + "\n"))
    monkeypatch.delenv("GPU_REPORT_PROBE", raising=False)
    seen = []
    assert gt.serve_standby(lambda argv: seen.append((argv, os.environ["GPU_REPORT_PROBE"])) or 3,
                            preload=lambda: seen.append("preloaded")) == 3
    assert seen == ["preloaded", (["a", "b"], "1")]
    monkeypatch.delenv("GPU_REPORT_PROBE")


def test_progress_keeps_phases_in_order_and_marks_one_that_raised():
    now = [0.0]
    changes = []
    progress = gt.Progress("s", on_change=lambda: changes.append(progress.state()), clock=lambda: now[0],
                           echo=False)
    with progress.phase("a"):
        now[0] += 2
        assert progress.state()["running"] == dict(phase="a", start_s=0.0, seconds_so_far=2.0)
    with pytest.raises(ValueError), progress.phase("b"):
        now[0] += 1
        raise ValueError("boom")
    state = progress.state()
    assert state["phases"] == [dict(phase="a", start_s=0.0, seconds=2.0),
                               dict(phase="b", start_s=2.0, seconds=1.0, raised=True)]
    assert "running" not in state and len(changes) == 4  # each start and each end
    assert changes[2]["running"]["phase"] == "b"


def test_the_generators_plan_puts_the_targets_first_and_splits_the_rest():
    precisions = ["fp32", "fp16-autocast"]
    targets = gt.generator_plan(False, "targets", precisions)
    assert targets == [("sg3t-1024", 8, "fp32"), ("sg3r-1024", 8, "fp32")]
    more = gt.generator_plan(False, "more", precisions)
    everything = [(n, b, p) for n in gt.FULL_NETS for b in (1, 8) for p in precisions]
    assert sorted(targets + more) == sorted(everything) and len(set(more)) == len(more)
    assert gt.generator_plan(False, "all", precisions) == targets + more
    assert more[:3] == [("sg3t-1024", 8, "fp16-autocast"), ("sg3t-1024", 1, "fp32"), ("sg3t-1024", 1, "fp16-autocast")]
    assert gt.generator_plan(True, "targets", ["fp32"]) == [("sg3t-1024", 1, "fp32"), ("sg3r-1024", 1, "fp32")]
    assert gt.image_nets(False, "targets") + gt.image_nets(False, "more") == gt.image_nets(False, "all")
    assert set(gt.image_nets(False, "targets")) == set(gt.TARGET_NETS)
    with pytest.raises(ValueError):
        gt.generator_plan(False, "some", precisions)
    # Other nets and batches (benchmarks/bench_generator.py asks NVlabs' side for these); none is none.
    assert gt.generator_plan(True, "all", ["fp32"], ["sg3t-256"], [1, 4]) == [("sg3t-256", 4, "fp32"),
                                                                            ("sg3t-256", 1, "fp32")]
    assert gt.generator_plan(False, "all", precisions, []) == [] and gt.image_nets(False, "all", []) == []


def _report(**sections) -> dict:
    return dict(rehearsal=False, batches=[1, 8], sizes=gt.FULL_NETS, sections=sections)


def test_the_targets_read_both_generators_sections_and_skip_failed_image_checks():
    gen = dict(rows=[dict(net="sg3t-1024", batch=8, precision="fp32", fused_images_per_s=30.0)],
               checks={"sg3t-1024": dict(fused_error="RuntimeError: boom")})
    more = dict(rows=[dict(net="sg3r-1024", batch=8, precision="fp32", eager_images_per_s=9.0)],
                checks={"sg2-1024": dict(fused_vs_eager_max_abs=2e-4), "sg3t-256": dict(fused_vs_eager_max_abs=1e-6)})
    nv = dict(rows=[dict(net="sg3t-1024", batch=8, precision="fp32", images_per_s=25.0)])
    nv_more = dict(rows=[dict(net="sg3r-1024", batch=8, precision="fp32", images_per_s=10.0)])
    results = {t["target"]: (t["result"], t["detail"]) for t in gr.evaluate_targets(
        _report(generators=gen, generators_more=more, nv_generators=nv, nv_generators_more=nv_more))}
    assert results["whole generators: fused vs eager <= 1e-4 max abs"][0] == "FAIL"
    assert "sg2-1024" in results["whole generators: fused vs eager <= 1e-4 max abs"][1]
    assert results["sg3t-1024 batch 8 fp32: our best path >= NVlabs' images/s"][0] == "PASS"
    assert results["sg3r-1024 batch 8 fp32: our best path >= NVlabs' images/s"][0] == "FAIL"  # 9 < 10
    assert results["sg3r-1024 batch 8 fp32: eager or torch.compile within 1.5x of NVlabs"][0] == "PASS"
    train = dict(fused=dict(error="RuntimeError: boom"), eager=dict(s_per_kimg=5.0), phases=[], backends={})
    results = {t["target"]: t["result"] for t in gr.evaluate_targets(_report(train=train, nv_train=dict(
        ok=True, s_per_kimg=4.0)))}
    assert results["stylegan3-t-256 training step: ours s/kimg <= NVlabs'"] == "FAIL"  # eager 5 > 4; fused failed


def test_nvlabs_sections_run_when_their_build_was_skipped_or_every_plugin_built():
    built = {op: dict(ok=True, seconds=20.0) for op in gr.OPS}
    extra = dict(phases=[dict(phase="build", start_s=0, seconds=50)], backends=dict(cudnn_benchmark=False),
                 warnings=[])
    assert gr.nvlabs_kernels_built(dict(ok=True, **built, **extra))
    assert gr.nvlabs_kernels_built(dict(ok=True, skipped="no CUDA", **extra))
    assert not gr.nvlabs_kernels_built(dict(ok=True, **dict(built, upfirdn2d=dict(ok=False)), **extra))
    assert not gr.nvlabs_kernels_built(dict(ok=False, status="killed"))


def test_the_report_says_where_the_time_went():
    report = _report(layers=dict(status="ok", wall_s=10.0, rows=[], phases=[
        dict(phase=f"L{i}", start_s=float(i), seconds=0.5 + i / 10) for i in range(20)]))
    report.update(device=gt.device_info(torch.device("cpu")), nvlabs=None, wall_s=1.0, budget_s=450.0, cross_check={})
    report["targets"] = gr.evaluate_targets(report)
    md = gr.render_markdown(report)
    line = next(line for line in md.splitlines() if line.startswith("- layers (10 s): "))
    assert "L19 2.4" in line and "L0 0.5" not in line and "8 more phases 6.8" in line
    assert "TF32 off, cuDNN autotuning off" in md


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


FAKE_OP = '''
import os, time
_plugin = None

def _init():
    global _plugin
    if _plugin is None:
        marker = os.path.join(os.environ["FAKE_NV_DIR"], "built-{op}")
        if not os.path.exists(marker):  # the build: what a compiler would take, then the cache is filled
            start = time.time()
            time.sleep(3)
            with open(os.path.join(os.environ["FAKE_NV_DIR"], "log"), "a") as f:
                f.write(f"{op} {{os.getpid()}} {{start}} {{time.time()}}\\n")
            if {fail}:
                raise ModuleNotFoundError("No module named '{op}_plugin'")
            open(marker, "w").close()
        _plugin = object()
    return True
'''


def test_nvlabs_plugins_build_side_by_side_then_load(tmp_path):
    """nvlabs_side.py build against a stand-in checkout whose three ops each take 3 s to build and one fails:
    the builds overlap in time (one process each), the two that built are loaded from the cache in the
    command's own process, and the failed one is reported, not built again."""
    fake = tmp_path / "nv"
    (fake / "torch_utils" / "ops").mkdir(parents=True)
    (fake / "torch_utils" / "__init__.py").write_text("")
    (fake / "torch_utils" / "ops" / "__init__.py").write_text("")
    for op in gr.OPS:
        (fake / "torch_utils" / "ops" / f"{op}.py").write_text(FAKE_OP.format(op=op, fail=op == "upfirdn2d"))
    out = tmp_path / "nv_build.json"
    env = dict(os.environ, FAKE_NV_DIR=str(tmp_path), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(BENCH / "nvlabs_side.py"), "build", "--nvlabs", str(fake), "--out",
                           str(out), "--device", "cuda"], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one plugin failed: the command failed
    result = json.loads(out.read_text())
    assert not result["ok"] and result["error"].startswith("upfirdn2d: ModuleNotFoundError")
    builds = [line.split() for line in (tmp_path / "log").read_text().splitlines()]
    assert sorted(b[0] for b in builds) == sorted(gr.OPS)  # each built once, upfirdn2d not again
    assert len({b[1] for b in builds}) == 3  # in three processes
    assert max(float(b[2]) for b in builds) < min(float(b[3]) for b in builds)  # at the same time
    for op in ("bias_act", "filtered_lrelu"):
        assert result[op]["ok"] and result[op]["seconds"] >= 3 and result[op]["load_s"] < 2
    assert not result["upfirdn2d"]["ok"] and "No module named 'upfirdn2d_plugin'" in result["upfirdn2d"]["error"]
    assert not gr.nvlabs_kernels_built(result) and not gr.nvlabs_kernels_built(dict(result, ok=True))
    assert [p["phase"] for p in result["phases"]] == [
        "build bias_act, upfirdn2d, filtered_lrelu side by side", "load bias_act", "load filtered_lrelu"]
