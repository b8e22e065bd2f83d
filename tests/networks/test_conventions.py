"""Seed -> z/c and float -> uint8: the conventions every tool shares, against values computed here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from networks import PickleError, UserError, load_generator, save_network_pkl
from networks.conventions import seed_latent, seed_to_zc, to_uint8


def test_seed_to_zc_is_numpy_randomstate():
    z, c = seed_to_zc(7, 5, 0)
    np.testing.assert_array_equal(z, np.random.RandomState(7).randn(5))
    assert c.shape == (0,)
    rnd = np.random.RandomState(7)
    rnd.randn(5)
    z, c = seed_to_zc(7, 5, 4)
    assert c.dtype == np.float32 and c.sum() == 1 and c[rnd.randint(4)] == 1  # class drawn after z
    np.testing.assert_array_equal(seed_to_zc(2**32 + 7, 5)[0], np.random.RandomState(7).randn(5))


def test_seed_latent_matches_seed_to_zc():
    G = torch.nn.Module()
    G.z_dim = 6
    latent = seed_latent(G, 3)
    assert latent.shape == (1, 6) and latent.dtype == torch.float32
    np.testing.assert_array_equal(latent.numpy()[0], np.random.RandomState(3).randn(6).astype(np.float32))


def test_to_uint8_values():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.999, 1.0, 3.0])
    # x * 127.5 + 128, clamped to [0, 255], truncated: -1 -> 0.5 -> 0, 0 -> 128, 1 -> 255.5 -> 255
    assert to_uint8(x).tolist() == [0, 0, 64, 128, 255, 255, 255]
    assert to_uint8(x).dtype == torch.uint8


def test_load_generator(tmp_path):
    from tests.tiny_networks import tiny_generator

    G = tiny_generator('sg3', resolution=16, channel_base=256, channel_max=16, seed=0)
    save_network_pkl(tmp_path / 'g.pkl', dict(G_ema=G))
    loaded = load_generator(tmp_path / 'g.pkl')
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    z = torch.randn(1, 16)
    torch.testing.assert_close(loaded(z, None), G(z, None))
    from networks import stylegan2

    D = stylegan2.Discriminator(c_dim=0, img_resolution=8, img_channels=3, channel_base=64, channel_max=8)
    save_network_pkl(tmp_path / 'd.pkl', dict(D=D))  # a network, but not a generator
    with pytest.raises(PickleError, match='holds no generator'):
        load_generator(tmp_path / 'd.pkl')
    save_network_pkl(tmp_path / 'wrong.pkl', dict(G_ema=D))  # the loader itself refuses a D stored as G_ema
    with pytest.raises(PickleError, match='G_ema is a Discriminator'):
        load_generator(tmp_path / 'wrong.pkl')
    with pytest.raises(UserError, match='not found'):
        load_generator(tmp_path / 'missing.pkl')


def test_class_rule():
    """One class rule: a given class wins, else the seed's own (drawn after z), else a conditional network refuses."""
    from networks.conventions import ClassError, ClassRequired, class_count, class_label, random_class_labels

    class Net(torch.nn.Module):
        def __init__(self, c_dim):
            super().__init__()
            self.z_dim, self.c_dim = 16, c_dim

    cond, plain = Net(5), Net(0)
    assert class_count(cond) == 5 and class_count(plain) == 0 and class_count(torch.nn.Module()) == 0
    for seed in (0, 1, 7, 2**32 - 1):
        np.testing.assert_array_equal(class_label(cond, None, seed)[0].numpy(), seed_to_zc(seed, 16, 5)[1])
    assert {int(class_label(cond, None, s).argmax()) for s in range(40)} == set(range(5))  # the seed decides
    np.testing.assert_array_equal(class_label(cond, 3, seed=0).numpy(), [[0, 0, 0, 1, 0]])
    assert class_label(plain, 2, 0).shape == (1, 0) and class_label(plain).shape == (1, 0)
    with pytest.raises(ClassRequired, match='conditional') as info:
        class_label(cond)
    assert info.value.option == 'class' and '--' not in str(info.value)
    for bad in (5, -1):
        with pytest.raises(ClassError, match='out of range'):
            class_label(cond, bad, 0)
    labels = random_class_labels(5, 64, torch.Generator().manual_seed(0))
    assert labels.shape == (64, 5) and (labels.sum(1) == 1).all() and (labels.sum(0) > 0).all()
    assert random_class_labels(0, 3, torch.Generator()).shape == (3, 0)
