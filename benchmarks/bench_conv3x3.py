"""The Winograd CPU convolution (ops/conv3x3.py) against PyTorch's direct convolution, as ratios of one run.

    python -m benchmarks.bench_conv3x3 [--res 256] [--cbase 32768] [--batches 1,4] [--repeats 5]
    python -m benchmarks.bench_conv3x3 --grid [--repeats 7]

Default: every 3x3 modulated convolution of an SG3-T generator (--res, --cbase), each as the network forms it
without Winograd (NVlabs' grouped convolution with per-image weights [N * O, I, 3, 3], what ``impl='torch'``
runs) and with it ((x * s) conv w * dcoefs, ``conv3x3.modulated``), same styles, timed interleaved at each batch
size (``benchmarks/timing.py``: one warm-up each, then --repeats rounds; medians, ratio of the same run), with the
largest relative difference of the two outputs.
Layers below the size threshold (``conv3x3.MIN_CHANNELS`` / ``MIN_WORK``) are marked: the network does not
use Winograd there.

``--grid``: (x * a) conv w * d at square sizes and channel counts around the threshold, batch 1, Winograd forced
for every size: the ratio direct / Winograd (above 1: Winograd faster) that the threshold was chosen from.
"""

from __future__ import annotations

import argparse
import contextlib

import torch
import torch.nn.functional as F

from networks import stylegan3
from ops import conv3x3, modconv

from . import timing


@contextlib.contextmanager
def _no_threshold():
    """Winograd for every size while it lasts (conv3x3's size threshold off)."""
    saved = conv3x3.MIN_CHANNELS, conv3x3.MIN_WORK
    conv3x3.MIN_CHANNELS, conv3x3.MIN_WORK = 1, 0
    try:
        yield
    finally:
        conv3x3.MIN_CHANNELS, conv3x3.MIN_WORK = saved


def layer_shapes(res: int, cbase: int, cmax: int = 512) -> list[tuple[str, int, int, int, int]]:
    """(name, in channels, out channels, input size, padding) of every 3x3 convolution of SG3-T at ``res``."""
    G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                            channel_base=cbase, channel_max=cmax)
    shapes = []
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        if layer.conv_kernel == 3:
            size = int(layer.in_size[1])
            shapes.append((name, layer.in_channels, layer.out_channels, size, layer.conv_kernel - 1))
    return shapes


def run_layers(res: int, cbase: int, batches: list[int], repeats: int) -> list[dict]:
    rows = []
    g = torch.Generator().manual_seed(0)
    for name, c, o, size, pad in layer_shapes(res, cbase):
        w = torch.randn(o, c, 3, 3, generator=g)
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        for n in batches:
            x = torch.randn(n, c, size, size, generator=g)
            s = torch.randn(n, c, generator=g)
            s = s * s.square().mean().rsqrt()
            eligible = conv3x3.winograd_eligible(x, w, pad)

            def grouped(x=x, s=s, w=w, pad=pad):
                n, c, h, wd = x.shape
                wn = w.unsqueeze(0) * s[:, None, :, None, None]
                wn = wn * (wn.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()[:, :, None, None, None]
                y = F.conv2d(x.reshape(1, -1, h, wd), wn.reshape(-1, c, 3, 3), padding=pad, groups=n)
                return y.reshape(n, w.shape[0], *y.shape[2:])

            def winograd(x=x, s=s, w=w, pad=pad):
                return conv3x3.modulated(x, w, s, modconv.demodulation(w, s), pad)

            with torch.no_grad(), _no_threshold():  # time it below the threshold too
                ref, got = grouped(), winograd()
                cmp = timing.compare({"direct": grouped, "winograd": winograd}, repeats, baseline="winograd")
            med = {k: cmp.median(k) for k in ("direct", "winograd")}
            rel = float((got - ref).abs().max() / ref.abs().max())
            rows.append(dict(layer=name, batch=n, channels=(c, o), size=size, used=eligible,
                             direct_ms=med["direct"] * 1e3, winograd_ms=med["winograd"] * 1e3, max_rel_diff=rel,
                             timing=cmp.to_dict(1e3)))
            print(f"  {name:<12} batch {n}  {c:>4} -> {o:<4} {size:>3}x{size:<3} direct {med['direct'] * 1e3:8.1f} ms  "
                  f"Winograd {med['winograd'] * 1e3:8.1f} ms  x{cmp.ratio('direct'):.2f}  "
                  f"max rel diff {rel:.1e}{'' if eligible else '  (below threshold: not used)'}", flush=True)
    return rows


def run_grid(repeats: int) -> None:
    g = torch.Generator().manual_seed(0)
    sizes = (12, 20, 36, 68, 132)
    print("direct / Winograd, (x * a) conv w * d, batch 1, padding 2 (above 1: Winograd faster)")
    print("channels " + " ".join(f"{s:>7}" for s in sizes))
    with _no_threshold():
        for c in (32, 64, 128, 256, 512):
            cells = []
            for size in sizes:
                x = torch.randn(1, c, size, size, generator=g)
                w = torch.randn(c, c, 3, 3, generator=g)
                a, d = torch.rand(1, c, generator=g), torch.rand(1, c, generator=g)
                with torch.no_grad():
                    cmp = timing.compare({
                        "direct": lambda x=x, w=w, a=a, d=d: F.conv2d(x * a[:, :, None, None], w, padding=2)
                        * d[:, :, None, None],
                        "winograd": lambda x=x, w=w, a=a, d=d: conv3x3.modulated(x, w, a, d, 2)}, repeats,
                        baseline="winograd", env=False)
                cells.append(f"{cmp.ratio('direct'):7.2f}")
            print(f"{c:>8} " + " ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--cbase", type=int, default=32768)
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grid", action="store_true", help="the size grid the threshold was chosen from")
    args = parser.parse_args(argv)
    if conv3x3.WINOGRAD.get() is None:
        raise SystemExit("the Winograd CPU convolution is unavailable here (see the logged reason)")
    print(f"{torch.get_num_threads()} threads, float32, no grad; {timing.describe()}")
    if args.grid:
        run_grid(args.repeats)
        return
    rows = run_layers(args.res, args.cbase, [int(b) for b in args.batches.split(",")], args.repeats)
    for n in sorted({r["batch"] for r in rows}):
        used = [r for r in rows if r["batch"] == n and r["used"]]
        d, w = sum(r["direct_ms"] for r in used), sum(r["winograd_ms"] for r in used)
        print(f"batch {n}: the {len(used)} layers that use it: direct {d:.0f} ms, Winograd {w:.0f} ms -> x{d / w:.2f}")
    print(timing.describe())  # the load average after the run


if __name__ == "__main__":
    main()
