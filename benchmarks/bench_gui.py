"""GUI benchmark under a private Xvfb: the visualizer stays responsive whatever the generator does.

    .venv/bin/python -m benchmarks.bench_gui [--fuzz-frames 10000] [--json out.json]

1. Frame rate while a render of >= 1 s is in flight, as a ratio to the idle frame rate measured in the
   same run (target: >= 30 frames/s).
2. A slider (the latent, dragged in the image with injected mouse events) moving every frame: the render
   queue never holds more than one request, and every result shown is the newest request's.
3. N frames of random input (mouse moves, clicks, drags, wheel, keys) over the whole window: no crash,
   resident memory growth < 5% from the end of the warm-up to the end.
4. Analyses (default network): GUI frames/s while a 50-seed spectrum runs; seed click -> new image with that
   spectrum running, as a ratio to the same click without it (target <= 1.5), in the GUI and at the
   renderer (`click`); display-only changes (FFT range / beta, dB, normalise, channels, untransform) -> new
   image (target < 50 ms). In the window both are timed by the app's latency trace, from the change to the swap
   of the frame that shows it, and the median of each stage (request, render, result seen, drawn, shown) is
   printed: where the time goes.
5. Per-layer averages (`layers`; the network `make run` opens: the shipped SG3-T when there is one): GUI
   frames/s while the aliasing of 1024 seeds and the per-layer EQ of 1024 samples run in the background
   (target: >= 30 frames/s), and whether each was still running when the measurement ended (else it measured
   an idle GUI).
6. CPU at idle (`cpu`; default network, the app's 60 fps cap, no render in flight): frames/s, GUI process
   CPU in cores and in ms per frame, split by thread group (main: the GUI thread; llvmpipe: Mesa's rasteriser
   threads; render: the app's renderer threads; other), from /proc/self/task.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

from . import timing


def _median(values) -> float:
    """The median through the benchmarks' one statistics helper (benchmarks/timing.py)."""
    return timing.summarize(values).median


def _fps(app, frames: int = 0, seconds: float = 0.0, while_busy: bool = False) -> tuple[float, int]:
    t0, n = time.perf_counter(), 0
    while True:
        if while_busy and not app.async_renderer.busy:
            break
        if frames and n >= frames:
            break
        if seconds and time.perf_counter() - t0 >= seconds:
            break
        app.frame()
        n += 1
    return n / max(time.perf_counter() - t0, 1e-9), n


def bench_busy_fps(app, repeats: int = 3) -> dict:
    """GUI frames/s while the renderer is busy with a slow render, against the idle rate."""
    app.window.fps_limit = 0
    app.perf_widget.fps_limit = 0
    while app.rendering:
        app.frame()
    idle_fps, _ = _fps(app, seconds=2.0)
    busy, render_s = [], []
    for _ in range(repeats):
        app.latent_widget.set_seed(app.latent_widget.seed + 1)
        app.frame()  # submits the request
        t0 = time.perf_counter()
        fps, _n = _fps(app, while_busy=True)
        render_s.append(time.perf_counter() - t0)
        busy.append(fps)
        app.frame()
    return dict(idle_fps=idle_fps, busy_fps=min(busy), busy_fps_all=busy, render_seconds=render_s,
                ratio_busy_to_idle=min(busy) / idle_fps)


def bench_slider(app, frames: int = 600) -> dict:
    """Drag in the image every frame (injected ImGui mouse events): the queue and result freshness."""
    from imgui_bundle import imgui

    x0, y0, x1, y1 = app.rects['image']
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    step = {'i': 0}

    def inject() -> None:
        io = imgui.get_io()
        i = step['i']
        io.add_mouse_pos_event(cx + 40 * ((i % 80) / 40 - 1), cy)
        io.add_mouse_button_event(0, True)

    shown, stale, max_queue = 0, 0, 0
    original_poll = app._poll_result

    def checked_poll() -> None:
        nonlocal shown, stale
        before = app.result
        original_poll()
        if app.result is not before and app.result is not None:
            shown += 1
            if app.result.args != app.async_renderer.latest_args:
                stale += 1

    app._poll_result = checked_poll
    app.window.input_hooks.append(inject)
    requests_before = app.async_renderer.stats['requested']
    seeds_seen = set()
    try:
        for i in range(frames):
            step['i'] = i
            app.frame()
            max_queue = max(max_queue, app.async_renderer.queue_length)
            seeds_seen.add(app.args.w0_seeds)
    finally:
        app.window.input_hooks.remove(inject)
        app._poll_result = original_poll
        imgui.get_io().add_mouse_button_event(0, False)
        app.frame()
    return dict(frames=frames, distinct_latents=len(seeds_seen), results_shown=shown, stale_shown=stale,
                requests=app.async_renderer.stats['requested'] - requests_before, max_queue=max_queue,
                renderer_max_queue=app.async_renderer.stats['max_queue'])


def bench_fuzz(app, frames: int, seed: int = 0, warmup: int = 1000) -> dict:
    """Random input over the whole window for `frames` frames; RSS after the warm-up and at the end."""
    import psutil
    from imgui_bundle import imgui

    rnd = random.Random(seed)
    proc = psutil.Process()
    width, height = app.window.size
    keys = [imgui.Key.tab, imgui.Key.enter, imgui.Key.backspace, imgui.Key.left_arrow, imgui.Key.right_arrow,
            imgui.Key.up_arrow, imgui.Key.down_arrow, imgui.Key.space, imgui.Key.escape]
    state = {'down': False}

    def inject() -> None:
        io = imgui.get_io()
        r = rnd.random()
        if r < 0.5:
            io.add_mouse_pos_event(rnd.uniform(0, width), rnd.uniform(0, height))
        elif r < 0.7:
            state['down'] = not state['down']
            io.add_mouse_button_event(rnd.choice((0, 0, 0, 1)), state['down'])
        elif r < 0.8:
            io.add_mouse_wheel_event(0, rnd.choice((-1, 1)))
        elif r < 0.9:
            key = rnd.choice(keys)
            io.add_key_event(key, True)
            io.add_key_event(key, False)
        else:
            io.add_input_character(ord(rnd.choice('0123456789abc.-')))

    app.window.input_hooks.append(inject)
    rss_start = None
    t0 = time.perf_counter()
    try:
        for i in range(frames):
            if i == min(warmup, frames // 2):
                rss_start = proc.memory_info().rss
            app.frame()
            if app.window.should_close():
                break
    finally:
        app.window.input_hooks.remove(inject)
    rss_end = proc.memory_info().rss
    return dict(frames=i + 1, seconds=time.perf_counter() - t0, rss_start_mb=rss_start / 2**20,
                rss_end_mb=rss_end / 2**20, rss_growth=(rss_end - rss_start) / rss_start,
                renders=app.async_renderer.stats['rendered'])


def _thread_ticks() -> dict[int, tuple[str, int]]:
    """CPU clock ticks (user + system) and OS name of every thread of this process, by thread id."""
    out = {}
    for tid in os.listdir('/proc/self/task'):
        try:
            with open(f'/proc/self/task/{tid}/stat') as f:
                fields = f.read().rsplit(') ', 1)[1].split()
            with open(f'/proc/self/task/{tid}/comm') as f:
                name = f.read().strip()
        except OSError:  # the thread ended between the listing and the read
            continue
        out[int(tid)] = (name, int(fields[11]) + int(fields[12]))
    return out


def bench_cpu(app, seconds: float = 5.0, fps_limit: int = 60, repeats: int = 3) -> dict:
    """The GUI's CPU use at idle: process cores and ms per frame, by thread group; the median of `repeats` runs."""
    import threading

    app.window.fps_limit = fps_limit
    app.perf_widget.fps_limit = fps_limit
    _until(app, lambda: app.result is not None and not app.rendering)
    _fps(app, seconds=1.0)  # warm-up: fonts, textures, shaders
    main_tid = threading.main_thread().native_id
    tick = os.sysconf('SC_CLK_TCK')
    runs = []
    for _ in range(repeats):
        render_tids = {t.native_id for t in threading.enumerate() if t.name.startswith('async-')}
        before, c0 = _thread_ticks(), time.process_time()
        fps, frames = _fps(app, seconds=seconds)
        cpu_s, after = time.process_time() - c0, _thread_ticks()
        wall = frames / fps
        groups = dict(main=0, llvmpipe=0, render=0, other=0)
        for tid, (name, ticks) in after.items():
            delta = ticks - before.get(tid, (name, 0))[1]
            group = ('main' if tid == main_tid else 'llvmpipe' if name.startswith('llvmpipe')
                     else 'render' if tid in render_tids else 'other')
            groups[group] += delta
        runs.append(dict(fps=fps, cores=cpu_s / wall, ms_per_frame=1000 * cpu_s / frames,
                         **{f'{k}_ms_per_frame': 1000 * v / tick / frames for k, v in groups.items()}))
    result = {k: _median(r[k] for r in runs) for k in runs[0]}
    result.update(fps_limit=fps_limit, seconds=seconds, repeats=repeats,
                  lp_num_threads=os.environ.get('LP_NUM_THREADS'), runs=runs)
    return result


def _until(app, pred, timeout: float = 120.0) -> float:
    """Run GUI frames until `pred()`; seconds it took."""
    t0 = time.perf_counter()
    while not pred():
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError('timed out')
        app.frame()
    return time.perf_counter() - t0


def _shown(app, args) -> bool:
    return app.result is not None and app.result.args == args and app.result.image is not None


def _median_trace(rows: list[dict]) -> dict:
    """Per stage of the app's latency trace, the median ms after the change (over the rows that reached it)."""
    from viz.gui.app import TRACE_STAGES

    return {k: round(_median(r[k] for r in rows if k in r), 1) for k in TRACE_STAGES
            if any(k in r for r in rows)}


def bench_analyses(app, repeats: int = 5, spectrum_seeds: int = 50, fps_limit: int = 60) -> dict:
    """Frame rate during a spectrum, seed click -> image with and without it, display-only change -> image.

    `fps_limit` is the GUI's frame-rate cap during the part: 60 is the app's own default (its performance widget);
    0 lets the GUI thread draw as fast as it can, competing with the renderer for the cores (a stress case).
    """
    app.window.fps_limit = fps_limit
    app.perf_widget.fps_limit = fps_limit
    _until(app, lambda: not app.rendering)

    traces: dict[str, list[dict]] = {'plain': [], 'during': [], 'display': [], 'untransform': []}

    def traced(kind: str) -> float:
        """Frames until the newest args are on screen; seconds from the change to the swap of that frame (the
        app's latency trace, whose stages are kept in `traces`)."""
        target = app.args
        _until(app, lambda: _shown(app, target) and app._traced is app.result)
        traces[kind].append(dict(app.latency_trace))
        return app.latency_trace['shown'] / 1000

    def click(kind: str) -> float:
        app.latent_widget.set_seed(app.latent_widget.seed + 1)
        app.frame()
        seconds = traced(kind)
        app.frame()
        return seconds

    def spectrum(on: bool) -> None:
        app.spectrum_widget.enabled, app.spectrum_widget.num_seeds = on, spectrum_seeds
        app.frame()
        if on:  # running from its start, past its first sample
            _until(app, lambda: app.async_renderer.analysing and (app.async_renderer.progress or ('', 0, 0))[1] >= 1)
        else:
            _until(app, lambda: not app.rendering)

    # Pairs (plain click, click while the spectrum runs), interleaved: the shared CPU's load changes by the
    # minute, and each pair sees about the same.
    idle_fps, _n = _fps(app, seconds=3.0)
    plain, during, fps_during, progress_before = [], [], [], None
    for _ in range(repeats):
        plain.append(click('plain'))
        spectrum(True)
        fps, frames = _fps(app, seconds=1.0)
        fps_during.append(fps)
        progress_before = app.async_renderer.progress
        during.append(click('during'))
        spectrum(False)
        analyses = app.async_renderer.renderer.analyses
        analyses._values.clear()  # forget it (and its saved samples): the next pair sees it running again
        analyses._partial.clear()
    fps = _median(fps_during)
    still_running = progress_before is not None

    display, render_ms = {}, {}
    changes = [('fft_show', dict(fft_show=True)), ('fft_range', dict(fft_range_db=30.0)),
               ('fft_beta', dict(fft_beta=4.0)), ('db', dict(db=6.0)), ('normalize', dict(normalize=True)),
               ('single_channel', dict(rgb=False, base_channel=1)), ('fft_all', dict(fft_all=False))]
    for name, change in changes:
        for key, value in change.items():
            setattr(app.layer_widget, key, value)
        app.frame()
        display[name] = traced('display')
        render_ms[name] = 1000 * app.result.timings.get('total', float('nan'))
    # Untransform: a moved input first (that synthesises), then the display-only toggle.
    app.transform_widget.x, app.transform_widget.angle = 0.1, 5.0
    app.frame()
    _until(app, lambda t=app.args: _shown(app, t))
    app.transform_widget.untransform = True
    app.frame()
    display['untransform'] = traced('untransform')
    render_ms['untransform'] = 1000 * app.result.timings.get('total', float('nan'))
    return dict(fps_limit=fps_limit, idle_fps=idle_fps, fps_during_spectrum=fps, fps_during_all=fps_during,
                progress=progress_before,
                click_plain_s=plain, click_with_spectrum_s=during, spectrum_still_running=still_running,
                click_ratio=_median(during) / _median(plain),
                click_pair_ratios=[d / p for d, p in zip(during, plain)], display_change_s=display,
                trace_ms={kind: _median_trace(rows) for kind, rows in traces.items()},
                sync_views=app.sync_views,
                display_change_render_ms=render_ms, display_change_max_s=max(display.values()))


def bench_layer_averages(app, seconds: float = 3.0, fps_limit: int = 60) -> dict:
    """GUI frames/s while each per-layer average runs (aliasing over 1024 seeds, per-layer EQ over 1024 samples:
    long enough to be still running when the measurement ends, which the result says)."""
    app.window.fps_limit = fps_limit
    app.perf_widget.fps_limit = fps_limit
    _until(app, lambda: not app.rendering)
    idle_fps, _n = _fps(app, seconds=2.0)
    out = dict(fps_limit=fps_limit, idle_fps=idle_fps)
    for what, widget, field, count in (('aliasing', app.aliasing_widget, 'seeds', 1024),
                                       ('layer EQ', app.layer_eq_widget, 'samples', 1024)):
        widget.enabled = True
        setattr(widget, field, count)
        app.frame()
        _until(app, lambda w=what: (app.async_renderer.progress or ('', 0, 0))[0] == w
               and app.async_renderer.progress[1] >= 1)
        fps, frames = _fps(app, seconds=seconds)
        progress = app.async_renderer.progress
        out[what] = dict(fps=fps, frames=frames, still_running=progress is not None and progress[0] == what,
                         progress=progress)
        widget.enabled = False
        app.frame()
        _until(app, lambda: not app.rendering)
    return out


def bench_click_renderer(repeats: int = 5, spectrum_seeds: int = 50) -> dict:
    """The same pairs as `bench_analyses` at the renderer (AsyncRenderer, default network, no window): seed change ->
    image, plain and while a spectrum runs (cancelled within one sample, then the view)."""
    import dataclasses

    from viz.core.async_renderer import AsyncRenderer
    from viz.core.render_types import RenderArgs

    ar = AsyncRenderer()

    def shown(args) -> float:
        t0 = time.perf_counter()
        while True:
            res = ar.get_result()
            if res is not None and res.args == args and res.image is not None:
                return time.perf_counter() - t0
            if time.perf_counter() - t0 > 120:
                raise RuntimeError('timed out')
            time.sleep(0.001)

    try:
        args = RenderArgs()
        ar.set_args(args)
        ar.wait_idle(120)
        plain, during = [], []
        for i in range(repeats):
            args = dataclasses.replace(args, w0_seeds=((2 * i + 1, 1.0),), spectrum_seeds=0)
            ar.set_args(args)
            plain.append(shown(args))
            ar.wait_idle(120)
            args = dataclasses.replace(args, spectrum_seeds=spectrum_seeds)
            ar.set_args(args)
            while not (ar.analysing and (ar.progress or ('', 0, 0))[1] >= 1):
                time.sleep(0.001)
            args = dataclasses.replace(args, w0_seeds=((2 * i + 2, 1.0),))
            ar.set_args(args)
            during.append(shown(args))
            ar.set_args(dataclasses.replace(args, spectrum_seeds=0))
            ar.wait_idle(120)
            ar.renderer.analyses._values.clear()  # forget the spectrum: the next pair sees it running again
            ar.renderer.analyses._partial.clear()
    finally:
        ar.close()
    return dict(plain_s=plain, with_spectrum_s=during, ratio=_median(during) / _median(plain))


def slow_network_pkl(directory: str, min_seconds: float = 1.2) -> tuple[str, float]:
    """A StyleGAN3-T whose CPU render takes >= `min_seconds` here (grown until it does); (path, seconds)."""
    import torch

    import networks
    from networks.stylegan3 import Generator

    seconds = 0.0
    for channels in (32, 48, 64, 96, 128, 192, 256, 384, 512):
        torch.manual_seed(0)
        G = Generator(z_dim=64, c_dim=0, w_dim=64, img_resolution=256, img_channels=3, channel_base=channels * 32,
                      channel_max=channels, output_scale=2.0).eval().requires_grad_(False)
        with torch.no_grad():
            z = torch.randn(1, 64)
            G(z, None)
            t0 = time.perf_counter()
            G(z, None)
            seconds = time.perf_counter() - t0
        if seconds >= min_seconds:
            break
    path = os.path.join(directory, 'slow_sg3_256.pkl')
    networks.save_network_pkl(path, dict(G_ema=G))
    return path, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--fuzz-frames', type=int, default=10000)
    p.add_argument('--slider-frames', type=int, default=600)
    p.add_argument('--parts', default='busy,slider,fuzz,click,analyses,layers,cpu',
                   help='which parts to run (comma-separated)')
    p.add_argument('--json', default=None, help='also write the results here')
    p.add_argument('--repeats', type=int, default=5,
                   help='click pairs (plain, with the spectrum running) in the analyses part and at the renderer')
    p.add_argument('--fps-limit', type=int, default=60,
                   help="the GUI's frame-rate cap in the analyses part: 60 is the app's default, 0 uncapped")
    opts = p.parse_args(argv)

    parts = set(opts.parts.split(','))
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from gui_utils.xvfb import start_xvfb

    xvfb, display = start_xvfb()
    os.environ['DISPLAY'] = display
    import torch

    torch.set_num_threads(1)  # one core for the generator, one for the GUI and llvmpipe
    from viz.gui.app import VisualizerApp

    results: dict = {'env': timing.environment()}
    print(timing.describe(results['env']), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ['XDG_CONFIG_HOME'] = tmp  # the app's recent list: not the user's settings file
        try:
            pkl, seconds = slow_network_pkl(tmp)
            print(f'slow network: one render takes {seconds:.2f} s here', flush=True)
            app = VisualizerApp(pkls=[pkl], capture_dir=os.path.join(tmp, 'captures'))
            try:
                if 'busy' in parts:
                    results['busy'] = bench_busy_fps(app)
                    print('busy:', json.dumps(results['busy']), flush=True)
                if 'slider' in parts:
                    results['slider'] = bench_slider(app, opts.slider_frames)
                    print('slider:', json.dumps(results['slider']), flush=True)
            finally:
                app.close()
            if 'click' in parts:
                results['click'] = bench_click_renderer(repeats=opts.repeats)
                print('click:', json.dumps(results['click']), flush=True)
            if 'analyses' in parts:
                app = VisualizerApp(capture_dir=os.path.join(tmp, 'captures'))  # the default network
                try:
                    results['analyses'] = bench_analyses(app, repeats=opts.repeats, fps_limit=opts.fps_limit)
                    print('analyses:', json.dumps(results['analyses'], default=str), flush=True)
                finally:
                    app.close()
            if 'layers' in parts:
                from visualizer import startup_pkls

                app = VisualizerApp(pkls=startup_pkls([], None), capture_dir=os.path.join(tmp, 'captures'))
                try:
                    results['layers'] = bench_layer_averages(app, fps_limit=opts.fps_limit)
                    print('layers:', json.dumps(results['layers'], default=str), flush=True)
                finally:
                    app.close()
            if 'cpu' in parts:
                app = VisualizerApp(capture_dir=os.path.join(tmp, 'captures'))  # the default network, idle
                try:
                    results['cpu'] = bench_cpu(app)
                    print('cpu:', json.dumps(results['cpu']), flush=True)
                finally:
                    app.close()
            if 'fuzz' in parts:
                app = VisualizerApp(capture_dir=os.path.join(tmp, 'captures'))  # default network for the fuzz
                try:
                    results['fuzz'] = bench_fuzz(app, opts.fuzz_frames)
                    print('fuzz:', json.dumps(results['fuzz']), flush=True)
                finally:
                    app.close()
        finally:
            xvfb.kill()
            xvfb.wait()
    checks = {}
    if 'busy' in results:
        busy = results['busy']
        checks['GUI >= 30 fps while a >= 1 s render is in flight'] = (
            busy['busy_fps'] >= 30 and min(busy['render_seconds']) >= 1)
        print(f'GUI fps idle {busy["idle_fps"]:.0f}, while rendering {busy["busy_fps"]:.0f} '
              f'(renders {statistics.mean(busy["render_seconds"]):.2f} s; ratio {busy["ratio_busy_to_idle"]:.2f})')
    if 'slider' in results:
        slider = results['slider']
        checks['queue never grows (<= 1 waiting)'] = slider['max_queue'] <= 1 and slider['renderer_max_queue'] <= 1
        checks['every shown result is the newest request\'s'] = (
            slider['stale_shown'] == 0 and slider['results_shown'] > 0)
        print(f'slider: {slider["frames"]} frames, {slider["requests"]} requests, {slider["results_shown"]} '
              f'results shown, {slider["stale_shown"]} stale, max queue {slider["max_queue"]}')
    if 'fuzz' in results:
        fuzz = results['fuzz']
        checks[f'{fuzz["frames"]} random-input frames, RSS growth < 5%'] = fuzz['rss_growth'] < 0.05
        print(f'fuzz: {fuzz["frames"]} frames in {fuzz["seconds"]:.0f} s, RSS {fuzz["rss_start_mb"]:.0f} -> '
              f'{fuzz["rss_end_mb"]:.0f} MiB ({100 * fuzz["rss_growth"]:+.1f}%)')
    if 'analyses' in results:
        an = results['analyses']
        checks['GUI >= 30 fps while a spectrum runs'] = an['fps_during_spectrum'] >= 30
        checks['seed click with a 50-seed spectrum running <= 1.5x a plain click'] = an['click_ratio'] <= 1.5
        # Untransform is reported apart: its first view of a transform builds that transform's band-limited filter.
        checks['display-only change < 50 ms (FFT, dB, normalise, channels)'] = max(
            v for k, v in an['display_change_s'].items() if k != 'untransform') < 0.05
        cap = f'GUI capped at {an["fps_limit"]} fps' if an['fps_limit'] else 'GUI uncapped'
        print(f'analyses ({cap}): {an["fps_during_spectrum"]:.0f} fps during the spectrum (idle {an["idle_fps"]:.0f}); '
              f'seed click '
              f'{1000 * _median(an["click_plain_s"]):.0f} ms plain, '
              f'{1000 * _median(an["click_with_spectrum_s"]):.0f} ms with the spectrum running '
              f'(x{an["click_ratio"]:.2f}); display-only changes (ms): '
              + ', '.join(f'{k} {1000 * v:.0f}' for k, v in an['display_change_s'].items()))
        for kind, stages in an['trace_ms'].items():  # where the time goes, change -> frame on screen
            print(f'  trace {kind} (median ms after the change): '
                  + ', '.join(f'{k} {v:.0f}' for k, v in stages.items()))
    if 'layers' in results:
        layers = results['layers']
        for what in ('aliasing', 'layer EQ'):
            row = layers[what]
            checks[f'GUI >= 30 fps while the {what} average runs'] = row['fps'] >= 30 and row['still_running']
        print(f'per-layer averages (cap {layers["fps_limit"]}): idle {layers["idle_fps"]:.0f} fps, '
              + ', '.join(f'{w} {layers[w]["fps"]:.0f} fps (progress {layers[w]["progress"]})'
                          for w in ('aliasing', 'layer EQ')))
    if 'click' in results:
        click = results['click']
        checks['renderer: seed change with a spectrum running <= 1.5x a plain one'] = click['ratio'] <= 1.5
        print(f'renderer: seed change {1000 * _median(click["plain_s"]):.0f} ms plain, '
              f'{1000 * _median(click["with_spectrum_s"]):.0f} ms with a spectrum running '
              f'(x{click["ratio"]:.2f})')
    if 'cpu' in results:
        cpu = results['cpu']
        print(f'cpu at idle (cap {cpu["fps_limit"]}): {cpu["fps"]:.0f} fps, {cpu["cores"]:.2f} cores, '
              f'{cpu["ms_per_frame"]:.1f} ms CPU per frame (main {cpu["main_ms_per_frame"]:.1f}, llvmpipe '
              f'{cpu["llvmpipe_ms_per_frame"]:.1f}, render {cpu["render_ms_per_frame"]:.1f}, other '
              f'{cpu["other_ms_per_frame"]:.1f})')
    results['env']['load_after'] = timing.environment()['load']
    print(timing.describe(results['env']))
    results['checks'] = checks
    for name, ok in checks.items():
        print(f'{"PASS" if ok else "FAIL"}  {name}')
    if opts.json:
        with open(opts.json, 'w') as f:
            json.dump(results, f, indent=2)
    return 0 if all(checks.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
