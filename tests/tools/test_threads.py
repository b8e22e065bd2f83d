"""Thread settings (tools/threads.py): applied before torch loads, by importing any entry point; the user's win.

The subprocess tests pin the child to one core: torch's own default there would still be one thread per core of
the machine (2 or more), so reading back 1 thread proves the setting came from the entry point's first lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tools import threads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_PROBE = """
import json, os, sys
sys.path.insert(0, {root!r})
import {module}
from tools import threads
assert 'torch' in sys.modules or {module!r} == 'tools', 'the entry module should have loaded torch by now'
import torch
print(json.dumps(dict(env={{k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')}},
                      torch_threads=torch.get_num_threads(), applied=threads.applied)))
"""


def _probe(module: str, env_extra: dict | None = None, one_core: bool = True) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OMP_', 'MKL_'))}
    env.update(env_extra or {})
    core = min(os.sched_getaffinity(0))
    proc = subprocess.run([sys.executable, '-c', _PROBE.format(root=ROOT, module=module)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300,
                          preexec_fn=(lambda: os.sched_setaffinity(0, {core})) if one_core else None)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('module', ['tools.gen_images', 'tools.train', 'visualizer'])
def test_importing_an_entry_point_applies_the_settings_before_torch(module):
    out = _probe(module)
    assert out['env'] == {'OMP_WAIT_POLICY': 'PASSIVE', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    # configure() sets nothing once torch is loaded, so a non-empty record proves it ran before torch.
    assert out['applied'] == out['env']
    assert out['torch_threads'] == 1


def test_the_users_own_settings_win():
    out = _probe('tools', {'OMP_NUM_THREADS': '1', 'OMP_WAIT_POLICY': 'ACTIVE'}, one_core=False)
    assert out['env'] == {'OMP_WAIT_POLICY': 'ACTIVE', 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': None}
    assert out['applied'] == {} and out['torch_threads'] == 1
    # torch reads MKL_NUM_THREADS before OMP_NUM_THREADS: a user's MKL count alone must not be overridden either.
    out = _probe('tools', {'MKL_NUM_THREADS': '1'}, one_core=False)
    assert out['env']['OMP_NUM_THREADS'] is None and out['torch_threads'] == 1
    assert out['applied'] == {'OMP_WAIT_POLICY': 'PASSIVE'}


def test_configure_on_a_given_environment():
    env = {}
    assert threads.configure(env) == env
    assert env['OMP_WAIT_POLICY'] == 'PASSIVE' and env['OMP_NUM_THREADS'] == str(threads.available_cores())
    env = {'OMP_WAIT_POLICY': '', 'OMP_NUM_THREADS': '3'}
    assert threads.configure(env) == {}
    assert env == {'OMP_WAIT_POLICY': '', 'OMP_NUM_THREADS': '3'}   # even an empty value is the user's choice


@pytest.mark.parametrize('requested, cores, expected', [(3, 2, 1), (3, 1, 1), (3, 8, 3), (0, 2, 0), (16, 8, 7)])
def test_dataloader_workers_leave_a_core_for_the_trainer(requested, cores, expected):
    assert threads.dataloader_workers(requested, cores) == expected


def test_train_never_starts_more_workers_than_cores(tmp_path):
    from tools import train
    from training.dataset_convert import convert_dataset

    data = str(tmp_path / 'd.zip')
    convert_dataset('builtin:photos', data, resolution='16x16', count=4, seed=0, progress=False, log=lambda *_: None)
    base = ['--outdir', str(tmp_path / 'runs'), '--cfg', 'stylegan2', '--data', data, '--gpus', '1', '--batch', '4',
            '--gamma', '1']
    for extra, expected in [([], threads.dataloader_workers(3)), (['--workers', '64'], threads.available_cores()),
                            (['--workers', '0'], 0)]:
        cfg = train.build_config(train.build_parser().parse_args(base + extra), 'cpu')
        assert cfg.data_loader_kwargs['num_workers'] == expected, extra
