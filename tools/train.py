"""Train a StyleGAN2 / StyleGAN3-T / StyleGAN3-R network (NVlabs' flag names and defaults).

    python -m tools.train --outdir runs --cfg stylegan3-t --data data/photos-64.zip --gpus 1 --batch 32 \\
        --gamma 0.5 --cbase 8192 --cmax 256

Several GPUs: `torchrun --nproc_per_node N -m tools.train --gpus N ...` (one process per GPU; NCCL on CUDA,
gloo on CPU). Without torchrun, `--gpus N` spawns N processes itself (on a machine with no GPU they are N gloo
processes on the CPU, useful for testing). Each run gets a new directory `<outdir>/<id>-<cfg>-<data>-gpus..`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

import torch
import torch.distributed as dist

from ops import backend as ops_backend
from tools import cli
from tools.cli import ArgumentParser, UsageError, main_entry
from tools.threads import available_cores, dataloader_workers
from training.augment import AUGPIPE_SPECS
from training.dataset import DatasetError
from training.launch import exit_now, launch, resolve_device, torchrun_world
from training.training_loop import TrainingConfig, construct_class_by_name

CONFIGS = ('stylegan3-t', 'stylegan3-r', 'stylegan2')


def _parse_comma_list(text: str | None) -> list[str]:
    if text is None or text.lower() == 'none' or text == '':
        return []
    return [item for item in text.split(',') if item]


def _resume_pkl(text: str) -> str:
    """A snapshot to resume from: loads (checking the whole file) and holds G, D and G_ema.

    Loading here costs one extra read of the file at start, and turns a missing, truncated or wrong pickle into
    one line before any process, folder or data loader is started.
    """
    import networks

    cli.network_pkl(text)
    try:
        data = networks.load_network_pkl(text)
    except (ValueError, OSError) as err:  # networks.PickleError is a ValueError
        raise argparse.ArgumentTypeError(f'cannot resume from {text!r}: {err}') from None
    missing = [k for k in ('G', 'D', 'G_ema') if not isinstance(data.get(k), torch.nn.Module)]
    if missing:
        raise argparse.ArgumentTypeError(f'{text!r} is not a training snapshot: no {", ".join(missing)} '
                                         '(--resume needs G, D and G_ema)')
    return text


def build_parser() -> ArgumentParser:
    """NVlabs' train.py flags and defaults (plus --z-dim, --w-dim, --metrics-samples, --device, --impl)."""
    parser = ArgumentParser(prog='python -m tools.train', description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    # Required.
    add('--outdir', required=True, type=cli.output_dir, help='where to make the run directory')
    add('--cfg', required=True, choices=CONFIGS, help='base configuration')
    # --data is opened (and checked, one line) by build_config before anything starts.
    add('--data', required=True, help='training data (zip or folder, see tools.dataset_tool)')
    add('--gpus', type=cli.int_range(1, 1024), required=True, help='number of GPUs (processes) to use')
    add('--batch', type=cli.int_range(1, 1 << 16), required=True, help='total batch size')
    add('--gamma', type=cli.loss_weight, required=True, help=f'R1 regularization weight (0..{cli.MAX_LOSS_WEIGHT:g})')
    # Optional features.
    add('--cond', type=_bool, default=False, help='train a conditional model from dataset.json labels')
    add('--mirror', type=_bool, default=False, help='enable dataset x-flips')
    add('--aug', choices=('noaug', 'ada', 'fixed'), default='ada', help='augmentation mode')
    add('--bad-images', choices=('stop', 'skip'), default='stop',
        help='an image that cannot be decoded: stop with one line, or skip it (logged by name and counted)')
    add('--resume', type=_resume_pkl, help='resume from a snapshot (ours: exactly; NVlabs: weights)')
    add('--freezed', type=cli.int_range(0, 64), default=0, help='freeze the first layers of D')
    # Hyperparameters.
    add('--p', type=cli.probability, default=0.2, help='probability for --aug=fixed')
    add('--target', type=cli.probability, default=0.6, help='ADA target value for --aug=ada')
    add('--batch-gpu', type=cli.int_range(1, 1 << 16),
        help='limit batch size per GPU (rounds of gradient accumulation)')
    add('--cbase', type=cli.int_range(1, 1 << 20), default=32768, help='capacity multiplier')
    add('--cmax', type=cli.int_range(1, 4096), default=512, help='max. feature maps')
    add('--glr', type=cli.float_range(1e-12, 10), help='G learning rate [default: 0.0025 for SG3, 0.002 for SG2]')
    add('--dlr', type=cli.float_range(1e-12, 10), default=0.002, help='D learning rate')
    add('--blur-sigma', type=cli.float_range(0, 1e4),
        help='D input blur at the start, in pixels, fading linearly to 0 (extension) [default: 10 for '
             'stylegan3-r, else 0]; NVlabs\' 10 is sized for 256+ px and leaves a 64 px image blobs of colour')
    add('--blur-kimg', type=cli.float_range(0, 1e9),
        help='kimg over which the D blur fades (extension) [default: batch * 200 / 32]')
    add('--map-depth', type=cli.int_range(1, 64), help='mapping network depth [default: 2 for SG3, 8 for SG2]')
    add('--mbstd-group', type=cli.int_range(1, 1 << 16), default=4, help='minibatch std group size')
    add('--z-dim', type=cli.int_range(1, 4096), default=512, help='latent size (extension; NVlabs fixes 512)')
    add('--w-dim', type=cli.int_range(1, 4096), default=512,
        help='intermediate latent size (extension; NVlabs fixes 512)')
    # Misc.
    add('--desc', help='string to include in the run directory name')
    add('--metrics', default='none', help='comma-separated metrics from training.metrics, or none')
    add('--metrics-samples', type=cli.int_range(1, 10_000_000),
        help='samples per metric (extension; default: the metric\'s own, e.g. 50k)')
    add('--kimg', type=cli.float_range(1e-6, 1e9), default=25000, help='total training duration (thousands of images)')
    add('--tick', type=cli.float_range(1e-6, 1e9), default=4, help='how often to print progress (kimg)')
    add('--snap', type=cli.int_range(1, 1 << 30), default=50, help='how often to save snapshots (ticks)')
    add('--seed', type=cli.seed, default=0, help='random seed')
    add('--fp32', type=_bool, default=False, help='disable mixed precision (always on CPU)')
    add('--nobench', type=_bool, default=False, help='disable cuDNN benchmarking')
    add('--workers', type=cli.int_range(0, 256), default=None,
        help=f'DataLoader worker processes [default: NVlabs\' 3, at most one per core beside the trainer: here '
             f'{dataloader_workers(3)}]')
    add('--device', type=cli.device, default='auto', help='auto (CUDA if present, else CPU), cpu, cuda or mps')
    add('-n', '--dry-run', action='store_true', help='print the training options and exit')
    ops_backend.add_impl_argument(parser)
    return parser


def _bool(text: str) -> bool:
    if text.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if text.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError(f'expected a boolean, got {cli.shown(text)}')


def build_config(opts: argparse.Namespace, device_type: str) -> TrainingConfig:
    """Translate command-line options into a TrainingConfig (NVlabs' train.py semantics)."""
    if opts.gpus < 1:
        raise UsageError('--gpus must be at least 1')
    if opts.batch < 1 or opts.batch % opts.gpus != 0:
        raise UsageError('--batch must be a multiple of --gpus')
    batch_gpu = opts.batch_gpu or opts.batch // opts.gpus
    if opts.batch % (opts.gpus * batch_gpu) != 0:
        raise UsageError('--batch must be a multiple of --gpus times --batch-gpu')
    if opts.mbstd_group > 0 and batch_gpu > opts.mbstd_group and batch_gpu % opts.mbstd_group != 0:
        raise UsageError(f'--batch-gpu {batch_gpu} must be a multiple of --mbstd-group {opts.mbstd_group}')
    is_sg2 = opts.cfg == 'stylegan2'
    cfg = TrainingConfig()
    cfg.training_set_kwargs = dict(class_name='training.dataset.ImageFolderDataset', path=opts.data,
                                   use_labels=bool(opts.cond), max_size=None, xflip=bool(opts.mirror),
                                   random_seed=opts.seed, bad_images=opts.bad_images)
    # More workers than cores left beside the trainer fight it for them (PyTorch warned: 3 workers on 2 cores).
    # An explicit --workers is kept up to one per core (PyTorch's own suggested maximum).
    workers = dataloader_workers(3) if opts.workers is None else min(opts.workers, available_cores())
    cfg.data_loader_kwargs = dict(num_workers=workers, prefetch_factor=2)
    try:  # check the data now, with a clear message, before any process starts
        training_set = construct_class_by_name(**cfg.training_set_kwargs)
    except DatasetError as e:
        raise UsageError(str(e)) from None
    if opts.cond and not training_set.has_labels:
        raise UsageError('--cond=True requires labels in dataset.json')
    cfg.training_set_kwargs['resolution'] = training_set.resolution
    cfg.training_set_kwargs['max_size'] = len(training_set)
    dataset_name = training_set.name
    del training_set

    fp32 = opts.fp32 or device_type != 'cuda'   # mixed precision only pays (and is only tested) on CUDA
    map_depth = opts.map_depth or (8 if is_sg2 else 2)
    cfg.G_kwargs = dict(z_dim=opts.z_dim, w_dim=opts.w_dim, mapping_kwargs=dict(num_layers=map_depth),
                        channel_base=opts.cbase, channel_max=opts.cmax,
                        num_fp16_res=0 if fp32 else 4, conv_clamp=None if fp32 else 256)
    cfg.D_kwargs = dict(class_name='networks.stylegan2.Discriminator', channel_base=opts.cbase,
                        channel_max=opts.cmax, num_fp16_res=0 if fp32 else 4, conv_clamp=None if fp32 else 256,
                        block_kwargs=dict(freeze_layers=opts.freezed),
                        epilogue_kwargs=dict(mbstd_group_size=opts.mbstd_group))
    cfg.G_opt_kwargs = dict(lr=opts.glr if opts.glr is not None else (0.002 if is_sg2 else 0.0025),
                            betas=[0, 0.99], eps=1e-8)
    cfg.D_opt_kwargs = dict(lr=opts.dlr, betas=[0, 0.99], eps=1e-8)
    cfg.loss_kwargs = dict(r1_gamma=opts.gamma)
    cfg.batch_size = opts.batch
    cfg.batch_gpu = batch_gpu
    cfg.num_gpus = opts.gpus
    cfg.metrics = _parse_comma_list(opts.metrics)
    cfg.metrics_num_samples = opts.metrics_samples
    cfg.total_kimg = opts.kimg
    cfg.kimg_per_tick = opts.tick
    cfg.image_snapshot_ticks = cfg.network_snapshot_ticks = opts.snap
    cfg.random_seed = opts.seed
    cfg.cudnn_benchmark = not opts.nobench
    cfg.ema_kimg = cfg.batch_size * 10 / 32
    cfg.ema_rampup = 0.05      # G_ema's half-life is at most 5% of the images seen so far
    cfg.D_reg_interval = 16
    cfg.G_reg_interval = None

    if is_sg2:
        cfg.G_kwargs['class_name'] = 'networks.stylegan2.Generator'
        cfg.loss_kwargs.update(style_mixing_prob=0.9, pl_weight=2, pl_batch_shrink=2, pl_decay=0.01)
        cfg.G_reg_interval = 4
    else:
        cfg.G_kwargs['class_name'] = 'networks.stylegan3.Generator'
        cfg.G_kwargs['magnitude_ema_beta'] = 0.5 ** (cfg.batch_size / (20 * 1e3))
        if opts.cfg == 'stylegan3-r':
            cfg.G_kwargs.update(conv_kernel=1, use_radial_filters=True,
                                channel_base=opts.cbase * 2, channel_max=opts.cmax * 2)
    blur_sigma = opts.blur_sigma if opts.blur_sigma is not None else (10 if opts.cfg == 'stylegan3-r' else 0)
    if blur_sigma > 0:
        blur_kimg = opts.blur_kimg if opts.blur_kimg is not None else cfg.batch_size * 200 / 32
        cfg.loss_kwargs.update(blur_init_sigma=blur_sigma, blur_fade_kimg=blur_kimg)

    if opts.aug != 'noaug':
        cfg.augment_kwargs = dict(class_name='training.augment.AugmentPipe', **AUGPIPE_SPECS['bgc'])
        if opts.aug == 'ada':
            cfg.ada_target = opts.target
        else:
            cfg.augment_p = opts.p
    if opts.metrics and cfg.metrics:
        from training import metrics as metric_registry
        bad = [m for m in cfg.metrics if not metric_registry.is_valid_metric(m)]
        if bad:
            raise UsageError(f'unknown metrics {bad}; valid: {", ".join(metric_registry.list_valid_metrics())}')
    if opts.resume is not None:
        cfg.resume_pkl = opts.resume   # weights-only pickles also switch off the ramp-ups (see training_loop)

    desc = f'{opts.cfg}-{dataset_name}-gpus{opts.gpus}-batch{opts.batch}-gamma{opts.gamma:g}'
    if opts.desc:
        desc += f'-{opts.desc}'
    cfg.run_dir = _next_run_dir(opts.outdir, desc)
    return cfg


def _next_run_dir(outdir: str, desc: str) -> str:
    ids = [int(m.group()) for m in (re.match(r'^\d+', d) for d in (os.listdir(outdir) if os.path.isdir(outdir)
                                                                     else [])) if m is not None]
    return os.path.join(outdir, f'{max(ids, default=-1) + 1:05d}-{desc}')


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 trained (or dry run), 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _run, argv)


def _run(opts: argparse.Namespace) -> None:
    ops_backend.set_default_impl(opts.impl)
    os.environ['ALIASFREE_OPS_IMPL'] = opts.impl  # spawned processes pick the same implementation
    device_type = torch.device(resolve_device(opts.device)).type
    if device_type == 'cuda' and opts.gpus > torch.cuda.device_count():
        raise UsageError(f'--gpus {opts.gpus} but only {torch.cuda.device_count()} CUDA devices')
    world = torchrun_world()
    if world is not None and world[0] > 1 and not opts.dry_run:
        dist.init_process_group(backend='nccl' if device_type == 'cuda' else 'gloo')
    try:
        cfg = build_config(opts, device_type)
        cfg.device = resolve_device(opts.device)
        if dist.is_available() and dist.is_initialized():
            shared = [cfg.run_dir]                    # every rank uses the directory rank 0 chose
            dist.broadcast_object_list(shared, src=0)
            cfg.run_dir = shared[0]
        launch(cfg, device_type, dry_run=opts.dry_run)
        if dist.is_available() and dist.is_initialized():
            dist.barrier()  # every rank done before any tears the group down (see training.launch)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


if __name__ == '__main__':
    code = main()
    if torchrun_world() is not None:
        exit_now(code)  # as in training.launch: skip finalization once the process group is gone
    sys.exit(code)
