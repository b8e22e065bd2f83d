"""GPU report: builds and checks the fused kernels, then times every GPU path against NVlabs' on the same card.

    make gpu-report [ARGS="--nvlabs nvlabs"]          # on a CUDA machine: at most ~8 minutes
    make gpu-report ARGS=--cpu-rehearsal              # every step that runs without CUDA, tiny sizes, < 2 min

Writes ``gpu-report.json`` and ``gpu-report.md`` into ``$OUT`` when set, else ``renders/``. Without CUDA and
without ``--cpu-rehearsal`` it prints one line and exits 0.

Sections, each in its own process with its own time limit (a section that fails or hangs is recorded and the
report is still written; the whole run stops starting sections when ``--budget`` seconds are spent). In the
order they run, what the targets need first:

  build        our kernels built (the three ops in parallel, with NVlabs' build beside them), build seconds,
               then each op's self-check on this GPU
  generators   the targets' configurations: SG3-T/R at 1024, batch 8, float32, whole G forward, images/s, fused
               and eager (then NVlabs'); and their batch-1 float32 images, fused vs eager
  train        one stylegan3-t-256 batch-32 training step (s/kimg): ours fused, ours eager (then NVlabs')
  parity       tests/ops/test_cuda_parity.py with ALIASFREE_OPS_STRICT=1: a fallback to the PyTorch path fails
  layers       filtered_lrelu at every SG3-T-1024 layer, batch 1 and 8, float32 (+ float16 in the layers the
               network runs in fp16): ms and peak memory, fused kernels vs our eager PyTorch path (then NVlabs')
  generators_more
               every other configuration: batch 1, fp16 autocast (NVlabs: its own fp16 layers), SG3-T/R at 256,
               SG2 at 1024 (then NVlabs')
  renderer     the visualizer renderer's ms/frame on SG3-T-1024 (fused / eager, float32 / float16)
  generators_compile, layers_compile
               the eager path under torch.compile (last: the compiler's first run is slow)

Each section's process is started ahead, while the section before it runs, and waits with its imports done
(torch, the network code): a section's clock starts at its own work. Every section reports its phases as it
goes (loading a pickle, each warm-up, each timed configuration): printed with their seconds, streamed to the
run's output, and kept with the rows so far in a partial result, so that a section killed at its limit still
says what it did and what it was in the middle of ("Where the time went" in the report). cuDNN autotuning is
off on both sides unless ``--cudnn-benchmark`` (it runs once per new convolution shape, and every configuration
brings new shapes); TF32 is off on both sides.

Within a section the paths of one configuration (fused, eager) are timed interleaved after their warm-up
(``benchmarks/timing.py``: medians, with the load average beside each row; the report's header names the commit,
CPU and cores).

NVlabs' side (``--nvlabs DIR``, a git-ignored checkout of NVlabs/stylegan3) runs in ``nvlabs_side.py``: it
writes NVlabs-format pickles with NVlabs' own classes into DIR/gpu-report-pickles, and both sides load those.
Without ``--nvlabs`` our side writes the same networks with our classes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import torch

from benchmarks import gpu_timing as gt
from benchmarks import timing

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
# (section, seconds on a GPU, seconds in the rehearsal): each section's most. The sections the targets need come
# first and their limits fit the budget together with the builds (ours ~75 s, NVlabs' beside it); what is left
# goes to the nice-to-haves. The limits are cut to what is left of --budget, so a run never passes it.
LIMITS = {
    "pickles": (90, 30), "nv_pickles": (120, 30), "build": (240, 20), "nv_build": (240, 15),
    "generators": (60, 20), "nv_generators": (45, 20), "train": (60, 20), "nv_train": (45, 20),
    "parity": (60, 40), "layers": (40, 15), "nv_layers": (30, 15),
    "generators_more": (50, 20), "nv_generators_more": (40, 20), "renderer": (30, 15),
    "generators_compile": (120, 25), "layers_compile": (40, 20),
}
RESERVE_S = 10  # kept back from --budget for writing the report
DEFAULT_BUDGET = {False: 450.0, True: 110.0}  # seconds of a GPU run (<= 8 minutes in all), of the rehearsal
PER_CONFIG_S = 1.0  # repeats of one timed configuration stop after this long (at least one run)
# The order sections run in after the builds: what the targets need first (images/s of the 1024 nets at batch 8,
# the training step, the parity suite, the layers), then the nice-to-haves, the compiler's slow first runs last.
PLAN = ["generators", "nv_generators", "train", "nv_train", "parity", "layers", "nv_layers", "generators_more",
        "nv_generators_more", "renderer", "generators_compile", "layers_compile"]
NV_COMMANDS = {"generators": ["generators", "--part", "targets"], "generators_more": ["generators", "--part", "more"]}
OPS = ("bias_act", "upfirdn2d", "filtered_lrelu")  # the kernels, ours and NVlabs'

_partial_path: str | None = None  # set in a section's process: where checkpoint() writes
_partial_data: dict = {}  # what the section checkpointed last
PROGRESS: gt.Progress | None = None  # set in a section's process: its phases


def checkpoint(**data) -> None:
    """Keeps what a section has so far and writes it with the phases, so that a section killed at its time limit
    still reports its rows, what it did, how long each phase took and what it was in the middle of."""
    _partial_data.update(data)
    _write_partial()


def _write_partial() -> None:
    if _partial_path:
        state = PROGRESS.state() if PROGRESS is not None else {}
        gt.write_json(_partial_path + ".partial", dict(ok=True, incomplete="killed at its time limit",
                                                       **_partial_data, **state))


def phase(what: str):
    """A phase of the running section: printed when it starts and ends, kept with its seconds."""
    return PROGRESS.phase(what) if PROGRESS is not None else contextlib.nullcontext()


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).split(".")[-1]


# ----------------------------------------------------------------------------------------------------------
# Our sections (each runs in its own process: python -m benchmarks.gpu_report --section NAME --ctx FILE)


def _load(ctx: dict, name: str, device: torch.device) -> dict:
    from networks import load_network_pkl

    with phase(f"load {name} to {device.type}"):
        data = load_network_pkl(ctx["pickles"][name], device=device)
        gt.sync(device)
    return data


def section_pickles(ctx: dict) -> dict:
    """Our own classes' pickles of the same specs (used when no NVlabs checkout is given)."""
    from networks import save_network_pkl, stylegan2, stylegan3

    out = {}
    for i, (name, spec) in enumerate(gt.nets(ctx["tiny"]).items()):
        with phase(f"construct and write {name}"):
            torch.manual_seed(i)
            cls = stylegan3.Generator if spec["kind"] == "sg3" else stylegan2.Generator
            G = cls(**gt.generator_kwargs(spec, gt.z_dim(ctx["tiny"]))).eval()
            data = dict(G=G, G_ema=G)
            if name == gt.TRAIN_NET:
                data["D"] = stylegan2.Discriminator(**gt.discriminator_kwargs(spec)).eval()
            save_network_pkl(ctx["pickles"][name], data)
        out[name] = dict(params=sum(p.numel() for p in G.parameters()))
        checkpoint(**out)
    return out


def _build_one(op: str) -> None:
    from ops.cuda import build

    build.build_extension(op)


def _build_all(ops: list[str], result: dict) -> None:
    """Compiles ``ops`` side by side, one process each, into the kernel cache: result['ops'][op] gets each one's
    build seconds, exit code and, when it failed, its log's tail."""
    procs = {op: (subprocess.Popen([sys.executable, "-c", f"from benchmarks.gpu_report import _build_one; "
                                    f"_build_one({op!r})"], cwd=REPO, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True), time.perf_counter())
             for op in ops}
    for op, (proc, start) in procs.items():
        log, _ = proc.communicate()
        result["ops"][op] = dict(build_s=time.perf_counter() - start, rc=proc.returncode,
                                 log_tail=log[-800:] if proc.returncode else "")
        checkpoint(**result)


def section_build(ctx: dict) -> dict:
    """Our three ops compiled side by side (one process each), then loaded here with each op's self-check on
    this GPU: what decides which kernels the later sections time as 'fused'."""
    from ops.cuda import build

    try:
        arch, nvcc = build.check_environment()
    except build.CudaUnavailable as e:
        return dict(skipped=f"kernels not built: {e}")
    result = dict(arch=arch, nvcc=nvcc, ops={})
    t0 = time.perf_counter()
    with phase(f"build {', '.join(build.OPS)} side by side"):
        _build_all(list(build.OPS), result)
    result["build_wall_s"] = time.perf_counter() - t0
    for op in build.OPS:  # loads from the cache just filled, then the self-check on this GPU
        t1 = time.perf_counter()
        kernel = build.KERNELS[op]
        with phase(f"load and self-check {op}"):
            usable = kernel.get() is not None
        result["ops"][op].update(usable=usable, status=kernel.status_text(),
                                 load_and_check_s=time.perf_counter() - t1, self_check_s=kernel.check_seconds)
        checkpoint(**result)
    unusable = [op for op in build.OPS if not result["ops"][op]["usable"]]
    if unusable:  # the section ran; the report's Sections table should still not say 'ok'
        result["incomplete"] = f"not usable: {', '.join(unusable)} (see Kernel builds)"
    return result


def section_parity(ctx: dict) -> dict:
    xml = os.path.join(ctx["work"], "parity.xml")
    env = dict(os.environ, ALIASFREE_OPS_STRICT="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/ops/test_cuda_parity.py",
           f"--junitxml={xml}", "--timeout=120", "--durations=5"]
    with phase("pytest tests/ops/test_cuda_parity.py"):
        rc, tail = run_limited(cmd, env, ctx["budget"], echo=lambda line: print(line, flush=True))
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
    rows: list[dict] = []
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
                row = dict(layer=name, batch=batch, dtype=_dtype_name(dtype), up=L.up_factor, down=L.down_factor)
                with phase(f"{name} batch {batch} {row['dtype']}"):
                    _time_layer(ctx, row, L, batch, device, dtype, filtered_lrelu, compiled)
                rows.append(row)
                checkpoint(rows=rows)
    return dict(rows=rows)


def _time_layer(ctx: dict, row: dict, L, batch: int, device: torch.device, dtype: torch.dtype, filtered_lrelu,
                compiled: bool) -> None:
    """One row of the layers sections: each path's first call (its warm-up; the compiler's first run), then the
    paths that ran, interleaved, their peak memory, and the fused output's error against the eager one."""
    x = gt.layer_input(L, batch, device, dtype)
    kw = gt.layer_kwargs(L)
    kw["b"] = kw["b"].to(dtype)
    row.update(size=list(x.shape[2:]), channels=int(x.shape[1]))
    if compiled:
        fn = torch.compile(functools.partial(filtered_lrelu, impl="torch"), backend=ctx["compile_backend"],
                           dynamic=False)
        runs = {"compiled": lambda: fn(x, **kw)}
    else:
        runs = {impl: (lambda impl=impl: filtered_lrelu(x, **kw, impl=_impl(ctx, impl)))
                for impl in _impls(ctx, "filtered_lrelu")}
    outs, live = {}, {}
    for path, run in runs.items():
        def first(path=path, run=run):  # the output for the check below (and the compiler's first run)
            with torch.no_grad():
                t0 = time.perf_counter()
                out = run()
                gt.sync(device)
                row[f"{path}_first_s"] = time.perf_counter() - t0
                if compiled:
                    row["compile_first_call_s"] = row[f"{path}_first_s"]
                return out

        out = _attempt(row, path, first)
        if out is not None:
            outs[path], live[path] = out, run

    def measure():
        with torch.no_grad():  # the paths that ran, interleaved (benchmarks/timing.py); the first call warmed up
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


def _autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16-autocast" else torch.bfloat16)


def section_generators(ctx: dict, part: str = "all", compiled: bool = False) -> dict:
    """Images/s of the configurations of ``gpu_timing.generator_plan`` (``part``) on each path, and the batch-1
    float32 images of ``gpu_timing.image_nets`` (the fused-vs-eager check; the cross-check with NVlabs). A net is
    loaded (and compiled) once; the configurations run in the plan's order, the targets' first."""
    from ops import backend

    device = torch.device(ctx["device"])
    deadline = time.monotonic() + ctx["budget"]
    rows: list[dict] = []
    checks: dict = {}
    precisions = ["fp32"] + (["fp16-autocast"] if device.type == "cuda" and not compiled else [])
    plan = gt.generator_plan(ctx["tiny"], part, precisions)
    if compiled and ctx["tiny"]:
        plan = plan[:1]  # the rehearsal only has to trace one
    images = [] if compiled else gt.image_nets(ctx["tiny"], part)
    paths = ["compiled"] if compiled else _impls(ctx)
    nets: dict[str, torch.nn.Module] = {}

    def net(name: str) -> torch.nn.Module:
        if name not in nets:
            nets[name] = _load(ctx, name, device)["G_ema"].eval()
            if compiled:
                nets[name] = torch.compile(nets[name], backend=ctx["compile_backend"], dynamic=False)
        return nets[name]

    def spent() -> dict:
        backend.set_default_impl("auto")
        return dict(rows=rows, checks=checks, incomplete="time budget spent")

    for name in images:  # before the net's timings: the images need one batch-1 call of each path
        if time.monotonic() > deadline:
            return spent()
        checks[name] = _check_images(ctx, name, net(name), device)
        checkpoint(rows=rows, checks=checks)
    for name, batch, precision in plan:
        if time.monotonic() > deadline:
            return spent()
        row = dict(net=name, batch=batch, precision=precision)
        _time_generator(ctx, row, net(name), device, paths, compiled)
        rows.append(row)
        checkpoint(rows=rows, checks=checks)
    backend.set_default_impl("auto")
    return dict(rows=rows, checks=checks)


def _time_generator(ctx: dict, row: dict, G: torch.nn.Module, device: torch.device, paths: list[str],
                    compiled: bool) -> None:
    """One row of the generators sections: each path's first call (its warm-up; the compiler's first run), then
    the paths that ran, interleaved: images/s."""
    from ops import backend

    batch, precision = row["batch"], row["precision"]
    z = gt.fixed_z(batch, gt.z_dim(ctx["tiny"]), device)
    what = f"{row['net']} batch {batch} {precision}"
    live = {}
    for path in paths:
        def run(path=path):
            backend.set_default_impl("torch" if path == "compiled" else _impl(ctx, path))
            with torch.no_grad(), _autocast(device, precision):
                return G(z, None, noise_mode="const")

        def first(path=path, run=run):  # a failing path is left out of the timing
            t0 = time.perf_counter()
            run()
            gt.sync(device)
            row[f"{path}_first_s"] = time.perf_counter() - t0
            if path == "compiled":
                row["compile_first_call_s"] = row[f"{path}_first_s"]
            return run

        with phase(f"{'compile and first call' if compiled else 'warm-up'} {what} {path}"):
            if _attempt(row, path, first) is not None:
                live[path] = run

    def measure():  # interleaved (benchmarks/timing.py); the first call above was each path's warm-up
        times = gt.time_calls(live, device, ctx["repeats"], warmup=max(ctx["warmup"] - 1, 0),
                              budget_s=PER_CONFIG_S * len(live))
        for path in live:
            row[f"{path}_images_per_s"] = batch / times[path]["median_s"]
        row["load"] = times[path]["env"].get("load")

    if live:
        with phase(f"time {what} ({', '.join(live)})"):
            _attempt(row, "+".join(live), measure)


def _check_images(ctx: dict, name: str, G: torch.nn.Module, device: torch.device) -> dict:
    """The batch-1 float32 image of each path (saved for the cross-check with NVlabs): the fused path's max
    |difference| from the eager one, or the errors of the paths that failed."""
    from ops import backend

    imgs: dict = {}
    errors: dict = {}
    for impl in _impls(ctx):
        def image(impl=impl):
            backend.set_default_impl(_impl(ctx, impl))
            with torch.no_grad():
                return G(gt.fixed_z(1, G.z_dim, device), None, noise_mode="const").float().cpu()

        with phase(f"image {name} batch 1 fp32 {impl}"):
            img = _attempt(errors, impl, image)
        if img is not None:
            imgs[impl] = img
            torch.save(dict(img=img), os.path.join(ctx["work"], f"img-{name}-{impl}.pt"))
    backend.set_default_impl("auto")
    if "fused" in imgs and "eager" in imgs:
        errors["fused_vs_eager_max_abs"] = float((imgs["fused"] - imgs["eager"]).abs().max())
    return errors


def section_train(ctx: dict) -> dict:
    """One stylegan3-t-256 training step per path (``gpu_timing.training_step_s_per_kimg``), the fused path
    first; the pickle is loaded once and each path trains its own copy."""
    import copy

    from ops import backend
    from training.loss import StyleGAN2Loss

    device = torch.device(ctx["device"])
    batch = gt.train_batch(ctx["tiny"])
    result: dict = {}
    start = time.monotonic()
    data = _load(ctx, gt.TRAIN_NET, device)
    for path in _impls(ctx):
        backend.set_default_impl(_impl(ctx, path))

        def measure(path=path):
            with phase(f"{path}: copy G, D and G_ema, set up the loss"):
                G, D = copy.deepcopy(data["G"]).train(), copy.deepcopy(data["D"]).train()
                G_ema = copy.deepcopy(G).eval()
                loss = StyleGAN2Loss(device, G=G, D=D, augment_pipe=None, r1_gamma=2, style_mixing_prob=0,
                                     pl_weight=0, blur_init_sigma=0, blur_fade_kimg=0)
            budget = (ctx["budget"] - (time.monotonic() - start)) / 2.5
            return gt.training_step_s_per_kimg(loss, G, D, G_ema, batch, device, steps=ctx["repeats"],
                                               budget_s=budget, warmup=ctx["warmup"] and 1, progress=PROGRESS,
                                               label=f"{path}: ")

        errors: dict = {}
        result[path] = _attempt(errors, "train", measure) or {"error": errors.get("train_error")}
        checkpoint(**result)
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
    with phase("construct the renderer"):
        renderer = Renderer()
    rows: list[dict] = []
    for path in _impls(ctx):
        backend.set_default_impl(_impl(ctx, path))
        for precision in ["float32"] + (["float16"] if device.type == "cuda" else []):
            if time.monotonic() > deadline:
                backend.set_default_impl("auto")
                return dict(rows=rows, incomplete="time budget spent")
            base = RenderArgs(pkl=ctx["pickles"][gt.LAYERS_NET], device=ctx["device"], precision=precision)
            with phase(f"{path} {precision}: first frame (loads the network)"):
                times, error = [], renderer.render(base).error
            with phase(f"{path} {precision}: frames"):
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
            checkpoint(rows=rows)
    backend.set_default_impl("auto")
    return dict(rows=rows)


SECTIONS = {
    "pickles": section_pickles, "build": section_build, "parity": section_parity, "layers": section_layers,
    "generators": functools.partial(section_generators, part="targets"),
    "generators_more": functools.partial(section_generators, part="more"),
    "train": section_train, "renderer": section_renderer,
    "layers_compile": functools.partial(section_layers, compiled=True),
    "generators_compile": functools.partial(section_generators, part="all", compiled=True),
}


def _preload() -> None:
    """What our sections import, loaded by a standby process while the section before it runs: the network and
    op modules, and what torch imports on the first operation on the meta device (the pickle loader builds on
    it to check an architecture; over a second the first time)."""
    import networks.stylegan2  # noqa: F401
    import networks.stylegan3  # noqa: F401
    import ops.filtered_lrelu  # noqa: F401

    with torch.device("meta"):
        torch.ones(2).square()


def run_section_here(name: str, ctx_path: str, result_path: str) -> int:
    """The body of one section's process: runs it and writes its result (or its error) as JSON, with its
    phases; while it runs, ``checkpoint`` keeps a partial result beside it."""
    import traceback

    global _partial_path, PROGRESS
    _partial_path = result_path
    PROGRESS = gt.Progress(name, on_change=_write_partial)
    ctx = json.loads(Path(ctx_path).read_text())
    ctx["budget"] = float(os.environ.get("GPU_REPORT_SECTION_BUDGET", "60"))
    gt.configure_backends(ctx.get("cudnn_benchmark", False))
    # TF32 is off on purpose (the comparison is float32): the compiler's advice to turn it on is noise here.
    warnings.filterwarnings("ignore", message=".*TensorFloat32 tensor cores.*")
    t0 = time.perf_counter()
    try:
        if name != "build":  # the build section is what finds out which kernels are usable
            _disable_unusable(ctx)
        result = dict(ok=True, **SECTIONS[name](ctx))
    except Exception as e:  # noqa: BLE001 -- recorded; the report goes on
        result = dict(ok=False, error=f"{type(e).__name__}: {e}"[:1000], traceback=traceback.format_exc()[-3000:])
    result["seconds"] = time.perf_counter() - t0
    result["backends"] = gt.backend_flags()
    result.update(PROGRESS.state())
    gt.write_json(result_path, result)
    return 0 if result["ok"] else 1


# ----------------------------------------------------------------------------------------------------------
# The orchestrator


def run_limited(cmd: list[str], env: dict, limit: float, echo=None, standby: tuple | None = None
                ) -> tuple[int | None, str]:
    """(exit code or None when killed at ``limit`` seconds, output tail). The command runs in its own process
    group, so that a kill also ends what it started (a compiler, a pytest run), and nothing else. ``echo``: called
    with each line of its output as it comes (the run's own output then shows a section's progress live, and
    still does when the whole run is stopped from outside). ``standby``: (a process waiting in
    ``gpu_timing.serve_standby``, the order to send it), used instead of starting ``cmd`` when it is alive."""
    proc = None
    if standby is not None:
        waiting, order = standby
        try:
            waiting.stdin.write(json.dumps(order) + "\n")
            waiting.stdin.close()
            proc = waiting
        except OSError:  # it died while it waited: start the command afresh
            _end(waiting)
    if proc is None:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    lines: collections.deque[str] = collections.deque(maxlen=200)

    def pump() -> None:
        for line in proc.stdout:
            lines.append(line)
            if echo is not None:
                echo(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        _end(proc)
        rc = None
    reader.join(timeout=5)  # the pipe closes when the group has ended
    return rc, "".join(lines)[-2000:]


def _end(proc: subprocess.Popen) -> None:
    """Kills the process group ``proc`` leads and reaps it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Runner:
    """Starts sections as processes within the run's budget; records what each returned, or why not.

    With ``standby``, the process of the next section of each kind (ours, NVlabs') is started ahead and waits,
    its imports done, while the current one runs (``gpu_timing.serve_standby``); each section still runs in a
    process of its own, and its limit counts from when it is handed its section.
    """

    def __init__(self, ctx: dict, budget_s: float, rehearsal: bool, log, echo=None, standby: bool = False):
        self.ctx, self.rehearsal, self.log, self.echo = ctx, rehearsal, log, echo
        self.deadline = time.monotonic() + budget_s - RESERVE_S
        # A larger --budget than the default (a slow or loaded machine) stretches every section's limit alike.
        self.scale = max(1.0, budget_s / DEFAULT_BUDGET[rehearsal])
        self.sections: dict[str, dict] = {}
        self.ctx_path = os.path.join(ctx["work"], "ctx.json")
        gt.write_json(self.ctx_path, ctx)
        self.standby = standby
        self.kinds_ahead: set[str] | None = None  # the kinds of the sections still to come (None: unknown)
        self._waiting: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()  # NVlabs' pickles and build run in a thread beside our build

    def limit(self, name: str) -> float:
        return min(LIMITS[name][1 if self.rehearsal else 0] * self.scale, self.deadline - time.monotonic())

    @staticmethod
    def env(limit: float | None = None) -> dict:
        env = dict(os.environ, PYTHONUNBUFFERED="1", ALIASFREE_OPS_STRICT="1")  # never time a fallback as fused
        if limit is not None:
            env["GPU_REPORT_SECTION_BUDGET"] = str(max(limit - 15, limit * 0.6))
        return env

    def prepare(self, kind: str) -> None:
        """Starts a standby process of ``kind`` ('ours' or 'nvlabs') unless one waits already."""
        if not self.standby:
            return
        with self._lock:
            if kind in self._waiting:
                return
            cmd = [sys.executable, "-m", "benchmarks.gpu_report", gt.STANDBY] if kind == "ours" else \
                [sys.executable, str(BENCH / "nvlabs_side.py"), gt.STANDBY]
            self._waiting[kind] = subprocess.Popen(cmd, cwd=REPO, env=self.env(), stdin=subprocess.PIPE,
                                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                                   start_new_session=True)

    def _take(self, kind: str) -> subprocess.Popen | None:
        with self._lock:
            proc = self._waiting.pop(kind, None)
        if proc is not None and proc.poll() is not None:  # it ended while it waited
            proc.stdin.close()
            proc.stdout.close()
            return None
        return proc

    def close(self) -> None:
        """Ends the standby processes no section was handed."""
        with self._lock:
            waiting, self._waiting = list(self._waiting.values()), {}
        for proc in waiting:
            try:
                proc.stdin.close()  # end of input: it returns without running anything
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                _end(proc)
            proc.stdout.close()

    def run(self, name: str, cmd: list[str], limit: float | None = None, kind: str | None = None,
            argv_from: int = 0) -> dict:
        """Runs ``cmd`` as section ``name``; with ``kind``, in that kind's standby process when one waits (handed
        ``cmd[argv_from:]``), and the next standby of that kind is started."""
        try:
            return self._run(name, cmd, limit, kind, argv_from)
        except Exception as e:  # noqa: BLE001 -- a broken section never stops the report
            self.sections[name] = dict(ok=False, status=f"failed to run: {type(e).__name__}: {e}")
            return self.sections[name]

    def _run(self, name: str, cmd: list[str], limit: float | None, kind: str | None, argv_from: int) -> dict:
        limit = self.limit(name) if limit is None else limit
        result_path = os.path.join(self.ctx["work"], f"{name}.json")
        if limit < 5:
            rec = dict(ok=False, status="not run: the report's time budget was spent")
        else:
            env = self.env(limit)
            waiting = self._take(kind) if kind else None
            order = dict(argv=cmd[argv_from:], env=dict(GPU_REPORT_SECTION_BUDGET=env["GPU_REPORT_SECTION_BUDGET"]))
            standby = None if waiting is None else (waiting, order)
            t0 = time.perf_counter()
            if kind and (self.kinds_ahead is None or kind in self.kinds_ahead):
                self.prepare(kind)  # the next section of this kind's process, importing while this one runs
            rc, tail = run_limited(cmd, env, limit, self.echo, standby)
            wall = time.perf_counter() - t0
            partial = _read_json(result_path + ".partial")  # the rows and phases a section had so far
            if rc is None and partial is not None:
                rec = dict(partial, status=f"partial: killed after its {limit:.0f} s limit, rows so far kept",
                           tail=tail)
            elif rc is None:
                rec = dict(ok=False, status=f"killed after its {limit:.0f} s limit", tail=tail)
            elif os.path.exists(result_path):
                rec = json.loads(Path(result_path).read_text())
                rec["status"] = "ok" if rec.get("ok") else f"failed: {rec.get('error', '')[:300]}"
                if rec.get("skipped"):
                    rec["status"] = f"skipped: {rec['skipped']}"
                elif rec.get("incomplete"):
                    rec["status"] = f"partial: {rec['incomplete']}"
            else:  # a crash (a CUDA error, the memory killer): what it did before still counts
                rec = dict(partial or {}, ok=False, status=f"failed: exit code {rc}, no result", tail=tail)
            rec["wall_s"] = wall
            rec["started_ahead"] = standby is not None
        self.sections[name] = rec
        self.log(f"gpu-report: {name:20s} {rec['status'][:100]} ({rec.get('wall_s', 0):.0f} s)")
        return rec

    def ours(self, name: str, limit: float | None = None) -> dict:
        return self.run(name, [sys.executable, "-m", "benchmarks.gpu_report", "--section", name, "--ctx",
                               self.ctx_path, "--result", os.path.join(self.ctx["work"], f"{name}.json")], limit,
                        kind="ours", argv_from=3)

    def nvlabs(self, section: str, limit: float | None = None) -> dict:
        """NVlabs' side of ``section`` (nvlabs_side.py in its own process), recorded as nv_<section>."""
        c, name = self.ctx, f"nv_{section}"
        limit = self.limit(name) if limit is None else limit
        cmd = [sys.executable, str(BENCH / "nvlabs_side.py"), *NV_COMMANDS.get(section, [section]), "--nvlabs",
               c["nvlabs"], "--out", os.path.join(c["work"], f"{name}.json"), "--pickles", c["nvlabs_pickles"],
               "--outdir", c["work"], "--device", c["device"], "--repeats", str(c["repeats"]),
               "--budget", str(max(limit - 15, limit * 0.6))]
        cmd += (["--tiny"] if c["tiny"] else []) + (["--cudnn-benchmark"] if c.get("cudnn_benchmark") else [])
        return self.run(name, cmd, limit, kind="nvlabs", argv_from=2)


def _read_json(path: str) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):  # absent, or cut short by a kill while it was written
        return None


def _orchestrate(args, device: torch.device, out_dir: Path, log) -> dict:
    tiny = args.cpu_rehearsal
    work = tempfile.mkdtemp(prefix="gpu-report-")
    nets = gt.nets(tiny)
    ctx = dict(device=str(device), tiny=tiny, work=work, repeats=1 if tiny else 5, warmup=0 if tiny else 1,
               batches=gt.batches(tiny), compile_backend="eager" if tiny else "inductor",
               nvlabs=os.path.abspath(args.nvlabs) if args.nvlabs else None, cudnn_benchmark=args.cudnn_benchmark)
    if args.nvlabs:
        ctx["nvlabs_pickles"] = os.path.join(ctx["nvlabs"], "gpu-report-pickles" + ("-tiny" if tiny else ""))
        ctx["pickles"] = {n: os.path.join(ctx["nvlabs_pickles"], f"{n}.pkl") for n in nets}
    else:
        ctx["pickles"] = {n: os.path.join(work, f"{n}.pkl") for n in nets}
    runner = Runner(ctx, args.budget, tiny, log, echo=log, standby=True)
    try:
        return _run_plan(args, runner, ctx, device, nets, tiny, work)
    finally:
        runner.close()


def _run_plan(args, runner: Runner, ctx: dict, device: torch.device, nets: dict, tiny: bool, work: str) -> dict:
    runner.prepare("ours")
    if args.nvlabs:
        runner.prepare("nvlabs")
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
    todo = [n for n in PLAN if (args.nvlabs or not n.startswith("nv_")) and (not args.only or n in args.only)]
    for i, name in enumerate(todo):
        runner.kinds_ahead = {"nvlabs" if n.startswith("nv_") else "ours" for n in todo[i + 1:]}
        if name != "parity" and not pickles_ok:
            runner.sections[name] = dict(ok=False, status="not run: no pickles")
            continue
        if name.startswith("nv_") and not nvlabs_kernels_built(nv_build):
            runner.sections[name] = dict(ok=False, status="not run: NVlabs' kernels did not build (see nv_build)")
            continue
        if name.startswith("nv_"):
            runner.nvlabs(name[3:])
        else:
            runner.ours(name)
    report = dict(format="gpu-report/1", rehearsal=tiny, device=gt.device_info(device), batches=ctx["batches"],
                  fused_kernels_usable=ctx["usable"], cudnn_benchmark=args.cudnn_benchmark,
                  nvlabs=ctx["nvlabs"], budget_s=args.budget, wall_s=time.monotonic() - t0, sizes=nets,
                  sections=runner.sections, cross_check=_cross_check(work, nets, bool(args.nvlabs)))
    report["targets"] = evaluate_targets(report)
    return report


def nvlabs_kernels_built(nv_build: dict) -> bool:
    """Whether NVlabs' timed sections may run: its build section ran, and either skipped the build (no CUDA:
    their reference ops) or built every op's plugin (their code raises rather than falls back)."""
    return bool(nv_build.get("ok")) and bool(nv_build.get("skipped")
                                             or all((nv_build.get(op) or {}).get("ok") for op in OPS))


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


def _rows(report: dict, *sections: str) -> list[dict]:
    """The rows of these sections, in this order (a generators section and its '_more' one)."""
    return [r for section in sections for r in report["sections"].get(section, {}).get("rows", []) or []]


def _checks(report: dict) -> dict:
    """Per net, the fused-vs-eager image check (or the errors of the paths that failed) of both generators
    sections."""
    S = report["sections"]
    return {**(S.get("generators", {}).get("checks") or {}), **(S.get("generators_more", {}).get("checks") or {})}


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
    diffs = {n: c["fused_vs_eager_max_abs"] for n, c in _checks(report).items() if "fused_vs_eager_max_abs" in c}
    if diffs:
        worst = max(diffs, key=diffs.get)
        add("whole generators: fused vs eager <= 1e-4 max abs", diffs[worst] <= 1e-4,
            f"worst {diffs[worst]:.3g} ({worst}; {len(diffs)} nets)")
    else:
        add("whole generators: fused vs eager <= 1e-4 max abs", None, "no fused images")
    nv = {(r["net"], r["batch"]): r for r in _rows(report, "nv_generators", "nv_generators_more")
          if r["precision"] == "fp32"}
    ours = {(r["net"], r["batch"]): r for r in _rows(report, "generators", "generators_more")
            if r["precision"] == "fp32"}
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
    ours_kimg = min([tr[p]["s_per_kimg"] for p in ("fused", "eager") if (tr.get(p) or {}).get("s_per_kimg")]
                    or [0])
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
          "PyTorch path for any other op. Both sides: TF32 off, cuDNN autotuning "
          f"{'on' if report.get('cudnn_benchmark') else 'off'}.", "", "## Sections", ""]
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
    nv_rows = _rows(report, "nv_generators", "nv_generators_more")
    nvg = {(r["net"], r["batch"]): r for r in nv_rows if r["precision"] == "fp32"}
    nvh = {(r["net"], r["batch"]): r for r in nv_rows if r["precision"] != "fp32"}
    cg = {(r["net"], r["batch"]): r for r in _rows(report, "generators_compile")}
    order = {n: i for i, n in enumerate(report["sizes"])}
    rows = []
    for r in sorted(_rows(report, "generators", "generators_more"),
                    key=lambda r: (order.get(r["net"], len(order)), r["batch"], r["precision"] != "fp32")):
        k = (r["net"], r["batch"])
        nv = (nvg if r["precision"] == "fp32" else nvh).get(k, {})
        c = cg.get(k, {}) if r["precision"] == "fp32" else {}
        rows.append([r["net"], r["batch"], r["precision"], _f(r.get("fused_images_per_s")),
                     _f(r.get("eager_images_per_s")), _f(c.get("compiled_images_per_s")), _f(nv.get("images_per_s")),
                     _f(c.get("compile_first_call_s"), ".0f")])
    md += ["## Whole G forward (images/s; NVlabs' row beside fp16-autocast is its own fp16 layers)", ""]
    md += _table(["net", "batch", "precision", "fused", "eager", "compiled", "NVlabs", "compile s"], rows)
    checks = _checks(report)
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
    md += ["## Where the time went (each section's phases, s)", ""] + [_phases_line(k, v) for k, v in S.items()
                                                                      if v.get("phases") or v.get("running")]
    return "\n".join(md) + "\n"


def _phases_line(name: str, section: dict, most: int = 12) -> str:
    """One list item: a section's phases in order (the longest ``most`` of them when there are more), the time
    outside them (process start, imports), and the phase it was killed in."""
    phases = section.get("phases") or []
    shown = phases if len(phases) <= most else sorted(sorted(phases, key=lambda p: -p["seconds"])[:most],
                                                      key=lambda p: p["start_s"])
    inside = sum(p["seconds"] for p in phases)
    parts = [f"{p['phase']} {p['seconds']:.1f}" + (" (raised)" if p.get("raised") else "") for p in shown]
    if len(shown) < len(phases):
        rest = [p for p in phases if p not in shown]
        parts.append(f"{len(rest)} more phases {sum(p['seconds'] for p in rest):.1f}")
    if section.get("wall_s") is not None:
        parts.append(f"outside phases (start, imports, between) {max(section['wall_s'] - inside, 0):.1f}")
    running = section.get("running")
    if running:
        parts.append(f"**in progress when it ended: {running['phase']}** (from {running['start_s']:.1f} s)")
    return f"- {name} ({_f(section.get('wall_s'), '.0f')} s): " + "; ".join(parts).replace("|", "/")


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
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="let cuDNN autotune every new convolution shape, on both sides (default off)")
    parser.add_argument("--only", type=lambda v: [n for n in v.split(",") if n], default=None,
                        metavar="A,B", help=f"run only these of {','.join(PLAN)} (after the pickles and builds)")
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument(gt.STANDBY, action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ctx", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only and set(args.only) - set(PLAN):
        parser.error(f"--only: unknown sections {sorted(set(args.only) - set(PLAN))}; choose from {PLAN}")
    if args.standby:
        return gt.serve_standby(main, _preload)
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
