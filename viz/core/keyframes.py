"""Keyframe loops: states of the workbench (latent, direction offsets, input transform, psi) played in a loop.

A :class:`Keyframe` holds the untruncated w+ (``RenderResult.latent`` of the render it was taken from), the
direction edits, the input transform and psi. :func:`loop_states` turns a list of them into one
:class:`RenderArgs` per frame: cubic (a periodic uniform Catmull-Rom spline through every keyframe, in W and in
every number) or slerp (spherical in W between consecutive keyframes, the numbers linear). Both wrap from the
last keyframe back to the first; the cubic one is smooth there too (equal first differences). Frame
``k * frames_per_key`` is keyframe ``k`` exactly, so the loop passes through each.

Frames are rendered by the same renderer as the live view and written by the capture's
:class:`~viz.core.video_writer.VideoRecorder` (:func:`export_loop`); sessions keep the keyframes
(:func:`keyframe_to_dict` / :func:`keyframe_from_dict`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from networks.errors import UserError
from viz.core.render_types import RenderArgs, RenderResult

__all__ = ['NUMBERS', 'Keyframe', 'keyframe_of', 'catmull_rom', 'slerp_rows', 'state_at', 'loop_states', 'export_loop',
           'keyframe_to_dict', 'keyframe_from_dict']

NUMBERS = ('translate_x', 'translate_y', 'rotate', 'input_scale', 'shear_x', 'shear_y', 'trunc_psi')
INTERPOLATIONS = ('cubic', 'slerp')


@dataclass(frozen=True)
class Keyframe:
    """One state of the loop: ``latent`` the untruncated w+ flattened ([num_ws * w_dim]), ``directions`` the
    edits (their strengths are interpolated), ``numbers`` the values of :data:`NUMBERS` in that order, ``mirror``
    the input mirror flags (a flip has no in-between: the loop holds each keyframe's until the next one)."""

    latent: tuple[float, ...]
    directions: tuple[tuple[str, int, float, str], ...] = ()
    numbers: tuple[float, ...] = (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0)
    num_ws: int = 1  # rows of the w+ (slerp works row by row)
    mirror: tuple[bool, bool] = (False, False)  # mirror_x, mirror_y: not interpolated, held from each keyframe on


def keyframe_of(args: RenderArgs, result: RenderResult) -> Keyframe:
    """The keyframe of what is shown: ``result`` must be the render of ``args`` (its untruncated latent)."""
    if result is None or result.latent is None:
        raise UserError('nothing rendered yet: no latent to keep as a keyframe')
    latent = np.asarray(result.latent, np.float32)
    return Keyframe(tuple(float(v) for v in latent.ravel()), tuple(args.directions),
                    tuple(float(getattr(args, name)) for name in NUMBERS), int(latent.shape[0]),
                    (bool(args.mirror_x), bool(args.mirror_y)))


def catmull_rom(points: np.ndarray, t: float) -> np.ndarray:
    """The periodic uniform Catmull-Rom spline through ``points`` [K, ...] at time ``t`` in [0, K) (in keyframes).

    Written as P1 + t (a + t (b + t c)), so at whole times it returns the keyframe itself, bit for bit.
    """
    k = len(points)
    i = int(np.floor(t)) % k
    u = float(t - np.floor(t))
    p0, p1, p2, p3 = (points[(i + d) % k].astype(np.float64) for d in (-1, 0, 1, 2))
    if u == 0.0:
        return points[i].copy()
    a = 0.5 * (p2 - p0)
    b = 0.5 * (2 * p0 - 5 * p1 + 4 * p2 - p3)
    c = 0.5 * (3 * p1 - p0 - 3 * p2 + p3)
    return (p1 + u * (a + u * (b + u * c))).astype(points.dtype)


def slerp_rows(a: np.ndarray, b: np.ndarray, u: float) -> np.ndarray:
    """Spherical interpolation of each row of a [R, D] to b; linear where two rows are (anti)parallel."""
    if u == 0.0:
        return a.copy()
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = np.linalg.norm(a64, axis=1, keepdims=True), np.linalg.norm(b64, axis=1, keepdims=True)
    cos = np.clip((a64 * b64).sum(axis=1, keepdims=True) / np.maximum(na * nb, 1e-30), -1, 1)
    omega = np.arccos(cos)
    so = np.sin(omega)
    safe = np.abs(so) > 1e-6
    wa = np.where(safe, np.sin((1 - u) * omega) / np.where(safe, so, 1), 1 - u)
    wb = np.where(safe, np.sin(u * omega) / np.where(safe, so, 1), u)
    return (wa * a64 + wb * b64).astype(a.dtype)


def _direction_keys(keyframes: list[Keyframe]) -> list[tuple[str, int, str]]:
    return list(dict.fromkeys((src, int(idx), layers) for kf in keyframes for src, idx, _s, layers in kf.directions))


def _strengths(kf: Keyframe, keys) -> np.ndarray:
    table = {(src, int(idx), layers): float(s) for src, idx, s, layers in kf.directions}
    return np.array([table.get(key, 0.0) for key in keys], np.float64)


class _Loop:
    """The keyframes stacked once: latents [K, num_ws * w_dim], numbers and direction strengths [K, M]."""

    def __init__(self, keyframes: list[Keyframe], kind: str) -> None:
        if kind not in INTERPOLATIONS:
            raise UserError(f'unknown interpolation {kind!r}: cubic or slerp')
        if len(keyframes) < 2:
            raise UserError('a loop needs at least 2 keyframes')
        sizes = {(len(kf.latent), kf.num_ws) for kf in keyframes}
        size, rows = sizes.pop()
        if sizes or not size or rows < 1 or size % rows:
            raise UserError('the keyframes\' latents are empty or differ in size (from different networks?)')
        self.kind = kind
        self.num_ws = rows
        self.keys = _direction_keys(keyframes)
        self.latents = np.stack([np.asarray(kf.latent, np.float32) for kf in keyframes])
        self.numbers = np.stack([np.concatenate([np.asarray(kf.numbers, np.float64), _strengths(kf, self.keys)])
                                 for kf in keyframes])
        self.mirrors = [tuple(kf.mirror) for kf in keyframes]

    def state(self, base: RenderArgs, t: float) -> RenderArgs:
        """The render arguments at time ``t`` (in keyframes; whole numbers are the keyframes themselves)."""
        count = len(self.latents)
        t = float(t) % count
        if self.kind == 'cubic':
            latent, values = catmull_rom(self.latents, t), catmull_rom(self.numbers, t)
        else:
            i = int(np.floor(t))
            u, j = t - i, (i + 1) % count
            rows = self.num_ws
            latent = slerp_rows(self.latents[i].reshape(rows, -1), self.latents[j].reshape(rows, -1), u).ravel()
            values = self.numbers[i] if u == 0 else (1 - u) * self.numbers[i] + u * self.numbers[j]
        fields = dict(zip(NUMBERS, (float(v) for v in values[:len(NUMBERS)])))
        edits = tuple((src, idx, float(s), layers) for (src, idx, layers), s in zip(self.keys, values[len(NUMBERS):]))
        mirror_x, mirror_y = self.mirrors[int(np.floor(t)) % count]
        return dataclasses.replace(base, latent=tuple(float(v) for v in latent), latent_file='', directions=edits,
                                   mirror_x=mirror_x, mirror_y=mirror_y, **fields)


def state_at(base: RenderArgs, keyframes: list[Keyframe], t: float, kind: str = 'cubic') -> RenderArgs:
    """One state of the loop at time ``t`` in keyframes (the GUI's playback)."""
    return _Loop(keyframes, kind).state(base, t)


def loop_states(base: RenderArgs, keyframes: list[Keyframe], frames_per_key: int,
                kind: str = 'cubic') -> Iterator[RenderArgs]:
    """``len(keyframes) * frames_per_key`` render arguments looping through the keyframes (see the module)."""
    loop = _Loop(keyframes, kind)
    if frames_per_key < 1:
        raise UserError('frames per keyframe must be at least 1')
    return (loop.state(base, frame / frames_per_key) for frame in range(len(keyframes) * frames_per_key))


def export_loop(render: Callable[[RenderArgs], RenderResult], base: RenderArgs, keyframes: list[Keyframe],
                path: str, frames_per_key: int = 30, kind: str = 'cubic', fps: int = 30,
                progress: Callable[[int, int], bool | None] | None = None) -> int:
    """Render the loop with ``render`` (a renderer's) into ``path`` (.mp4 / .gif); returns the frames written.

    ``progress(done, total)`` may return False to stop early (the file then holds the frames so far).
    """
    from viz.core.video_writer import VideoRecorder

    total = len(keyframes) * frames_per_key
    states = loop_states(base, keyframes, frames_per_key, kind)  # checks the keyframes before a file is made
    first = next(states)
    recorder = VideoRecorder(path, fps=fps)
    try:
        for done, args in enumerate(itertools.chain([first], states), start=1):
            _add(recorder, render(args))
            if progress is not None and progress(done, total) is False:
                break
    finally:
        recorder.close()
    return recorder.num_frames


def _add(recorder, result: RenderResult) -> None:
    if result.error is not None or result.image is None:
        raise UserError(f'keyframe loop: a frame failed to render ({result.error})')
    recorder.add(result.image)


def keyframe_to_dict(kf: Keyframe) -> dict:
    """JSON-ready form for session files (the RenderArgs field names)."""
    return dict(latent=list(kf.latent), num_ws=kf.num_ws, directions=[list(d) for d in kf.directions],
                **dict(zip(NUMBERS, kf.numbers)), mirror_x=kf.mirror[0], mirror_y=kf.mirror[1])


def keyframe_from_dict(data: dict) -> Keyframe:
    """Inverse of :func:`keyframe_to_dict` (the session loader has checked the values)."""
    defaults = Keyframe(())
    numbers = tuple(float(data.get(name, default)) for name, default in zip(NUMBERS, defaults.numbers))
    directions = tuple((str(s), int(i), float(v), str(layers)) for s, i, v, layers in data.get('directions', ()))
    mirror = (bool(data.get('mirror_x', False)), bool(data.get('mirror_y', False)))   # older files: no mirror
    return Keyframe(tuple(float(v) for v in data['latent']), directions, numbers, int(data.get('num_ws', 1)), mirror)
