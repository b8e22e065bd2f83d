"""Latent interpolation videos and equivariance videos (NVlabs' gen_video flags, plus --mode eq).

    python -m tools.gen_video --network net.pkl --seeds 0-31 --grid 4x2 --w-frames 60 --output lerp.mp4
    python -m tools.gen_video --network net.pkl --seeds 0-2 --interp slerp --output walk.gif
    python -m tools.gen_video --network sg3.pkl --mode eq --seeds 0 --sweep x,y,rot --frames 120 --output eq.mp4
    python -m tools.gen_video --network cond.pkl --class 2 --seeds 0-3 --direction pca:1=2@middle --output c.mp4
    python -m tools.gen_video --network sg2.pkl --compare sg3t.pkl sg3r.pkl --seeds 0-7 --output sticking.mp4

Interpolation loops seamlessly through the keyframes (cubic in W, or spherical in Z). Equivariance
mode shows one row per sweep (x translation, y translation, rotation of the input): the output, the
ideally transformed first frame, and their difference (x4). .mp4 (H.264 via imageio-ffmpeg) or .gif.
--direction edits every frame's w as in tools.gen_images; --class picks the class of conditional networks.
--compare adds one or two networks beside --network: each makes its own frames from the same seeds and settings,
and every video frame shows them side by side under their file names (viz.core.compare: panes of a lower
resolution enlarged to the tallest by whole-pixel repetition, else nearest neighbour), as the window's Compare
panel shows them: StyleGAN2's textures sticking to the screen beside StyleGAN3's moving with the content.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import numpy as np
import tqdm

from analysis.directions import DirectionResolver
from analysis.video_frames import SWEEPS, equivariance_frames, interpolation_frames
from networks import load_generator
from networks.errors import UserError
from tools import cli
from tools.cli import ArgumentParser, main_entry
from viz.core.compare import NOTE_PREFIX, check_compare, compose_panes, pane_name
from viz.core.video_writer import VideoRecorder

MAX_FRAMES = 36_000  # ten minutes at 60 frames/s
# Each mode's own options and their defaults; the other mode's options are refused, not ignored.
INTERP_OPTIONS = dict(grid=(1, 1), num_keyframes=None, w_frames=60, interp='cubic')
EQ_OPTIONS = dict(sweep=SWEEPS, frames=120, translate_max=0.125, rotate_max=360.0)


def _grid(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'{cli.shown(text)}: expected WxH, e.g. 2x1') from None
    if not (1 <= w <= 64 and 1 <= h <= 64):
        raise argparse.ArgumentTypeError(f'{cli.shown(text)}: each side must be in 1..64')
    return w, h


def _video_file(text: str) -> str:
    if not text.lower().endswith(('.mp4', '.gif')):
        raise argparse.ArgumentTypeError(f'{text!r} must end in .mp4 or .gif')
    return cli.output_file(text)


def _sweeps(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(',') if s.strip())
    bad = [n for n in names if n not in SWEEPS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f'{cli.shown(text)}: expected a comma-separated subset of {",".join(SWEEPS)}')
    return names


def build_parser() -> ArgumentParser:
    """NVlabs' gen_video flags, plus --mode eq."""
    parser = ArgumentParser(prog='python -m tools.gen_video', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--network', required=True, type=cli.network_pkl, metavar='PKL')
    parser.add_argument('--compare', nargs='+', type=cli.network_pkl, default=None, metavar='PKL',
                        help='one or two more networks: their frames beside --network\'s (same seeds and settings), '
                             'each labelled with its file name')
    parser.add_argument('--output', required=True, type=_video_file, help='.mp4 or .gif')
    parser.add_argument('--mode', default='interp', choices=['interp', 'eq'])
    parser.add_argument('--seeds', type=cli.seed_list, default='0-2',
                        help='keyframe seeds (interp) or the seed (eq: the first)')
    parser.add_argument('--shuffle-seed', type=cli.seed, default=None,
                        help="shuffle with this seed: interp, the keyframe seeds taken (NVlabs' order); eq, the seeds")
    parser.add_argument('--grid', type=_grid, default=None, help='WxH grid of walks (interp; default 1x1)')
    parser.add_argument('--num-keyframes', type=cli.int_range(1, cli.MAX_SEEDS), default=None,
                        help='keyframes per walk (default: seeds / cells); fewer seeds are cycled through, as NVlabs')
    parser.add_argument('--w-frames', type=cli.int_range(1, MAX_FRAMES), default=None,
                        help='frames between keyframes (interp; default 60)')
    parser.add_argument('--interp', default=None, choices=['cubic', 'slerp'], help='interp; default cubic')
    parser.add_argument('--sweep', type=_sweeps, default=None, help='eq: comma-separated x,y,rot (default all)')
    parser.add_argument('--frames', type=cli.int_range(1, MAX_FRAMES), default=None,
                        help='eq: frames of each looping sweep (default 120)')
    parser.add_argument('--translate-max', type=cli.translation, default=None,
                        help='eq: translation amplitude (image widths; default 0.125)')
    parser.add_argument('--rotate-max', type=cli.degrees, default=None,
                        help='eq: rotation over the loop (degrees; default 360)')
    parser.add_argument('--trunc', type=cli.psi, default=1.0, help=f'truncation psi (|psi| <= {cli.MAX_PSI})')
    parser.add_argument('--class', dest='class_idx', type=cli.nonnegative_int, default=None,
                        help='class (conditional networks)')
    parser.add_argument('--direction', dest='directions', action='append', type=cli.direction, default=[],
                        metavar='SOURCE[:I]=S[@LAYERS]', help='move w along a direction (repeatable, as gen_images)')
    parser.add_argument('--cache-dir', type=cli.output_dir, default=None,
                        help='where the PCA of --direction pca is cached (default: the platform cache folder)')
    parser.add_argument('--fps', type=cli.int_range(1, 240), default=30)
    parser.add_argument('--scale', type=cli.int_range(1, 16), default=1, help='integer upscaling of small images')
    parser.add_argument('--device', type=cli.device, default='cpu')
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> None:
    own, other = (EQ_OPTIONS, INTERP_OPTIONS) if args.mode == 'eq' else (INTERP_OPTIONS, EQ_OPTIONS)
    cli.refuse_unused(args, ['--' + name.replace('_', '-') for name in other], f'with --mode {args.mode}')
    for name, default in own.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    pkls = [args.network, *check_compare(args.compare or ())]
    seeds = list(args.seeds)
    if args.mode == 'eq' and args.shuffle_seed is not None:  # the seed is the first of the shuffled list
        np.random.RandomState(args.shuffle_seed).shuffle(seeds)
    resolver = DirectionResolver(args.cache_dir)
    edit = dict(class_idx=args.class_idx, directions=args.directions, resolver=resolver)

    def network_frames(pkl: str):
        G = load_generator(pkl, args.device)
        resolver.check(G, args.directions)  # a bad direction file fails before the video file is opened
        if args.mode == 'eq':
            return equivariance_frames(G, seeds[0], args.sweep, args.frames, args.translate_max, args.rotate_max,
                                       args.trunc, device=args.device, scale=args.scale, **edit)
        return interpolation_frames(G, seeds, args.grid, args.num_keyframes, args.w_frames, args.interp, args.trunc,
                                    args.device, args.scale, shuffle_seed=args.shuffle_seed, **edit)

    if args.mode == 'eq':
        total = args.frames
    else:
        total = (args.num_keyframes or len(seeds) // (args.grid[0] * args.grid[1])) * args.w_frames
    # The first frame is drawn before the file is opened: the frame generators check their arguments (class,
    # keyframes, input transform) when they start, and a refusal must leave no file or folder behind.
    if len(pkls) == 1:
        frames = iter(network_frames(args.network))
        first = next(frames)
    else:
        frames, first = compared_frames(pkls, network_frames)
    recorder = VideoRecorder(args.output, fps=args.fps)
    done = False
    try:
        recorder.add(first)
        for frame in tqdm.tqdm(frames, initial=1, total=total, desc='frames', unit='frame'):
            recorder.add(frame)
        recorder.close()
        done = True
    finally:
        if not done:  # an unfinished video is not a result; the error that stopped it is the one reported
            with contextlib.suppress(Exception):
                recorder.close()
            if os.path.isfile(args.output):
                os.remove(args.output)
    print(f'wrote {args.output} ({recorder.num_frames} frames)')


def compared_frames(pkls: list[str], network_frames) -> tuple[object, np.ndarray]:
    """(the rest of the frames, the first frame) of the networks `pkls` side by side: frame k of each network's
    `network_frames(pkl)`, composed and labelled by `viz.core.compare.compose_panes`. A network that cannot make
    its frames (an equivariance video of a StyleGAN2) is refused in one line that names it."""
    names = [pane_name(pkl) for pkl in pkls]
    streams, firsts = [], []
    for pkl, name in zip(pkls, names):
        try:
            stream = iter(network_frames(pkl))
            firsts.append(next(stream))
        except UserError as exc:
            raise UserError(f'{name}: {exc}', option=exc.option, value=exc.value,
                            hint_command=exc.hint_command) from None
        streams.append(stream)
    first, _boxes, notes = compose_panes(firsts, names)
    for note in notes:
        print(f'note: {note[len(NOTE_PREFIX):]}')
    return (compose_panes(list(panes), names)[0] for panes in zip(*streams)), first


if __name__ == '__main__':
    sys.exit(main())
