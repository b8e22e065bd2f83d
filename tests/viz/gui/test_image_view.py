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
