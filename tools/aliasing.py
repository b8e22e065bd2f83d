"""Aliasing per layer: each synthesis layer's frequency limits (s, fc, ft, s/2) and the share of its energy beyond
them, averaged over seeds, as aliasing.csv, aliasing.json and a bar chart aliasing.png.

    python -m tools.aliasing --network net.pkl --seeds 0-7 [--trunc 0.7] [--translate 0.1,0] [--rotate 10] --outdir out

What is measured (analysis.aliasing): each layer's output over its image area (the margin cropped), per-channel mean
removed, Kaiser window (beta 8), power summed over channels; the fractions of it at radial frequencies above the
layer's cutoff fc, above its filter's stopband edge ft, and above half the next layer's sampling rate (what folds
when the content is rotated). StyleGAN2 layers have no fc or ft: only the last fraction.
"""

from __future__ import annotations

import argparse
import os
import sys

from tools import cli
from tools.cli import ArgumentParser, main_entry

FILES = ('aliasing.csv', 'aliasing.json', 'aliasing.png')


def build_parser() -> ArgumentParser:
    """The tool's flags (NVlabs has no such tool; these follow gen_images' names)."""
    parser = ArgumentParser(prog='python -m tools.aliasing', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--network', required=True, type=cli.network_pkl, metavar='PKL',
                        help='network pickle (ours or NVlabs; StyleGAN2 or StyleGAN3)')
    parser.add_argument('--seeds', type=cli.seed_list, default='0-7', help='seeds averaged over, e.g. 0-7 (default)')
    parser.add_argument('--trunc', type=cli.psi, default=1.0, help=f'truncation psi (|psi| <= {cli.MAX_PSI})')
    parser.add_argument('--class', dest='class_idx', type=cli.nonnegative_int, default=None,
                        help="class (conditional networks; default: each seed's own)")
    parser.add_argument('--translate', type=cli.translation_vec2, default='0,0',
                        help='input translation x,y in image widths (StyleGAN3)')
    parser.add_argument('--rotate', type=cli.degrees, default=0.0, help='input rotation in degrees (StyleGAN3)')
    parser.add_argument('--outdir', required=True, type=cli.output_dir, help=f'where {", ".join(FILES)} go')
    parser.add_argument('--device', type=cli.device, default='cpu')
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _number(value) -> str:
    return '-' if value is None else f'{value:.3g}'


def _run(args: argparse.Namespace) -> None:
    import tqdm

    from analysis import aliasing
    from networks import load_generator
    from networks.atomic_io import atomic_write

    G = load_generator(args.network, args.device)
    transform = dict(translate=args.translate, angle_degrees=args.rotate)
    bars: list = []

    def progress(done: int, total: int) -> None:
        if not bars:  # made at the first report, after the arguments are checked: an error stays one line
            bars.append(tqdm.tqdm(total=total, desc='seeds', unit='seed'))
        bars[0].update(done - bars[0].n)

    try:
        rows = aliasing.aliasing_average(G, args.seeds, args.trunc, transform, args.class_idx, control=progress)
    finally:
        for bar in bars:
            bar.close()
    meta = dict(network=args.network, seeds=list(args.seeds), trunc=args.trunc, class_idx=args.class_idx,
                translate=list(args.translate), rotate=args.rotate, beta=aliasing.DEFAULT_BETA, padding=None)
    stem = os.path.splitext(os.path.basename(args.network))[0]
    moved = f', translate {args.translate[0]:g},{args.translate[1]:g}, rotate {args.rotate:g} deg' \
        if args.translate != (0.0, 0.0) or args.rotate else ''
    title = (f'{stem}: fraction of each layer\'s energy beyond its limits, mean of {len(args.seeds)} seeds '
             f'(psi {args.trunc:g}{moved})')
    # Everything is computed before anything is written: bad input leaves no folder and no files.
    contents = {'aliasing.csv': aliasing.table_csv(rows).encode(),
                'aliasing.json': aliasing.table_json(rows, **meta).encode(),
                'aliasing.png': aliasing.figure_png(rows, title)}
    os.makedirs(args.outdir, exist_ok=True)
    for name, data in contents.items():
        atomic_write(os.path.join(args.outdir, name), lambda f, data=data: f.write(data))
    print(f'{"layer":12s} {"s":>6s} {"fc":>7s} {"ft":>7s} {"next s/2":>8s}  {"> fc":>9s} {"> ft":>9s} {"aliases":>9s}')
    for row in rows:
        print(f'{row["name"]:12s} {_number(row["out_sampling_rate"]):>6s} {_number(row["out_cutoff"]):>7s} '
              f'{_number(row["out_stopband"]):>7s} {_number(row["next_half_rate"]):>8s}  '
              + ' '.join(f'{_number(row[key]):>9s}' for key in aliasing.BANDS))
    print(f'wrote {", ".join(os.path.join(args.outdir, name) for name in FILES)}')


if __name__ == '__main__':
    sys.exit(main())
