"""The slice plot of power spectra (0 and 45 degrees, in dB), shared by the headless tool and avg_spectra."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ['plot_slices_db']


def plot_slices_db(curves: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]], png_path: str,
                   title: str = '') -> str:
    """Plot (label, freqs, deg0_db, deg45_db) curves: 0 degrees left, 45 degrees right; returns the path."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100, sharey=True)
    for label, freqs, deg0, deg45 in curves:
        for ax, values in zip(axes, (deg0, deg45)):
            ax.plot(freqs, values, label=label, linewidth=1)
    for ax, name in zip(axes, ('0 degrees (horizontal)', '45 degrees (diagonal)')):
        ax.set_title(name)
        ax.set_xlabel('frequency (cycles / image)')
        ax.grid(alpha=0.3)
    axes[0].set_ylabel('power (dB)')
    axes[1].legend()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)
    return png_path
