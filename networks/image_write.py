"""The one PNG writer and the one grid of equal-sized images, for every layer (tools, training, the renderer's
headless views and the GUI's captures). Reading images is :mod:`networks.image_io`."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

__all__ = ['image_grid', 'png_bytes', 'save_png']


def image_grid(images: np.ndarray | Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Equal-sized HWC (or HW) images in rows of `columns`, left to right and top to bottom; cells after the
    last image stay zero. The grid has the images' dtype; no images give an empty [0, 0, 3] uint8 array."""
    if len(images) == 0:
        return np.zeros((0, 0, 3), np.uint8)
    if columns < 1:
        raise ValueError(f'columns must be at least 1, not {columns}')
    first = np.asarray(images[0])
    h, w = first.shape[:2]
    rows = -(-len(images) // columns)
    grid = np.zeros((rows * h, columns * w, *first.shape[2:]), first.dtype)
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.shape != first.shape:
            raise ValueError(f'image {i} is {img.shape}, image 0 is {first.shape}: a grid needs equal sizes')
        r, c = divmod(i, columns)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = img
    return grid


def png_bytes(image: np.ndarray, comment: str = '') -> bytes:
    """An HWC (or HW) uint8 array as PNG bytes, with a `Comment` text chunk when given."""
    buffer = io.BytesIO()
    _save(buffer, image, comment)
    return buffer.getvalue()


def save_png(path: str | os.PathLike, image: np.ndarray, comment: str = '') -> str:
    """Write an HWC (or HW) uint8 array as a PNG (with a `Comment` text chunk when given), making the folder;
    returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    _save(path, image, comment)
    return path


def _save(target, image: np.ndarray, comment: str) -> None:
    import PIL.Image
    import PIL.PngImagePlugin

    info = PIL.PngImagePlugin.PngInfo()
    if comment:
        info.add_text('Comment', comment)
    PIL.Image.fromarray(np.ascontiguousarray(image)).save(target, format='PNG', pnginfo=info)
