"""Latent directions: PCA recovers known axes, the disk cache, direction files, edits in layer ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis import directions as D
from analysis.latent_files import load_latent
from networks.errors import UserError
from tests.tiny_networks import tiny_generator


def _synthetic_w(n: int = 4000, dim: int = 16, seed: int = 0):
    """Gaussian samples with known principal axes (a random rotation) and standard deviations."""
    rng = np.random.default_rng(seed)
    axes, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    axes = axes.T  # rows are the axes
    stddev = np.array([6.0, 4.0, 2.5, 1.5] + [0.5] * (dim - 4))
    mean = rng.standard_normal(dim) * 3
    samples = mean + (rng.standard_normal((n, dim)) * stddev) @ axes
    return samples, axes, stddev, mean


def test_pca_recovers_known_axes() -> None:
    samples, axes, stddev, mean = _synthetic_w()
    pca = D.principal_directions(samples, 4)
    for k in range(4):
        assert abs(float(pca.components[k] @ axes[k])) >= 0.99
        assert abs(pca.stddev[k] / stddev[k] - 1) < 0.05
    np.testing.assert_allclose(np.linalg.norm(pca.components, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(pca.mean, mean, atol=0.2)
    # the sign convention: the largest entry of each axis is positive, whatever the sample order
    flipped = D.principal_directions(samples[::-1], 4)
    np.testing.assert_allclose(flipped.components, pca.components, atol=1e-4)
    assert all(c[np.abs(c).argmax()] > 0 for c in pca.components)


def test_apply_in_a_layer_range_changes_only_those_ws() -> None:
    ws = torch.randn(1, 16, 8)
    vector = np.arange(8, dtype=np.float32)
    out = D.apply_directions(ws, [(vector, 2.0, (3, 6))])
    assert torch.equal(out[:, :3], ws[:, :3]) and torch.equal(out[:, 6:], ws[:, 6:])
    torch.testing.assert_close(out[:, 3:6] - ws[:, 3:6], torch.from_numpy(2 * vector).expand(1, 3, 8))
    assert D.apply_directions(ws, [(vector, 0.0, (0, 16))]) is ws  # strength 0: the same tensor, untouched


def test_resolver_edit_on_a_network_uses_stddev_units(tmp_path) -> None:
    G = tiny_generator('sg3', seed=0)
    resolver = D.DirectionResolver(str(tmp_path), num_samples=2000)
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    out = resolver.edit(G, ws, [('pca', 1, 1.5, 'fine')])
    start, stop = 7, 16  # 'fine' for 16 ws
    assert torch.equal(out[:, :start], ws[:, :start])
    pca = resolver.pca(G)
    expected = torch.from_numpy(1.5 * pca.components[1] * pca.stddev[1])
    torch.testing.assert_close(out[:, start:stop] - ws[:, start:stop], expected.expand(1, stop - start, -1))
    assert resolver.edit(G, ws, [('pca', 0, 0.0, 'all')]) is ws
    with pytest.raises(UserError, match='out of range'):
        resolver.vector(G, 'pca', 999)


def test_resolver_holds_the_pcas_of_compared_networks_weakly(tmp_path, monkeypatch) -> None:
    # Compared panes ask for their PCAs in turn on every render: each is computed (or read from disk) once, and
    # a network that is gone releases its entry.
    import gc

    computed = []
    real = D.network_pca
    monkeypatch.setattr(D, 'network_pca', lambda G, *a, **k: computed.append(id(G)) or real(G, *a, **k))
    resolver = D.DirectionResolver(str(tmp_path), num_samples=500)
    nets = [tiny_generator('sg3', seed=s) for s in range(3)]
    for _ in range(3):
        for G in nets:
            resolver.pca(G)
    assert len(computed) == 3
    extra = [tiny_generator('sg3', seed=s) for s in (3, 4)]   # more than it holds: the oldest goes
    for G in extra:
        resolver.pca(G)
    assert len(resolver._pca) == D.PCAS_HELD
    resolver.pca(nets[0])
    assert len(computed) == 6                                # nets[0] was the least recently asked for
    del nets, extra, G
    gc.collect()
    resolver.pca(tiny_generator('sg3', seed=5))
    assert len(resolver._pca) == 1                           # dead networks' entries are dropped


def test_pca_is_cached_on_disk_per_network_weights(tmp_path, monkeypatch) -> None:
    G = tiny_generator('sg3', seed=0)
    first = D.network_pca(G, 500, str(tmp_path))
    assert len(list(tmp_path.glob('pca_*_500.npz'))) == 1

    def boom(*_a, **_k):
        raise AssertionError('sampled again although cached')

    monkeypatch.setattr(D, 'sample_w', boom)
    again = D.network_pca(G, 500, str(tmp_path))
    np.testing.assert_array_equal(first.components, again.components)
    with torch.no_grad():  # other weights: another key, so no stale axes
        G.mapping.fc0.weight.add_(0.1)
    with pytest.raises(AssertionError, match='sampled again'):
        D.network_pca(G, 500, str(tmp_path))
    # a damaged cache entry is recomputed, not an error
    monkeypatch.undo()
    entry = next(tmp_path.glob('pca_*_500.npz'))
    entry.write_bytes(b'garbage')
    G2 = tiny_generator('sg3', seed=0)
    np.testing.assert_array_equal(D.network_pca(G2, 500, str(tmp_path)).components, first.components)


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(D.sys, 'platform', 'linux')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    assert D.default_cache_dir() == str(tmp_path / D.APP_NAME)


def test_direction_files(tmp_path) -> None:
    boundary = np.random.default_rng(1).standard_normal((1, 16)).astype(np.float32)  # InterFaceGAN's shape
    np.save(tmp_path / 'b.npy', boundary)
    np.testing.assert_array_equal(D.load_direction_file(str(tmp_path / 'b.npy'), 16), boundary)
    np.save(tmp_path / 'flat.npy', boundary[0])
    assert D.load_direction_file(str(tmp_path / 'flat.npy')).shape == (1, 16)
    np.savez(tmp_path / 'many.npz', directions=np.eye(16)[:3], other=np.zeros(2))
    assert D.load_direction_file(str(tmp_path / 'many.npz'), 16).shape == (3, 16)
    cases = {
        'wrongdim.npy': (np.zeros((2, 8)), 'the network\'s w 16'),
        'nan.npy': (np.full((1, 16), np.nan), 'non-finite'),
        'cube.npy': (np.zeros((2, 2, 16)), 'got shape'),
        'text.npy': (np.array(['a', 'b']), 'must be numbers'),
    }
    for name, (array, text) in cases.items():
        np.save(tmp_path / name, array)
        with pytest.raises(UserError, match=text):
            D.load_direction_file(str(tmp_path / name), 16)
    np.save(tmp_path / 'obj.npy', np.array([{'x': 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match='never unpickled'):
        D.load_direction_file(str(tmp_path / 'obj.npy'), 16)
    np.savez(tmp_path / 'two.npz', a=np.zeros(16), b=np.zeros(16))
    with pytest.raises(UserError, match='no "directions"'):
        D.load_direction_file(str(tmp_path / 'two.npz'), 16)
    with pytest.raises(UserError, match='does not exist'):
        D.load_direction_file(str(tmp_path / 'missing.npy'))


def test_parse_direction(tmp_path) -> None:
    np.save(tmp_path / 'smile.npy', np.zeros((2, 16)))
    path = str(tmp_path / 'smile.npy')
    assert D.parse_direction('pca:3=-1.5@coarse') == ('pca', 3, -1.5, 'coarse')
    assert D.parse_direction('pca=2') == ('pca', 0, 2.0, 'all')
    assert D.parse_direction(f'{path}:1=3@4-7') == (path, 1, 3.0, '4-7')
    assert D.parse_direction(f'{path}=0.5') == (path, 0, 0.5, 'all')
    for bad, text in [('pca', 'expected SOURCE'), ('pca:0=x', 'not a number'), ('pca:0=inf', 'finite'),
                      ('pca:0=1@sideways', 'layers'), ('missing.npy=1', 'not "pca"'), ('pca:9999=1', 'out of range'),
                      (f'{tmp_path}=1', 'not "pca"')]:
        with pytest.raises(UserError, match=text):
            D.parse_direction(bad)


def test_saved_edit_is_a_latent_file(tmp_path) -> None:
    ws = torch.randn(1, 16, 16)
    path = str(tmp_path / 'edit.npz')
    D.save_edit(path, ws, [('pca', 0, 2.0, 'coarse')])
    np.testing.assert_array_equal(load_latent(path), ws[0].numpy())
    with np.load(path, allow_pickle=False) as data:
        assert '"coarse"' in str(data['edits'])
