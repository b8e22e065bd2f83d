"""viz.gui.image_view: zoom about the cursor, pan, and the pixel under the mouse, without a window."""

from __future__ import annotations

import math
import random

import numpy as np


def test_zoom_keeps_the_point_under_the_cursor_and_stays_inside_the_image():
    from viz.gui.image_view import MAX_ZOOM, ImageView

    rng = random.Random(1)
    view = ImageView()
    assert view.uv() == (0.0, 0.0, 1.0, 1.0) and view.pixel_at(0.999, 0.0, 32, 32) == (31, 0)
    for _ in range(300):
        fx, fy, factor = rng.random(), rng.random(), rng.choice([1.25, 0.8, 1.25 ** 3, 0.5])
        u0, v0, u1, v1 = view.uv()
        before = (u0 + fx * (u1 - u0), v0 + fy * (v1 - v0))
        old_zoom = view.zoom
        view.zoom_at(fx, fy, factor)
        u0, v0, u1, v1 = view.uv()
        assert 0 <= u0 < u1 <= 1 and 0 <= v0 < v1 <= 1 and 1 <= view.zoom <= MAX_ZOOM
        assert math.isclose(u1 - u0, 1 / view.zoom) and math.isclose(v1 - v0, 1 / view.zoom)
        after = (u0 + fx * (u1 - u0), v0 + fy * (v1 - v0))
        if 1 < old_zoom * factor < MAX_ZOOM and 0 < u0 and u1 < 1 and 0 < v0 and v1 < 1:
            # not at a zoom limit and not pushed back from an edge: the point under the cursor stays put
            assert np.allclose(after, before, atol=1e-12), (before, after)
    view.reset()
    view.zoom_at(0.75, 0.25, 4.0)  # 4x about the point (0.75, 0.25)
    assert np.allclose(view.uv(), (0.5625, 0.1875, 0.8125, 0.4375))
    assert view.pixel_at(0.0, 0.0, 64, 64) == (36, 12) and view.pixel_at(1.0, 0.5, 64, 64) is None
    view.pan(-1000, 0, 100, 100)  # far to the left: stops at the right edge
    assert math.isclose(view.uv()[2], 1.0)


def test_image_and_fft_with_colour_bar_fit_the_pane_width():
    """The FFT with its colour bar is wider than tall: the image and it, side by side, must fit the pane's width
    (fitting two square boxes drew the colour bar's labels past the window's edge)."""
    from viz.core.views import with_colorbar
    from viz.gui.image_view import MIN_SHOWN_PX, display_zoom

    res, spacing = 64, 8.0
    bar = with_colorbar(np.zeros((64, 64, 3), np.uint8), -50, 50, 'dB')
    fft_w = res * bar.shape[1] / bar.shape[0]  # the FFT drawn as tall as the image, its colour bar included
    assert fft_w > 1.2 * res
    for avail_w in (300.0, 500.0, 777.0, 1000.0, 2600.0):
        for avail_h in (200.0, 700.0, 2000.0):
            zoom = display_zoom([res, fft_w], res, avail_w, avail_h, spacing)
            drawn = (res + fft_w) * zoom + 2 * spacing
            assert drawn <= avail_w + 1e-9 or res * zoom <= MIN_SHOWN_PX + 1e-9, (avail_w, avail_h, zoom)
            assert res * zoom <= avail_h + 1e-9 or res * zoom <= MIN_SHOWN_PX + 1e-9
            assert zoom < 1 or zoom == int(zoom)  # enlarged by whole factors only
            # the largest such zoom: one step more would not fit
            bigger = int(zoom) + 1 if zoom >= 1 else None
            if bigger is not None:
                assert (res + fft_w) * bigger + 2 * spacing > avail_w or res * bigger > avail_h
    # 300 px wide: two square boxes of 142 px gave zoom 2, drawing 128 + 168.5 + 16 = 312.5 px, past the edge
    assert display_zoom([res, fft_w], res, 300.0, 700.0, spacing) == 1.0
    assert display_zoom([res], res, 40.0, 40.0, spacing) == MIN_SHOWN_PX / res  # never below the minimum
