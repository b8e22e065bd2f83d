"""Naive float64 numpy references, written independently of ops/: zero insertion, padding, full 2-D
convolution and decimation exactly as the definitions say. Slow on purpose."""

from __future__ import annotations

import numpy as np


def pad_crop(x: np.ndarray, x0: int, x1: int, y0: int, y1: int) -> np.ndarray:
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + max(y0, 0) + max(y1, 0), W + max(x0, 0) + max(x1, 0)))
    out[:, :, max(y0, 0): max(y0, 0) + H, max(x0, 0): max(x0, 0) + W] = x
    return out[:, :, max(-y0, 0): out.shape[2] - max(-y1, 0), max(-x0, 0): out.shape[3] - max(-x1, 0)]


def convolve_valid(x: np.ndarray, f2: np.ndarray) -> np.ndarray:
    """True 2-D convolution (kernel flipped), 'valid' region only, same kernel for every channel."""
    kh, kw = f2.shape
    Ho, Wo = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros(x.shape[:2] + (Ho, Wo))
    for i in range(kh):
        for j in range(kw):
            out += x[:, :, i: i + Ho, j: j + Wo] * f2[kh - 1 - i, kw - 1 - j]
    return out


def upfirdn2d_ref(x, f, up=1, down=1, pad=(0, 0, 0, 0), flip=False, gain=1.0) -> np.ndarray:
    x = np.asarray(x, np.float64)
    f = np.ones((1, 1)) if f is None else np.asarray(f, np.float64)
    f2 = np.outer(f, f) if f.ndim == 1 else f
    f2 = f2 * gain
    if flip:
        f2 = f2[::-1, ::-1]
    N, C, H, W = x.shape
    z = np.zeros((N, C, H * up, W * up))
    z[:, :, ::up, ::up] = x
    z = pad_crop(z, *pad)
    return convolve_valid(z, f2)[:, :, ::down, ::down]


def lrelu_ref(x, slope, gain, clamp):
    y = np.where(x >= 0, x, x * slope) * gain
    return np.clip(y, -clamp, clamp) if clamp is not None else y


def filtered_lrelu_ref(x, fu, fd, b, up, down, pad, gain, slope, clamp):
    x = np.asarray(x, np.float64)
    if b is not None:
        x = x + np.asarray(b, np.float64).reshape(1, -1, 1, 1)
    x = upfirdn2d_ref(x, fu, up=up, pad=pad, gain=up**2)
    x = lrelu_ref(x, slope, gain, clamp)
    return upfirdn2d_ref(x, fd, down=down)
