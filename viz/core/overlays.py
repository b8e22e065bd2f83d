"""The frequency limits of the shown layer, drawn on its FFT (the alias-free paper's Fig. 3 and Sec. 3 argument).

The FFT view is the power spectrum of the whole map the layer outputs, DC at the centre: a map `N` px wide that
samples the signal at `s` samples per image width holds frequencies up to s/2 cycles per image width at the
square's edge, so a frequency f is a circle of radius f / (s/2) of the square's half width. A StyleGAN3 layer
(`analysis.aliasing.layer_limits`, read from the network's own attributes) gets three circles for its output,
solid: the cutoff fc (magenta), the stopband edge ft = fc + half width (yellow) and s/2 (white); and the same
three of its input, dashed (the input's s/2 is inside the output's when the layer upsamples). A StyleGAN2 layer,
or a map of which the network says nothing more, gets s/2 alone. What lies outside the solid ft circle is energy
the layer's filter should have removed; what lies beyond the next layer's s/2 will alias when that layer samples
it.

Drawing is a display setting: the circles go onto the FFT image the view already made, without a render.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = ['LIMIT_COLOURS', 'HALO', 'limit_circles', 'draw_limit_circles', 'draw_legend', 'shown_limits']

# One colour per limit, the same for input (dashed) and output (solid).
# Magenta, yellow and white stand out from the turbo colour map's blues to reds; every circle also gets a thin black
# halo, so it shows on any part of the spectrum.
LIMIT_COLOURS = {'cutoff': (255, 70, 255), 'stopband': (255, 230, 60), 'half_rate': (255, 255, 255)}
HALO = (0, 0, 0)
LIMIT_NAMES = {'cutoff': 'fc', 'stopband': 'ft', 'half_rate': 's/2'}
_DASHES = 32  # dashes around a dashed circle


def shown_limits(rows: list[Mapping] | None, layer: str | None, width: int) -> dict:
    """The limits row of the map the view shows: `layer` by name (None: the output image, which is the last
    layer's output), else s/2 alone at the map's own width (a StyleGAN2 block output, a network without rows)."""
    by_name = {row['name']: row for row in rows or ()}
    row = by_name.get(layer) if layer is not None else (rows[-1] if rows else None)
    if row is not None and (layer is None or int(row['size']) == int(width)):
        return dict(row)
    return dict(name=layer or 'output', out_sampling_rate=float(width), out_half_rate=width / 2)


def limit_circles(row: Mapping) -> list[tuple[float, tuple[int, int, int], bool, str]]:
    """(radius as a fraction of the FFT's half width, colour, dashed, label) of every limit of `row` that is
    known, output limits first. The map's own s/2 (``out_half_rate``) is the square's edge: radius 1."""
    half = float(row.get('out_sampling_rate') or 0) / 2
    if not half > 0:
        return []
    circles = []
    for side, dashed in (('out', False), ('in', True)):
        for key in ('cutoff', 'stopband', 'half_rate'):
            value = row.get(f'{side}_{key}')
            if value is None or not math.isfinite(float(value)) or float(value) <= 0:
                continue
            label = f'{LIMIT_NAMES[key]} {side} {float(value):g}'
            circles.append((float(value) / half, LIMIT_COLOURS[key], dashed, label))
    return circles


def draw_limit_circles(rgb: np.ndarray, circles: list[tuple[float, tuple[int, int, int], bool, str]],
                       bins: int) -> np.ndarray:
    """`rgb` (the FFT square of `bins` frequency bins per side, possibly enlarged by a whole factor) with the
    circles drawn on it, 1.5 px wide with a 1 px black halo on each side, centred on the DC bin (bin bins // 2
    after the FFT shift). A copy."""
    out = np.array(rgb, copy=True)
    size = out.shape[0]
    factor = size / bins
    centre = (bins // 2 + 0.5) * factor - 0.5  # the middle of the DC bin in image pixels
    yy, xx = np.mgrid[0:size, 0:out.shape[1]].astype(np.float64)
    dist = np.hypot(xx - centre, yy - centre)
    angle = np.arctan2(yy - centre, xx - centre)
    rings = []
    for frac, colour, dashed, _label in circles:
        radius = frac * bins / 2 * factor
        near = np.abs(dist - radius)
        on = np.ones_like(near, dtype=bool)
        if dashed:
            on = (np.floor((angle + math.pi) / (2 * math.pi) * 2 * _DASHES) % 2) == 0
        rings.append((near, on, colour))
    for near, on, _colour in rings:  # every halo first, so no halo covers another circle
        out[(near <= 1.75) & on] = HALO
    for near, on, colour in rings:
        out[(near <= 0.75) & on] = colour
    return out


def draw_legend(rgb: np.ndarray, circles: list[tuple[float, tuple[int, int, int], bool, str]]) -> np.ndarray:
    """`rgb` with a small key in its top-left corner: each limit's name in its colour, and which circles are the
    input's (dashed). A copy; `rgb` unchanged when there is nothing to explain."""
    if not circles:
        return rgb
    from PIL import Image, ImageDraw

    from viz.core.tiles import caption_font

    size = rgb.shape[0]
    font_px = max(12, size // 16)
    font = caption_font(font_px)
    pil = Image.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(pil)
    keys = [key for key in ('cutoff', 'stopband', 'half_rate')
            if any(colour == LIMIT_COLOURS[key] for _, colour, _, _ in circles)]
    lines = [[(LIMIT_NAMES[key], LIMIT_COLOURS[key]) for key in keys]]
    if any(dashed for _, _, dashed, _ in circles):
        lines.append([('solid: output, dashed: input', (230, 230, 230))])
    pad, x0, y = 3, 3, 3
    width = max(sum(draw.textlength(text + '  ', font=font) for text, _ in line) for line in lines)
    draw.rectangle([0, 0, x0 + width + pad, y + len(lines) * (font_px + 2) + pad], fill=(0, 0, 0))
    for line in lines:
        x = x0
        for text, colour in line:
            draw.text((x, y), text, fill=colour, font=font)
            x += draw.textlength(text + '  ', font=font)
        y += font_px + 2
    return np.asarray(pil)
