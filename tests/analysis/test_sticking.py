"""Texture sticking by value: the neighbourhood average and the slice streak on a tiny StyleGAN3."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.sticking import neighbourhood_average, slice_streak, sticking_figure
from networks.conventions import seed_latent
from tests.tiny_networks import tiny_generator


@pytest.fixture(scope='module')
def G():
    torch.set_num_threads(1)
    return tiny_generator('sg3', resolution=16, channel_base=256, channel_max=16, seed=0)


def test_radius_zero_average_is_the_single_image(G):
    z = seed_latent(G, 5)
    single = G(z, torch.zeros([1, 0]), noise_mode='const')[0]
    average = neighbourhood_average(G, z, radius=0.0, num=3, batch_size=2)
    torch.testing.assert_close(average, single, atol=1e-5, rtol=0)
    moved = neighbourhood_average(G, z, radius=0.5, num=3, batch_size=2)
    assert (moved - single).abs().max() > 1e-2  # a real radius does change it


def test_streak_ends_are_the_centre_columns_of_both_latents(G):
    z0, z1 = seed_latent(G, 1), seed_latent(G, 2)
    c = torch.zeros([1, 0])
    img0 = G(z0, c, noise_mode='const')[0]
    img1 = G(z1, c, noise_mode='const')[0]
    streak = slice_streak(G, z0, z1, num_frames=5, batch_size=2)
    assert streak.shape == (3, 16, 5)
    torch.testing.assert_close(streak[:, :, 0], img0[:, :, 8], atol=1e-5, rtol=0)
    torch.testing.assert_close(streak[:, :, -1], img1[:, :, 8], atol=1e-5, rtol=0)
    assert (img0[:, :, 8] - img1[:, :, 8]).abs().max() > 1e-2
    left = slice_streak(G, 1, 2, num_frames=5, column=0)  # seeds work as latents, any column can be taken
    torch.testing.assert_close(left[:, :, 0], img0[:, :, 0], atol=1e-5, rtol=0)


def test_figure_is_uint8_of_the_same_values(G):
    parts = sticking_figure(G, seed=1, radius=0.0, num=2, num_frames=3)
    single = G(seed_latent(G, 1), torch.zeros([1, 0]), noise_mode='const')[0]
    expected = (single * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(parts['central'], expected)
    assert np.abs(parts['average'].astype(int) - expected).max() <= 1
    assert parts['streak'].shape == (16, 3, 3)
