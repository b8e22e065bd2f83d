"""Compute quality and equivariance metrics of a network pickle (NVlabs' calc_metrics, same flag names).

    python -m tools.calc_metrics --metrics eqt50k_int,eqr50k --network net.pkl --num-samples 1000
    python -m tools.calc_metrics --metrics fid50k_full,kid50k_full --network net.pkl --data ffhq-256.zip \\
        --detector inception-2015-12-05.pkl --trust-detector   # TorchScript: code, loaded only on request
    python -m tools.calc_metrics --metrics swd --network net.pkl --data ffhq-256.zip --num-samples 4096

Results are printed and appended as JSON lines to <run-dir>/metric-<name>.jsonl (default: the
pickle's directory), as training does.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from networks import load_generator
from networks.conventions import class_count
from tools import cli
from tools.cli import ArgumentParser, main_entry
from training import metrics
from training.metrics import frechet


def _metric_list(text: str) -> list[str]:
    names = [m.strip() for m in text.split(',') if m.strip()]
    bad = [m for m in names if not metrics.is_valid_metric(m)]
    if bad or not names:
        raise argparse.ArgumentTypeError(f'unknown metric(s) {", ".join(bad) or repr(text)}; valid: '
                                         + ', '.join(metrics.list_valid_metrics()))
    return names


def _detector(text: str) -> str:
    # An explicit URL is fetched by the detector loader (never implicitly); anything else must be a local file.
    return text if text.startswith(('http://', 'https://', 'file://')) else cli.existing_file(text)


def build_parser() -> ArgumentParser:
    """NVlabs' calc_metrics flag names."""
    parser = ArgumentParser(prog='python -m tools.calc_metrics', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--network', required=True, type=cli.network_pkl, metavar='PKL',
                        help='network pickle (ours or NVlabs)')
    parser.add_argument('--metrics', type=_metric_list, default='fid50k_full', help='comma-separated: '
                        + ', '.join(metrics.list_valid_metrics()))
    parser.add_argument('--data', type=cli.existing_path, metavar='PATH', help='dataset zip or folder (FID, KID, SWD)')
    parser.add_argument('--mirror', action='store_true', help='x-flip the dataset')
    parser.add_argument('--num-samples', type=cli.int_range(1, 10_000_000), default=None, metavar='N',
                        help='generated samples per metric (default: the metric\'s own, e.g. 50000)')
    parser.add_argument('--detector', type=_detector, metavar='PATH|URL', default=None,
                        help='Inception detector file (NVlabs format) for FID/KID; never downloaded implicitly')
    parser.add_argument('--trust-detector', action='store_true',
                        help='allow a TorchScript detector: TorchScript is code that runs when loaded')
    parser.add_argument('--cache-dir', type=cli.output_dir, default=None, help='dataset statistics cache '
                        f'(default {frechet.cache_dir_default()})')
    parser.add_argument('--run-dir', type=cli.output_dir, default=None,
                        help='where metric-*.jsonl go (default: the pickle\'s folder)')
    parser.add_argument('--batch', type=cli.int_range(1, 4096), default=16,
                        help='batch size (speed only: never changes a result)')
    parser.add_argument('--seed', type=cli.seed, default=0,
                        help='seed of the equivariance metrics\' latents and transforms (one transform per sample)')
    parser.add_argument('--gpus', type=cli.int_range(1, 1), default=1,
                        help='number of GPUs (1: training computes metrics on several)')
    parser.add_argument('--device', type=cli.device, default=None, help='cpu, cuda, mps (default: cuda if available)')
    parser.add_argument('--no-report', action='store_true', help='do not append JSON lines')
    return parser


def run(args: argparse.Namespace) -> None:
    """Compute, print and (unless --no-report) append each metric of ``--metrics``."""
    import tqdm

    names = args.metrics
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    G = load_generator(args.network, device)
    dataset_kwargs = None
    if args.data:
        dataset_kwargs = dict(class_name='training.dataset.ImageFolderDataset', path=args.data,
                              use_labels=class_count(G) > 0, xflip=args.mirror)
    run_dir = args.run_dir or os.path.dirname(os.path.abspath(args.network))
    bars: dict[str, tqdm.tqdm] = {}

    def progress(tag, done, total):
        bar = bars.get(tag)
        if bar is None:
            bar = bars[tag] = tqdm.tqdm(total=total, desc=tag, unit='img', leave=False, file=sys.stderr)
        bar.update(done - bar.n)

    for name in names:
        result = metrics.calc_metric(name, G, dataset_kwargs=dataset_kwargs, device=device, num_gpus=1,
                                     num_samples=args.num_samples,
                                     cache_dir=args.cache_dir or frechet.cache_dir_default(),
                                     detector=args.detector, batch_size=args.batch, progress=progress,
                                     trust_detector=args.trust_detector, seed=args.seed)
        for bar in bars.values():
            bar.close()
        bars.clear()
        line = metrics.report_metric(result, run_dir=None if args.no_report else run_dir,
                                     snapshot_pkl=os.path.abspath(args.network))
        print(line)


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), run, argv)


if __name__ == '__main__':
    sys.exit(main())
