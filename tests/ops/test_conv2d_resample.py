import numpy as np
import pytest
import torch

from ops.conv2d_resample import conv2d_resample
from ops.upfirdn2d import setup_filter

from .oracle import convolve_valid, pad_crop, upfirdn2d_ref


def _reference(x, w, f, up, down, padding, groups, flip_weight):
    """The definition: zero-insert + pad + filter, full-rate correlation with w', then filter + decimate."""
    fw = f.shape[-1]
    p = [padding] * 4
    if up > 1:
        p = [p[0] + (fw + up - 1) // 2, p[1] + (fw - up) // 2, p[2] + (fw + up - 1) // 2, p[3] + (fw - up) // 2]
    if down > 1:
        p = [p[0] + (fw - down + 1) // 2, p[1] + (fw - down) // 2, p[2] + (fw - down + 1) // 2, p[3] + (fw - down) // 2]
    y = upfirdn2d_ref(x, f, up=up, pad=p, gain=up**2) if up > 1 else pad_crop(x, *p)
    wc = w if not flip_weight else w[:, :, ::-1, ::-1]  # correlation with w == convolution with flipped w
    N, C = y.shape[:2]
    O, Ig = w.shape[:2]
    out = np.zeros((N, O) + tuple(np.array(y.shape[2:]) - np.array(w.shape[2:]) + 1))
    for o in range(O):
        g = o // (O // groups)
        for i in range(Ig):
            out[:, o] += convolve_valid(y[:, g * Ig + i: g * Ig + i + 1], wc[o, i])[:, 0]
    return upfirdn2d_ref(out, f, down=down) if down > 1 else out


@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("flip_weight", [True, False])
def test_matches_definition(up, down, kernel, groups, flip_weight):
    rng = np.random.default_rng(up * 100 + down * 10 + kernel + groups)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 4 // groups, kernel, kernel))
    f = setup_filter([1, 3, 3, 1]).double().numpy()
    out = conv2d_resample(torch.tensor(x), torch.tensor(w), torch.tensor(f), up=up, down=down, padding=kernel // 2,
                          groups=groups, flip_weight=flip_weight)
    ref = _reference(x, w, f, up, down, kernel // 2, groups, flip_weight)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-9, atol=1e-9)


def test_bad_input():
    with pytest.raises(ValueError, match="channels"):
        conv2d_resample(torch.zeros(1, 3, 4, 4), torch.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError, match="needs a filter"):
        conv2d_resample(torch.zeros(1, 4, 4, 4), torch.zeros(2, 4, 3, 3), up=2)
