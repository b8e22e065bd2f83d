"""Op-level speed: filtered_lrelu (ours, polyphase) vs the naive composition, at SG3-T-256 layer sizes.

    python -m benchmarks.bench_ops [--batch 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from networks import stylegan3
from ops.filtered_lrelu import filtered_lrelu

from .naive_ops import filtered_lrelu_naive


def _best(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--res", type=int, default=256)
    args = parser.parse_args()
    with torch.device("meta"):
        G = stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=args.res, img_channels=3)
    total_ours = total_naive = 0.0
    print(f"{'layer':>14} {'up':>3} {'down':>4} {'ours ms':>9} {'naive ms':>9} {'speed-up':>8}")
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
        with torch.no_grad():
            t_ours = _best(lambda: filtered_lrelu(x, **kw), args.repeats)  # noqa: B023
            t_naive = _best(lambda: filtered_lrelu_naive(x, **kw), args.repeats)  # noqa: B023
        total_ours += t_ours
        total_naive += t_naive
        print(f"{name:>14} {L.up_factor:>3} {L.down_factor:>4} {t_ours * 1e3:9.2f} {t_naive * 1e3:9.2f} "
              f"{t_naive / t_ours:8.2f}")
    print(f"{'total':>14} {'':>3} {'':>4} {total_ours * 1e3:9.2f} {total_naive * 1e3:9.2f} "
          f"{total_naive / total_ours:8.2f}")


if __name__ == "__main__":
    main()
