"""Several processes through torch.distributed on the CPU (gloo): ranks stay identical step by step, and the
torchrun launch of tools.train completes with only rank 0 writing."""

import json
import os
import subprocess
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tools.train import build_config, build_parser
from training.launch import exit_now
from training.training_loop import training_loop

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _worker(rank, cfg, init_file, out_file):
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    diffs = []

    def check(step):
        # Gather every rank's G parameters and buffers, D parameters and ADA p; record the largest disagreement.
        flat = torch.cat([t.detach().flatten() for t in [*step['G'].parameters(), *step['G'].buffers(),
                                                          *step['D'].parameters(), *step['G_ema'].parameters()]]
                         + [torch.tensor([step['augment_p']])])
        gathered = [torch.empty_like(flat) for _ in range(2)]
        dist.all_gather(gathered, flat)
        diffs.append(float((gathered[0] - gathered[1]).abs().max()))

    try:
        training_loop(cfg, rank=rank, log=lambda *_: None, step_callback=check)
        dist.barrier()  # every rank done before any tears the group down
    finally:
        dist.destroy_process_group()
    with open(f'{out_file}.{rank}', 'w') as f:
        json.dump(diffs, f)
    # Leave as training.launch does: without interpreter finalization, during which gloo's C++ threads can be torn
    # down and abort a rank that has finished ("terminate called without an active exception", seen once in CI).
    exit_now(0)


def test_two_gloo_processes_stay_identical(tmp_path, photos16, tiny_net_args):
    argv = ['--outdir', str(tmp_path / 'runs'), '--cfg', 'stylegan2', '--data', photos16, '--gpus', '2',
            '--batch', '8', '--gamma', '1', '--kimg', '0.040', '--tick', '0.04', '--snap', '1', *tiny_net_args]
    cfg = build_config(build_parser().parse_args(argv), 'cpu')
    cfg.ada_kimg = 0.1                      # make ADA's p move, so its all-reduce is exercised
    mp.spawn(_worker, args=(cfg, str(tmp_path / 'init'), str(tmp_path / 'diffs')), nprocs=2)
    diffs = [json.load(open(tmp_path / f'diffs.{rank}')) for rank in range(2)]
    assert len(diffs[0]) == 5 and diffs[0] == diffs[1]
    assert max(diffs[0]) == 0.0, diffs[0]
    (run_dir,) = os.listdir(tmp_path / 'runs')
    assert os.listdir(tmp_path / 'runs' / run_dir).count('network-snapshot-000000.pkl') == 1


def test_torchrun_cli(tmp_path, photos16, tiny_net_args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
           '-m', 'tools.train', '--outdir', str(tmp_path), '--cfg', 'stylegan2', '--data', photos16,
           '--gpus', '2', '--batch', '4', '--gamma', '1', '--kimg', '0.008', '--tick', '0.004', *tiny_net_args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (run_dir,) = os.listdir(tmp_path)                       # both ranks used rank 0's directory
    files = os.listdir(tmp_path / run_dir)
    assert {'training_options.json', 'log.txt', 'stats.jsonl', 'network-snapshot-000000.pkl'} <= set(files)
    log = open(tmp_path / run_dir / 'log.txt').read()
    assert log.count('tick 1 ') == 1 and 'Exiting' in log


def _bad_image_worker(rank, init_file, out_file):
    from training.dataset import DatasetError
    from training.training_loop import BadImageCounter

    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    outcome = []
    counter = BadImageCounter('stop', 'data.zip', log=lambda *_: None)
    for step in range(3):  # a good step on both ranks, then rank 1 alone meets a bad image
        names = ['img1.png'] if (rank == 1 and step == 1) else ['']
        try:
            counter.add(names, ['truncated file'] if names[0] else [''])
            outcome.append('ok')
        except DatasetError as err:
            outcome.append(str(err))
            break
    dist.barrier()
    dist.destroy_process_group()
    with open(f'{out_file}.{rank}', 'w') as f:
        json.dump(outcome, f)
    exit_now(0)


def test_a_bad_image_on_one_rank_stops_every_rank(tmp_path):
    """--bad-images stop with two processes: the rank that met the image names it, the other stops in the same
    step and says which process did; neither is left waiting in a collective for a rank that is gone."""
    ctx = mp.start_processes(_bad_image_worker, args=(str(tmp_path / 'init'), str(tmp_path / 'out')), nprocs=2,
                             join=False, start_method='spawn')
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            raise AssertionError('a rank hung after another stopped on a bad image')
    out = [json.load(open(tmp_path / f'out.{rank}')) for rank in range(2)]
    assert out[0][0] == out[1][0] == 'ok' and len(out[0]) == len(out[1]) == 2
    assert "Cannot decode image 'img1.png'" in out[1][1] and 'truncated file' in out[1][1]
    assert out[0][1].startswith('Process 1 met an image it cannot decode')
