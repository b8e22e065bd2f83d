"""Recording the GUI under Xvfb: a live GIF of the whole window is started and stopped with the real button,
the app's memory stays bounded while it records, and the file has the frames and rate of the recorded time;
an exact recording of N frames stops by itself with N frames at the requested rate."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import PIL.Image
import pytest

from tests.viz.gif import read_gif
from tests.viz.gui.app_driver import AppDriver

pytestmark = pytest.mark.gui

FPS = 30  # the widget's default
RECORD_SECONDS = 3.0
RSS_ALLOWANCE = 300e6


def rss_bytes(pid: int) -> float:
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return float(line.split()[1]) * 1024
    raise AssertionError('no VmRSS')


def choose(app: AppDriver, combo: str, item: str) -> None:
    """Open a combo with the mouse and click one of its items (their rectangles exist while it is open)."""
    app.click(combo)
    app.wait(lambda s: f'{combo}:{item}' in s['rects'], 10, f'{combo} popup')
    app.wait_frames(3)  # a popup's first frame lays it out: its items move after it
    app.click(f'{combo}:{item}')
    app.wait_frames(3)


@pytest.fixture(scope='module')
def app(pkl_dir, tmp_path_factory):
    driver = AppDriver(tmp_path_factory.mktemp('gui_recording'), str(pkl_dir / 'tiny_sg3.pkl'))
    yield driver
    driver.close()


def test_record_gui_gif_stops_with_the_button_and_stays_bounded(app):
    app.settle()
    rss_start = rss_bytes(app.proc.pid)
    choose(app, 'video_view', 'gui')
    choose(app, 'video_format', 'gif')
    assert not app.state()['recording']
    app.click('record')
    s = app.wait(lambda s: s['recording'], 10, 'recording started')
    assert re.search(r'recording gui to .*\.gif \(30 fps, live\)', s['messages'][-1]), s['messages'][-1]
    started = time.monotonic()
    rss_max = rss_start
    while time.monotonic() - started < RECORD_SECONDS:
        rss_max = max(rss_max, rss_bytes(app.proc.pid))
        time.sleep(0.1)
    app.click('record')  # the same button, now "Stop (N)"
    app.wait(lambda s: not s['recording'], 10, 'the Stop button stopped the recording')
    recorded = time.monotonic() - started
    s = app.wait(lambda s: s['last_saved'].endswith('.gif') and any('frames' in m for m in s['messages']), 60,
                 'the GIF finished')
    rss_max = max(rss_max, rss_bytes(app.proc.pid))
    print(f'RSS start {rss_start / 1e6:.0f} MB, max {rss_max / 1e6:.0f} MB; recorded {recorded:.1f} s')
    assert rss_max < rss_start + RSS_ALLOWANCE, f'RSS grew {(rss_max - rss_start) / 1e6:.0f} MB while recording'
    saved = [m for m in s['messages'] if m.startswith(f'saved {s["last_saved"]} (')][-1]
    num = int(re.search(r'\((\d+) frames', saved).group(1))
    # live: the video is as long as the recording (a press and a release take a few GUI frames either side)
    print(f'{saved}')
    assert abs(num / FPS - recorded) < 1.0, f'{num} frames at {FPS} fps for {recorded:.1f} s of recording'
    with PIL.Image.open(s['last_saved']) as im:  # durations only: 1280x800 frames are not all decoded
        assert im.n_frames == num
        assert im.size == tuple(s['window_size'])
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info['duration'])
            if k == 0:
                first = np.asarray(im.convert('RGB'))
    assert all(abs(d - 1000 / FPS) <= 10 for d in durations)
    assert sum(durations) == 10 * round(100 * num / FPS)  # plays num / FPS seconds
    assert first.std() > 10  # the window, not a blank frame
    assert os.path.getsize(s['last_saved']) > 1000
    # the app keeps working after the recording
    seed = s['seed']
    app.click('seed_plus')
    app.wait(lambda s: s['seed'] == seed + 1, 10, 'seed + 1 after recording')


def test_exact_recording_stops_by_itself_with_n_frames(app):
    app.settle()
    choose(app, 'video_view', 'gui')
    choose(app, 'video_format', 'gif')
    app.click('video_exact')
    app.wait(lambda s: 'video_frames' in s['rects'], 10, 'the frame count field')
    app.click('video_frames')
    app._xdotool('key', 'ctrl+a', 'BackSpace')
    app.type_text('12')
    saved_before = app.state()['last_saved']
    app.click('record')
    s = app.wait(lambda s: s['last_saved'] != saved_before and s['last_saved'].endswith('.gif'), 60,
                 'the exact recording finished by itself')
    assert not s['recording']
    assert any(m.startswith(f'saved {s["last_saved"]} (12 frames, 0.40 s') for m in s['messages']), s['messages']
    frames, durations = read_gif(s['last_saved'])
    assert len(frames) == 12
    assert sum(durations) == 400 and all(d in (30, 40) for d in durations)
    app.click('video_exact')  # back to live for whoever comes next
