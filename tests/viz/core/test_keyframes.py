"""Keyframe loops: through every keyframe exactly, seamless at the wrap, rendered and exported, kept in sessions."""

from __future__ import annotations

import dataclasses

import numpy as np
import PIL.Image
import pytest
import torch

from networks.errors import UserError
from viz.core import keyframes as K
from viz.core.render_types import RenderArgs
from viz.core.renderer import Renderer
from viz.core.session import load_keyframes, load_session, save_session


def _keyframes(count: int = 4, num_ws: int = 3, w_dim: int = 5, seed: int = 0) -> list[K.Keyframe]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        latent = tuple(float(v) for v in rng.standard_normal(num_ws * w_dim).astype(np.float32))
        numbers = (0.1 * i, -0.05 * i, 10.0 * i, 1.0 + 0.1 * i, 0.0, 0.02 * i, 0.5 + 0.1 * i)
        edits = (('pca', 0, float(i), 'coarse'),) if i % 2 == 0 else (('pca', 1, -1.0, 'all'),)
        out.append(K.Keyframe(latent, edits, numbers, num_ws))
    return out


def _vector(args: RenderArgs, keys) -> np.ndarray:
    strengths = {(s, i, layers): v for s, i, v, layers in args.directions}
    return np.concatenate([np.asarray(args.latent), [getattr(args, n) for n in K.NUMBERS],
                           [strengths[k] for k in keys]])


@pytest.mark.parametrize('kind', ['cubic', 'slerp'])
def test_the_loop_passes_exactly_through_each_keyframe(kind) -> None:
    kfs = _keyframes()
    per = 7
    states = list(K.loop_states(RenderArgs(), kfs, per, kind))
    assert len(states) == len(kfs) * per
    for k, kf in enumerate(kfs):
        state = states[k * per]
        assert state.latent == kf.latent  # bit for bit
        assert tuple(getattr(state, n) for n in K.NUMBERS) == kf.numbers
        table = {(s, i, layers): v for s, i, v, layers in state.directions}
        for s, i, v, layers in kf.directions:
            assert table[(s, i, layers)] == v
        missing = {(s, i, layers) for s, i, _v, layers in kfs[(k + 1) % 4].directions} - \
            {(s, i, layers) for s, i, _v, layers in kf.directions}
        assert all(table[key] == 0.0 for key in missing)  # an edit a keyframe lacks is at strength 0 there


def test_cubic_loop_is_smooth_at_the_wrap() -> None:
    kfs = _keyframes(count=5)
    per = 40
    states = list(K.loop_states(RenderArgs(), kfs, per, 'cubic'))
    keys = [('pca', 0, 'coarse'), ('pca', 1, 'all')]
    x = np.stack([_vector(s, keys) for s in states])
    x = np.concatenate([x, x[:2]])  # the frames after the last one are the first ones again
    steps = np.diff(x, axis=0)
    n = len(states)
    # value: the step across the wrap is as small as any step; first difference: continuous (C1) across the wrap,
    # so the step into the wrap and the step out of it differ only by O(h^2), like anywhere else on the spline
    assert np.abs(steps[n - 1]).max() <= np.abs(steps).max()
    jump_at_wrap = np.abs(steps[n - 1] - steps[n - 2]).max()
    jumps_inside = np.abs(np.diff(steps[:n - 1], axis=0)).max()
    assert jump_at_wrap <= jumps_inside * 1.0001
    # and a C0-only curve would fail this: the piecewise-linear loop has a kink at every keyframe
    assert jumps_inside < np.abs(steps).max()


def test_catmull_rom_tangent_is_the_central_difference() -> None:
    points = np.array([[0.0], [1.0], [4.0], [9.0]])
    h = 1e-6
    slope = (K.catmull_rom(points, 1 + h) - K.catmull_rom(points, 1 - h)) / (2 * h)
    assert abs(slope[0] - (4.0 - 0.0) / 2) < 1e-4  # (P2 - P0) / 2 at P1
    wrap = (K.catmull_rom(points, h) - K.catmull_rom(points, 4 - h)) / (2 * h)
    assert abs(wrap[0] - (1.0 - 9.0) / 2) < 1e-4  # at P0 the neighbours are P3 and P1: periodic


def test_slerp_keeps_norms_between_equal_norm_rows() -> None:
    a = np.array([[3.0, 0.0], [0.0, 2.0]], np.float32)
    b = np.array([[0.0, 3.0], [2.0, 0.0]], np.float32)
    mid = K.slerp_rows(a, b, 0.5)
    np.testing.assert_allclose(np.linalg.norm(mid, axis=1), [3.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(mid[0], [3 / np.sqrt(2), 3 / np.sqrt(2)], rtol=1e-6)


def test_bad_loops_are_refused() -> None:
    kfs = _keyframes()
    with pytest.raises(UserError, match='at least 2'):
        list(K.loop_states(RenderArgs(), kfs[:1], 4))
    with pytest.raises(UserError, match='cubic or slerp'):
        list(K.loop_states(RenderArgs(), kfs, 4, 'linear'))
    odd = dataclasses.replace(kfs[1], latent=kfs[1].latent[:-5], num_ws=2)
    with pytest.raises(UserError, match='differ in size'):
        list(K.loop_states(RenderArgs(), [kfs[0], odd], 4))


def test_keyframes_from_renders_export_and_sessions(pkl_dir, tmp_path) -> None:
    torch.set_num_threads(1)
    renderer = Renderer()
    base = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'))
    shots = [dataclasses.replace(base, w0_seeds=((1, 1.0),), trunc_psi=0.7),
             dataclasses.replace(base, w0_seeds=((2, 1.0),), translate_x=0.1, rotate=20.0, mirror_x=True),
             dataclasses.replace(base, w0_seeds=((3, 0.5), (4, 0.5)), mirror_x=False, input_scale=1.2)]
    kfs = []
    images = []
    for args in shots:
        res = renderer.render(args)
        assert res.error is None and res.latent.shape == (16, 16)
        kfs.append(K.keyframe_of(args, res))
        images.append(res.image)
    # the loop's frame at each keyframe renders the image the keyframe was taken from
    per = 3
    states = list(K.loop_states(base, kfs, per))
    for k in range(len(kfs)):
        np.testing.assert_array_equal(renderer.render(states[k * per]).image, images[k])
    # a mirror flag has no in-between: each keyframe's holds until the next keyframe (it was not played at all)
    assert [s.mirror_x for s in states] == [False] * per + [True] * per + [False] * per
    # exported through the capture's video writer
    seen = []
    path = str(tmp_path / 'loop.gif')
    assert K.export_loop(renderer.render, base, kfs, path, per, progress=lambda d, t: seen.append((d, t))) == 9
    assert PIL.Image.open(path).n_frames == 9 and seen[-1] == (9, 9)
    # kept in a session file, and read back equal
    session = str(tmp_path / 's.json')
    save_session(session, base, keyframes=[K.keyframe_to_dict(kf) for kf in kfs])
    assert [K.keyframe_from_dict(d) for d in load_keyframes(session)] == kfs
    assert load_session(session)[0] == base
