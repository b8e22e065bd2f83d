"""Average 2-D power spectra of image batches (the alias-free paper's spectral figures).

The definition is NVlabs' `avg_spectra.py`: each image (already standardised by the caller) is multiplied
by a separable symmetric Kaiser window of unit energy, zero-padded at the end to `padding` times its size,
and |FFT|^2 is averaged over channels and images in float64 on the CPU (the FFT itself runs on the
images' device, in float32 off the CPU, since several devices have no float64). White noise of variance
s^2 thus has a flat spectrum of s^2. `subtract_mean=True` also removes each image's per-channel mean first
(the "whitened" variant, not NVlabs'); generator output is compared with uint8 datasets after
`quantize_uint8`, as a saved image would be.

Heatmaps and slices follow NVlabs' plots: absolute dB, DC centred with the Nyquist row/column repeated at
the end, Gaussian smoothing of `smooth` image pixels, slices from DC to the Nyquist edge (0 degrees) and
to the corner (45 degrees, sqrt(2) * N / 2 cycles per image).
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.signal
import torch

__all__ = ['quantize_uint8', 'kaiser_window_2d', 'power_spectrum', 'power_spectrum_sum', 'spectrum_to_db',
           'heatmap_db', 'heatmap_freqs', 'corner_slices', 'spectrum_slices', 'smooth_db']


def quantize_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 as a saved image would be: x * 127.5 + 128, clamped, truncated."""
    # Truncation (not rounding) is what NVlabs' gen_images / avg_spectra do: the +128 makes it round-to-nearest
    # of x * 127.5 + 127.5.
    return (images.detach() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def kaiser_window_2d(height: int, width: int, beta: float, dtype: torch.dtype = torch.float64,
                     device: torch.device | str = 'cpu') -> torch.Tensor:
    """Separable symmetric Kaiser window [H, W] whose squares sum to 1 (each 1-D factor has unit energy)."""
    wy = torch.as_tensor(scipy.signal.windows.kaiser(height, beta, sym=True), dtype=torch.float64)
    wx = torch.as_tensor(scipy.signal.windows.kaiser(width, beta, sym=True), dtype=torch.float64)
    wy = wy / wy.square().sum().sqrt()
    wx = wx / wx.square().sum().sqrt()
    return (wy[:, None] * wx[None, :]).to(dtype=dtype, device=device)


def power_spectrum_sum(images: torch.Tensor, beta: float = 8.0, padding: int = 4, scale: float = 1.0,
                       subtract_mean: bool = True) -> torch.Tensor:
    """Sum over images (and mean over channels) of the windowed, zero-padded power spectrum.

    Returns float64 on the CPU, shape [H*padding, W*padding], NOT shifted (DC at [0, 0]), NVlabs' layout.
    Used to accumulate averages over many batches; `scale` multiplies the images (e.g. 1 / dataset std).
    `subtract_mean` removes each image's per-channel mean first (the whitened variant); NVlabs' definition
    is `subtract_mean=False` on images already standardised as (x - dataset mean) / dataset std.
    """
    if images.ndim != 4:
        raise ValueError(f'expected images [N, C, H, W], got shape {tuple(images.shape)}')
    _n, _c, height, width = images.shape
    dtype = torch.float64 if images.device.type == 'cpu' else torch.float32
    x = images.detach().to(dtype)
    if subtract_mean:
        x = x - x.mean(dim=(2, 3), keepdim=True)
    x = x * scale
    x = x * kaiser_window_2d(height, width, beta, dtype, x.device)
    fft = torch.fft.fft2(x, s=[height * padding, width * padding])
    power = fft.real.square() + fft.imag.square()
    return power.mean(dim=1).sum(dim=0).to('cpu', torch.float64)


def power_spectrum(images: torch.Tensor, beta: float = 8.0, padding: int = 4,
                   subtract_mean: bool = True) -> torch.Tensor:
    """Mean power spectrum of `images` [N, C, H, W]: float64 CPU tensor [H*padding, W*padding], fftshifted.

    DC sits at index [H*padding//2, W*padding//2]. See `power_spectrum_sum` for `subtract_mean`.
    """
    spec = power_spectrum_sum(images, beta=beta, padding=padding, subtract_mean=subtract_mean) / images.shape[0]
    return torch.fft.fftshift(spec)


def spectrum_to_db(spec: torch.Tensor | np.ndarray, floor: float = 1e-30) -> np.ndarray:
    """10*log10(power) as float64 numpy, with zeros clamped to `floor`."""
    arr = spec.detach().cpu().numpy() if isinstance(spec, torch.Tensor) else np.asarray(spec)
    return 10.0 * np.log10(np.maximum(arr.astype(np.float64), floor))


def heatmap_db(spec: torch.Tensor | np.ndarray, image_size: int, smooth: float = 1.25) -> np.ndarray:
    """NVlabs' heatmap of an UNshifted spectrum [S, S]: absolute dB, [S+1, S+1], DC at [S//2, S//2].

    The first (Nyquist) row and column are repeated at the end so the map spans -N/2..N/2 inclusive;
    `smooth` is the Gaussian sigma in image pixels (S / N bins each), edges extended ('nearest').
    """
    db = np.fft.fftshift(spectrum_to_db(spec))
    bins_per_pixel = db.shape[0] / image_size
    db = np.concatenate([db, db[:1, :]], axis=0)
    db = np.concatenate([db, db[:, :1]], axis=1)
    if smooth > 0:
        db = scipy.ndimage.gaussian_filter(db, sigma=bins_per_pixel * smooth, mode='nearest')
    return db


def heatmap_freqs(hmap_size: int, image_size: int) -> np.ndarray:
    """Frequency (cycles per image) of each row / column of a heatmap from `heatmap_db`: -N/2..N/2."""
    return np.linspace(-0.5, 0.5, num=hmap_size, endpoint=True) * image_size


def corner_slices(hmap: np.ndarray, image_size: int) -> dict:
    """0- and 45-degree slices of a heatmap from `heatmap_db`, from DC outwards.

    Returns dict(freqs0, deg0, freqs45, deg45): the 0-degree slice runs along the horizontal axis to the
    Nyquist edge (N/2 cycles per image), the 45-degree one along the diagonal to the corner
    (sqrt(2) * N / 2); both have S/2 + 1 points.
    """
    size = hmap.shape[0]
    centre = size // 2
    idx = np.arange(centre, size)
    return dict(freqs0=np.linspace(0, image_size / 2, num=idx.size, endpoint=True), deg0=hmap[centre, idx].copy(),
                freqs45=np.linspace(0, image_size / np.sqrt(2), num=idx.size, endpoint=True),
                deg45=hmap[idx, idx].copy())


def smooth_db(db: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of a dB map (sigma in bins, periodic edges); sigma <= 0 returns the input."""
    if sigma <= 0:
        return db
    return scipy.ndimage.gaussian_filter(db, sigma=sigma, mode='wrap')


def spectrum_slices(spec: torch.Tensor | np.ndarray, padding: int = 4) -> dict:
    """0- and 45-degree slices of a shifted spectrum, linear power, up to (not including) Nyquist.

    Both slices share the radial frequencies `freqs` (cycles per image), so the 45-degree one stops at
    N/2, short of the corner; the diagonal is interpolated bilinearly. Kept for the visualizer's current
    spectrum panel; the analysis tools use `heatmap_db` + `corner_slices`, NVlabs' slices.
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
