"""Latent and direction files (.npy / .npz) as arrays: read by networks.file_io within size caps, never
unpickled; what the projection writes (``w`` and StyleGAN2 noise maps) and what the renderer and the
direction edits read."""

from __future__ import annotations

import os

import numpy as np
import torch

from networks.errors import UserError
from networks.file_io import read_arrays

__all__ = ['MAX_LATENT_ARRAYS', 'MAX_LATENT_FILE', 'load_latent', 'load_noise_maps', 'read_array']

MAX_LATENT_FILE = 64 << 20  # bytes; a w+ of the largest networks is ~40 KB, so anything near this is not a latent
MAX_LATENT_ARRAYS = 64 << 20  # bytes of its arrays uncompressed (StyleGAN2 noise maps at 1024 px are ~11 MB)



def read_array(path: str, what: str, keys: tuple[str, ...], max_bytes: int = MAX_LATENT_FILE) -> np.ndarray:
    """The array of a .npy file, or of a .npz file (the first of ``keys`` it has, else its only array), as
    numbers; never unpickles. A file that cannot be read as .npy / .npz within the caps is a
    :class:`~networks.file_io.FileReadError`, anything else a :class:`UserError` naming ``what`` the file was
    meant to be."""
    if not os.path.exists(path):
        raise UserError(f'{what} {path!r} does not exist')
    data = read_arrays(path, max_bytes=max_bytes, max_array_bytes=max(max_bytes, MAX_LATENT_ARRAYS), what=what)
    if isinstance(data, np.ndarray):
        array = data
    else:
        found = [k for k in keys if k in data]
        if not found and len(data) != 1:
            names = ', '.join(data)
            raise UserError(f'{what} {path!r} has no "{keys[0]}" array (keys: {names[:200] or "none"})')
        array = data[found[0] if found else next(iter(data))]
    if array.dtype.kind not in 'fiu':
        raise UserError(f'{what} {path!r}: must be numbers, got dtype {array.dtype}')
    return array


def load_latent(path: str) -> np.ndarray:
    """float32 w / w+ from a projected_w.npz (key ``w``, NVlabs' name) or a .npy file; never unpickles.

    StyleGAN2 noise maps stored beside ``w`` are not part of the latent: :func:`load_noise_maps` reads them.
    """
    return read_array(path, 'latent file', ('w',)).astype(np.float32)


def load_noise_maps(path: str) -> dict[str, torch.Tensor]:
    """The StyleGAN2 noise maps a projection saved beside ``w`` (arrays ``noise/<buffer name>`` of a
    projected_w.npz) as float32 tensors; none for a .npy or an .npz without them. Never unpickles;
    :class:`UserError` for maps that are not finite 2-D numbers."""
    data = read_arrays(path, max_bytes=MAX_LATENT_FILE, max_array_bytes=MAX_LATENT_ARRAYS, what='latent file')
    if isinstance(data, np.ndarray):
        return {}
    maps = {k[len('noise/'):]: array for k, array in data.items() if k.startswith('noise/')}
    for name, array in maps.items():
        if array.dtype.kind not in 'fiu' or array.ndim != 2 or not np.isfinite(array).all():
            raise UserError(f'latent file {path!r}: noise map {name} must be finite 2-D numbers, got '
                            f'{array.dtype} {list(array.shape)}')
    return {name: torch.from_numpy(array.astype(np.float32)) for name, array in maps.items()}
