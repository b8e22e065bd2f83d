"""CPU speed on a quiet and on a loaded machine: generator, GUI and training, old vs new thread settings.

    python -m benchmarks.bench_cpu_load --json cpu_load.json        (the full run: every default)

Options, with their defaults; the cells run in this order, quiet first, then all of them again loaded:

    python -m benchmarks.bench_cpu_load [--nets default,sg3t256,gui] [--settings old,new,1thread] [--repeats 3]
        [--cap 90] [--seconds 8] [--train stylegan2,stylegan3-t,stylegan3-r] [--train-res 32,64]
        [--train-steps 3] [--train-settings new] [--train-cap 180] [--json out.json]
    python -m benchmarks.bench_cpu_load --nets recipe-t,recipe-r,recipe-sg2,recipe-t:8192:128 --settings new \\
        --train none
    python -m benchmarks.bench_cpu_load --nets default,gui --settings new --seconds 3 --train stylegan2 \\
        --train-res 16 --train-steps 2          (a quick end-to-end check of every part)

The load is started here: one busy process per core (pinned to it), stopped when the benchmark ends, also on
Ctrl-C, SIGTERM or an error in a cell. The fused CPU op is built (or loaded from its cache) before the first cell,
in ``python -m ops.cpu`` (its cache is keyed by this checkout's source path, ``ops/cpu/build.py``). Every
measurement ("cell") runs in a fresh subprocess, because the OpenMP runtime reads its settings once, when torch
loads it. A cell streams its progress (each frame, each training step) to this process, which ends it at its cap:
a cell over the cap reports what it finished, or ``> cap``.
Settings compared:

  old      nothing set: GNU OpenMP's default wait (threads spin between parallel regions), one thread per core
  new      tools/threads.py: OMP_WAIT_POLICY=PASSIVE, one thread per core (what every entry point now applies)
  1thread  passive, one thread

Generator table (batch 1, float32, untrained weights: speed does not depend on them), one row per network and
setting. Columns: ``threads`` torch's thread count in the cell; ``quiet`` / ``loaded`` the median ms/frame of
``--repeats`` frames after one warm-up frame (``benchmarks/timing.summarize``; quartiles in --json). ``(n
frames)``: the cap stopped it after n timed frames; ``(warm-up frame)``: only the warm-up frame (which includes
one-time costs) finished within the cap; ``> cap``: not even that.
Networks: ``default`` is the visualizer's default network (viz/core/default_network.py), ``sg3t256`` is
StyleGAN3-T at 256x256 with the paper's capacity (channel_base 32768, channel_max 512). ``recipe-t``,
``recipe-r``, ``recipe-sg2`` are the README's "Default networks (recipe)" generators as ``tools.train`` builds
them on a CPU (64x64, ``--cbase 16384 --cmax 256``, z/w 512, float32; R doubles both); ``recipe-t:8192:128``
picks other ``--cbase`` / ``--cmax``. ``--cap`` is the wall time of one generator cell (start-up included).

GUI table: ``gui`` renders the default network in a thread while the main thread runs a stand-in GUI loop (60 Hz,
numpy texture work under the GIL, no torch), as the visualizer does, for ``--seconds``, with renderer threads =
cores and = cores - 1. Columns: the renderer's median ms/frame and the GUI loop's frames/s.

Training table: s/kimg of the real training loop, ``benchmarks.bench_training.measure_loop`` (ADA on, p = 0,
data loading in the trainer's process, no snapshots), batch ``--train-batch`` (8). With ``--train-steps`` N the
loop runs N + 2 steps and times the last N - 1 (the span starts at the end of step 3; steps 1-3 are warm-up,
with the one-time costs): s/kimg = seconds per timed step * 1000 / batch. Architecture per resolution (printed
with the table): up to 32x32 bench_training's small default (``--cbase 2048 --cmax 64``, z/w 64), above it the
default-network recipe (``--cbase 16384 --cmax 48``, z/w 512); dataset: 256 built-in photos at that
resolution. Columns: cfg, resolution, architecture, settings, threads, quiet and loaded s/kimg. ``--train-cap``
is the wall time of one training cell (start-up, network build and warm-up included); over it the cell shows
``> cap``, with the s/kimg of the steps it did time, if any, in brackets.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

if __package__:
    from . import timing
else:  # a cell's child runs this file as a script: its folder is sys.path[0] (timing.py imports no torch)
    import timing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = ('old', 'new', '1thread')
TRAIN_CONFIGS = ('stylegan2', 'stylegan3-t', 'stylegan3-r')
# (cbase, cmax, z/w dims): bench_training's small default up to 32x32, the default-network recipe above.
SMALL_ARCH = (2048, 64, 64)
RECIPE_ARCH = (16384, 48, 512)
# Untimed steps before measure_loop's timed span (its two warm-up steps and the step whose end starts the span).
UNTIMED_STEPS = 3


def train_arch(res: int) -> tuple[int, int, int]:
    """(cbase, cmax, z/w dims) of the training cells at ``res``x``res``."""
    return SMALL_ARCH if res <= 32 else RECIPE_ARCH


def _emit(**event) -> None:
    """One line of progress for the parent (stdout belongs to the protocol: nothing else is printed there)."""
    print(json.dumps(event), flush=True)


# ---------------------------------------------------------------------------------------------------------
# Children: one measurement in a fresh interpreter, streaming JSON lines.

def _apply_settings(settings: str) -> None:
    sys.path.insert(0, ROOT)   # run as a script: the repository is not on the path yet
    if settings != 'old':
        import tools  # noqa: F401 - applies tools/threads.py before torch loads


def _info(**extra) -> dict:
    import torch
    return dict(threads=torch.get_num_threads(), wait_policy=os.environ.get('OMP_WAIT_POLICY', '(unset)'), **extra)


def _child_generator(net: str, settings: str, repeats: int, seconds: float) -> None:
    _apply_settings(settings)
    import torch

    from viz.core.default_network import build_default_generator

    _emit(info=_info())
    torch.manual_seed(0)
    if net == 'sg3t256':
        from networks.stylegan3 import Generator
        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3, channel_base=32768,
                      channel_max=512).eval().requires_grad_(False)
    elif net.startswith('recipe-'):
        G = recipe_generator(net)
    else:
        G = build_default_generator()
    z = torch.randn([1, G.z_dim])
    with torch.no_grad():
        ws = G.mapping(z, None)
        if net == 'gui':
            _emit(result=_gui_loop(G, ws, seconds))
            return
        for _ in range(1 + repeats):   # the first frame is the warm-up
            t0 = time.perf_counter()
            G.synthesis(ws)
            _emit(frame=time.perf_counter() - t0)
    _emit(done=True)


def _child_train(cfg_name: str, res: int, settings: str, steps: int, batch: int, data: str) -> None:
    t_start = time.perf_counter()
    _apply_settings(settings)
    from benchmarks import bench_training  # imports torch (after the settings, for all but 'old')
    from training.dataset_convert import convert_dataset

    _emit(info=_info())
    if not os.path.exists(data):   # the first cell at this resolution makes the dataset for all of them
        tmp = data + f'.{os.getpid()}.tmp.zip'
        convert_dataset('builtin:photos', tmp, resolution=f'{res}x{res}', count=256, seed=0, progress=False,
                        log=lambda *_: None)
        os.replace(tmp, data)
    cbase, cmax, zdim = train_arch(res)
    options = argparse.Namespace(batch=batch, cbase=cbase, cmax=cmax, zdim=zdim)
    with tempfile.TemporaryDirectory() as outdir:
        cfg = bench_training._config(cfg_name, data, outdir, options)
        # measure_loop times the steps itself; wrapping the training loop it calls only adds a progress line per
        # step, so that the parent can report the steps done when it ends the cell at its cap.
        inner_loop = bench_training.training_loop

        def training_loop_with_progress(cfg, **kwargs):
            step_callback = kwargs.pop('step_callback')

            def progress(step: dict) -> None:
                step_callback(step)
                _emit(step=step['batch_idx'], t=time.perf_counter())
            return inner_loop(cfg, step_callback=progress, **kwargs)

        bench_training.training_loop = training_loop_with_progress
        _emit(setup_s=time.perf_counter() - t_start, loop_start=time.perf_counter())
        try:
            sec_per_kimg = bench_training.measure_loop(cfg, steps)
        finally:
            bench_training.training_loop = inner_loop
    _emit(result=dict(sec_per_kimg=sec_per_kimg))


def recipe_generator(spec: str):
    """``recipe-{t,r,sg2}[:cbase:cmax]``: the generator ``tools.train`` builds for the recipe on a CPU."""
    name, *caps = spec.split(':')
    cfg = name.removeprefix('recipe-')
    cbase, cmax = (int(caps[0]), int(caps[1])) if caps else (16384, 256)
    common = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=64, img_channels=3, num_fp16_res=0, conv_clamp=None)
    if cfg == 'sg2':
        from networks.stylegan2 import Generator
        G = Generator(**common, channel_base=cbase, channel_max=cmax, mapping_kwargs=dict(num_layers=8))
    else:
        from networks.stylegan3 import Generator
        extra = dict(conv_kernel=1, use_radial_filters=True) if cfg == 'r' else {}
        scale = 2 if cfg == 'r' else 1
        G = Generator(**common, channel_base=cbase * scale, channel_max=cmax * scale,
                      mapping_kwargs=dict(num_layers=2), **extra)
    return G.eval().requires_grad_(False)


def _gui_loop(G, ws, seconds: float) -> dict:
    """Renderer thread renders as fast as it can; the main thread plays a 60 Hz GUI (numpy, GIL, no torch)."""
    import numpy as np

    done = threading.Event()
    frames: list[float] = []
    latest: list = [None]

    def render():
        import torch
        with torch.no_grad():
            while not done.is_set():
                t0 = time.perf_counter()
                img = G.synthesis(ws)
                latest[0] = (img[0].permute(1, 2, 0).clamp(-1, 1) * 127.5 + 128).byte().numpy()
                frames.append(time.perf_counter() - t0)

    thread = threading.Thread(target=render, daemon=True)
    thread.start()
    gui_frames, late = 0, 0
    t_end = time.perf_counter() + seconds
    rgba = np.zeros((128, 128, 4), np.uint8)
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        if latest[0] is not None:  # the texture upload's CPU side: a copy and a conversion per frame
            rgba[..., :3] = latest[0]
            rgba[..., 3] = 255
        sum(i * i for i in range(2000))   # widget code: pure Python under the GIL
        gui_frames += 1
        spent = time.perf_counter() - t0
        if spent > 1 / 60:
            late += 1
        time.sleep(max(0.0, 1 / 60 - spent))
    done.set()
    thread.join(timeout=30)
    median = timing.summarize(frames).median if frames else None
    return {'gui_fps': gui_frames / seconds, 'render_ms_median': 1e3 * median if frames else None,
            'render_frames': len(frames)}


# ---------------------------------------------------------------------------------------------------------
# Parent: the load, the cells and the tables.

class BusyLoad:
    """One busy-looping process per core, each pinned to its core; stopped by ``stop`` (and on exit)."""

    def __init__(self, cores: list[int]):
        self.procs: list[subprocess.Popen] = []
        for core in cores:
            self.procs.append(subprocess.Popen(
                [sys.executable, '-c', f'import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True: pass'],
                stdin=subprocess.DEVNULL, start_new_session=True))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()
        self.procs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def run_cell(cmd: list[str], env: dict | None, cap: float) -> tuple[list[dict], bool]:
    """Runs one child for at most ``cap`` seconds; returns (its JSON lines so far, whether the cap ended it).

    The child runs in its own session and is killed with its whole process group at the cap, on an exception
    or on Ctrl-C here, so nothing it started outlives the cell. A child that fails raises RuntimeError.
    """
    with tempfile.TemporaryFile('w+') as stderr:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=stderr, text=True, start_new_session=True)
        events: list[dict] = []

        def read():   # a thread, so that the wait below can end at the cap even while no line comes
            for line in proc.stdout:
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    pass   # not ours (a library printing to stdout)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        over_cap = False
        try:
            proc.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            over_cap = True
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            reader.join(timeout=10)
        if not over_cap and proc.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f'cell {cmd[2:]} failed (exit {proc.returncode}):\n{stderr.read()[-2000:]}')
    return list(events), over_cap


def _child_env(settings: str, threads: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OMP_', 'MKL_', 'GOMP_', 'KMP_'))}
    if settings == '1thread':
        threads = 1
    if threads is not None:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(threads)
    return env


def _info_of(events: list[dict]) -> dict:
    return next((e['info'] for e in events if 'info' in e), {})


def measure_generator(net: str, settings: str, repeats: int, cap: float, seconds: float,
                      threads: int | None = None) -> dict:
    """One generator (or ``gui``) cell: median ms/frame after the warm-up frame, or what finished in ``cap``."""
    cmd = [sys.executable, os.path.abspath(__file__), '--child', net, '--settings', settings,
           '--repeats', str(repeats), '--seconds', str(seconds)]
    events, over_cap = run_cell(cmd, _child_env(settings, threads), cap)
    r = dict(net=net, settings=settings, cap_s=cap, over_cap=over_cap, load=timing.environment()['load'],
             **_info_of(events))
    result = next((e['result'] for e in events if 'result' in e), None)
    if result is not None:
        return {**r, **result}
    frames = [e['frame'] for e in events if 'frame' in e]
    timed = frames[1:]   # the first frame is the warm-up (one-time costs)
    r['warmup_ms'] = 1e3 * frames[0] if frames else None
    r['frames'] = len(timed)
    if timed:
        stats = timing.summarize(timed)
        r['ms_median'], r['ms_best'] = 1e3 * stats.median, 1e3 * stats.min
        r['ms_q1'], r['ms_q3'] = 1e3 * stats.q1, 1e3 * stats.q3
    return r


def measure_training(cfg_name: str, res: int, settings: str, steps: int, batch: int, cap: float,
                     data: str) -> dict:
    """One training cell: measure_loop's s/kimg, or (over the cap) the s/kimg of the steps timed by then."""
    cmd = [sys.executable, os.path.abspath(__file__), '--child', f'train:{cfg_name}:{res}', '--settings', settings,
           '--train-steps', str(steps), '--train-batch', str(batch), '--data', data]
    events, over_cap = run_cell(cmd, _child_env(settings, None), cap)
    cbase, cmax, zdim = train_arch(res)
    r = dict(net='train', cfg=cfg_name, res=res, batch=batch, cbase=cbase, cmax=cmax, zdim=zdim, settings=settings,
             cap_s=cap, over_cap=over_cap, load=timing.environment()['load'], **_info_of(events))
    stamps = [e['t'] for e in events if 'step' in e]
    r['step_s'] = [b - a for a, b in zip(stamps, stamps[1:])]   # from the end of step 1 on
    # Where a slow cell's time went: start-up (torch, dataset), then networks' build and step 1 (op loading).
    start = next((e for e in events if 'setup_s' in e), None)
    if start is not None:
        r['setup_s'] = start['setup_s']
        r['first_step_s'] = stamps[0] - start['loop_start'] if stamps else None
    result = next((e['result'] for e in events if 'result' in e), None)
    if result is not None:
        r.update(result)
    elif len(stamps) > UNTIMED_STEPS:   # the same span as measure_loop's, over the steps done by the cap
        timed = stamps[UNTIMED_STEPS - 1:]
        r['partial_sec_per_kimg'] = (timed[-1] - timed[0]) / ((len(timed) - 1) * batch) * 1000
        r['partial_steps'] = len(timed) - 1
    return r


def fmt_generator(r: dict) -> str:
    if r.get('frames'):
        text = f"{r['ms_median']:,.0f}"
        return text + (f" ({r['frames']} frames)" if r['over_cap'] else '')
    if r.get('warmup_ms') is not None:
        return f"{r['warmup_ms']:,.0f} (warm-up frame)"
    return f"> {r['cap_s']:,.0f} s (cap)"


def fmt_training(r: dict) -> str:
    if r.get('sec_per_kimg') is not None:
        return f"{r['sec_per_kimg']:,.1f}"
    partial = r.get('partial_sec_per_kimg')
    text = f"> {r['cap_s']:,.0f} s (cap)"
    return text + (f" ({partial:,.1f} from {r['partial_steps']} steps)" if partial is not None else '')


def _split(text: str) -> list[str]:
    return [] if text in ('', 'none') else [t for t in text.split(',') if t]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='python -m benchmarks.bench_cpu_load', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--nets', default='default,sg3t256,gui', help="generator cells, or 'none'")
    parser.add_argument('--settings', default=','.join(SETTINGS), help='thread settings of the generator cells')
    parser.add_argument('--repeats', type=int, default=3, help='timed frames per generator cell')
    parser.add_argument('--cap', type=float, default=90.0, help='seconds: wall time of one generator cell')
    parser.add_argument('--seconds', type=float, default=8.0, help='length of the GUI-loop measurement')
    parser.add_argument('--train', default=','.join(TRAIN_CONFIGS), help="training configs, or 'none'")
    parser.add_argument('--train-res', default='32,64', help='training resolutions')
    parser.add_argument('--train-steps', type=int, default=3, help='N: run N + 2 steps, time the last N - 1 (N >= 2)')
    parser.add_argument('--train-batch', type=int, default=8)
    parser.add_argument('--train-settings', default='new', help='thread settings of the training cells')
    parser.add_argument('--train-cap', type=float, default=180.0, help='seconds: wall time of one training cell')
    parser.add_argument('--json', default=None)
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--data', default=None, help=argparse.SUPPRESS)
    return parser


def run_all(args: argparse.Namespace, cores: list[int], log=print) -> list[dict]:
    """Every cell quiet, then every cell under the busy load; the load is stopped however this ends."""
    nets = _split(args.nets)
    train_cfgs = _split(args.train)
    train_res = [int(r) for r in _split(args.train_res)]
    results = []
    with tempfile.TemporaryDirectory(prefix='bench_cpu_load_') as data_dir:
        for loaded in (False, True):
            with BusyLoad(cores if loaded else []):
                if loaded:
                    time.sleep(1.0)   # let the busy processes reach their cores
                for net in nets:
                    if net == 'gui':
                        runs = [('new', len(cores)), ('new', max(1, len(cores) - 1))]
                    else:
                        runs = [(s, None) for s in _split(args.settings)]
                    for settings, threads in runs:
                        r = measure_generator(net, settings, args.repeats, args.cap, args.seconds, threads)
                        r['loaded'] = loaded
                        results.append(r)
                        log(json.dumps(r))
                for res in train_res:
                    for cfg_name in train_cfgs:
                        for settings in _split(args.train_settings):
                            r = measure_training(cfg_name, res, settings, args.train_steps, args.train_batch,
                                                 args.train_cap, os.path.join(data_dir, f'photos-{res}.zip'))
                            r['loaded'] = loaded
                            results.append(r)
                            log(json.dumps(r))
    return results


def _pair(results: list[dict], **key) -> tuple[dict, dict]:
    cells = [r for r in results if all(r.get(k) == v for k, v in key.items())]
    return next(r for r in cells if not r['loaded']), next(r for r in cells if r['loaded'])


def print_tables(results: list[dict], cores: list[int], total_s: float, out=print, env: dict | None = None) -> None:
    out(f'\nmachine: {len(cores)} cores; total run time {total_s:.0f} s')
    out(f'{timing.describe(env)}; each cell\'s load average at its end is in --json\n')
    generators = [r for r in results if r['net'] not in ('gui', 'train')]
    if generators:
        out('Generator, batch 1, float32: median ms/frame\n')
        out('| network | settings | threads | quiet ms/frame | loaded ms/frame |')
        out('|---|---|---|---|---|')
        for net in dict.fromkeys(r['net'] for r in generators):
            for s in dict.fromkeys(r['settings'] for r in generators if r['net'] == net):
                q, ld = _pair(generators, net=net, settings=s)
                out(f"| {net} | {s} ({q.get('wait_policy', '?')}) | {q.get('threads', '?')} | {fmt_generator(q)} "
                    f"| {fmt_generator(ld)} |")
    gui = [r for r in results if r['net'] == 'gui']
    if gui:
        out('\n| renderer threads (GUI loop in the main thread) | quiet render ms / GUI fps '
            '| loaded render ms / GUI fps |')
        out('|---|---|---|')

        def cell(r: dict) -> str:
            if r.get('gui_fps') is None:
                return f"> {r['cap_s']:,.0f} s (cap)"
            ms = r['render_ms_median']
            return f"{ms:.0f} / {r['gui_fps']:.0f}" if ms is not None else f"(no frame) / {r['gui_fps']:.0f}"
        for q, ld in zip([r for r in gui if not r['loaded']], [r for r in gui if r['loaded']]):
            out(f"| {q.get('threads', '?')} | {cell(q)} | {cell(ld)} |")
    train = [r for r in results if r['net'] == 'train']
    if train:
        out(f"\nTraining, batch {train[0]['batch']}: s/kimg of the real training loop (benchmarks.bench_training."
            'measure_loop); architecture: --cbase / --cmax, z/w dims\n')
        out('| cfg | res | architecture | settings | threads | quiet s/kimg | loaded s/kimg |')
        out('|---|---|---|---|---|---|---|')
        for key in dict.fromkeys((r['res'], r['cfg'], r['settings']) for r in train):
            q, ld = _pair(train, res=key[0], cfg=key[1], settings=key[2])
            out(f"| {q['cfg']} | {q['res']}x{q['res']} | {q['cbase']} / {q['cmax']}, {q['zdim']} | {q['settings']} "
                f"| {q.get('threads', '?')} | {fmt_training(q)} | {fmt_training(ld)} |")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.train_steps < 2:   # measure_loop's span starts at the end of the first timed step
        parser.error('--train-steps must be at least 2')
    if args.child:
        if args.child.startswith('train:'):
            _, cfg_name, res = args.child.split(':')
            _child_train(cfg_name, int(res), args.settings, args.train_steps, args.train_batch, args.data)
        else:
            _child_generator(args.child, args.settings, args.repeats, args.seconds)
        return 0

    # SIGTERM -> KeyboardInterrupt, so the load is stopped by the same `with` as for Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    cores = sorted(os.sched_getaffinity(0))
    t_start = time.time()
    env = timing.environment()
    print(f'{len(cores)} cores; {timing.describe(env)}', flush=True)
    # The fused CPU op is built (or loaded) once here, before any cell, so that no compile lands in a cell's
    # warm-up or is cut off by its cap. Its cache is this checkout's own (ops/cpu/build.py keys it by the source
    # path: checkouts sharing one directory used to rebuild it for each other).
    t0 = time.time()
    built = subprocess.run([sys.executable, '-m', 'ops.cpu'], cwd=ROOT, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
    print(f'{built.stdout.strip() or built.stderr.strip()[-300:]} ({time.time() - t0:.0f} s)', flush=True)
    results = run_all(args, cores, log=lambda line: print(line, flush=True))
    total_s = time.time() - t_start
    env['load_after'] = timing.environment()['load']
    print_tables(results, cores, total_s, env=env)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), cores=len(cores), total_s=total_s, env=env, results=results), f,
                      indent=2)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:   # the `with BusyLoad` blocks have already stopped the load
        print('interrupted: competing load stopped', file=sys.stderr)
        sys.exit(130)
