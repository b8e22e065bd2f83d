"""The one PNG writer and the one grid of equal-sized images, by value."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest

from networks.image_write import image_grid, png_bytes, save_png


def _tiles(n: int, h: int = 3, w: int = 4, c: int = 3) -> np.ndarray:
    return np.stack([np.full((h, w, c), 10 * (i + 1), np.uint8) for i in range(n)])


def test_grid_places_images_row_by_row_and_leaves_missing_cells_zero():
    grid = image_grid(_tiles(5), columns=3)
    assert grid.shape == (6, 12, 3) and grid.dtype == np.uint8
    for i in range(5):
        r, c = divmod(i, 3)
        assert (grid[r * 3:(r + 1) * 3, c * 4:(c + 1) * 4] == 10 * (i + 1)).all(), i
    assert (grid[3:, 8:] == 0).all()
    assert image_grid(list(_tiles(2, c=1)[..., 0]), 1).shape == (6, 4)  # HW images too
    assert image_grid([], 3).shape == (0, 0, 3)


def test_grid_matches_a_reshape_when_the_grid_is_full():
    images = np.random.default_rng(0).integers(0, 256, (6, 5, 7, 3), dtype=np.uint8)
    expected = images.reshape(2, 3, 5, 7, 3).transpose(0, 2, 1, 3, 4).reshape(10, 21, 3)
    np.testing.assert_array_equal(image_grid(images, 3), expected)


def test_grid_refuses_unequal_sizes_and_no_columns():
    with pytest.raises(ValueError, match='equal sizes'):
        image_grid([np.zeros((2, 2, 3), np.uint8), np.zeros((3, 2, 3), np.uint8)], 2)
    with pytest.raises(ValueError, match='columns'):
        image_grid(_tiles(2), 0)


def test_png_round_trip_with_comment(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    path = save_png(tmp_path / 'new' / 'a.png', image, 'hello')
    with PIL.Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), image)
        assert im.text.get('Comment') == 'hello'
    (tmp_path / 'b.png').write_bytes(png_bytes(image))
    with PIL.Image.open(tmp_path / 'b.png') as im:
        np.testing.assert_array_equal(np.asarray(im), image)
        assert 'Comment' not in im.text
