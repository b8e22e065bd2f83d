"""Equivariance metrics EQ-T (integer), EQ-T_frac and EQ-R (Karras et al. 2021, section 3 and appendix E).

For a latent, the generator draws `orig` with the identity input transform, then an image `img` with a
random input transform T (given to the network as its inverse in `G.synthesis.input.transform`); the
reference is `orig` transformed by T with the band-limited resampling of `ops.resample`. The score is a
PSNR in dB with I_max = 2 (images span [-1, 1]), over the pixels valid in both images:
    20 log10(2) - 10 log10(mse).
Translations are uniform in [-1/8, 1/8] of the image per axis (rounded to whole pixels for EQ-T),
rotations uniform over the full circle. Every sample draws its own latent, label and transform from a
generator seeded by (seed, sample index), so the figures depend on `seed` and the sample count only: the
batch size (and the number of processes) changes the speed, not the draws. The mapping network and the
untransformed `orig` run batched; the transformed image runs per sample, as the transform buffer is
shared by the batch. (NVlabs draws one transform per batch of 4; the expectation is the same.)
Squared errors and mask counts are accumulated in float64 on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from networks.stylegan3 import input_transform, input_transform_of
from ops import resample
from training.metrics import feature_stats
from training.metrics.errors import MetricError

__all__ = ['EQ_METRICS', 'input_transform_buffer', 'equivariance_readout', 'compute_equivariance', 'psnr_from_sums',
           'sample_generator', 'random_translation', 'random_angle']

EQ_METRICS = {'eqt50k_int': 'eqt_int', 'eqt50k_frac': 'eqt_frac', 'eqr50k': 'eqr'}
TRANSLATE_MAX = 0.125
ROTATE_MAX = 1.0  # in units of pi: the full circle


def input_transform_buffer(G: torch.nn.Module, who_needs: str = 'equivariance metrics need') -> torch.Tensor:
    """The generator's 3x3 input-transform buffer; MetricError (a UserError and ValueError) with a clear message if
    none, starting with `who_needs` (what cannot run without one)."""
    transform = input_transform_of(G)
    if transform is None or tuple(transform.shape) != (3, 3):
        name = type(G).__module__ + '.' + type(G).__name__
        raise MetricError(f'{who_needs} a generator with an input transform '
                         f'(G.synthesis.input.transform, as in StyleGAN3); {name} has none '
                         f'(StyleGAN2 networks cannot be measured this way)')
    return transform


def psnr_from_sums(sq_err: float, count: float) -> float:
    """PSNR in dB with I_max = 2 from a sum of squared errors over `count` valid pixels."""
    if count <= 0:
        return float('nan')
    mse = sq_err / count
    if mse <= 0:
        return float('inf')
    return 20.0 * math.log10(2.0) - 10.0 * math.log10(mse)


def _sums(ref: torch.Tensor, img: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """[sum of squared errors, valid count]: per-image partial sums on the device (float32, no float64
    there), the rest in float64 on the CPU."""
    err = ((ref - img).square() * mask).flatten(1).sum(dim=1)
    count = mask.flatten(1).sum(dim=1)
    return np.array([err.to('cpu', torch.float64).sum().item(), count.to('cpu', torch.float64).sum().item()])


def random_translation(gen: torch.Generator, resolution: int, integer: bool) -> tuple[float, float]:
    """One draw of the metrics' translation (x, y) in image widths, whole pixels at `resolution` if `integer`:
    the per-layer analysis draws the same transforms as the metric, so its output row is the metric's number."""
    t = (torch.rand(2, generator=gen, dtype=torch.float64) * 2 - 1) * TRANSLATE_MAX
    if integer:
        t = (t * resolution).round() / resolution
    return float(t[0]), float(t[1])


def random_angle(gen: torch.Generator) -> float:
    """One draw of the metric's rotation angle in radians."""
    return float((torch.rand([], generator=gen, dtype=torch.float64) * 2 - 1) * (ROTATE_MAX * math.pi))


def _eq_terms(synth: Callable[[torch.Tensor], torch.Tensor], transform: torch.Tensor, orig: torch.Tensor,
              kind: str, gen: torch.Generator, resolution: int, drawn: list | None = None) -> np.ndarray:
    """[sum of squared errors, valid count] of one random transform of kind 'eqt_int' | 'eqt_frac' | 'eqr'."""
    eye = torch.eye(3, device=transform.device, dtype=transform.dtype)
    if kind in ('eqt_int', 'eqt_frac'):
        tx, ty = random_translation(gen, resolution, integer=(kind == 'eqt_int'))
        if drawn is not None:
            drawn.append((tx, ty))
        mat = eye.clone()
        mat[0, 2], mat[1, 2] = -tx, -ty  # the inverse of translating by (tx, ty)
        transform.copy_(mat)
        img = synth(orig)
        apply = resample.apply_integer_translation if kind == 'eqt_int' else resample.apply_fractional_translation
        ref, mask = apply(orig, tx, ty)
        return _sums(ref, img, mask)
    if kind == 'eqr':
        angle = random_angle(gen)
        if drawn is not None:
            drawn.append(angle)
        transform.copy_(resample.rotation_matrix(-angle).to(transform))
        img = synth(orig)
        ref, ref_mask = resample.apply_fractional_rotation(orig, angle)
        pseudo, pseudo_mask = resample.apply_fractional_pseudo_rotation(img, angle)
        mask = ref_mask * pseudo_mask
        return _sums(ref, pseudo, mask)
    raise ValueError(f'unknown equivariance kind {kind!r}')


def _synthesis_fn(G: torch.nn.Module, ws: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    def synth(_orig=None):
        return G.synthesis(ws, noise_mode='const').float()
    return synth


@torch.no_grad()
def equivariance_readout(G: torch.nn.Module, ws: torch.Tensor, num_transforms: int = 4, seed: int = 0) -> dict:
    """EQ-T, EQ-T_frac and EQ-R in dB for one latent `ws` [1, num_ws, w_dim], over `num_transforms` draws each.

    The transforms are drawn from `seed`, so the same latent always gives the same readout. The
    generator's input transform is restored afterwards.
    """
    input_transform_buffer(G)  # a clear error for networks without one
    gen = torch.Generator().manual_seed(int(seed))
    res = int(getattr(G, 'img_resolution', 0) or 0)
    with input_transform(G) as transform:  # identity for the reference image, restored on exit
        synth = _synthesis_fn(G, ws)
        orig = synth()
        res = res or orig.shape[-1]
        out = {}
        for kind in ('eqt_int', 'eqt_frac', 'eqr'):
            sums = sum(_eq_terms(synth, transform, orig, kind, gen, res) for _ in range(num_transforms))
            out[kind] = psnr_from_sums(*sums)
        return out


def sample_generator(seed: int, index: int) -> torch.Generator:
    """The CPU generator of sample `index` under `seed`: its latent, label and transform come from it alone."""
    state = np.random.SeedSequence([int(seed) % (1 << 63), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


@torch.no_grad()
def compute_equivariance(G: torch.nn.Module, metric: str, num_samples: int, batch_size: int,
                         device: torch.device | str = 'cpu', seed: int = 0, progress: Callable | None = None,
                         rank: int = 0, num_gpus: int = 1, dataset=None,
                         transforms_out: list | None = None) -> float:
    """The dataset-free metric `metric` ('eqt50k_int' | 'eqt50k_frac' | 'eqr50k') over `num_samples` latents.

    Sample i (0 <= i < num_samples) draws its latent, label and one transform from `sample_generator(seed,
    i)`; with several processes, rank r takes samples r, r + num_gpus, ... and the sums are all-reduced.
    Conditional networks get labels from `dataset` when given (else random classes). `progress(done)` is
    called after every batch if given; `transforms_out`, if a list, receives each sample's transform
    parameters ((tx, ty) or angle), for tests and logs.
    """
    if metric not in EQ_METRICS:
        raise ValueError(f'unknown equivariance metric {metric!r}; choose from {sorted(EQ_METRICS)}')
    if batch_size < 1:
        raise ValueError(f'batch_size must be positive, got {batch_size}')
    kind = EQ_METRICS[metric]
    input_transform_buffer(G)  # a clear error for networks without one
    device = torch.device(device)
    resolution = int(G.img_resolution)
    indices = list(range(rank, num_samples, max(num_gpus, 1)))
    sums = np.zeros(2)
    with input_transform(G) as transform:  # restored on exit
        for start in range(0, len(indices), batch_size):
            gens = [sample_generator(seed, i) for i in indices[start:start + batch_size]]
            # Draw in a fixed per-sample order (latent, label, transform), independent of the batching.
            z = torch.cat([torch.randn([1, G.z_dim], generator=g) for g in gens]).to(device)
            c = torch.cat([feature_stats.random_labels(G, 1, g, dataset) for g in gens]).to(device)
            ws = G.mapping(z, c)
            transform.copy_(torch.eye(3))
            orig = _synthesis_fn(G, ws)()
            for j, g in enumerate(gens):
                sums += _eq_terms(_synthesis_fn(G, ws[j:j + 1]), transform, orig[j:j + 1], kind, g, resolution,
                                  transforms_out)
            if progress is not None:
                progress(min((start + len(gens)) * max(num_gpus, 1), num_samples))
    if num_gpus > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        total = torch.tensor(sums, dtype=torch.float64, device=device if device.type == 'cuda' else 'cpu')
        torch.distributed.all_reduce(total)
        sums = total.cpu().numpy()
    return psnr_from_sums(*sums)
