"""Low-pass filter design for the alias-free generator (Karras et al. 2021, Sec. 3 and App. C)."""

from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special
import torch


def design_lowpass_filter(
    numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False
) -> torch.Tensor | None:
    """Kaiser-windowed low-pass filter with ``numtaps`` taps, or None when a single tap (identity) is asked.

    ``cutoff`` and ``width`` (transition band) are in the same units as the sampling rate ``fs``.
    Separable (T): a 1-D windowed sinc from scipy's firwin. Radial (R): a 2-D windowed jinc,
    ``J1(2 pi fc r) / (pi r)`` times the separable Kaiser window, normalised to unit DC gain.
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return None
    if not radial:
        f = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(f, dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    f = np.where(r == 0, cutoff, f)  # limit of J1(2 pi fc r) / (pi r) at r = 0
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f = f * np.outer(w, w)
    f = f / np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)
