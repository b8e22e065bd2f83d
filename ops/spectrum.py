"""Average 2-D power spectra of image batches (the alias-free paper's spectral figures).

One implementation serves the `viz.avg_spectra` tool and the visualizer's FFT view: whiten each image
(subtract its mean), multiply by a separable Kaiser window, zero-pad the FFT by `padding`, and average
|FFT|^2 over images and channels in float64 on the CPU (the FFT itself runs on the images' device, in
float32 off the CPU, since several devices have no float64).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.signal
import torch

__all__ = ['power_spectrum', 'power_spectrum_sum', 'spectrum_to_db', 'spectrum_slices', 'smooth_db']


def _kaiser_window_2d(height: int, width: int, beta: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    wy = torch.as_tensor(scipy.signal.windows.kaiser(height, beta), dtype=dtype, device=device)
    wx = torch.as_tensor(scipy.signal.windows.kaiser(width, beta), dtype=dtype, device=device)
    window = wy[:, None] * wx[None, :]
    # Unit mean energy, so that white noise of variance 1 has a flat spectrum of 1 whatever the window.
    return window / window.square().mean().sqrt()


def power_spectrum_sum(images: torch.Tensor, beta: float = 8.0, padding: int = 4,
                       scale: float = 1.0) -> torch.Tensor:
    """Sum over images (and mean over channels) of the windowed, zero-padded power spectrum.

    Returns float64 on the CPU, shape [H*padding, W*padding], NOT shifted (DC at [0, 0]). Used to
    accumulate averages over many batches; `scale` multiplies the whitened images (e.g. 1 / dataset std).
    """
    if images.ndim != 4:
        raise ValueError(f'expected images [N, C, H, W], got shape {tuple(images.shape)}')
    _n, _c, height, width = images.shape
    dtype = torch.float64 if images.device.type == 'cpu' else torch.float32
    x = images.detach().to(dtype)
    x = (x - x.mean(dim=(2, 3), keepdim=True)) * scale
    x = x * _kaiser_window_2d(height, width, beta, dtype, x.device)
    fft = torch.fft.fft2(x, s=[height * padding, width * padding])
    power = (fft.real.square() + fft.imag.square()) / (height * width)
    return power.mean(dim=1).sum(dim=0).to('cpu', torch.float64)


def power_spectrum(images: torch.Tensor, beta: float = 8.0, padding: int = 4) -> torch.Tensor:
    """Mean power spectrum of `images` [N, C, H, W]: float64 CPU tensor [H*padding, W*padding].

    fftshifted: DC sits at index [H*padding//2, W*padding//2]. Whitening subtracts each image's mean;
    a Kaiser window (beta) suppresses the leakage of the image border.
    """
    spec = power_spectrum_sum(images, beta=beta, padding=padding) / images.shape[0]
    return torch.fft.fftshift(spec)


def spectrum_to_db(spec: torch.Tensor | np.ndarray, floor: float = 1e-30) -> np.ndarray:
    """10*log10(power) as float64 numpy, with zeros clamped to `floor`."""
    arr = spec.detach().cpu().numpy() if isinstance(spec, torch.Tensor) else np.asarray(spec)
    return 10.0 * np.log10(np.maximum(arr.astype(np.float64), floor))


def smooth_db(db: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of a dB heatmap (sigma in bins); sigma <= 0 returns the input."""
    if sigma <= 0:
        return db
    return scipy.ndimage.gaussian_filter(db, sigma=sigma, mode='wrap')


def spectrum_slices(spec: torch.Tensor | np.ndarray, padding: int = 4) -> dict:
    """0-degree (horizontal) and 45-degree (diagonal) slices of a shifted spectrum, linear power.

    Both slices are sampled at the same radial frequencies `freqs` in cycles per image, from 0 up to
    (not including) the Nyquist frequency; the diagonal is interpolated bilinearly.
    """
    arr = spec.detach().cpu().numpy() if isinstance(spec, torch.Tensor) else np.asarray(spec)
    arr = arr.astype(np.float64)
    size_y, size_x = arr.shape
    cy, cx = size_y // 2, size_x // 2
    num = min(size_y, size_x) // 2
    radius = np.arange(num, dtype=np.float64)  # in FFT bins
    freqs = radius / padding
    deg0 = arr[cy, cx:cx + num].copy()
    offset = radius / np.sqrt(2.0)
    coords = np.stack([cy + offset, cx + offset])
    deg45 = scipy.ndimage.map_coordinates(arr, coords, order=1, mode='nearest')
    return dict(freqs=freqs, deg0=deg0, deg45=deg45)
