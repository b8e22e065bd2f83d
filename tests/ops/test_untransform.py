"""ops.resample.untransform: the band-limited inverse of the user's input transform (the renderer's untransform)."""

import math

import numpy as np
import pytest
import torch

from ops.resample import untransform, user_transform

FEATURES = [((2.0, 1.0), 0.3), ((-1.0, 3.0), 1.1), ((3.0, -2.0), 2.0)]  # cycles per image, phase


def _draw(size, mat=None):
    """Band-limited test image I(M^-1 p) at the pixel centres (image units, origin at the centre, y down)."""
    c = (np.arange(size) + 0.5) / size - 0.5
    gx, gy = np.meshgrid(c, c)
    if mat is not None:
        inv = np.linalg.inv(mat)
        gx, gy = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2], inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
    img = sum(np.cos(2 * math.pi * (fx * gx + fy * gy) + ph) for (fx, fy), ph in FEATURES)
    return torch.as_tensor(np.stack([img, -img, 0.5 * img]), dtype=torch.float32)


@pytest.mark.parametrize('translate,angle', [((0.0625, -0.03125), 0.0), ((0.05, 0.02), 0.0), ((0.0, 0.0), 30.0),
                                             ((0.04, -0.06), -75.0)])
def test_untransform_recovers_the_untransformed_image(translate, angle):
    size = 64
    original = _draw(size)
    drawn = _draw(size, user_transform(translate, angle))
    back, mask = untransform(drawn, translate, angle)
    assert back.shape == mask.shape == original.shape
    valid = mask > 0
    assert valid.float().mean() > 0.3
    err = (back - original)[valid].abs().max()
    assert err < 0.05, float(err)  # the features sum to amplitude 3
    # Batches work too, and the identity changes nothing inside the mask.
    same, m = untransform(original[None])
    assert (same - original[None])[m > 0].abs().max() < 1e-3
