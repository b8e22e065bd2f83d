"""Which training settings buy the most quality per CPU-hour: equal CPU time for each candidate, then one SWD.

    .venv/bin/python -m benchmarks.campaign_pilot --out pilot --data data/photos-64.zip \\
        [--data32 data/photos-32.zip] [--cpu-minutes 6] [--swd-images 1024] [--only A,B] [--json pilot.json]

Each candidate is a first slice (`tools.train_slice --init`) in `<out>/<name>`, on one core of its own
(`taskset`, one OpenMP thread, no data-loader worker process: all its work is in the process whose CPU time
`--cpu-minutes` counts), at `nice` 5; `--parallel` (default: the cores) candidates run at once, one per core.
Afterwards every candidate's G_ema is measured the same way: SWD (`training.metrics.swd`) of `--swd-images`
fakes against as many reals, per Laplacian level; beside it the same network untrained (the candidate's own
architecture, seed 0) and the real-vs-real floor (two disjoint sets of reals). A candidate's state can go on
training as a campaign state (`tools.train_slice --state <out>/<name>`), so no pilot minute is lost.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

# name -> (tools.train options besides --data, which dataset: 64 or 32)
BASE = ['--gpus', '1', '--gamma', '0.125', '--cbase', '16384', '--mirror', '1', '--workers', '0']
CANDIDATES: dict[str, tuple[list[str], int]] = {
    't-b8': (['--cfg', 'stylegan3-t', '--batch', '8', '--cmax', '48'], 64),
    't-b16': (['--cfg', 'stylegan3-t', '--batch', '16', '--cmax', '48'], 64),
    't-b32': (['--cfg', 'stylegan3-t', '--batch', '32', '--cmax', '48'], 64),
    't-b8-cmax32': (['--cfg', 'stylegan3-t', '--batch', '8', '--cmax', '32'], 64),
    't-b8-noaug': (['--cfg', 'stylegan3-t', '--batch', '8', '--cmax', '48', '--aug', 'noaug'], 64),
    't-b8-lr2x': (['--cfg', 'stylegan3-t', '--batch', '8', '--cmax', '48', '--glr', '0.005', '--dlr', '0.004'], 64),
    't-b8-res32': (['--cfg', 'stylegan3-t', '--batch', '8', '--cmax', '48'], 32),
    'sg2-b8': (['--cfg', 'stylegan2', '--batch', '8', '--cmax', '48'], 64),
    'sg2-b32': (['--cfg', 'stylegan2', '--batch', '32', '--cmax', '48'], 64),
}


def _slice_command(name: str, data: str, out: Path, cpu_minutes: float) -> list[str]:
    options, _ = CANDIDATES[name]
    return [sys.executable, '-m', 'tools.train_slice', '--state', str(out / name), '--minutes', '600',
            '--save-every', '600', '--cpu-minutes', str(cpu_minutes), '--device', 'cpu',
            '--init', *options, *BASE, '--data', data]


def run_candidates(names: list[str], datasets: dict[int, str], out: Path, cpu_minutes: float, parallel: int,
                   log=print) -> dict[str, dict]:
    """Train each candidate for `cpu_minutes` of its own CPU time, `parallel` at once, each pinned to one core."""
    cores = sorted(os.sched_getaffinity(0))[:parallel]
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    queue = [n for n in names if not (out / n / 'state.json').exists()]
    running: dict[int, tuple[str, subprocess.Popen, float]] = {}
    while queue or running:
        for core in cores:
            if core not in running and queue:
                name = queue.pop(0)
                cmd = ['taskset', '-c', str(core), 'nice', '-n', '5',
                       *_slice_command(name, datasets[CANDIDATES[name][1]], out, cpu_minutes)]
                log(f'start {name} on core {core}: {shlex.join(cmd)}')
                logfile = open(out / f'{name}.log', 'w')
                running[core] = (name, subprocess.Popen(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env),
                                 time.time())
        time.sleep(2)
        for core, (name, proc, t0) in list(running.items()):
            if proc.poll() is not None:
                log(f'done {name} (rc {proc.returncode}, {time.time() - t0:.0f} s wall)')
                del running[core]
    results = {}
    for name in names:
        manifest_path = out / name / 'state.json'
        if not manifest_path.exists():
            results[name] = dict(error='no state written')
            continue
        manifest = json.loads(manifest_path.read_text())
        last = manifest['history'][-1]
        results[name] = dict(kimg=manifest['kimg'], cpu_seconds=last.get('cpu_seconds'), seconds=last['seconds'],
                             batch=manifest['options']['batch_size'])
    return results


def measure(names: list[str], datasets: dict[int, str], out: Path, swd_images: int, log=print) -> dict[str, dict]:
    """SWD of each candidate's G_ema, of the same architecture untrained, and the real-vs-real floor."""
    from tools.export_default import _from_state
    from training.metrics import swd as swd_lib
    from training.metrics.registry import calc_metric
    from training.training_loop import construct_class_by_name
    results: dict[str, dict] = {}
    floors: dict[int, dict] = {}
    untrained_of: dict[str, dict] = {}      # one measurement per architecture (same seed, same network)
    for name in names:
        if not (out / name / 'state.json').exists():
            continue
        res = CANDIDATES[name][1]
        G, tsk, _ = _from_state(str(out / name), datasets[res])
        tsk = dict(tsk, xflip=False)
        trained = calc_metric('swd', G, dataset_kwargs=tsk, num_samples=swd_images, batch_size=32)['results']
        G_kwargs = json.loads((out / name / 'state.json').read_text())['options']['G_kwargs']
        key = json.dumps([res, {k: v for k, v in G_kwargs.items() if k != 'magnitude_ema_beta'}], sort_keys=True)
        if key not in untrained_of:
            torch.manual_seed(0)
            fresh = construct_class_by_name(**G_kwargs, c_dim=G.c_dim, img_resolution=G.img_resolution,
                                            img_channels=G.img_channels)
            untrained_of[key] = calc_metric('swd', fresh.eval(), dataset_kwargs=tsk, num_samples=swd_images,
                                            batch_size=32)['results']
        untrained = untrained_of[key]
        if res not in floors:
            floors[res] = swd_lib.compute_swd_floor(tsk, res, swd_images)
        results[name] = dict(trained=trained, untrained=untrained, floor=floors[res])
        log(f'{name}: swd {trained["swd"]:.1f} (untrained {untrained["swd"]:.1f}, floor {floors[res]["swd"]:.1f})')
    return results


def table(train: dict[str, dict], swd: dict[str, dict]) -> str:
    lines = ['| candidate | batch | kimg | steps | CPU s | SWD (x1e3) per level, fine to coarse | mean SWD | '
             'untrained / trained, worst level | trained / floor |',
             '|---|---|---|---|---|---|---|---|---|']
    for name, t in train.items():
        if 'error' in t or name not in swd:
            lines.append(f'| {name} | | | | | {t.get("error", "not measured")} | | | |')
            continue
        s = swd[name]
        levels = sorted((k for k in s['trained'] if k != 'swd'), key=lambda k: -int(k[3:]))
        per_level = ' / '.join(f'{s["trained"][k]:.0f}' for k in levels)
        gain = min(s['untrained'][k] / s['trained'][k] for k in levels)
        lines.append(f'| {name} | {t["batch"]} | {t["kimg"]:.2f} | {round(t["kimg"] * 1000 / t["batch"])} | '
                     f'{t["cpu_seconds"]:.0f} | {per_level} | {s["trained"]["swd"]:.1f} | {gain:.2f}x | '
                     f'{s["trained"]["swd"] / s["floor"]["swd"]:.1f}x |')
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks.campaign_pilot', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', type=Path, required=True)
    parser.add_argument('--data', required=True, help='the 64x64 dataset zip')
    parser.add_argument('--data32', help='a 32x32 dataset zip (for the 32x32 candidate)')
    parser.add_argument('--cpu-minutes', type=float, default=6.0)
    parser.add_argument('--swd-images', type=int, default=1024)
    parser.add_argument('--parallel', type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument('--only', help='comma-separated candidate names [default: all]')
    parser.add_argument('--json', type=Path)
    opts = parser.parse_args(argv)
    names = opts.only.split(',') if opts.only else list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f'unknown candidates {unknown}; known: {", ".join(CANDIDATES)}')
    datasets = {64: opts.data}
    if opts.data32:
        datasets[32] = opts.data32
    names = [n for n in names if CANDIDATES[n][1] in datasets]
    opts.out.mkdir(parents=True, exist_ok=True)
    train = run_candidates(names, datasets, opts.out, opts.cpu_minutes, opts.parallel)
    swd = measure(names, datasets, opts.out, opts.swd_images)
    print(table(train, swd))
    if opts.json:
        opts.json.write_text(json.dumps(dict(train=train, swd=swd, cpu_minutes=opts.cpu_minutes,
                                             swd_images=opts.swd_images), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
