"""Project an image into W or W+ of a network (StyleGAN3 T/R or StyleGAN2; StyleGAN2 noise maps too).

    python -m tools.project --network net.pkl --target face.png --space w+ --steps 1000 --outdir out
    python -m tools.project --network net.pkl --target face.png --space w --steps 300 --outdir out --video

Writes projected_w.npz (key ``w``: [num_ws, w_dim]; StyleGAN2 noise maps under ``noise/<layer>``), proj.png
(the final image), target_proj.png (target | reconstruction) and with --video proj.mp4 (the progress).
The snapshot's own discriminator, when the pickle has one, adds a perceptual feature term (--d-weight);
--vgg16 FILE --trust-detector adds LPIPS-VGG16 from a local TorchScript file (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from analysis.generate import label_for
from analysis.projection import (
    ProjectionError,
    ProjectionStep,
    discriminator_of,
    load_target,
    lpips_vgg16,
    project,
    psnr,
    save_projection,
)
from networks.conventions import class_count, to_uint8_rgb
from networks.image_write import save_png
from tools.cli import (
    MAX_LOSS_WEIGHT,
    ArgumentParser,
    device,
    existing_file,
    float_range,
    int_range,
    loss_weight,
    main_entry,
    network_pkl,
    nonnegative_int,
    output_dir,
    refuse_unused,
    seed,
)

D_WEIGHT = 0.1
D_EVERY = 4


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog='python -m tools.project', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--network', required=True, type=network_pkl, metavar='PKL', help='network pickle')
    parser.add_argument('--target', required=True, type=existing_file, metavar='IMAGE', help='image to project')
    parser.add_argument('--space', default='w+', choices=['w', 'w+'], help='one w for all layers, or one per layer')
    parser.add_argument('--steps', type=int_range(1, 1_000_000), default=1000, metavar='N', help='optimisation steps')
    parser.add_argument('--outdir', required=True, type=output_dir, metavar='DIR')
    parser.add_argument('--seed', type=seed, default=0, metavar='S', help='random seed')
    parser.add_argument('--lr', type=float_range(1e-9, 100), default=0.1, help='initial learning rate (Adam)')
    parser.add_argument('--d-weight', type=loss_weight, default=None,
                        help=f'weight of the discriminator-feature term (default {D_WEIGHT}; 0: pixels only; at most '
                             f'{MAX_LOSS_WEIGHT:g}); only for a pickle that holds D')
    parser.add_argument('--d-every', type=int_range(1, 1_000_000), default=None, metavar='K',
                        help=f'evaluate the D-feature term every K steps, at K times its weight (lazy, as StyleGAN2 '
                             f'regularises; 1: every step; default {D_EVERY})')
    parser.add_argument('--vgg16', type=existing_file, default=None, metavar='FILE',
                        help="LPIPS-VGG16 TorchScript file (e.g. NVlabs' vgg16.pt) for a perceptual term; needs "
                             '--trust-detector, since TorchScript is code that runs when loaded')
    parser.add_argument('--trust-detector', action='store_true', help='allow loading the --vgg16 TorchScript')
    parser.add_argument('--class', dest='class_idx', type=nonnegative_int, default=None,
                        help='class (conditional networks)')
    parser.add_argument('--video', action='store_true', help='also write proj.mp4 (target | progress)')
    parser.add_argument('--device', type=device, default='cpu', help='cpu, cuda, cuda:N or mps')
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 written, 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _load(path: str, device: str) -> tuple[torch.nn.Module, torch.nn.Module | None]:
    import networks
    try:
        data = networks.load_network_pkl(path, device=device)
    except (ValueError, OSError) as err:  # networks.PickleError is a ValueError
        raise ProjectionError(f'cannot load network {path!r}: {err}') from err
    G = next((data[k] for k in ('G_ema', 'G') if isinstance(data, dict) and isinstance(data.get(k), torch.nn.Module)),
             None)
    if G is None:
        raise ProjectionError(f'{path!r} holds no generator (no G_ema or G)')
    return G.eval().requires_grad_(False), discriminator_of(data)  # one read of the pickle for both


def _run(args: argparse.Namespace) -> None:
    if args.device == 'auto':
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    G, D = _load(args.network, args.device)
    target, note = load_target(args.target, G.img_resolution, G.img_channels)
    if note:
        print(f'note: {note}')
    c = label_for(G, args.class_idx) if class_count(G) or args.class_idx is not None else None
    if D is None:  # an explicit --d-weight 0 (pixels only) is what happens anyway
        refuse_unused(args, ['--d-every'] + (['--d-weight'] if args.d_weight else []),
                      f'without a discriminator (D) in {args.network}')
    if not args.vgg16:
        refuse_unused(args, ['--trust-detector'], 'without --vgg16')
    args.d_weight = D_WEIGHT if args.d_weight is None else args.d_weight
    args.d_every = D_EVERY if args.d_every is None else args.d_every
    if args.d_weight == 0:
        D = None
    perceptual = None
    if args.vgg16:
        from training.metrics.detector import load_detector
        perceptual = lpips_vgg16(load_detector(args.vgg16, args.device, trust=args.trust_detector))
    print(f'projecting into {args.space.upper()} ({args.steps} steps, '
          f'pixels{" + D features" if D is not None else ""}{" + LPIPS-VGG16" if perceptual else ""})')
    os.makedirs(args.outdir, exist_ok=True)
    target_u8 = to_uint8_rgb(target)[0]
    recorder = None
    if args.video:
        from viz.core.video_writer import VideoRecorder
        recorder = VideoRecorder(os.path.join(args.outdir, 'proj.mp4'), fps=30)
    start = time.time()

    def on_step(step: ProjectionStep) -> bool:
        if recorder is not None:
            recorder.add(np.concatenate([target_u8, to_uint8_rgb(step.image)[0]], axis=1))
        if step.step == 1 or step.step % 100 == 0 or step.step == step.num_steps:
            print(f'step {step.step:5d}/{step.num_steps}  loss {step.loss:.5f}  {time.time() - start:.1f} s')
        return True

    try:
        result = project(G, target, space=args.space, num_steps=args.steps, c=c, D=D, d_weight=args.d_weight,
                         d_every=args.d_every, perceptual=perceptual, learning_rate=args.lr, seed=args.seed,
                         device=args.device, callback=on_step)
    finally:
        if recorder is not None:
            recorder.close()
    save_projection(os.path.join(args.outdir, 'projected_w.npz'), result)
    final = to_uint8_rgb(result.image)[0]
    save_png(os.path.join(args.outdir, 'proj.png'), final)
    save_png(os.path.join(args.outdir, 'target_proj.png'), np.concatenate([target_u8, final], axis=1))
    print(f'PSNR {psnr(result.image, target):.2f} dB (images in [-1, 1], I_max 2); wrote {args.outdir}')


if __name__ == '__main__':
    sys.exit(main())
