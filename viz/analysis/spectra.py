"""Average power spectra of a dataset or a network, saved as npz, plotted as heatmaps and slices.

Images of both kinds are compared on the same scale: uint8 units, minus the source mean, divided by the
source std (`stats`), then whitened per image, Kaiser-windowed and zero-padded (`ops.spectrum`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch

from networks.conventions import seed_latent
from networks.errors import UserError
from ops import spectrum
from viz.core.plots import plot_slices_db

__all__ = ['open_source', 'source_images', 'source_stats', 'average_standardized_spectrum', 'save_spectrum',
           'load_spectrum', 'heatmap_db', 'plot_heatmap', 'plot_slices']


def open_source(path: str, device: str | torch.device = 'cpu'):
    """('dataset', dataset) for a folder / zip of images, ('network', G) for a pickle."""
    from networks import load_generator
    if path.lower().endswith('.pkl'):
        return 'network', load_generator(path, device)
    from training.dataset import ImageFolderDataset
    return 'dataset', ImageFolderDataset(path)


@torch.no_grad()
def source_images(kind: str, source, num: int, batch_size: int = 16, seed: int = 0, psi: float = 1.0,
                  device: str | torch.device = 'cpu') -> Iterator[torch.Tensor]:
    """float32 [N, C, H, W] batches in uint8 units (0..255), `num` images in all."""
    if kind == 'dataset':
        num = min(num, len(source))
        for start in range(0, num, batch_size):
            batch = np.stack([source[i][0] for i in range(start, min(start + batch_size, num))])
            yield torch.from_numpy(batch).float()
        return
    G = source
    c = torch.zeros([1, int(getattr(G, 'c_dim', 0) or 0)], device=device)
    for start in range(0, num, batch_size):
        seeds = range(seed + start, seed + min(start + batch_size, num))
        z = torch.cat([seed_latent(G, s) for s in seeds]).to(device)
        img = G(z, c.expand(len(seeds), -1), truncation_psi=psi, noise_mode='const')
        yield (img.float() * 127.5 + 128).clamp(0, 255)


def source_stats(batches: Iterator[torch.Tensor]) -> tuple[float, float]:
    """Mean and std over all pixels (float64 sums on the CPU)."""
    total, total_sq, count = 0.0, 0.0, 0
    for x in batches:
        x = x.to('cpu', torch.float64)
        total += float(x.sum())
        total_sq += float(x.square().sum())
        count += x.numel()
    if count == 0:
        raise UserError('no images in the source')
    mean = total / count
    return mean, float(np.sqrt(max(total_sq / count - mean * mean, 0.0)))


def average_standardized_spectrum(batches: Iterator[torch.Tensor], mean: float, std: float, beta: float = 8.0,
                                  padding: int = 4, progress=None) -> tuple[np.ndarray, int, int]:
    """(shifted float64 spectrum, image size, image count) of the images standardised as (x - mean) / std.

    Linear power (not dB), zero-padded by `padding`: what `tools.avg_spectra calc` saves. The GUI's dB view
    is viz.core.analyses.mean_spectrum_db_view.
    """
    total, count, size = None, 0, 0
    for x in batches:
        part = spectrum.power_spectrum_sum((x - mean), beta=beta, padding=padding, scale=1.0 / max(std, 1e-8))
        total = part if total is None else total + part
        count += x.shape[0]
        size = x.shape[-1]
        if progress is not None:
            progress(x.shape[0])
    if total is None:
        raise UserError('no images in the source')
    return torch.fft.fftshift(total / count).numpy(), size, count


def save_spectrum(path: str, spec: np.ndarray, image_size: int, padding: int, num: int, source: str,
                  mean: float, std: float, beta: float) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez(path, spectrum=spec, image_size=image_size, padding=padding, num=num, source=source, mean=mean, std=std,
             beta=beta)


def load_spectrum(path: str) -> dict:
    if not os.path.isfile(path):
        raise UserError(f'spectrum file not found: {path!r} (make it with: python -m tools.avg_spectra calc ...)')
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (ValueError, OSError) as err:
        raise UserError(f'{path!r} is not a spectrum npz: {err}') from err


def _label(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def heatmap_db(data: dict, sigma: float = 1.0) -> np.ndarray:
    """The plotted heatmap: dB relative to the peak, Gaussian-smoothed by sigma bins."""
    db = spectrum.smooth_db(spectrum.spectrum_to_db(data['spectrum']), sigma)
    return db - db.max()


def plot_heatmap(npz_path: str, png_path: str, sigma: float = 1.0, range_db: float = 50.0) -> str:
    """Heatmap in dB (relative to the peak), smoothed, with contour lines every 10 dB."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    data = load_spectrum(npz_path)
    db = heatmap_db(data, sigma)
    nyquist = float(data['image_size']) / 2
    extent = [-nyquist, nyquist, nyquist, -nyquist]
    fig, ax = plt.subplots(figsize=(5.5, 4.8), dpi=100)
    im = ax.imshow(db, cmap='inferno', vmin=-range_db, vmax=0, extent=extent)
    coords = np.linspace(-nyquist, nyquist, db.shape[0], endpoint=False)
    ax.contour(coords, coords, db, levels=np.arange(-range_db, 0, 10), colors='white', linewidths=0.4, alpha=0.6)
    ax.set_xlabel('horizontal frequency (cycles / image)')
    ax.set_ylabel('vertical frequency (cycles / image)')
    ax.set_title(f'{_label(npz_path)}: average power spectrum (dB)')
    fig.colorbar(im, ax=ax, label='dB')
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)
    return png_path


def plot_slices(npz_paths: list[str], png_path: str, sigma: float = 0.0) -> str:
    """0- and 45-degree slices of several sources in dB, side by side."""
    curves = []
    for path in npz_paths:
        data = load_spectrum(path)
        spec = data['spectrum']
        if sigma > 0:
            spec = 10 ** (spectrum.smooth_db(spectrum.spectrum_to_db(spec), sigma) / 10)
        slices = spectrum.spectrum_slices(spec, padding=int(data['padding']))
        curves.append((_label(path), slices['freqs'], spectrum.spectrum_to_db(slices['deg0']),
                       spectrum.spectrum_to_db(slices['deg45'])))
    return plot_slices_db(curves, png_path)
