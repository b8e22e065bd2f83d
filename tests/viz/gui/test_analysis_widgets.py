"""The analysis widgets without a display: the spectrum definition option (NVlabs' by default, the whitened one
labelled as such), and session round trips of it."""

from __future__ import annotations

import pytest

from tests.viz.gui.fakes import fake_app
from viz.core.render_types import RenderArgs
from viz.core.session import load_session, save_session


def test_spectrum_definition_default_and_whitened_labelled():
    from viz.gui.widgets.spectrum_widget import DEFINITION_LABELS, DEFINITION_NAMES, SpectrumWidget

    viz = fake_app()
    widget = SpectrumWidget(viz)
    widget(show=False)
    assert viz.args.spectrum_definition == 'nvlabs' == RenderArgs().spectrum_definition
    labels = dict(zip(DEFINITION_NAMES, DEFINITION_LABELS))
    assert 'NVlabs' in labels['nvlabs'] and 'WHITENED' in labels['whitened'] and 'not NVlabs' in labels['whitened']
    widget.definition = 'whitened'
    widget(show=False)
    assert viz.args.spectrum_definition == 'whitened'
    other = SpectrumWidget(fake_app())
    other.load_args(viz.args)
    assert other.definition == 'whitened'


def test_spectrum_noise_setting_reaches_the_render_args_and_back():
    from viz.gui.widgets.spectrum_widget import NOISE_LABELS, NOISE_MODES, SpectrumWidget

    viz = fake_app()
    widget = SpectrumWidget(viz)
    widget(show=False)
    assert viz.args.spectrum_noise_mode is None            # the definition's own: fresh noise for NVlabs'
    assert set(NOISE_MODES) == {None, 'random', 'const'} and len(NOISE_LABELS) == len(NOISE_MODES)
    widget.noise_mode = 'const'
    widget(show=False)
    assert viz.args.spectrum_noise_mode == 'const'
    other = SpectrumWidget(fake_app())
    other.load_args(viz.args)
    assert other.noise_mode == 'const'


def test_session_keeps_and_checks_the_definition(tmp_path):
    from viz.core.session import SessionError

    path = str(tmp_path / 's.json')
    save_session(path, RenderArgs(spectrum_seeds=8, spectrum_definition='whitened'))
    assert load_session(path)[0].spectrum_definition == 'whitened'
    text = open(path).read().replace('"whitened"', '"pink"')
    open(path, 'w').write(text)
    with pytest.raises(SessionError, match='spectrum_definition'):
        load_session(path)


def test_session_keeps_and_checks_the_noise_mode(tmp_path):
    from viz.core.session import SessionError

    path = str(tmp_path / 's.json')
    assert RenderArgs().spectrum_noise_mode is None  # the definition's: NVlabs' fresh noise for 'nvlabs'
    save_session(path, RenderArgs(spectrum_seeds=8, spectrum_noise_mode='const'))
    assert load_session(path)[0].spectrum_noise_mode == 'const'
    text = open(path).read().replace('"spectrum_noise_mode": "const"', '"spectrum_noise_mode": "loud"')
    open(path, 'w').write(text)
    with pytest.raises(SessionError, match='spectrum_noise_mode'):
        load_session(path)


def test_spectrum_panel_draws_its_noise_choice(tmp_path):
    # The panel itself in an ImGui frame (no window): the noise row is drawn, and what it holds is what the
    # render args get.
    pytest.importorskip('imgui_bundle')
    from gui_utils import imgui_utils
    from gui_utils.testing import HeadlessImgui
    from viz.gui.widgets.spectrum_widget import SpectrumWidget

    viz = fake_app()
    viz.rects, viz.label_w, viz.font_size = {}, 90.0, 14.0
    viz.rect = lambda name: viz.rects.__setitem__(name, imgui_utils.item_rect())
    widget = SpectrumWidget(viz)
    widget.enabled, widget.noise_mode = True, 'random'
    ui = HeadlessImgui(size=(1600, 900))
    try:
        for _ in range(2):
            ui.frame(widget)
    finally:
        ui.close()
    assert {'spectrum_definition', 'spectrum_noise_mode'} <= set(viz.rects)
    assert viz.rects['spectrum_noise_mode'][1] > viz.rects['spectrum_definition'][1]     # the row below
    assert viz.args.spectrum_noise_mode == 'random' and viz.args.spectrum_seeds == 16
