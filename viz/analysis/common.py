"""Helpers shared by the analysis tools: loading a generator, parsing ranges, writing images."""

from __future__ import annotations

import os
import re

import numpy as np
import PIL.Image
import torch

from networks.errors import UserError
from networks.stylegan3 import set_input_transform  # re-exported for the tools
from training.metrics.loading import load_generator

__all__ = ['CliError', 'load_generator', 'parse_range', 'parse_vec2', 'save_png', 'to_uint8_hwc',
           'set_input_transform']


class CliError(UserError, ValueError):
    """Bad input to an analysis (a range, a vector, a flag combination); every CLI prints it as one line."""


def parse_range(text: str) -> list[int]:
    """'0-3,7,10-11' -> [0, 1, 2, 3, 7, 10, 11]."""
    out: list[int] = []
    for part in str(text).split(','):
        part = part.strip()
        if not part:
            continue
        match = re.fullmatch(r'(-?\d+)-(-?\d+)', part)
        try:
            if match:
                out.extend(range(int(match.group(1)), int(match.group(2)) + 1))
            else:
                out.append(int(part))
        except ValueError as err:
            raise CliError(f'bad range {text!r}: expected e.g. 0-3,7') from err
    if not out:
        raise CliError(f'empty range {text!r}')
    return out


def parse_vec2(text: str) -> tuple[float, float]:
    """'0.1,-0.2' -> (0.1, -0.2)."""
    parts = str(text).split(',')
    try:
        if len(parts) != 2:
            raise ValueError
        return float(parts[0]), float(parts[1])
    except ValueError as err:
        raise CliError(f'bad vector {text!r}: expected two comma-separated numbers, e.g. 0.1,0') from err


def to_uint8_hwc(images: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in [-1, 1] -> [N, H, W, 3] uint8 (grey images repeated to RGB)."""
    arr = (images.detach().float().cpu().clamp(-1, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    arr = arr.permute(0, 2, 3, 1).numpy()
    return np.repeat(arr, 3, axis=3) if arr.shape[3] == 1 else arr


def save_png(image: np.ndarray, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    PIL.Image.fromarray(np.ascontiguousarray(image), 'RGB').save(path)


