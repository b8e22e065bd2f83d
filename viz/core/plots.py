"""Matplotlib figures of the visualizer's power spectra for the headless tool: the slices (0 and 45 degrees, in
dB) and the 2-D heatmap with its frequency axes and a dB colour bar."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence

import numpy as np

__all__ = ['plot_slices_db', 'plot_heatmap_db', 'heatmap_figure', 'wrap_title']


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


def _save(fig, png_path: str) -> str:
    fig.get_layout_engine().set(w_pad=0.08, h_pad=0.08)  # inches: a margin around the labels at the edges
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    fig.savefig(png_path)
    _pyplot().close(fig)
    return png_path


def plot_slices_db(curves: Sequence[tuple], png_path: str, title: str = '') -> str:
    """Plot (label, freqs, deg0_db, deg45_db) or (label, freqs0, deg0_db, freqs45, deg45_db) curves: 0 degrees
    left, 45 degrees right; returns the path. The 45-degree slice of a heatmap runs to the corner, so its own
    frequencies (to sqrt(2) N / 2) must be given: on the 0-degree axis it would be squeezed by sqrt(2)."""
    plt = _pyplot()
    # constrained layout makes room for the (wrapped) suptitle; tight_layout ignores it
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100, sharey=True, layout='constrained')
    for curve in curves:
        label, freqs0, deg0 = curve[:3]
        freqs45, deg45 = (freqs0, curve[3]) if len(curve) == 4 else curve[3:]
        for ax, freqs, values in zip(axes, (freqs0, freqs45), (deg0, deg45)):
            ax.plot(freqs, values, label=label, linewidth=1)
    for ax, name in zip(axes, ('0 degrees (horizontal)', '45 degrees (diagonal)')):
        ax.set_title(name)
        ax.set_xlabel('frequency (cycles / image)')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('power (dB)')
    axes[1].legend()
    if title:
        fig.suptitle(wrap_title(title, 10, 9), fontsize=9)
    return _save(fig, png_path)


def heatmap_figure(db: np.ndarray, cycles_per_bin: float, title: str = '', range_db: float = 80.0,
                   cmap: str = 'turbo', limits_db: tuple[float, float] | None = None):
    """The matplotlib figure of `plot_heatmap_db` (the caller closes it)."""
    plt = _pyplot()
    db = np.asarray(db, np.float64)
    size = db.shape[0]
    # bin i is the frequency (i - size // 2) * cycles_per_bin; the extent runs over the bins' edges
    lo, hi = (-(size // 2) - 0.5) * cycles_per_bin, (size - size // 2 - 0.5) * cycles_per_bin
    top = float(np.nanmax(db))
    vmin, vmax = limits_db if limits_db is not None else (top - range_db, top)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=100, layout='constrained')
    shown = ax.imshow(db, extent=(lo, hi, hi, lo), cmap=cmap, vmin=vmin, vmax=vmax,
                      interpolation='nearest')
    ax.set_xlabel('horizontal frequency (cycles / image)')
    ax.set_ylabel('vertical frequency (cycles / image)')
    fig.colorbar(shown, ax=ax, label='power (dB)')
    if title:
        ax.set_title(wrap_title(title, 5, 9), fontsize=9)
    return fig


def plot_heatmap_db(db: np.ndarray, cycles_per_bin: float, png_path: str, title: str = '', range_db: float = 80.0,
                    cmap: str = 'turbo', limits_db: tuple[float, float] | None = None) -> str:
    """A centred 2-D power spectrum in dB (DC at [S//2, S//2]) with axes in cycles per image and a dB colour bar;
    returns the path.

    `cycles_per_bin`: the frequency step of one bin (1 / padding for a zero-padded spectrum); the colours span
    the top `range_db` dB, or the absolute `limits_db` (NVlabs' -40..20 dB in the GUI's spectrum view)."""
    return _save(heatmap_figure(db, cycles_per_bin, title, range_db, cmap, limits_db), png_path)
