"""The one way power spectra are drawn, for the command line (`python -m tools.avg_spectra heatmap / slices`) and
the headless spectrum view alike: NVlabs' heatmap (absolute dB, filled contours every 5 dB) and the 0 / 45 degree
slices, each from the view dicts of :func:`analysis.spectra.spectrum_view` (the same arrays the GUI's panel shows).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import numpy as np

from networks.atomic_io import atomic_write

__all__ = ['heatmap_figure', 'slices_figure', 'plot_heatmap', 'plot_slices', 'png_bytes', 'wrap_title']


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def wrap_title(title: str, width_inches: float, fontsize: float) -> str:
    """`title` broken into lines that fit a figure `width_inches` wide (long pickle paths otherwise run off
    both edges: a centred title is cut, not shrunk)."""
    # DejaVu Sans: 0.55-0.65 em for most characters, wider for capitals; 0.7 em keeps margins
    chars = max(int(width_inches * 72 / (fontsize * 0.7)), 20)
    return '\n'.join(textwrap.wrap(title, chars, break_long_words=True, break_on_hyphens=False)) if title else ''


def png_bytes(fig) -> bytes:
    """`fig` as PNG bytes, closed afterwards: a figure is rendered whole before a file is touched, so the file
    can be written atomically."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format='png')
    finally:
        _pyplot().close(fig)
    return buf.getvalue()


def _save(fig, png_path: str) -> str:
    data = png_bytes(fig)
    atomic_write(png_path, lambda f: f.write(data))
    return png_path


def heatmap_figure(view: dict, title: str = '', vmin: float = -40.0, vmax: float = 20.0):
    """NVlabs' heatmap of one view (``hmap`` in absolute dB over ``freqs``): filled contours every 5 dB from
    `vmin` to `vmax`. The caller closes the figure."""
    plt = _pyplot()
    levels = np.linspace(vmin, vmax, num=int(round((vmax - vmin) / 5)) + 1, endpoint=True)
    freqs = view['freqs']
    fig, ax = plt.subplots(figsize=(6, 4.8), dpi=100)
    filled = ax.contourf(freqs, freqs, view['hmap'], levels=levels, extend='both', cmap='Blues')
    ax.contour(freqs, freqs, view['hmap'], levels=levels, linewidths=0.6, colors='midnightblue', alpha=0.3)
    ax.set_aspect('equal')
    ax.set_xlabel('horizontal frequency (cycles / image)')
    ax.set_ylabel('vertical frequency (cycles / image)')
    ax.set_title(title, fontsize=9)
    fig.colorbar(filled, ax=ax, label='dB')
    fig.tight_layout()
    return fig


def slices_figure(curves: Sequence[tuple[str, dict]], label: str, title: str = ''):
    """The 0-degree (to N/2) and 45-degree (to the corner, on its own frequencies up to sqrt(2) N / 2) slices of
    (name, view) curves side by side, in absolute dB; `label` says the definition and noise; `title`, when given,
    goes on top. The caller closes the figure."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), dpi=100, sharey=True)
    for name, view in curves:
        axes[0].plot(view['freqs0'], view['deg0'], label=name, linewidth=1)
        axes[1].plot(view['freqs45'], view['deg45'], label=name, linewidth=1)
    for ax, what in zip(axes, ('0\u00b0 slice', '45\u00b0 slice (to the corner)')):
        ax.set_title(f'{what}, {label}')
        ax.set_xlabel('frequency (cycles / image)')
        ax.grid(alpha=0.3)
        ax.legend(loc='upper right')
    axes[0].set_ylabel('power (dB)')
    if title:
        title = wrap_title(title, 12, 9)
        fig.suptitle(title, fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.045 * (title.count('\n') + 1)))
    else:
        fig.tight_layout()
    return fig


def plot_heatmap(view: dict, png_path: str, title: str = '', vmin: float = -40.0, vmax: float = 20.0) -> str:
    """:func:`heatmap_figure` written to `png_path`; returns the path."""
    return _save(heatmap_figure(view, title, vmin, vmax), png_path)


def plot_slices(curves: Sequence[tuple[str, dict]], label: str, png_path: str, title: str = '') -> str:
    """:func:`slices_figure` written to `png_path`; returns the path."""
    return _save(slices_figure(curves, label, title), png_path)
