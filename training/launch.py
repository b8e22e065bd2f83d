"""Starting a training run from a TrainingConfig: one process, N spawned processes, or one torchrun rank.

`python -m tools.train` builds the config from its flags and calls :func:`launch`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import asdict

import torch
import torch.distributed as dist

from networks.errors import UserError
from training.training_loop import TrainingConfig, training_loop

__all__ = ['launch', 'resolve_device', 'torchrun_world', 'exit_now']


def resolve_device(name: str) -> str:
    """'auto' -> 'cuda' where CUDA is available, else 'cpu'; anything else unchanged."""
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    return name


def _subprocess_fn(rank: int, cfg_dict: dict, temp_dir: str, device_type: str) -> None:
    cfg = TrainingConfig(**cfg_dict)
    owns_group = cfg.num_gpus > 1 and not (dist.is_available() and dist.is_initialized())
    if owns_group:
        init_file = os.path.abspath(os.path.join(temp_dir, '.torch_distributed_init'))
        backend = 'nccl' if device_type == 'cuda' else 'gloo'
        dist.init_process_group(backend=backend, init_method=f'file://{init_file}', rank=rank,
                                world_size=cfg.num_gpus)
    if device_type == 'cuda':
        torch.cuda.set_device(rank)
        cfg.device = f'cuda:{rank}'
    log = _make_logger(os.path.join(cfg.run_dir, 'log.txt')) if rank == 0 else print
    training_loop(cfg, rank=rank, log=log)
    if owns_group:
        # Tear the group down explicitly once every rank is done, then leave without interpreter finalization:
        # gloo's C++ threads can otherwise be torn down mid-finalization and abort a rank that has finished
        # (seen here as a rare SIGABRT; pytorch/pytorch#179291). Snapshots are already fsynced and renamed.
        dist.barrier()
        dist.destroy_process_group()
        exit_now(0)


def exit_now(code: int) -> None:
    """Flush and leave without interpreter finalization (see _subprocess_fn)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _make_logger(path: str):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    log_file = open(path, 'a')

    def log(message: str) -> None:
        print(message, flush=True)
        log_file.write(message + '\n')
        log_file.flush()
    return log


def torchrun_world() -> tuple[int, int, int] | None:
    """(world_size, rank, local_rank) when started by torchrun, else None."""
    if 'WORLD_SIZE' not in os.environ:
        return None
    rank = int(os.environ.get('RANK', 0))
    return int(os.environ['WORLD_SIZE']), rank, int(os.environ.get('LOCAL_RANK', rank))


def launch(cfg: TrainingConfig, device_type: str, dry_run: bool = False) -> None:
    """Print the options, make the run directory and run the training loop on one or several processes."""
    world = torchrun_world()
    rank = world[1] if world else 0
    if rank == 0:
        print('Training options:')
        print(json.dumps(asdict(cfg), indent=2))
        print(f'\nOutput directory: {cfg.run_dir}\nNumber of processes: {cfg.num_gpus}, device: {device_type}')
    if dry_run:
        print('Dry run; exiting.')
        return
    if rank == 0:
        os.makedirs(cfg.run_dir, exist_ok=False)
        with open(os.path.join(cfg.run_dir, 'training_options.json'), 'w') as f:
            json.dump(asdict(cfg), f, indent=2)

    if world is not None:   # started by torchrun: this process is one rank; the group is initialised in main
        world_size, rank, local_rank = world
        if world_size != cfg.num_gpus:
            raise UserError(f'{cfg.num_gpus} GPUs asked for but torchrun started {world_size} processes', option='gpus')
        if device_type == 'cuda':
            torch.cuda.set_device(local_rank)
            cfg.device = f'cuda:{local_rank}'
        log = _make_logger(os.path.join(cfg.run_dir, 'log.txt')) if rank == 0 else print
        training_loop(cfg, rank=rank, log=log)
        return

    with tempfile.TemporaryDirectory() as temp_dir:
        if cfg.num_gpus == 1:
            _subprocess_fn(0, asdict(cfg), temp_dir, device_type)
        else:
            torch.multiprocessing.spawn(_subprocess_fn, args=(asdict(cfg), temp_dir, device_type),
                                        nprocs=cfg.num_gpus)
