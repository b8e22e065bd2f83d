"""Band-limited geometric transforms of images: the references of the equivariance metrics.

Coordinates follow the StyleGAN3 input layer: the image spans [-1/2, 1/2] in x (columns) and y (rows,
pointing down), so a translation of 0.125 moves the content by 1/8 of the image. A 3x3 matrix `mat`
maps input coordinates to output coordinates; the transformed image is z(p) = x(mat^-1 p).

Every function returns `(image, mask)`: the mask is 1 where the result is complete (its filter support
lies inside the source image) and 0 elsewhere, so metrics compare only the mutually valid region.

- integer translation: exact shift with zero fill;
- fractional translation: separable Lanczos-windowed sinc (a = 3, i.e. 6 taps);
- rotation (any affine map): upsample by 4 with a 2-D filter band-limited both to the input pixel
  grid and to the rotated output grid (convolution of the two oriented windowed sincs), then bilinear
  sampling at the transformed positions; `apply_fractional_pseudo_rotation` applies the matching
  band limit at the native resolution to the image produced by the network, so both sides of an
  EQ-R comparison carry the same spectrum (Karras et al. 2021, appendix E).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    'sinc', 'lanczos_window', 'rotation_matrix', 'translation_matrix', 'user_transform', 'linear_transform',
    'apply_integer_translation', 'apply_fractional_translation', 'affine_bandlimit_filter',
    'apply_affine_transformation', 'apply_fractional_rotation', 'apply_fractional_pseudo_rotation',
    'untransform',
]


def sinc(x: torch.Tensor) -> torch.Tensor:
    """Normalised sinc, sin(pi x) / (pi x)."""
    return torch.sinc(x)


def lanczos_window(x: torch.Tensor, a: float) -> torch.Tensor:
    """Lanczos window of half-width `a`: sinc(x / a) inside |x| < a, zero outside."""
    return torch.where(x.abs() < a, torch.sinc(x / a), torch.zeros_like(x))


def rotation_matrix(angle: float | torch.Tensor) -> torch.Tensor:
    """3x3 float32 rotation by `angle` radians (counter-clockwise on screen, y pointing down)."""
    angle = torch.as_tensor(angle, dtype=torch.float32)
    c, s = torch.cos(angle), torch.sin(angle)
    mat = torch.eye(3)
    mat[0, 0], mat[0, 1], mat[1, 0], mat[1, 1] = c, s, -s, c
    return mat


def translation_matrix(tx: float, ty: float) -> torch.Tensor:
    mat = torch.eye(3)
    mat[0, 2], mat[1, 2] = float(tx), float(ty)
    return mat


def user_transform(translate: tuple[float, float] = (0.0, 0.0), angle_degrees: float = 0.0,
                   linear: np.ndarray | None = None) -> np.ndarray:
    """The user's input transform (``linear``, then rotation, then translation) as float64 3x3 numpy.

    The generator's `synthesis.input.transform` buffer holds the inverse of this matrix. ``linear`` is an
    optional 2x2 map applied first (scale, shear, mirror: :func:`linear_transform`); None keeps the matrix
    exactly what rotation and translation alone give.
    """
    c, s = math.cos(math.radians(angle_degrees)), math.sin(math.radians(angle_degrees))
    mat = np.array([[c, s, float(translate[0])], [-s, c, float(translate[1])], [0.0, 0.0, 1.0]])
    if linear is not None:
        lin = np.eye(3)
        lin[:2, :2] = np.asarray(linear, dtype=np.float64)
        mat = mat @ lin
    return mat


def linear_transform(scale: float = 1.0, shear: tuple[float, float] = (0.0, 0.0),
                     mirror: tuple[bool, bool] = (False, False)) -> np.ndarray | None:
    """2x2 float64 map (mirror, then shear, then scale) of the input, or None when it is the identity.

    ``scale`` > 1 enlarges the content; ``shear`` (sx, sy) moves x by sx * y and y by sy * x; ``mirror`` flips
    x and/or y. The networks were trained to be equivariant to translation (and, config R, rotation) only:
    outputs under these maps are outside what training constrained.
    """
    scale, shear_x, shear_y = float(scale), float(shear[0]), float(shear[1])
    if scale == 1.0 and shear_x == 0.0 and shear_y == 0.0 and not mirror[0] and not mirror[1]:
        return None
    if scale == 0.0:
        raise ValueError('input scale must not be 0')
    flip = np.diag([-1.0 if mirror[0] else 1.0, -1.0 if mirror[1] else 1.0])
    shear_mat = np.array([[1.0, shear_x], [shear_y, 1.0]])
    if abs(np.linalg.det(shear_mat)) < 1e-6:
        raise ValueError(f'shear ({shear_x:g}, {shear_y:g}) collapses the plane (sx * sy = 1)')
    return scale * shear_mat @ flip


def _as_pixels(t: float | torch.Tensor, size: int) -> float:
    return float(t) * size


def _shift_zero_fill(x: torch.Tensor, ix: int, iy: int) -> torch.Tensor:
    """y[.., i, j] = x[.., i - iy, j - ix], zeros where the source is outside."""
    H, W = x.shape[-2:]
    y = torch.zeros_like(x)
    if abs(ix) < W and abs(iy) < H:
        y[..., max(iy, 0):H + min(iy, 0), max(ix, 0):W + min(ix, 0)] = \
            x[..., max(-iy, 0):H + min(-iy, 0), max(-ix, 0):W + min(-ix, 0)]
    return y


def _box_mask(x: torch.Tensor, x0: int, x1: int, y0: int, y1: int) -> torch.Tensor:
    H, W = x.shape[-2:]
    mask = torch.zeros_like(x)
    x0, x1, y0, y1 = max(x0, 0), min(x1, W), max(y0, 0), min(y1, H)
    if x0 < x1 and y0 < y1:
        mask[..., y0:y1, x0:x1] = 1
    return mask


def apply_integer_translation(x: torch.Tensor, tx: float, ty: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift by (tx, ty) image units rounded to whole pixels; exact, zero fill."""
    H, W = x.shape[-2:]
    ix, iy = round(_as_pixels(tx, W)), round(_as_pixels(ty, H))
    return _shift_zero_fill(x, ix, iy), _box_mask(x, ix, W + ix, iy, H + iy)


def _fractional_taps(frac: float, a: int, device: torch.device) -> torch.Tensor:
    """Taps w[k] (k = 0..2a-1) such that z[i] = sum_k y[i + k - a] w[k] interpolates y at i - frac."""
    m = a - torch.arange(2 * a, dtype=torch.float64)  # tap k reads y[i - m]
    h = sinc(m - frac) * lanczos_window(m - frac, a)
    return (h / h.sum()).to(device=device, dtype=torch.float32)


def apply_fractional_translation(x: torch.Tensor, tx: float, ty: float,
                                 a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift by (tx, ty) image units with a separable Lanczos-windowed sinc of half-width `a`."""
    N, C, H, W = x.shape
    px, py = _as_pixels(tx, W), _as_pixels(ty, H)
    ix, iy = math.floor(px), math.floor(py)
    fx, fy = px - ix, py - iy
    # Fractional part first (on the unshifted image, so no source sample is lost), then the exact
    # integer shift.
    y = x.reshape(N * C, 1, H, W)
    y = F.conv2d(F.pad(y, [a, a - 1, 0, 0]), _fractional_taps(fx, a, x.device).reshape(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, [0, 0, a, a - 1]), _fractional_taps(fy, a, x.device).reshape(1, 1, -1, 1))
    y = _shift_zero_fill(y.reshape(N, C, H, W), ix, iy)
    b = a - 1  # taps reach a pixels back and b forward
    mask = _box_mask(x, ix + a, W + ix - b, iy + a, H + iy - b)
    return y.to(x.dtype), mask


def _centred_circular_conv(f: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Circular 2-D convolution of two real arrays whose origin is the centre sample."""
    shape = f.shape
    fs, gs = torch.fft.ifftshift(f), torch.fft.ifftshift(g)
    return torch.fft.fftshift(torch.fft.irfft2(torch.fft.rfft2(fs) * torch.fft.rfft2(gs), s=shape))


def _oriented_grids(lin: torch.Tensor, half_width: int, up: int):
    """Input-grid and output-grid coordinates of a centred (2*half_width*up+1)^2 grid with spacing 1/up."""
    n = 2 * half_width * up + 1
    taps = (torch.arange(n, dtype=torch.float64) - n // 2) / up
    yi, xi = torch.meshgrid(taps, taps, indexing='ij')
    return xi, yi, lin[0, 0] * xi + lin[0, 1] * yi, lin[1, 0] * xi + lin[1, 1] * yi


def _crop_centre(f: torch.Tensor, half: int) -> torch.Tensor:
    c = f.shape[0] // 2
    return f[c - half:c + half + 1, c - half:c + half + 1]


@functools.lru_cache(maxsize=64)
def _affine_bandlimit_filter_cached(mat_key: tuple, a: int, amax: int, aflt: int, up: int) -> torch.Tensor:
    lin = torch.tensor(mat_key, dtype=torch.float64).reshape(2, 2)
    half = amax * up - 1  # the filter spans (2*amax*up - 1) taps, odd, origin at the centre
    # Ideal band limit: input pixel grid AND transformed output grid (product of the two square
    # pass-bands in frequency, i.e. the convolution of the two oriented sincs in space). The sinc tails
    # are long: convolve on a wide grid (aflt pixels each way) so that the circular wrap stays negligible.
    xi, yi, xo, yo = _oriented_grids(lin, aflt, up)
    ideal = _crop_centre(_centred_circular_conv(sinc(xi) * sinc(yi), sinc(xo) * sinc(yo)), half)
    # Window: the convolution of the two oriented Lanczos windows. Both have compact support (a pixels,
    # a*sqrt(2) rotated), so a grid of amax + 2a pixels each way holds their convolution without wrap.
    xi, yi, xo, yo = _oriented_grids(lin, amax + 2 * a, up)
    window = _centred_circular_conv(lanczos_window(xi, a) * lanczos_window(yi, a),
                                    lanczos_window(xo, a) * lanczos_window(yo, a))
    f = ideal * _crop_centre(window, half)
    # Each polyphase component (the taps one output phase uses when upsampling by `up`) sums to 1,
    # so constant images stay exactly constant.
    k = f.shape[0]
    for ry in range(up):
        for rx in range(up):
            f[ry:k:up, rx:k:up] /= f[ry:k:up, rx:k:up].sum()
    return f.to(torch.float32)


def affine_bandlimit_filter(mat: torch.Tensor, a: int = 3, amax: int = 16, aflt: int = 64, up: int = 4) -> torch.Tensor:
    """2-D FIR filter [K, K] (K = 2*amax*up - 1, odd) band-limiting to both grids of `mat`."""
    if not a <= amax < aflt:
        raise ValueError('need a <= amax < aflt')
    lin = torch.as_tensor(mat, dtype=torch.float64).cpu()[:2, :2]
    key = tuple(round(v, 12) for v in lin.flatten().tolist())
    return _affine_bandlimit_filter_cached(key, a, amax, aflt, up).clone()


def _upsample(x: torch.Tensor, f: torch.Tensor, up: int) -> torch.Tensor:
    """y[q] = sum_i x[i] f[q - i*up] (zero insertion, then filtering), computed polyphase: one small
    convolution per output phase at the input rate, interleaved by pixel_shuffle, so no tap ever
    multiplies an inserted zero. y[q] samples x at pixel index (q - K//2) / up; y is (W + J - 1) * up long.
    """
    N, C, H, W = x.shape
    k = f.shape[0]
    taps = -(-k // up)  # J: taps per phase
    fp = F.pad(f.to(x.device, x.dtype), [0, taps * up - k, 0, taps * up - k])
    phases = fp.reshape(taps, up, taps, up).permute(1, 3, 0, 2).reshape(up * up, 1, taps, taps)
    y = F.conv2d(F.pad(x.reshape(N * C, 1, H, W), [taps - 1] * 4), phases.flip([2, 3]))
    return F.pixel_shuffle(y, up).reshape(N, C, (H + taps - 1) * up, (W + taps - 1) * up)


def apply_affine_transformation(x: torch.Tensor, mat: torch.Tensor, up: int = 4, a: int = 3,
                                amax: int = 16, aflt: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """z(p) = x(mat^-1 p), band-limited to both pixel grids; returns (z, mask)."""
    N, C, H, W = x.shape
    mat = torch.as_tensor(mat, dtype=torch.float64).cpu()
    f = affine_bandlimit_filter(mat, a=a, amax=amax, aflt=aflt, up=up)
    k = f.shape[0]
    p = k // 2
    y = _upsample(x, f, up)  # y[q] samples x at pixel index (q - p) / up
    Ly, Lx = y.shape[-2:]

    # Source position of each output pixel centre, in image units, then in y's sample index.
    inv = torch.linalg.inv(mat)
    oy = (torch.arange(H, dtype=torch.float64) + 0.5) / H - 0.5
    ox = (torch.arange(W, dtype=torch.float64) + 0.5) / W - 0.5
    gy, gx = torch.meshgrid(oy, ox, indexing='ij')
    sx = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
    sy = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
    qx = ((sx + 0.5) * W - 0.5) * up + p
    qy = ((sy + 0.5) * H - 0.5) * up + p
    grid = torch.stack([qx / (Lx - 1) * 2 - 1, qy / (Ly - 1) * 2 - 1], dim=-1)
    grid = grid.to(device=x.device, dtype=x.dtype).unsqueeze(0).expand(N, H, W, 2)
    z = F.grid_sample(y, grid, mode='bilinear', padding_mode='zeros', align_corners=True)

    # Complete where both bilinear neighbours see the full filter support.
    lo, hi_x, hi_y = 2 * p, (W - 1) * up, (H - 1) * up
    valid = (qx.floor() >= lo) & (qx.ceil() <= hi_x) & (qy.floor() >= lo) & (qy.ceil() <= hi_y)
    mask = valid.to(device=x.device, dtype=x.dtype).expand(N, C, H, W).contiguous()
    return z, mask


def apply_fractional_rotation(x: torch.Tensor, angle: float | torch.Tensor, a: int = 3,
                              up: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate by `angle` radians about the image centre, band-limited; returns (image, mask)."""
    return apply_affine_transformation(x, rotation_matrix(angle), up=up, a=a, amax=2 * a)


def apply_fractional_pseudo_rotation(x: torch.Tensor, angle: float | torch.Tensor,
                                     a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply, without moving anything, the band limit that `apply_fractional_rotation(., angle)` imposes.

    Used on the network's own rotated output, so that it is compared with the reference at equal
    bandwidth (both limited to the input grid and to the rotated grid).
    """
    f = affine_bandlimit_filter(rotation_matrix(-torch.as_tensor(angle, dtype=torch.float32)),
                                a=a, amax=2 * a, up=1)
    N, C, H, W = x.shape
    p = f.shape[0] // 2
    w = f.to(x.device, x.dtype).flip([0, 1])[None, None]
    y = F.conv2d(F.pad(x.reshape(N * C, 1, H, W), [p, p, p, p]), w).reshape(N, C, H, W)
    return y, _box_mask(x, p, W - p, p, H - p)


def untransform(img: torch.Tensor, translate: tuple[float, float] = (0.0, 0.0), angle_degrees: float = 0.0,
                amax: int = 6, linear: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring the output of a network drawn under the user transform back onto the untransformed frame.

    With M = user_transform(translate, angle_degrees) the network draws T(p) = I(M^-1 p); this returns
    (I, mask) = apply_affine_transformation(T, M^-1): band-limited like the EQ-R reference, zero and
    mask 0 where the source is missing. M^-1 is exactly what `G.synthesis.input.transform` holds, and
    `amax=6` is the filter half-width NVlabs' visualizer uses for this view. `img` is [N, C, H, W] or
    [C, H, W] (the result has the same shape). `linear` is the optional 2x2 scale / shear / mirror map applied
    first, as in :func:`user_transform`.
    """
    squeeze = img.ndim == 3
    x = img[None] if squeeze else img
    inverse = torch.from_numpy(np.linalg.inv(user_transform(translate, angle_degrees, linear)))
    out, mask = apply_affine_transformation(x.to(torch.float32), inverse, amax=amax)
    return (out[0], mask[0]) if squeeze else (out, mask)
