"""FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) as NVlabs compute them.

fid50k_full: features of all dataset images vs 50k generated ones; kid50k_full: the same, with up to
1M dataset images, 100 subsets of at most 1000 features and the cubic polynomial kernel. KID is
reported as NVlabs does (the raw unbiased MMD^2 estimate; x1e3 is a presentation choice).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import scipy.linalg
import torch

from training.metrics import detector as detector_lib
from training.metrics import feature_stats
from training.metrics.errors import MetricError

__all__ = ['frechet_distance', 'kernel_inception_distance', 'compute_fid', 'compute_kid']


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians."""
    mean_term = np.square(mu1 - mu2).sum()
    with warnings.catch_warnings():  # near-singular products (few samples) are fine: the real part is used
        warnings.simplefilter('ignore', scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(np.dot(sigma1, sigma2))
    return float(np.real(mean_term + np.trace(sigma1 + sigma2 - root * 2)))


def kernel_inception_distance(real: np.ndarray, gen: np.ndarray, num_subsets: int = 100,
                              max_subset_size: int = 1000, seed: int = 0) -> float:
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, averaged over random subsets."""
    d = real.shape[1]
    m = min(real.shape[0], gen.shape[0], max_subset_size)
    rng = np.random.RandomState(seed)
    total = 0.0
    for _ in range(num_subsets):
        x = gen[rng.choice(gen.shape[0], m, replace=False)].astype(np.float64)
        y = real[rng.choice(real.shape[0], m, replace=False)].astype(np.float64)
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / num_subsets / m)


def _setup(opts):
    if not opts.detector:
        raise MetricError('FID/KID need a feature detector: an Inception detector in the NVlabs format, e.g. '
                          'inception-2015-12-05.pkl or .pt; nothing is downloaded implicitly', option='detector')
    path = detector_lib.resolve_detector_path(opts.detector, opts.cache_dir)
    det = detector_lib.load_detector(path, opts.device, trust=opts.trust_detector)
    dataset = feature_stats.open_dataset(opts.dataset_kwargs, opts.G.img_resolution, opts.G.img_channels)

    def features_fn(images: torch.Tensor) -> torch.Tensor:
        return detector_lib.detector_features(det, images.to(opts.device))

    return dataset, features_fn, detector_lib.detector_key(path)


def _stats_pair(opts, max_real: int | None, num_gen: int, capture_all: bool, capture_mean_cov: bool):
    dataset, features_fn, key = _setup(opts)

    def progress(tag):
        return None if opts.progress is None else (lambda done, total: opts.progress(tag, done, total))

    real = feature_stats.cached_dataset_stats(dataset, opts.dataset_kwargs, key, features_fn, opts.cache_dir,
                                              opts.batch_size, max_real, capture_all, capture_mean_cov,
                                              progress('dataset features'))
    gen = feature_stats.FeatureStats(capture_all=capture_all, capture_mean_cov=capture_mean_cov, max_items=num_gen)
    images = feature_stats.iterate_generator_images(opts.G, num_gen, opts.batch_size, opts.device,
                                                    seed=opts.rank, dataset=dataset)
    feature_stats.accumulate_stats(images, features_fn, gen, num_gen, progress('generator features'))
    return real, gen


def compute_fid(opts, max_real: int | None, num_gen: int) -> float:
    real, gen = _stats_pair(opts, max_real, num_gen, capture_all=False, capture_mean_cov=True)
    if opts.rank != 0:
        return float('nan')
    return frechet_distance(*gen.get_mean_cov(), *real.get_mean_cov())


def compute_kid(opts, max_real: int | None, num_gen: int, num_subsets: int = 100,
                max_subset_size: int = 1000) -> float:
    real, gen = _stats_pair(opts, max_real, num_gen, capture_all=True, capture_mean_cov=False)
    if opts.rank != 0:
        return float('nan')
    return kernel_inception_distance(real.get_all(), gen.get_all(), num_subsets, max_subset_size)


def cache_dir_default() -> str:
    return os.path.join(os.path.expanduser('~'), '.cache', 'aliasfree-workbench', 'gan-metrics')
