"""python -m tools.avg_spectra: a pure sinusoid dataset peaks at its frequency in heatmap and slices."""

import math

import numpy as np
import PIL.Image
import pytest

from tests.metrics.fakes import write_image_folder
from tests.tiny_networks import write_tiny_networks
from tools import avg_spectra
from viz.analysis import spectra

FREQ = 5  # cycles per image


def _sinusoid(i, size=32):
    x = np.arange(size)
    phase = 2 * math.pi * ((i * 0.37) % 1)
    row = 128 + 100 * np.cos(2 * math.pi * FREQ * x / size + phase)
    return np.repeat(np.tile(row, (size, 1))[:, :, None], 3, axis=2).round().astype(np.uint8)


@pytest.fixture(scope='module')
def sinusoids(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp('data') / 'sin', num=12, resolution=32, pattern=_sinusoid)


def test_sinusoid_dataset_peaks_at_its_frequency(sinusoids, tmp_path, capsys):
    npz = str(tmp_path / 'sin.npz')
    assert avg_spectra.main(['stats', '--source', sinusoids]) == 0
    assert '--mean=' in capsys.readouterr().out
    assert avg_spectra.main(['calc', '--source', sinusoids, '--dest', npz, '--num', '12']) == 0
    data = spectra.load_spectrum(npz)
    padding = int(data['padding'])
    db = spectra.heatmap_db(data, sigma=1.0)
    centre = db.shape[0] // 2
    iy, ix = np.unravel_index(int(np.argmax(db)), db.shape)
    assert iy == centre and abs(ix - centre) == FREQ * padding
    from ops.spectrum import spectrum_slices
    sl = spectrum_slices(data['spectrum'], padding)
    assert sl['freqs'][int(np.argmax(sl['deg0']))] == FREQ
    heat, slices = tmp_path / 'heat.png', tmp_path / 'slices.png'
    assert avg_spectra.main(['heatmap', npz, '--png', str(heat)]) == 0
    assert avg_spectra.main(['slices', npz, npz, '--png', str(slices), '--sigma', '0.5']) == 0
    assert PIL.Image.open(heat).size[0] > 100 and PIL.Image.open(slices).size[0] > 100


def test_network_source_and_bad_input(tmp_path, capsys):
    nets = write_tiny_networks(tmp_path)
    npz = str(tmp_path / 'net.npz')
    assert avg_spectra.main(['calc', '--source', nets['sg3'], '--dest', npz, '--num', '4', '--batch', '2',
                             '--mean', '128', '--std', '60']) == 0
    data = spectra.load_spectrum(npz)
    assert data['spectrum'].shape == (64, 64) and int(data['num']) == 4
    assert avg_spectra.main(['heatmap', str(tmp_path / 'missing.npz'), '--png', str(tmp_path / 'x.png')]) == 1
    assert avg_spectra.main(['calc', '--source', str(tmp_path / 'nodata'), '--dest', npz]) == 1
    err = capsys.readouterr().err
    assert 'spectrum file not found' in err and 'Dataset not found' in err and 'Traceback' not in err
