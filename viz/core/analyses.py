"""The renderer's slow analyses (average spectrum, EQ readout, texture sticking), each cached by what it
depends on.

Each runs with the network's input transform at identity (`networks.stylegan3.input_transform`), whatever
the render that asked for it shows: their cache keys hold no transform.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import torch

from networks.conventions import seed_to_zc
from networks.stylegan3 import input_transform
from viz.core.images import to_uint8_rgb
from viz.core.latents import generate_batch
from viz.core.render_types import RenderArgs, RenderResult, error_text
from viz.core.views import colormap

__all__ = ['AnalysisCache', 'analysis_keys', 'mean_spectrum_db_view', 'eq_readout', 'sticking_views']


def analysis_keys(args: RenderArgs, layer: str | None) -> dict[str, tuple]:
    """Cache keys of the analyses `args` asks for (each depends only on what changes its result)."""
    netkey = (args.pkl, args.device, args.precision)
    keys = {}
    if args.spectrum_seeds > 0:
        keys['spectrum'] = ('spectrum', netkey, args.spectrum_seeds, layer if args.spectrum_layer else None,
                            args.trunc_psi, args.trunc_cutoff, args.noise_mode, args.fft_beta,
                            args.spectrum_dataset)
    if args.eq_readout:
        keys['eq'] = ('eq', netkey, args.w0_seeds, args.stylemix_seed, args.stylemix_idx, args.trunc_psi,
                      args.trunc_cutoff, args.eq_transforms)
    if args.sticking:
        seed = args.w0_seeds[0][0] if args.w0_seeds else 0
        keys['sticking'] = ('sticking', netkey, seed, args.trunc_psi, args.sticking_radius, args.sticking_num,
                            args.sticking_frames)
    return keys


class AnalysisCache:
    """The last `size` analysis results by key, and the code that fills `RenderResult`'s analysis fields."""

    def __init__(self, size: int = 16) -> None:
        self._values: OrderedDict[tuple, object] = OrderedDict()
        self._size = size

    def __contains__(self, key: tuple) -> bool:
        return key in self._values

    def get(self, key: tuple, compute):
        """The cached value of `key`, or `compute()` stored under it."""
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = compute()
        self._values[key] = value
        while len(self._values) > self._size:
            self._values.popitem(last=False)
        return value

    def pending(self, args: RenderArgs) -> bool:
        """Whether `args` asks for an analysis that is not cached yet (a slow render)."""
        return any(k not in self._values for k in analysis_keys(args, args.layer_name).values())

    def _attempt(self, what: str, key: tuple, compute, messages: list[str]):
        """The cached or computed value, or None with a message saying why `what` is missing."""
        try:
            return self.get(key, compute)
        except ImportError as exc:
            messages.append(f'{what} unavailable: {exc}')
        except Exception as exc:  # noqa: BLE001 - an analysis failing must not fail the render
            messages.append(f'{what} failed: {error_text(exc)}')
        return None

    def run(self, G: torch.nn.Module, has_transform: bool, args: RenderArgs, ws: torch.Tensor, layer: str | None,
            res: RenderResult, messages: list[str]) -> None:
        """Fill res.spectrum / res.eq / res.sticking as `args` asks; a failing analysis becomes a message."""
        dev = torch.device(args.device)
        keys = analysis_keys(args, layer)
        if 'spectrum' in keys:
            t = time.perf_counter()
            spec_layer = layer if args.spectrum_layer else None
            res.spectrum = self._attempt('spectrum panel', keys['spectrum'], lambda: mean_spectrum_db_view(
                G, args.spectrum_seeds, dev, layer=spec_layer, psi=args.trunc_psi, cutoff=args.trunc_cutoff,
                beta=args.fft_beta, dataset=args.spectrum_dataset or None), messages)
            res.timings['spectrum'] = time.perf_counter() - t
        if 'eq' in keys:
            t = time.perf_counter()
            if not has_transform:
                messages.append('EQ readout needs a StyleGAN3 network (no input transform in this one)')
            else:
                res.eq = self._attempt('EQ readout', keys['eq'], lambda: eq_readout(G, ws, args.eq_transforms),
                                       messages)
            res.timings['eq'] = time.perf_counter() - t
        if 'sticking' in keys:
            t = time.perf_counter()
            seed = args.w0_seeds[0][0] if args.w0_seeds else 0
            res.sticking = self._attempt('texture-sticking view', keys['sticking'], lambda: sticking_views(
                G, seed, dev, args.sticking_radius, args.sticking_num, args.sticking_frames, args.trunc_psi),
                messages)
            res.timings['sticking'] = time.perf_counter() - t


def mean_spectrum_db_view(G: torch.nn.Module, num_seeds: int, device: torch.device, layer: str | None = None,
                          psi: float = 1.0, cutoff: int | None = None, beta: float = 8.0, dataset: str | None = None,
                          batch: int = 1, range_db: float = 80.0) -> dict:
    """The GUI's spectrum view: mean 2-D power spectrum of the output (or `layer`) over seeds 0..num_seeds-1.

    Images are taken as they are (about [-1, 1], not standardised), and the result is a display dict in dB
    (image, slices, and the same of a dataset when given), unlike the linear spectrum of
    viz.analysis.spectra.average_standardized_spectrum.
    """
    from ops.spectrum import power_spectrum, power_spectrum_sum, spectrum_slices, spectrum_to_db

    total, count = None, 0
    with input_transform(G):  # the untransformed network (the cache key holds no transform)
        for start in range(0, num_seeds, batch):
            seeds = list(range(start, min(start + batch, num_seeds)))
            imgs = generate_batch(G, seeds, device, psi=psi, cutoff=cutoff, layer=layer)
            part = power_spectrum_sum(imgs, beta=beta)
            total = part if total is None else total + part
            count += len(seeds)
    spec = torch.fft.fftshift(total / count)
    result = _spectrum_dict(spec, spectrum_to_db, spectrum_slices, range_db)
    result['num_seeds'] = count
    result['layer'] = layer
    if dataset:
        from training.dataset import ImageFolderDataset

        ds = ImageFolderDataset(dataset, max_size=num_seeds)
        imgs = torch.stack([torch.as_tensor(ds[i][0]) for i in range(len(ds))]).to(torch.float32) / 127.5 - 1
        dspec = power_spectrum(imgs, beta=beta)
        d = _spectrum_dict(dspec, spectrum_to_db, spectrum_slices, range_db)
        result.update(dataset_db=d['db'], dataset_deg0=d['deg0'], dataset_deg45=d['deg45'],
                      dataset_freqs=d['freqs'], dataset_image=d['image'], dataset_size=len(ds))
    return result


def _spectrum_dict(spec, spectrum_to_db, spectrum_slices, range_db: float) -> dict:
    db = spectrum_to_db(spec).astype(np.float32)
    slices = spectrum_slices(spec)
    top = float(db.max())
    image = colormap((db - (top - range_db)) / range_db)
    return dict(db=db, image=image, freqs=np.asarray(slices['freqs'], np.float64),
                deg0=spectrum_to_db(slices['deg0']).astype(np.float64),
                deg45=spectrum_to_db(slices['deg45']).astype(np.float64))


def eq_readout(G: torch.nn.Module, ws: torch.Tensor, num_transforms: int) -> dict:
    """EQ-T (integer, fractional) and EQ-R in dB for one latent (analysis helper's function)."""
    from training.metrics.equivariance import equivariance_readout

    with torch.no_grad(), input_transform(G):
        out = equivariance_readout(G, ws.clone(), num_transforms=num_transforms, seed=0)
    return {k: float(v) for k, v in out.items()}


def sticking_views(G: torch.nn.Module, seed: int, device: torch.device, radius: float, num: int, frames: int,
                   psi: float) -> dict:
    """Texture-sticking images (paper Fig. 1): neighbourhood average and slice streak (viz.analysis.sticking)."""
    from viz.analysis.sticking import neighbourhood_average, slice_streak

    z0 = torch.as_tensor(seed_to_zc(seed, G.z_dim, G.c_dim)[0], dtype=torch.float32, device=device)
    z1 = torch.as_tensor(seed_to_zc(seed + 1, G.z_dim, G.c_dim)[0], dtype=torch.float32, device=device)
    with torch.no_grad(), input_transform(G):
        # Batch 1: on the CPU the pure-PyTorch generator costs more per image in larger batches.
        avg = neighbourhood_average(G, z0, radius=radius, num=num, psi=psi, batch_size=1)
        streak = slice_streak(G, z0, z1, num_frames=frames, psi=psi, batch_size=1)
    return dict(average=to_uint8_rgb(avg), streak=to_uint8_rgb(streak))
