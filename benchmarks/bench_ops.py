"""Op-level speed of filtered_lrelu at SG3-T-256 (or --cfg R) layer sizes: the fused CPU op (ops/cpu), the
PyTorch path (``impl='torch'``, polyphase) and the naive composition, in one run.

    python -m benchmarks.bench_ops [--batch 1] [--repeats 5] [--cfg T|R] [--no-naive]

Per layer the paths are timed interleaved (``benchmarks/timing.py``: one warm-up each, then --repeats rounds);
the table shows medians, ratios of medians of the same run, and the spread (quartiles) of the fused op.
"""

from __future__ import annotations

import argparse

import torch

from networks import stylegan3
from ops.filtered_lrelu import filtered_lrelu

from . import timing
from .naive_ops import filtered_lrelu_naive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--cfg", default="T", choices=("T", "R"))
    parser.add_argument("--cbase", type=int, default=32768, help="channel_base (R: doubled)")
    parser.add_argument("--cmax", type=int, default=512, help="channel_max (R: doubled)")
    parser.add_argument("--no-naive", action="store_true", help="skip the (slow) naive composition")
    args = parser.parse_args(argv)
    scale = 2 if args.cfg == "R" else 1  # NVlabs' R config doubles channel_base and channel_max
    kw_cfg = dict(channel_base=args.cbase * scale, channel_max=args.cmax * scale)
    if args.cfg == "R":
        kw_cfg.update(conv_kernel=1, use_radial_filters=True)
    with torch.device("meta"):
        G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=args.res, img_channels=3, **kw_cfg)
    total_ours = total_naive = total_torch = 0.0
    print(f"SG3-{args.cfg}-{args.res}, batch {args.batch}, {torch.get_num_threads()} threads; {timing.describe()}; "
          f"median of {args.repeats} interleaved rounds")
    print(f"{'layer':>14} {'up':>3} {'down':>4} {'fused ms':>9} {'torch ms':>9} {'naive ms':>9} {'torch/fused':>11} "
          f"{'naive/torch':>11} {'fused ms [q1-q3]':>20}")
    for name in G.synthesis.layer_names:
        L = getattr(G.synthesis, name)
        fu = None if L.up_filter is None else stylegan3.design_lowpass_filter(
            L.up_taps, L.in_cutoff, L.in_half_width * 2, L.tmp_sampling_rate)
        fd = None if L.down_filter is None else stylegan3.design_lowpass_filter(
            L.down_taps, L.out_cutoff, L.out_half_width * 2, L.tmp_sampling_rate, radial=L.down_radial)
        k = L.conv_kernel
        x = torch.randn(args.batch, L.out_channels, int(L.in_size[1]) + k - 1 - 2 * (k - 1) + 2 * (k - 1),
                        int(L.in_size[0]) + k - 1 - 2 * (k - 1) + 2 * (k - 1))
        b = torch.zeros(L.out_channels)
        kw = dict(fu=fu, fd=fd, b=b, up=L.up_factor, down=L.down_factor, padding=L.padding,
                  gain=1 if L.is_torgb else 2**0.5, slope=1 if L.is_torgb else 0.2, clamp=L.conv_clamp)
        variants = {"fused": lambda x=x, kw=kw: filtered_lrelu(x, **kw),
                    "torch": lambda x=x, kw=kw: filtered_lrelu(x, **kw, impl="torch")}
        if not args.no_naive:
            variants["naive"] = lambda x=x, kw=kw: filtered_lrelu_naive(x, **kw)
        with torch.no_grad():
            cmp = timing.compare(variants, args.repeats)
        t_ours, t_torch = cmp.median("fused"), cmp.median("torch")
        t_naive = float("nan") if args.no_naive else cmp.median("naive")
        total_ours += t_ours
        total_torch += t_torch
        total_naive += t_naive
        print(f"{name:>14} {L.up_factor:>3} {L.down_factor:>4} {t_ours * 1e3:9.2f} {t_torch * 1e3:9.2f} "
              f"{t_naive * 1e3:9.2f} {t_torch / t_ours:11.2f} {t_naive / t_torch:11.2f} "
              f"{cmp.wall['fused'].format(1e3):>20}")
    print(f"{'total':>14} {'':>3} {'':>4} {total_ours * 1e3:9.2f} {total_torch * 1e3:9.2f} {total_naive * 1e3:9.2f} "
          f"{total_torch / total_ours:11.2f} {total_naive / total_torch:11.2f}")
    print(timing.describe(cmp.env))  # the load average at the end


if __name__ == "__main__":
    main()
