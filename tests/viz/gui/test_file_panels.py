"""The Session and Keyframes panels, clicked in a real ImGui context without a window (mouse events injected at
the Load button): a hostile session file (an integer beyond float range, deep nesting, a 5000-digit integer, a
FIFO, a huge file) is refused with one logged line and nothing changes; the exception used to leave the frame
and close the app."""

from __future__ import annotations

import os

import pytest

from networks.file_io import FileReadError
from tests.networks.hostile_images import measure
from tests.viz.gui.fakes import fake_app
from viz.core.keyframes import Keyframe, keyframe_to_dict
from viz.core.render_types import RenderArgs
from viz.core.session import save_session

imgui_bundle = pytest.importorskip('imgui_bundle')

HOSTILE = {
    'big-int': b'{"version": 1, "args": {"trunc_psi": 1' + b'0' * 400 + b'}}',
    'big-int-keyframe': b'{"version": 1, "args": {}, "keyframes": [{"latent": [1.0], "rotate": 1' + b'0' * 400
                        + b'}]}',
    'huge-int': b'{"version": 1, "args": {"noise_seed": ' + b'7' * 5000 + b'}}',
    'deep': b'{"version": 1, "args": {"latent": ' + b'[' * 100_000 + b']' * 100_000 + b'}}',
    'huge': b'{"version": 1, "args": {"latent": [' + b'0.0, ' * (8 << 20) + b'0.0]}}',
    'fifo': None,
}


def _hostile_file(tmp_path, kind: str) -> str:
    path = tmp_path / f'{kind}.json'
    if HOSTILE[kind] is None:
        os.mkfifo(path)   # nobody writes: an open for reading would wait for ever
    else:
        path.write_bytes(HOSTILE[kind])
    return str(path)


def _click(widget, viz, rect: str) -> None:
    from gui_utils.testing import HeadlessImgui

    ui = HeadlessImgui(size=(1600, 900))
    try:
        for _ in range(2):
            ui.frame(widget)
        assert rect in viz.rects, f'{rect} not drawn: {sorted(viz.rects)}'
        x0, y0, x1, y1 = viz.rects[rect]
        ui.click_at(widget, (x0 + x1) / 2, (y0 + y1) / 2, settle=2)
    finally:
        ui.close()


def _refused_in_the_panel(viz, click) -> str:
    seconds, _rss, error, finished = measure(click, timeout=10)
    assert finished and error is None and seconds < 5, (seconds, error)   # the frame ended normally
    errors = [text for text, is_error in viz.messages if is_error]
    assert len(errors) == 1 and '\n' not in errors[0], viz.messages
    return errors[0]


@pytest.mark.parametrize('kind', sorted(HOSTILE))
def test_the_session_panel_refuses_a_hostile_file_with_one_line(tmp_path, kind):
    from viz.gui.widgets.session_widget import SessionWidget

    viz = fake_app(tmp_path, args=RenderArgs(trunc_psi=0.5))
    widget = SessionWidget(viz)
    widget.path = _hostile_file(tmp_path, kind)
    text = _refused_in_the_panel(viz, lambda: _click(widget, viz, 'session_load'))
    assert 'session not loaded, nothing changed' in text and 'cannot read session file' in text, text
    assert viz.applied == [] and viz.args == RenderArgs(trunc_psi=0.5)


@pytest.mark.parametrize('kind', sorted(HOSTILE))
def test_the_keyframes_panel_refuses_a_hostile_file_with_one_line(tmp_path, kind):
    from viz.gui.widgets.keyframes_widget import KeyframesWidget

    viz = fake_app(tmp_path, args=RenderArgs(trunc_psi=0.5))
    widget = KeyframesWidget(viz)
    kept = [Keyframe((0.0,) * 4), Keyframe((1.0,) * 4)]
    widget.keyframes, widget.labels = list(kept), ['a', 'b']
    widget.session_path = _hostile_file(tmp_path, kind)
    text = _refused_in_the_panel(viz, lambda: _click(widget, viz, 'kf_load'))
    assert text.startswith('keyframes: cannot read session file'), text
    assert widget.keyframes == kept and widget.labels == ['a', 'b']


def test_the_panels_still_load_a_valid_file(tmp_path):
    from viz.gui.widgets.keyframes_widget import KeyframesWidget
    from viz.gui.widgets.session_widget import SessionWidget

    path = str(tmp_path / 'ok.json')
    kfs = [Keyframe((0.5,) * 4), Keyframe((-0.5,) * 4)]
    save_session(path, RenderArgs(trunc_psi=0.7), keyframes=[keyframe_to_dict(kf) for kf in kfs])
    viz = fake_app(tmp_path, args=RenderArgs(trunc_psi=0.5))
    session = SessionWidget(viz)
    assert session.load(path) and viz.applied[0].trunc_psi == 0.7
    keyframes = KeyframesWidget(viz)
    keyframes.load(path)
    assert keyframes.keyframes == kfs
    assert not any(is_error for _text, is_error in viz.messages)


def test_the_error_class_is_what_the_panels_catch():
    """The panels catch UserError: FileReadError is one, whatever reader raised it."""
    from networks.errors import UserError

    assert issubclass(FileReadError, UserError)
