"""Values typed into the window (Ctrl+click on a slider or drag takes any text, "1e9" or "nan") are held to the
session file's ranges by the app's one entry for edits, `VisualizerApp.set_args`: clamped when finite, refused when not,
with one note; the widget shows the corrected value on the next frame, and nothing re-renders forever (NaN
never equals itself, so a NaN psi once kept the app "rendering..." at about 4 renders a second).

The real `VisualizerApp.set_args` runs on a stand-in app object (no window) with the real widgets in a headless ImGui
context; the typed value is what the ImGui control returns, once, as after Ctrl+click and typing."""

from __future__ import annotations

import dataclasses
import math
import types

import pytest

imgui_bundle = pytest.importorskip('imgui_bundle')

from gui_utils import imgui_utils  # noqa: E402
from tests.viz.gui.fakes import fake_app  # noqa: E402
from viz.core.session import load_session, save_session  # noqa: E402
from viz.gui.app import VisualizerApp  # noqa: E402


def _app_like(widget_classes):
    viz = fake_app(network=dict(has_transform=True, has_noise=False, num_ws=16), frame_delta=1 / 60,
                   wall_delta=1 / 60, _last_note='', _stamps={}, keyframes_widget=None)
    viz.set_args = types.MethodType(VisualizerApp.set_args, viz)
    viz._widgets_take_args = types.MethodType(VisualizerApp._widgets_take_args, viz)
    widgets = [cls(viz) for cls in widget_classes]
    viz.panels = [('test', True, widgets)]
    return viz, widgets


@pytest.fixture
def typed(monkeypatch):
    """`typed[label] = value`: the next call of the ImGui control with that label returns (True, value)."""
    pending: dict = {}
    imgui = imgui_bundle.imgui
    for name in ('slider_float', 'slider_int', 'drag_float', 'drag_float2', 'input_int'):
        real = getattr(imgui, name)

        def control(label, *args, _real=real, **kwargs):
            result = _real(label, *args, **kwargs)
            if label in pending:
                return True, pending.pop(label)
            return result
        monkeypatch.setattr(imgui, name, control)
    return pending


@pytest.fixture
def ui():
    from gui_utils.testing import HeadlessImgui
    ui = HeadlessImgui(size=(1600, 1600))
    yield ui
    ui.close()


@pytest.mark.parametrize('value, expected', [(1e9, 100.0), (-1e9, -100.0), (math.nan, 1.0), (math.inf, 1.0)])
def test_typed_psi_is_clamped_or_refused_once(ui, typed, value, expected, tmp_path):
    from viz.gui.widgets.trunc_noise_widget import TruncationNoiseWidget
    viz, (widget,) = _app_like([TruncationNoiseWidget])
    ui.frame(widget)
    assert viz.args.trunc_psi == 1.0
    typed['##psi'] = value
    for _ in range(5):
        ui.frame(widget)
    assert viz.args.trunc_psi == expected and widget.psi == expected
    notes = [text for text, _ in viz.messages]
    assert len(notes) == 1 and notes[0].startswith('trunc_psi'), notes
    stamp = dict(viz._stamps)
    ui.frame(widget)
    assert viz._stamps == stamp                              # settled: no new edit, so no new render
    save_session(str(tmp_path / 's.json'), viz.args)
    assert load_session(str(tmp_path / 's.json'))[0] == viz.args


def test_typed_spectrum_seeds_are_clamped_to_the_session_limit(ui, typed):
    from viz.core.session import MAX_SPECTRUM_SEEDS
    from viz.gui.widgets.spectrum_widget import SpectrumWidget
    viz, (widget,) = _app_like([SpectrumWidget])
    widget.enabled = True
    typed['##specn'] = 100_000_000
    for _ in range(3):
        ui.frame(widget)
    assert viz.args.spectrum_seeds == MAX_SPECTRUM_SEEDS == widget.num_seeds
    assert len(viz.messages) == 1


@pytest.mark.parametrize('field', ['x', 'y', 'speed'])
def test_latent_position_and_speed_never_take_nan(ui, typed, field):
    """The latent widget turns x, y into seeds every frame (math.floor(nan) raised out of the frame)."""
    from viz.gui.widgets.latent_widget import LatentWidget
    viz, (widget,) = _app_like([LatentWidget])
    ui.frame(widget)
    before = viz.args.w0_seeds
    assert imgui_utils.finite(math.nan, 2.5) == 2.5 and imgui_utils.finite((1.0, math.inf), (0, 0)) == (0, 0)
    assert imgui_utils.finite((1.0, 2.0), (0, 0)) == (1.0, 2.0)
    if field == 'speed':
        typed['##speed'] = math.nan
        widget.anim = True
    else:
        typed['##xy'] = [math.nan, 0.0] if field == 'x' else [0.0, math.nan]
    try:
        ui.frame(widget)
    except ValueError as e:   # the frame must not raise; show why if it does
        pytest.fail(f'a NaN {field} escaped the frame: {e}')
    assert all(math.isfinite(v) for v in (widget.x, widget.y, widget.speed))
    assert all(math.isfinite(w) for _, w in viz.args.w0_seeds) and dataclasses.is_dataclass(viz.args)
    assert field == 'speed' or viz.args.w0_seeds == before


def test_a_good_typed_position_still_moves_the_latent(ui, typed):
    from viz.gui.widgets.latent_widget import LatentWidget
    viz, (widget,) = _app_like([LatentWidget])
    ui.frame(widget)
    typed['##xy'] = [2.0, 0.0]
    ui.frame(widget)
    assert viz.args.w0_seeds == ((2, 1.0),) and viz.messages == []
