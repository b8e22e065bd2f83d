"""Image helpers shared by the renderer, the headless tool, the GUI and the analysis tools.

One conversion from a generator's float output to displayable uint8 RGB, and one PNG writer.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from networks.conventions import to_uint8

__all__ = ['to_uint8_rgb', 'save_png', 'side_by_side']


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
