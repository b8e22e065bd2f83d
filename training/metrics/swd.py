"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018, Progressive GAN, sec. 5).

Detector-free: needs only the dataset. For every pyramid level from the image resolution down to 16x16,
draw 128 random 7x7 neighbourhoods per image (descriptors of 7*7*C values), normalise each channel of
each level's descriptors by their own mean and std, and estimate the sliced Wasserstein distance between
the real and generated descriptor sets with 512 random unit directions, averaged over 4 repeats.
Reported x1e3 per level (`swd{res}`) and averaged over levels (`swd`), as in the paper's tables.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from training.metrics import feature_stats
from training.metrics.errors import MetricError

__all__ = ['laplacian_pyramid', 'patch_descriptors', 'sliced_wasserstein', 'compute_swd', 'compute_swd_floor']

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: torch.Tensor) -> torch.Tensor:
    N, C, H, W = x.shape
    f = _BINOMIAL.to(x)
    y = x.reshape(N * C, 1, H, W)
    y = F.conv2d(F.pad(y, [2, 2, 0, 0], mode='reflect'), f.reshape(1, 1, 1, 5))
    y = F.conv2d(F.pad(y, [0, 0, 2, 2], mode='reflect'), f.reshape(1, 1, 5, 1))
    return y.reshape(N, C, H, W)


def laplacian_pyramid(images: torch.Tensor, min_res: int = 16) -> list[torch.Tensor]:
    """Band-pass levels, finest first; the last level is the low-pass residual at min_res."""
    levels = []
    current = images
    while current.shape[-1] > min_res:
        low = _blur(current)[:, :, ::2, ::2]
        up = F.interpolate(low, scale_factor=2, mode='nearest')
        levels.append(current - _blur(up))
        current = low
    levels.append(current)
    return levels


def patch_descriptors(level: torch.Tensor, per_image: int, gen: torch.Generator, size: int = 7) -> torch.Tensor:
    """[N * per_image, C * size * size] random size x size neighbourhoods of each image."""
    N, C, H, W = level.shape
    half = size // 2
    ys = torch.randint(half, H - half, [N, per_image], generator=gen)
    xs = torch.randint(half, W - half, [N, per_image], generator=gen)
    offsets = torch.arange(-half, half + 1)
    rows = (ys[:, :, None] + offsets).reshape(N, per_image, size, 1).expand(-1, -1, -1, size)
    cols = (xs[:, :, None] + offsets).reshape(N, per_image, 1, size).expand(-1, -1, size, -1)
    flat = (rows * W + cols).reshape(N, 1, -1).expand(-1, C, -1)
    patches = level.reshape(N, C, H * W).gather(2, flat.to(level.device))
    patches = patches.reshape(N, C, per_image, size * size).permute(0, 2, 1, 3)
    return patches.reshape(N * per_image, C * size * size)


def _normalise(desc: np.ndarray, channels: int) -> np.ndarray:
    d = desc.reshape(desc.shape[0], channels, -1)
    d = (d - d.mean(axis=(0, 2), keepdims=True)) / np.maximum(d.std(axis=(0, 2), keepdims=True), 1e-8)
    return d.reshape(desc.shape[0], -1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, num_dirs: int = 512, repeats: int = 4, seed: int = 0,
                       device: torch.device | str | None = None) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of the projections.

    The projections are float32 and laid out one direction per row, so that each sort runs over contiguous
    memory: 4x faster than sorting float64 columns, equal to 1e-9 relative (the descriptors have unit variance).
    With a torch `device` the products and sorts run there; compute_swd passes its device when that is a CUDA
    GPU (MPS has no float64 for the mean). 1,024 images' descriptors take numpy about 15 s per level, which made
    the measurement after each save outlast a GPU slot's training, and torch on the CPU is slower than numpy.
    The random directions and subsets are the same draws either way, so both give the same value to float32
    rounding."""
    rng = np.random.RandomState(seed)
    n = min(a.shape[0], b.shape[0])
    on_device = device is not None
    if on_device:
        a32, b32 = (torch.from_numpy(np.asarray(x, dtype=np.float32)).to(device) for x in (a, b))
    else:
        a32, b32 = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    results = []
    for _ in range(repeats):
        dirs = rng.randn(a.shape[1], num_dirs)
        dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
        rows = np.ascontiguousarray(dirs.T, dtype=np.float32)                      # [num_dirs, dims]
        # Each set is projected whole, then subsampled: a BLAS product may round an element differently with its
        # column's place in the matrix, so projecting the chosen rows would make equal sets differ by ~1e-9.
        # A set no larger than the other is taken whole: its pick is a permutation, and sorting undoes it (the
        # draw is still made, so that the other set's draws stay the same). numpy's column gather left the rows
        # strided, which made each sort ten times slower (about 35 s of a 1,024-image level on 2 cores).
        pick_a, pick_b = rng.choice(a.shape[0], n, replace=False), rng.choice(b.shape[0], n, replace=False)
        if on_device:
            rows_t = torch.from_numpy(rows).to(device)
            pa, pb = rows_t @ a32.T, rows_t @ b32.T
            if n < a.shape[0]:
                pa = pa[:, torch.from_numpy(pick_a).to(device)]
            if n < b.shape[0]:
                pb = pb[:, torch.from_numpy(pick_b).to(device)]
            pa, pb = pa.sort(dim=1).values, pb.sort(dim=1).values
            results.append(float((pa - pb).abs().mean(dtype=torch.float64)))
            continue
        pa = rows @ a32.T                                                            # [num_dirs, n], rows contiguous
        pb = rows @ b32.T
        if n < a.shape[0]:
            pa = np.take(pa, pick_a, axis=1)
        if n < b.shape[0]:
            pb = np.take(pb, pick_b, axis=1)
        pa.sort(axis=1)
        pb.sort(axis=1)
        results.append(np.abs(pa - pb).mean(dtype=np.float64))
    return float(np.mean(results))


def _descriptors(batches, per_image: int, seed: int, min_res: int) -> tuple[list[np.ndarray], list[int], int]:
    gen = torch.Generator().manual_seed(seed)
    per_level: list[list[np.ndarray]] | None = None
    resolutions: list[int] = []
    channels = 0
    for images in batches:
        x = images.float().cpu() / 127.5 - 1
        channels = x.shape[1]
        levels = laplacian_pyramid(x, min_res)
        if per_level is None:
            per_level = [[] for _ in levels]
            resolutions = [lvl.shape[-1] for lvl in levels]
        for store, lvl in zip(per_level, levels):
            store.append(patch_descriptors(lvl, per_image, gen).numpy())
    return [np.concatenate(d) for d in (per_level or [])], resolutions, channels


def compute_swd(opts, num_images: int, per_image: int = 128, min_res: int = 16) -> dict:
    G = opts.G
    dataset = feature_stats.open_dataset(opts.dataset_kwargs, G.img_resolution, G.img_channels)
    num_images = min(num_images, len(dataset))
    min_res = min(min_res, G.img_resolution)
    real, resolutions, channels = _descriptors(
        feature_stats.iterate_dataset_images(dataset, opts.batch_size, num_images), per_image, 1, min_res)
    fake, _, _ = _descriptors(
        feature_stats.iterate_generator_images(G, num_images, opts.batch_size, opts.device, seed=opts.rank,
                                               dataset=dataset), per_image, 2, min_res)
    results = {}
    device = torch.device(opts.device)
    for res, a, b in zip(resolutions, real, fake):
        results[f'swd{res}'] = sliced_wasserstein(_normalise(a, channels), _normalise(b, channels),
                                                  device=device if device.type == 'cuda' else None) * 1e3
    results['swd'] = float(np.mean(list(results.values())))
    return results


def compute_swd_floor(dataset_kwargs: dict, resolution: int, num_images: int, batch_size: int = 64,
                      per_image: int = 128, min_res: int = 16) -> dict:
    """SWD between two disjoint sets of real images (the first `num_images` and the next `num_images`, no
    x-flips): the value a perfect generator would reach with the same sample count; same keys as compute_swd."""
    dataset = feature_stats.open_dataset(dict(dataset_kwargs, xflip=False), resolution)
    if 2 * num_images > len(dataset):
        raise MetricError(f'the real-vs-real floor of {num_images} images needs {2 * num_images} '
                                        f'images; the dataset has {len(dataset)}')
    min_res = min(min_res, resolution)

    def images(start: int):
        for lo in range(start, start + num_images, batch_size):
            hi = min(lo + batch_size, start + num_images)
            yield torch.from_numpy(np.stack([dataset[i][0] for i in range(lo, hi)]))
    first, resolutions, channels = _descriptors(images(0), per_image, 1, min_res)
    second, _, _ = _descriptors(images(num_images), per_image, 2, min_res)
    results = {}
    for res, a, b in zip(resolutions, first, second):
        results[f'swd{res}'] = sliced_wasserstein(_normalise(a, channels), _normalise(b, channels)) * 1e3
    results['swd'] = float(np.mean(list(results.values())))
    return results
