"""GPU report: builds and checks the fused kernels, then times every GPU path against NVlabs' on the same card.

    make gpu-report [ARGS="--nvlabs nvlabs"]          # on a CUDA machine: at most ~8 minutes
    make gpu-report ARGS=--cpu-rehearsal              # every step that runs without CUDA, tiny sizes, < 2 min

Writes ``gpu-report.json`` and ``gpu-report.md`` into ``$OUT`` when set, else ``renders/``. Without CUDA and
without ``--cpu-rehearsal`` it prints one line and exits 0.

Sections, each in its own process with its own time limit (a section that fails or hangs is recorded and the
report is still written; the whole run stops starting sections when ``--budget`` seconds are spent):

  build        our kernels built (the three ops in parallel, with NVlabs' build beside them), build seconds,
               then each op's self-check on this GPU
  parity       tests/ops/test_cuda_parity.py with ALIASFREE_OPS_STRICT=1: a fallback to the PyTorch path fails
  layers       filtered_lrelu at every SG3-T-1024 layer, batch 1 and 8, float32 (+ float16 in the layers the
               network runs in fp16): ms and peak memory, fused kernels vs our eager PyTorch path (+ NVlabs)
  generators   whole G forward of SG3-T/R at 256 and 1024 and SG2 at 1024, batch 1 and 8, float32 and fp16
               autocast (NVlabs: force_fp32 and its own fp16 layers): images/s; fused vs eager images
  train        one stylegan3-t-256 batch-32 training step (s/kimg): ours fused, ours eager, NVlabs'
  renderer     the visualizer renderer's ms/frame on SG3-T-1024 (fused / eager, float32 / float16)
  layers_compile, generators_compile
               the eager path under torch.compile (last: the compiler's first run is slow)

Within a section the paths of one configuration (fused, eager) are timed interleaved after their warm-up
(``benchmarks/timing.py``: medians, with the load average beside each row; the report's header names the commit,
CPU and cores).

NVlabs' side (``--nvlabs DIR``, a git-ignored checkout of NVlabs/stylegan3) runs in ``nvlabs_side.py``: it
writes NVlabs-format pickles with NVlabs' own classes into DIR/gpu-report-pickles, and both sides load those.
Without ``--nvlabs`` our side writes the same networks with our classes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

from benchmarks import gpu_timing as gt
from benchmarks import timing

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
# (section, seconds on a GPU, seconds in the rehearsal). The GPU total stays under the 8-minute target with
# the limits cut to what is left of --budget.
LIMITS = {
    "pickles": (90, 30), "nv_pickles": (120, 30), "build": (240, 20), "nv_build": (240, 15), "parity": (75, 40),
    "layers": (45, 15), "nv_layers": (35, 15),
    "generators": (90, 20), "nv_generators": (60, 20), "train": (50, 20), "nv_train": (45, 20),
    "renderer": (30, 15), "layers_compile": (40, 20), "generators_compile": (90, 25),
}
RESERVE_S = 10  # kept back from --budget for writing the report
DEFAULT_BUDGET = {False: 450.0, True: 110.0}  # seconds of a GPU run (<= 8 minutes in all), of the rehearsal
PER_CONFIG_S = 1.0  # repeats of one timed configuration stop after this long (at least one run)
# The order sections run in after the builds: what the targets need first, the compiler's slow first runs late.
PLAN = ["parity", "layers", "nv_layers", "generators", "nv_generators", "train", "nv_train", "renderer",
        "generators_compile", "layers_compile"]


_partial_path: str | None = None  # set in a section's process: where checkpoint() writes


def checkpoint(**data) -> None:
    """Writes what a section has so far, so that a section killed at its time limit still reports it."""
    if _partial_path:
        gt.write_json(_partial_path + ".partial", dict(ok=True, incomplete="killed at its time limit", **data))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).split(".")[-1]


# ----------------------------------------------------------------------------------------------------------
# Our sections (each runs in its own process: python -m benchmarks.gpu_report --section NAME --ctx FILE)


def _load(ctx: dict, name: str, device: torch.device) -> dict:
    from networks import load_network_pkl

    return load_network_pkl(ctx["pickles"][name], device=device)


def section_pickles(ctx: dict) -> dict:
    """Our own classes' pickles of the same specs (used when no NVlabs checkout is given)."""
    from networks import save_network_pkl, stylegan2, stylegan3

    out = {}
    for i, (name, spec) in enumerate(gt.nets(ctx["tiny"]).items()):
        torch.manual_seed(i)
        cls = stylegan3.Generator if spec["kind"] == "sg3" else stylegan2.Generator
        G = cls(**gt.generator_kwargs(spec, gt.z_dim(ctx["tiny"]))).eval()
        data = dict(G=G, G_ema=G)
        if name == gt.TRAIN_NET:
            data["D"] = stylegan2.Discriminator(**gt.discriminator_kwargs(spec)).eval()
        save_network_pkl(ctx["pickles"][name], data)
        out[name] = dict(params=sum(p.numel() for p in G.parameters()))
    return out


def _build_one(op: str) -> None:
    from ops.cuda import build

    build.build_extension(op)


def section_build(ctx: dict) -> dict:
    from ops.cuda import build

    try:
        arch, nvcc = build.check_environment()
    except build.CudaUnavailable as e:
        return dict(skipped=f"kernels not built: {e}")
    result = dict(arch=arch, nvcc=nvcc, ops={})
    t0 = time.perf_counter()
    procs = {op: (subprocess.Popen([sys.executable, "-c", f"from benchmarks.gpu_report import _build_one; "
                                    f"_build_one({op!r})"], cwd=REPO, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True), time.perf_counter())
             for op in build.OPS}
    for op, (proc, start) in procs.items():
        log, _ = proc.communicate()
        result["ops"][op] = dict(build_s=time.perf_counter() - start, rc=proc.returncode,
                                 log_tail=log[-800:] if proc.returncode else "")
    result["build_wall_s"] = time.perf_counter() - t0
    for op in build.OPS:  # loads from the cache just filled, then the self-check on this GPU
        t1 = time.perf_counter()
        kernel = build.KERNELS[op]
        result["ops"][op].update(usable=kernel.get() is not None, status=kernel.status_text(),
                                 load_and_check_s=time.perf_counter() - t1, self_check_s=kernel.check_seconds)
    return result


def section_parity(ctx: dict) -> dict:
    xml = os.path.join(ctx["work"], "parity.xml")
    env = dict(os.environ, ALIASFREE_OPS_STRICT="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/ops/test_cuda_parity.py",
           f"--junitxml={xml}", "--timeout=120"]
    rc, tail = run_limited(cmd, env, ctx["budget"])
    counts = dict(tests=0, failures=0, errors=0, skipped=0)
    failed = []
    if os.path.exists(xml):
        for suite in ET.parse(xml).getroot().iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
        for case in ET.parse(xml).getroot().iter("testcase"):
            for bad in list(case.findall("failure")) + list(case.findall("error")):
                failed.append(f"{case.get('name')}: {(bad.get('message') or '').splitlines()[0][:300]}")
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    result = dict(counts, rc=rc, failed=failed, tail=tail[-1500:])
    if rc is None:
        result["incomplete"] = f"the parity suite was stopped after {ctx['budget']:.0f} s"
    if counts["skipped"] == counts["tests"]:
        result["skipped"] = "every parity test skipped (needs a CUDA device)"
    return result


def _impls(ctx: dict, op: str | None = None) -> list[str]:
    """The paths a section times: 'fused' where the kernels (of ``op``, or of any op) built and passed the
    self-check in the build section."""
    usable = ctx.get("usable") or []
    return ["fused", "eager"] if (op in usable if op else usable) else ["eager"]


def _impl(ctx: dict, path: str) -> str:
    """'fused' is impl='cuda' when every kernel is usable, else 'auto': the usable kernels, the PyTorch path for
    the others (the report says which)."""
    if path == "eager":
        return "torch"
    return "cuda" if set(ctx.get("usable") or []) == set(ctx.get("all_ops") or ()) else "auto"


def _disable_unusable(ctx: dict) -> None:
    """Ops whose kernels failed in the build section are not built or checked again in this process. Only once
    the build section has said which are usable (``ctx['usable']``): before that nothing is known to fail."""
    if ctx["device"] != "cuda" or "usable" not in ctx:
        return
    from ops.cuda import build

    for op in build.OPS:
        if op not in ctx["usable"]:
            build.KERNELS[op].disable("not usable in the gpu-report build section")


def _attempt(row: dict, path: str, fn):
    """fn() or None; an error (a kernel that raises, a strict fallback, a compiler failure) goes into the row
    so that the other paths of the section are still measured."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 -- recorded in the report
        row[f"{path}_error"] = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
        return None


def section_layers(ctx: dict, compiled: bool = False) -> dict:
    from ops.filtered_lrelu import filtered_lrelu

    device = torch.device(ctx["device"])
    G = _load(ctx, gt.LAYERS_NET, device)["G_ema"]
    deadline = time.monotonic() + ctx["budget"]
    rows = []
    names = gt.pick_layers(list(G.synthesis.layer_names), ctx["tiny"])
    if compiled and ctx["tiny"]:
        names = names[:1]  # the rehearsal only has to trace one
    for batch in ctx["batches"]:
        for name in names:
            L = getattr(G.synthesis, name)
            dtypes = [torch.float32] + ([torch.float16] if L.use_fp16 and device.type == "cuda" else [])
            for dtype in dtypes:
                if time.monotonic() > deadline:
                    return dict(rows=rows, incomplete="time budget spent")
                x = gt.layer_input(L, batch, device, dtype)
                kw = gt.layer_kwargs(L)
                kw["b"] = kw["b"].to(dtype)
                row = dict(layer=name, batch=batch, dtype=_dtype_name(dtype), up=L.up_factor, down=L.down_factor,
                           size=list(x.shape[2:]), channels=int(x.shape[1]))
                if compiled:
                    fn = torch.compile(functools.partial(filtered_lrelu, impl="torch"), backend=ctx["compile_backend"],
                                       dynamic=False)
                    runs = {"compiled": lambda fn=fn, x=x, kw=kw: fn(x, **kw)}
                else:
                    runs = {impl: (lambda impl=impl, x=x, kw=kw: filtered_lrelu(x, **kw, impl=_impl(ctx, impl)))
                            for impl in _impls(ctx, "filtered_lrelu")}
                outs, live = {}, {}
                for path, run in runs.items():
                    def first(run=run, row=row):  # the output for the check below (and the compiler's first run)
                        with torch.no_grad():
                            t0 = time.perf_counter()
                            out = run()
                            gt.sync(device)
                            if compiled:
                                row["compile_first_call_s"] = time.perf_counter() - t0
                            return out

                    out = _attempt(row, path, first)
                    if out is not None:
                        outs[path], live[path] = out, run

                def measure(row=row, live=live):
                    with torch.no_grad():  # the paths that ran, interleaved (benchmarks/timing.py)
                        # the first call above was one warm-up run of each path
                        times = gt.time_calls(live, device, ctx["repeats"], warmup=max(ctx["warmup"] - 1, 0),
                                              budget_s=PER_CONFIG_S * len(live))
                        for path, run in live.items():
                            row[f"{path}_ms"] = times[path]["median_s"] * 1e3
                            row[f"{path}_peak_mib"] = gt.peak_memory_mib(run, device)
                        row["load"] = times[path]["env"].get("load")

                if live:
                    _attempt(row, "+".join(live), measure)
                if "fused" in outs and "eager" in outs:
                    ref = outs["eager"].float()
                    row["fused_rel_err"] = float((outs["fused"].float() - ref).abs().max() / ref.abs().max())
                rows.append(row)
                checkpoint(rows=rows)
    return dict(rows=rows)


def _autocast(device: torch.device, precision: str):
    import contextlib

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16-autocast" else torch.bfloat16)


def section_generators(ctx: dict, compiled: bool = False) -> dict:
    from ops import backend

    device = torch.device(ctx["device"])
    deadline = time.monotonic() + ctx["budget"]
    rows, checks = [], {}
    names = gt.by_priority(gt.nets(ctx["tiny"]), ctx["tiny"])
    if compiled and ctx["tiny"]:
        names = names[:1]
    for name in names:
        if time.monotonic() > deadline:
            return dict(rows=rows, checks=checks, incomplete="time budget spent")
        G = _load(ctx, name, device)["G_ema"].eval()
        if not compiled:  # the images both paths give, for the parity check and the cross-check with NVlabs
            imgs, errors = {}, {}
            for impl in _impls(ctx):
                backend.set_default_impl(_impl(ctx, impl))

                def image(G=G):
                    with torch.no_grad():
                        return G(gt.fixed_z(1, G.z_dim, device), None, noise_mode="const").float().cpu()

                img = _attempt(errors, impl, image)
                if img is not None:
                    imgs[impl] = img
                    torch.save(dict(img=img), os.path.join(ctx["work"], f"img-{name}-{impl}.pt"))
            if errors:
                checks[name] = errors
            if "fused" in imgs and "eager" in imgs:
                checks[name] = dict(fused_vs_eager_max_abs=float((imgs["fused"] - imgs["eager"]).abs().max()))

        precisions = ["fp32"] + (["fp16-autocast"] if device.type == "cuda" and not compiled else [])
        for batch in sorted(ctx["batches"], reverse=compiled):  # the compiler: batch 8 (the targets') first
            z = gt.fixed_z(batch, G.z_dim, device)
            for precision in precisions:
                row = dict(net=name, batch=batch, precision=precision)
                paths = ["compiled"] if compiled else _impls(ctx)
                live = {}
                for path in paths:
                    if time.monotonic() > deadline:
                        rows.append(row)
                        return dict(rows=rows, checks=checks, incomplete="time budget spent")

                    def run(path=path, z=z, precision=precision, fn=G):
                        backend.set_default_impl("torch" if path == "compiled" else _impl(ctx, path))
                        with torch.no_grad(), _autocast(device, precision):
                            return fn(z, None, noise_mode="const")

                    def first(path=path, run=run, row=row, G=G):  # a failing path is left out of the timing
                        if path == "compiled":
                            compiled_G = torch.compile(G, backend=ctx["compile_backend"], dynamic=False)
                            run = functools.partial(run, fn=compiled_G)
                        t0 = time.perf_counter()
                        run()
                        gt.sync(device)
                        if path == "compiled":
                            row["compile_first_call_s"] = time.perf_counter() - t0
                        return run

                    ran = _attempt(row, path, first)
                    if ran is not None:
                        live[path] = ran

                def measure(batch=batch, row=row, live=live):  # interleaved (benchmarks/timing.py)
                    # the first call above was one warm-up run of each path
                    times = gt.time_calls(live, device, ctx["repeats"], warmup=max(ctx["warmup"] - 1, 0),
                                          budget_s=PER_CONFIG_S * len(live))
                    for path in live:
                        row[f"{path}_images_per_s"] = batch / times[path]["median_s"]
                    row["load"] = times[path]["env"].get("load")

                if live:
                    _attempt(row, "+".join(live), measure)
                rows.append(row)
                checkpoint(rows=rows, checks=checks)
        backend.set_default_impl("auto")
        del G
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return dict(rows=rows, checks=checks)


def section_train(ctx: dict) -> dict:
    import copy

    from ops import backend
    from training.loss import StyleGAN2Loss

    device = torch.device(ctx["device"])
    batch = gt.train_batch(ctx["tiny"])
    result = {}
    start = time.monotonic()
    for path in _impls(ctx):
        backend.set_default_impl(_impl(ctx, path))

        def measure():
            data = _load(ctx, gt.TRAIN_NET, device)
            G, D = data["G"].train(), data["D"].train()
            G_ema = copy.deepcopy(G).eval()
            loss = StyleGAN2Loss(device, G=G, D=D, augment_pipe=None, r1_gamma=2, style_mixing_prob=0, pl_weight=0,
                                 blur_init_sigma=0, blur_fade_kimg=0)
            budget = (ctx["budget"] - (time.monotonic() - start)) / 2.5
            return gt.training_step_s_per_kimg(loss, G, D, G_ema, batch, device, steps=ctx["repeats"],
                                               budget_s=budget, warmup=ctx["warmup"] and 1)

        errors: dict = {}
        result[path] = _attempt(errors, "train", measure) or {"error": errors.get("train_error")}
        if device.type == "cuda":
            torch.cuda.empty_cache()
    backend.set_default_impl("auto")
    return result


def section_renderer(ctx: dict) -> dict:
    from ops import backend
    from viz.core.render_types import RenderArgs
    from viz.core.renderer import Renderer

    deadline = time.monotonic() + ctx["budget"]
    device = torch.device(ctx["device"])
    renderer = Renderer()
    rows = []
    for path in _impls(ctx):
        backend.set_default_impl(_impl(ctx, path))
        for precision in ["float32"] + (["float16"] if device.type == "cuda" else []):
            base = RenderArgs(pkl=ctx["pickles"][gt.LAYERS_NET], device=ctx["device"], precision=precision)
            times, error = [], renderer.render(base).error  # the first frame loads the network
            for seed in range(1, 2 + 2 * ctx["repeats"]):
                if time.monotonic() > deadline or error:
                    break
                t0 = time.perf_counter()
                error = renderer.render(RenderArgs(pkl=base.pkl, device=base.device, precision=precision,
                                                   w0_seeds=((seed, 1.0),))).error
                times.append(time.perf_counter() - t0)
            row = dict(path=path, precision=precision, frames=len(times))
            if error:
                row["error"] = error[:300]
            elif times:
                stats = timing.summarize(times)
                row["ms_per_frame"], row["ms_q1"], row["ms_q3"] = stats.median * 1e3, stats.q1 * 1e3, stats.q3 * 1e3
            rows.append(row)
    backend.set_default_impl("auto")
    return dict(rows=rows)


SECTIONS = {
    "pickles": section_pickles, "build": section_build, "parity": section_parity, "layers": section_layers,
    "generators": section_generators, "train": section_train, "renderer": section_renderer,
    "layers_compile": functools.partial(section_layers, compiled=True),
    "generators_compile": functools.partial(section_generators, compiled=True),
}


def run_section_here(name: str, ctx_path: str, result_path: str) -> int:
    """The body of one section's process: runs it and writes its result (or its error) as JSON."""
    import traceback

    global _partial_path
    _partial_path = result_path
    ctx = json.loads(Path(ctx_path).read_text())
    ctx["budget"] = float(os.environ.get("GPU_REPORT_SECTION_BUDGET", "60"))
    gt.configure_backends()
    t0 = time.perf_counter()
    try:
        if name != "build":  # the build section is what finds out which kernels are usable
            _disable_unusable(ctx)
        result = dict(ok=True, **SECTIONS[name](ctx))
    except Exception as e:  # noqa: BLE001 -- recorded; the report goes on
        result = dict(ok=False, error=f"{type(e).__name__}: {e}"[:1000], traceback=traceback.format_exc()[-3000:])
    result["seconds"] = time.perf_counter() - t0
    gt.write_json(result_path, result)
    return 0 if result["ok"] else 1


# ----------------------------------------------------------------------------------------------------------
# The orchestrator


def run_limited(cmd: list[str], env: dict, limit: float) -> tuple[int | None, str]:
    """(exit code or None when killed at ``limit`` seconds, output tail). The command runs in its own process
    group, so that a kill also ends what it started (a compiler, a pytest run), and nothing else."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit)
        return proc.returncode, out[-2000:]
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return None, (out or "")[-2000:]


class Runner:
    """Starts sections as processes within the run's budget; records what each returned, or why not."""

    def __init__(self, ctx: dict, budget_s: float, rehearsal: bool, log):
        self.ctx, self.rehearsal, self.log = ctx, rehearsal, log
        self.deadline = time.monotonic() + budget_s - RESERVE_S
        # A larger --budget than the default (a slow or loaded machine) stretches every section's limit alike.
        self.scale = max(1.0, budget_s / DEFAULT_BUDGET[rehearsal])
        self.sections: dict[str, dict] = {}
        self.ctx_path = os.path.join(ctx["work"], "ctx.json")
        gt.write_json(self.ctx_path, ctx)

    def limit(self, name: str) -> float:
        return min(LIMITS[name][1 if self.rehearsal else 0] * self.scale, self.deadline - time.monotonic())

    def run(self, name: str, cmd: list[str], limit: float | None = None) -> dict:
        try:
            return self._run(name, cmd, limit)
        except Exception as e:  # noqa: BLE001 -- a broken section never stops the report
            self.sections[name] = dict(ok=False, status=f"failed to run: {type(e).__name__}: {e}")
            return self.sections[name]

    def _run(self, name: str, cmd: list[str], limit: float | None = None) -> dict:
        limit = self.limit(name) if limit is None else limit
        result_path = os.path.join(self.ctx["work"], f"{name}.json")
        if limit < 5:
            rec = dict(ok=False, status="not run: the report's time budget was spent")
        else:
            env = dict(os.environ, GPU_REPORT_SECTION_BUDGET=str(max(limit - 15, limit * 0.6)), PYTHONUNBUFFERED="1",
                       ALIASFREE_OPS_STRICT="1")  # a fused timing must never time a fallback
            t0 = time.perf_counter()
            rc, tail = run_limited(cmd, env, limit)
            wall = time.perf_counter() - t0
            if rc is None and os.path.exists(result_path + ".partial"):
                rec = json.loads(Path(result_path + ".partial").read_text())
                rec["status"] = f"partial: killed after its {limit:.0f} s limit, rows so far kept"
            elif rc is None:
                rec = dict(ok=False, status=f"killed after its {limit:.0f} s limit", tail=tail)
            elif os.path.exists(result_path):
                rec = json.loads(Path(result_path).read_text())
                rec["status"] = "ok" if rec.get("ok") else f"failed: {rec.get('error', '')[:300]}"
                if rec.get("skipped"):
                    rec["status"] = f"skipped: {rec['skipped']}"
                elif rec.get("incomplete"):
                    rec["status"] = f"partial: {rec['incomplete']}"
            else:
                rec = dict(ok=False, status=f"failed: exit code {rc}, no result", tail=tail)
            rec["wall_s"] = wall
        self.sections[name] = rec
        self.log(f"gpu-report: {name:20s} {rec['status'][:100]} ({rec.get('wall_s', 0):.0f} s)")
        return rec

    def ours(self, name: str, limit: float | None = None) -> dict:
        return self.run(name, [sys.executable, "-m", "benchmarks.gpu_report", "--section", name, "--ctx",
                               self.ctx_path, "--result", os.path.join(self.ctx["work"], f"{name}.json")], limit)

    def nvlabs(self, command: str, limit: float | None = None) -> dict:
        c = self.ctx
        cmd = [sys.executable, str(BENCH / "nvlabs_side.py"), command, "--nvlabs", c["nvlabs"], "--out",
               os.path.join(c["work"], f"nv_{command}.json"), "--pickles", c["nvlabs_pickles"], "--outdir",
               c["work"], "--device", c["device"], "--repeats", str(c["repeats"])] + (["--tiny"] if c["tiny"] else [])
        rec = self.run(f"nv_{command}", cmd + ["--budget", str(max((limit or self.limit(f"nv_{command}")) - 15, 5))],
                       limit)
        return rec


def _orchestrate(args, device: torch.device, out_dir: Path, log) -> dict:
    tiny = args.cpu_rehearsal
    work = tempfile.mkdtemp(prefix="gpu-report-")
    nets = gt.nets(tiny)
    ctx = dict(device=str(device), tiny=tiny, work=work, repeats=1 if tiny else 5, warmup=0 if tiny else 1,
               batches=gt.batches(tiny), compile_backend="eager" if tiny else "inductor",
               nvlabs=os.path.abspath(args.nvlabs) if args.nvlabs else None)
    if args.nvlabs:
        ctx["nvlabs_pickles"] = os.path.join(ctx["nvlabs"], "gpu-report-pickles" + ("-tiny" if tiny else ""))
        ctx["pickles"] = {n: os.path.join(ctx["nvlabs_pickles"], f"{n}.pkl") for n in nets}
    else:
        ctx["pickles"] = {n: os.path.join(work, f"{n}.pkl") for n in nets}
    runner = Runner(ctx, args.budget, tiny, log)
    t0 = time.monotonic()
    if args.nvlabs:  # NVlabs' pickles and kernel build run beside our build (all CPU work)
        side = threading.Thread(target=lambda: (runner.nvlabs("pickles"), runner.nvlabs("build")))
        side.start()
        runner.ours("build")
        side.join()
    else:
        runner.ours("pickles")
        runner.ours("build")
    ops = runner.sections["build"].get("ops") or {}
    ctx["usable"] = sorted(op for op, o in ops.items() if o.get("usable"))
    ctx["all_ops"] = sorted(ops)
    gt.write_json(runner.ctx_path, ctx)
    pickles_ok = runner.sections.get("nv_pickles" if args.nvlabs else "pickles", {}).get("ok")
    nv_build = runner.sections.get("nv_build", {})
    nv_kernels_ok = nv_build.get("skipped") or all(v.get("ok") for v in nv_build.values() if isinstance(v, dict))
    for name in PLAN:
        if (name.startswith("nv_") and not args.nvlabs) or (args.only and name not in args.only):
            continue
        if name != "parity" and not pickles_ok:
            runner.sections[name] = dict(ok=False, status="not run: no pickles")
            continue
        if name.startswith("nv_") and not (nv_build.get("ok") and nv_kernels_ok):
            runner.sections[name] = dict(ok=False, status="not run: NVlabs' kernels did not build (see nv_build)")
            continue
        if name.startswith("nv_"):
            runner.nvlabs(name[3:])
        else:
            runner.ours(name)
    report = dict(format="gpu-report/1", rehearsal=tiny, device=gt.device_info(device), batches=ctx["batches"],
                  fused_kernels_usable=ctx["usable"],
                  nvlabs=ctx["nvlabs"], budget_s=args.budget, wall_s=time.monotonic() - t0, sizes=nets,
                  sections=runner.sections, cross_check=_cross_check(work, nets, bool(args.nvlabs)))
    report["targets"] = evaluate_targets(report)
    return report


def _cross_check(work: str, nets: dict, with_nvlabs: bool) -> dict:
    """Max |difference| of the batch-1 float32 images: ours (eager, fused) against NVlabs' on the same pickle."""
    out = {}
    for name in nets:
        imgs = {}
        for who in ("eager", "fused", "nvlabs"):
            p = os.path.join(work, f"img-{name}-{who}.pt")
            if os.path.exists(p):
                imgs[who] = torch.load(p, weights_only=True)["img"]
        row = {}
        for who in ("eager", "fused"):
            if who in imgs and "nvlabs" in imgs and imgs[who].shape == imgs["nvlabs"].shape:
                row[f"{who}_vs_nvlabs_max_abs"] = float((imgs[who] - imgs["nvlabs"]).abs().max())
        if row or (with_nvlabs and imgs):
            out[name] = row
    return out


# ----------------------------------------------------------------------------------------------------------
# Targets and the Markdown report


def _rows(report: dict, section: str) -> list[dict]:
    return report["sections"].get(section, {}).get("rows", []) or []


def evaluate_targets(report: dict) -> list[dict]:
    """The GPU targets, each PASS / FAIL / n/a with the figures it was judged on."""
    targets = []

    def add(name, ok, detail):
        if report["rehearsal"]:
            ok, detail = None, "rehearsal: tiny sizes on the CPU judge nothing"
        targets.append(dict(target=name, result="n/a" if ok is None else ("PASS" if ok else "FAIL"), detail=detail))

    layers = [r for r in _rows(report, "layers") if r["dtype"] == "float32" and "fused_ms" in r]
    if layers:
        f, e = sum(r["fused_ms"] for r in layers), sum(r["eager_ms"] for r in layers)
        fm = max(r["fused_peak_mib"] or 0 for r in layers)
        em = max(r["eager_peak_mib"] or 0 for r in layers)
        add("fused filtered_lrelu >= 5x faster than eager over the SG3-T-1024 layers, less memory",
            f * 5 <= e and fm <= em, f"sum fused {f:.2f} ms, eager {e:.2f} ms ({e / f:.1f}x); peak {fm:.0f} vs "
            f"{em:.0f} MiB")
    else:
        add("fused filtered_lrelu >= 5x faster than eager over the SG3-T-1024 layers, less memory", None,
            "no fused timings")
    parity = report["sections"].get("parity", {})
    if parity.get("tests") and not parity.get("skipped"):
        add("parity suite passes with no fallback", parity.get("failures", 1) + parity.get("errors", 1) == 0,
            f"{parity.get('passed')} passed, {parity.get('failures')} failed, {parity.get('errors')} errors")
    else:
        add("parity suite passes with no fallback", None, parity.get("status", "not run"))
    checks = report["sections"].get("generators", {}).get("checks", {})
    if checks:
        worst = max(c["fused_vs_eager_max_abs"] for c in checks.values())
        add("whole generators: fused vs eager <= 1e-4 max abs", worst <= 1e-4, f"worst {worst:.3g}")
    else:
        add("whole generators: fused vs eager <= 1e-4 max abs", None, "no fused images")
    nv = {(r["net"], r["batch"]): r for r in _rows(report, "nv_generators") if r["precision"] == "fp32"}
    ours = {(r["net"], r["batch"]): r for r in _rows(report, "generators") if r["precision"] == "fp32"}
    comp = {(r["net"], r["batch"]): r for r in _rows(report, "generators_compile")}
    for net in ("sg3t-1024", "sg3r-1024"):
        key = (net, max(report["batches"]))
        o, n, c = ours.get(key, {}), nv.get(key, {}), comp.get(key, {})
        best_ours = max(o.get("fused_images_per_s", 0), o.get("eager_images_per_s", 0),
                        c.get("compiled_images_per_s", 0))
        no_toolchain = max(o.get("eager_images_per_s", 0), c.get("compiled_images_per_s", 0))
        nvr = n.get("images_per_s")
        add(f"{net} batch {key[1]} fp32: our best path >= NVlabs' images/s", None if not (nvr and best_ours) else
            best_ours >= nvr, f"ours {best_ours:.2f}, NVlabs {nvr or 0:.2f} images/s")
        add(f"{net} batch {key[1]} fp32: eager or torch.compile within 1.5x of NVlabs", None
            if not (nvr and no_toolchain) else no_toolchain * 1.5 >= nvr,
            f"no-toolchain {no_toolchain:.2f}, NVlabs {nvr or 0:.2f} images/s")
    tr, ntr = report["sections"].get("train", {}), report["sections"].get("nv_train", {})
    ours_kimg = min([tr[p]["s_per_kimg"] for p in ("fused", "eager") if isinstance(tr.get(p), dict)] or [0])
    nv_kimg = ntr.get("s_per_kimg")
    add("stylegan3-t-256 training step: ours s/kimg <= NVlabs'", None if not (ours_kimg and nv_kimg)
        else ours_kimg <= nv_kimg, f"ours {ours_kimg:.3g}, NVlabs {nv_kimg or 0:.3g} s/kimg")
    return targets


def _f(v, fmt=".2f") -> str:
    if v is None or v == "":
        return "-"
    return format(v, fmt) if isinstance(v, float) else str(v)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def render_markdown(report: dict) -> str:
    d, S = report["device"], report["sections"]
    md = [f"# GPU report{' (CPU REHEARSAL: tiny sizes, no figure here means anything)' if report['rehearsal'] else ''}",
          "", f"{d.get('gpu', d['device'])}, torch {d['torch']}, CUDA {d['cuda']}, Python {d['python']}; "
          f"{timing.describe(d) if 'machine' in d else ''}; "
          f"NVlabs checkout: {report['nvlabs'] or 'none'}; wall {report['wall_s']:.0f} s of a "
          f"{report['budget_s']:.0f} s budget. Kernels usable (built and self-checked): "
          f"{', '.join(report.get('fused_kernels_usable') or []) or 'none'}; 'fused' below means those, with the "
          "PyTorch path for any other op.", "", "## Sections", ""]
    md += _table(["section", "status", "s"], [[k, v.get("status", "")[:150].replace("|", "/"),
                                               _f(v.get("wall_s"), ".0f")]
                                              for k, v in S.items()])
    md += ["## Targets", ""]
    md += _table(["target", "result", "figures"], [[t["target"], t["result"], t["detail"]] for t in report["targets"]])
    b, nb = S.get("build", {}), S.get("nv_build", {})
    rows = []
    for op in ("bias_act", "upfirdn2d", "filtered_lrelu"):
        o, n = (b.get("ops") or {}).get(op, {}), nb.get(op, {}) if isinstance(nb.get(op), dict) else {}
        nv_status = "ok" if n.get("ok") else (n.get("error") or nb.get("status", "-"))[:80]
        rows.append([op, _f(o.get("build_s"), ".1f"), o.get("status", b.get("status", "-")),
                     _f(o.get("self_check_s"), ".3f"), _f(n.get("seconds"), ".1f"), nv_status])
    md += ["## Kernel builds", ""] + _table(["op", "ours build s", "ours status", "self-check s", "NVlabs build s",
                                              "NVlabs"], rows)
    p = S.get("parity", {})
    md += ["## Parity suite (strict: a fallback fails)", "", f"{_f(p.get('passed'))} passed, {_f(p.get('failures'))} "
           f"failed, {_f(p.get('errors'))} errors, {_f(p.get('skipped'))} skipped.", ""]
    md += [f"- {f}" for f in p.get("failed", [])] + ([""] if p.get("failed") else [])
    nvl = {(r["layer"], r["batch"], r["dtype"]): r for r in _rows(report, "nv_layers")}
    cl = {(r["layer"], r["batch"], r["dtype"]): r for r in _rows(report, "layers_compile")}
    rows = []
    for r in _rows(report, "layers"):
        k = (r["layer"], r["batch"], r["dtype"])
        n, c = nvl.get(k, {}), cl.get(k, {})
        sp = r["eager_ms"] / r["fused_ms"] if r.get("fused_ms") else None
        rows.append([r["layer"], r["batch"], r["dtype"], _f(r.get("fused_ms"), ".3f"), _f(r.get("eager_ms"), ".3f"),
                     _f(c.get("compiled_ms"), ".3f"), _f(n.get("ms"), ".3f"), _f(sp, ".1f"),
                     f"{_f(r.get('fused_peak_mib'), '.0f')}/{_f(r.get('eager_peak_mib'), '.0f')}/"
                     f"{_f(n.get('peak_mib'), '.0f')}", _f(r.get("fused_rel_err"), ".1e")])
    md += ["## filtered_lrelu at every SG3-T-1024 layer (ms, median)", ""]
    md += _table(["layer", "batch", "dtype", "fused", "eager", "compiled", "NVlabs", "eager/fused",
                  "peak MiB fused/eager/NVlabs", "fused rel err"], rows)
    nvg = {(r["net"], r["batch"]): r for r in _rows(report, "nv_generators") if r["precision"] == "fp32"}
    nvh = {(r["net"], r["batch"]): r for r in _rows(report, "nv_generators") if r["precision"] != "fp32"}
    cg = {(r["net"], r["batch"]): r for r in _rows(report, "generators_compile")}
    rows = []
    for r in _rows(report, "generators"):
        k = (r["net"], r["batch"])
        nv = (nvg if r["precision"] == "fp32" else nvh).get(k, {})
        c = cg.get(k, {}) if r["precision"] == "fp32" else {}
        rows.append([r["net"], r["batch"], r["precision"], _f(r.get("fused_images_per_s")),
                     _f(r.get("eager_images_per_s")), _f(c.get("compiled_images_per_s")), _f(nv.get("images_per_s")),
                     _f(c.get("compile_first_call_s"), ".0f")])
    md += ["## Whole G forward (images/s; NVlabs' row beside fp16-autocast is its own fp16 layers)", ""]
    md += _table(["net", "batch", "precision", "fused", "eager", "compiled", "NVlabs", "compile s"], rows)
    checks = S.get("generators", {}).get("checks", {})
    cc = report.get("cross_check", {})
    rows = [[n, _f(checks.get(n, {}).get("fused_vs_eager_max_abs"), ".2e"),
             _f(cc.get(n, {}).get("eager_vs_nvlabs_max_abs"), ".2e"),
             _f(cc.get(n, {}).get("fused_vs_nvlabs_max_abs"), ".2e")]
            for n in report["sizes"]]
    md += ["## Same pickle, same z, batch 1, float32: max |difference| of the images", ""]
    md += _table(["net", "fused vs eager", "eager vs NVlabs", "fused vs NVlabs"], rows)
    tr, ntr = S.get("train", {}), S.get("nv_train", {})
    rows = [[who, _f(v.get("s_per_kimg"), ".3g"), _f(v.get("step_s"), ".3f"), v.get("batch", "-"), v.get("steps", "-")]
            for who, v in (("ours fused", tr.get("fused") or {}), ("ours eager", tr.get("eager") or {}),
                           ("NVlabs", ntr if ntr.get("ok") else {}))]
    md += ["## Training step, stylegan3-t-256 (Gmain + Dmain + G_ema, Dreg amortized over 16)", ""]
    md += _table(["path", "s/kimg", "s/step", "batch", "steps"], rows)
    md += ["## Visualizer renderer, SG3-T-1024 (ms/frame, median)", ""]
    md += _table(["path", "precision", "ms/frame", "frames", "error"],
                 [[r["path"], r["precision"], _f(r.get("ms_per_frame"), ".1f"), r["frames"], r.get("error", "")]
                  for r in _rows(report, "renderer")])
    return "\n".join(md) + "\n"


def out_dir_default() -> Path:
    return Path(os.environ["OUT"]) if os.environ.get("OUT") else REPO / "renders"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-rehearsal", action="store_true", help="run every step that runs without CUDA, tiny")
    parser.add_argument("--nvlabs", metavar="DIR", help="a checkout of NVlabs/stylegan3 to compare with")
    parser.add_argument("--out", metavar="DIR", help="where the report goes (default: $OUT, else renders/)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for the whole run (default 450 on a GPU, 110 in the rehearsal)")
    parser.add_argument("--only", type=lambda v: [n for n in v.split(",") if n], default=None,
                        metavar="A,B", help=f"run only these of {','.join(PLAN)} (after the pickles and builds)")
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--ctx", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only and set(args.only) - set(PLAN):
        parser.error(f"--only: unknown sections {sorted(set(args.only) - set(PLAN))}; choose from {PLAN}")
    if args.section:
        return run_section_here(args.section, args.ctx, args.result)
    if args.nvlabs and not (Path(args.nvlabs) / "training" / "networks_stylegan3.py").exists():
        print(f"gpu-report: {args.nvlabs} is not a checkout of NVlabs/stylegan3 (no training/networks_stylegan3.py)")
        return 2
    cuda = torch.cuda.is_available()
    if not cuda and not args.cpu_rehearsal:
        print(f"gpu-report: no CUDA device here (torch {torch.__version__}), nothing to measure; "
              "--cpu-rehearsal rehearses the run on the CPU")
        return 0
    device = torch.device("cpu") if args.cpu_rehearsal else torch.device("cuda")
    if args.budget is None:
        args.budget = DEFAULT_BUDGET[args.cpu_rehearsal]
    out_dir = Path(args.out) if args.out else out_dir_default()
    out_dir.mkdir(parents=True, exist_ok=True)
    report = _orchestrate(args, device, out_dir, lambda line: print(line, flush=True))
    gt.write_json(str(out_dir / "gpu-report.json"), report)
    (out_dir / "gpu-report.md").write_text(render_markdown(report))
    print(f"gpu-report: wrote {out_dir / 'gpu-report.md'} and gpu-report.json ({report['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
