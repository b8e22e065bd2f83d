"""The pickle widget's "Default networks" list (the shipped trained networks), clicked in a real ImGui context without
a window or OpenGL (mouse events injected at the item's rectangle): choosing an entry loads that network, and the
recent list rules stay as they were. The shipped folder is replaced by a fixture folder of tiny networks."""

from __future__ import annotations

import os

import pytest

from networks import pretrained
from tests.viz.gui.fakes import fake_app
from viz.core.render_types import DEFAULT_PKL, RenderArgs

imgui_bundle = pytest.importorskip('imgui_bundle')


class _Imgui:
    """One big ImGui window without a renderer; clicks are injected mouse events at a recorded rectangle."""

    def __init__(self):
        from gui_utils.testing import HeadlessImgui

        self.ui = HeadlessImgui(size=(1600, 900))

    def click(self, widget, viz, rect: str) -> None:
        for _ in range(2):
            self.ui.frame(widget)
        assert rect in viz.rects, f'{rect} not drawn: {sorted(viz.rects)}'
        x0, y0, x1, y1 = viz.rects[rect]
        self.ui.click_at(widget, (x0 + x1) / 2, (y0 + y1) / 2, settle=2)

    def close(self) -> None:
        self.ui.close()


@pytest.mark.parametrize('index,key', [(0, 'sg3t'), (1, 'sg3r'), (2, 'sg2'), (3, None)])
def test_choosing_a_default_network_loads_it(shipped, tmp_path, renderer, index, key):
    from viz.gui.widgets.pickle_widget import PickleWidget

    viz = fake_app()
    widget = PickleWidget(viz, settings_file=str(tmp_path / 'settings.json'))
    viz.args = RenderArgs(pkl='/nets/before.pkl')  # so that the built-in entry, too, has to change something
    ui = _Imgui()
    try:
        ui.click(widget, viz, 'pickle_defaults')
        ui.click(widget, viz, f'pickle_default:{index}')
    finally:
        ui.close()
    expected = os.path.join(shipped, f'{key}.pkl') if key else DEFAULT_PKL
    assert viz.args.pkl == expected
    result = renderer.render(viz.args)  # what the app does next with the requested args
    assert result.error is None
    if key:
        assert result.network['name'] == pretrained.card_label(pretrained.read_card(key))
        assert not result.network['untrained']
        widget.loaded(viz.args.pkl)  # recent-list rules unchanged: a shipped pickle is remembered like any
        assert widget.recent == [expected]
    else:
        assert result.network['untrained']
        widget.loaded(viz.args.pkl)
        assert widget.recent == []  # the built-in one never enters the recent list


def test_an_empty_pickle_field_loads_the_default_network(shipped, monkeypatch, tmp_path):
    from viz.gui.widgets.pickle_widget import PickleWidget

    viz = fake_app()
    widget = PickleWidget(viz, settings_file=str(tmp_path / 's.json'))
    widget.load('  ')
    assert viz.args.pkl == os.path.join(shipped, 'sg3t.pkl')
    monkeypatch.setattr(pretrained, '_PACKAGE_DIR', str(tmp_path))  # nothing ships
    widget.load('')
    assert viz.args.pkl == DEFAULT_PKL
