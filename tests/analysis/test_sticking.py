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


# --- the sticking ratio ------------------------------------------------------------------------------------------
class _Texture(torch.nn.Module):
    """A stand-in generator: one fixed random texture, either glued to the pixels whatever the latent (perfect
    texture sticking) or shifted by a whole number of pixels that the latent's first value sets (content that
    moves with the latent, as an equivariant network's does)."""

    def __init__(self, moves: bool) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.img_resolution, self.img_channels = 8, 0, 8, 32, 3
        self.moves = moves
        self.register_buffer('texture', torch.randn([3, 32, 32], generator=torch.Generator().manual_seed(3)))

    def forward(self, z, c, truncation_psi=1.0, noise_mode='const'):
        shifts = (z[:, 0] * 40).round().long() if self.moves else torch.zeros(len(z), dtype=torch.long)
        return torch.stack([torch.roll(self.texture, (int(s), int(s) // 2), dims=(1, 2)) for s in shifts])


def test_high_frequency_energy_of_known_images():
    from analysis.sticking import high_frequency_energy
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing='ij')
    slow = torch.cos(2 * np.pi * 0.05 * x).expand(3, 64, 64)      # 0.05 cycles/pixel: below the band
    fast = torch.cos(2 * np.pi * 0.40 * x).expand(3, 64, 64)      # 0.40 cycles/pixel: inside it
    assert high_frequency_energy(slow) < 1e-6 * high_frequency_energy(fast)
    assert high_frequency_energy(torch.full((3, 64, 64), 5.0)) == 0.0       # a constant has no detail
    assert high_frequency_energy(2 * fast) == pytest.approx(4 * high_frequency_energy(fast))


def test_sticking_ratio_is_one_for_glued_texture_and_small_for_moving_texture():
    from analysis.sticking import sticking_ratio
    glued = [sticking_ratio(_Texture(moves=False), seed, radius=0.5, num=32) for seed in range(4)]
    moving = [sticking_ratio(_Texture(moves=True), seed, radius=0.5, num=32) for seed in range(4)]
    assert glued == pytest.approx([1.0] * 4)
    assert max(moving) < 0.2          # 32 textures at scattered shifts: the average keeps little fine detail


def test_sticking_ratio_of_real_networks_and_the_command_line(tmp_path, G, capsys):
    import json

    from analysis.sticking import sticking_ratio
    from networks import save_network_pkl
    from tools import sticking

    assert sticking_ratio(G, 0, radius=0.0, num=4) == pytest.approx(1.0, rel=1e-4)   # every image the same
    assert 0 < sticking_ratio(G, 0, radius=0.5, num=4) < 1.5
    pkl = str(tmp_path / 'g.pkl')
    save_network_pkl(pkl, dict(G_ema=G))
    out = tmp_path / 'out'
    assert sticking.main(['--network', pkl, '--seed', '0', '--num', '4', '--frames', '4', '--ratio-seeds', '0-2',
                          '--outdir', str(out)]) == 0
    record = json.loads((out / 'sticking_ratio.json').read_text())
    ratios = record['networks'][pkl]['ratios']
    assert record['networks'][pkl]['seeds'] == [0, 1, 2] and len(ratios) == 3
    assert ratios[0] == pytest.approx(sticking_ratio(G, 0, radius=0.2, num=4))
    assert 'sticking ratio median' in capsys.readouterr().out
