"""Capture files without a GUI: numbered output paths, PNG writing and the frame of a named view.

Used by the capture widget and by headless rendering (which must not import any widget).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ['next_path', 'save_png', 'view_image', 'side_by_side']


def next_path(directory: str, stem: str, ext: str) -> str:
    """directory/stem-00000.ext with the first unused number."""
    os.makedirs(directory, exist_ok=True)
    existing = {f for f in os.listdir(directory) if f.startswith(stem + '-')}
    i = 0
    while f'{stem}-{i:05d}.{ext}' in existing:
        i += 1
    return os.path.join(directory, f'{stem}-{i:05d}.{ext}')


def save_png(path: str, image: np.ndarray) -> None:
    """Write an HWC uint8 array as a PNG, making the folder if needed."""
    import PIL.Image

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    PIL.Image.fromarray(image).save(path)


def view_image(result, view: str) -> np.ndarray | None:
    """The uint8 HWC frame of a result for a named view ('image', 'fft', 'image+fft')."""
    if result is None or result.image is None:
        return None
    if view == 'image':
        return result.image
    if view == 'fft':
        return result.fft
    if view == 'image+fft':
        return side_by_side(result.image, result.fft)
    return None


def side_by_side(a: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Concatenate two HWC images horizontally, the second resized (nearest) to the first's height."""
    if b is None:
        return a
    if b.shape[0] != a.shape[0]:
        rows = (np.arange(a.shape[0]) * b.shape[0] // a.shape[0])
        cols = (np.arange(int(round(b.shape[1] * a.shape[0] / b.shape[0]))) * b.shape[0] // a.shape[0])
        b = b[rows][:, np.minimum(cols, b.shape[1] - 1)]
    return np.concatenate([a, b], axis=1)
