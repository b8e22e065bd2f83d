"""Throughput of the equivariance metrics and of the power spectra, and its linearity in the sample count.

    OMP_NUM_THREADS=2 python -m benchmarks.bench_metrics            # tiny StyleGAN3-T/R at 32 px
    python -m benchmarks.bench_metrics --resolution 64 --counts 8,16,32 --json out.json

For each sample count N the metric is run from scratch and timed; the counts are timed interleaved
(``benchmarks/timing.py``: one warm-up round, then --repeats rounds of N1, N2, N3, ...; medians), so that the
one-time costs land in the warm-up and not on the smallest count, and load drift hits every count alike.
`ratio` is the per-sample time at N over the per-sample time at the smallest N, both in CPU seconds of this
process (measured in the same run; CPU time is robust when other jobs share the cores, wall time is printed
too): about 1 = linear. The baseline rows time what every EQ metric must do anyway (mapping + two synthesis
passes per latent), so the metric's own overhead (references, masks, sums) is the difference.
The networks are randomly initialised (speed does not depend on training).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ops import resample, spectrum
from training.metrics.equivariance import compute_equivariance

from . import timing


def _row(name: str, samples: int, wall: timing.Stats, cpu: timing.Stats) -> dict:
    return dict(bench=name, samples=samples, seconds=wall.median, cpu_seconds=cpu.median,
                samples_per_s=samples / wall.median, samples_per_cpu_s=samples / cpu.median, ratio=1.0,
                wall_q1=wall.q1, wall_q3=wall.q3)


def _rows(name: str, counts: list[int], run, repeats: int, warmup: int) -> list[dict]:
    """Rows for each count, timed interleaved; `ratio` compares CPU time per sample (robust on a shared machine)."""
    cmp = timing.compare({n: (lambda n=n: run(n)) for n in counts}, repeats, warmup, cpu_clock=time.process_time)
    rows = [dict(_row(name, n, cmp.wall[n], cmp.cpu[n]), load=cmp.env['load']) for n in counts]
    base = rows[0]['cpu_seconds'] / rows[0]['samples']
    for row in rows:
        row['ratio'] = row['cpu_seconds'] / row['samples'] / base
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks.bench_metrics', description=__doc__.split('\n')[0])
    parser.add_argument('--resolution', type=int, default=32)
    parser.add_argument('--counts', default='8,16,32', help='EQ sample counts')
    parser.add_argument('--spectrum-counts', default='128,256,512', help='images for the spectrum benchmark')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--configs', default='T,R', help='StyleGAN3 configs to time')
    parser.add_argument('--repeats', type=int, default=1, help='timed rounds (medians over them)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed rounds before them')
    parser.add_argument('--json', default=None, help='also write the rows here')
    args = parser.parse_args(argv)
    from networks import stylegan3

    torch.manual_seed(0)
    counts = [int(c) for c in args.counts.split(',')]
    common = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=args.resolution, img_channels=3, channel_base=1024,
                  channel_max=32)
    extra = {'T': {}, 'R': dict(conv_kernel=1, use_radial_filters=True)}
    nets = {cfg: stylegan3.Generator(**common, **extra[cfg]).eval() for cfg in args.configs.split(',')}
    rows: list[dict] = []
    for cfg, G in nets.items():
        G.requires_grad_(False)
        with torch.no_grad():
            G(torch.randn(args.batch, G.z_dim), None)  # warm-up (filter set-up, allocator)
        def baseline(n, G=G):  # what any EQ metric must at least do: map, then synthesise twice per latent
            with torch.no_grad():
                for start in range(0, n, args.batch):
                    ws = G.mapping(torch.randn(min(args.batch, n - start), G.z_dim), None)
                    G.synthesis(ws)
                    G.synthesis(ws)

        rows += _rows(f'baseline 2x synthesis SG3-{cfg} {args.resolution}px', counts, baseline, args.repeats,
                      args.warmup)
        for metric in ('eqt50k_int', 'eqt50k_frac', 'eqr50k'):
            rows += _rows(f'{metric} SG3-{cfg} {args.resolution}px', counts,
                          lambda n, G=G, m=metric: compute_equivariance(G, m, n, args.batch), args.repeats,
                          args.warmup)

    # Reference transforms alone (per batch of `batch` images).
    x = torch.randn(args.batch, 3, args.resolution, args.resolution)
    for name, fn in (('ref fractional translation', lambda: resample.apply_fractional_translation(x, 0.07, -0.03)),
                     ('ref rotation (new angle)', lambda: resample.apply_fractional_rotation(x, float(torch.rand(1))))):
        cmp = timing.compare({name: fn}, 3, cpu_clock=time.process_time)
        rows.append(dict(_row(f'{name} {args.resolution}px', args.batch, cmp.wall[name], cmp.cpu[name]),
                         load=cmp.env['load']))

    # Average power spectrum (whitening, Kaiser window, 4x zero-padded FFT, float64 sums).
    images = torch.randn(64, 3, 64, 64)

    def spectra(n):
        total = None
        for _ in range(n // images.shape[0]):
            part = spectrum.power_spectrum_sum(images)
            total = part if total is None else total + part
        return total

    rows += _rows('power spectrum 64px', [int(c) for c in args.spectrum_counts.split(',')], spectra, args.repeats,
                  args.warmup)
    env = timing.environment()
    print(f'{torch.get_num_threads()} threads; {timing.describe(env)}; medians of {args.repeats} interleaved rounds')

    print(f'{"benchmark":<38} {"samples":>7} {"wall s":>8} {"CPU s":>8} {"samples/s":>10} {"per CPU s":>10} '
          f'{"ratio":>6}')
    for row in rows:
        print(f'{row["bench"]:<38} {row["samples"]:>7} {row["seconds"]:>8.3f} {row["cpu_seconds"]:>8.3f} '
              f'{row["samples_per_s"]:>10.2f} {row["samples_per_cpu_s"]:>10.2f} {row["ratio"]:>6.2f}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(threads=torch.get_num_threads(), env=env, rows=rows), f, indent=1)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
