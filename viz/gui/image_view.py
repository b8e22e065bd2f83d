"""Zoom, pan and the pixel readout of the image view: the arithmetic, kept free of ImGui so it can be tested.

The view shows the texture rectangle ``uv`` = (u0, v0, u1, v1) (fractions of the image) in a fixed box on
screen. ``zoom`` 1 shows the whole image; zoom z shows 1/z of its width and height around ``center``. The
rectangle never leaves the image, so panning stops at the edges instead of showing empty space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_ZOOM = 64.0
MIN_SHOWN_PX = 64.0  # the image is never drawn smaller than this, however small the window
WHEEL_STEP = 1.25  # zoom factor per wheel notch


@dataclass
class ImageView:
    zoom: float = 1.0
    center_u: float = 0.5
    center_v: float = 0.5

    def uv(self) -> tuple[float, float, float, float]:
        """The shown part of the image as (u0, v0, u1, v1), clamped inside [0, 1]."""
        half = 0.5 / self.zoom
        cu = min(max(self.center_u, half), 1 - half)
        cv = min(max(self.center_v, half), 1 - half)
        return cu - half, cv - half, cu + half, cv + half

    def _clamp(self) -> None:
        self.zoom = min(max(self.zoom, 1.0), MAX_ZOOM)
        u0, v0, u1, v1 = self.uv()
        self.center_u, self.center_v = (u0 + u1) / 2, (v0 + v1) / 2

    def reset(self) -> None:
        self.zoom, self.center_u, self.center_v = 1.0, 0.5, 0.5

    def zoom_at(self, fx: float, fy: float, factor: float) -> None:
        """Zoom by `factor` keeping the image point under the cursor (at fraction fx, fy of the box) in place."""
        u0, v0, u1, v1 = self.uv()
        pu, pv = u0 + fx * (u1 - u0), v0 + fy * (v1 - v0)
        self.zoom = min(max(self.zoom * factor, 1.0), MAX_ZOOM)
        half = 0.5 / self.zoom
        self.center_u, self.center_v = pu - fx * 2 * half + half, pv - fy * 2 * half + half
        self._clamp()

    def pan(self, dx_px: float, dy_px: float, box_w: float, box_h: float) -> None:
        """Move the image with the mouse: a drag of the box width moves it by the shown width."""
        u0, v0, u1, v1 = self.uv()
        self.center_u -= dx_px / max(box_w, 1.0) * (u1 - u0)
        self.center_v -= dy_px / max(box_h, 1.0) * (v1 - v0)
        self._clamp()

    def pixel_at(self, fx: float, fy: float, width: int, height: int) -> tuple[int, int] | None:
        """Image pixel (x, y) under the box fraction (fx, fy), or None outside the box."""
        if not (0.0 <= fx < 1.0 and 0.0 <= fy < 1.0):
            return None
        u0, v0, u1, v1 = self.uv()
        x = math.floor((u0 + fx * (u1 - u0)) * width)
        y = math.floor((v0 + fy * (v1 - v0)) * height)
        return min(max(x, 0), width - 1), min(max(y, 0), height - 1)


def display_zoom(widths: list[float], height: float, avail_w: float, avail_h: float, spacing: float) -> float:
    """The scale at which images drawn side by side fit a ``avail_w`` x ``avail_h`` box: ``widths`` are their
    widths when drawn ``height`` px tall (the FFT with its colour bar is wider than tall, so fitting square boxes
    pushed its labels past the window's edge). A whole factor when there is room to enlarge (pixels stay sharp),
    else the fraction that fits; never below ``MIN_SHOWN_PX`` for the height."""
    room_w = avail_w - spacing * len(widths)
    fit = min(room_w / max(sum(widths), 1.0), avail_h / max(height, 1.0))
    fit = max(fit, MIN_SHOWN_PX / max(height, 1.0))
    return float(math.floor(fit)) if fit >= 1 else fit
