"""End-to-end GUI tests of the exploration panels (Xvfb, the real app, xdotool input, pixels read back):
a projection run to completion, an image dropped on the window, a direction slider, a keyframe export."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.viz.gui.app_driver import AppDriver

pytestmark = pytest.mark.gui


@pytest.fixture(scope='module')
def app(pkl_dir, tmp_path_factory):
    driver = AppDriver(tmp_path_factory.mktemp('explore_gui'), str(pkl_dir / 'tiny_sg3.pkl'))
    yield driver
    driver.close()


def _click_at(app, name: str, fraction: float) -> None:
    """Click inside the item at `fraction` of its width (sliders take the value under the mouse)."""
    x0, y0, x1, y1 = app.scroll_into_view(name)
    app._xdotool('mousemove', '--window', app.window, str(int(x0 + fraction * (x1 - x0))), str(int((y0 + y1) / 2)))
    app.wait_frames(2)
    app._xdotool('mousedown', '1')
    app.wait_frames(2)
    app._xdotool('mouseup', '1')
    app.wait_frames(2)


def test_direction_slider_moves_the_image_and_reset_restores_it(app):
    app.settle()
    plain = app.grab('image').astype(int)
    _click_at(app, 'direction:0', 0.95)  # near +5 standard deviations
    s = app.wait(lambda s: s['args']['directions'] and s['args']['directions'][0][0] == 'pca', 10, 'a PCA edit')
    assert s['args']['directions'][0][2] > 3
    s = app.wait(lambda s: not s['rendering'] and s['result']['error'] is None, 120, 'the edited render')
    app.wait_frames(3)
    assert np.abs(app.grab('image').astype(int) - plain).mean() > 2
    app.click('direction_reset')
    app.wait(lambda s: s['args']['directions'] == [] and not s['rendering'], 60, 'reset')
    app.wait_frames(3)
    np.testing.assert_array_equal(app.grab('image').astype(int), plain)  # strength 0: the very same image


def test_projection_panel_runs_to_completion(app, tmp_path):
    from networks.image_write import save_png
    from viz.core.render_types import RenderArgs
    from viz.core.renderer import Renderer

    s = app.settle()
    target = Renderer().render(RenderArgs(pkl=s['args']['pkl'], w0_seeds=((5, 1.0),))).image
    path = str(tmp_path / 'target.png')
    save_png(path, target)
    app.click('project_target')
    app.type_text(path)
    app.wait(lambda s: s['projection']['target'] == path, 10, 'target path typed')
    _click_at(app, 'project_steps', 0.2)  # the number field, left of its -/+ buttons
    app._xdotool('key', 'ctrl+a', 'BackSpace')
    app.type_text('50')  # enough for this 32 px network (mean within a few levels), quick on a loaded CPU
    app.wait(lambda s: s['projection']['steps'] == 50, 10, 'steps typed')
    app.click('project_start')
    s = app.wait(lambda s: s['projection']['running'] or s['projection']['result'], 30, 'projection started')
    s = app.wait(lambda s: s['projection']['result'] and not s['projection']['running'], 600, 'projection done')
    assert s['projection']['error'] is None and s['projection']['status'] == 'done'
    assert s['projection']['progress'] == 1.0
    s = app.wait(lambda s: s['args']['latent_file'] == s['projection']['result'] and not s['rendering']
                 and s['result']['error'] is None, 60, 'the projection as the current latent')
    assert os.path.exists(s['args']['latent_file'])
    # the shown image is the reconstruction: close to the target (the starting seed's mean is ~40 levels off)
    assert abs(s['result']['image_mean'] - float(target.mean())) < 12
    app.click('project_clear')
    app.wait(lambda s: s['args']['latent_file'] == '' and not s['rendering'], 60, 'back to the seeds')


def test_dropped_image_becomes_the_projection_target(app, tmp_path):
    s = app.settle()
    pkl = s['args']['pkl']
    path = str(tmp_path / 'dropped face.png')
    with open(app.commands_path, 'a') as f:  # GLFW's drop callback, fed by the test hook
        f.write(json.dumps(dict(cmd='drop', paths=[path])) + '\n')
    s = app.wait(lambda s: s['projection']['target'] == path, 10, 'the dropped image as the target')
    assert s['args']['pkl'] == pkl and not s['projection']['running']  # no network load, no projection started


def test_keyframe_export_writes_a_video(app):
    app.settle()
    app.click('kf_add')
    app.wait(lambda s: s['keyframes']['count'] == 1, 10, 'first keyframe')
    app.click('seed_plus')
    app.settle()
    app.click('kf_add')
    app.wait(lambda s: s['keyframes']['count'] == 2, 10, 'second keyframe')
    app.click('kf_export')
    s = app.wait(lambda s: s['keyframes']['export_done'], 300, 'keyframe export')
    assert s['keyframes']['export_error'] is None and s['keyframes']['export_result'] == 60  # 2 keys x 30 frames
    videos = [f for f in os.listdir(app.capture_dir) if f.startswith('loop-') and f.endswith('.mp4')]
    assert len(videos) == 1
    import imageio

    reader = imageio.get_reader(os.path.join(app.capture_dir, videos[0]))
    frames = [np.asarray(f) for f in reader]
    reader.close()
    assert len(frames) == 60 and frames[0].std() > 2


def test_closing_during_a_keyframe_export_stops_it_and_exits_cleanly(app):
    """Last in this module: it ends the app. A close while the export thread was inside torch aborted the process
    (exit code 134) and left a truncated loop video without a word. Now the job is stopped and joined, the
    partial video is removed, the log says so, and the process exits 0."""
    app.settle()
    before = set(os.listdir(app.capture_dir)) if os.path.isdir(app.capture_dir) else set()
    _click_at(app, 'kf_frames', 0.2)
    app._xdotool('key', 'ctrl+a', 'BackSpace')
    app.type_text('3000')                      # 2 keys x 3000 frames: minutes of work, far from done at the close
    app.click('kf_export')
    app.wait(lambda s: s['keyframes']['export_progress'] > 0 and not s['keyframes']['export_done'], 120,
             'the export under way')
    app._xdotool('mousemove', '--window', app.window, '3', '3')
    app._xdotool('key', 'Escape')
    assert app.proc.wait(60) == 0
    app.log.flush()
    log = open(app.log.name).read()
    new = set(os.listdir(app.capture_dir)) - before
    assert not [f for f in new if f.startswith('loop-')], new
    assert 'keyframes: stopped at close' in log and 'removed the partial' in log, log[-2000:]
    assert 'terminate called' not in log
