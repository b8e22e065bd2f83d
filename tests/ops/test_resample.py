"""Band-limited reference transforms reproduce analytically transformed test patterns."""

import math

import pytest
import torch

from ops import resample
from tests.training.metrics.fakes import band_limited_pattern


def _psnr(a, b, mask):
    mse = float(((a - b).square() * mask).sum() / mask.sum())
    return 20 * math.log10(2) - 10 * math.log10(max(mse, 1e-30))


def test_integer_translation_equals_shifted_image():
    x = torch.randn(2, 3, 16, 16)
    z, mask = resample.apply_integer_translation(x, 3 / 16, -2 / 16)
    assert torch.equal(z[:, :, :14, 3:], x[:, :, 2:, :13])
    assert mask[:, :, :14, 3:].all() and mask.sum() == 2 * 3 * 14 * 13
    assert (z * (1 - mask)).abs().max() == 0


@pytest.mark.parametrize('shift', [(0.1, -0.05), (-0.013, 0.07), (0.125, 0.125), (1 / 64, 0.0)])
def test_fractional_translation_reproduces_band_limited_pattern(shift):
    x = band_limited_pattern(64, max_freq=4.0)
    z, mask = resample.apply_fractional_translation(x, *shift)
    ref = band_limited_pattern(64, resample.translation_matrix(*shift), max_freq=4.0)
    assert mask.mean() > 0.6
    assert _psnr(z, ref, mask) > 50  # Lanczos-3: about 55-60 dB at these frequencies (bilinear: about 35)


def test_fractional_translation_by_whole_pixels_is_exact():
    x = torch.randn(1, 2, 16, 16)
    z, mask = resample.apply_fractional_translation(x, 2 / 16, -1 / 16)
    zi, _ = resample.apply_integer_translation(x, 2 / 16, -1 / 16)
    torch.testing.assert_close(z * mask, zi * mask, atol=1e-6, rtol=0)


@pytest.mark.parametrize('angle', [0.3, 2.0, -2.9])
def test_rotation_reproduces_band_limited_pattern(angle):
    x = band_limited_pattern(64, max_freq=4.0)
    z, mask = resample.apply_fractional_rotation(x, angle)
    ref = band_limited_pattern(64, resample.rotation_matrix(angle), max_freq=4.0)
    assert 0.5 < mask.mean() < 0.8
    assert _psnr(z, ref, mask) > 60
    pseudo, pmask = resample.apply_fractional_pseudo_rotation(ref, angle)
    assert _psnr(pseudo, ref, pmask) > 65  # the band limit leaves band-limited content alone


def test_rotation_by_zero_is_identity_and_constant_stays_constant():
    x = band_limited_pattern(24, max_freq=3.0)
    z, mask = resample.apply_fractional_rotation(x, 0.0)
    torch.testing.assert_close(z * mask, x * mask, atol=1e-3, rtol=0)
    c, cmask = resample.apply_fractional_rotation(torch.ones(1, 1, 24, 24), 1.0)
    torch.testing.assert_close(c * cmask, cmask, atol=1e-5, rtol=0)


def test_user_transform_inverse_convention():
    mat = resample.user_transform((0.1, 0.2), 90.0)
    assert mat.shape == (3, 3)
    assert abs(mat[0, 2] - 0.1) < 1e-12 and abs(mat[1, 2] - 0.2) < 1e-12
    assert abs(mat[0, 1] - 1.0) < 1e-7  # rotation_matrix convention: [[c, s], [-s, c]]
