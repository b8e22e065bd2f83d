"""Image helpers shared by the renderer, the headless tool, the GUI and the analysis tools.

One conversion from a generator's float output to displayable uint8 RGB, one PNG writer, and a grid of
named tiles.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from networks.conventions import to_uint8

__all__ = ['to_uint8_rgb', 'save_png', 'side_by_side', 'caption_font', 'named_tile_grid']


def to_uint8_rgb(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] (or [N, C, H, W]) float in about [-1, 1] -> uint8 HxWx3 (or NxHxWx3), contiguous.

    One channel is shown as grey, two as red and green, more than three as their first three.
    """
    img = to_uint8(x.cpu()).movedim(-3, -1).numpy()
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    elif img.shape[-1] == 2:
        img = np.concatenate([img, np.zeros_like(img[..., :1])], axis=-1)
    return np.ascontiguousarray(img[..., :3])


def save_png(path: str, image: np.ndarray, comment: str = '') -> str:
    """Write an HWC uint8 array as a PNG (with a `Comment` text chunk when given), making the folder; returns
    the path."""
    import PIL.Image
    import PIL.PngImagePlugin

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    info = PIL.PngImagePlugin.PngInfo()
    if comment:
        info.add_text('Comment', comment)
    PIL.Image.fromarray(np.ascontiguousarray(image)).save(path, pnginfo=info)
    return path


def side_by_side(a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Concatenate two HWC images horizontally, the second resized (nearest) to the first's height."""
    if b is None:
        return a
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
    th, tw = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    cell_h = th + caption_height
    grid = np.zeros((rows * cell_h, columns * tw, 3), np.uint8)
    font = caption_font(font_size)
    for i, (tile, name) in enumerate(zip(tiles, names)):
        r, c = divmod(i, columns)
        grid[r * cell_h:r * cell_h + th, c * tw:(c + 1) * tw] = tile
        caption = PIL.Image.new('RGB', (tw, caption_height))
        PIL.ImageDraw.Draw(caption).text((3, caption_height / 2), name, fill=(220, 220, 220), font=font, anchor='lm')
        grid[r * cell_h + th:(r + 1) * cell_h, c * tw:(c + 1) * tw] = np.asarray(caption)
    return grid
