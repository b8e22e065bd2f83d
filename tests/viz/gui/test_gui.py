"""End-to-end GUI tests: our own Xvfb, the real app as a subprocess, real X input (xdotool), pixels read back.

The app writes its widget rectangles and render state to VIZ_TEST_STATE (a JSON file) so that the test
knows where to click; everything else goes through the real window (the driver: tests/viz/gui/app_driver.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.viz.gui.app_driver import ROOT, AppDriver

pytestmark = pytest.mark.gui


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
    # the error banner goes with the next successful render of a new state, and a path that failed to load is
    # not kept in the recent list
    s = app.wait(lambda s: s['error_text'] == '' and 'error' not in s['rects'], 10, 'the banner to clear')
    assert not any(name in path for path in s['recent'])
    assert any(path.endswith('tiny_sg3.pkl') for path in s['recent'])
    assert all(not ('--' in text or 'python' in text) for text in s['messages'])  # no command-line hints


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


def test_drag_ignores_the_move_made_before_the_button_went_down(app):
    """The pointer jumps onto the image and the button goes down in the same frame: that move is
    no drag (it used to move the latent by the whole jump, "Drag fast" by 0.8 image widths)."""
    s = app.settle()
    x0, y0, x1, y1 = s['rects']['image']
    cy = int((y0 + y1) / 2)
    start_x = max(int(x0 - 0.8 * (x1 - x0)), 5)
    app._xdotool('mousemove', '--window', app.window, str(start_x), str(cy))
    app.wait_frames(3)
    before = app.state()['latent_xy']
    # one xdotool call: the move and the press reach the app in the same poll of events, hence the same frame
    app._xdotool('mousemove', '--window', app.window, str(int(x1 - 4)), str(cy), 'mousedown', '1')
    app.wait_frames(4)
    app._xdotool('mouseup', '1')
    s = app.wait_frames(4)
    assert s['latent_xy'] == before, f'the press moved the latent: {before} -> {s["latent_xy"]}'
    app.settle()


def _write_session(path, **args) -> str:
    with open(path, 'w') as f:
        json.dump(dict(version=1, args=args), f)
    return str(path)


def _load_session_in_gui(app, path: str) -> None:
    app.click('session_path')  # the field selects all of its text when clicked
    app.key('ctrl+a', 'BackSpace')
    assert app.state()['focus_text']  # a text field has the keyboard (else the keys went elsewhere)
    app.type_text(path)
    app.click('session_load')


def test_stale_layer_from_a_session_is_reset_with_a_note(app, tmp_path):
    """A session's layer that this network lacks is dropped and the GUI says so (it used to label
    the output "L99" for ever)."""
    pkl = app.settle()['args']['pkl']
    path = _write_session(tmp_path / 'stale.json', pkl=pkl, w0_seeds=[[4, 1.0]], layer_name='L99')
    _load_session_in_gui(app, path)
    s = app.wait(lambda s: any('layer selection reset' in m and 'L99' in m for m in s['messages']), 30,
                 'the note about the reset layer')
    s = app.wait(lambda s: s['args']['layer_name'] is None and s['result']['layer'] is None and not s['rendering']
                 and s['result']['seeds'] == [[4, 1.0]], 30, 'the output of seed 4')
    assert s['error_text'] == ''


def test_bad_session_is_refused_whole_in_the_gui(app, tmp_path):
    """One bad field (trunc_psi "abc") refuses the whole file; nothing of it is applied."""
    before = app.settle()
    path = _write_session(tmp_path / 'bad.json', w0_seeds=[[77, 1.0]], translate_x=0.25, trunc_psi='abc')
    _load_session_in_gui(app, path)
    s = app.wait(lambda s: 'args.trunc_psi' in s['error_text'], 20, 'the session error')
    s = app.settle()
    assert s['args']['w0_seeds'] == before['args']['w0_seeds'] and s['args']['translate_x'] == 0.0
    assert s['args']['trunc_psi'] == before['args']['trunc_psi']


def test_zoom_and_pixel_readout(app):
    """The wheel zooms about the cursor; the readout gives the pixel under the cursor and the colour the screen
    shows there."""
    s = app.settle()
    x0, y0, x1, y1 = s['rects']['image']
    mx, my = int(x0 + (x1 - x0) * 0.3), int(y0 + (y1 - y0) * 0.6)
    app._xdotool('mousemove', '--window', app.window, str(mx), str(my))
    s = app.wait(lambda s: s['pixel_readout'].startswith('pixel'), 10, 'a pixel readout')
    screen = app.grab()[my, mx].astype(int)
    rgb = [int(v) for v in s['pixel_readout'].split('RGB ')[1].split()]
    assert np.abs(screen - rgb).max() <= 8, (screen, rgb)
    width = s['result']['image_shape'][1]
    x_before = int(s['pixel_readout'].split('pixel x ')[1].split(',')[0])
    assert abs(x_before - int(0.3 * width)) <= 1
    for _ in range(3):
        app._xdotool('click', '4')
        app.wait_frames(2)
    s = app.wait(lambda s: s['zoom'] > 1.5, 10, 'zoomed in')
    x_after = int(s['pixel_readout'].split('pixel x ')[1].split(',')[0])
    assert abs(x_after - x_before) <= 1  # the point under the cursor stays under it
    app.click('zoom_fit')
    app.wait(lambda s: s['zoom'] == 1.0, 10, 'back to the whole image')


def test_f1_overlay_lists_every_shortcut(app):
    from viz.gui.app import SHORTCUTS

    app.settle()
    app._xdotool('mousemove', '--window', app.window, '3', '3')
    before = app.grab().astype(int)
    app.key('F1')
    # a row per shortcut (an auto-sized window takes a frame or two to reach its size)
    s = app.wait(lambda s: s['shortcuts'] and 'shortcuts' in s['rects'] and s['rects']['shortcuts'][3]
                 - s['rects']['shortcuts'][1] > len(SHORTCUTS) * 12, 10, 'the F1 overlay')
    x0, y0, x1, y1 = (int(v) for v in s['rects']['shortcuts'])
    assert x1 - x0 > 200
    app.wait_frames(3)
    after = app.grab().astype(int)
    assert np.abs(after[y0:y1, x0:x1] - before[y0:y1, x0:x1]).mean() > 5  # drawn on the screen
    app.key('Escape')  # closes the overlay, not the window
    s = app.wait(lambda s: not s['shortcuts'], 10, 'the overlay to close')
    assert app.proc.poll() is None


def test_shortcuts_act_but_not_while_typing(app):
    s = app.settle()
    seed = s['seed']
    app.click('seed_input')
    assert app.state()['focus_text']  # a text field has the keyboard now
    app.key('space', 'Left', 'Left', 'Up')
    s = app.wait_frames(4)
    assert s['anim'] is False and s['latent_xy'] == [float(seed), 0.0]
    app.key('Escape')  # leaves the field; must not close the window
    app.wait_frames(4)
    assert app.proc.poll() is None
    app.key('Right')
    s = app.wait(lambda s: s['seed'] == seed + 1, 10, 'Right: next seed')
    app.key('Up')
    s = app.wait(lambda s: abs(s['latent_xy'][0] - (seed + 1.05)) < 1e-6, 10, 'Up: fine step')
    app.key('space')
    app.wait(lambda s: s['anim'], 10, 'Space: play')
    app.key('space')
    app.wait(lambda s: not s['anim'], 10, 'Space: pause')
    app.key('Left')
    app.settle()
    app.key('ctrl+s')
    s = app.wait(lambda s: os.path.basename(s['last_saved'] or '').startswith('image-'), 10, 'Ctrl+S')
    app.wait(lambda s: os.path.exists(s['last_saved']), 10, 'the saved image')
    app.key('ctrl+shift+s')
    s = app.wait(lambda s: os.path.basename(s['last_saved'] or '').startswith('gui-'), 10, 'Ctrl+Shift+S')
    app.wait(lambda s: os.path.exists(s['last_saved']), 10, 'the saved screenshot')


def test_every_tab_fits_a_laptop_window_without_scrolling(app):
    """At the default 1280x800 every tab of the pane shows all of its controls inside the window (one long
    scrolling pane hid 61 of 146 controls below the fold); each tab's controls are counted through their
    tooltips (`gui_utils.imgui_utils.controls_drawn`)."""
    app.settle()
    s = app.state()
    assert s['window_size'] == [1280, 800]
    tabs = [key for key in s['rects'] if key.startswith('tab:')]
    assert [t[4:] for t in tabs] == ['Latent', 'Layers', 'Analysis', 'Explore', 'Capture']
    for tab in tabs:
        x0, y0, x1, y1 = app.state()['rects'][tab]
        app._xdotool('mousemove', '--window', app.window, str(int((x0 + x1) / 2)), str(int((y0 + y1) / 2)))
        app.wait_frames(2)
        app._xdotool('click', '1')
        s = app.wait(lambda s, tab=tab: s['tab'] == tab[4:], 10, f'{tab} in front')
        s = app.wait_frames(3)
        assert s['controls']['drawn'] > len(tabs) + 5, (tab, s['controls'])
        assert s['controls']['visible'] == s['controls']['drawn'], (tab, s['controls'])
    app.show_tab_of('seed_plus')


def test_escape_closes_the_window(app):
    """Last in this module: it ends the app."""
    app.settle()
    app._xdotool('mousemove', '--window', app.window, '3', '3')
    app._xdotool('key', 'Escape')
    assert app.proc.wait(20) == 0
