"""End-to-end GUI tests: our own Xvfb, the real app as a subprocess, real X input (xdotool), pixels read back.

The app writes its widget rectangles and render state to VIZ_TEST_STATE (a JSON file) so that the test
knows where to click; everything else goes through the real window.
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

pytestmark = pytest.mark.gui

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
    def __init__(self, tmp, pkl: str) -> None:
        self.xvfb, self.display = start_xvfb()
        self.state_path = str(tmp / 'state.json')
        self.commands_path = str(tmp / 'commands.jsonl')
        self.capture_dir = str(tmp / 'captures')
        self.env = dict(os.environ, DISPLAY=self.display, VIZ_TEST_STATE=self.state_path,
                        VIZ_TEST_COMMANDS=self.commands_path, OMP_NUM_THREADS='1')
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
        raise AssertionError(f'timed out waiting for {what}')

    def wait_frames(self, n: int = 6) -> dict:
        start = self.state()['frame']
        return self.wait(lambda s: s['frame'] >= start + n, 20, f'{n} frames')

    def settle(self) -> dict:
        self.wait_frames(3)
        return self.wait(lambda s: not s['rendering'], 60, 'render')

    def scroll_into_view(self, name: str) -> tuple[float, float, float, float]:
        """Scroll the pane under the item with the mouse wheel until the item is inside the window."""
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


@pytest.fixture(scope='module')
def app(pkl_dir, tmp_path_factory):
    driver = AppDriver(tmp_path_factory.mktemp('gui'), str(pkl_dir / 'tiny_sg3.pkl'))
    yield driver
    driver.close()


def test_seed_change_changes_image(app):
    before_state = app.settle()
    before = app.grab('image').astype(int)
    assert before.std() > 2
    app.click('seed_plus')
    s = app.wait(lambda s: s['seed'] == before_state['seed'] + 1, 10, 'seed + 1')
    s = app.settle()
    assert s['result']['seeds'][0][0] == before_state['seed'] + 1
    app.wait_frames(3)
    after = app.grab('image').astype(int)
    assert after.shape == before.shape
    assert np.abs(after - before).mean() > 3


def test_select_layer_shows_feature_map(app):
    s = app.settle()
    layer = s['result']['layers'][4]  # e.g. L3_...: a feature map of another size than the output
    output = app.grab('image').astype(int)
    app.click(f'layer:{layer}')
    s = app.wait(lambda s: s['result'] and s['result']['layer'] == layer and not s['rendering'], 30, 'layer view')
    size = int(layer.split('_')[1])
    assert s['result']['image_shape'] == [size, size, 3]
    app.wait_frames(3)
    feature = app.grab('image').astype(int)
    assert feature.std() > 2
    if feature.shape == output.shape:
        assert np.abs(feature - output).mean() > 3
    # `output` is the last entry (NVlabs' order): scroll the layer list to its end first.
    lx0, ly0, lx1, ly1 = app.state()['rects'][f'layer:{layer}']
    app._xdotool('mousemove', '--window', app.window, str(int((lx0 + lx1) / 2)), str(int((ly0 + ly1) / 2)))
    app._xdotool('click', '--repeat', '10', '5')
    app.wait_frames(3)
    app.click('layer:output')
    app.wait(lambda s: s['result']['layer'] is None and not s['rendering'], 30, 'back to the output')


def test_save_gui_writes_png_matching_screen(app):
    from PIL import Image

    app.settle()
    app.click('save_gui')
    s = app.wait(lambda s: s['last_saved'] and os.path.exists(s['last_saved']), 20, 'GUI screenshot')
    time.sleep(0.3)
    saved = np.asarray(Image.open(s['last_saved']).convert('RGB')).astype(int)
    screen = app.grab().astype(int)
    assert saved.shape == screen.shape
    assert saved.std() > 10  # not blank
    same = (np.abs(saved - screen).max(axis=2) <= 8).mean()
    assert same > 0.97, f'only {same:.3f} of the pixels match the screen'


@pytest.mark.parametrize('name, reason', [('malicious.pkl', 'refused global'),
                                          ('truncated.pkl', 'truncated or corrupt')])
def test_bad_pickle_shows_error_and_app_keeps_running(app, pkl_dir, name, reason):
    app.settle()
    app.click('pickle_path')
    app._xdotool('key', 'ctrl+a', 'BackSpace')
    app.type_text(str(pkl_dir / name))
    # wait for this pickle's error: the previous case's message may still be shown
    s = app.wait(lambda s: name in s['error_text'], 30, 'error message')
    assert reason in s['error_text']
    assert not (pkl_dir / 'PWNED').exists()
    s = app.settle()
    assert s['args']['pkl'].endswith('tiny_sg3.pkl')  # back on the previous network
    assert app.proc.poll() is None
    error_pixels = app.grab('error')
    assert (error_pixels[:, :, 0] > 150).any()  # red text is on screen
    seed = s['seed']
    app.click('seed_plus')
    s = app.wait(lambda s: s['seed'] == seed + 1, 10, 'seed + 1 after the error')
    s = app.settle()
    assert s['result']['error'] is None and s['result']['seeds'][0][0] == seed + 1


def test_analysis_panels_draw(app):
    app.settle()
    app.click('spectrum_show')
    app.click('eq_live')
    s = app.wait(lambda s: s['result'] and s['result']['spectrum'] and s['result']['eq'] and not s['rendering'],
                 90, 'spectrum and EQ readout')
    assert s['result']['eq']['eqt_int'] > 20
    app.wait_frames(5)
    assert app.proc.poll() is None and app.grab().std() > 10
    app.click('spectrum_show')
    app.click('eq_live')
    app.wait(lambda s: not s['args']['eq_readout'] and s['args']['spectrum_seeds'] == 0, 10, 'panels off')


def test_drag_in_image_moves_latent_and_translates(app):
    s = app.settle()
    x0, y0, x1, y1 = s['rects']['image']
    cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
    seed_x = s['args']['w0_seeds']
    app._xdotool('mousemove', '--window', app.window, str(cx), str(cy))
    app.wait_frames(2)
    app._xdotool('mousedown', '1')
    for dx in (10, 20, 40, 60):
        app._xdotool('mousemove', '--window', app.window, str(cx + dx), str(cy))
        app.wait_frames(2)
    app._xdotool('mouseup', '1')
    s = app.wait(lambda s: s['args']['w0_seeds'] != seed_x, 10, 'latent moved by the drag')
    assert len(s['args']['w0_seeds']) >= 1
    app._xdotool('mousemove', '--window', app.window, str(cx), str(cy))
    app.wait_frames(2)
    app._xdotool('mousedown', '3')
    app._xdotool('mousemove', '--window', app.window, str(cx + 50), str(cy))
    app.wait_frames(3)
    app._xdotool('mouseup', '3')
    s = app.wait(lambda s: s['args']['translate_x'] > 0, 10, 'right-drag translates')
    app.settle()


def test_session_saved_in_gui_drives_headless(app, tmp_path):
    import PIL.Image

    app.click('seed_plus')
    s = app.settle()
    app.click('session_save')
    path = os.path.join(app.capture_dir, 'session.json')
    app.wait(lambda s: os.path.exists(path), 10, 'session file')
    with open(path) as f:
        saved = json.load(f)['args']
    assert saved['w0_seeds'] == s['args']['w0_seeds'] and saved['translate_x'] == s['args']['translate_x']
    out = tmp_path / 'headless'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'visualizer.py'), '--headless', '--session', path,
                           '--views', 'image', '--capture-dir', str(out)], env=app.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    headless = np.asarray(PIL.Image.open(out / 'image.png').convert('RGB'))
    assert list(headless.shape) == s['result']['image_shape']
    assert abs(float(headless.mean()) - s['result']['image_mean']) < 0.5
