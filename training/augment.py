"""Adaptive discriminator augmentation (ADA, Karras et al. 2020): the augmentation pipeline applied to every
image the discriminator sees, real or fake, with one overall probability multiplier `p`.

Each transform is applied to each image independently with probability `strength * p`. Geometric transforms
(x-flip, 90-degree rotation, integer translation, isotropic scale, rotation, anisotropic scale, fractional
translation) are composed into one 3x3 matrix per image and applied in a single resampling pass (reflect padding,
2x upsampling with a windowed-sinc filter, bilinear sampling, 2x downsampling), so it is differentiable with
respect to the images to second order as R1 needs. Colour transforms (brightness, contrast, luma flip, hue,
saturation) are composed into one 4x4 matrix on RGB. At `p = 0` the pipe returns its input unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from networks.persistence import persistent_class
from ops import upfirdn2d
from ops.grid_sample import grid_sample

# 12-tap Kaiser-windowed sinc, cutoff at half the Nyquist rate: the 2x interpolation / decimation filter.
_TAPS = np.arange(12) - 5.5
RESAMPLE_FILTER = (np.sinc(_TAPS / 2) * np.kaiser(12, 6.0)).tolist()

# Presets as in NVlabs' train.py ('bgc' is the default for --aug ada).
AUGPIPE_SPECS = {
    'blit': dict(xflip=1, rotate90=1, xint=1),
    'geom': dict(scale=1, rotate=1, aniso=1, xfrac=1),
    'color': dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    'bg': dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1),
    'bgc': dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
}


# ----------------------------------------------------------------------------------------------------------
# Batched homogeneous matrices (rows of the batch are per-image parameters)

def _matrix(rows, device) -> torch.Tensor:
    """rows: nested lists of scalars or [N] tensors -> [N, R, R] float32."""
    n = max((e.shape[0] for row in rows for e in row if isinstance(e, torch.Tensor)), default=1)
    elems = [e if isinstance(e, torch.Tensor) else torch.full([n], float(e), device=device)
             for row in rows for e in row]
    size = len(rows)
    return torch.stack(elems, dim=-1).reshape(n, size, size)


def translate2d(tx, ty, device):
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], device)


def scale2d(sx, sy, device):
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], device)


def rotate2d(theta, device):
    return _matrix([[torch.cos(theta), -torch.sin(theta), 0], [torch.sin(theta), torch.cos(theta), 0], [0, 0, 1]],
                   device)


def translate3d(tx, ty, tz, device):
    return _matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]], device)


def scale3d(sx, sy, sz, device):
    return _matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]], device)


def rotate3d(axis: torch.Tensor, theta: torch.Tensor, device):
    """Rotation by `theta` [N] about the unit 3-vector `axis` (Rodrigues' formula), homogeneous 4x4."""
    ax, ay, az = axis
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    return _matrix([[ax * ax * cc + c, ax * ay * cc - az * s, ax * az * cc + ay * s, 0],
                    [ay * ax * cc + az * s, ay * ay * cc + c, ay * az * cc - ax * s, 0],
                    [az * ax * cc - ay * s, az * ay * cc + ax * s, az * az * cc + c, 0],
                    [0, 0, 0, 1]], device)


# ----------------------------------------------------------------------------------------------------------

@persistent_class
class AugmentPipe(torch.nn.Module):
    """ADA augmentation. Strengths are per-transform multipliers (0 = off, 1 = on); `p` (a buffer, saved with
    the module) scales all of them and is what the training loop adapts."""

    def __init__(self, xflip: float = 0, rotate90: float = 0, xint: float = 0, xint_max: float = 0.125,
                 scale: float = 0, rotate: float = 0, aniso: float = 0, xfrac: float = 0,
                 scale_std: float = 0.2, rotate_max: float = 1, aniso_std: float = 0.2, xfrac_std: float = 0.125,
                 brightness: float = 0, contrast: float = 0, lumaflip: float = 0, hue: float = 0,
                 saturation: float = 0, brightness_std: float = 0.2, contrast_std: float = 0.5,
                 hue_max: float = 1, saturation_std: float = 1):
        super().__init__()
        self.register_buffer('p', torch.zeros([]))
        self.xflip, self.rotate90, self.xint, self.xint_max = float(xflip), float(rotate90), float(xint), xint_max
        self.scale, self.rotate, self.aniso, self.xfrac = float(scale), float(rotate), float(aniso), float(xfrac)
        self.scale_std, self.rotate_max, self.aniso_std, self.xfrac_std = scale_std, rotate_max, aniso_std, xfrac_std
        self.brightness, self.contrast, self.lumaflip = float(brightness), float(contrast), float(lumaflip)
        self.hue, self.saturation = float(hue), float(saturation)
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        self.register_buffer('resample_filter', upfirdn2d.setup_filter(RESAMPLE_FILTER), persistent=False)

    # -- random parameters --------------------------------------------------------------------------------
    def _gate(self, values: torch.Tensor, identity: float, prob: torch.Tensor | float) -> torch.Tensor:
        """Keep each sampled value with probability `prob`, else the identity value."""
        keep = torch.rand(values.shape, device=values.device) < prob
        return torch.where(keep, values, torch.full_like(values, identity))

    def geometric_matrix(self, n: int, width: int, height: int, device) -> torch.Tensor:
        """Per-image 3x3 matrices mapping output pixel coordinates (centred) to input coordinates."""
        p = self.p.to(device)
        inv = torch.eye(3, device=device).expand(n, 3, 3)
        if self.xflip > 0:
            flip = self._gate(torch.floor(torch.rand([n], device=device) * 2), 0, self.xflip * p)
            inv = inv @ scale2d(1 - 2 * flip, torch.ones_like(flip), device)
        if self.rotate90 > 0:
            quarter = self._gate(torch.floor(torch.rand([n], device=device) * 4), 0, self.rotate90 * p)
            inv = inv @ rotate2d(-math.pi / 2 * quarter, device)
        if self.xint > 0:
            shift = self._gate((torch.rand([n, 2], device=device) * 2 - 1) * self.xint_max, 0, self.xint * p)
            inv = inv @ translate2d(torch.round(shift[:, 0] * width), torch.round(shift[:, 1] * height), device)
        if self.scale > 0:
            s = self._gate(torch.exp2(torch.randn([n], device=device) * self.scale_std), 1, self.scale * p)
            inv = inv @ scale2d(1 / s, 1 / s, device)
        # Rotation is split in two (before and after the anisotropic scale) so their combined probability is p.
        rotate_prob = 1 - torch.sqrt(torch.clamp(1 - self.rotate * p, min=0))
        if self.rotate > 0:
            theta = self._gate((torch.rand([n], device=device) * 2 - 1) * math.pi * self.rotate_max, 0, rotate_prob)
            inv = inv @ rotate2d(-theta, device)
        if self.aniso > 0:
            s = self._gate(torch.exp2(torch.randn([n], device=device) * self.aniso_std), 1, self.aniso * p)
            inv = inv @ scale2d(1 / s, s, device)
        if self.rotate > 0:
            theta = self._gate((torch.rand([n], device=device) * 2 - 1) * math.pi * self.rotate_max, 0, rotate_prob)
            inv = inv @ rotate2d(-theta, device)
        if self.xfrac > 0:
            shift = self._gate(torch.randn([n, 2], device=device) * self.xfrac_std, 0, self.xfrac * p)
            inv = inv @ translate2d(shift[:, 0] * width, shift[:, 1] * height, device)
        return inv

    def color_matrix(self, n: int, device) -> torch.Tensor:
        """Per-image 4x4 matrices acting on homogeneous RGB."""
        p = self.p.to(device)
        mat = torch.eye(4, device=device).expand(n, 4, 4)
        luma_axis = torch.tensor([1.0, 1.0, 1.0, 0.0], device=device) / math.sqrt(3)
        luma_outer = torch.outer(luma_axis, luma_axis)
        if self.brightness > 0:
            b = self._gate(torch.randn([n], device=device) * self.brightness_std, 0, self.brightness * p)
            mat = translate3d(b, b, b, device) @ mat
        if self.contrast > 0:
            c = self._gate(torch.exp2(torch.randn([n], device=device) * self.contrast_std), 1, self.contrast * p)
            mat = scale3d(c, c, c, device) @ mat
        if self.lumaflip > 0:
            flip = self._gate(torch.floor(torch.rand([n], device=device) * 2), 0, self.lumaflip * p)
            mat = (torch.eye(4, device=device) - 2 * luma_outer * flip[:, None, None]) @ mat
        if self.hue > 0 and n > 0:
            theta = self._gate((torch.rand([n], device=device) * 2 - 1) * math.pi * self.hue_max, 0, self.hue * p)
            mat = rotate3d(luma_axis[:3], theta, device) @ mat
        if self.saturation > 0:
            s = self._gate(torch.exp2(torch.randn([n], device=device) * self.saturation_std), 1, self.saturation * p)
            mat = (luma_outer + (torch.eye(4, device=device) - luma_outer) * s[:, None, None]) @ mat
        return mat

    # -- application --------------------------------------------------------------------------------------
    def warp(self, images: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        """Resample `images` [N, C, H, W] at the positions given by `inv` (see geometric_matrix)."""
        n, _c, height, width = images.shape
        device = images.device
        f = self.resample_filter.to(device)
        half_w, half_h = width / 2, height / 2
        # How far the output's corners reach outside the input decides the reflect padding.
        corners = torch.tensor([[-half_w, -half_h, 1], [half_w, -half_h, 1], [half_w, half_h, 1],
                                [-half_w, half_h, 1]], device=device).T
        reach = (inv @ corners)[:, :2].abs().amax(dim=(0, 2))
        margin = int(math.ceil(max(float(reach[0]) - half_w, float(reach[1]) - half_h, 0))) + 4
        margin = min(margin, min(width, height) - 1)
        padded = F.pad(images, [margin] * 4, mode='reflect')
        upsampled = upfirdn2d.upsample2d(padded, f, up=2)
        # Output samples at twice the resolution, with a border of `k` pixels so decimation sees no zeros.
        k = 3
        xs = (torch.arange(2 * (width + 2 * k), device=device) + 0.5) / 2 - (half_w + k)
        ys = (torch.arange(2 * (height + 2 * k), device=device) + 0.5) / 2 - (half_h + k)
        gy, gx = torch.meshgrid(ys, xs, indexing='ij')
        points = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).reshape(1, -1, 3)
        src = points @ inv.transpose(1, 2)                                   # [N, P, 3]
        grid = torch.stack([src[..., 0] / (half_w + margin), src[..., 1] / (half_h + margin)], dim=-1)
        grid = grid.reshape(n, ys.numel(), xs.numel(), 2)
        sampled = grid_sample(upsampled, grid, padding_mode='reflection', align_corners=False)
        out = upfirdn2d.downsample2d(sampled, f, down=2)
        return out[:, :, k:k + height, k:k + width]

    @staticmethod
    def is_blit(inv: torch.Tensor) -> torch.Tensor:
        """[N] bool: the matrix only flips, turns by multiples of 90 degrees and shifts by whole pixels."""
        linear, shift = inv[:, :2, :2], inv[:, :2, 2]
        return ((linear.abs() < 1e-6) | ((linear.abs() - 1).abs() < 1e-6)).all(dim=(1, 2)) & \
            ((shift - shift.round()).abs() < 1e-6).all(dim=1)

    @staticmethod
    def blit(images: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        """Exact pixel copy for matrices that pass `is_blit` (square images), reflecting at the borders."""
        n, channels, height, width = images.shape
        device = images.device
        ys, xs = torch.meshgrid(torch.arange(height, device=device) + 0.5 - height / 2,
                                torch.arange(width, device=device) + 0.5 - width / 2, indexing='ij')
        points = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).reshape(1, -1, 3)
        src = (points @ inv.transpose(1, 2)).round_(decimals=3)
        sx = (src[..., 0] + width / 2 - 0.5).round().long()
        sy = (src[..., 1] + height / 2 - 0.5).round().long()

        def reflect(i, size):  # like F.pad(mode='reflect'): -1 -> 1, size -> size - 2
            period = 2 * (size - 1) if size > 1 else 1
            i = i.remainder(period)
            return torch.where(i >= size, period - i, i)
        index = (reflect(sy, height) * width + reflect(sx, width))[:, None, :].expand(n, channels, -1)
        return images.reshape(n, channels, height * width).gather(2, index).reshape(n, channels, height, width)

    @staticmethod
    def apply_color(images: torch.Tensor, mat: torch.Tensor) -> torch.Tensor:
        n, channels, height, width = images.shape
        flat = images.reshape(n, channels, height * width)
        if channels == 3:
            flat = mat[:, :3, :3] @ flat + mat[:, :3, 3:]
        elif channels == 1:
            # A gray image is r = g = b: the luma of the transformed colour is the mean row sum plus offset.
            gain = mat[:, :3, :3].sum(dim=2).mean(dim=1)[:, None, None]
            flat = flat * gain + mat[:, :3, 3].mean(dim=1)[:, None, None]
        else:
            raise ValueError(f'Colour augmentation needs 1 or 3 channels, got {channels}')
        return flat.reshape(n, channels, height, width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4:
            raise ValueError(f'AugmentPipe expects [N, C, H, W] images, got shape {tuple(images.shape)}')
        if float(self.p) <= 0:
            return images
        n, _c, height, width = images.shape
        device = images.device
        if any(s > 0 for s in (self.xflip, self.rotate90, self.xint, self.scale, self.rotate, self.aniso, self.xfrac)):
            inv = self.geometric_matrix(n, width, height, device)
            blit = self.is_blit(inv) if width == height else torch.zeros(n, dtype=torch.bool, device=device)
            if bool(blit.all()):        # whole-pixel moves only: exact, and no resampling blur
                images = self.blit(images, inv)
            elif bool(blit.any()):
                out = self.warp(images, inv)
                images = torch.where(blit[:, None, None, None], self.blit(images, inv), out)
            else:
                images = self.warp(images, inv)
        if any(s > 0 for s in (self.brightness, self.contrast, self.lumaflip, self.hue, self.saturation)):
            mat = self.color_matrix(n, device)
            if not torch.equal(mat, torch.eye(4, device=device).expand(n, 4, 4)):
                images = self.apply_color(images, mat)
        return images
