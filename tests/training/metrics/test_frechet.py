"""FID / KID against closed forms, the detector loader, the full pipeline with a tiny detector, and SWD."""

import json
import os

import numpy as np
import pytest
import scipy.linalg
import torch

from tests.training.metrics.fakes import (
    FourierGenerator,
    TinyDetector,
    torchscript_bytes,
    write_image_folder,
    write_nvlabs_persistent_pkl,
)
from training.metrics import DetectorError, MetricError, calc_metric, report_metric
from training.metrics.detector import detector_features, load_detector
from training.metrics.frechet import frechet_distance, kernel_inception_distance
from training.metrics.swd import laplacian_pyramid, sliced_wasserstein

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')


def test_fid_zero_for_identical_features():
    x = np.random.RandomState(0).randn(500, 6)
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_fid_of_two_gaussians_matches_closed_form():
    rng = np.random.RandomState(1)
    mu1, mu2 = rng.randn(5), rng.randn(5)
    a, b = rng.randn(5, 5), rng.randn(5, 5)
    s1, s2 = a @ a.T + np.eye(5), b @ b.T + np.eye(5)
    root1 = scipy.linalg.sqrtm(s1).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(root1 @ s2 @ root1).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    # Commuting (diagonal) case: sum of (sqrt(s1) - sqrt(s2))^2 per axis.
    d1, d2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    got = frechet_distance(np.zeros(3), np.diag(d1), np.ones(3), np.diag(d2))
    assert got == pytest.approx(3 + np.sum((np.sqrt(d1) - np.sqrt(d2)) ** 2))


def test_kid_is_unbiased():
    # Known case: constant feature sets make every kernel value fixed; the estimate is exact.
    a, b = np.full([40, 4], 0.5), np.full([40, 4], -0.25)
    kernel = lambda x, y: (x @ y / 4 + 1) ** 3  # noqa: E731
    exact = kernel(a[0], a[0]) + kernel(b[0], b[0]) - 2 * kernel(a[0], b[0])
    assert kernel_inception_distance(a, b, num_subsets=3, max_subset_size=20) == pytest.approx(exact)
    # Same distribution: the unbiased estimate averages to zero (a biased one would be clearly positive).
    rng = np.random.RandomState(0)
    estimates = [kernel_inception_distance(rng.randn(50, 8), rng.randn(50, 8), num_subsets=1) for _ in range(200)]
    mean, sem = np.mean(estimates), np.std(estimates) / np.sqrt(len(estimates))
    assert abs(mean) < 3 * sem
    biased_gap = 2 * np.mean([(np.sum(x * x) / 8 + 1) ** 3 for x in rng.randn(200, 8)]) / 50
    assert abs(mean) < 0.1 * biased_gap


@pytest.fixture(scope='module')
def detector_files(tmp_path_factory):
    root = tmp_path_factory.mktemp('detector')
    torch.manual_seed(0)
    blob = torchscript_bytes(TinyDetector())
    pt = root / 'tiny.pt'
    pt.write_bytes(blob)
    pkl = root / 'tiny-inception.pkl'
    write_nvlabs_persistent_pkl(pkl, dict(torchscript=blob))
    source_only = root / 'source-only.pkl'
    write_nvlabs_persistent_pkl(source_only, dict(_init_kwargs={}), module_src='import os\n')
    return dict(pt=str(pt), pkl=str(pkl), source_only=str(source_only), root=root)


def test_detector_formats_and_bad_files(detector_files, tmp_path):
    images = torch.randint(0, 256, [3, 3, 16, 16], dtype=torch.uint8)
    f_pt = detector_features(load_detector(detector_files['pt'], trust=True), images)
    f_pkl = detector_features(load_detector(detector_files['pkl'], trust=True), images)
    assert f_pt.shape == (3, 8)
    torch.testing.assert_close(f_pt, f_pkl)
    grey = detector_features(load_detector(detector_files['pkl'], trust=True), images[:, :1])
    assert grey.shape == (3, 8)
    with pytest.raises(DetectorError, match='not found'):
        load_detector(str(tmp_path / 'missing.pkl'))
    cache = tmp_path / 'cache'  # an explicit URL is fetched once into the cache directory
    from_url = load_detector(f'file://{detector_files["pkl"]}', cache_dir=str(cache), trust=True)
    torch.testing.assert_close(detector_features(from_url, images), f_pkl)
    assert len(list(cache.iterdir())) == 1
    junk = tmp_path / 'junk.pkl'
    junk.write_bytes(b'not a pickle at all')
    with pytest.raises(DetectorError, match='not a detector pickle'):
        load_detector(str(junk))
    truncated = tmp_path / 'truncated.pkl'
    truncated.write_bytes(open(detector_files['pkl'], 'rb').read()[:100])
    with pytest.raises(DetectorError, match='not a detector pickle'):
        load_detector(str(truncated))
    with pytest.raises(DetectorError, match='never executes'):
        load_detector(detector_files['source_only'])
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(b'\x80\x02cos\nsystem\n(S"true"\ntR.')
    with pytest.raises(DetectorError, match='refused global'):
        load_detector(str(evil))


@pytest.fixture(scope='module')
def dataset16(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp('data') / 'ds16', num=24, resolution=16)


def test_fid_kid_full_pipeline_with_tiny_detector(detector_files, dataset16, tmp_path):
    G = FourierGenerator(img_resolution=16)
    kwargs = dict(class_name='training.dataset.ImageFolderDataset', path=dataset16)
    cache = tmp_path / 'cache'
    fid = calc_metric('fid50k_full', G, dataset_kwargs=kwargs, detector=detector_files['pkl'], num_samples=24,
                      cache_dir=str(cache), batch_size=8, trust_detector=True)
    assert fid['results']['fid50k_full'] > 0
    assert len(list(cache.glob('*.npz'))) == 1  # dataset statistics cached
    again = calc_metric('fid50k_full', G, dataset_kwargs=kwargs, detector=detector_files['pkl'], num_samples=24,
                        cache_dir=str(cache), batch_size=8, trust_detector=True)
    assert again['results'] == fid['results']
    kid = calc_metric('kid50k_full', G, dataset_kwargs=kwargs, detector=detector_files['pt'], num_samples=24,
                      cache_dir=str(cache), batch_size=8, trust_detector=True)
    assert np.isfinite(kid['results']['kid50k_full'])
    line = report_metric(fid, run_dir=str(tmp_path), snapshot_pkl='net.pkl')
    with open(os.path.join(tmp_path, 'metric-fid50k_full.jsonl')) as f:
        assert json.loads(f.read().strip()) == json.loads(line)


def test_bad_inputs_give_one_clear_message(detector_files, dataset16, tmp_path):
    G = FourierGenerator(img_resolution=32)
    kwargs = dict(class_name='training.dataset.ImageFolderDataset', path=dataset16)
    with pytest.raises(MetricError, match='resolution 16.*32x32'):
        calc_metric('fid50k_full', G, dataset_kwargs=kwargs, detector=detector_files['pkl'], num_samples=4,
                    trust_detector=True)
    with pytest.raises(MetricError, match='need a feature detector') as info:
        calc_metric('fid50k_full', G, dataset_kwargs=kwargs, num_samples=4)
    assert info.value.option == 'detector'
    with pytest.raises(DetectorError, match='not found'):
        calc_metric('kid50k_full', G, dataset_kwargs=kwargs, detector=str(tmp_path / 'nope.pkl'), num_samples=4)
    with pytest.raises(MetricError, match='needs a dataset') as info:
        calc_metric('swd', G, num_samples=4)
    assert info.value.option == 'data'
    with pytest.raises(MetricError, match='unknown metric'):
        calc_metric('fid1k', G)


def test_swd_pipeline_and_properties(tmp_path):
    x = torch.randn(2, 3, 32, 32)
    levels = laplacian_pyramid(x)
    assert [lvl.shape[-1] for lvl in levels] == [32, 16]
    a = np.random.RandomState(0).randn(400, 10)
    assert sliced_wasserstein(a, a) == 0
    assert sliced_wasserstein(a, a + 1.0) > sliced_wasserstein(a, a + 0.1) > 0
    data = write_image_folder(tmp_path / 'ds32', num=12, resolution=32)
    G = FourierGenerator(img_resolution=32)
    result = calc_metric('swd', G, dataset_kwargs=dict(path=data), num_samples=12, batch_size=6)['results']
    assert set(result) == {'swd32', 'swd16', 'swd'} and result['swd'] > 0


def test_sliced_wasserstein_matches_a_float64_reference():
    # The float32, row-sorted projection gives the textbook float64 estimate: same draws, same value to 1e-6.
    rng = np.random.RandomState(3)
    a, b = rng.randn(3000, 147), rng.randn(2500, 147) * 1.2 + 0.1

    def reference(a, b, num_dirs=512, repeats=4, seed=0):
        draws = np.random.RandomState(seed)
        n = min(len(a), len(b))
        values = []
        for _ in range(repeats):
            dirs = draws.randn(a.shape[1], num_dirs)
            dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
            pa = np.sort(a[draws.choice(len(a), n, replace=False)] @ dirs, axis=0)
            pb = np.sort(b[draws.choice(len(b), n, replace=False)] @ dirs, axis=0)
            values.append(np.abs(pa - pb).mean())
        return np.mean(values)
    assert sliced_wasserstein(a, b) == pytest.approx(reference(a, b), rel=1e-6)
    # The torch path (what a GPU runs; here on the CPU) takes the same draws.
    assert sliced_wasserstein(a, b, device='cpu') == pytest.approx(reference(a, b), rel=1e-6)
    # Equal sizes (each set taken whole, its permutation skipped) and the larger set second.
    for x, y in ((a[:2500], b), (b, a)):
        for device in (None, 'cpu'):
            assert sliced_wasserstein(x, y, device=device) == pytest.approx(reference(x, y), rel=1e-6)
    assert sliced_wasserstein(a, a, device='cpu') == 0
    shift = rng.randn(1, 147)          # a shifted copy: every projection moves by <shift, dir>, exactly
    dirs = np.random.RandomState(0).randn(147, 512)
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    assert sliced_wasserstein(a, a + shift, repeats=1) == pytest.approx(np.abs(shift @ dirs).mean(), rel=1e-5)
