"""The per-layer analyses in the real window (Xvfb): the FFT's limit circles, the aliasing bar chart and the
per-layer EQ curve, switched on by clicks, drawn under the image while the window keeps running.

LAYER_SCREENSHOT=docs/layer-analyses-window.png (and LAYER_PKL=<a trained pickle>) saves the window as in the
docs."""

from __future__ import annotations

import os

import numpy as np
import pytest


@pytest.mark.gui
def test_limits_bar_chart_and_eq_curve_in_the_window(pkl_dir, tmp_path):
    from tests.viz.gui.app_driver import AppDriver

    app = AppDriver(tmp_path, os.environ.get('LAYER_PKL') or str(pkl_dir / 'tiny_sg3.pkl'))
    try:
        s = app.settle()
        layer = next(name for name in s['result']['layers'] if name.startswith('L3_'))
        app.click(f'layer:{layer}')
        app.click('fft_limits')  # switches the FFT on with it
        s = app.wait(lambda s: s['result'] and s['result']['fft'] and s['result']['limits'] == layer
                     and not s['rendering'], 60, 'the FFT with limits')
        assert s['args']['fft_limits'] and s['args']['fft_show']
        app.click('aliasing')
        app.click('layer_eq')
        s = app.wait(lambda s: s['result'] and s['result']['aliasing'] and s['result']['layer_eq']
                     and not s['rendering'], 120, 'both analyses')
        assert s['result']['aliasing'] == len([n for n in s['result']['layers'] if n != 'output'])
        assert s['result']['layer_eq'] == s['result']['aliasing'] + 1  # and the output
        app.wait_frames(6)
        s = app.state()
        for chart in ('aliasing_chart', 'layer_eq_chart'):
            assert chart in s['rects'], chart
            pixels = app.grab(chart).astype(int)
            assert pixels.size and pixels.std() > 5, chart  # a plot was drawn, not an empty box
        fft = app.grab('fft').astype(int)
        from viz.core.overlays import LIMIT_COLOURS

        cutoff = (np.abs(fft - LIMIT_COLOURS['cutoff']).sum(axis=2) < 60).mean()
        assert cutoff > 0.0005  # the cutoff's circle is on screen
        shot = os.environ.get('LAYER_SCREENSHOT')
        if shot:
            app.save_window(shot)
    finally:
        app.close()
