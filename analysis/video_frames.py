"""Frames for latent interpolation videos and for equivariance videos.

Interpolation: a grid of latent walks through keyframes, cubic (periodic spline in W) or spherical
(slerp in Z between consecutive keyframes); both loop seamlessly back to the first keyframe.

Equivariance (as on the alias-free project pages): sweeps of the input's x translation, y translation
and rotation; each row shows the network's output for the moved input, the ideally transformed first
frame (band-limited resampling, `ops.resample`) and their difference, amplified, where both are valid.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import scipy.interpolate
import torch

from analysis.directions import DirectionResolver
from analysis.generate import label_for
from networks.conventions import seed_latent, to_uint8_rgb
from networks.errors import UserError
from networks.image_write import image_grid
from networks.stylegan3 import input_transform, set_input_transform
from ops import resample

__all__ = ['slerp', 'keyframe_seeds', 'interpolation_frames', 'equivariance_frames', 'SWEEPS']

SWEEPS = ('x', 'y', 'rot')


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latents a and b (rows), falling back to lerp when parallel."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(dim=-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    wa = torch.where(safe, torch.sin((1 - t) * omega) / so.clamp_min(1e-6), torch.full_like(so, 1 - t))
    wb = torch.where(safe, torch.sin(t * omega) / so.clamp_min(1e-6), torch.full_like(so, t))
    return wa * a + wb * b


def _upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    return frame if scale <= 1 else frame.repeat(scale, axis=0).repeat(scale, axis=1)


def keyframe_seeds(seeds: list[int], cells: int, num_keyframes: int, shuffle_seed: int | None = None) -> list[int]:
    """NVlabs' gen_video keyframe seeds, cell by cell (`num_keyframes` each): the first cells * num_keyframes
    seeds, cycling through `seeds` when there are fewer, then shuffled by RandomState(shuffle_seed) if given."""
    if not seeds:
        raise UserError('no seeds')
    chosen = np.array([seeds[i % len(seeds)] for i in range(cells * num_keyframes)], dtype=np.int64)
    if shuffle_seed is not None:
        np.random.RandomState(seed=shuffle_seed).shuffle(chosen)
    return [int(s) for s in chosen]


@torch.no_grad()
def interpolation_frames(G: torch.nn.Module, seeds: list[int], grid: tuple[int, int] = (1, 1),
                         num_keyframes: int | None = None, w_frames: int = 60, kind: str = 'cubic', psi: float = 1.0,
                         device: torch.device | str = 'cpu', scale: int = 1, class_idx: int | None = None,
                         directions=(), resolver: DirectionResolver | None = None,
                         shuffle_seed: int | None = None) -> Iterator[np.ndarray]:
    """HWC uint8 frames of a looping grid video (num_keyframes * w_frames frames); ``class_idx`` for conditional
    networks, ``directions`` edits (analysis.directions) applied to every frame's ws. The keyframes are
    `keyframe_seeds` (NVlabs': too few seeds for `num_keyframes` are cycled through, `shuffle_seed` shuffles
    the ones taken)."""
    grid_w, grid_h = grid
    cells = grid_w * grid_h
    if num_keyframes is None:
        if len(seeds) % cells != 0:
            raise UserError(f'{len(seeds)} seeds do not fill whole {grid_w}x{grid_h} grids; give the number of '
                            'keyframes', option='num_keyframes')
        num_keyframes = len(seeds) // cells
    needed = cells * num_keyframes
    if num_keyframes < 2:
        raise UserError(f'need at least 2 keyframes per cell of the {grid_w}x{grid_h} grid, got {num_keyframes} '
                        f'({len(seeds)} seeds)')
    c = label_for(G, class_idx).to(device)
    resolver = resolver or DirectionResolver()
    chosen = keyframe_seeds(seeds, cells, num_keyframes, shuffle_seed)
    zs = torch.cat([seed_latent(G, s) for s in chosen]).reshape(cells, num_keyframes, -1).to(device)
    if kind == 'cubic':
        ws = G.mapping(zs.reshape(needed, -1), c.expand(needed, -1), truncation_psi=psi)
        ws = ws.reshape(cells, num_keyframes, *ws.shape[1:]).cpu().numpy()
        looped = np.concatenate([ws, ws[:, :1]], axis=1)  # periodic: the last knot repeats the first
        spline = scipy.interpolate.CubicSpline(np.arange(num_keyframes + 1), looped, axis=1, bc_type='periodic')
    elif kind != 'slerp':
        raise UserError(f'unknown interpolation {kind!r}: cubic or slerp')
    for frame in range(num_keyframes * w_frames):
        x = frame / w_frames
        if kind == 'cubic':
            w = torch.from_numpy(spline(x)).float().to(device)
        else:
            k, t = int(x), x - int(x)
            z = slerp(zs[:, k], zs[:, (k + 1) % num_keyframes], t)
            w = G.mapping(z, c.expand(cells, -1), truncation_psi=psi)
        img = G.synthesis(resolver.edit(G, w, directions), noise_mode='const')
        yield _upscale(image_grid(to_uint8_rgb(img), grid_w), scale)


def _sweep_transform(sweep: str, phase: float, translate_max: float, rotate_max_deg: float):
    """(translate, angle in degrees) of a looping sweep at phase in [0, 1)."""
    if sweep == 'x':
        return (translate_max * math.sin(2 * math.pi * phase), 0.0), 0.0
    if sweep == 'y':
        return (0.0, translate_max * math.sin(2 * math.pi * phase)), 0.0
    if sweep == 'rot':
        return (0.0, 0.0), rotate_max_deg * phase
    raise UserError(f'unknown sweep {sweep!r}: choose from {", ".join(SWEEPS)}')


def _reference(orig: torch.Tensor, img: torch.Tensor, translate, angle_deg: float):
    """(ideal, output, mask): the band-limited transform of orig and the output compared with it."""
    if angle_deg == 0:
        ref, mask = resample.apply_fractional_translation(orig, *translate)
        return ref, img, mask
    angle = math.radians(angle_deg)
    ref, ref_mask = resample.apply_fractional_rotation(orig, angle)
    pseudo, pseudo_mask = resample.apply_fractional_pseudo_rotation(img, angle)
    return ref, pseudo, ref_mask * pseudo_mask


@torch.no_grad()
def equivariance_frames(G: torch.nn.Module, seed: int = 0, sweeps: tuple[str, ...] = SWEEPS, num_frames: int = 120,
                        translate_max: float = 0.125, rotate_max_deg: float = 360.0, psi: float = 1.0,
                        gain: float = 4.0, device: torch.device | str = 'cpu', scale: int = 1,
                        class_idx: int | None = None, directions=(),
                        resolver: DirectionResolver | None = None) -> Iterator[np.ndarray]:
    """HWC uint8 frames: one row per sweep, columns output | ideal | |difference| * gain."""
    c = label_for(G, class_idx).to(device)
    ws = G.mapping(seed_latent(G, seed).to(device), c, truncation_psi=psi)
    ws = (resolver or DirectionResolver()).edit(G, ws, directions)
    with input_transform(G) as transform:  # the original transform is back when the frames are done
        if transform is None:
            raise UserError('equivariance videos need a network with an input transform (StyleGAN3); '
                            'this one has none')
        orig = G.synthesis(ws, noise_mode='const').float()
        for frame in range(num_frames):
            rows = []
            for sweep in sweeps:
                translate, angle = _sweep_transform(sweep, frame / num_frames, translate_max, rotate_max_deg)
                set_input_transform(G, translate, angle)
                img = G.synthesis(ws, noise_mode='const').float()
                ref, out, mask = _reference(orig, img, translate, angle)
                diff = ((out - ref).abs().mean(dim=1, keepdim=True) * gain * mask * 2 - 1).expand_as(ref)
                invalid = torch.full_like(diff, -0.6)  # where the comparison is undefined: dark grey
                diff = torch.where(mask > 0, diff, invalid)
                ref = torch.where(mask > 0, ref, invalid)
                rows.append(np.concatenate(list(to_uint8_rgb(torch.cat([img, ref, diff]))), axis=1))
            yield _upscale(np.concatenate(rows, axis=0), scale)
