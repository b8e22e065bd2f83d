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

from tools.cli import ArgumentParser, main_entry
from training.dataset_convert import TRANSFORMS, convert_dataset


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def build_parser() -> ArgumentParser:
    """NVlabs' dataset_tool flags, plus builtin:photos (--count, --seed) and --on-error."""
    parser = ArgumentParser(prog='python -m tools.dataset_tool', description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--source', required=True, help='folder, zip, image file, or builtin:photos')
    parser.add_argument('--dest', required=True, help='output folder or .zip')
    parser.add_argument('--resolution', help='output size WxH, e.g. 256x256')
    parser.add_argument('--transform', choices=TRANSFORMS, help='how to fit images to --resolution')
    parser.add_argument('--max-images', type=int, help='stop after this many source images')
    parser.add_argument('--count', type=int, help='number of crops for builtin:photos or a single image')
    parser.add_argument('--seed', type=int, default=0, help='seed for random crops')
    parser.add_argument('--on-error', choices=('skip', 'stop'), default='skip',
                        help='unreadable or mismatched images: list and skip them, or stop at the first')
    return parser


def _run(args: argparse.Namespace) -> None:
    convert_dataset(args.source, args.dest, resolution=args.resolution, transform=args.transform,
                    max_images=args.max_images, count=args.count, seed=args.seed, on_error=args.on_error)


if __name__ == '__main__':
    sys.exit(main())
