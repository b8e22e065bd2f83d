"""The views of one render: the image or a layer's channels as uint8 RGB, its FFT, and the untransformed frame."""

from __future__ import annotations

import numpy as np
import torch

from ops.resample import user_transform

__all__ = ['make_transform', 'colormap', 'fft_view', 'untransform_image']


def make_transform(translate_x: float, translate_y: float, angle_deg: float,
                   linear: np.ndarray | None = None) -> np.ndarray:
    """3x3 user transform (`linear`, rotation by `angle_deg`, then translation in image widths), NVlabs convention."""
    return user_transform((translate_x, translate_y), angle_deg, linear)


_CMAP_CACHE: dict[str, np.ndarray] = {}


def colormap(values: np.ndarray, name: str = 'turbo') -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB through a matplotlib colour map (LUT of 256 entries)."""
    lut = _CMAP_CACHE.get(name)
    if lut is None:
        import matplotlib

        lut = (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)
        _CMAP_CACHE[name] = lut
    idx = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)) * 255 + 0.5, 0, 255).astype(np.intp)
    return lut[idx]


def fft_view(sig: torch.Tensor, beta: float = 8.0, range_db: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Log power spectrum of [C, H, W] (channels averaged), DC centred, relative to its mean, in dB.

    Returns (db float32 [H, W], uint8 RGB [H, W, 3] with -range_db..+range_db mapped to the colour map).
    """
    from ops.spectrum import power_spectrum

    spec = power_spectrum(sig[None].detach().to(torch.float32), beta=beta, padding=1)
    spec = spec / spec.mean().clamp(min=1e-30)
    db = (10 * torch.log10(spec.clamp(min=1e-30))).numpy().astype(np.float32)
    rgb = colormap((db / max(range_db, 1e-3) + 1) / 2)
    return db, rgb


def untransform_image(img: torch.Tensor, translate_x: float, translate_y: float, angle_deg: float,
                      linear: np.ndarray | None = None) -> torch.Tensor:
    """Resample the output of a transformed input back onto the untransformed frame ([C, H, W], zeros outside).

    The transformed image is T(p) = I(M^-1 p); sampling it at M p gives I(p). Bicubic interpolation: exact at
    whole-pixel shifts. Coordinates: image widths, y down, origin at the centre (as the StyleGAN3 input grid).
    """
    m = torch.as_tensor(make_transform(translate_x, translate_y, angle_deg, linear), dtype=torch.float32)
    theta = m[:2].clone()
    theta[:, 2] *= 2  # image widths -> normalised [-1, 1] coordinates
    grid = torch.nn.functional.affine_grid(theta[None], [1, *img.shape], align_corners=False)
    out = torch.nn.functional.grid_sample(img[None].to(torch.float32), grid.to(img.device), mode='bicubic',
                                          padding_mode='zeros', align_corners=False)
    return out[0]
