"""Power spectra: a pure sinusoid peaks at its frequency; white noise is flat."""

import math

import numpy as np
import torch

from ops import spectrum


def _sinusoids(n, size, fx, fy, seed=0):
    gen = torch.Generator().manual_seed(seed)
    coords = torch.arange(size, dtype=torch.float64)
    gy, gx = torch.meshgrid(coords, coords, indexing='ij')
    phases = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi
    img = torch.cos(2 * math.pi * (fx * gx + fy * gy) / size + phases[:, None, None])
    return img[:, None].repeat(1, 3, 1, 1).float()


def test_sinusoid_peaks_at_its_frequency():
    size, padding, freq = 32, 4, 5
    spec = spectrum.power_spectrum(_sinusoids(4, size, freq, 0), padding=padding)
    assert spec.dtype == torch.float64 and spec.shape == (size * padding, size * padding)
    c = size * padding // 2
    iy, ix = np.unravel_index(int(spec.argmax()), spec.shape)
    assert iy == c and abs(ix - c) == freq * padding
    slices = spectrum.spectrum_slices(spec, padding=padding)
    assert slices['freqs'][0] == 0 and slices['freqs'][-1] < size / 2
    assert slices['freqs'][int(np.argmax(slices['deg0']))] == freq
    # A diagonal sinusoid at (f, f) has radial frequency f*sqrt(2): the 45-degree slice peaks there.
    diag = spectrum.spectrum_slices(spectrum.power_spectrum(_sinusoids(4, size, 4, 4), padding=padding), padding)
    assert abs(diag['freqs'][int(np.argmax(diag['deg45']))] - 4 * math.sqrt(2)) < 0.3
    db = spectrum.spectrum_to_db(spec)
    assert db.shape == spec.shape and np.isfinite(db).all()


def test_white_noise_is_flat_and_whitened():
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(64, 1, 32, 32, generator=gen) + 5.0  # the mean is removed by whitening
    spec = spectrum.power_spectrum(noise, padding=2)
    c = spec.shape[0] // 2
    assert spec[c, c] < 3  # without whitening the DC bin would hold about 25 * 32 * 32
    ring = spec[c - 20:c + 20, c - 20:c + 20]
    assert 0.7 < float(ring.mean()) < 1.3
