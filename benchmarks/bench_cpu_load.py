"""Generator speed on a quiet and on a loaded CPU, with the old thread settings and with tools/threads.py's.

    python -m benchmarks.bench_cpu_load [--repeats 3] [--nets default,sg3t256] [--cap 60] [--json out.json]
    python -m benchmarks.bench_cpu_load --nets recipe-t,recipe-r,recipe-sg2,recipe-t:8192:128 --settings new

The load is started here: one busy process per core (pinned to it), stopped when the benchmark ends, also on
Ctrl-C. Every measurement runs in a fresh subprocess, because the OpenMP runtime reads its settings once, when
torch loads it. Settings compared:

  old      nothing set: GNU OpenMP's default wait (threads spin between parallel regions), one thread per core
  new      tools/threads.py: OMP_WAIT_POLICY=PASSIVE, one thread per core (what every entry point now applies)
  1thread  passive, one thread

Networks: ``default`` is the visualizer's default network (viz/core/default_network.py), ``sg3t256`` is
StyleGAN3-T at 256x256 with the paper's capacity (channel_base 32768, channel_max 512), batch 1, float32,
untrained weights (speed does not depend on them). ``recipe-t``, ``recipe-r``, ``recipe-sg2`` are the README's
"Default networks (recipe)" generators as ``tools.train`` builds them on a CPU (64x64, ``--cbase 16384 --cmax
256``, z/w 512, float32; R doubles both); ``recipe-t:8192:128`` picks other ``--cbase`` / ``--cmax``.
``gui`` renders the default network in a thread while the main thread runs a stand-in GUI loop (60 Hz, numpy
texture work under the GIL, no torch), as the visualizer does:
it reports the render ms/frame and the loop's frames/s with renderer threads = cores and = cores - 1.
A measurement that would take longer than ``--cap`` seconds per frame is reported as ``>cap``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = ('old', 'new', '1thread')


# ---------------------------------------------------------------------------------------------------------
# Child: one measurement in a fresh interpreter.

def _child(net: str, settings: str, repeats: int, cap: float, seconds: float) -> dict:
    sys.path.insert(0, ROOT)   # run as a script: the repository is not on the path yet
    if settings != 'old':
        import tools  # noqa: F401 - applies tools/threads.py before torch loads
    import torch

    from viz.core.default_network import build_default_generator

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
    info = dict(net=net, settings=settings, threads=torch.get_num_threads(),
                wait_policy=os.environ.get('OMP_WAIT_POLICY', '(unset)'))
    with torch.no_grad():
        ws = G.mapping(z, None)
        if net == 'gui':
            return {**info, **_gui_loop(G, ws, seconds)}
        t0 = time.perf_counter()
        G.synthesis(ws)  # warm-up (also the first frame's time, used for the cap)
        first = time.perf_counter() - t0
        times = [first]
        if first * repeats <= cap * 2:
            for _ in range(repeats):
                t0 = time.perf_counter()
                G.synthesis(ws)
                times.append(time.perf_counter() - t0)
            times = times[1:]
    times.sort()
    return {**info, 'ms_median': 1e3 * times[len(times) // 2], 'ms_best': 1e3 * times[0], 'frames': len(times)}


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
    import threading

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
    frames.sort()
    return {'gui_fps': gui_frames / seconds, 'render_ms_median': 1e3 * frames[len(frames) // 2] if frames else None,
            'render_frames': len(frames)}


# ---------------------------------------------------------------------------------------------------------
# Parent: the load and the table.

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


def _measure(net: str, settings: str, repeats: int, cap: float, seconds: float, threads: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(('OMP_', 'MKL_', 'GOMP_', 'KMP_'))}
    if settings == '1thread':
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = '1'
    if threads is not None:
        env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = str(threads)
    cmd = [sys.executable, os.path.abspath(__file__), '--child', net, '--settings', settings,
           '--repeats', str(repeats), '--cap', str(cap), '--seconds', str(seconds)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=cap * 2 + seconds + 60)
    except subprocess.TimeoutExpired:
        return dict(net=net, settings=settings, timeout=cap * 2 + seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f'child failed:\n{proc.stderr[-2000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(r: dict) -> str:
    if r.get('timeout'):
        return f"> {r['timeout'] * 1e3:,.0f} (killed)"
    if r['frames'] == 1:
        return f"{r['ms_median']:,.0f} (1 frame)"
    return f"{r['ms_median']:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--nets', default='default,sg3t256,gui')
    parser.add_argument('--settings', default=','.join(SETTINGS))
    parser.add_argument('--cap', type=float, default=30.0, help='seconds: stop repeating a frame slower than this')
    parser.add_argument('--seconds', type=float, default=8.0, help='length of the GUI-loop measurement')
    parser.add_argument('--json', default=None)
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.settings, args.repeats, args.cap, args.seconds)))
        return 0

    # SIGTERM -> KeyboardInterrupt, so the load is stopped by the same `with` as for Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    cores = sorted(os.sched_getaffinity(0))
    nets = [n for n in args.nets.split(',') if n]
    results = []
    t_start = time.time()
    print(f'{len(cores)} cores; load average before: {os.getloadavg()[0]:.2f}', flush=True)
    for loaded in (False, True):
        with BusyLoad(cores if loaded else []):
            if loaded:
                time.sleep(1.0)
            for net in nets:
                if net == 'gui':
                    runs = [('new', len(cores)), ('new', max(1, len(cores) - 1))]
                else:
                    runs = [(s, None) for s in args.settings.split(',')]
                for settings, threads in runs:
                    r = _measure(net, settings, args.repeats, args.cap, args.seconds, threads)
                    r['loaded'] = loaded
                    results.append(r)
                    print(json.dumps(r), flush=True)
    print(f'\nmachine: {len(cores)} cores, {time.time() - t_start:.0f} s; ms/frame (median), batch 1, float32\n')
    print('| network | settings | threads | quiet ms/frame | loaded ms/frame |')
    print('|---|---|---|---|---|')
    for net in [n for n in nets if n != 'gui']:
        for s in args.settings.split(','):
            q = next(r for r in results if r['net'] == net and r['settings'] == s and not r['loaded'])
            ld = next(r for r in results if r['net'] == net and r['settings'] == s and r['loaded'])
            print(f"| {net} | {s} ({q.get('wait_policy', '')}) | {q.get('threads', '')} | {_fmt(q)} | {_fmt(ld)} |")
    gui = [r for r in results if r['net'] == 'gui']
    if gui:
        print('\n| renderer threads (GUI loop in the main thread) | quiet render ms / GUI fps '
              '| loaded render ms / GUI fps |')
        print('|---|---|---|')
        for threads in sorted({r['threads'] for r in gui}, reverse=True):
            q = next(r for r in gui if r['threads'] == threads and not r['loaded'])
            ld = next(r for r in gui if r['threads'] == threads and r['loaded'])
            print(f"| {threads} | {q['render_ms_median']:.0f} / {q['gui_fps']:.0f} | "
                  f"{ld['render_ms_median']:.0f} / {ld['gui_fps']:.0f} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:   # the `with BusyLoad` blocks have already stopped the load
        print('interrupted: competing load stopped', file=sys.stderr)
        sys.exit(130)
