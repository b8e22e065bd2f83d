"""Equivariance per layer of StyleGAN3 networks: PSNR of every layer's maps under EQ-T, EQ-T frac and EQ-R.

    python -m tools.layer_eq --network sg3t.pkl --network sg3r.pkl --kind eqr --num-samples 64 --outdir renders/leq
    python -m tools.layer_eq --network sg3t.pkl --kind all --num-samples 16 --seed 0 --outdir renders/leq

Writes layer_eq.csv (one row per network, kind and layer), layer_eq.json (the same with the definition) and
layer_eq.png (PSNR over the layers, one line per network and kind). Every layer's maps are moved by the transform
in that layer's own coordinates and compared with the maps of the transformed input; each layer's error is taken
relative to its own signal and put on the output's scale (analysis.layer_eq). The 'output' row is the EQ metric
on the same samples: `python -m tools.calc_metrics --metrics eqr50k --num-samples N --seed S --batch B` prints
the same value.
"""

from __future__ import annotations

import argparse
import os
import sys

from tools import cli
from tools.cli import ArgumentParser, main_entry

KIND_CHOICES = ('eqt_int', 'eqt_frac', 'eqr', 'all')
FILES = ('layer_eq.csv', 'layer_eq.json', 'layer_eq.png')


def build_parser() -> ArgumentParser:
    """The tool's flags (NVlabs has no such tool; --network, --num-samples, --seed and --batch as calc_metrics')."""
    parser = ArgumentParser(prog='python -m tools.layer_eq', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--network', dest='networks', action='append', required=True, metavar='PKL',
                        type=cli.network_pkl,
                        help='StyleGAN3 network pickle (ours or NVlabs); repeat to compare (e.g. T then R)')
    parser.add_argument('--kind', choices=KIND_CHOICES, default='all',
                        help='eqt_int (whole output pixels), eqt_frac, eqr (rotation) or all three')
    parser.add_argument('--num-samples', type=cli.int_range(1, 1_000_000), default=16, metavar='N',
                        help='latents, each with its own transform, as the EQ metrics draw them')
    parser.add_argument('--seed', type=cli.seed, default=0,
                        help='seed of the latents and transforms (the EQ metrics\' --seed)')
    parser.add_argument('--batch', type=cli.int_range(1, 4096), default=4,
                        help='untransformed latents per synthesis call (speed and memory only)')
    parser.add_argument('--region', choices=('image', 'map'), default='image',
                        help='image: the central sampling-rate pixels of each map, the part that covers the image '
                             '(default); map: the whole map with its margin')
    parser.add_argument('--outdir', type=cli.output_dir, default='renders/layer_eq')
    parser.add_argument('--device', type=cli.device, default='cpu')
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


class _Bar:
    """The analysis' progress as a tqdm bar on stderr (no cancel on the command line but Ctrl-C)."""

    def __init__(self, desc: str) -> None:
        import tqdm

        self.bar = tqdm.tqdm(desc=desc, unit='sample', leave=False, file=sys.stderr)

    def check(self) -> None:
        pass

    def report(self, what: str, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)


def _labels(paths: list[str]) -> list[str]:
    """Each pickle's file name without extension; the whole path where two share a name."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    return [stem if stems.count(stem) == 1 else path for stem, path in zip(stems, paths)]


def _run(args: argparse.Namespace) -> None:
    from analysis.layer_eq import KINDS, check_generator, layer_equivariance_average
    from networks import load_generator
    from networks.errors import UserError

    kinds = list(KINDS) if args.kind == 'all' else [args.kind]
    # Every pickle is loaded and checked before anything runs or is written: a bad one leaves no files.
    generators = [load_generator(path, args.device) for path in args.networks]
    for path, G in zip(args.networks, generators):
        try:
            check_generator(G)
        except UserError as err:
            raise UserError(f'{path}: {err}') from None
    labels = _labels(args.networks)
    results = []  # (path, label, kind, rows)
    for path, label, G in zip(args.networks, labels, generators):
        for kind in kinds:
            bar = _Bar(f'{label} {kind}')
            try:
                rows = layer_equivariance_average(G, kind, args.num_samples, seed=args.seed, batch_size=args.batch,
                                                  crop_margin=(args.region == 'image'), control=bar)
            finally:
                bar.bar.close()
            results.append((path, label, kind, rows))
            _print_summary(label, kind, rows)
    _write(args, results)


def _print_summary(label: str, kind: str, rows: list[dict]) -> None:
    from analysis.layer_eq import KIND_LABELS

    lowest = min(rows[:-1], key=lambda r: r['psnr_db'])
    print(f'{label} {KIND_LABELS[kind]}: output {rows[-1]["psnr_db"]:.2f} dB (the metric); input '
          f'{rows[0]["psnr_db"]:.2f} dB; lowest layer {lowest["name"]} {lowest["psnr_db"]:.2f} dB')


def _number(value: float) -> float | str:
    """JSON has no infinities: a PSNR of no error is written 'inf' (Python's float() reads it back)."""
    import math

    return value if math.isfinite(value) else str(value)


def _write(args: argparse.Namespace, results: list) -> None:
    import csv
    import io
    import json

    from analysis.layer_eq import KIND_LABELS, METRIC_OF_KIND, layer_eq_png
    from networks.atomic_io import atomic_write

    columns = ('network', 'kind', 'index', 'layer', 'sampling_rate', 'size', 'channels', 'psnr_db', 'sq_err',
               'count', 'sq_ref', 'operator', 'num_samples')
    text = io.StringIO()
    writer = csv.writer(text, lineterminator='\n')
    writer.writerow(columns)
    for path, _label, kind, rows in results:
        for i, r in enumerate(rows):
            writer.writerow([path, kind, i, r['name'], f'{r["sampling_rate"]:g}', r['size'], r['shape'][0],
                             f'{r["psnr_db"]:.6f}', repr(r['sq_err']), repr(r['count']), repr(r['sq_ref']),
                             r['operator'], r['num_samples']])
    record = dict(
        definition='per layer: the untransformed maps moved by the transform in the layer\'s own coordinates (a '
                   'shift of t * sampling_rate layer pixels; rotation about the map centre) against the maps of '
                   'the transformed input, over the valid pixels of the operators (the EQ metrics\') within '
                   + ('the central sampling_rate pixels (the image)' if args.region == 'image' else 'the whole map'),
        normalisation='PSNR_l = 20 log10(2) - 10 log10(mse_l * ms_out / ms_l): ms_l the mean square of the layer\'s '
                      'reference over its region, ms_out the output\'s; the output row is the EQ metric itself',
        num_samples=args.num_samples, seed=args.seed, batch=args.batch, region=args.region,
        results=[dict(network=path, label=label, kind=kind, metric=METRIC_OF_KIND[kind],
                      layers=[{**r, 'shape': list(r['shape']), 'psnr_db': _number(r['psnr_db'])} for r in rows])
                 for path, label, kind, rows in results])
    data = json.dumps(record, indent=1, allow_nan=False).encode()
    title = (f'Equivariance per layer, {args.num_samples} samples, seed {args.seed}, region {args.region} '
             f'({", ".join(KIND_LABELS[k] for k in dict.fromkeys(r[2] for r in results))})')
    png = layer_eq_png([(label, kind, rows) for _path, label, kind, rows in results], title)
    for name, payload in zip(FILES, (text.getvalue().encode(), data, png)):
        atomic_write(os.path.join(args.outdir, name), lambda f, payload=payload: f.write(payload))
    print(f'wrote {", ".join(os.path.join(args.outdir, name) for name in FILES)}')


if __name__ == '__main__':
    sys.exit(main())
