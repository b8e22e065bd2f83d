"""Spectra, latents, directions, projections and the analyses' caches are read by networks.file_io: a header that
declares terabytes, a truncated or foreign zip, a member that is not .npy, ``num=inf``, a compressed bomb: one
UserError line, fast and small, from the loaders, the command line and the renderer alike."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from analysis import spectra
from analysis.directions import _read_pca, load_direction_file
from analysis.latent_files import load_latent, load_noise_maps
from analysis.projection import load_projection
from networks.errors import UserError
from tests.networks import hostile_arrays as H
from tests.networks.hostile_images import measure

MB = 1 << 20
HEADER_64TIB = H.npy_header((1 << 22, 1 << 21), '<f8')     # 2^43 float64 = 64 TiB


def _refused(call, why: str = '', max_seconds: float = 2.0, max_rss: int = 300 * MB) -> str:
    seconds, rss, error, finished = measure(call, timeout=max_seconds + 8)
    assert finished, f'still running after {seconds:.1f} s'
    assert isinstance(error, UserError), repr(error)
    assert seconds < max_seconds and rss < max_rss, (seconds, rss / MB)
    text = str(error)
    assert text and '\n' not in text and why in text, text
    return text


def _spectrum_members(**overrides) -> list[H.Member]:
    fields = dict(spectrum=np.ones((8, 8)), image_size=np.array(4), definition=np.array('nvlabs'),
                  source=np.array('net.pkl'), num=np.array(10), seed=np.array(0), interp=np.array(2),
                  noise_mode=np.array('const'))
    fields.update(overrides)
    return [H.stored(f'{k}.npy', v if isinstance(v, bytes) else H.npy_bytes(np.asarray(v)))
            for k, v in fields.items()]


def _write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


VALID = H.raw_zip(_spectrum_members())
HOSTILE_SPECTRA = [
    ('64TiB', H.raw_zip(_spectrum_members(spectrum=HEADER_64TIB + bytes(64))), 'more than the'),
    ('truncated', VALID[:len(VALID) // 2], 'damaged'),
    ('truncated-tail', VALID[:-30], 'damaged'),
    ('member-not-npy', H.raw_zip(_spectrum_members()[1:] + [H.stored('spectrum', b'\x00' * 64)]),
     "member 'spectrum' is not a .npy array"),
    ('num-inf', H.raw_zip(_spectrum_members(num=np.array(np.inf))), '`num` is not an integer'),
    ('seed-nan', H.raw_zip(_spectrum_members(seed=np.array(np.nan))), '`seed` is not an integer'),
    ('num-array', H.raw_zip(_spectrum_members(num=np.arange(3))), '`num` is not an integer'),
    ('source-array', H.raw_zip(_spectrum_members(source=np.zeros((1000, 1000), np.uint8))), '`source`'),
    ('object', H.raw_zip(_spectrum_members(spectrum=H.npy_bytes(np.array([{}], object), allow_pickle=True))),
     'never unpickled'),
    ('not-a-zip', b'\x93NUMPY not a zip', 'not a .npz archive'),
]


@pytest.mark.parametrize('name,data,why', HOSTILE_SPECTRA, ids=[c[0] for c in HOSTILE_SPECTRA])
def test_hostile_spectrum_files_are_one_line(tmp_path, name, data, why):
    path = _write(tmp_path, f'{name}.npz', data)
    _refused(lambda: spectra.load_spectrum(path), why)


def test_a_valid_spectrum_file_still_loads(tmp_path):
    data = spectra.load_spectrum(_write(tmp_path, 'ok.npz', VALID))
    assert data['num'] == 10 and data['source'] == 'net.pkl' and data['spectrum'].shape == (8, 8)
    legacy = spectra.load_spectrum(_write(tmp_path, 'old.npz', H.raw_zip(_spectrum_members(num=np.array(10.0)))))
    assert legacy['num'] == 10   # a whole number stored as a float still reads


def test_a_compressed_spectrum_bomb_is_refused_small_and_fast(tmp_path):
    """About 1 MB that inflates to 1 GiB (numpy took 3.2-3.7 GB for such a file): refused by what the zip's
    directory declares, above the spectrum cap, before anything is inflated."""
    header = H.npy_header((16384, 8192), '<f8')
    bomb = H.zeros_bomb('spectrum.npy', (1 << 30) + len(header), header)
    assert len(bomb.data) < 2 * MB
    path = _write(tmp_path, 'bomb.npz', H.raw_zip(_spectrum_members()[1:] + [bomb]))
    _refused(lambda: spectra.load_spectrum(path), 'more than the', max_rss=100 * MB)


def test_the_spectrum_command_line_reports_one_line(tmp_path, capsys):
    from tools import avg_spectra

    for name, data, why in HOSTILE_SPECTRA[:5]:
        path = _write(tmp_path, f'{name}.npz', data)
        status = avg_spectra.main(['heatmap', path, '--png', str(tmp_path / 'h.png')])
        err = capsys.readouterr().err.strip().splitlines()
        assert status != 0 and len(err) == 1 and err[0].startswith('error:') and why in err[0], (name, err)
    assert not (tmp_path / 'h.png').exists()


# --- latents, noise maps, directions, projections ----------------------------------------------------------------
HOSTILE_LATENTS = [
    ('64TiB.npy', HEADER_64TIB + bytes(64), 'more than the'),
    ('64TiB.npz', H.raw_zip([H.stored('w.npy', HEADER_64TIB + bytes(64))]), 'more than the'),
    ('truncated.npz', H.valid_npz(True)[:300], 'damaged'),
    ('member-not-npy.npz', H.raw_zip([H.stored('w', b'\x00' * 64)]), "member 'w' is not a .npy array"),
    ('object.npy', H.npy_bytes(np.array([{}], object), allow_pickle=True), 'never unpickled'),
    ('noise-64TiB.npz', H.raw_zip([H.stored('w.npy', H.npy_bytes(np.zeros((16, 16), np.float32))),
                                   H.stored('noise/L0.npy', HEADER_64TIB + bytes(64))]), 'more than the'),
]


@pytest.mark.parametrize('name,data,why', HOSTILE_LATENTS, ids=[c[0] for c in HOSTILE_LATENTS])
def test_hostile_latent_and_direction_files_are_one_line(tmp_path, name, data, why):
    path = _write(tmp_path, name, data)
    _refused(lambda: load_latent(path), why)
    _refused(lambda: load_noise_maps(path), why)
    _refused(lambda: load_direction_file(path, 16), why)
    if name.endswith('.npz'):
        _refused(lambda: load_projection(path), why)


def test_a_latent_bomb_is_refused_before_it_is_inflated(tmp_path):
    header = H.npy_header(((400 << 20) // 4,), '<f4')
    path = _write(tmp_path, 'bomb.npz', H.raw_zip([H.zeros_bomb('w.npy', (400 << 20) + len(header), header)]))
    _refused(lambda: load_latent(path), 'more than the', max_rss=100 * MB)


def test_the_renderer_reports_a_hostile_latent_file_in_one_line(renderer, sg3, tmp_path):
    path = _write(tmp_path, 'w.npy', HEADER_64TIB + bytes(64))
    result = renderer.render(dataclasses.replace(sg3, latent_file=path))
    assert result.error is not None and 'more than the' in result.error and '\n' not in result.error


def test_a_damaged_pca_cache_entry_is_recomputed_not_raised(tmp_path):
    for name, data in (('truncated', H.valid_npz(True)[:300]), ('64TiB', H.raw_zip([
            H.stored('components.npy', HEADER_64TIB + bytes(64))])), ('text', H.raw_zip([
            H.stored(f'{k}.npy', H.npy_bytes(np.array('x'))) for k in ('components', 'stddev', 'mean',
                                                                        'num_samples')]))):
        assert _read_pca(_write(tmp_path, f'{name}.npz', data)) is None, name


def test_a_damaged_feature_statistics_cache_is_one_line(tmp_path):
    from training.metrics.feature_stats import FeatureStats

    for name, data in (('truncated', H.valid_npz(True)[:300]), ('64TiB', H.raw_zip([
            H.stored('num_items.npy', H.npy_bytes(np.array(3))), H.stored('all.npy', HEADER_64TIB + bytes(64))])),
            ('num-inf', H.raw_zip([H.stored('num_items.npy', H.npy_bytes(np.array(np.inf)))]))):
        path = _write(tmp_path, f'{name}.npz', data)
        _refused(lambda: FeatureStats.from_npz(path))  # noqa: B023 - called at once
    buf = io.BytesIO()
    np.savez(buf, **FeatureStats(capture_all=False, capture_mean_cov=False).to_npz_dict())
    assert FeatureStats.from_npz(_write(tmp_path, 'ok.npz', buf.getvalue())).num_items == 0
