"""Capture files without a GUI: numbered output paths and the frame of a named view.

Used by the capture widget and by headless rendering (which must not import any widget).
"""

from __future__ import annotations

import os

import numpy as np

from viz.core.tiles import side_by_side

__all__ = ['next_path', 'view_image']


def next_path(directory: str, stem: str, ext: str) -> str:
    """directory/stem-00000.ext with the first unused number."""
    os.makedirs(directory, exist_ok=True)
    existing = {f for f in os.listdir(directory) if f.startswith(stem + '-')}
    i = 0
    while f'{stem}-{i:05d}.{ext}' in existing:
        i += 1
    return os.path.join(directory, f'{stem}-{i:05d}.{ext}')


def view_image(result, view: str) -> np.ndarray | None:
    """The uint8 HWC frame of a result for a named view ('image', 'fft', 'image+fft'); None when the result lacks
    the view. 'image+fft' needs both: a recording's size is fixed by its first frame, so an image alone (a result
    rendered before the FFT was switched on) would make a whole image+fft video without its FFT."""
    if result is None or result.image is None:
        return None
    if view == 'image':
        return result.image
    if view == 'fft':
        return result.fft
    if view == 'image+fft':
        return None if result.fft is None else side_by_side(result.image, result.fft)
    return None
