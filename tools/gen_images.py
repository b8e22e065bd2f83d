"""Generate images with a pretrained network (NVlabs' gen_images, same flags).

    python -m tools.gen_images --network net.pkl --seeds 0-3 --trunc 1 --outdir renders/images
    python -m tools.gen_images --network net.pkl --seeds 7 --translate 0.1,0 --rotate 10 --outdir out
    python -m tools.gen_images --network cond.pkl --seeds 0-9 --class 3 --noise-mode const --outdir out
    python -m tools.gen_images --network net.pkl --seeds 0-3 --direction pca:0=2@coarse --outdir out
    python -m tools.gen_images --network net.pkl --seeds 5 --direction smile.npy=-3@4-7 --outdir out

--direction SOURCE[:INDEX]=STRENGTH[@LAYERS] (repeatable) moves each w: SOURCE is pca (the network's principal
axes of W, GANSpace; STRENGTH in standard deviations; computed once and cached, see --cache-dir) or a .npy/.npz
file of [k, w_dim] directions (STRENGTH times row INDEX); LAYERS is all (default), coarse, middle, fine or A-B.
"""

from __future__ import annotations

import argparse
import os
import sys

import tqdm

from analysis.directions import DirectionResolver
from analysis.generate import generate_images
from networks import load_generator
from networks.image_write import save_png
from tools import cli
from tools.cli import ArgumentParser, main_entry


def build_parser() -> ArgumentParser:
    """NVlabs' gen_images flags."""
    parser = ArgumentParser(prog='python -m tools.gen_images', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--network', required=True, type=cli.network_pkl, metavar='PKL',
                        help='network pickle (ours or NVlabs)')
    parser.add_argument('--seeds', required=True, type=cli.seed_list, help='e.g. 0-3,7')
    parser.add_argument('--trunc', type=cli.psi, default=1.0, help=f'truncation psi (|psi| <= {cli.MAX_PSI})')
    parser.add_argument('--class', dest='class_idx', type=cli.nonnegative_int, default=None,
                        help='class (conditional networks)')
    parser.add_argument('--noise-mode', default='const', choices=['const', 'random', 'none'],
                        help="StyleGAN2's noise: the network's fixed maps, each seed's own fresh noise, or none")
    parser.add_argument('--translate', type=cli.translation_vec2, default='0,0',
                        help='input translation x,y in image widths (StyleGAN3)')
    parser.add_argument('--rotate', type=cli.degrees, default=0.0, help='input rotation in degrees (StyleGAN3)')
    parser.add_argument('--direction', dest='directions', action='append', type=cli.direction, default=[],
                        metavar='SOURCE[:I]=S[@LAYERS]', help='move w along a direction (repeatable; see below)')
    parser.add_argument('--cache-dir', type=cli.output_dir, default=None,
                        help='where the PCA of --direction pca is cached (default: the platform cache folder)')
    parser.add_argument('--outdir', required=True, type=cli.output_dir)
    parser.add_argument('--device', type=cli.device, default='cpu')
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> None:
    seeds = args.seeds
    G = load_generator(args.network, args.device)
    resolver = DirectionResolver(args.cache_dir)
    resolver.check(G, args.directions)  # a bad direction file fails before anything is written
    images = generate_images(G, seeds, args.trunc, args.class_idx, args.noise_mode, args.translate,
                             args.rotate, args.device, directions=args.directions, resolver=resolver)
    os.makedirs(args.outdir, exist_ok=True)  # after every check (generate_images checks when called)
    for seed, img in tqdm.tqdm(images, total=len(seeds), desc='images', unit='img'):
        save_png(os.path.join(args.outdir, f'seed{seed:04d}.png'), img)
    print(f'wrote {len(seeds)} images to {args.outdir}')


if __name__ == '__main__':
    sys.exit(main())
