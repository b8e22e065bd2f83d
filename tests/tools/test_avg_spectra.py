"""python -m tools.avg_spectra: NVlabs' definition end to end, recorded metadata, refusing mixed definitions."""

import math
import os

import numpy as np
import PIL.Image
import pytest
import torch

from tests.metrics.fakes import write_image_folder
from tests.tiny_networks import write_tiny_networks
from tools import avg_spectra
from viz.analysis import spectra

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
