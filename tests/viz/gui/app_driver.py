"""The one driver of the real visualizer window for end-to-end GUI tests: our own Xvfb, the app as a subprocess,
real X input (xdotool), pixels read back from the screen.

The app writes its widget rectangles and render state to VIZ_TEST_STATE (a JSON file) so that the driver knows where
to click, and reads commands (such as quit) from VIZ_TEST_COMMANDS; everything else goes through the real window. A test
module makes one `AppDriver` per module (it takes seconds to start) and closes it at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def start_xvfb() -> tuple[subprocess.Popen, str]:
    from PIL import features

    from gui_utils.xvfb import XvfbUnavailable
    from gui_utils.xvfb import start_xvfb as start

    if shutil.which('xdotool') is None:
        pytest.skip('xdotool is not installed (apt install xdotool); GUI tests need it')
    if not features.check('xcb'):
        pytest.skip('Pillow was built without XCB: cannot read the screen back')
    try:
        return start()
    except XvfbUnavailable as exc:
        pytest.skip(f'{exc}; GUI tests need it')


class AppDriver:
    """The visualizer on `pkl`, started under a fresh Xvfb with its files in the folder `tmp`; skips the test
    where Xvfb, xdotool, XCB screen grabs or an OpenGL 3.3 context are missing."""

    def __init__(self, tmp, pkl: str) -> None:
        self.xvfb, self.display = start_xvfb()
        self.state_path = str(tmp / 'state.json')
        self.commands_path = str(tmp / 'commands.jsonl')
        self.capture_dir = str(tmp / 'captures')
        # XDG_CONFIG_HOME: the app's settings file (recent pickles) goes to the test's folder, not the home's
        self.env = dict(os.environ, DISPLAY=self.display, VIZ_TEST_STATE=self.state_path,
                        VIZ_TEST_COMMANDS=self.commands_path, OMP_NUM_THREADS='1',
                        XDG_CONFIG_HOME=str(tmp / 'config'))
        self.env.pop('WAYLAND_DISPLAY', None)
        self.log = open(tmp / 'app.log', 'w')
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'visualizer.py'), pkl, '--capture-dir',
                                      self.capture_dir], cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        try:
            self.wait(lambda s: s['result'] is not None and not s['rendering'], 90, 'first render')
        except AssertionError:
            self.log.flush()
            text = open(tmp / 'app.log').read()
            if 'No display' in text:  # no OpenGL 3.3 core context here (e.g. no Mesa): the app went headless
                self.close()
                pytest.skip('no OpenGL 3.3 core context under Xvfb: ' + text.split('No display', 1)[1][:200])
            raise
        self.window = self._xdotool('search', '--sync', '--onlyvisible', '--pid', str(self.proc.pid)).split()[0]
        self._xdotool('windowfocus', '--sync', self.window)
        geometry = self._xdotool('getwindowgeometry', '--shell', self.window)
        geo = dict(line.split('=') for line in geometry.split())
        self.origin = (int(geo['X']), int(geo['Y']))

    def _xdotool(self, *args: str) -> str:
        return subprocess.run(['xdotool', *args], env=self.env, capture_output=True, text=True, timeout=20,
                              check=True).stdout

    def state(self) -> dict:
        for _ in range(50):
            try:
                with open(self.state_path) as f:
                    return json.load(f)
            except (OSError, json.JSONDecodeError):
                time.sleep(0.05)
        raise AssertionError('no state from the app')

    def wait(self, pred, timeout: float = 30, what: str = '') -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f'the app exited ({self.proc.returncode}) waiting for {what}'
            if os.path.exists(self.state_path):
                s = self.state()
                if pred(s):
                    return s
            time.sleep(0.1)
        last = self.state() if os.path.exists(self.state_path) else {}
        raise AssertionError(f'timed out waiting for {what}; error_text={last.get("error_text")!r}, '
                             f'last messages={last.get("messages", [])[-4:]}')

    def wait_frames(self, n: int = 6) -> dict:
        start = self.state()['frame']
        return self.wait(lambda s: s['frame'] >= start + n, 20, f'{n} frames')

    def settle(self) -> dict:
        self.wait_frames(3)
        return self.wait(lambda s: not s['rendering'], 60, 'render')

    def show_tab_of(self, name: str) -> None:
        """Bring the pane's tab that holds the item `name` to the front (clicking each tab in turn until the app
        draws the item); nothing to do when it is drawn already."""
        s = self.state()
        if name in s['rects']:
            return
        for tab in [key for key in s['rects'] if key.startswith('tab:')]:
            x0, y0, x1, y1 = self.state()['rects'][tab]
            self._xdotool('mousemove', '--window', self.window, str(int((x0 + x1) / 2)), str(int((y0 + y1) / 2)))
            self.wait_frames(2)
            self._xdotool('click', '1')
            self.wait_frames(3)
            if name in self.state()['rects']:
                return
        raise AssertionError(f'no tab of the pane draws {name}')

    def scroll_into_view(self, name: str) -> tuple[float, float, float, float]:
        """Bring the item's tab to the front, then scroll the pane under the item with the mouse wheel until the
        item is inside the window."""
        self.show_tab_of(name)
        for _ in range(40):
            s = self.state()
            x0, y0, x1, y1 = s['rects'][name]
            height = s['window_size'][1]
            if y0 >= 0 and y1 <= height:
                return x0, y0, x1, y1
            # x = 3: the pane's own padding, not a scrollable child (e.g. the layer list)
            self._xdotool('mousemove', '--window', self.window, '3', str(height // 2))
            self._xdotool('click', '5' if y1 > height else '4')
            self.wait_frames(2)
        raise AssertionError(f'cannot scroll {name} into view')

    def click(self, name: str) -> None:
        x0, y0, x1, y1 = self.scroll_into_view(name)
        x, y = int((x0 + x1) / 2), int((y0 + y1) / 2)
        self._xdotool('mousemove', '--window', self.window, str(x), str(y))
        self.wait_frames(2)
        self._xdotool('mousedown', '1')
        self.wait_frames(2)
        self._xdotool('mouseup', '1')
        self.wait_frames(2)

    def key(self, *keys: str) -> None:
        self._xdotool('key', '--delay', '30', *keys)
        self.wait_frames(3)

    def type_text(self, text: str) -> None:
        self._xdotool('type', '--delay', '5', text)
        self.wait_frames(2)
        self._xdotool('key', 'Return')
        self.wait_frames(2)

    def grab(self, rect_name: str | None = None) -> np.ndarray:
        from PIL import ImageGrab

        screen = np.asarray(ImageGrab.grab(xdisplay=self.display).convert('RGB'))
        w, h = self.state()['window_size']
        ox, oy = self.origin
        win = screen[oy:oy + h, ox:ox + w]
        if rect_name is None:
            return win
        x0, y0, x1, y1 = (int(round(v)) for v in self.state()['rects'][rect_name])
        return win[y0:y1, x0:x1]

    def save_window(self, dest: str, mouse: tuple[int, int] = (5, 790)) -> None:
        """The whole window as the app saves it (its own screenshot command) to `dest`, the mouse parked at
        `mouse` first so that no tooltip is in the picture (the docs' screenshots are made this way)."""
        self._xdotool('mousemove', '--window', self.window, str(mouse[0]), str(mouse[1]))
        self.wait_frames(6)
        path = os.path.join(os.path.dirname(self.state_path), 'window.png')
        with open(self.commands_path, 'a') as f:
            f.write(json.dumps(dict(cmd='save_gui', path=path)) + '\n')
        self.wait(lambda s: os.path.exists(path), 10, 'screenshot')
        shutil.move(path, dest)

    def close(self) -> None:
        with open(self.commands_path, 'a') as f:
            f.write(json.dumps(dict(cmd='quit')) + '\n')
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.xvfb.kill()
        self.xvfb.wait()
        self.log.close()
