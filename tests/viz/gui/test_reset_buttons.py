"""Reset buttons where NVlabs' visualizer has them: in a real (headless) ImGui context each Reset button is
clicked with injected mouse events, and the widget's state must equal a fresh widget's afterwards. No window
and no OpenGL: ImGui runs without a renderer; the frames are never drawn."""

from __future__ import annotations

import pytest

imgui_bundle = pytest.importorskip('imgui_bundle')
imgui = imgui_bundle.imgui

from gui_utils import imgui_utils  # noqa: E402
from tests.viz.gui.fakes import fake_app  # noqa: E402


class Harness:
    """ImGui frames in one big window; remembers where each imgui_utils.button was drawn, by label."""

    def __init__(self, monkeypatch) -> None:
        from gui_utils.testing import HeadlessImgui

        self.ui = HeadlessImgui(size=(1600, 1600), plots=True)  # the performance widget plots its frame times
        self.buttons: dict[str, tuple[float, float]] = {}
        real = imgui_utils.button

        def button(label, *args, **kwargs):
            pressed = real(label, *args, **kwargs)
            lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
            self.buttons[label] = ((lo.x + hi.x) / 2, (lo.y + hi.y) / 2)
            return pressed

        monkeypatch.setattr(imgui_utils, 'button', button)

    def click(self, widget, label: str) -> None:
        for _ in range(2):
            self.ui.frame(widget)
        assert label in self.buttons, f'no button {label!r} drawn: {sorted(self.buttons)}'
        self.ui.click_at(widget, *self.buttons[label], settle=3)

    def close(self) -> None:
        self.ui.close()


def _trunc():
    from viz.gui.widgets.trunc_noise_widget import TruncationNoiseWidget
    return TruncationNoiseWidget


def _transform():
    from viz.gui.widgets.transform_widget import TransformWidget
    return TransformWidget


def _layer():
    from viz.gui.widgets.layer_widget import LayerWidget
    return LayerWidget


def _stylemix():
    from viz.gui.widgets.stylemix_widget import StyleMixWidget
    return StyleMixWidget


def _latent():
    from viz.gui.widgets.latent_widget import LatentWidget
    return LatentWidget


def _perf():
    from viz.gui.widgets.performance_widget import PerformanceWidget
    return PerformanceWidget


CASES = [
    (_trunc, 'Reset##trunc', dict(psi=0.5, cutoff_on=True, noise_mode=1, noise_anim=True)),
    (_transform, 'Reset##eq', dict(x=0.3, y=-0.2, angle=15.0, anim_x=0.1, anim_y=0.05, anim_rotate=3.0)),
    (_transform, 'Reset##opts', dict(snap=True, untransform=True)),
    (_layer, 'Reset##scale', dict(db=12.0, normalize=True)),
    (_layer, 'Reset##channel', dict(rgb=False, base_channel=3)),
    (_layer, 'Reset##fft_flags', dict(fft_show=True, fft_all=False)),
    (_layer, 'Reset##fft', dict(fft_show=True, fft_range_db=20.0, fft_beta=3.0)),
    (_stylemix, 'Reset##mix', dict(enabled=True, anim=True, seed=7)),
    (_latent, 'Reset##latent', dict(x=4.0, y=2.0, anim=True, speed=1.0)),
    (_perf, 'Reset##perf', dict(fps_limit=20, vsync=True)),
]


@pytest.mark.parametrize('make, label, changes', CASES, ids=[c[1] for c in CASES])
def test_reset_button_restores_the_defaults(monkeypatch, make, label, changes):
    cls = make()
    fresh = cls(fake_app(network=dict(has_transform=True)))
    widget = cls(fake_app(network=dict(has_transform=True)))
    harness = Harness(monkeypatch)
    try:
        for name, value in changes.items():
            assert hasattr(widget, name), name
            setattr(widget, name, value)
        harness.click(widget, label)
    finally:
        harness.close()
    expected = {name: getattr(fresh, name) for name in changes}
    if label == 'Reset##fft':
        expected['fft_show'] = True  # the range/beta reset leaves the FFT shown (its own Reset##fft_flags)
    assert {name: getattr(widget, name) for name in changes} == expected
