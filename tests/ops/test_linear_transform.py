"""Scale, shear and mirror of the StyleGAN3 input: the composed matrices against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from networks import stylegan3
from ops.resample import linear_transform, user_transform
from tests.tiny_networks import tiny_generator


def test_identity_is_none_and_leaves_the_trained_path_exactly_as_before() -> None:
    assert linear_transform() is None
    assert linear_transform(1.0, (0.0, 0.0), (False, False)) is None
    # the matrix of translation and rotation alone, written out: [[c, s, tx], [-s, c, ty], [0, 0, 1]]
    c, s = np.cos(np.radians(30.0)), np.sin(np.radians(30.0))
    expected = np.array([[c, s, 0.25], [-s, c, -0.125], [0, 0, 1]])
    assert np.array_equal(user_transform((0.25, -0.125), 30.0, None), expected)


def test_golden_matrices() -> None:
    # scale 2 after rotating 90 degrees: R = [[0, 1], [-1, 0]], so M = [[0, 2, tx], [-2, 0, ty]]
    m = user_transform((0.1, 0.2), 90.0, linear_transform(2.0))
    assert np.allclose(m, [[0, 2, 0.1], [-2, 0, 0.2], [0, 0, 1]], atol=1e-15)
    # mirror x first, then shear x by 0.5: (x, y) -> (-x, y) -> (-x + 0.5 y, y)
    lin = linear_transform(1.0, (0.5, 0.0), (True, False))
    assert np.array_equal(lin, [[-1.0, 0.5], [0.0, 1.0]])
    assert np.array_equal(lin @ [1.0, 0.0], [-1.0, 0.0]) and np.array_equal(lin @ [0.0, 1.0], [0.5, 1.0])
    # shear y moves y by sy * x; scale applies last
    assert np.array_equal(linear_transform(3.0, (0.0, -0.25)), [[3.0, 0.0], [-0.75, 3.0]])
    assert np.array_equal(linear_transform(1.0, mirror=(False, True)), [[1.0, 0.0], [0.0, -1.0]])


@pytest.mark.parametrize('mirror', [(True, False), (False, True), (True, True)])
def test_mirror_twice_is_the_identity(mirror) -> None:
    lin = linear_transform(1.0, (0.0, 0.0), mirror)
    assert np.array_equal(lin @ lin, np.eye(2))


def test_degenerate_maps_are_refused() -> None:
    with pytest.raises(ValueError, match='scale'):
        linear_transform(0.0)
    with pytest.raises(ValueError, match='collapses'):
        linear_transform(1.0, (2.0, 0.5))


def test_the_buffer_holds_the_inverse_and_is_restored() -> None:
    G = tiny_generator('sg3', seed=0)
    before = G.synthesis.input.transform.clone()
    lin = linear_transform(0.5, (0.2, 0.0), (True, False))
    with stylegan3.input_transform(G, (0.1, 0.0), 45.0, lin) as buffer:
        expected = np.linalg.inv(user_transform((0.1, 0.0), 45.0, lin))
        assert torch.allclose(buffer.double(), torch.from_numpy(expected), atol=1e-6)
        # scale 0.5 shrinks the content: the input's frequencies double in size
        assert abs(abs(np.linalg.det(expected[:2, :2])) - 4.0) < 1e-9
    assert torch.equal(G.synthesis.input.transform, before)
