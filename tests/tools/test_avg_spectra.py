"""python -m tools.avg_spectra: NVlabs' definition end to end, recorded metadata, refusing mixed definitions."""

import math
import os

import numpy as np
import PIL.Image
import pytest
import torch

from analysis import spectra
from tests.tiny_networks import write_tiny_networks
from tests.training.metrics.fakes import write_image_folder
from tools import avg_spectra

FREQ = 5  # cycles per image


def _sinusoid(i, size=32):
    x = np.arange(size)
    phase = 2 * math.pi * ((i * 0.37) % 1)
    row = 128 + 100 * np.cos(2 * math.pi * FREQ * x / size + phase) + 10 * (i % 3)
    return np.repeat(np.tile(row, (size, 1))[:, :, None], 3, axis=2).round().astype(np.uint8)


def _reference(images, mean, std, beta=8.0, interp=4):
    """NVlabs' definition in numpy (see tests/ops/test_spectrum.py)."""
    x = (np.asarray(images, np.float64) - mean) / std
    n = x.shape[-1]
    w = np.kaiser(n, beta)
    w = w / np.sqrt(np.sum(w ** 2))
    return (np.abs(np.fft.fft2(x * np.outer(w, w), s=(n * interp,) * 2)) ** 2).mean(axis=(0, 1))


def _read_folder(folder, names=None):
    names = sorted(os.listdir(folder)) if names is None else names
    return np.stack([np.asarray(PIL.Image.open(os.path.join(folder, n))).transpose(2, 0, 1) for n in names])


@pytest.fixture(scope='module')
def sinusoids(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp('data') / 'sin', num=12, resolution=32, pattern=_sinusoid)


def test_dataset_spectrum_is_nvlabs_definition_and_records_how(sinusoids, tmp_path, capsys):
    npz = str(tmp_path / 'sin.npz')
    assert avg_spectra.main(['calc', '--source', sinusoids, '--dest', npz, '--mean', '120', '--std', '70']) == 0
    assert "NVlabs definition; 12 images" in capsys.readouterr().out
    data = spectra.load_spectrum(npz)
    assert (data['definition'], data['num'], data['seed'], data['image_size'], data['interp']) == ('nvlabs', 12, 0,
                                                                                                     32, 4)
    assert data['source'] == sinusoids
    ref = _reference(_read_folder(sinusoids), 120, 70)
    np.testing.assert_allclose(data['spectrum'], ref, rtol=1e-9, atol=1e-12 * ref.max())
    view = spectra.spectrum_view(data, smooth=0)
    assert view['freqs0'][int(np.argmax(view['deg0'][4:])) + 4] == FREQ  # past the DC lobe
    assert view['freqs45'][-1] == pytest.approx(32 / math.sqrt(2))
    direct = spectra.dataset_spectrum(sinusoids, mean=120, std=70)  # the library call the visualizer will use
    assert direct['definition'] == 'nvlabs' and np.array_equal(direct['spectrum'], data['spectrum'])
    heat, slices = tmp_path / 'heat.png', tmp_path / 'slices.png'
    assert avg_spectra.main(['heatmap', npz, '--png', str(heat)]) == 0
    assert avg_spectra.main(['slices', npz, npz, '--png', str(slices), '--smooth', '0.5']) == 0
    assert PIL.Image.open(heat).size[0] > 100 and PIL.Image.open(slices).size[0] > 100


def test_white_noise_dataset_is_flat_at_its_variance(tmp_path, capsys):
    # Uniform uint8 noise, independent per pixel and channel: variance (256^2 - 1) / 12 in uint8 units.
    rng = np.random.RandomState(11)
    noise = write_image_folder(tmp_path / 'noise', num=40, resolution=32,
                               pattern=lambda i: rng.randint(0, 256, (32, 32, 3)).astype(np.uint8))
    npz = str(tmp_path / 'noise.npz')
    mean, std = 127.5, 50.0
    assert avg_spectra.main(['calc', '--source', noise, '--dest', npz, '--mean', str(mean), '--std', str(std)]) == 0
    capsys.readouterr()
    data = spectra.load_spectrum(npz)
    ref = _reference(_read_folder(noise), mean, std)
    np.testing.assert_allclose(data['spectrum'], ref, rtol=1e-9, atol=1e-12 * ref.max())
    level = (256 ** 2 - 1) / 12 / std ** 2  # E|F|^2 = variance * sum(w^2), and the window has unit energy
    assert data['spectrum'].mean() == pytest.approx(level, rel=0.05)
    # The slices are flat at that absolute level, to the corner (not relative to a peak).
    view = spectra.spectrum_view(data, smooth=1.25)
    for freqs, curve in ((view['freqs0'], view['deg0']), (view['freqs45'], view['deg45'])):
        away = curve[freqs >= 2]  # the window's DC lobe (the sample mean of 120 images) stays out
        assert np.abs(np.median(away) - 10 * np.log10(level)) < 0.5 and np.ptp(away) < 6
    assert view['freqs45'][-1] == pytest.approx(32 / math.sqrt(2))


def test_constant_images_have_only_dc(tmp_path, capsys):
    values = (40, 90, 200, 250)
    flat = write_image_folder(tmp_path / 'flat', num=len(values), resolution=16,
                              pattern=lambda i: np.full((16, 16, 3), values[i], np.uint8))
    mean, std = 120.0, 60.0
    npz, white = str(tmp_path / 'flat.npz'), str(tmp_path / 'flat-w.npz')
    assert avg_spectra.main(['calc', '--source', flat, '--dest', npz, '--mean', str(mean), '--std', str(std)]) == 0
    assert avg_spectra.main(['calc', '--source', flat, '--dest', white, '--mean', str(mean), '--std', str(std),
                             '--definition', 'whitened']) == 0
    capsys.readouterr()
    spec = spectra.load_spectrum(npz)['spectrum']
    np.testing.assert_allclose(spec, _reference(_read_folder(flat), mean, std), rtol=1e-9, atol=1e-20)
    w = np.kaiser(16, 8.0)
    w = w / np.sqrt(np.sum(w ** 2))
    # DC: the mean over images of ((v - mean) / std)^2, times the window's sum to the fourth (2-D, squared).
    dc = np.mean([((v - mean) / std) ** 2 for v in values]) * w.sum() ** 4
    assert spec[0, 0] == pytest.approx(dc, rel=1e-9)
    db = 10 * np.log10(np.fft.fftshift(spec) + 1e-300)
    c = db.shape[0] // 2
    yy, xx = np.mgrid[0:db.shape[0], 0:db.shape[1]]
    assert db[np.hypot(yy - c, xx - c) >= 4 * 4].max() < db[c, c] - 60  # beyond 4 cycles: far sidelobes only
    assert spectra.load_spectrum(white)['spectrum'].max() < 1e-20  # each image's own mean removed: nothing left


def test_num_takes_nvlabs_seeded_random_subset(sinusoids, tmp_path, capsys):
    names = sorted(os.listdir(sinusoids))
    for seed in (0, 7):
        chosen = np.sort(np.random.RandomState(seed).permutation(len(names))[:5])
        imgs = _read_folder(sinusoids, [names[i] for i in chosen]).astype(np.float64)
        assert avg_spectra.main(['stats', '--source', sinusoids, '--num', '5', '--seed', str(seed)]) == 0
        assert capsys.readouterr().out.split('\n')[0] == f'--mean={imgs.mean():g} --std={imgs.std():g}'
        npz = str(tmp_path / f's{seed}.npz')
        assert avg_spectra.main(['calc', '--source', sinusoids, '--dest', npz, '--num', '5', '--seed', str(seed),
                                 '--mean', '100', '--std', '50']) == 0
        capsys.readouterr()
        data = spectra.load_spectrum(npz)
        assert data['num'] == 5 and data['seed'] == seed
        ref = _reference(imgs, 100, 50)
        np.testing.assert_allclose(data['spectrum'], ref, rtol=1e-9, atol=1e-12 * ref.max())
    assert not np.array_equal(spectra.load_spectrum(str(tmp_path / 's0.npz'))['spectrum'],
                              spectra.load_spectrum(str(tmp_path / 's7.npz'))['spectrum'])


def test_network_output_is_quantised_like_a_saved_image(tmp_path, capsys):
    nets = write_tiny_networks(tmp_path)
    from networks import load_generator
    G = load_generator(nets['sg3'])
    with torch.no_grad():
        floats = np.concatenate([G(torch.from_numpy(np.random.RandomState(s).randn(1, G.z_dim)).float(),
                                   torch.zeros([1, 0]), noise_mode='const').double().numpy() for s in (3, 4, 5)])
    saved = np.floor(np.clip(floats * 127.5 + 128, 0, 255))
    for definition, images, whiten in (('nvlabs', saved, False), ('whitened', floats * 127.5 + 128, True)):
        npz = str(tmp_path / f'{definition}.npz')
        assert avg_spectra.main(['calc', '--source', nets['sg3'], '--dest', npz, '--num', '3', '--seed', '3',
                                 '--batch', '2', '--mean', '128', '--std', '60', '--definition', definition]) == 0
        data = spectra.load_spectrum(npz)
        assert data['definition'] == definition and data['num'] == 3 and data['seed'] == 3
        if whiten:
            images = images - images.mean(axis=(2, 3), keepdims=True)
        ref = _reference(images, 0 if whiten else 128, 60)
        # The generator runs in float32, batched differently here: the quantised images agree exactly (unless a
        # pixel sits on a rounding edge), the float ones to float32 rounding, relative to the strongest bin.
        err = np.abs(data['spectrum'] - ref).max() / ref.max()
        assert err < (1e-12 if definition == 'nvlabs' else 1e-6)
    assert 'WHITENED' in capsys.readouterr().out


def test_mixed_definitions_and_bad_input_are_refused_in_one_line(sinusoids, tmp_path, capsys):
    a, b = str(tmp_path / 'a.npz'), str(tmp_path / 'b.npz')
    assert avg_spectra.main(['calc', '--source', sinusoids, '--dest', a, '--mean', '120', '--std', '70']) == 0
    assert avg_spectra.main(['calc', '--source', sinusoids, '--dest', b, '--mean', '120', '--std', '70',
                             '--definition', 'whitened']) == 0
    capsys.readouterr()
    assert avg_spectra.main(['slices', a, b, '--png', str(tmp_path / 'x.png')]) == 1
    err = capsys.readouterr().err.strip()
    assert 'different definitions' in err and "'whitened'" in err and '\n' not in err
    assert not (tmp_path / 'x.png').exists()
    # NVlabs' own files (two keys, unshifted) read as 'nvlabs'; our old whitened files (shifted, padding) as such.
    nv, old = str(tmp_path / 'nv.npz'), str(tmp_path / 'old.npz')
    spec = spectra.load_spectrum(a)['spectrum']
    np.savez(nv, spectrum=spec, image_size=32)
    np.savez(old, spectrum=np.fft.fftshift(spec), image_size=32, padding=4, num=12, source='x', mean=1.0, std=1.0,
             beta=8.0)
    assert spectra.load_spectrum(nv)['definition'] == 'nvlabs'
    legacy = spectra.load_spectrum(old)
    assert legacy['definition'] == 'whitened' and np.array_equal(legacy['spectrum'], spec)
    assert avg_spectra.main(['slices', a, nv, '--png', str(tmp_path / 'ok.png')]) == 0
    assert avg_spectra.main(['slices', nv, old, '--png', str(tmp_path / 'x.png')]) == 1
    assert avg_spectra.main(['heatmap', str(tmp_path / 'missing.npz'), '--png', str(tmp_path / 'x.png')]) == 1
    assert avg_spectra.main(['calc', '--source', str(tmp_path / 'nodata'), '--dest', a]) == 1
    assert avg_spectra.main(['calc', '--source', sinusoids, '--dest', a, '--definition', 'raw']) == 1
    err = capsys.readouterr().err
    assert "missing.npz' does not exist" in err and "nodata' does not exist" in err and 'Traceback' not in err


NOISE_STREAM = 0x6E6F697365  # analysis.spectra's: each image's noise generator is seeded from SeedSequence
TOL = 1e-12  # relative to the strongest bin: what float64 summation order leaves of equal uint8 images


def _noisy_sg2(path):
    """A tiny StyleGAN2 pickle whose noise inputs are loud (their strengths start at zero, as NVlabs')."""
    import networks
    from tests.tiny_networks import tiny_generator

    G = tiny_generator('sg2', resolution=16, channel_base=256, channel_max=16, seed=3)
    strengths = [p for name, p in G.named_parameters() if name.endswith('noise_strength')]
    with torch.no_grad():
        for i, p in enumerate(strengths):
            p.fill_(0.2 + 0.1 * i)
    assert len(strengths) == 5
    networks.save_network_pkl(str(path), dict(G_ema=G))
    return str(path)


def _fresh_noise_images(G, seeds):
    """NVlabs' avg_spectra images (uint8 values, float64): G(z, c) one seed at a time in G's own 'random' noise
    mode, its generator seeded as the spectra module documents (32 bits of SeedSequence([seed, stream]))."""
    images = []
    for s in seeds:
        z = torch.from_numpy(np.random.RandomState(s).randn(1, G.z_dim)).float()
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([s, NOISE_STREAM]).generate_state(1)[0]))
        with torch.no_grad():
            images.append(G(z, torch.zeros([1, 0]), noise_mode='random', noise_generator=gen).double().numpy())
    return np.floor(np.clip(np.concatenate(images) * 127.5 + 128, 0, 255))


def test_stylegan2_nvlabs_spectrum_has_fresh_noise_per_image(tmp_path, capsys):
    from networks import load_generator

    pkl = _noisy_sg2(tmp_path / 'sg2.pkl')
    G = load_generator(pkl)
    ref = _reference(_fresh_noise_images(G, range(3, 9)), 128, 60)
    common = ['--source', pkl, '--num', '6', '--seed', '3', '--mean', '128', '--std', '60', '--batch']
    fresh, const = str(tmp_path / 'fresh.npz'), str(tmp_path / 'const.npz')
    assert avg_spectra.main(['calc', '--dest', fresh, *common, '4']) == 0  # nvlabs: random noise by default
    assert 'NVlabs definition, fresh noise per image' in capsys.readouterr().out
    assert avg_spectra.main(['calc', '--dest', const, *common, '4', '--noise-mode', 'const']) == 0
    assert 'constant noise' in capsys.readouterr().out
    got, fixed = spectra.load_spectrum(fresh), spectra.load_spectrum(const)
    assert (got['noise_mode'], fixed['noise_mode']) == ('random', 'const')
    # Batches of 4 with each image's own noise: NVlabs' images one at a time, bin for bin.
    assert np.abs(got['spectrum'] - ref).max() / ref.max() < TOL
    # The network's constant maps in every image are another spectrum, far beyond that tolerance.
    assert np.abs(fixed['spectrum'] - ref).max() / ref.max() > 1e-3
    assert np.abs(10 * np.log10(fixed['spectrum'] / ref)).max() > 1  # dB
    # The same command gives the same spectrum (seeded noise); other batch sizes the same images.
    again, single = str(tmp_path / 'again.npz'), str(tmp_path / 'single.npz')
    assert avg_spectra.main(['calc', '--dest', again, *common, '4']) == 0
    assert np.array_equal(spectra.load_spectrum(again)['spectrum'], got['spectrum'])
    assert avg_spectra.main(['calc', '--dest', single, *common, '1']) == 0
    assert np.abs(spectra.load_spectrum(single)['spectrum'] - ref).max() / ref.max() < TOL
    direct = spectra.network_spectrum(G, 6, seed=3, mean=128, std=60, batch_size=5)
    assert direct['noise_mode'] == 'random' and np.abs(direct['spectrum'] - ref).max() / ref.max() < TOL
    # whitened keeps the constant noise unless asked.
    white = str(tmp_path / 'white.npz')
    assert avg_spectra.main(['calc', '--dest', white, *common, '4', '--definition', 'whitened']) == 0
    assert spectra.load_spectrum(white)['noise_mode'] == 'const'


def test_stylegan3_has_no_noise_so_both_modes_agree(tmp_path, capsys):
    sg3 = write_tiny_networks(tmp_path)['sg3']
    paths = {}
    for mode in spectra.NOISE_MODES:
        paths[mode] = str(tmp_path / f'{mode}.npz')
        assert avg_spectra.main(['calc', '--source', sg3, '--dest', paths[mode], '--num', '3', '--mean', '128',
                                 '--std', '60', '--noise-mode', mode]) == 0
    assert capsys.readouterr().out.count('(NVlabs definition; 3 images') == 2  # no noise named
    random, const = (spectra.load_spectrum(paths[m]) for m in ('random', 'const'))
    assert random['noise_mode'] == const['noise_mode'] == 'none'
    assert np.array_equal(random['spectrum'], const['spectrum'])


def test_mixed_noise_modes_refused_and_old_files_load_as_const(tmp_path, capsys):
    pkl = _noisy_sg2(tmp_path / 'sg2.pkl')
    folder = write_image_folder(tmp_path / 'data', num=4, resolution=16)
    fresh, const, data = (str(tmp_path / f'{n}.npz') for n in ('fresh', 'const', 'data'))
    common = ['--source', pkl, '--num', '2', '--mean', '120', '--std', '70']
    assert avg_spectra.main(['calc', '--dest', fresh, *common]) == 0
    assert avg_spectra.main(['calc', '--dest', const, *common, '--noise-mode', 'const']) == 0
    assert avg_spectra.main(['calc', '--source', folder, '--dest', data, '--mean', '120', '--std', '70',
                             '--noise-mode', 'const']) == 0  # a dataset has no noise: nothing to record
    capsys.readouterr()
    assert spectra.load_spectrum(data)['noise_mode'] == 'none'
    with np.load(fresh) as f:
        assert str(f['noise_mode']) == 'random'
    # A dataset goes with either network; the two networks do not go together.
    png = str(tmp_path / 'x.png')
    assert avg_spectra.main(['slices', data, fresh, '--png', str(tmp_path / 'a.png')]) == 0
    assert avg_spectra.main(['slices', data, const, '--png', str(tmp_path / 'b.png')]) == 0
    capsys.readouterr()
    assert avg_spectra.main(['slices', data, fresh, const, '--png', png]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith('error:') and '\n' not in err
    assert 'different noise modes' in err and "'random'" in err and "'const'" in err and '--noise-mode random' in err
    assert not os.path.exists(png)
    # Files written before the noise mode was recorded: a network's had the constant noise, a dataset's none.
    old_net, old_data = str(tmp_path / 'old-net.npz'), str(tmp_path / 'old-data.npz')
    for old, new in ((old_net, const), (old_data, data)):
        with np.load(new) as f:
            np.savez(old, **{k: f[k] for k in f.files if k not in ('noise_mode', 'format_version')}, format_version=2)
    assert spectra.load_spectrum(old_net)['noise_mode'] == 'const'
    assert spectra.load_spectrum(old_data)['noise_mode'] == 'none'
    assert avg_spectra.main(['slices', old_net, const, old_data, '--png', str(tmp_path / 'c.png')]) == 0
    assert avg_spectra.main(['slices', old_net, fresh, '--png', png]) == 1
    assert 'different noise modes' in capsys.readouterr().err
    # NVlabs' own files (two keys): their networks draw fresh noise.
    nv = str(tmp_path / 'nv.npz')
    np.savez(nv, spectrum=spectra.load_spectrum(fresh)['spectrum'], image_size=16)
    assert spectra.load_spectrum(nv)['noise_mode'] == 'random'


def test_a_spectrum_that_overflows_is_refused_not_written(tmp_path, capsys):
    # The CLI bounds --std to [MIN_STD, MAX_PIXEL_STAT]; the function itself refuses an inf power whatever the cause,
    # since `heatmap` and `slices` would refuse the file it wrote.
    images = torch.full((2, 3, 8, 8), 255.0)
    images[:, :, ::2] = 0.0
    with pytest.raises(spectra.UserError, match='not finite'):
        spectra.average_spectrum(iter([images]), mean=0.0, std=1e-300)
    spec, size, count = spectra.average_spectrum(iter([images]), mean=0.0, std=avg_spectra.MIN_STD)
    assert np.isfinite(spec).all() and spec.max() > 0 and (size, count) == (8, 2)
    dest = tmp_path / 's.npz'
    assert avg_spectra.main(['calc', '--source', str(tmp_path), '--dest', str(dest), '--std', '1e-300']) == 1
    assert 'must be in [0.001, 1e+06]' in capsys.readouterr().err and not dest.exists()
