"""The one timing helper of the benchmarks: warm-up, interleaved variants, median and spread, ratios, and the
conditions each figure was measured under.

A shared machine's speed drifts by the minute (other jobs, thermal state), so variants that are compared are
never timed one after the other: ``compare`` first runs every variant ``warmup`` times (one-time costs: op
builds, allocator, caches; those runs are discarded), then ``rounds`` rounds of A, B, C, A, B, C, ... so that
drift hits each variant alike. Each variant gets its median and its spread (quartiles, min, max), and ratios
are taken between medians of the same run. ``environment()`` (load average, CPU model, cores, commit) is
recorded with every comparison, so that a figure never travels without the conditions it was measured under.

Standard library only (no torch): ``benchmarks/nvlabs_side.py`` runs in NVlabs' process, which imports this
module by path.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Stats:
    """Summary of one variant's timed samples (seconds, or whatever unit the samples are in)."""

    samples: tuple[float, ...]
    median: float
    q1: float
    q3: float
    min: float
    max: float

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_dict(self, scale: float = 1.0) -> dict:
        """JSON-ready, every figure multiplied by ``scale`` (1e3: milliseconds)."""
        return dict(median=self.median * scale, q1=self.q1 * scale, q3=self.q3 * scale, min=self.min * scale,
                    max=self.max * scale, n=self.n)

    def format(self, scale: float = 1.0, digits: int = 2) -> str:
        """``median [q1-q3]``, e.g. ``12.30 [12.10-12.90]``."""
        return (f"{self.median * scale:.{digits}f} [{self.q1 * scale:.{digits}f}-"
                f"{self.q3 * scale:.{digits}f}]")


def summarize(samples: Iterable[float]) -> Stats:
    """Median, quartiles (the medians of the lower and upper halves, the median itself left out when the count
    is odd) and extremes of ``samples``; one sample gives that sample for all of them."""
    s = sorted(float(x) for x in samples)
    if not s:
        raise ValueError("no samples to summarize")
    n = len(s)
    half = n // 2
    lower, upper = (s[:half], s[half + n % 2:]) if n > 1 else (s, s)
    return Stats(samples=tuple(s), median=statistics.median(s), q1=statistics.median(lower),
                 q3=statistics.median(upper), min=s[0], max=s[-1])


@dataclass
class Comparison:
    """The result of ``compare``: per variant the wall-clock (and optionally CPU-time) statistics, the order
    the timed calls ran in, and the environment before and after."""

    wall: dict[str, Stats]
    cpu: dict[str, Stats] | None
    order: list[str]
    warmup: int
    rounds: int
    baseline: str
    env: dict = field(default_factory=dict)

    def median(self, name: str) -> float:
        return self.wall[name].median

    def ratio(self, name: str, baseline: str | None = None, clock: str = "wall") -> float:
        """Median of ``name`` over the median of ``baseline`` (default: the comparison's baseline)."""
        stats = self.wall if clock == "wall" else self.cpu
        if stats is None:
            raise ValueError("this comparison did not record CPU time")
        return stats[name].median / stats[baseline or self.baseline].median

    def to_dict(self, scale: float = 1.0) -> dict:
        out = dict(warmup=self.warmup, rounds=self.rounds, baseline=self.baseline,
                   wall={k: v.to_dict(scale) for k, v in self.wall.items()},
                   ratio={k: self.ratio(k) for k in self.wall}, env=self.env)
        if self.cpu is not None:
            out["cpu"] = {k: v.to_dict(scale) for k, v in self.cpu.items()}
        return out


def self_timed(fn: Callable[[], float]) -> Callable[[], float]:
    """Marks ``fn`` as timing itself: ``compare`` uses the seconds it returns instead of the time around the call.
    For a measurement whose set-up must not be counted (a backward pass after its forward)."""
    fn.__self_timed__ = True
    return fn


def compare(variants: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1,
            baseline: str | None = None, *, clock: Callable[[], float] = time.perf_counter,
            cpu_clock: Callable[[], float] | None = None, sync: Callable[[], None] | None = None,
            budget_s: float | None = None, env: bool = True) -> Comparison:
    """Times every variant interleaved: ``warmup`` untimed rounds, then ``rounds`` timed rounds of each variant
    in turn (A, B, A, B, ...).

    ``baseline``: the variant ratios are taken against (default: the first). ``cpu_clock`` (e.g.
    ``time.process_time``): also record CPU seconds per call, which move less than wall time when other jobs
    share the cores. ``sync``: called after each call before the clock is read (``torch.cuda.synchronize`` for a
    GPU). ``budget_s``: no new round starts once the timed rounds have taken this long (at least one round runs).
    ``env``: record ``environment()`` before and after (off for tests that count clock reads).
    """
    names = list(variants)
    if not names:
        raise ValueError("nothing to compare")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if warmup < 0:
        raise ValueError(f"warmup must be at least 0, got {warmup}")
    baseline = names[0] if baseline is None else baseline
    if baseline not in variants:
        raise ValueError(f"baseline {baseline!r} is not one of the variants {names}")
    before = environment() if env else {}
    for _ in range(warmup):
        for name in names:
            variants[name]()
            if sync is not None:
                sync()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    order: list[str] = []
    start = clock()
    for _ in range(rounds):
        for name in names:
            fn = variants[name]
            c0 = cpu_clock() if cpu_clock is not None else 0.0
            t0 = clock()
            result = fn()
            if sync is not None:
                sync()
            t1 = clock()
            if cpu_clock is not None:
                cpu[name].append(cpu_clock() - c0)
            wall[name].append(float(result) if getattr(fn, "__self_timed__", False) else t1 - t0)
            order.append(name)
        if budget_s is not None and clock() - start > budget_s:
            break
    record = {}
    if env:
        after = environment()
        record = dict(before, load_after=after["load"])
    return Comparison(wall={k: summarize(v) for k, v in wall.items()},
                      cpu={k: summarize(v) for k, v in cpu.items()} if cpu_clock is not None else None,
                      order=order, warmup=warmup, rounds=len(order) // len(names), baseline=baseline, env=record)


def measure(fn: Callable[[], object], repeats: int, warmup: int = 1, **kwargs) -> Stats:
    """One variant alone: its wall-clock statistics over ``repeats`` timed calls after ``warmup`` untimed ones."""
    return compare({"fn": fn}, repeats, warmup, **kwargs).wall["fn"]


# ----------------------------------------------------------------------------------------------------------
# The conditions of a measurement


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one, else the platform's word for it)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_commit(root: str = REPO) -> str | None:
    """The checkout's commit (``git rev-parse``: works in a shallow clone), with ``+dirty`` when tracked files
    differ from it; None where there is no git or no repository."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


_STATIC: dict | None = None


def environment() -> dict:
    """Load average now (1, 5, 15 minutes), machine (CPU model, cores this process may use, cores in all, host)
    and commit. The machine and commit are read once per process; the load each time."""
    global _STATIC
    if _STATIC is None:
        try:
            usable = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            usable = os.cpu_count()
        _STATIC = dict(machine=dict(cpu=cpu_model(), cores=usable, cpu_count=os.cpu_count(), host=platform.node()),
                       commit=git_commit())
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return dict(load=load, **_STATIC)


def describe(env: dict | None = None) -> str:
    """One line for a benchmark's header: commit, machine and load average (before, and after where recorded)."""
    env = env or environment()
    m = env["machine"]
    load, after = env.get("load"), env.get("load_after")
    text = f"commit {env.get('commit') or 'unknown'}; {m['cpu']}, {m['cores']} cores; load average "
    text += f"{load[0]:.2f}" if load else "unknown"
    if after:
        text += f" (after: {after[0]:.2f})"
    return text
