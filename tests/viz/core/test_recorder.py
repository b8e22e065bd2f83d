"""GUI recordings without a display: live mode follows the wall clock, exact mode drives the animation clock.

The exact-mode test runs the real LatentWidget and CaptureWidget in the app's frame order against a fake renderer that
takes a random number of GUI frames per render, and reads the frames back from the GIF. Also: an exact recording stops
on a failed render, an FFT recording switches the FFT on or says why it takes nothing, and the performance widget
plots the wall time, not the recording's animation step.
"""

from __future__ import annotations

import dataclasses
import time
import types

import numpy as np
import pytest

from networks.errors import UserError
from tests.viz.gif import read_gif
from tests.viz.gui.fakes import fake_app
from viz.core.recorder import Recording
from viz.core.render_types import RenderArgs, RenderResult


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _frame(value: int) -> np.ndarray:
    return np.full((16, 16, 3), value, np.uint8)


def test_live_recording_follows_the_wall_clock(tmp_path):
    clock = FakeClock()
    rec = Recording(str(tmp_path / 'v.gif'), fps=10, clock=clock)
    assert rec.frames_due(current=False) == 1  # live: whatever is shown, at once
    rec.add(_frame(10), 1)
    clock.now += 0.05
    assert rec.frames_due(current=True) == 0  # the next frame is due at 0.1 s
    clock.now += 0.3  # a slow GUI frame: 0.35 s in, frames 1, 2, 3 are due
    assert rec.frames_due(current=True) == 3
    rec.add(_frame(200), 3)
    clock.now += 0.06
    assert rec.frames_due(current=True) == 1  # 0.41 s: frame 4
    rec.add(_frame(100), 1)
    assert rec.animation_step(0.123) == 0.123  # live: the animation runs on wall time
    rec.close()
    frames, durations = read_gif(tmp_path / 'v.gif')
    assert [int(f.mean()) for f in frames] == [10, 200, 200, 200, 100] and sum(durations) == 500


def test_exact_recording_steps_the_animation(tmp_path):
    rec = Recording(str(tmp_path / 'v.gif'), fps=4, frames=3)
    assert rec.animation_step(0.2) == 0.0  # nothing taken yet: the animation holds at t = 0
    assert rec.frames_due(current=False) == 0  # waits for the render of the current state
    assert rec.frames_due(current=True) == 1
    rec.add(_frame(1), 1)
    assert rec.frames_due(current=True) == 0  # not before the animation moved on
    assert rec.animation_step(0.2) == 0.25 and rec.animation_step(0.2) == 0.0  # one step of 1 / fps
    for value in (2, 3):
        assert rec.frames_due(current=True) == 1
        rec.add(_frame(value), 1)
        rec.animation_step(0.01)
    assert rec.done and rec.frames_due(current=True) == 0 and rec.captured == 3
    with pytest.raises(UserError):
        Recording(str(tmp_path / 'w.gif'), fps=4, frames=0)


class FakeAsyncRenderer:
    """Renders args into a flat image whose grey level encodes the latent x; takes 1-4 GUI frames each."""

    def __init__(self, rng: np.random.Generator, x0: float) -> None:
        self.rng, self.x0 = rng, x0
        self.job: tuple[RenderArgs, int] | None = None
        self.renders = 0

    @staticmethod
    def latent_x(args: RenderArgs) -> float:
        return sum(seed * weight for seed, weight in args.w0_seeds)

    def poll(self, viz) -> None:
        if self.job is None:
            return
        args, frames_left = self.job
        if frames_left > 0:
            self.job = (args, frames_left - 1)
            return
        level = int(round((self.latent_x(args) - self.x0) * 400)) + 20
        viz.result = RenderResult(args=args, image=_frame(level))
        self.job = None
        self.renders += 1

    def submit(self, args: RenderArgs) -> None:
        if self.job is None and (self.renders == 0 or args != self.last):
            self.job, self.last = (args, int(self.rng.integers(1, 5))), args


def test_exact_recording_of_the_latent_animation_in_the_app_frame_order(tmp_path):
    """N frames at F fps show the animation at t = k / F, however long each render and GUI frame takes."""
    from viz.gui.widgets.capture_widget import FORMATS, VIEWS, CaptureWidget
    from viz.gui.widgets.latent_widget import LatentWidget

    viz = fake_app(tmp_path)
    latent, capture = LatentWidget(viz), CaptureWidget(viz)
    latent.x, latent.anim, latent.speed = 3.0, True, 0.25
    capture.view, capture.format, capture.fps = VIEWS.index('image'), FORMATS.index('gif'), 10
    capture.exact, capture.exact_frames = True, 20
    rng = np.random.default_rng(0)
    renderer = FakeAsyncRenderer(rng, x0=3.0)
    capture.start_video()
    # The app's frame(): time step, widgets, poll the renderer, submit. Bounded by time, not by a count of
    # frames: exact mode takes no frame while the encoder's queue is full, and a loaded CPU's writer thread may
    # need many (instant) fake GUI frames to catch up.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        viz.frame_delta = capture.animation_step(float(rng.uniform(0.001, 0.25)))
        latent(show=False)
        capture(show=False)
        renderer.poll(viz)
        renderer.submit(viz.args)
        if capture.recorder is None:
            break
    assert capture.recorder is None, 'the recording did not stop after its 20 frames'
    # the animation stopped at the last frame: 19 steps of 0.25 seeds/s / 10 fps
    assert latent.x == pytest.approx(3.0 + 19 * 0.025)
    capture._finishing.join(30)
    capture(show=False)  # reports the finished file
    assert capture.last_saved and any('20 frames, 2.00 s' in text for text, _e in viz.messages)
    frames, durations = read_gif(capture.last_saved)
    assert len(frames) == 20 and durations == [100] * 20
    # frame k is the render at t = k / 10 s: x = 3 + 0.025 k, grey level 20 + 10 k
    assert [int(round(f.mean())) for f in frames] == [20 + 10 * k for k in range(20)]


@pytest.mark.parametrize('view', ['image', 'gui'])
def test_exact_recording_stops_when_its_render_fails(tmp_path, view):
    """A failed render of the state an exact recording waits for stops it, with the reason in the widget, and the
    frames taken so far are a valid file; the app's poll hands the failure to the widget."""
    from viz.gui.app import VisualizerApp
    from viz.gui.widgets.capture_widget import FORMATS, VIEWS, CaptureWidget

    viz = fake_app(tmp_path)
    capture = CaptureWidget(viz)
    capture.view, capture.format, capture.fps = VIEWS.index(view), FORMATS.index('gif'), 10
    capture.exact, capture.exact_frames = True, 10
    capture.start_video()
    for k in range(3):  # three good frames, the animation moving the latent on by one seed each
        viz.result = RenderResult(args=viz.args, image=_frame(10 + 50 * k))
        capture(show=False)
        if view == 'gui':
            capture.on_gui_frame(_frame(10 + 50 * k))
        assert capture.animation_step(0.1) == pytest.approx(0.1)
        viz.set_args(w0_seeds=((k + 1, 1.0),))
    assert capture.recorder.captured == 3
    # the app's _poll_result with the renderer's failed result (no image; the last good one stays shown)
    failed = RenderResult(args=viz.args, error='synthesis failed: out of memory')
    app = types.SimpleNamespace(
        async_renderer=types.SimpleNamespace(get_result=lambda: failed), result=viz.result, args=viz.args,
        perf_widget=types.SimpleNamespace(record_render=lambda s: None), capture_widget=capture,
        _last_good_pkl=viz.args.pkl, _last_good_device=viz.args.device, log=viz.log, set_args=viz.set_args)
    VisualizerApp._poll_result(app)
    assert capture.recorder is None, 'the recording still waits for a render that failed'
    assert 'frame 3/10' in capture.note and 'out of memory' in capture.note
    assert any(error and text == capture.note for text, error in viz.messages)
    capture._finishing.join(30)
    capture(show=False)
    frames, _durations = read_gif(capture.last_saved)
    assert [int(f.mean()) for f in frames] == [10, 60, 110]


def test_exact_recording_ignores_failures_of_other_states(tmp_path):
    """A failure of a state that is no longer current (the user moved on) does not stop the recording."""
    from viz.gui.widgets.capture_widget import FORMATS, VIEWS, CaptureWidget

    viz = fake_app(tmp_path)
    capture = CaptureWidget(viz)
    capture.view, capture.format, capture.exact, capture.exact_frames = VIEWS.index('image'), FORMATS.index('gif'), \
        True, 5
    capture.start_video()
    capture.render_failed(RenderResult(args=dataclasses.replace(viz.args, trunc_psi=0.5), error='bad'))
    assert capture.recorder is not None and not capture.note
    capture.render_failed(RenderResult(args=viz.args, error='bad', image=_frame(3)))  # it left a picture
    assert capture.recorder is not None
    capture.stop_video()
    capture._finishing.join(30)


def test_fft_recording_switches_the_fft_on_and_a_missing_view_is_said(tmp_path):
    """Recording the fft view with the FFT off switches it on (in the layer widget, which owns the flag); if the
    user switches it off during a live recording, the widget says why no frames are taken."""
    from viz.gui.widgets.capture_widget import FORMATS, VIEWS, CaptureWidget

    viz = fake_app(tmp_path)
    viz.layer_widget = types.SimpleNamespace(fft_show=False)
    capture = CaptureWidget(viz)
    capture.view, capture.format, capture.fps = VIEWS.index('fft'), FORMATS.index('gif'), 10
    assert not viz.args.fft_show
    capture.start_video()
    assert viz.args.fft_show and viz.layer_widget.fft_show
    assert any('FFT switched on' in text for text, _e in viz.messages)
    viz.result = RenderResult(args=viz.args, image=_frame(5), fft=_frame(7))
    capture(show=False)
    assert capture.recorder.captured == 1 and not capture.note
    viz.set_args(fft_show=False)  # the user switches it off: the renders have no fft view
    viz.result = RenderResult(args=viz.args, image=_frame(5))
    capture.recorder._start -= 1.0  # a second later: frames are due
    capture(show=False)
    assert capture.recorder.captured == 1
    assert 'no fft view' in capture.note and 'FFT is off' in capture.note
    assert sum('no fft view' in text for text, _e in viz.messages) == 1
    capture(show=False)  # said once, not every frame
    assert sum('no fft view' in text for text, _e in viz.messages) == 1
    capture.stop_video()
    capture._finishing.join(30)


def test_performance_widget_plots_the_real_frame_time(tmp_path):
    """During an exact recording frame_delta is the animation step (0 while a frame renders); the performance
    widget's GUI frame time is the wall time."""
    from viz.gui.widgets.performance_widget import PerformanceWidget

    viz = fake_app(tmp_path)
    perf = PerformanceWidget(viz)
    for wall, step in ((0.040, 0.0), (0.050, 0.1), (0.030, 0.0)):
        viz.wall_delta, viz.frame_delta = wall, step
        perf(show=False)
    np.testing.assert_allclose(perf.gui_times[-3:], [40.0, 50.0, 30.0], rtol=1e-6)


def test_render_rate_counts_only_results_the_network_ran_for(tmp_path, monkeypatch):
    """A view of the cached synthesis (synthesis 0 s) once showed as a render of a few ms, "1435 fps"; the device
    list offers only devices this torch build has (and the current one)."""
    import torch

    from viz.gui.widgets import performance_widget
    from viz.gui.widgets.performance_widget import PerformanceWidget, available_devices

    viz = fake_app(tmp_path)
    perf = PerformanceWidget(viz)
    perf.record_render(dict(total=0.080, synthesis=0.070))
    perf.record_render(dict(total=0.0007, view=0.0007, synthesis=0.0))    # cached re-view
    perf.record_render(dict(total=0.0))                                     # no synthesis recorded at all
    assert perf._render_count == 1 and np.count_nonzero(perf.render_times) == 1
    assert perf.render_times[-1] == pytest.approx(80.0)

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: False)
    assert available_devices('cpu') == ('cpu',)
    assert available_devices('cuda') == ('cpu', 'cuda')                    # a session's device stays visible
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert available_devices('cpu') == ('cpu', 'cuda')
    assert performance_widget.DEVICES == ('cpu', 'cuda', 'mps')


def test_image_fft_recording_starts_with_the_first_frame_that_has_both(tmp_path):
    """With the FFT off, an image+fft recording switches it on, but the result on screen was rendered without
    it. Its image alone once became the first frame, and the recording's size with it: a video without its FFT.
    Now frames start with the first result that has both, and every frame is image beside FFT."""
    from viz.gui.widgets.capture_widget import FORMATS, VIEWS, CaptureWidget

    viz = fake_app(tmp_path)
    viz.layer_widget = types.SimpleNamespace(fft_show=False)
    viz.result = RenderResult(args=viz.args, image=_frame(5))           # rendered before the FFT was on
    capture = CaptureWidget(viz)
    capture.view, capture.format, capture.fps = VIEWS.index('image+fft'), FORMATS.index('gif'), 10
    capture.start_video()
    assert viz.args.fft_show
    capture(show=False)
    assert capture.recorder.captured == 0 and not capture.note       # waiting for the FFT, nothing to say yet
    viz.result = RenderResult(args=viz.args, image=_frame(5), fft=_frame(200))
    capture(show=False)
    capture.recorder._start -= 0.5
    capture(show=False)
    assert capture.recorder.captured >= 2
    path = capture.recorder.path
    capture.stop_video()
    capture._finishing.join(30)
    frames, _ = read_gif(path)
    assert frames and all(f.shape == (16, 32, 3) for f in frames)
    assert all(abs(int(f[:, 16:].mean()) - 200) < 8 and abs(int(f[:, :16].mean()) - 5) < 8 for f in frames)
