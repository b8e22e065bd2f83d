"""Whole-generator speed on this machine, as ratios measured in one run.

    python -m benchmarks.bench_generator [--res 256] [--cbase 32768] [--repeats 3] [--threads N]
    python -m benchmarks.bench_generator --nvlabs DIR [--nets sg3t-256,sg3r-256] [--repeats 2]

Compares, for StyleGAN3-T (and optionally R) at --res, batch 1 and 4, float32:
  ours     the project's ops (polyphase resampling, no inserted zeros filtered, no discarded sample computed)
  naive    the same network with filtered_lrelu composed the naive way (benchmarks/naive_ops.py)
  convs    the same network with the filtered nonlinearity replaced by a free stub: the time the modulated
           convolutions (plus input layer and affines) take alone
  conv-kernel share  with the profiler, the share of ours' wall time spent inside convolution kernels
           (modulated convs, Winograd included, and the depthwise FIR convolutions the resampling is made
           of): 1 / share is ours' time over the time of all its convolutions
and checks that ours and naive agree numerically. On the CPU "ours" is the fused filtered_lrelu and, for large
enough 3x3 convolutions, the Winograd convolution (ops/cpu, ops/conv3x3.py); ``old`` is the PyTorch path
(``impl='torch'``: both off) timed in the same run. "naive" and "convs" keep the Winograd convolutions.

With ``--nvlabs DIR`` (a git-ignored checkout of NVlabs/stylegan3) it instead compares whole generators on the
same NVlabs-format pickles (written by NVlabs' own classes, ``nvlabs_side.py pickles``): ours (fused and old
path, batch 1 and 4) in this process, then NVlabs' reference path on the CPU in a subprocess
(``nvlabs_side.py generators``), and prints the ratios of this one run and the largest pixel difference.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

from networks import stylegan3
from ops import backend, conv3x3
from ops.filtered_lrelu import output_size

from . import timing
from .naive_ops import filtered_lrelu_naive


def _stub_filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, **kwargs):
    h, w = output_size(x.shape[2], x.shape[3], fu, fd, up, down, padding)
    return x.new_zeros([x.shape[0], x.shape[1], h, w])


@contextlib.contextmanager
def _default_impl(impl):
    saved = backend.get_default_impl()
    backend.set_default_impl(impl)
    try:
        yield
    finally:
        backend.set_default_impl(saved)


@contextlib.contextmanager
def _patched(fn):
    saved = stylegan3.filtered_lrelu
    stylegan3.filtered_lrelu = fn
    try:
        yield
    finally:
        stylegan3.filtered_lrelu = saved


def _conv_share(G, ws):
    with torch.no_grad(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        G.synthesis(ws)
        wall = time.perf_counter() - t0
    events = prof.key_averages()
    # Convolution kernels run inside these (the depthwise transposed convolutions inside aten::_convolution).
    kernels = ("aten::mkldnn_convolution", "aten::_convolution", "aten::slow_conv_transpose2d",
               "aten::_slow_conv2d_forward", "aten::thnn_conv2d", "aten::mkldnn_convolution_transpose")
    conv_us = sum(e.self_cpu_time_total for e in events if e.key in kernels)
    # The Winograd convolution (ops/conv3x3.py): the whole call, its matrix products included.
    conv_us += sum(e.cpu_time_total for e in events if e.key == conv3x3.PROFILER_NAME)
    # Over the wall time: the fused CPU ops run outside the profiler's view (no aten events), so a sum of
    # the recorded events would leave them out.
    return conv_us / (wall * 1e6), wall


def run(res=256, cbase=32768, cmax=512, repeats=3, cfgs=("T",)):
    results = {}
    for cfg in cfgs:
        kw = dict(conv_kernel=1, use_radial_filters=True) if cfg == "R" else {}
        torch.manual_seed(0)
        scale = 2 if cfg == "R" else 1  # NVlabs' R config doubles channel_base and channel_max
        G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                                channel_base=cbase * scale, channel_max=cmax * scale, **kw).eval()
        ws1 = G.mapping(torch.randn(1, 512), None)
        ws4 = G.mapping(torch.randn(4, 512), None)
        with torch.no_grad():
            ours_img = G.synthesis(ws1)
            with _patched(filtered_lrelu_naive):
                naive_img = G.synthesis(ws1)
        max_diff = float((ours_img - naive_img).abs().max())
        def synth(ws, context=contextlib.nullcontext, G=G):
            def run():
                with torch.no_grad(), context():
                    G.synthesis(ws)
            return run

        # Interleaved rounds (benchmarks/timing.py): every variant sees the same minutes of a shared machine.
        b1 = timing.compare({"ours": synth(ws1), "old": synth(ws1, lambda: _default_impl("torch")),
                             "naive": synth(ws1, lambda: _patched(filtered_lrelu_naive)),
                             "convs": synth(ws1, lambda: _patched(_stub_filtered_lrelu))}, repeats)
        b4 = timing.compare({"ours": synth(ws4), "old": synth(ws4, lambda: _default_impl("torch"))}, repeats)
        ours1, old1, naive1, convs1 = (b1.median(k) for k in ("ours", "old", "naive", "convs"))
        ours4, old4 = b4.median("ours"), b4.median("old")
        share, _ = _conv_share(G, ws1)
        results[cfg] = dict(
            res=res, channel_base=cbase, threads=torch.get_num_threads(),
            ours_b1_s=ours1, ours_b4_s=ours4, old_b1_s=old1, old_b4_s=old4, naive_b1_s=naive1, convs_b1_s=convs1,
            speedup_vs_naive=naive1 / ours1, ours_over_convs=ours1 / convs1, b4_over_b1=ours4 / ours1,
            max_abs_diff_vs_naive=max_diff, conv_kernel_share=share, ours_over_all_convs=1 / share,
            ours_b1_spread=b1.wall["ours"].to_dict(), ours_b4_spread=b4.wall["ours"].to_dict(), env=b4.env,
        )
    return results


def compare_nvlabs(nvlabs: str, nets: list[str], repeats: int, pickles: str | None = None,
                   nv_repeats: int = 1, tiny: bool = False, batches: tuple[int, ...] = (1, 4)) -> dict:
    """Ours (fused, old path) and NVlabs' reference path on the same NVlabs-format pickles, batch 1 and 4."""
    from networks import load_network_pkl

    from . import gpu_timing as gt

    here = os.path.dirname(os.path.abspath(__file__))
    pickles = pickles or os.path.join(nvlabs, "cpu-pickles" + ("-tiny" if tiny else ""))
    work = tempfile.mkdtemp(prefix="bench-nvlabs-")
    side = [sys.executable, os.path.join(here, "nvlabs_side.py")]
    common = ["--nvlabs", nvlabs, "--pickles", pickles, "--device", "cpu", "--nets", ",".join(nets)]
    common += ["--tiny"] if tiny else []
    subprocess.run(side + ["pickles", "--out", os.path.join(work, "pickles.json")] + common, check=True)
    results: dict = {}
    for name in nets:
        G = load_network_pkl(os.path.join(pickles, f"{name}.pkl"))["G_ema"].eval()
        z1 = gt.fixed_z(1, G.z_dim, torch.device("cpu"))
        with torch.no_grad():  # one warm-up per path (a frame at batch 1), then `repeats` timed runs per cell
            row = {"img": G(z1, None, noise_mode="const", force_fp32=True)}
            with _default_impl("torch"):
                G(z1, None, noise_mode="const", force_fp32=True)
        for batch in batches:
            z = gt.fixed_z(batch, G.z_dim, torch.device("cpu"))

            def run(G=G, z=z):
                with torch.no_grad():
                    return G(z, None, noise_mode="const", force_fp32=True)

            def run_old(run=run):
                with _default_impl("torch"):
                    return run()

            # Warmed up above; CPU seconds too: other jobs stretch wall time more than the CPU time a call needs.
            cmp = timing.compare({"ours": run, "old": run_old}, repeats, warmup=0, cpu_clock=time.process_time)
            for path in ("ours", "old"):
                row[f"{path}_b{batch}_s"] = cmp.median(path)
                row[f"{path}_b{batch}_cpu_s"] = cmp.cpu[path].median
            row[f"env_b{batch}"] = cmp.env
            print(f"  {name} batch {batch}: ours fused {row[f'ours_b{batch}_s']:.2f} s "
                  f"({row[f'ours_b{batch}_cpu_s']:.2f} CPU s), old path {row[f'old_b{batch}_s']:.2f} s "
                  f"({row[f'old_b{batch}_cpu_s']:.2f} CPU s) ({timing.describe(cmp.env)})", flush=True)
        results[name] = row
        del G
    out = os.path.join(work, "generators.json")
    subprocess.run(side + ["generators", "--out", out, "--outdir", work, "--batches", ",".join(map(str, batches)),
                           "--precisions", "fp32",
                           "--warmup", "0", "--repeats", str(nv_repeats), "--budget", "100000"] + common, check=True)
    with open(out) as f:
        nv = json.load(f)
    for r in nv["rows"]:
        results[r["net"]][f"nvlabs_b{r['batch']}_s"] = r["ms"] / 1e3
        results[r["net"]][f"nvlabs_b{r['batch']}_cpu_s"] = r["cpu_s"]
    for name, row in results.items():
        ref = torch.load(os.path.join(work, f"img-{name}-nvlabs.pt"))["img"]
        row["max_abs_diff_vs_nvlabs"] = float((row.pop("img") - ref).abs().max())
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--cbase", type=int, default=32768)
    parser.add_argument("--cmax", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cfg", default="T", help="comma-separated: T,R")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--nvlabs", default=None, help="compare with NVlabs' reference path from this checkout")
    parser.add_argument("--nets", default="sg3t-256,sg3r-256", help="with --nvlabs: gpu_timing's net names")
    parser.add_argument("--nv-repeats", type=int, default=1, help="with --nvlabs: timed runs of NVlabs' side")
    parser.add_argument("--tiny", action="store_true", help="with --nvlabs: gpu_timing's rehearsal sizes (seconds)")
    parser.add_argument("--batches", default="1,4", help="with --nvlabs: batch sizes")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.nvlabs:
        t0, env0 = time.perf_counter(), timing.environment()
        results = compare_nvlabs(args.nvlabs, args.nets.split(","), args.repeats, nv_repeats=args.nv_repeats,
                                 tiny=args.tiny, batches=tuple(int(b) for b in args.batches.split(",")))
        print(f"NVlabs-format pickles, fp32, {torch.get_num_threads()} threads, z fixed, noise const "
              f"({time.perf_counter() - t0:.0f} s; {timing.describe(dict(env0, load_after=os.getloadavg()))}):")
        for name, r in results.items():
            for b in (1, 4):
                if f"nvlabs_b{b}_s" not in r:
                    continue
                print(f"  {name} batch {b}: NVlabs {r[f'nvlabs_b{b}_s']:.2f} s, ours old path {r[f'old_b{b}_s']:.2f} s,"
                      f" ours fused {r[f'ours_b{b}_s']:.2f} s -> {r[f'nvlabs_b{b}_s'] / r[f'ours_b{b}_s']:.2f}x NVlabs"
                      f" (old path {r[f'nvlabs_b{b}_s'] / r[f'old_b{b}_s']:.2f}x)")
                print(f"    CPU seconds: NVlabs {r[f'nvlabs_b{b}_cpu_s']:.1f}, old path {r[f'old_b{b}_cpu_s']:.1f}, "
                      f"fused {r[f'ours_b{b}_cpu_s']:.1f} -> "
                      f"{r[f'nvlabs_b{b}_cpu_s'] / r[f'ours_b{b}_cpu_s']:.2f}x NVlabs "
                      f"(old path {r[f'nvlabs_b{b}_cpu_s'] / r[f'old_b{b}_cpu_s']:.2f}x)")
            print(f"  {name}: max |ours - NVlabs| pixel {r['max_abs_diff_vs_nvlabs']:.2e}")
            if "ours_b4_s" in r and "ours_b1_s" in r:
                print(f"  {name} batch 4 / batch 1: fused {r['ours_b4_s'] / r['ours_b1_s']:.2f}, old "
                      f"{r['old_b4_s'] / r['old_b1_s']:.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        return
    results = run(args.res, args.cbase, args.cmax, args.repeats, tuple(args.cfg.split(",")))
    for cfg, r in results.items():
        print(f"StyleGAN3-{cfg}-{r['res']} (channel_base {r['channel_base']}), fp32, {r['threads']} threads, "
              f"median of {args.repeats} interleaved rounds; {timing.describe(r['env'])}:")
        print(f"  ours  batch 1: {r['ours_b1_s']:.3f} s   batch 4: {r['ours_b4_s']:.3f} s "
              f"(batch 4 / batch 1 = {r['b4_over_b1']:.2f})")
        print(f"  old path (PyTorch filtered_lrelu) batch 1: {r['old_b1_s']:.3f} s   batch 4: {r['old_b4_s']:.3f} s "
              f"-> fused is {r['old_b1_s'] / r['ours_b1_s']:.2f}x / {r['old_b4_s'] / r['ours_b4_s']:.2f}x faster")
        print(f"  naive batch 1: {r['naive_b1_s']:.3f} s   -> ours is {r['speedup_vs_naive']:.2f}x faster "
              f"(max |diff| {r['max_abs_diff_vs_naive']:.2e})")
        print(f"  modulated convolutions alone batch 1: {r['convs_b1_s']:.3f} s -> ours / those = "
              f"{r['ours_over_convs']:.2f}")
        print(f"  share of ours' time inside convolution kernels (all of them): {r['conv_kernel_share']:.1%} "
              f"-> ours / all its convolutions = {r['ours_over_all_convs']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
