"""Every benchmark's entry point: --help for all of them, and a run at the smallest settings for those that take
seconds on the PyTorch path (the others take tens of seconds even at their smallest settings, start a GUI, load
the machine on purpose or need NVlabs' code).

The runs use ``impl='torch'`` as the default path, so that no test waits for the fused CPU op's build; what is
checked is that each entry point runs end to end through benchmarks/timing.py and reports what it promises.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops import backend

REPO = Path(__file__).resolve().parents[2]
ENTRY_POINTS = ['bench_conv3x3', 'bench_cpu_load', 'bench_default_network', 'bench_explore_gui', 'bench_generator',
                'bench_gui', 'bench_gui_layout', 'bench_layer_analyses', 'bench_load', 'bench_metrics', 'bench_ops',
                'bench_project', 'bench_training', 'campaign_pilot', 'compact_state', 'gpu_report', 'spectra_nvlabs']


def test_every_entry_point_is_listed():
    mains = {p.stem for p in (REPO / 'benchmarks').glob('*.py')
             if 'def main(' in p.read_text() and p.stem not in ('nvlabs_side',)}   # nvlabs_side: a script, below
    assert mains == set(ENTRY_POINTS)


@pytest.mark.parametrize('name', ENTRY_POINTS)
def test_help(name, capsys):
    module = importlib.import_module(f'benchmarks.{name}')
    with pytest.raises(SystemExit) as exit_info:
        module.main(['--help'])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith('usage:')


@pytest.mark.parametrize('script', ['nvlabs_side.py', 'bench_cpu_load.py'])
def test_scripts_run_by_path_find_the_timing_helper(script):
    """nvlabs_side.py runs in NVlabs' process and bench_cpu_load's cells run the file as a script: both import
    benchmarks/timing.py by path, not as part of the package."""
    proc = subprocess.run([sys.executable, str(REPO / 'benchmarks' / script), '--help'], cwd='/', capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('usage:')


@pytest.fixture
def torch_path():
    saved = backend.get_default_impl()
    backend.set_default_impl('torch')
    yield
    backend.set_default_impl(saved)


def _env_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith('commit ') or '; commit ' in line)


def test_bench_ops_smallest(torch_path, capsys):
    from benchmarks import bench_ops

    bench_ops.main(['--res', '16', '--cbase', '256', '--cmax', '8', '--repeats', '1'])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.lstrip().startswith(('L', 'total'))]
    assert rows[-1][0] == 'total' and len(rows) == 16   # the 15 layers of SG3-T at 16 px, then the total
    fused, torch_ms, naive = (float(v) for v in rows[-1][1:4])
    assert fused > 0 and torch_ms > 0 and naive > 0
    assert 'load average' in _env_line(out) and 'median of 1 interleaved rounds' in out


def test_bench_load_smallest(capsys):
    from benchmarks import bench_load

    report = bench_load.main(['--res', '16', '--cbase', '256', '--cmax', '8', '--rounds', '1'])
    assert set(report) == {'env', 'baseline', 'nvlabs', 'ours', 'tensors'}
    assert report['tensors']['ratio_over_torch_load'] == 1.0
    for name in ('nvlabs', 'ours', 'tensors'):
        assert report[name]['identical'] and report[name]['median_s'] > 0
    assert report['env']['commit'] and len(report['env']['load']) == 3
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == report


def test_bench_training_grad_ratio_smallest(tmp_path, capsys):
    from benchmarks import bench_training

    out = tmp_path / 'out.json'
    assert bench_training.main(['--res', '16', '--batch', '2', '--cbase', '256', '--cmax', '8', '--zdim', '8',
                                '--cfg', 'stylegan3-t', '--repeats', '1', '--grad-ratio', '--paths', 'torch',
                                '--json', str(out)]) == 0
    data = json.loads(out.read_text())
    row = data['results']['stylegan3-t']['torch']
    for net in ('G', 'D'):
        r = row[net]
        assert r['ratio'] == pytest.approx(r['forward_backward'] / r['no_grad']) and r['load']
    assert data['env']['commit'] and data['env']['load_after']


def test_bench_layer_analyses_smallest(torch_path, capsys):
    from benchmarks import bench_layer_analyses

    report = bench_layer_analyses.main(['--res', '16', '--cbase', '256', '--cmax', '8', '--rounds', '1',
                                        '--cfg', 'T,sg2'])
    for cfg, layers in (('T', 16), ('sg2', 8)):   # the input and 15 layers; b4 to b16 with their ToRGB layers
        r = report['results'][cfg]
        assert r['layers'] == layers and r['synthesis_ms']['median'] > 0 and r['aliasing_ms']['median'] > 0
        assert r['ratio'] == pytest.approx(r['aliasing_ms']['median'] / r['synthesis_ms']['median'])
        assert r['env']['commit'] and r['cpu_ratio'] > 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {k: round(v['ratio'], 3)
                                                                    for k, v in report['results'].items()}


def test_bench_training_inference_1x1_smallest(tmp_path, capsys):
    from benchmarks import bench_training

    out = tmp_path / 'out.json'
    assert bench_training.main(['--res', '16', '--batch', '2', '--cbase', '256', '--cmax', '8', '--zdim', '8',
                                '--cfg', 'stylegan3-r', '--repeats', '1', '--inference-1x1', '--json', str(out)]) == 0
    r = json.loads(out.read_text())['results']['stylegan3-r']
    assert r['grouped'] > 0 and r['ratio'] == pytest.approx(r['product'] / r['grouped']) and r['load']
    assert 'batched product' in capsys.readouterr().out
