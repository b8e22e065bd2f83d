"""Make a training dataset (NVlabs layout: `00000/img00000000.png` + `dataset.json`) in a folder or a zip.

Sources: a folder of images (searched recursively), a zip of images, a single large image, or the built-in
`builtin:photos`: random crops (random position, scale and rotation) of the freely licensed photographs that
ship inside scikit-image and scikit-learn. Examples:

    python -m tools.dataset_tool --source ~/photos --dest data/photos-256.zip --resolution 256x256 \\
        --transform center-crop
    python -m tools.dataset_tool --source builtin:photos --count 2000 --dest data/photos-64.zip \\
        --resolution 64x64 --seed 0

Images that cannot be read, or do not match the first image (size without a transform, or colour against
grayscale) are listed and skipped; with `--on-error stop` the tool stops at the first one with a clear message.
"""

from __future__ import annotations

import argparse
import sys

from tools import cli
from tools.cli import ArgumentParser, main_entry
from training.dataset_convert import TRANSFORMS, convert_dataset

MAX_COUNT = 1_000_000   # crops from builtin:photos or one image: NVlabs' largest datasets have 70k images


def _source(text: str) -> str:
    return text if text.startswith('builtin:') else cli.existing_path(text)


def _dest(text: str) -> str:
    """A .zip to write (its folder writable) or a folder (writable, or creatable)."""
    return cli.output_file(text) if text.lower().endswith('.zip') else cli.output_dir(text)


def _resolution(text: str) -> str:
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{cli.shown(text)}: expected WxH, e.g. 256x256') from None
    if not (1 <= w <= 8192 and 1 <= h <= 8192):
        raise argparse.ArgumentTypeError(f'{cli.shown(text)}: each side must be in 1..8192')
    return text


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def build_parser() -> ArgumentParser:
    """NVlabs' dataset_tool flags, plus builtin:photos (--count, --seed) and --on-error."""
    parser = ArgumentParser(prog='python -m tools.dataset_tool', description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--source', required=True, type=_source, help='folder, zip, image file, or builtin:photos')
    parser.add_argument('--dest', required=True, type=_dest, help='output folder or .zip')
    parser.add_argument('--resolution', type=_resolution, help='output size WxH, e.g. 256x256')
    parser.add_argument('--transform', choices=TRANSFORMS, help='how to fit images to --resolution')
    parser.add_argument('--max-images', type=cli.positive_int, help='stop after this many source images')
    parser.add_argument('--count', type=cli.int_range(1, MAX_COUNT),
                        help='number of crops for builtin:photos or a single image')
    parser.add_argument('--seed', type=cli.seed, default=0, help='seed for random crops')
    parser.add_argument('--on-error', choices=('skip', 'stop'), default='skip',
                        help='unreadable or mismatched images: list and skip them, or stop at the first')
    return parser


def _run(args: argparse.Namespace) -> None:
    convert_dataset(args.source, args.dest, resolution=args.resolution, transform=args.transform,
                    max_images=args.max_images, count=args.count, seed=args.seed, on_error=args.on_error)


if __name__ == '__main__':
    sys.exit(main())
