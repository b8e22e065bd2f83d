"""NVlabs' side of ``gpu_report``: runs NVlabs/stylegan3's own code from a local checkout, for comparison only.

    python benchmarks/nvlabs_side.py {pickles,build,layers,generators,train,spectra} --nvlabs DIR --out RESULT.json
        [--pickles DIR] [--device cuda|cpu] [--tiny] [--budget SECONDS] [--nets A,B] [--batches 1,4]
        [--precisions fp32] [--warmup N] [--part targets|more|all] [--ops A,B] [--cudnn-benchmark]

Run as a script in its own process (gpu_report does): NVlabs' packages ``training``, ``torch_utils`` and
``dnnlib`` would clash with ours in one interpreter. Nothing of NVlabs' code is copied here; the checkout is
imported from DIR. ``pickles`` writes NVlabs-format pickles with NVlabs' own classes (the weights both sides
then load); ``build`` compiles their three CUDA plugins side by side (one process each), then loads them; the
other commands time NVlabs' CUDA kernels (their reference ops on the CPU). Modules that their code imports but
never uses in these paths (``requests``; ``pkg_resources`` and ``distutils`` on newer Pythons) are stood in for
when missing, and the plugins torch builds for them are entered in ``sys.modules`` (``_register_built_modules``).

Each phase (a pickle load, a warm-up, a timed configuration) is printed as it ends and written, with the rows so
far, to ``RESULT.json.partial``: a run killed at its time limit still says what it did and for how long.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import importlib
import json
import os
import pickle
import subprocess
import sys
import time
import traceback
import types
import warnings

import gpu_timing as gt  # sys.path[0] is this script's folder
import torch


def _stand_ins() -> None:
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")  # only used to download URLs; never here
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
    try:
        from distutils.util import strtobool  # noqa: F401
    except ImportError:
        util = types.SimpleNamespace(strtobool=lambda v: v.lower() in ("y", "yes", "t", "true", "on", "1"))
        sys.modules["distutils"] = types.SimpleNamespace(util=util)
        sys.modules["distutils.util"] = util


def _register_built_modules() -> None:
    """Makes ``torch.utils.cpp_extension.load`` enter the module it returns in ``sys.modules`` under its name.

    NVlabs' ``custom_ops.get_plugin`` calls ``load(name=...)`` and then ``importlib.import_module(name)``. Recent
    torch loads the built library from its file (``importlib.util.spec_from_file_location``) without entering it
    in ``sys.modules`` or its folder in ``sys.path``, so that import fails with ModuleNotFoundError after a
    successful build. Wrapping ``load`` (their code looks it up at call time) fixes that without touching their
    checkout; with a torch that registers the module itself, the wrapper changes nothing.
    """
    from torch.utils import cpp_extension

    original = cpp_extension.load
    if getattr(original, "registers_modules", False):
        return

    @functools.wraps(original)
    def load(name, *args, **kwargs):
        module = original(name, *args, **kwargs)
        if isinstance(module, types.ModuleType):
            sys.modules.setdefault(name, module)
        return module

    load.registers_modules = True
    cpp_extension.load = load


PROGRESS: gt.Progress | None = None  # main() sets it; the commands' phases
_partial: dict = {"path": None, "data": {}}  # where checkpoint() writes, and the rows so far


def checkpoint(**data) -> None:
    """Keeps ``data`` (the rows so far) and writes it with the phases to ``RESULT.json.partial``."""
    _partial["data"].update(data)
    _write_partial()


def _write_partial() -> None:
    if _partial["path"]:
        state = PROGRESS.state() if PROGRESS is not None else {}
        gt.write_json(_partial["path"], dict(ok=True, incomplete="killed at its time limit", **_partial["data"],
                                             **state))


def phase(what: str):
    """A phase of the running command (printed, kept, in the partial result)."""
    return PROGRESS.phase(what) if PROGRESS is not None else contextlib.nullcontext()


def _load(path: str, device: torch.device) -> dict:
    with phase(f"load {os.path.basename(path)} to {device.type}"):
        with open(path, "rb") as f:
            data = pickle.load(f)  # NVlabs' persistence rebuilds their classes: trusted, we wrote it
        data = {k: (v.to(device) if isinstance(v, torch.nn.Module) else v) for k, v in data.items()}
        gt.sync(device)
    return data


def cmd_pickles(args) -> dict:
    from training import networks_stylegan2, networks_stylegan3

    os.makedirs(args.pickles, exist_ok=True)
    out = {}
    for i, (name, spec) in enumerate(gt.nets(args.tiny).items()):
        if args.nets and name not in args.nets:
            continue
        path = os.path.join(args.pickles, f"{name}.pkl")
        stamp = json.dumps(dict(spec=spec, z=gt.z_dim(args.tiny), format=1), sort_keys=True)
        if os.path.exists(path) and os.path.exists(path + ".spec") and open(path + ".spec").read() == stamp:
            out[name] = dict(path=path, cached=True)
            continue
        t0 = time.perf_counter()
        with phase(f"construct and write {name}"):
            torch.manual_seed(i)
            module = networks_stylegan3 if spec["kind"] == "sg3" else networks_stylegan2
            G = module.Generator(**gt.generator_kwargs(spec, gt.z_dim(args.tiny))).eval().requires_grad_(False)
            data = dict(G=G, G_ema=G, augment_pipe=None, training_set_kwargs=None)
            if name == gt.TRAIN_NET:
                D = networks_stylegan2.Discriminator(**gt.discriminator_kwargs(spec))
                data["D"] = D.eval().requires_grad_(False)
            with open(path + ".tmp", "wb") as f:
                pickle.dump(data, f)
            os.replace(path + ".tmp", path)
            with open(path + ".spec", "w") as f:
                f.write(stamp)
        out[name] = dict(path=path, seconds=time.perf_counter() - t0, params=sum(p.numel() for p in G.parameters()))
        checkpoint(**out)
    return out


def _ops():
    from torch_utils.ops import bias_act, filtered_lrelu, upfirdn2d

    return dict(bias_act=bias_act, upfirdn2d=upfirdn2d, filtered_lrelu=filtered_lrelu)


def _kernels_in_use(device: torch.device) -> dict:
    """Which of NVlabs' ops have their CUDA plugin loaded (their code raises rather than falls back)."""
    return {op: (device.type == "cuda" and m._plugin is not None) for op, m in _ops().items()}


def cmd_build(args) -> dict:
    """NVlabs' plugins compiled each in its own process (their compilers run side by side; one by one they took
    22 + 32 + 50 s on an H200 host), then loaded here from torch's extension cache: per op ``seconds`` (its
    build) and ``load_s`` (loading the built plugin in this process)."""
    device = torch.device(args.device)
    if device.type != "cuda":
        return dict(skipped="no CUDA: NVlabs' reference ops run on the CPU")
    modules = _ops()
    names = args.ops or list(modules)
    result: dict = {}
    if len(names) > 1:
        procs = {}
        for op in names:
            out = f"{args.out}.{op}.json"
            cmd = [sys.executable, os.path.abspath(__file__), "build", "--ops", op, "--nvlabs", args.nvlabs, "--out",
                   out, "--device", args.device]
            with open(out + ".log", "w") as log:
                procs[op] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), out, time.perf_counter())
        with phase(f"build {', '.join(names)} side by side"):
            for op, (proc, out, start) in procs.items():
                proc.wait()
                sub = json.load(open(out)) if os.path.exists(out) else {}
                rec = sub.get(op)
                if not isinstance(rec, dict):
                    with open(out + ".log") as log:
                        tail = log.read()[-400:]
                    rec = dict(ok=False, seconds=time.perf_counter() - start,
                               error=sub.get("error") or f"exit code {proc.returncode}: {tail}")
                result[op] = rec
                checkpoint(**result)
    for op in names:
        if op in result and not result[op].get("ok"):
            continue  # its build failed: not built again here
        t0 = time.perf_counter()
        with phase(f"{'load' if op in result else 'build and load'} {op}"):
            try:
                modules[op]._init()
                rec = dict(ok=modules[op]._plugin is not None)
            except Exception as e:  # noqa: BLE001 -- recorded in the report
                rec = dict(ok=False, error=f"{type(e).__name__}: {e}"[:500])
        seconds = time.perf_counter() - t0
        if op in result:
            result[op].update(rec, load_s=seconds)
        else:
            result[op] = dict(rec, seconds=seconds)
        checkpoint(**result)
    failed = [f"{op}: {result[op].get('error', 'no plugin')}"[:200] for op in names if not result[op]["ok"]]
    if failed:  # the command fails with them: NVlabs' timed sections cannot run (their code raises)
        result["error"] = "; ".join(failed)
    return result


def cmd_layers(args) -> dict:
    from torch_utils.ops.filtered_lrelu import filtered_lrelu

    device = torch.device(args.device)
    G = _load(os.path.join(args.pickles, f"{gt.LAYERS_NET}.pkl"), device)["G_ema"]
    rows: list[dict] = []
    deadline = time.monotonic() + args.budget
    for batch in gt.batches(args.tiny):  # the order of our layers section
        for name in gt.pick_layers(list(G.synthesis.layer_names), args.tiny):
            L = getattr(G.synthesis, name)
            dtypes = [torch.float32] + ([torch.float16] if L.use_fp16 and device.type == "cuda" else [])
            for dtype in dtypes:
                if time.monotonic() > deadline:
                    return dict(rows=rows, incomplete="time budget spent", kernels=_kernels_in_use(device))
                row = dict(layer=name, batch=batch, dtype=str(dtype).split(".")[-1])
                with phase(f"{name} batch {batch} {row['dtype']}"):
                    x = gt.layer_input(L, batch, device, dtype)
                    kw = gt.layer_kwargs(L)
                    kw["b"] = kw["b"].to(dtype)

                    def run(x=x, kw=kw):
                        return filtered_lrelu(x, **kw, impl="cuda")

                    t0 = time.perf_counter()
                    run()  # the warm-up
                    gt.sync(device)
                    row["first_s"] = time.perf_counter() - t0
                    t = gt.time_call(run, device, args.repeats, warmup=0, budget_s=1.0)
                    row.update(ms=t["median_s"] * 1e3, peak_mib=gt.peak_memory_mib(run, device))
                rows.append(row)
                checkpoint(rows=rows)
    return dict(rows=rows, kernels=_kernels_in_use(device))


def cmd_generators(args) -> dict:
    """Images/s of the configurations of ``gpu_timing.generator_plan`` (``--part``), each net loaded once; the
    batch-1 float32 image of the nets of ``gpu_timing.image_nets`` for the cross-check."""
    device = torch.device(args.device)
    precisions = args.precisions or (["fp32", "mixed-fp16"] if device.type == "cuda" else ["fp32"])
    names = gt.by_priority({n: s for n, s in gt.nets(args.tiny).items() if n in args.nets}) if args.nets else None
    plan = gt.generator_plan(args.tiny, args.part, precisions, names, args.batches)
    images = gt.image_nets(args.tiny, args.part, names)
    warmup = 0 if args.tiny else (1 if args.warmup is None else args.warmup)
    rows: list[dict] = []
    deadline = time.monotonic() + args.budget
    for name in dict.fromkeys([n for n, _, _ in plan] + images):
        if time.monotonic() > deadline:
            return dict(rows=rows, incomplete="time budget spent", kernels=_kernels_in_use(device))
        G = _load(os.path.join(args.pickles, f"{name}.pkl"), device)["G_ema"].eval()
        zd = G.z_dim
        if name in images:
            with phase(f"{name} batch 1 fp32 image"):
                with torch.no_grad():
                    img = G(gt.fixed_z(1, zd, device), None, noise_mode="const", force_fp32=True)
                torch.save(dict(img=img.float().cpu()), os.path.join(args.outdir, f"img-{name}-nvlabs.pt"))
        for net, batch, precision in plan:
            if net != name:
                continue
            if time.monotonic() > deadline:
                return dict(rows=rows, incomplete="time budget spent", kernels=_kernels_in_use(device))
            z = gt.fixed_z(batch, zd, device)

            def run(G=G, z=z, precision=precision):
                with torch.no_grad():
                    return G(z, None, noise_mode="const", force_fp32=(precision == "fp32"))

            what = f"{name} batch {batch} {precision}"
            if warmup:
                with phase(f"warm-up {what}"):
                    for _ in range(warmup):
                        run()
                    gt.sync(device)
            with phase(f"time {what}"):
                # CPU seconds of all threads too: less sensitive to other jobs than wall time
                t = gt.time_call(run, device, args.repeats, warmup=0, budget_s=1.0, cpu=True)
            rows.append(dict(net=name, batch=batch, precision=precision, images_per_s=batch / t["median_s"],
                             ms=t["median_s"] * 1e3, cpu_s=t["cpu_s"], load=t["env"]["load"]))
            checkpoint(rows=rows)
        del G
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return dict(rows=rows, kernels=_kernels_in_use(device))


def cmd_train(args) -> dict:
    from training.loss import StyleGAN2Loss

    device = torch.device(args.device)
    data = _load(os.path.join(args.pickles, f"{gt.TRAIN_NET}.pkl"), device)
    with phase("set up G, D, G_ema and the loss"):
        G, D = data["G"].train(), data["D"].train()
        G_ema = copy.deepcopy(G).eval()
        loss = StyleGAN2Loss(device=device, G=G, D=D, augment_pipe=None, r1_gamma=2, style_mixing_prob=0,
                             pl_weight=0, blur_init_sigma=0, blur_fade_kimg=0)
    batch = gt.train_batch(args.tiny)
    result = gt.training_step_s_per_kimg(loss, G, D, G_ema, batch, device, steps=args.repeats, budget_s=args.budget,
                                          warmup=0 if args.tiny else 1, progress=PROGRESS)
    result["kernels"] = _kernels_in_use(device)
    return result


def cmd_spectra(args) -> dict:
    """A tiny NVlabs StyleGAN2 pickle with noise strengths drawn in [-0.09, 0.11] (as in a trained network; a fresh
    one has zeros), then NVlabs' own avg_spectra calc of it, twice (their noise is unseeded: the two runs differ
    by it alone). `click` (their CLI library) must be importable."""
    import avg_spectra

    from training import networks_stylegan2

    spec = gt.nets(True)["sg2-1024"]
    torch.manual_seed(0)
    G = networks_stylegan2.Generator(**gt.generator_kwargs(spec, gt.z_dim(True))).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(0)
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.copy_(torch.rand([], generator=gen) * 0.2 - 0.09)
    D = networks_stylegan2.Discriminator(**gt.discriminator_kwargs(spec)).eval().requires_grad_(False)
    os.makedirs(args.outdir, exist_ok=True)
    pkl = os.path.join(args.outdir, "sg2-noisy.pkl")
    with open(pkl, "wb") as f:
        pickle.dump(dict(G=G, G_ema=G, D=D, augment_pipe=None, training_set_kwargs=None), f)
    out = dict(pickle=pkl, runs=[])
    start_method = torch.multiprocessing.set_start_method     # their calc sets 'spawn' on each call: allow twice
    torch.multiprocessing.set_start_method = lambda method, force=False: start_method(method, force=True)
    for run in ("a", "b"):
        dest = os.path.join(args.outdir, f"nvlabs-{run}.npz")
        avg_spectra.calc.callback(source=pkl, dest=dest, mean=128.0, std=64.0, num=args.num, seed=0, beta=8,
                                  interp=4, device=torch.device(args.device))
        out["runs"].append(dest)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["pickles", "build", "layers", "generators", "train", "spectra"])
    parser.add_argument("--nvlabs", required=True, help="a checkout of NVlabs/stylegan3")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--pickles", help="folder of the NVlabs-format pickles (default DIR/gpu-report-pickles)")
    parser.add_argument("--outdir", default=".", help="where images for the cross-check go")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num", type=int, default=2000, help="spectra: images per spectrum")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of timing before stopping early")
    parser.add_argument("--nets", type=lambda v: v.split(","), default=None,
                        help="pickles / generators: only these nets (comma-separated, e.g. sg3t-256,sg3r-256)")
    parser.add_argument("--batches", type=lambda v: [int(b) for b in v.split(",")], default=None,
                        help="generators: batch sizes (default: gpu_timing's)")
    parser.add_argument("--precisions", type=lambda v: v.split(","), default=None,
                        help="generators: fp32 and/or mixed-fp16 (default both on CUDA; fp32 on the CPU, where "
                             "NVlabs' code runs fp32 either way)")
    parser.add_argument("--part", choices=gt.PARTS, default="all",
                        help="generators: the configurations the report's targets judge, the others, or all")
    parser.add_argument("--warmup", type=int, default=None, help="generators: untimed runs before timing (default 1)")
    parser.add_argument("--ops", type=lambda v: v.split(","), default=None, help="build: only these plugins")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN autotune every new shape")
    args = parser.parse_args(argv)
    args.pickles = args.pickles or os.path.join(args.nvlabs, "gpu-report-pickles")
    sys.path.insert(1, os.path.abspath(args.nvlabs))
    _stand_ins()
    _register_built_modules()
    importlib.invalidate_caches()
    gt.configure_backends(args.cudnn_benchmark)
    global PROGRESS
    label = f"nv {args.command}" + (f" {args.part}" if args.command == "generators" and args.part != "all" else "")
    PROGRESS = gt.Progress(label, on_change=_write_partial)
    _partial["path"] = args.out + ".partial"
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # e.g. their 'no optimized CUDA kernel' fallback
        warnings.simplefilter("always")
        try:
            result = dict(ok=True, **globals()[f"cmd_{args.command}"](args))
            result["ok"] = "error" not in result
        except Exception as e:  # noqa: BLE001 -- the report records it
            result = dict(ok=False, error=f"{type(e).__name__}: {e}"[:1000], traceback=traceback.format_exc()[-3000:])
    result["seconds"] = time.perf_counter() - t0
    result["warnings"] = sorted({str(w.message)[:300] for w in caught})[:20]
    result["backends"] = gt.backend_flags()
    result.update(PROGRESS.state())
    gt.write_json(args.out, result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    if sys.argv[1:] == [gt.STANDBY]:  # started ahead by gpu_report: the command comes on stdin
        raise SystemExit(gt.serve_standby(main))
    raise SystemExit(main())
