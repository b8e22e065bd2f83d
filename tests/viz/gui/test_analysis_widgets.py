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


@pytest.mark.parametrize('what, name, widget_name', [('EQ readout', 'eq', 'eq_readout_widget'),
                                                      ('spectrum', 'spectrum', 'spectrum_widget'),
                                                      ('sticking', 'sticking', 'sticking_widget')])
def test_every_analysis_shows_its_progress_and_cancel_in_one_place(what, name, widget_name):
    """EQ's progress and Cancel were in the control pane, the spectrum's and sticking's under the image. Now
    each one's is one line under the image (`analysis_progress`); the panel only points there."""
    import types

    from gui_utils.testing import HeadlessImgui
    from viz.gui.widgets.eq_readout_widget import EquivarianceReadoutWidget
    from viz.gui.widgets.spectrum_widget import SpectrumWidget, analysis_progress
    from viz.gui.widgets.sticking_widget import StickingWidget

    cancelled = []
    viz = fake_app(async_renderer=types.SimpleNamespace(progress=(what, 3, 10),
                                                        cancel_analysis=lambda: cancelled.append(True)))
    viz.eq_readout_widget = EquivarianceReadoutWidget(viz)
    viz.spectrum_widget = SpectrumWidget(viz)
    viz.sticking_widget = StickingWidget(viz)
    widget = getattr(viz, widget_name)
    widget.enabled = True

    def pane(show):
        widget(show)
        if widget_name != 'eq_readout_widget':
            widget.draw_view(None, 800.0)

    ui = HeadlessImgui(size=(1600, 900))
    try:
        ui.frame(pane)
        assert f'{name}_cancel' not in viz.rects          # the panel and the widget's view draw no Cancel
        ui.frame(lambda show: analysis_progress(viz))
        assert f'{name}_cancel' in viz.rects
        x0, y0, x1, y1 = viz.rects[f'{name}_cancel']
        ui.click_at(lambda show: analysis_progress(viz), (x0 + x1) / 2, (y0 + y1) / 2)
    finally:
        ui.close()
    assert cancelled and not widget.enabled


def test_a_first_pca_is_explained_under_the_image():
    import types

    from gui_utils.testing import HeadlessImgui
    from viz.core.analysis_cache import PCA_PROGRESS
    from viz.gui.widgets.spectrum_widget import analysis_progress

    viz = fake_app(async_renderer=types.SimpleNamespace(progress=(PCA_PROGRESS, 4000, 10000)))
    ui = HeadlessImgui(size=(1600, 900))
    try:
        ui.frame(lambda show: analysis_progress(viz))
    finally:
        ui.close()
    assert 'pca_progress' in viz.rects and not any(name.endswith('_cancel') for name in viz.rects)
