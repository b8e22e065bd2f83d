"""The training loop: alternating G and D phases with lazy regularization, G_ema, adaptive augmentation,
several processes through torch.distributed, per-tick logs and atomic, exactly resumable snapshots.

One step consumes `batch_size` real images (split over processes, then into `batch_gpu` rounds). Phases run in
the order Gmain, Greg, Dmain, Dreg; a lazy phase with interval k runs every k-th step with its learning rate
scaled by k / (k + 1) and Adam betas raised to that power (StyleGAN2, Appendix B). Only rank 0 writes files.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import psutil
import torch
import torch.distributed as dist

import networks
from networks.atomic_io import remove_stale_temp_files
from networks.errors import UserError
from networks.image_write import image_grid, save_png
from training.dataset import DatasetError, InfiniteSampler
from training.loss import StyleGAN2Loss
from training.options import construct
from training.stats import StatsCollector


class ResumeError(UserError):
    """Saved training state that does not fit the networks being trained."""


MAX_COUNT = 10**12                  # images, ticks, batches: a billion kimg is beyond any run
_MAX_RANKS = 4096


def _valid_cpu_rng_state(value: object) -> bool:
    """Whether torch accepts `value` as a CPU generator state (tried on a scratch generator)."""
    if not isinstance(value, torch.Tensor) or value.dtype != torch.uint8 or \
            value.numel() != torch.get_rng_state().numel():
        return False
    try:
        torch.Generator().set_state(value.clone())
    except (RuntimeError, ValueError):
        return False
    return True


def _finite_number(value: object, lo: float, hi: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and lo <= value <= hi


def check_training_state(state: object) -> None:
    """Raise ResumeError naming the first field of a saved `training_state` (a snapshot pickle's or a slice
    state's) that is not what this loop writes: counts in range, Adam state dicts of tensors, a finite path-length
    mean, generator states torch accepts, ADA accumulators of three finite numbers. It comes from a file, so it
    is checked before any of it is used: a damaged or hostile snapshot is one line, not a traceback at the first
    step or an RNG left in an invalid state."""
    required = ('cur_nimg', 'cur_tick', 'batch_idx', 'G_opt', 'D_opt', 'pl_mean', 'rng_states')
    if not isinstance(state, dict) or any(key not in state for key in required):
        raise ResumeError('training_state lacks counters, optimizers or RNG states')
    for key in ('cur_nimg', 'cur_tick', 'batch_idx'):
        if isinstance(state[key], bool) or not isinstance(state[key], int) or not 0 <= state[key] <= MAX_COUNT:
            raise ResumeError(f'training_state.{key} is not a count')
    for key in ('G_opt', 'D_opt'):
        opt = state[key]
        if not (isinstance(opt, dict) and isinstance(opt.get('state'), dict)
                and isinstance(opt.get('param_groups'), list)):
            raise ResumeError(f'training_state.{key} is not an optimizer state')
        for index, entry in opt['state'].items():
            if not isinstance(index, int) or not isinstance(entry, dict) or not all(
                    k in ('step', 'exp_avg', 'exp_avg_sq') and isinstance(v, torch.Tensor)
                    and (k == 'step' or v.is_floating_point()) for k, v in entry.items()):
                raise ResumeError(f'training_state.{key} holds an entry that is not Adam moments')
        for group in opt['param_groups']:
            if not isinstance(group, dict) or not isinstance(group.get('params'), list) or not all(
                    isinstance(i, int) and not isinstance(i, bool) for i in group['params']):
                raise ResumeError(f'training_state.{key} has a parameter group that is not a list of indices')
    pl_mean = state['pl_mean']
    if not isinstance(pl_mean, torch.Tensor) or pl_mean.numel() != 1 or not pl_mean.is_floating_point() \
            or not torch.isfinite(pl_mean).all():
        raise ResumeError('training_state.pl_mean is not a finite number')
    rngs = state['rng_states']
    if not isinstance(rngs, list) or not 1 <= len(rngs) <= _MAX_RANKS or not all(
            isinstance(r, dict) and 'cpu' in r and all(k in ('cpu', 'cuda') and isinstance(v, torch.Tensor)
                                                       and v.dtype == torch.uint8 for k, v in r.items())
            for r in rngs):
        raise ResumeError('training_state.rng_states is not a list of generator states')
    if not all(_valid_cpu_rng_state(r['cpu']) for r in rngs):
        raise ResumeError('training_state.rng_states holds an invalid CPU generator state')
    ada = state.get('ada_stats', [])
    ada = [ada] if isinstance(ada, dict) else ada
    if not isinstance(ada, list) or len(ada) > _MAX_RANKS or not all(
            isinstance(acc, dict) and len(acc) <= 16 and all(
                isinstance(name, str) and isinstance(v, list) and len(v) == 3
                and all(_finite_number(x, -1e30, 1e30) for x in v) for name, v in acc.items()) for acc in ada):
        raise ResumeError('training_state.ada_stats is not a list of accumulators')
    if not _finite_number(state.get('cpu_seconds', 0.0), 0, 1e12):
        raise ResumeError('training_state.cpu_seconds is not a finite count')
    if state.get('augment_p') is not None and not _finite_number(state['augment_p'], 0, 1):
        raise ResumeError('training_state.augment_p is not a probability')


def _load_optimizer(opt: torch.optim.Optimizer, saved: dict, name: str) -> None:
    """Adam's moments from a checked state dict into `opt`, keeping the configured lr and betas; a state made for
    other parameters (other count or shapes) is a ResumeError, not a shape error at the first step."""
    configured = [(group['lr'], group['betas']) for group in opt.param_groups]
    try:
        opt.load_state_dict(saved)
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise ResumeError(f'training_state.{name} was made for other parameters: {e}') from None
    for group, (lr, betas) in zip(opt.param_groups, configured):
        group['lr'], group['betas'] = lr, betas
        for param in group['params']:
            for key, value in opt.state.get(param, {}).items():
                if key != 'step' and value.shape != param.shape:
                    raise ResumeError(f'training_state.{name}: {key} has shape {list(value.shape)} for a parameter '
                                      f'of shape {list(param.shape)}; it was made for other networks')


def construct_class_by_name(class_name: str, **kwargs):
    """An instance of the class `class_name` selects from the closed table `training.options.CLASSES` (a key,
    never imported by name: options come from files)."""
    return construct(class_name, **kwargs)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


# ----------------------------------------------------------------------------------------------------------
# Small closed forms (tested directly)

def lazy_regularization_params(lr: float, betas: tuple[float, float], reg_interval: int | None) -> tuple[float, tuple]:
    """Learning rate and Adam betas for a phase that also regularizes every `reg_interval` steps."""
    if reg_interval is None:
        return lr, tuple(float(beta) for beta in betas)
    mb_ratio = reg_interval / (reg_interval + 1)
    return lr * mb_ratio, tuple(float(beta) ** mb_ratio for beta in betas)


def ema_beta(batch_size: int, ema_kimg: float, cur_nimg: int, ema_rampup: float | None) -> float:
    """Decay of G_ema per step: half-life `ema_kimg` thousand images, shorter early on with a ramp-up."""
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    """p_ema <- p + beta * (p_ema - p) for parameters; buffers (w_avg, magnitude EMAs) are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def ada_adjust(p: float, real_sign_mean: float, target: float, batch_size: int, ada_interval: int,
               ada_kimg: float) -> float:
    """ADA heuristic r_t = E[sign(D(real))]: raise p when r_t > target (D overfits), lower it otherwise; p can
    go from 0 to 1 in `ada_kimg` thousand images."""
    adjust = np.sign(real_sign_mean - target) * (batch_size * ada_interval) / (ada_kimg * 1000)
    return float(max(p + adjust, 0.0))


def copy_matching_params(src: torch.nn.Module | Mapping[str, torch.Tensor], dst: torch.nn.Module) -> list[str]:
    """Copy tensors with the same name and shape from src (a module, or a dict name -> tensor as in
    `module_tensors`) to dst; returns the names of dst left untouched."""
    src_tensors = dict(src) if isinstance(src, Mapping) else module_tensors(src)
    skipped = []
    with torch.no_grad():
        for name, tensor in list(dst.named_parameters()) + list(dst.named_buffers()):
            if name in src_tensors and src_tensors[name].shape == tensor.shape:
                tensor.copy_(src_tensors[name].to(tensor.device))
            else:
                skipped.append(name)
    return skipped


def module_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers by name: what `copy_matching_params` restores."""
    return dict(module.named_parameters()) | dict(module.named_buffers())


# ----------------------------------------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    module: torch.nn.Module
    opt: torch.optim.Optimizer
    interval: int


@dataclass
class TrainingConfig:
    """Everything a run needs; written to training_options.json (plain data only)."""
    run_dir: str = '.'
    training_set_kwargs: dict = field(default_factory=dict)
    data_loader_kwargs: dict = field(default_factory=lambda: dict(num_workers=3, prefetch_factor=2))
    G_kwargs: dict = field(default_factory=dict)
    D_kwargs: dict = field(default_factory=dict)
    G_opt_kwargs: dict = field(default_factory=lambda: dict(lr=0.0025, betas=[0, 0.99], eps=1e-8))
    D_opt_kwargs: dict = field(default_factory=lambda: dict(lr=0.002, betas=[0, 0.99], eps=1e-8))
    augment_kwargs: dict | None = None
    loss_kwargs: dict = field(default_factory=dict)
    metrics: list = field(default_factory=list)
    metrics_num_samples: int | None = None      # None: each metric's own default (e.g. 50k)
    random_seed: int = 0
    num_gpus: int = 1
    batch_size: int = 32
    batch_gpu: int = 4
    ema_kimg: float = 10.0
    ema_rampup: float | None = 0.05
    G_reg_interval: int | None = None
    D_reg_interval: int | None = 16
    augment_p: float = 0.0
    ada_target: float | None = None
    ada_interval: int = 4
    ada_kimg: float = 500
    total_kimg: float = 25000
    kimg_per_tick: float = 4
    image_snapshot_ticks: int | None = 50
    network_snapshot_ticks: int | None = 50
    network_snapshot_seconds: float | None = None   # also snapshot this long after the last one's metrics
    resume_pkl: str | None = None
    resume_kimg: float = 0
    device: str = 'cpu'
    cudnn_benchmark: bool = True


def _rng_state(device: torch.device) -> dict:
    state = dict(cpu=torch.get_rng_state())
    if device.type == 'cuda':
        state['cuda'] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state['cpu'].cpu())
    if device.type == 'cuda' and 'cuda' in state:
        torch.cuda.set_rng_state(state['cuda'].cpu(), device)


def save_image_grid(images: np.ndarray, path: str, drange: tuple[float, float], grid_size: tuple[int, int]) -> None:
    """NCHW images in `drange` as a (gw x gh) grid PNG, rounded to uint8 as NVlabs' training snapshots are (its
    own rounding, not the generators' truncating `to_uint8`, so snapshot grids compare with NVlabs' runs)."""
    lo, hi = drange
    images = (np.asarray(images, dtype=np.float32) - lo) * (255 / (hi - lo))
    images = np.rint(images).clip(0, 255).astype(np.uint8)
    grid = image_grid(images.transpose(0, 2, 3, 1), grid_size[0])
    save_png(path, grid[:, :, 0] if grid.shape[2] == 1 else grid)


class _CheckedItems(torch.utils.data.Dataset):
    """The training set as the loader reads it: a decode failure comes back as data (name, reason) from the
    worker, so the main process can skip and count it or stop with one line (see ImageFolderDataset)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int):
        if hasattr(self.dataset, 'get_item_checked'):
            return self.dataset.get_item_checked(idx)
        return (*self.dataset[idx], '', '')


class BadImageCounter:
    """Bad images met while training, in --bad-images skip mode: logged once by name, counted every time.

    In stop mode, with several processes, every rank stops together: a rank that raised alone would leave the
    others waiting forever in the next gradient all-reduce. So each step's batch check is one small all-reduce of
    "this rank met a bad image" flags (stop mode only; skip mode never stops, so it needs no agreement). It runs
    on the CPU through gloo (a group of its own under NCCL), so it never waits for the GPU's queued work.
    Construct it at the same point on every rank (`new_group` is collective)."""

    def __init__(self, mode: str, path: str, log: Callable[[str], None]):
        self.mode, self.path, self.log = mode, path, log
        self.seen: dict[str, int] = {}
        self._group = None
        if mode != 'skip' and _distributed() and dist.get_backend() != 'gloo':
            self._group = dist.new_group(backend='gloo')

    def add(self, names, reasons) -> None:
        fatal = None
        for name, reason in zip(names, reasons):
            if not name:
                continue
            if self.mode != 'skip':
                fatal = fatal or (name, reason)
                continue
            self.seen[name] = self.seen.get(name, 0) + 1
            if self.seen[name] == 1:
                self.log(f'  skipped bad image {name!r}: {reason} (replaced by the next image; '
                         f'{len(self.seen)} bad so far)')
        stopped = []
        if self.mode != 'skip' and _distributed():
            flags = torch.zeros([dist.get_world_size()])
            flags[dist.get_rank()] = float(fatal is not None)
            dist.all_reduce(flags, group=self._group)
            stopped = [rank for rank, flag in enumerate(flags.tolist()) if flag > 0]
        if fatal is not None:
            raise DatasetError(f'Cannot decode image {fatal[0]!r} in {self.path!r}: {fatal[1]}; skip such '
                               'images (the run can be resumed from its last snapshot)', option='bad_images',
                               value='skip')
        if stopped:
            raise DatasetError(f'Process {stopped[0]} met an image it cannot decode in {self.path!r} (its error line '
                               'names it); skip such images (the run can be resumed from its last snapshot)',
                               option='bad_images', value='skip')

    @property
    def total(self) -> int:
        return sum(self.seen.values())


def _memory_gb(device: torch.device) -> tuple[float, float]:
    cpu = psutil.Process(os.getpid()).memory_info().rss / 2**30
    gpu = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == 'cuda' else 0.0
    return cpu, gpu


def training_loop(cfg: TrainingConfig, rank: int = 0, log: Callable[[str], None] = print,
                  step_callback: Callable[[dict], None] | None = None, resume_data: dict | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  snapshot_fn: Callable[[dict], str] | None = None, strict_resume: bool = False) -> dict:
    """Run training as described by `cfg`; returns dict(cur_nimg, snapshot_pkl) on rank 0 (and the others).

    Hooks for resumable slices (training.slice): `resume_data` is what `load_network_pkl` would give for
    `cfg.resume_pkl` (networks as modules or dicts of tensors, `training_state`), `should_stop()` is asked after
    every step and ends the run like reaching `total_kimg` (final tick, snapshot), and `snapshot_fn(data)` writes
    a snapshot instead of `network-snapshot-*.pkl` and returns where it went. With `strict_resume` a tensor
    that the resume data lacks (or has in another shape) is a `ResumeError` rather than a log line.
    """
    device = torch.device(cfg.device)
    num_gpus = cfg.num_gpus
    batch_per_gpu = cfg.batch_size // num_gpus
    assert cfg.batch_size == batch_per_gpu * num_gpus and batch_per_gpu % cfg.batch_gpu == 0
    num_rounds = batch_per_gpu // cfg.batch_gpu
    start_time = time.time()
    if rank != 0:
        log = lambda *_args, **_kwargs: None  # noqa: E731

    # Networks are built from one seed on every rank; the run's randomness then differs per rank.
    torch.manual_seed(cfg.random_seed)
    torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
    # Full float32 on GPUs, as NVlabs trains: TF32 convolutions (cuDNN's default) round products to 10-bit
    # mantissas, and R1 and the metrics measured during training differentiate or compare small differences.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    log('Loading training set...')
    training_set = construct_class_by_name(**cfg.training_set_kwargs)
    log(f'  images: {len(training_set)}, shape: {training_set.image_shape}, labels: {training_set.label_shape}')
    skipped_at_open = getattr(training_set, 'skipped_at_open', [])
    if skipped_at_open:
        log(f'  left out {len(skipped_at_open)} unreadable images (--bad-images skip), e.g. '
            f'{skipped_at_open[0][0]!r}: {skipped_at_open[0][1]}')
    bad_images = BadImageCounter(getattr(training_set, 'bad_images', 'stop'), getattr(training_set, 'path', ''), log)
    if rank == 0:
        # Leftovers of snapshot writes that were killed, here and beside the snapshot we resume from.
        for folder in {cfg.run_dir, os.path.dirname(os.path.abspath(cfg.resume_pkl)) if cfg.resume_pkl else None}:
            if folder:
                removed = remove_stale_temp_files(folder)
                if removed:
                    log(f'  removed {len(removed)} temporary files of interrupted writes in {folder}: {removed}')

    common = dict(c_dim=training_set.label_dim, img_resolution=training_set.resolution,
                  img_channels=training_set.num_channels)
    G = construct_class_by_name(**cfg.G_kwargs, **common).train().requires_grad_(False).to(device)
    D = construct_class_by_name(**cfg.D_kwargs, **common).train().requires_grad_(False).to(device)
    G_ema = copy.deepcopy(G).eval()
    augment_pipe = None
    if cfg.augment_kwargs is not None and (cfg.augment_p > 0 or cfg.ada_target is not None):
        augment_pipe = construct_class_by_name(**cfg.augment_kwargs).train().requires_grad_(False).to(device)
        augment_pipe.p.copy_(torch.as_tensor(cfg.augment_p))

    # Resume: ours restores everything; an NVlabs pickle (or one of ours without state) gives the weights only.
    resume_state = None
    if resume_data is None and cfg.resume_pkl is not None:
        log(f'Resuming from "{cfg.resume_pkl}"')
        resume_data = networks.load_network_pkl(cfg.resume_pkl, device=device)
    if resume_data is not None:
        for name, module in [('G', G), ('D', D), ('G_ema', G_ema)]:
            skipped = copy_matching_params(resume_data[name], module)
            if skipped and strict_resume:
                raise ResumeError(f'{name}: {len(skipped)} tensors are missing from the saved state or have another '
                                  f'shape (e.g. {skipped[0]!r}): it was made for other networks or another dataset')
            if skipped:
                log(f'  {name}: {len(skipped)} tensors not in the snapshot or of another shape, kept as initialised')
        saved_pipe = resume_data.get('augment_pipe')
        if augment_pipe is not None and saved_pipe is not None:
            if isinstance(saved_pipe, Mapping):
                saved_p = saved_pipe['p']
            else:
                saved_p = saved_pipe.p if hasattr(saved_pipe, 'p') else saved_pipe.state_dict['p']
            augment_pipe.p.copy_(torch.as_tensor(saved_p))
        resume_state = resume_data.get('training_state')
        if resume_state is not None:
            check_training_state(resume_state)
        if resume_state is None:
            # Weights only (NVlabs' pickles, transfer learning): as NVlabs, no EMA ramp-up, no blur fade-in, and
            # a faster-reacting ADA. A snapshot with its training state continues exactly instead.
            cfg = replace(cfg, ema_rampup=None, ada_kimg=100,
                                      loss_kwargs=dict(cfg.loss_kwargs, blur_init_sigma=0))

    if _distributed():
        for module in (G, D, G_ema, augment_pipe):
            if module is not None:
                for tensor in list(module.parameters()) + list(module.buffers()):
                    dist.broadcast(tensor.data, src=0)

    # Loss, optimisers, phases.
    stats = StatsCollector()
    ada_stats = StatsCollector(names=('Loss/signs/real',))

    step_values: dict[str, float] = {}   # this step's means, only gathered for a step_callback (they sync)

    def report(name, value):
        stats.report(name, value)
        ada_stats.report(name, value)
        if step_callback is not None:
            step_values[name] = float(value.detach().float().mean())

    loss = StyleGAN2Loss(device=device, G=G, D=D, augment_pipe=augment_pipe, report=report, **cfg.loss_kwargs)
    phases: list[Phase] = []
    for name, module, opt_kwargs, reg_interval in [('G', G, cfg.G_opt_kwargs, cfg.G_reg_interval),
                                                   ('D', D, cfg.D_opt_kwargs, cfg.D_reg_interval)]:
        opt_kwargs = dict(opt_kwargs)
        lr, betas = lazy_regularization_params(opt_kwargs.pop('lr'), opt_kwargs.pop('betas'), reg_interval)
        opt = torch.optim.Adam(module.parameters(), lr=lr, betas=betas, **opt_kwargs)
        if reg_interval is None:
            phases.append(Phase(name + 'both', module, opt, 1))
        else:
            phases.append(Phase(name + 'main', module, opt, 1))
            phases.append(Phase(name + 'reg', module, opt, reg_interval))

    cur_nimg = int(cfg.resume_kimg * 1000)
    cur_tick = 0
    batch_idx = 0
    # CPU seconds this training has used so far (this process's threads, all slices): a cost on shared cores
    # that the wall clock does not measure.
    cpu_seconds_before = 0.0
    cpu_start = time.process_time()
    if resume_state is not None:
        cpu_seconds_before = float(resume_state.get('cpu_seconds', 0.0))
        cur_nimg = int(resume_state['cur_nimg'])
        cur_tick = int(resume_state['cur_tick'])
        batch_idx = int(resume_state['batch_idx'])
        for opt, key in [(phases[0].opt, 'G_opt'), (phases[-1].opt, 'D_opt')]:  # first phase G, last D
            _load_optimizer(opt, resume_state[key], key)
        loss.pl_mean.copy_(torch.as_tensor(resume_state['pl_mean']))
        saved_ada = resume_state.get('ada_stats', [])
        if isinstance(saved_ada, dict):
            saved_ada = [saved_ada]
        if len(saved_ada) == num_gpus or rank == 0:              # same layout: each rank its own; else rank 0's
            ada_stats.load_state(saved_ada[rank] if len(saved_ada) == num_gpus else saved_ada[0], device)
    log(f'  G: {sum(p.numel() for p in G.parameters())} parameters, D: {sum(p.numel() for p in D.parameters())}')

    sampler = InfiniteSampler(len(training_set), rank=rank, num_replicas=num_gpus, seed=cfg.random_seed,
                              start=cur_nimg)
    loader_kwargs = dict(cfg.data_loader_kwargs)
    if loader_kwargs.get('num_workers', 0) == 0:
        loader_kwargs.pop('prefetch_factor', None)
    loader = torch.utils.data.DataLoader(_CheckedItems(training_set), sampler=sampler, batch_size=batch_per_gpu,
                                         pin_memory=device.type == 'cuda',
                                         generator=torch.Generator().manual_seed(cfg.random_seed), **loader_kwargs)
    training_iter = iter(loader)

    # Image grids and files (rank 0).
    run_dir = cfg.run_dir
    res = training_set.resolution
    grid_size = (int(np.clip(1024 // res, 4, 8)), int(np.clip(512 // res, 2, 4)))   # small: G_ema runs it each snap
    grid_gen = torch.Generator().manual_seed(123)
    grid_z = torch.randn([grid_size[0] * grid_size[1], G.z_dim], generator=grid_gen).to(device)
    grid_idx = torch.randint(len(training_set), [grid_z.shape[0]], generator=grid_gen).tolist()
    grid_c = torch.from_numpy(np.stack([training_set.get_label(i) for i in grid_idx])).to(device)

    def save_fakes(path):
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == 'cuda' else []):
            images = torch.cat([G_ema(z=z, c=c, noise_mode='const').cpu()
                                for z, c in zip(grid_z.split(cfg.batch_gpu), grid_c.split(cfg.batch_gpu))])
        save_image_grid(images.numpy(), path, drange=(-1, 1), grid_size=grid_size)

    stats_file = None
    if rank == 0:
        os.makedirs(run_dir, exist_ok=True)
        if resume_state is None:
            reals = np.stack([training_set[i][0] for i in grid_idx])
            save_image_grid(reals, os.path.join(run_dir, 'reals.png'), drange=(0, 255), grid_size=grid_size)
            save_fakes(os.path.join(run_dir, 'fakes_init.png'))
        stats_file = open(os.path.join(run_dir, 'stats.jsonl'), 'a')

    # Per-rank randomness: seeded, or restored exactly from the snapshot (nothing above may draw from it after).
    torch.manual_seed(cfg.random_seed * num_gpus + rank)
    if resume_state is not None and len(resume_state.get('rng_states', [])) == num_gpus:
        _set_rng_state(resume_state['rng_states'][rank], device)

    log(f'Training for {cfg.total_kimg} kimg...')
    tick_start_nimg = cur_nimg
    tick_start_time = time.time()
    maintenance_time = tick_start_time - start_time
    snapshot_pkl = None
    last_snapshot_time = time.time()
    done = cur_nimg >= cfg.total_kimg * 1000
    while not done:
        # Fetch reals and draw latents for every phase.
        real_img, real_c, bad_names, bad_reasons = next(training_iter)
        bad_images.add(bad_names, bad_reasons)
        real_img = (real_img.to(device).to(torch.float32) / 127.5 - 1).split(cfg.batch_gpu)
        real_c = real_c.to(device).split(cfg.batch_gpu)
        gen_z = torch.randn([len(phases), batch_per_gpu, G.z_dim], device=device)
        gen_c_idx = torch.randint(len(training_set), [len(phases) * batch_per_gpu]).tolist()
        gen_c = torch.from_numpy(np.stack([training_set.get_label(i) for i in gen_c_idx])).to(device)
        gen_c = gen_c.reshape(len(phases), batch_per_gpu, -1)

        step_values.clear()
        for phase, phase_z, phase_c in zip(phases, gen_z, gen_c):
            if batch_idx % phase.interval != 0:
                continue
            phase.opt.zero_grad(set_to_none=True)
            phase.module.requires_grad_(True)
            for round_real, round_c, round_z, round_gc in zip(real_img, real_c, phase_z.split(cfg.batch_gpu),
                                                              phase_c.split(cfg.batch_gpu)):
                loss.accumulate_gradients(phase.name, round_real, round_c, round_z, round_gc,
                                          gain=phase.interval, cur_nimg=cur_nimg)
            phase.module.requires_grad_(False)
            # Average the gradients over rounds and processes, in one flat all-reduce.
            params = [p for p in phase.module.parameters() if p.grad is not None and p.numel() > 0]
            if params:
                flat = torch.cat([p.grad.flatten() for p in params])
                if _distributed():
                    dist.all_reduce(flat)
                flat = torch.nan_to_num(flat / (num_gpus * num_rounds), nan=0, posinf=1e5, neginf=-1e5)
                for p, g in zip(params, flat.split([p.numel() for p in params])):
                    p.grad = g.reshape(p.shape)
                phase.opt.step()

        # Running averages of buffers (w_avg, magnitude EMAs) are averaged over ranks so all ranks agree.
        if _distributed():
            for buf in G.buffers():
                if buf.is_floating_point():
                    dist.all_reduce(buf)
                    buf /= num_gpus

        update_ema(G_ema, G, ema_beta(cfg.batch_size, cfg.ema_kimg, cur_nimg, cfg.ema_rampup))
        cur_nimg += cfg.batch_size
        batch_idx += 1

        if augment_pipe is not None and cfg.ada_target is not None and batch_idx % cfg.ada_interval == 0:
            signs = ada_stats.reduce(device).get('Loss/signs/real')
            if signs is not None:
                new_p = ada_adjust(float(augment_pipe.p), signs['mean'], cfg.ada_target, cfg.batch_size,
                                   cfg.ada_interval, cfg.ada_kimg)
                augment_pipe.p.copy_(torch.as_tensor(new_p))

        if step_callback is not None:
            step_callback(dict(cur_nimg=cur_nimg, batch_idx=batch_idx, losses=dict(step_values),
                               G=G, D=D, G_ema=G_ema, augment_p=float(augment_pipe.p) if augment_pipe else 0.0))

        done = cur_nimg >= cfg.total_kimg * 1000 or (should_stop is not None and bool(should_stop()))
        snapshot_due = (cfg.network_snapshot_seconds is not None
                        and time.time() - last_snapshot_time >= cfg.network_snapshot_seconds)
        if _distributed() and (cfg.network_snapshot_seconds is not None or should_stop is not None):
            # Clocks differ between ranks: rank 0 decides for all.
            flags = torch.tensor([float(done), float(snapshot_due)], device=device)
            dist.broadcast(flags, src=0)
            done, snapshot_due = bool(flags[0]), bool(flags[1])
        if (not done and not snapshot_due and cur_tick != 0
                and cur_nimg < tick_start_nimg + cfg.kimg_per_tick * 1000):
            continue

        # End of tick: log, images, snapshot, metrics.
        tick_end_time = time.time()
        tick_stats = stats.reduce(device)
        cpu_gb, gpu_gb = _memory_gb(device)
        kimg_done = (cur_nimg - tick_start_nimg) / 1000
        sec_per_kimg = (tick_end_time - tick_start_time) / max(kimg_done, 1e-8)
        aug_p = float(augment_pipe.p) if augment_pipe is not None else 0.0
        mean = {name: tick_stats[name]['mean'] for name in ('Loss/G/loss', 'Loss/D/loss', 'Loss/r1_penalty')
                if name in tick_stats}
        log(f'tick {cur_tick:<5d} kimg {cur_nimg / 1e3:<8.3f} time {tick_end_time - start_time:<8.1f} '
            f'sec/tick {tick_end_time - tick_start_time:<7.1f} sec/kimg {sec_per_kimg:<8.2f} '
            f'maintenance {maintenance_time:<6.1f} cpumem {cpu_gb:<6.2f} gpumem {gpu_gb:<6.2f} '
            f'augment {aug_p:.3f}' + ''.join(f' {name[5:]} {value:.4f}' for name, value in mean.items()))
        maintenance_start = time.time()
        if rank == 0:
            record = dict(tick_stats, timestamp=tick_end_time)
            record['Progress/tick'] = cur_tick
            record['Progress/kimg'] = cur_nimg / 1e3
            record['Progress/augment'] = aug_p
            record['Progress/bad_images'] = len(bad_images.seen)
            record['Progress/bad_images_skipped'] = bad_images.total
            record['Timing/sec_per_tick'] = tick_end_time - tick_start_time
            record['Timing/sec_per_kimg'] = sec_per_kimg
            record['Timing/maintenance_sec'] = maintenance_time
            record['Timing/cpu_sec_total'] = cpu_seconds_before + time.process_time() - cpu_start
            record['Resources/cpu_mem_gb'] = cpu_gb
            record['Resources/peak_gpu_mem_gb'] = gpu_gb
            stats_file.write(json.dumps(record) + '\n')
            stats_file.flush()
            if cfg.image_snapshot_ticks is not None and (done or cur_tick % cfg.image_snapshot_ticks == 0):
                save_fakes(os.path.join(run_dir, f'fakes{cur_nimg // 1000:06d}.png'))

        if snapshot_due or (cfg.network_snapshot_ticks is not None
                            and (done or cur_tick % cfg.network_snapshot_ticks == 0)):
            # Per-rank state (RNG, ADA's partial sums) is gathered so every rank resumes exactly.
            rank_state = dict(rng={k: v.cpu() for k, v in _rng_state(device).items()}, ada=ada_stats.state())
            rank_states = [rank_state]
            if _distributed():
                rank_states = [None] * num_gpus
                dist.all_gather_object(rank_states, rank_state)
            if rank == 0:
                training_state = dict(
                    cur_nimg=cur_nimg, cur_tick=cur_tick + 1, batch_idx=batch_idx, augment_p=aug_p,
                    G_opt=phases[0].opt.state_dict(), D_opt=phases[-1].opt.state_dict(),
                    pl_mean=loss.pl_mean.detach().cpu(), ada_stats=[s['ada'] for s in rank_states],
                    rng_states=[s['rng'] for s in rank_states],
                    num_gpus=num_gpus, batch_size=cfg.batch_size,
                    cpu_seconds=cpu_seconds_before + time.process_time() - cpu_start)
                snapshot = dict(G=G, D=D, G_ema=G_ema, augment_pipe=augment_pipe,
                                training_set_kwargs=dict(cfg.training_set_kwargs), training_state=training_state)
                if snapshot_fn is not None:
                    snapshot_pkl = snapshot_fn(snapshot)
                else:
                    snapshot_pkl = os.path.join(run_dir, f'network-snapshot-{cur_nimg // 1000:06d}.pkl')
                    networks.save_network_pkl(snapshot_pkl, snapshot)
                log(f'  saved {snapshot_pkl}')
            if cfg.metrics:
                _run_metrics(cfg, G_ema, snapshot_pkl, device, rank, log)
            # The interval counts training time from the end of the save and its metrics: a measurement that
            # takes longer than the interval would otherwise make every following step a save.
            last_snapshot_time = time.time()

        cur_tick += 1
        tick_start_nimg = cur_nimg
        tick_start_time = time.time()
        maintenance_time = tick_start_time - maintenance_start

    if stats_file is not None:
        stats_file.close()
    if bad_images.seen:
        log(f'Skipped {bad_images.total} draws of {len(bad_images.seen)} bad images: {sorted(bad_images.seen)[:10]}')
    log('Exiting...')
    return dict(cur_nimg=cur_nimg, snapshot_pkl=snapshot_pkl)


def _run_metrics(cfg: TrainingConfig, G_ema: torch.nn.Module, snapshot_pkl: str | None, device, rank: int,
                 log: Callable[[str], None]) -> None:
    from training import metrics as metric_registry
    for metric in cfg.metrics:
        try:
            result = metric_registry.calc_metric(metric=metric, G=G_ema, dataset_kwargs=cfg.training_set_kwargs,
                                                 device=device, num_gpus=cfg.num_gpus, rank=rank,
                                                 num_samples=cfg.metrics_num_samples)
        except (metric_registry.MetricError, metric_registry.DetectorError) as e:
            log(f'  metric {metric} failed, training goes on: {e}')   # every rank fails alike: no hang
            continue
        if rank == 0:
            metric_registry.report_metric(result, run_dir=cfg.run_dir, snapshot_pkl=snapshot_pkl)
            log(f'  {metric}: {result.get("results")}')
