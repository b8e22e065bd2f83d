"""benchmarks/timing.py on fake clocks and fake functions: the order calls run in, warm-up left out of the
figures, median and spread of known samples, ratios, and the conditions recorded with each comparison."""

from __future__ import annotations

import os
import subprocess

import pytest

from benchmarks import timing


class FakeClock:
    """A clock that only moves when a fake function says how long it took."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _variant(clock: FakeClock, name: str, durations: list[float], calls: list[str]):
    """A function that records its call and advances the clock by the next of ``durations``."""
    left = list(durations)

    def fn():
        calls.append(name)
        clock.now += left.pop(0)
    return fn


def test_summarize_known_samples():
    s = timing.summarize([8, 1, 7, 2, 6, 3, 5, 4])
    assert (s.median, s.q1, s.q3, s.min, s.max, s.n) == (4.5, 2.5, 6.5, 1, 8, 8)
    assert s.iqr == 4.0
    s = timing.summarize([5, 1, 3])   # odd count: the median is in neither half
    assert (s.median, s.q1, s.q3, s.min, s.max) == (3, 1, 5, 1, 5)
    s = timing.summarize([2.5])
    assert (s.median, s.q1, s.q3, s.min, s.max, s.n) == (2.5, 2.5, 2.5, 2.5, 2.5, 1)
    assert timing.summarize([0.010, 0.012, 0.011]).format(1e3, 1) == '11.0 [10.0-12.0]'
    assert timing.summarize([1, 2, 3]).to_dict(1e3) == dict(median=2000, q1=1000, q3=3000, min=1000, max=3000, n=3)
    with pytest.raises(ValueError):
        timing.summarize([])


def test_compare_interleaves_and_discards_the_warm_up():
    clock, calls = FakeClock(), []
    # warm-up calls take 100 s (one-time costs); they must not reach the figures
    a = _variant(clock, 'a', [100, 2, 4, 3], calls)
    b = _variant(clock, 'b', [100, 6, 9, 6], calls)
    c = timing.compare({'a': a, 'b': b}, rounds=3, warmup=1, clock=clock, env=False)
    assert calls == ['a', 'b'] + ['a', 'b'] * 3
    assert c.order == ['a', 'b'] * 3 and c.rounds == 3 and c.warmup == 1
    assert c.wall['a'].samples == (2, 3, 4) and c.wall['b'].samples == (6, 6, 9)
    assert c.median('a') == 3 and c.median('b') == 6
    assert c.wall['b'].max == 9   # the warm-up's 100 s is nowhere
    assert c.cpu is None


def test_several_warm_up_rounds_are_interleaved_too():
    clock, calls = FakeClock(), []
    fns = {n: _variant(clock, n, [1] * 5, calls) for n in 'xyz'}
    c = timing.compare(fns, rounds=3, warmup=2, clock=clock, env=False)
    assert calls == list('xyz') * 5
    assert c.order == list('xyz') * 3


def test_ratios_against_the_baseline_of_the_same_run():
    clock, calls = FakeClock(), []
    fns = {'fast': _variant(clock, 'fast', [2, 4, 3], calls), 'slow': _variant(clock, 'slow', [6, 6, 9], calls)}
    c = timing.compare(fns, rounds=3, warmup=0, clock=clock, env=False)
    assert c.baseline == 'fast'
    assert c.ratio('slow') == 2.0 and c.ratio('fast') == 1.0
    assert c.ratio('fast', 'slow') == 0.5
    c = timing.compare({'fast': _variant(clock, 'f', [1, 1], []), 'slow': _variant(clock, 's', [3, 5], [])},
                       rounds=2, warmup=0, baseline='slow', clock=clock, env=False)
    assert c.ratio('fast') == 1 / 4
    assert c.to_dict()['ratio'] == {'fast': 0.25, 'slow': 1.0}
    with pytest.raises(ValueError, match='baseline'):
        timing.compare({'a': lambda: None}, rounds=1, baseline='b', env=False)


def test_cpu_clock_sync_and_self_timed_calls():
    clock, cpu = FakeClock(), FakeClock()
    syncs = []

    def work():          # 2 s of wall time, 3 s of CPU time (two threads)
        clock.now += 2
        cpu.now += 3

    def backward_only():  # its set-up (5 s) is not what is measured: it reports its own 0.25 s
        clock.now += 5
        return 0.25

    c = timing.compare({'work': work, 'backward': timing.self_timed(backward_only)}, rounds=2, warmup=1,
                       clock=clock, cpu_clock=cpu, sync=lambda: syncs.append(clock.now), env=False)
    assert len(syncs) == 2 * 3   # after every call, warm-up included
    assert c.wall['work'].samples == (2, 2) and c.cpu['work'].samples == (3, 3)
    assert c.wall['backward'].samples == (0.25, 0.25)
    assert c.ratio('work', clock='cpu') == 1.0
    with pytest.raises(ValueError, match='CPU'):
        timing.compare({'a': work}, rounds=1, clock=clock, env=False).ratio('a', clock='cpu')


def test_sync_is_inside_the_timed_span():
    clock = FakeClock()

    def sync():          # a GPU finishing its queued work
        clock.now += 1

    c = timing.compare({'a': lambda: None}, rounds=2, warmup=0, clock=clock, sync=sync, env=False)
    assert c.wall['a'].samples == (1, 1)


def test_budget_stops_starting_rounds_but_runs_one():
    clock, calls = FakeClock(), []
    c = timing.compare({'a': _variant(clock, 'a', [3] * 10, calls)}, rounds=10, warmup=0, budget_s=5, clock=clock,
                       env=False)
    assert c.wall['a'].n == 2   # 3 s, then 6 s > 5 s: no third round
    c = timing.compare({'a': _variant(clock, 'a', [30] * 10, [])}, rounds=10, warmup=0, budget_s=5, clock=clock,
                       env=False)
    assert c.wall['a'].n == 1 and c.rounds == 1


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        timing.compare({}, rounds=1, env=False)
    with pytest.raises(ValueError):
        timing.compare({'a': lambda: None}, rounds=0, env=False)
    with pytest.raises(ValueError):
        timing.compare({'a': lambda: None}, rounds=1, warmup=-1, env=False)


def test_measure_is_one_variant():
    clock = FakeClock()
    s = timing.measure(_variant(clock, 'a', [50, 1, 3, 2], []), repeats=3, warmup=1, clock=clock, env=False)
    assert s.samples == (1, 2, 3) and s.median == 2


def test_each_comparison_records_load_machine_and_commit(monkeypatch):
    loads = iter([(1.5, 2.0, 3.0), (4.25, 2.0, 3.0)])
    monkeypatch.setattr(timing.os, 'getloadavg', lambda: next(loads))
    clock = FakeClock()
    c = timing.compare({'a': _variant(clock, 'a', [1, 1], [])}, rounds=1, clock=clock)
    env = c.env
    assert env['load'] == [1.5, 2.0, 3.0] and env['load_after'] == [4.25, 2.0, 3.0]
    assert env['machine']['cores'] == len(os.sched_getaffinity(0))
    assert env['machine']['cpu'] == timing.cpu_model() and env['machine']['cpu']
    head = subprocess.run(['git', 'rev-parse', '--short=12', 'HEAD'], cwd=timing.REPO, capture_output=True,
                          text=True).stdout.strip()
    assert env['commit'].split('+')[0] == head
    assert c.to_dict()['env'] == env
    line = timing.describe(env)
    assert line.startswith(f"commit {env['commit']}; ") and 'load average 1.50 (after: 4.25)' in line


def test_cpu_model_reads_cpuinfo(tmp_path):
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n')
    assert timing.cpu_model(str(info)) == 'Intel(R) Xeon(R) CPU @ 2.20GHz'
    assert timing.cpu_model(str(tmp_path / 'missing'))   # falls back to the platform's name, never empty


def test_git_commit_of_a_repository_without_history_and_of_no_repository(tmp_path):
    assert timing.git_commit(str(tmp_path)) is None
    repo = tmp_path / 'r'
    repo.mkdir()
    git = ['git', '-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false']
    subprocess.run(['git', 'init', '-q'], cwd=repo, check=True)
    (repo / 'f.txt').write_text('one')
    subprocess.run(['git', 'add', 'f.txt'], cwd=repo, check=True)
    subprocess.run([*git, 'commit', '-q', '-m', 'one'], cwd=repo, check=True)
    head = subprocess.run(['git', 'rev-parse', '--short=12', 'HEAD'], cwd=repo, capture_output=True,
                          text=True).stdout.strip()
    assert timing.git_commit(str(repo)) == head   # a single commit, as in a shallow clone
    (repo / 'f.txt').write_text('two')
    assert timing.git_commit(str(repo)) == head + '+dirty'
