"""How much of the control pane a window shows without scrolling, at laptop and desktop sizes.

    .venv/bin/python -m benchmarks.bench_gui_layout [--sizes 1280x800,1920x1080] [--json out.json]

Each size runs the real app in its own process under a private Xvfb, on the default network, until the first
render is shown, then counts the controls of the pane (every control is followed by its tooltip, which
`gui_utils.imgui_utils.controls_drawn` records): all of them (each tab brought to the front in turn), those
reachable without scrolling (inside the window while their tab is in front: a click away at most), and those in
view at start.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from . import timing


def measure(width: int, height: int) -> dict:
    """In this process (it owns the window): controls visible at the first frame after the first render, and the
    controls of the whole pane."""
    from gui_utils.xvfb import start_xvfb

    xvfb, display = start_xvfb(width + 64, height + 64)
    os.environ['DISPLAY'] = display
    os.environ.pop('WAYLAND_DISPLAY', None)
    try:
        from viz.gui.app import VisualizerApp

        app = VisualizerApp(width=width, height=height)
        app.measure_controls = True
        for _ in range(2000):
            app.frame()
            if app.result is not None and not app.rendering:
                break
        for _ in range(3):
            app.frame()
        first = dict(app.controls_count)
        counts = app.count_all_controls()
        app.close()
        return dict(size=f'{width}x{height}', visible_first=first['visible'], **counts)
    finally:
        xvfb.kill()
        xvfb.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', default='1280x800,1920x1080')
    parser.add_argument('--json', help='also write the rows here')
    parser.add_argument('--one', help=argparse.SUPPRESS)   # WxH: measure in this process (run by main)
    args = parser.parse_args(argv)
    if args.one:
        width, height = (int(v) for v in args.one.split('x'))
        print(json.dumps(measure(width, height)))
        return 0
    rows = []
    for size in args.sizes.split(','):
        out = subprocess.run([sys.executable, '-m', 'benchmarks.bench_gui_layout', '--one', size], check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(timing.describe())
    print('| window | controls in the pane | reachable without scrolling | in view at start | per tab |')
    print('|---|---|---|---|---|')
    for row in rows:
        tabs = ', '.join(f'{tab} {n}' for tab, n in row['per_tab'].items())
        print(f'| {row["size"]} | {row["total"]} | {row["reachable"]} | {row["visible_first"]} | {tabs} |')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(environment=timing.environment(), rows=rows), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
