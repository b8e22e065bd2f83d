"""Average 2-D power spectra of datasets and networks (NVlabs' avg_spectra subcommands).

    python -m tools.avg_spectra stats --source data.zip --num 10000
    python -m tools.avg_spectra calc --source data.zip --dest spectra/data.npz --mean 112.7 --std 69.8 --num 10000
    python -m tools.avg_spectra calc --source net.pkl --dest spectra/net.npz --mean 112.7 --std 69.8 --num 10000
    python -m tools.avg_spectra heatmap spectra/net.npz --png spectra/net-heatmap.png --sigma 1
    python -m tools.avg_spectra slices spectra/data.npz spectra/net.npz --png spectra/slices.png

Use the same --mean/--std (from `stats` of the dataset) for every source you compare. Without them,
`calc` uses the source's own statistics.
"""

from __future__ import annotations

import argparse
import sys

import tqdm

from tools import cli
from tools.cli import ArgumentParser, main_entry
from viz.analysis import spectra

MAX_IMAGES = 1_000_000   # images or seeds per spectrum: NVlabs' figures use 50k-70k


def _spectrum_file(text: str) -> str:
    """An .npz written by `calc`: a square, finite 2-D `spectrum` and a positive integer `padding`."""
    import numpy as np

    cli.existing_file(text)
    try:
        with np.load(text, allow_pickle=False) as data:
            if not hasattr(data, 'files'):
                raise ValueError('a single array, not an .npz archive')
            missing = [k for k in ('spectrum', 'padding', 'image_size') if k not in data.files]
            if missing:
                raise ValueError(f'no {", ".join(missing)}')
            spec, padding = data['spectrum'], data['padding']
    except (ValueError, OSError, EOFError) as err:  # EOFError: an empty file; zip errors are ValueErrors
        raise argparse.ArgumentTypeError(f'{text!r} is not a spectrum from `avg_spectra calc` ({err})') from None
    if spec.ndim != 2 or spec.shape[0] != spec.shape[1] or spec.shape[0] < 2 or spec.dtype.kind != 'f' \
            or not np.isfinite(spec).all():
        raise argparse.ArgumentTypeError(f'{text!r}: `spectrum` is not a square, finite 2-D array')
    if padding.ndim != 0 or padding.dtype.kind not in 'iu' or int(padding) < 1:
        raise argparse.ArgumentTypeError(f'{text!r}: `padding` is not a positive integer')
    return text


def build_parser() -> ArgumentParser:
    """NVlabs' avg_spectra subcommands (stats, calc, heatmap, slices)."""
    parser = ArgumentParser(prog='python -m tools.avg_spectra', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('stats', 'calc'):
        p = sub.add_parser(name)
        p.add_argument('--source', required=True, type=cli.existing_path, help='dataset zip / folder, or network .pkl')
        p.add_argument('--num', type=cli.int_range(1, MAX_IMAGES), default=10000,
                       help='images (network: seeds from --seed)')
        p.add_argument('--seed', type=cli.seed, default=0)
        p.add_argument('--trunc', type=cli.finite_float, default=1.0)
        p.add_argument('--batch', type=cli.int_range(1, 4096), default=16)
        p.add_argument('--device', type=cli.device, default='cpu')
    calc = sub.choices['calc']
    calc.add_argument('--dest', required=True, type=cli.output_file, help='output .npz')
    calc.add_argument('--mean', type=cli.finite_float, default=None)
    calc.add_argument('--std', type=cli.positive_float, default=None)
    calc.add_argument('--beta', type=cli.float_range(0, 100), default=8.0, help='Kaiser window beta')
    calc.add_argument('--padding', type=cli.int_range(1, 16), default=4, help='FFT zero-padding factor')
    heat = sub.add_parser('heatmap')
    heat.add_argument('npz', type=_spectrum_file)
    heat.add_argument('--png', required=True, type=cli.output_file)
    heat.add_argument('--sigma', type=cli.float_range(0, 1000), default=1.0, help='smoothing (bins)')
    heat.add_argument('--range', dest='range_db', type=cli.float_range(1, 1000), default=50.0,
                      help='dB shown below the peak')
    sl = sub.add_parser('slices')
    sl.add_argument('npz', nargs='+', type=_spectrum_file)
    sl.add_argument('--png', required=True, type=cli.output_file)
    sl.add_argument('--sigma', type=cli.float_range(0, 1000), default=0.0, help='smoothing (bins)')
    return parser


def _batches(args, kind, source):
    return spectra.source_images(kind, source, args.num, args.batch, args.seed, args.trunc, args.device)


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> None:
    if args.command in ('stats', 'calc'):
        kind, source = spectra.open_source(args.source, args.device)
        total = min(args.num, len(source)) if kind == 'dataset' else args.num
        if args.command == 'stats' or args.mean is None or args.std is None:
            mean, std = spectra.source_stats(tqdm.tqdm(_batches(args, kind, source), desc='stats', unit='batch'))
            print(f'--mean={mean:g} --std={std:g}')
            if args.command == 'stats':
                return
        mean = args.mean if args.mean is not None else mean
        std = args.std if args.std is not None else std
        with tqdm.tqdm(total=total, desc='spectrum', unit='img') as bar:
            spec, size, count = spectra.average_standardized_spectrum(_batches(args, kind, source), mean, std,
                                                                      args.beta, args.padding, progress=bar.update)
        spectra.save_spectrum(args.dest, spec, size, args.padding, count, args.source, mean, std, args.beta)
        print(f'wrote {args.dest} ({count} images, {size}x{size}, padding {args.padding})')
    elif args.command == 'heatmap':
        print('wrote', spectra.plot_heatmap(args.npz, args.png, args.sigma, args.range_db))
    else:
        print('wrote', spectra.plot_slices(args.npz, args.png, args.sigma))


if __name__ == '__main__':
    sys.exit(main())
