"""benchmarks/bench_cpu_load: its competing load is always stopped, and a cell is ended at its cap and says so.

The cells here are tiny stand-in children (no torch): what is checked is the parent's machinery, which the real
cells share: the busy processes, the cap with its process-group kill, and the reporting of what a capped cell did.
"""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from benchmarks import bench_cpu_load as bench

_REAL_RUN_CELL = bench.run_cell   # before any test patches it

# A child that reports a start-up line and some progress, starts a grandchild, then never ends by itself.
_HANGING_CHILD = """
import json, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])
print(json.dumps({{'info': {{'threads': 7, 'grandchild': grandchild.pid}}}}), flush=True)
for i, t in enumerate({stamps}):
    print(json.dumps({key}), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f'/proc/{pid}/stat') as f:   # a killed child not yet reaped by its parent is a zombie: gone
        return f.read().split(')')[-1].split()[0] != 'Z'


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _fake_cell(script: str):
    """A `run_cell` stand-in that runs `script` with the real machinery instead of the benchmark's child."""
    return lambda cmd, env, cap: _REAL_RUN_CELL([sys.executable, '-c', script], env, cap)


def test_run_cell_kills_the_child_and_its_descendants_at_the_cap():
    script = _HANGING_CHILD.format(stamps='[]', key="{}")
    t0 = time.monotonic()
    events, over_cap = bench.run_cell([sys.executable, '-c', script], None, cap=1.5)
    elapsed = time.monotonic() - t0
    assert over_cap
    assert 1.5 <= elapsed < 10
    grandchild = events[0]['info']['grandchild']
    assert _wait_gone(grandchild), 'the cap left the cell\'s own subprocess running'


def test_a_failing_cell_raises_with_its_error():
    with pytest.raises(RuntimeError, match='ZeroDivisionError'):
        bench.run_cell([sys.executable, '-c', 'print("{}"); 1 / 0'], None, cap=30)


def test_generator_cell_over_the_cap_reports_the_frames_it_finished(monkeypatch):
    # warm-up frame 2.0 s, then timed frames of 0.5, 0.3 and 0.4 s: median 0.4 s, best 0.3 s
    script = _HANGING_CHILD.format(stamps='[2.0, 0.5, 0.3, 0.4]', key="{'frame': t}")
    monkeypatch.setattr(bench, 'run_cell', _fake_cell(script))
    r = bench.measure_generator('sg3t256', 'new', repeats=10, cap=1.5, seconds=0)
    assert r['over_cap'] and r['threads'] == 7
    assert r['warmup_ms'] == pytest.approx(2000) and r['frames'] == 3
    assert r['ms_median'] == pytest.approx(400) and r['ms_best'] == pytest.approx(300)
    assert bench.fmt_generator(r) == '400 (3 frames)'
    only_warmup = _HANGING_CHILD.format(stamps='[2.0]', key="{'frame': t}")
    monkeypatch.setattr(bench, 'run_cell', _fake_cell(only_warmup))
    assert bench.fmt_generator(bench.measure_generator('x', 'new', 3, 1.5, 0)) == '2,000 (warm-up frame)'
    nothing = _HANGING_CHILD.format(stamps='[]', key='{}')
    monkeypatch.setattr(bench, 'run_cell', _fake_cell(nothing))
    assert bench.fmt_generator(bench.measure_generator('x', 'new', 3, 1.5, 0)) == '> 2 s (cap)'


def test_training_cell_over_the_cap_reports_the_timed_steps(tmp_path, monkeypatch):
    # Step ends at 10, 20, 30 s (untimed: two warm-up steps and the step whose end starts the span), then 34 and
    # 40 s: two timed steps in 10 s at batch 8 = 625 s/kimg.
    script = _HANGING_CHILD.format(stamps='[10.0, 20.0, 30.0, 34.0, 40.0]', key="{'step': i + 1, 't': t}")
    monkeypatch.setattr(bench, 'run_cell', _fake_cell(script))
    r = bench.measure_training('stylegan3-r', 64, 'new', steps=5, batch=8, cap=1.5, data=str(tmp_path / 'd.zip'))
    assert r['over_cap'] and r.get('sec_per_kimg') is None
    assert (r['cbase'], r['cmax'], r['zdim']) == bench.RECIPE_ARCH
    assert r['step_s'] == pytest.approx([10.0, 10.0, 4.0, 6.0])
    assert r['partial_sec_per_kimg'] == pytest.approx(625.0) and r['partial_steps'] == 2
    assert bench.fmt_training(r) == '> 2 s (cap) (625.0 from 2 steps)'
    # Over the cap before any timed step: no estimate at all.
    script = _HANGING_CHILD.format(stamps='[10.0, 20.0, 30.0]', key="{'step': i + 1, 't': t}")
    monkeypatch.setattr(bench, 'run_cell', _fake_cell(script))
    r = bench.measure_training('stylegan2', 32, 'new', steps=5, batch=8, cap=1.5, data=str(tmp_path / 'd.zip'))
    assert (r['cbase'], r['cmax'], r['zdim']) == bench.SMALL_ARCH
    assert 'partial_sec_per_kimg' not in r and bench.fmt_training(r) == '> 2 s (cap)'


def test_the_load_is_stopped_when_a_loaded_cell_raises(monkeypatch):
    loads: list[list] = []

    class RecordedLoad(bench.BusyLoad):
        def __init__(self, cores):
            super().__init__(cores)
            loads.append(list(self.procs))

    def cell(net, settings, repeats, cap, seconds, threads=None):
        if loads[-1]:   # the loaded pass: the busy processes are running now
            assert all(p.poll() is None for p in loads[-1])
            raise RuntimeError('a cell failed')
        return dict(net=net, settings=settings, frames=1, ms_median=1.0, over_cap=False)

    monkeypatch.setattr(bench, 'BusyLoad', RecordedLoad)
    monkeypatch.setattr(bench, 'measure_generator', cell)
    args = bench.build_parser().parse_args(['--nets', 'default', '--settings', 'new', '--train', 'none'])
    cores = sorted(os.sched_getaffinity(0))
    with pytest.raises(RuntimeError, match='a cell failed'):
        bench.run_all(args, cores, log=lambda _line: None)
    assert [len(procs) for procs in loads] == [0, len(cores)]
    assert all(p.poll() is not None for p in loads[1]), 'busy processes outlived the failed cell'


def test_tables_show_capped_cells(capsys):
    base = dict(net='train', cfg='stylegan3-t', res=64, batch=8, cbase=16384, cmax=48, zdim=512, settings='new',
                threads=2, cap_s=240.0)
    results = [dict(base, loaded=False, over_cap=False, sec_per_kimg=512.34),
               dict(base, loaded=True, over_cap=True, partial_sec_per_kimg=1500.0, partial_steps=1),
               dict(net='sg3t256', settings='new', wait_policy='PASSIVE', threads=2, cap_s=90.0, loaded=False,
                    over_cap=False, frames=3, ms_median=3456.7),
               dict(net='sg3t256', settings='new', wait_policy='PASSIVE', threads=2, cap_s=90.0, loaded=True,
                    over_cap=True, frames=0, warmup_ms=None)]
    bench.print_tables(results, [0, 1], 123.4)
    out = capsys.readouterr().out
    assert 'total run time 123 s' in out
    assert '| sg3t256 | new (PASSIVE) | 2 | 3,457 | > 90 s (cap) |' in out
    assert '| stylegan3-t | 64x64 | 16384 / 48, 512 | new | 2 | 512.3 | > 240 s (cap) (1,500.0 from 1 steps) |' in out
    json.dumps(results)   # what --json writes
