"""The per-layer analyses against one plain synthesis of the same network, timed in the same run.

    python -m benchmarks.bench_layer_analyses [--res 256] [--cfg T,R,sg2] [--cbase 32768] [--cmax 512] [--rounds 3]
                                              [--threads N] [--device cpu] [--json FILE]

For each network (random weights: the time does not depend on them), batch 1, one latent, float32:
  synthesis  ``G.synthesis(ws, noise_mode='const')`` without hooks
  aliasing   ``analysis.aliasing.aliasing_table(G, ws)``: the same pass with a forward hook on every layer that
             measures its output (crop, window, zero-padded FFT, radial sums)
timed interleaved (``benchmarks/timing.py``: one warm-up round, then ``--rounds`` rounds of each), wall clock and
CPU time (which moves less when other jobs share the cores). ``aliasing / synthesis`` is what the bar chart of one
latent costs in plain passes: the target is at most 2, i.e. no more than one extra pass's worth for the hooks and
their measures.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from networks import stylegan2, stylegan3

from . import timing

CONFIGS = ("T", "R", "sg2")


def build(cfg: str, res: int, cbase: int, cmax: int, device: str) -> torch.nn.Module:
    """A random-weight generator of `cfg` (StyleGAN3-T, -R or StyleGAN2) in eval mode on `device`."""
    common = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3, channel_base=cbase,
                  channel_max=cmax)
    torch.manual_seed(0)
    if cfg == "T":
        G = stylegan3.Generator(**common)
    elif cfg == "R":
        G = stylegan3.Generator(**common, conv_kernel=1, use_radial_filters=True)
    elif cfg == "sg2":
        G = stylegan2.Generator(**common)
    else:
        raise ValueError(f"unknown config {cfg!r}: one of {', '.join(CONFIGS)}")
    return G.eval().requires_grad_(False).to(device)


def measure(cfg: str, res: int, cbase: int, cmax: int, rounds: int, device: str) -> dict:
    """Medians (ms) of both variants, their quartiles and the ratio, for one network."""
    from analysis.aliasing import aliasing_table

    G = build(cfg, res, cbase, cmax, device)
    with torch.no_grad():
        ws = G.mapping(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(1)).to(device), None)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else None

    def plain():
        with torch.no_grad():
            G.synthesis(ws, noise_mode="const")

    def table():
        aliasing_table(G, ws)

    cmp = timing.compare({"synthesis": plain, "aliasing": table}, rounds, warmup=1, sync=sync,
                         cpu_clock=time.process_time)
    return dict(cfg=cfg, res=res, layers=len(aliasing_table(G, ws)), env=cmp.env, rounds=cmp.rounds,
                synthesis_ms=cmp.wall["synthesis"].to_dict(1e3), aliasing_ms=cmp.wall["aliasing"].to_dict(1e3),
                ratio=cmp.ratio("aliasing"), cpu_ratio=cmp.ratio("aliasing", clock="cpu"))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--cfg", default="T,R,sg2", help=f"comma-separated: {','.join(CONFIGS)}")
    parser.add_argument("--cbase", type=int, default=32768)
    parser.add_argument("--cmax", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    for cfg in args.cfg.split(","):
        r = results[cfg] = measure(cfg, args.res, args.cbase, args.cmax, args.rounds, args.device)
        s, a = r["synthesis_ms"], r["aliasing_ms"]
        print(f"{timing.describe(r['env'])}; {args.device}, {torch.get_num_threads()} threads; medians of "
              f"{r['rounds']} interleaved rounds after one warm-up round")
        print(f"  {cfg} {args.res}px ({r['layers']} layers): synthesis {s['median']:.1f} ms "
              f"[{s['q1']:.1f}-{s['q3']:.1f}], aliasing table {a['median']:.1f} ms [{a['q1']:.1f}-{a['q3']:.1f}]"
              f" -> x{r['ratio']:.2f} of one synthesis (CPU time: x{r['cpu_ratio']:.2f})", flush=True)
    report = dict(results=results, target="aliasing / synthesis <= 2")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    print(json.dumps({cfg: round(r["ratio"], 3) for cfg, r in results.items()}))
    return report


if __name__ == "__main__":
    main()
