"""Reading back the GIFs the recording tests write: every frame as RGB and its display time."""

from __future__ import annotations

import numpy as np
import PIL.Image


def read_gif(path) -> tuple[list[np.ndarray], list[int]]:
    """(frames as uint8 RGB arrays, durations in ms) of every frame of a GIF."""
    frames, durations = [], []
    with PIL.Image.open(path) as im:
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert('RGB')))
            durations.append(im.info['duration'])
    return frames, durations
