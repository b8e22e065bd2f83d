"""Average 2-D power spectra of datasets and networks (NVlabs' avg_spectra subcommands and definition).

    python -m tools.avg_spectra stats --source data.zip
    python -m tools.avg_spectra calc --source data.zip --dest spectra/data.npz --mean 112.7 --std 69.8
    python -m tools.avg_spectra calc --source net.pkl --dest spectra/net.npz --mean 112.7 --std 69.8 --num 10000
    python -m tools.avg_spectra heatmap spectra/net.npz --png spectra/net-heatmap.png
    python -m tools.avg_spectra slices spectra/data.npz spectra/net.npz --png spectra/slices.png

The default --definition nvlabs is NVlabs' avg_spectra: network output quantised to uint8 as a saved
image, no per-image mean removed, files in NVlabs' npz layout. --definition whitened removes each image's
mean and keeps float network output; its files are labelled and cannot be compared with nvlabs ones.
Use the same --mean/--std (from `stats` of the dataset) for every source you compare; without them
`calc` uses the source's own statistics. --num of a dataset takes NVlabs' random subset chosen by --seed.
StyleGAN2 noise (--noise-mode): random, fresh noise in every image as NVlabs draws it (here seeded from each
image's seed, so a command always gives the same spectrum), the nvlabs default; or const, the network's fixed
noise maps, the whitened default. Files record it; slices refuses files of different noise modes.
"""

from __future__ import annotations

import argparse
import sys

import tqdm

from analysis import spectra
from networks.errors import UserError
from tools import cli
from tools.cli import ArgumentParser, main_entry

MAX_IMAGES = 1_000_000   # images or seeds per spectrum: NVlabs' figures use 50k-70k
# --mean / --std are pixel statistics in 0..255 units (NVlabs' e.g. 112.7 / 69.8); these bounds keep every power
# finite, even in float32 on a GPU, where a --std of 1e-300 would make the whole spectrum inf.
MAX_PIXEL_STAT = 1e6
MIN_STD = 1e-3


def _spectrum_file(text: str) -> str:
    """An .npz written by `calc` (ours or NVlabs' avg_spectra), checked by the loader the plots use."""
    cli.existing_file(text)
    try:
        spectra.load_spectrum(text)
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def build_parser() -> ArgumentParser:
    """NVlabs' avg_spectra subcommands (stats, calc, heatmap, slices)."""
    parser = ArgumentParser(prog='python -m tools.avg_spectra', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('stats', 'calc'):
        p = sub.add_parser(name)
        p.add_argument('--source', required=True, type=cli.existing_path, help='dataset zip / folder, or network .pkl')
        p.add_argument('--num', type=cli.int_range(1, MAX_IMAGES), default=None,
                       help=f'images (dataset: a random subset chosen by --seed, default all; network: seeds '
                            f'from --seed, default {spectra.NETWORK_DEFAULT_NUM})')
        p.add_argument('--seed', type=cli.seed, default=0, help='dataset subset / first network seed')
        p.add_argument('--trunc', type=cli.psi, default=1.0, help=f'truncation psi (|psi| <= {cli.MAX_PSI})')
        p.add_argument('--batch', type=cli.int_range(1, 4096), default=16)
        p.add_argument('--device', type=cli.device, default='cpu')
        p.add_argument('--definition', choices=sorted(spectra.DEFINITIONS), default=spectra.DEFAULT_DEFINITION,
                       help="nvlabs: NVlabs' avg_spectra (uint8 network output, default); whitened: float "
                            'output, per-image mean removed')
        p.add_argument('--noise-mode', choices=spectra.NOISE_MODES, default=None,
                       help='StyleGAN2 noise: random (fresh per image, seeded by each image seed; the nvlabs '
                            'default) or const (the network\'s fixed maps; the whitened default)')
    calc = sub.choices['calc']
    calc.add_argument('--dest', required=True, type=cli.output_file, help='output .npz')
    calc.add_argument('--mean', type=cli.float_range(-MAX_PIXEL_STAT, MAX_PIXEL_STAT), default=None,
                      help='pixel mean the images are standardised by (`stats` of the dataset)')
    calc.add_argument('--std', type=cli.float_range(MIN_STD, MAX_PIXEL_STAT), default=None,
                      help=f'pixel standard deviation (`stats` of the dataset; >= {MIN_STD:g})')
    calc.add_argument('--beta', type=cli.float_range(0, 100), default=8.0, help='Kaiser window beta')
    calc.add_argument('--padding', '--interp', dest='padding', type=cli.int_range(1, 16), default=4,
                      help="FFT zero-padding factor (NVlabs' --interp)")
    heat = sub.add_parser('heatmap')
    heat.add_argument('npz', type=_spectrum_file)
    heat.add_argument('--png', required=True, type=cli.output_file)
    heat.add_argument('--sigma', '--smooth', dest='sigma', type=cli.float_range(0, 1000), default=1.25,
                      help="Gaussian smoothing in image pixels (NVlabs' --smooth)")
    heat.add_argument('--range', dest='range_db', type=cli.float_range(1, 1000), default=60.0,
                      help='dB span of the colour scale, ending at --vmax')
    heat.add_argument('--vmax', type=cli.finite_float, default=20.0, help='top of the colour scale (absolute dB)')
    sl = sub.add_parser('slices')
    sl.add_argument('npz', nargs='+', type=_spectrum_file)
    sl.add_argument('--png', required=True, type=cli.output_file)
    sl.add_argument('--sigma', '--smooth', dest='sigma', type=cli.float_range(0, 1000), default=0.0,
                    help="Gaussian smoothing in image pixels (NVlabs' --smooth)")
    return parser


def _batches(args, kind, source):
    return spectra.source_images(kind, source, args.num, args.batch, args.seed, args.trunc, args.device,
                                 args.definition, args.noise_mode)


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> None:
    if args.command in ('stats', 'calc'):
        kind, source = spectra.open_source(args.source, args.device, args.num, args.seed)
        total = len(source) if kind == 'dataset' else (args.num or spectra.NETWORK_DEFAULT_NUM)
        args.noise_mode = spectra.resolve_noise_mode(args.definition, args.noise_mode)
        noise = 'none' if kind == 'dataset' else spectra.recorded_noise_mode(source, args.noise_mode)
        label = spectra.spectrum_label(args.definition, noise)
        if args.command == 'stats' or args.mean is None or args.std is None:
            mean, std = spectra.source_stats(tqdm.tqdm(_batches(args, kind, source), desc='stats', unit='batch'))
            print(f'--mean={mean:g} --std={std:g}')
            if kind == 'network':
                print(f'(statistics of {total} network images, {label})')
            if args.command == 'stats':
                return
        mean = args.mean if args.mean is not None else mean
        std = args.std if args.std is not None else std
        with tqdm.tqdm(total=total, desc='spectrum', unit='img') as bar:
            spec, size, count = spectra.average_spectrum(_batches(args, kind, source), mean, std, args.definition,
                                                         args.beta, args.padding, progress=bar.update)
        spectra.save_spectrum(args.dest, spec, size, args.padding, count, args.source, mean, std, args.beta,
                              args.definition, args.seed, args.trunc, noise)
        print(f'wrote {args.dest} ({label}; {count} images, {size}x{size}, interp {args.padding}, seed {args.seed})')
    elif args.command == 'heatmap':
        print('wrote', spectra.plot_heatmap(args.npz, args.png, args.sigma, args.vmax - args.range_db, args.vmax))
    else:
        print('wrote', spectra.plot_slices(args.npz, args.png, args.sigma))


if __name__ == '__main__':
    sys.exit(main())
