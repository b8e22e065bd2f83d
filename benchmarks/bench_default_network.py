"""Frame rate of the shipped default networks, headless and in the window (private Xvfb), on this CPU.

    .venv/bin/python -m benchmarks.bench_default_network [--seconds 6] [--json out.json]

For each network in networks/pretrained/ (the one `make run` opens first):

- headless: `viz.core.renderer.Renderer.render` of a new seed every frame (so the generator runs every time),
  frames/s = 1 / median seconds per render, after two warm-up renders;
- window: the real app with the latent animated (a new latent every frame, as when dragging it or playing an
  animation), for --seconds: new images shown per second, and GUI frames per second (capped at 60 as the app is).

Target: >= 10 frames/s for a quiet machine. The machine's load is printed with the figures: measure with any
training slice paused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from . import timing


def headless_fps(pkl: str, frames: int = 12) -> dict:
    from viz.core.render_types import RenderArgs
    from viz.core.renderer import Renderer

    renderer = Renderer(log_failures=False)
    seconds = []
    for i in range(frames + 2):
        res = renderer.render(RenderArgs(pkl=pkl, w0_seeds=((i, 1.0),)))
        if res.error:
            raise SystemExit(f'error: {res.error}')
        if i >= 2:
            seconds.append(res.timings['total'])
    median = timing.summarize(seconds).median
    return dict(fps=1 / median, median_ms=1000 * median, frames=frames, resolution=int(res.image.shape[0]))


def window_fps(pkl: str, seconds: float) -> dict:
    from viz.gui.app import VisualizerApp

    with tempfile.TemporaryDirectory() as tmp:
        app = VisualizerApp(pkls=[pkl], capture_dir=os.path.join(tmp, 'captures'))
        try:
            while app.rendering or app.result is None or app.result.args.pkl != pkl:
                app.frame()
            widget = app.latent_widget
            t0, frames, shown, last = time.perf_counter(), 0, 0, app.result
            while time.perf_counter() - t0 < seconds:
                widget.x += 0.01  # a new latent every frame: the renderer always has the newest to draw
                app.frame()
                frames += 1
                if app.result is not last and app.result is not None and app.result.image is not None:
                    shown, last = shown + 1, app.result
            elapsed = time.perf_counter() - t0
            return dict(images_per_s=shown / elapsed, gui_fps=frames / elapsed, seconds=elapsed)
        finally:
            app.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seconds', type=float, default=6.0, help='length of the window measurement')
    p.add_argument('--json', default=None)
    opts = p.parse_args(argv)
    from networks import pretrained

    cards = pretrained.available()
    if not cards:
        print('no default network ships yet (networks/pretrained/ has no card)')
        return 0
    env = timing.environment()
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from gui_utils.xvfb import start_xvfb

    xvfb, display = start_xvfb()
    os.environ['DISPLAY'] = display
    results: dict = {'env': env, 'networks': {}}
    try:
        for card in cards:
            pkl = pretrained.pickle_path(card)
            row = dict(label=pretrained.card_label(card), headless=headless_fps(pkl),
                       window=window_fps(pkl, opts.seconds))
            results['networks'][card['key']] = row
    finally:
        xvfb.kill()
        xvfb.wait()
    results['env']['load_after'] = timing.environment()['load']
    ok = True
    for key, row in results['networks'].items():
        h, w = row['headless'], row['window']
        good = h['fps'] >= 10 and w['images_per_s'] >= 10
        ok &= good
        print(f'{key} ({row["label"]}): headless {h["fps"]:.1f} frames/s ({h["median_ms"]:.0f} ms per render), '
              f'window {w["images_per_s"]:.1f} new images/s at {w["gui_fps"]:.0f} GUI frames/s; '
              f'{"PASS" if good else "FAIL"} (>= 10 frames/s)')
    print(timing.describe(results['env']))
    if opts.json:
        with open(opts.json, 'w') as f:
            json.dump(results, f, indent=2)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
