"""Tiles for the headless views and the GUI: two images side by side, and a grid of named tiles.

The uint8 conversion is `networks.conventions.to_uint8_rgb`, the PNG writer and the plain grid are
`networks.image_write`.
"""

from __future__ import annotations

import numpy as np

from networks.image_write import image_grid

__all__ = ['side_by_side', 'caption_font', 'named_tile_grid']


def side_by_side(a: np.ndarray, b: np.ndarray | None, enlarge: bool = False) -> np.ndarray:
    """Concatenate two HWC images horizontally, the second resized (nearest) to the first's height. With
    `enlarge`, a first image shorter than the second is first repeated by the whole factor that brings it
    closest to the second's height: a saved picture keeps the second's labels (an FFT's colour bar) at the size
    they were drawn, where shrinking them to a 32-128 px image made them unreadable."""
    if b is None:
        return a
    if enlarge and a.shape[0] < b.shape[0]:
        factor = max(1, round(b.shape[0] / a.shape[0]))
        a = np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)
    if b.shape[0] != a.shape[0]:
        rows = (np.arange(a.shape[0]) * b.shape[0] // a.shape[0])
        cols = (np.arange(int(round(b.shape[1] * a.shape[0] / b.shape[0]))) * b.shape[0] // a.shape[0])
        b = b[rows][:, np.minimum(cols, b.shape[1] - 1)]
    return np.concatenate([a, b], axis=1)


def caption_font(size: int = 12):
    """A PIL font for captions: matplotlib's bundled DejaVu Sans (a dependency already), else PIL's built-in."""
    import PIL.ImageFont

    try:
        from matplotlib import font_manager

        return PIL.ImageFont.truetype(font_manager.findfont('DejaVu Sans', fallback_to_default=True), size)
    except (ImportError, OSError, ValueError):
        return PIL.ImageFont.load_default(size)


def named_tile_grid(tiles: list[np.ndarray], names: list[str], columns: int, caption_height: int = 16,
                    font_size: int = 12) -> np.ndarray:
    """Equal-sized HWC uint8 tiles in rows of `columns`, each with its name written (light grey on black) in a
    strip of `caption_height` pixels under it. A name wider than its tile is cut at the tile's edge."""
    import PIL.Image
    import PIL.ImageDraw

    if len(tiles) != len(names):
        raise ValueError(f'{len(tiles)} tiles but {len(names)} names')
    if not tiles:
        return np.zeros((0, 0, 3), np.uint8)
    tw = tiles[0].shape[1]
    font = caption_font(font_size)
    cells = []
    for tile, name in zip(tiles, names):
        caption = PIL.Image.new('RGB', (tw, caption_height))
        PIL.ImageDraw.Draw(caption).text((3, caption_height / 2), name, fill=(220, 220, 220), font=font, anchor='lm')
        cells.append(np.concatenate([np.asarray(tile, np.uint8), np.asarray(caption)], axis=0))
    return image_grid(cells, columns)
