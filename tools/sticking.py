"""Texture sticking, the alias-free paper's Fig. 1: one row per network (image, neighbourhood average, streak).

    python -m tools.sticking --network sg2.pkl --network sg3.pkl --seed 0 --outdir renders/sticking
"""

from __future__ import annotations

import argparse
import os
import sys

from tools import cli
from tools.cli import ArgumentParser, main_entry


def build_parser() -> ArgumentParser:
    """The tool's flags (NVlabs has no such tool; these follow gen_images' names)."""
    parser = ArgumentParser(prog='python -m tools.sticking', description=__doc__.split('\n')[0])
    parser.add_argument('--network', dest='networks', action='append', required=True, metavar='PKL',
                        type=cli.network_pkl,
                        help='network pickle; repeat to compare (e.g. StyleGAN2 then StyleGAN3)')
    parser.add_argument('--seed', type=cli.seed, default=0)
    parser.add_argument('--radius', type=cli.float_range(1e-6, 100), default=0.2,
                        help='std of the latent neighbourhood in Z')
    parser.add_argument('--num', type=cli.int_range(1, 4096), default=64, help='latents averaged')
    parser.add_argument('--frames', type=cli.int_range(1, 4096), default=128,
                        help='frames of the latent walk (streak width)')
    parser.add_argument('--trunc', type=cli.psi, default=1.0, help=f'truncation psi (|psi| <= {cli.MAX_PSI})')
    parser.add_argument('--ratio-seeds', type=cli.seed_list, metavar='RANGE',
                        help='also measure the sticking ratio (high-frequency energy of the neighbourhood average '
                             'over that of the image; about 1: texture sticks, far below 1: it moves) over these '
                             'seeds, e.g. 0-15; printed and written to sticking_ratio.json')
    parser.add_argument('--outdir', type=cli.output_dir, default='renders/sticking')
    parser.add_argument('--device', type=cli.device, default='cpu')
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> None:
    import tqdm

    from analysis.sticking import compose_rows, sticking_figure
    from networks import load_generator
    from networks.image_write import save_png

    rows = []
    # Every pickle is loaded (and checked) before anything is written: a bad one leaves no folder or images.
    generators = [load_generator(path, args.device) for path in args.networks]
    os.makedirs(args.outdir, exist_ok=True)
    for path, G in tqdm.tqdm(list(zip(args.networks, generators)), desc='networks', unit='net'):
        parts = sticking_figure(G, seed=args.seed, radius=args.radius, num=args.num, num_frames=args.frames,
                                psi=args.trunc)
        stem = os.path.splitext(os.path.basename(path))[0]
        for key, img in parts.items():
            save_png(os.path.join(args.outdir, f'{stem}-{key}.png'), img)
        rows.append([parts['central'], parts['average'], parts['streak']])
    out = os.path.join(args.outdir, 'sticking.png')
    save_png(out, compose_rows(rows))
    print(f'wrote {out} (rows: {", ".join(args.networks)}; columns: image, neighbourhood average, slice streak)')
    if args.ratio_seeds:
        _ratios(args, generators)


def _ratios(args: argparse.Namespace, generators: list) -> None:
    import json
    import math
    import statistics

    from analysis.sticking import HIGH_BAND, sticking_ratio
    from networks.atomic_io import atomic_write

    table = {}
    for path, G in zip(args.networks, generators):
        ratios = [sticking_ratio(G, seed, radius=args.radius, num=args.num, psi=args.trunc)
                  for seed in args.ratio_seeds]
        finite = [r for r in ratios if math.isfinite(r)]
        median = statistics.median(finite) if finite else float('nan')
        table[path] = dict(seeds=list(args.ratio_seeds), ratios=ratios, median=median)
        low, high = (min(finite), max(finite)) if finite else (math.nan, math.nan)
        print(f'{path}: sticking ratio median {median:.3f} (min {low:.3f}, max {high:.3f}) over '
              f'{len(finite)} seeds')
    out = os.path.join(args.outdir, 'sticking_ratio.json')
    record = dict(definition='high-frequency energy (>= band cycles/pixel, Hann window) of the neighbourhood '
                             'average over that of the seed image', band=HIGH_BAND, radius=args.radius,
                  num=args.num, trunc=args.trunc, networks=table)
    text = json.dumps(record, indent=2).encode()
    atomic_write(out, lambda f: f.write(text))
    print(f'wrote {out}')


if __name__ == '__main__':
    sys.exit(main())
