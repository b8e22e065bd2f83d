"""The training loop's snapshot grids (reals.png, fakes*.png), by value."""

from __future__ import annotations

import numpy as np
import PIL.Image


def test_training_snapshot_grid(tmp_path):
    """The training loop's grids: NCHW in a value range, rounded (NVlabs' snapshots), gw columns."""
    from training.training_loop import save_image_grid

    images = np.linspace(-1, 1, 4 * 3 * 2 * 2, dtype=np.float32).reshape(4, 3, 2, 2)
    save_image_grid(images, str(tmp_path / 'g.png'), drange=(-1, 1), grid_size=(2, 2))
    with PIL.Image.open(tmp_path / 'g.png') as im:
        grid = np.asarray(im)
    u8 = np.rint((images + 1) * 127.5).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(grid[:2, 2:], u8[1])
    np.testing.assert_array_equal(grid[2:, :2], u8[2])
    save_image_grid(images[:, :1], str(tmp_path / 'grey.png'), drange=(-1, 1), grid_size=(4, 1))
    with PIL.Image.open(tmp_path / 'grey.png') as im:
        assert im.mode == 'L' and im.size == (8, 2)
