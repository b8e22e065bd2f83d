"""Latent interpolation videos and equivariance videos (NVlabs' gen_video flags, plus --mode eq).

    python -m tools.gen_video --network net.pkl --seeds 0-31 --grid 4x2 --w-frames 60 --output lerp.mp4
    python -m tools.gen_video --network net.pkl --seeds 0-2 --interp slerp --output walk.gif
    python -m tools.gen_video --network sg3.pkl --mode eq --seeds 0 --sweep x,y,rot --frames 120 --output eq.mp4

Interpolation loops seamlessly through the keyframes (cubic in W, or spherical in Z). Equivariance
mode shows one row per sweep (x translation, y translation, rotation of the input): the output, the
ideally transformed first frame, and their difference (x4). .mp4 (H.264 via imageio-ffmpeg) or .gif.
"""

from __future__ import annotations

import argparse
import sys

import tqdm

from networks import UserError, load_generator
from tools.cli import ArgumentParser, main_entry
from viz.analysis.common import parse_range
from viz.analysis.video_frames import SWEEPS, equivariance_frames, interpolation_frames
from viz.core.video_writer import VideoRecorder


def _parse_grid(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split('x'))
        if w < 1 or h < 1:
            raise ValueError
        return w, h
    except ValueError as err:
        raise UserError(f'bad --grid {text!r}: expected WxH, e.g. 2x1') from err


def build_parser() -> ArgumentParser:
    """NVlabs' gen_video flags, plus --mode eq."""
    parser = ArgumentParser(prog='python -m tools.gen_video', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--network', required=True, metavar='PKL')
    parser.add_argument('--output', required=True, help='.mp4 or .gif')
    parser.add_argument('--mode', default='interp', choices=['interp', 'eq'])
    parser.add_argument('--seeds', default='0-2', help='keyframe seeds (interp) or the seed (eq: the first)')
    parser.add_argument('--shuffle-seed', type=int, default=None, help='shuffle the seeds with this seed')
    parser.add_argument('--grid', default='1x1', help='WxH grid of walks (interp)')
    parser.add_argument('--num-keyframes', type=int, default=None, help='keyframes per walk (default: seeds / cells)')
    parser.add_argument('--w-frames', type=int, default=60, help='frames between keyframes (interp)')
    parser.add_argument('--interp', default='cubic', choices=['cubic', 'slerp'])
    parser.add_argument('--sweep', default=','.join(SWEEPS), help='eq: comma-separated x,y,rot')
    parser.add_argument('--frames', type=int, default=120, help='eq: frames of each looping sweep')
    parser.add_argument('--translate-max', type=float, default=0.125, help='eq: translation amplitude (image widths)')
    parser.add_argument('--rotate-max', type=float, default=360.0, help='eq: rotation over the loop (degrees)')
    parser.add_argument('--trunc', type=float, default=1.0)
    parser.add_argument('--fps', type=int, default=30)
    parser.add_argument('--scale', type=int, default=1, help='integer upscaling of small images')
    parser.add_argument('--device', default='cpu')
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> None:
    if not args.output.lower().endswith(('.mp4', '.gif')):
        raise UserError(f'--output must end in .mp4 or .gif, got {args.output!r}')
    seeds = parse_range(args.seeds)
    if args.shuffle_seed is not None:
        import numpy as np
        np.random.RandomState(args.shuffle_seed).shuffle(seeds)
    G = load_generator(args.network, args.device)
    if args.mode == 'eq':
        sweeps = tuple(s.strip() for s in args.sweep.split(',') if s.strip())
        frames = equivariance_frames(G, seeds[0], sweeps, args.frames, args.translate_max, args.rotate_max,
                                     args.trunc, device=args.device, scale=args.scale)
        total = args.frames
    else:
        grid = _parse_grid(args.grid)
        frames = interpolation_frames(G, seeds, grid, args.num_keyframes, args.w_frames, args.interp, args.trunc,
                                      args.device, args.scale)
        keyframes = args.num_keyframes or len(seeds) // (grid[0] * grid[1])
        total = keyframes * args.w_frames
    recorder = VideoRecorder(args.output, fps=args.fps)
    try:
        for frame in tqdm.tqdm(frames, total=total, desc='frames', unit='frame'):
            recorder.add(frame)
    finally:
        recorder.close()
    print(f'wrote {args.output} ({recorder.num_frames} frames)')


if __name__ == '__main__':
    sys.exit(main())
