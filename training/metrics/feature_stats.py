"""Feature statistics of a dataset or of a generator, with the dataset side cached on disk.

Shared by FID, KID and the detector-free SWD: images are fed as uint8 [N, C, H, W], batch by batch;
statistics accumulate in float64 on the CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator

import numpy as np
import torch

from networks.conventions import class_count, random_class_labels, to_uint8
from networks.file_io import read_npz
from networks.stylegan2 import per_image_noise
from training.metrics.errors import MetricError

__all__ = ['FeatureStats', 'open_dataset', 'iterate_dataset_images', 'iterate_generator_images',
           'cached_dataset_stats', 'accumulate_stats', 'random_labels']

# The features of 50k images, 2048 wide, in float32 are 400 MB; covariances of such features 32 MB.
MAX_CACHE_BYTES = 2 << 30


class FeatureStats:
    """Running mean / covariance (float64) and optionally all features of a stream of feature batches."""

    def __init__(self, capture_all: bool = False, capture_mean_cov: bool = False, max_items: int | None = None):
        self.capture_all, self.capture_mean_cov, self.max_items = capture_all, capture_mean_cov, max_items
        self.num_items = 0
        self.num_features: int | None = None
        self.all_features: list[np.ndarray] = []
        self.raw_mean: np.ndarray | None = None
        self.raw_cov: np.ndarray | None = None

    def is_full(self) -> bool:
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32)
        if self.max_items is not None:
            x = x[:max(self.max_items - self.num_items, 0)]
        if x.shape[0] == 0:
            return
        if self.num_features is None:
            self.num_features = x.shape[1]
            self.raw_mean = np.zeros(self.num_features, np.float64)
            self.raw_cov = np.zeros([self.num_features] * 2, np.float64)
        self.num_items += x.shape[0]
        if self.capture_all:
            self.all_features.append(x)
        if self.capture_mean_cov:
            x64 = x.astype(np.float64)
            self.raw_mean += x64.sum(axis=0)
            self.raw_cov += x64.T @ x64

    def get_all(self) -> np.ndarray:
        return np.concatenate(self.all_features, axis=0)

    def get_mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.raw_mean / self.num_items
        cov = self.raw_cov / self.num_items - np.outer(mean, mean)
        return mean, cov

    def to_npz_dict(self) -> dict:
        out = dict(num_items=np.array(self.num_items))
        if self.capture_all:
            out['all'] = self.get_all()
        if self.capture_mean_cov:
            out['raw_mean'], out['raw_cov'] = self.raw_mean, self.raw_cov
        return out

    @classmethod
    def from_npz(cls, path: str) -> FeatureStats:
        """The statistics a :meth:`to_npz_dict` file holds (a cache entry this module wrote), read within
        :data:`MAX_CACHE_BYTES`; a FileReadError or MetricError line for a file that is not one."""
        data = read_npz(path, max_bytes=MAX_CACHE_BYTES, what='feature statistics cache file')
        try:
            stats = cls(capture_all='all' in data, capture_mean_cov='raw_mean' in data)
            if np.ndim(data['num_items']) != 0 or data['num_items'].dtype.kind not in 'iu':
                raise ValueError('num_items is not an integer')
            stats.num_items = int(data['num_items'])
            if 'all' in data:
                if data['all'].ndim != 2 or data['all'].dtype.kind != 'f':
                    raise ValueError('`all` is not a 2-D float array')
                stats.all_features = [data['all']]
                stats.num_features = data['all'].shape[1]
            if 'raw_mean' in data:
                mean, cov = data['raw_mean'], data['raw_cov']
                if mean.ndim != 1 or cov.shape != mean.shape * 2 or 'f' != mean.dtype.kind or 'f' != cov.dtype.kind:
                    raise ValueError('`raw_mean` / `raw_cov` are not a float vector and its square matrix')
                stats.raw_mean, stats.raw_cov = mean, cov
                stats.num_features = mean.shape[0]
        except (KeyError, ValueError) as err:
            raise MetricError(f'{path}: not a feature statistics cache file ({err})') from None
        return stats


def open_dataset(dataset_kwargs: dict | None, resolution: int | None = None, num_channels: int | None = None):
    """Instantiate the dataset named by dataset_kwargs['class_name']; checks it matches the network."""
    if not dataset_kwargs or not dataset_kwargs.get('path'):
        raise MetricError('this metric needs a dataset (a zip or folder of images)', option='data')
    from training.options import OptionsError, class_for, validate_dataset_kwargs
    kwargs = dict(dataset_kwargs)
    kwargs.setdefault('class_name', 'training.dataset.ImageFolderDataset')
    try:
        kwargs = validate_dataset_kwargs(kwargs, 'dataset options')
    except OptionsError as err:
        raise MetricError(str(err)) from None
    cls = class_for(kwargs.pop('class_name'), 'training_set_kwargs')
    kwargs.pop('resolution', None)  # checked below, with a message naming both sides
    try:
        dataset = cls(**kwargs)
    except (ValueError, OSError) as err:
        raise MetricError(f'cannot open dataset: {err}') from err
    if resolution is not None and dataset.resolution != resolution:
        raise MetricError(f'dataset {kwargs.get("path")!r} has resolution {dataset.resolution}, but the network '
                          f'generates {resolution}x{resolution} images; use a dataset of the same resolution')
    if num_channels is not None and dataset.num_channels != num_channels:
        raise MetricError(f'dataset has {dataset.num_channels} channels, the network {num_channels}')
    return dataset


def iterate_dataset_images(dataset, batch_size: int, max_items: int | None = None) -> Iterator[torch.Tensor]:
    """uint8 [N, C, H, W] batches of the first max_items images (all by default)."""
    total = len(dataset) if max_items is None else min(len(dataset), max_items)
    for start in range(0, total, batch_size):
        batch = [dataset[i][0] for i in range(start, min(start + batch_size, total))]
        yield torch.from_numpy(np.stack(batch))


def random_labels(G, n: int, gen: torch.Generator, dataset=None) -> torch.Tensor:
    """[n, c_dim] labels: drawn from the dataset's labels when it has them, else random one-hot."""
    c_dim = class_count(G)
    if c_dim == 0:
        return torch.zeros([n, 0])
    if dataset is not None and getattr(dataset, 'has_labels', False):
        idx = torch.randint(len(dataset), [n], generator=gen).tolist()
        return torch.from_numpy(np.stack([dataset.get_label(i) for i in idx])).float()
    return random_class_labels(c_dim, n, gen)


@torch.no_grad()
def iterate_generator_images(G, num_items: int, batch_size: int, device: torch.device, seed: int = 0,
                             dataset=None) -> Iterator[torch.Tensor]:
    """uint8 [N, C, H, W] batches of generated images (z ~ N(0, I), labels drawn from the dataset).

    Noise inputs are drawn afresh for every image, as NVlabs' metrics do (their generator's default noise mode):
    a StyleGAN2 is measured on the images it samples, not on its one fixed noise map, which a network may lean
    on for its coarse structure. Image k's noise is ``noise_maps(G, (seed, k))`` (networks.stylegan2): a
    measurement is reproducible and the batch size does not choose the draws."""
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < num_items:
        n = min(batch_size, num_items - done)
        z = torch.randn([n, G.z_dim], generator=gen)
        c = random_labels(G, n, gen, dataset)
        with per_image_noise(G, [(seed, done + k) for k in range(n)]):
            img = G(z.to(device), c.to(device), noise_mode='const')
        yield to_uint8(img)
        done += n


def accumulate_stats(batches: Iterator[torch.Tensor], features_fn: Callable[[torch.Tensor], torch.Tensor],
                     stats: FeatureStats, total: int,
                     progress: Callable[[int, int], None] | None = None) -> FeatureStats:
    for images in batches:
        stats.append(features_fn(images).detach().cpu().numpy())
        if progress is not None:
            progress(stats.num_items, total)
        if stats.is_full():
            break
    return stats


def cached_dataset_stats(dataset, dataset_kwargs: dict, feature_key: str,
                         features_fn: Callable[[torch.Tensor], torch.Tensor], cache_dir: str | None,
                         batch_size: int, max_items: int | None, capture_all: bool, capture_mean_cov: bool,
                         progress: Callable[[int, int], None] | None = None) -> FeatureStats:
    """Statistics of the dataset's images, read from / written to cache_dir (npz, no pickles)."""
    cache_file = None
    if cache_dir:
        src = os.path.abspath(dataset_kwargs.get('path', ''))
        stamp = os.path.getmtime(src) if os.path.exists(src) else 0
        key = json.dumps(dict(path=src, stamp=stamp, kwargs={k: v for k, v in sorted(dataset_kwargs.items())},
                              feature=feature_key, max_items=max_items, all=capture_all, mean_cov=capture_mean_cov),
                         sort_keys=True, default=str)
        digest = hashlib.md5(key.encode()).hexdigest()
        cache_file = os.path.join(cache_dir, f'{dataset.name}-{feature_key}-{digest}.npz')
        if os.path.isfile(cache_file):
            return FeatureStats.from_npz(cache_file)
    total = len(dataset) if max_items is None else min(len(dataset), max_items)
    stats = FeatureStats(capture_all=capture_all, capture_mean_cov=capture_mean_cov, max_items=max_items)
    accumulate_stats(iterate_dataset_images(dataset, batch_size, max_items), features_fn, stats, total, progress)
    if cache_file:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = cache_file + '.tmp.npz'
        np.savez(tmp, **stats.to_npz_dict())
        os.replace(tmp, cache_file)
    return stats
