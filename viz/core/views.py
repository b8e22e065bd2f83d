"""The views of one render: the image or a layer's channels as uint8 RGB, its FFT (with a colour bar), and the
untransformed frame (NVlabs' band-limited resampling, `ops.resample.untransform`)."""

from __future__ import annotations

import numpy as np
import torch

from ops.resample import untransform

__all__ = ['colormap', 'colorbar_image', 'enlarge', 'FFT_MIN_HEIGHT', 'with_colorbar', 'fft_view', 'untransform_image',
           'warm_up']


_CMAP_CACHE: dict[str, np.ndarray] = {}


def colormap(values: np.ndarray, name: str = 'turbo') -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB through a matplotlib colour map (LUT of 256 entries)."""
    lut = _CMAP_CACHE.get(name)
    if lut is None:
        import matplotlib

        lut = (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)
        _CMAP_CACHE[name] = lut
    idx = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)) * 255 + 0.5, 0, 255).astype(np.intp)
    return lut[idx]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled font (FreeType builds)
    except TypeError:  # older Pillow: the fixed bitmap font
        return ImageFont.load_default()


def colorbar_image(height: int, vmin: float, vmax: float, unit: str = 'dB', name: str = 'turbo',
                   background: int = 24) -> np.ndarray:
    """A vertical colour bar, uint8 RGB [height, W, 3]: the colour map from vmax (top) to vmin (bottom) in a strip
    of height // 16 pixels (at least 8) wide, and tick labels to its right.

    Row r of the strip shows colormap(1 - r / (height - 1)): the value vmax - (vmax - vmin) * r / (height - 1).
    """
    from PIL import Image, ImageDraw

    height = max(int(height), 32)
    bar_w = max(8, height // 16)
    font_px = max(10, height // 22)
    width = bar_w + 6 + font_px * 5
    img = np.full((height, width, 3), background, np.uint8)
    img[:, :bar_w] = colormap(1 - np.linspace(0, 1, height))[:, None, :]
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil)
    font = _font(font_px)
    span = vmax - vmin
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000, 1e9) if span / s <= 6)
    values = np.arange(np.ceil(vmin / step) * step, vmax + step * 1e-6, step)
    for value in values:
        row = int(round((vmax - value) / span * (height - 1))) if span > 0 else 0
        draw.line([(bar_w, row), (bar_w + 4, row)], fill=(230, 230, 230))
        y = min(max(row - font_px // 2, 0), height - font_px - 1)
        text = f'{value:g} {unit}' if value == values[-1] else f'{value:g}'  # the unit once, at the top label
        draw.text((bar_w + 6, y), text, fill=(230, 230, 230), font=font)
    return np.asarray(pil)


FFT_MIN_HEIGHT = 256  # the FFT view's square is enlarged to at least this many rows (labels, overlays stay sharp)


def enlarge(rgb: np.ndarray, min_height: int = FFT_MIN_HEIGHT) -> np.ndarray:
    """`rgb` enlarged by whole-pixel repetition (the smallest whole factor) to at least `min_height` rows."""
    factor = max(1, -(-min_height // rgb.shape[0]))
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1) if factor > 1 else rgb


def with_colorbar(rgb: np.ndarray, vmin: float, vmax: float, unit: str = 'dB',
                  min_height: int = FFT_MIN_HEIGHT) -> np.ndarray:
    """`rgb` (enlarged by whole-pixel repetition to at least `min_height` rows) with a colour bar on its right."""
    big = enlarge(rgb, min_height)
    bar = colorbar_image(big.shape[0], vmin, vmax, unit)
    gap = np.full((big.shape[0], max(2, big.shape[0] // 64), 3), bar[0, -1], np.uint8)
    return np.ascontiguousarray(np.concatenate([big, gap, bar], axis=1))


def fft_view(sig: torch.Tensor, beta: float = 8.0, range_db: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Log power spectrum of [C, H, W] (channels averaged), DC centred, relative to its mean, in dB.

    Returns (db float32 [H, W], uint8 RGB [H, W, 3] with -range_db..+range_db mapped to the colour map).
    """
    from ops.spectrum import power_spectrum

    spec = power_spectrum(sig[None].detach().to(torch.float32), beta=beta, padding=1)
    spec = spec / spec.mean().clamp(min=1e-30)
    db = (10 * torch.log10(spec.clamp(min=1e-30))).numpy().astype(np.float32)
    rgb = colormap((db / max(range_db, 1e-3) + 1) / 2)
    return db, rgb


def untransform_image(img: torch.Tensor, translate_x: float, translate_y: float, angle_deg: float,
                      linear: np.ndarray | None = None) -> torch.Tensor:
    """The output of a transformed input brought back onto the untransformed frame ([C, H, W], zeros outside).

    NVlabs' band-limited resampling (`ops.resample.untransform`, filter half-width 6), not an interpolation.
    """
    out, _mask = untransform(img.to(torch.float32), (translate_x, translate_y), angle_deg, linear=linear)
    return out


def warm_up() -> None:
    """Load what the first FFT or spectrum view would otherwise load (matplotlib's colour map, the font): about
    0.5 s once, better spent while the renderer is idle than on the first click of "FFT"."""
    colorbar_image(256, -1.0, 1.0)
