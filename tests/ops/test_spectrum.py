"""Power spectra against an independent numpy implementation of NVlabs' definition, on known inputs."""

import math

import numpy as np
import pytest
import torch

from ops import spectrum


def _reference(images, mean=0.0, std=1.0, beta=8.0, interp=4, subtract_mean=False):
    """NVlabs' average power spectrum written out in numpy: unit-energy symmetric Kaiser, zero-pad at the end."""
    x = (np.asarray(images, np.float64) - mean) / std
    if subtract_mean:
        x = x - x.mean(axis=(2, 3), keepdims=True)
    n = x.shape[-1]
    w = np.kaiser(n, beta)
    w = w / np.sqrt(np.sum(w ** 2))
    f = np.fft.fft2(x * np.outer(w, w), s=(n * interp, n * interp))
    return (np.abs(f) ** 2).mean(axis=(0, 1))


def _ours(images, mean=0.0, std=1.0, beta=8.0, interp=4, subtract_mean=False):
    x = torch.as_tensor(np.asarray(images, np.float64))
    return (spectrum.power_spectrum_sum(x - mean, beta=beta, padding=interp, scale=1 / std,
                                        subtract_mean=subtract_mean) / x.shape[0]).numpy()


def _db(x):
    return 10 * np.log10(np.maximum(x, 1e-300))


def _cosines(n, size, fx, fy, amp=1.0, seed=0):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:size, 0:size]
    phases = rng.uniform(0, 2 * math.pi, n)
    img = amp * np.cos(2 * math.pi * (fx * x + fy * y) / size + phases[:, None, None])
    return np.repeat(img[:, None], 3, axis=1)


def test_sinusoid_matches_reference_and_peaks_at_the_analytic_power():
    size, interp, freq, amp = 32, 4, 5, 0.8
    imgs = _cosines(4, size, freq, 0, amp)
    ours, ref = _ours(imgs, interp=interp), _reference(imgs, interp=interp)
    assert ours.shape == (size * interp, size * interp)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12 * ref.max())
    iy, ix = np.unravel_index(int(np.argmax(ours)), ours.shape)  # unshifted: DC at [0, 0]
    assert iy == 0 and ix in (freq * interp, size * interp - freq * interp)
    w = np.kaiser(size, 8.0)
    w = w / np.sqrt(np.sum(w ** 2))
    # A cosine of amplitude A puts A/2 * sum(window) at +-f; the -f lobe adds far-sidelobe leakage only.
    assert ours[0, freq * interp] == pytest.approx((amp / 2 * w.sum() ** 2) ** 2, rel=1e-3)


def test_white_noise_is_flat_at_its_variance():
    rng = np.random.RandomState(1)
    sigma = 3.0
    imgs = rng.normal(10.0, sigma, size=(200, 1, 32, 32))
    ours = _ours(imgs, mean=10.0, interp=2)
    np.testing.assert_allclose(ours, _reference(imgs, mean=10.0, interp=2), rtol=1e-9)
    assert ours.mean() == pytest.approx(sigma ** 2, rel=0.03)  # E|F|^2 = sigma^2 * sum(w^2) = sigma^2
    shifted = np.fft.fftshift(ours)
    c = shifted.shape[0] // 2
    for ring in (shifted[c - 20:c - 10, :], shifted[:, c + 10:c + 20], shifted[:8, :8]):
        assert ring.mean() == pytest.approx(sigma ** 2, rel=0.1)
    # The dataset mean, not an image mean, is removed: an offset of 10 in the mean shows up at DC.
    biased = _ours(imgs, mean=0.0, interp=2)
    assert _db(biased[0, 0]) - _db(ours[0, 0]) > 30


def test_constant_image_has_only_dc():
    size, value, mean, std = 16, 200.0, 120.0, 60.0
    imgs = np.full((2, 3, size, size), value)
    ours = _ours(imgs, mean=mean, std=std)
    np.testing.assert_allclose(ours, _reference(imgs, mean=mean, std=std), rtol=1e-9, atol=1e-20)
    w = np.kaiser(size, 8.0)
    w = w / np.sqrt(np.sum(w ** 2))
    assert ours[0, 0] == pytest.approx(((value - mean) / std) ** 2 * w.sum() ** 4, rel=1e-9)
    db = np.fft.fftshift(_db(ours))
    c = db.shape[0] // 2
    yy, xx = np.mgrid[0:db.shape[0], 0:db.shape[1]]
    far = np.hypot(yy - c, xx - c) >= 4 * 4  # 4 cycles per image and beyond: the window's far sidelobes only
    assert db[far].max() < db[c, c] - 60
    # The whitened variant removes each image's mean: nothing is left at all.
    assert _ours(imgs, mean=mean, std=std, subtract_mean=True).max() < 1e-20


def test_uint8_quantisation_of_a_float_output():
    rng = np.random.RandomState(2)
    out = torch.as_tensor(np.clip(rng.normal(0, 0.7, size=(3, 3, 16, 16)), -1.3, 1.3), dtype=torch.float32)
    q = spectrum.quantize_uint8(out)
    expected = np.floor(np.clip(out.numpy().astype(np.float64) * 127.5 + 128, 0, 255)).astype(np.uint8)
    assert q.dtype == torch.uint8 and np.array_equal(q.numpy(), expected)
    assert q.min() == 0 and q.max() == 255  # the clamp is exercised at both ends
    # A smooth float output: quantisation adds a floor of about 1/12 (uint8 units squared) at high frequencies.
    # A product of slow cosines, so that the rounding error spreads over both axes.
    smooth = torch.as_tensor(_cosines(8, 32, 1, 0, amp=0.95, seed=3) * _cosines(8, 32, 0, 1, seed=4),
                             dtype=torch.float32)
    ref_q = _reference(np.floor(np.clip(smooth.double().numpy() * 127.5 + 128, 0, 255)), mean=128)
    ours_q = _ours(spectrum.quantize_uint8(smooth).double().numpy(), mean=128)
    np.testing.assert_allclose(ours_q, ref_q, rtol=1e-9, atol=1e-12 * ref_q.max())
    float_spec = _ours(smooth.double().numpy() * 127.5 + 128, mean=128)
    hi = np.fft.fftshift(ours_q)[:16, :16].mean()  # the far corner: 12..16 cycles per image
    assert _db(hi) - _db(np.fft.fftshift(float_spec)[:16, :16].mean()) > 40
    assert 0.3 / 12 < hi < 3 / 12


def test_heatmap_and_slices_to_the_corner():
    size, interp = 16, 4
    spec = _ours(_cosines(4, size, 3, 3, seed=4), interp=interp)
    hmap = spectrum.heatmap_db(spec, size, smooth=0)
    assert hmap.shape == (size * interp + 1,) * 2
    c = size * interp // 2
    assert hmap[c, c] == pytest.approx(_db(spec[0, 0]))  # absolute dB, DC centred
    np.testing.assert_array_equal(hmap[-1, :-1], hmap[0, :-1])  # Nyquist repeated at the end
    sl = spectrum.corner_slices(hmap, size)
    assert sl['freqs0'][-1] == size / 2 and sl['freqs45'][-1] == pytest.approx(math.sqrt(2) * size / 2)
    assert len(sl['deg45']) == len(sl['freqs45']) == c + 1
    # A (3, 3) cycles/image cosine lies on the diagonal at radius 3 * sqrt(2).
    assert sl['freqs45'][int(np.argmax(sl['deg45']))] == pytest.approx(3 * math.sqrt(2))
    freqs = spectrum.heatmap_freqs(hmap.shape[0], size)
    assert freqs[0] == -size / 2 and freqs[c] == 0 and freqs[-1] == size / 2
    # White noise of variance s^2 sits at 10 log10(s^2) dB after smoothing, not at 0 relative to a peak.
    noise = np.random.RandomState(5).normal(0, 2.0, size=(100, 1, size, size))
    flat = spectrum.heatmap_db(_ours(noise, interp=interp), size, smooth=1.25)
    assert np.median(flat) == pytest.approx(10 * math.log10(4.0), abs=0.3)


def test_legacy_shifted_helpers_still_centre_dc():
    spec = spectrum.power_spectrum(torch.as_tensor(_cosines(2, 16, 2, 0)), padding=2)
    c = spec.shape[0] // 2
    assert spec.dtype == torch.float64 and int(np.argmax(spec[c].numpy())) in (c - 4, c + 4)
    assert spectrum.spectrum_slices(spec, padding=2)['freqs'][-1] < 8
