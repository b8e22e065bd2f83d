"""Texture sticking, the alias-free paper's Fig. 1, for any network.

- `neighbourhood_average`: the mean of the images of many latents drawn in a small neighbourhood of a
  central latent. Details that move with the content blur out; details glued to pixel coordinates
  (StyleGAN2) stay sharp.
- `slice_streak`: one pixel column of every frame of a latent walk, stacked side by side. Content that
  moves gives slanted, flowing lines; sticking texture gives horizontal streaks.

:func:`sticking_views` is the one definition the command line (`python -m tools.sticking`, one row per network,
StyleGAN2 vs StyleGAN3 side by side), the GUI's panel and the headless view all draw:

- the neighbourhood: `num` latents z0 + radius * N(0, I), drawn from a generator seeded with the seed;
- the walk: from z0 = z(seed) to z0 + 4 * radius * z(seed + 1), a short step in a random direction whose
  length follows the same radius. A walk from seed to seed + 1 (another image altogether) would show every
  column change for any network; the short walk keeps the content nearly the same, so what a column shows is
  whether texture moves with it (StyleGAN3) or stays glued to the pixels (StyleGAN2: horizontal streaks), and
  `radius` says how far both views look around the seed;
- the class of a conditional network (`networks.conventions.class_label`): the given one, else the seed's own;
- one image per synthesis call (batch 1), so the three entry points give the same pixels on any device, and
  the network's input transform at identity.

:func:`sticking_ratio` puts the figure's left half into one number per seed: the high-frequency energy of the
neighbourhood average over that of the central image. Details glued to pixel coordinates survive the average
(StyleGAN2: a ratio near 1); details that move with the content cancel out (StyleGAN3: far below 1). NVlabs'
EQ-T measures the StyleGAN3 side of that gap only; this number is defined for any generator.
"""

from __future__ import annotations

import numpy as np
import torch

from networks.conventions import class_label, seed_latent, to_uint8_rgb
from networks.stylegan3 import input_transform

__all__ = ['neighbourhood_average', 'slice_streak', 'sticking_views', 'sticking_figure', 'compose_rows',
           'high_frequency_energy', 'sticking_ratio', 'HIGH_BAND']


def _as_latent(G: torch.nn.Module, z: torch.Tensor | int) -> torch.Tensor:
    """[1, z_dim] float32 latent; an int is a seed."""
    if isinstance(z, (int, np.integer)):
        return seed_latent(G, int(z))
    z = torch.as_tensor(z, dtype=torch.float32)
    return z.reshape(1, -1)


def _label(G: torch.nn.Module, c: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor:
    """`c` ([1, c_dim] or [c_dim]) for `n` images; None: all-zero (unconditional networks take [n, 0])."""
    if c is None:
        return torch.zeros([n, int(G.c_dim)], device=device)
    return torch.as_tensor(c, dtype=torch.float32, device=device).reshape(1, -1).expand(n, -1)


def _device_of(G: torch.nn.Module) -> torch.device:
    for tensor in G.parameters():
        return tensor.device
    return torch.device('cpu')


@torch.no_grad()
def neighbourhood_average(G: torch.nn.Module, z: torch.Tensor | int, c: torch.Tensor | None = None,
                          radius: float = 0.2, num: int = 64, psi: float = 1.0, batch_size: int = 16,
                          seed: int = 0) -> torch.Tensor:
    """Mean image [C, H, W] (float32, CPU, about [-1, 1]) over `num` latents z + radius * N(0, I)."""
    device = _device_of(G)
    z0 = _as_latent(G, z)
    gen = torch.Generator().manual_seed(int(seed))
    total = None
    done = 0
    while done < num:
        n = min(batch_size, num - done)
        zs = (z0 + radius * torch.randn([n, z0.shape[1]], generator=gen)).to(device)
        img = G(zs, _label(G, c, n, device), truncation_psi=psi, noise_mode='const')
        batch_sum = img.to('cpu', torch.float64).sum(dim=0)
        total = batch_sum if total is None else total + batch_sum
        done += n
    return (total / num).float()


@torch.no_grad()
def slice_streak(G: torch.nn.Module, z0: torch.Tensor | int, z1: torch.Tensor | int, num_frames: int,
                 column: int | None = None, c: torch.Tensor | None = None, psi: float = 1.0,
                 batch_size: int = 16) -> torch.Tensor:
    """Column `column` (default: the middle) of each frame of a linear walk from z0 to z1 in W: [C, H, num_frames]."""
    device = _device_of(G)
    za, zb = _as_latent(G, z0).to(device), _as_latent(G, z1).to(device)
    label = _label(G, c, 1, device)
    wa = G.mapping(za, label, truncation_psi=psi)
    wb = G.mapping(zb, label, truncation_psi=psi)
    col = G.img_resolution // 2 if column is None else int(column)
    columns = []
    for start in range(0, num_frames, batch_size):
        t = torch.arange(start, min(start + batch_size, num_frames), dtype=torch.float32, device=device)
        t = (t / max(num_frames - 1, 1)).reshape(-1, 1, 1)
        img = G.synthesis(wa + (wb - wa) * t, noise_mode='const')
        columns.append(img[:, :, :, col].float().cpu())
    return torch.cat(columns).permute(1, 2, 0).contiguous()


WALK_LENGTH = 4  # the walk's end is z0 + WALK_LENGTH * radius * z(seed + 1)


@torch.no_grad()
def sticking_views(G: torch.nn.Module, seed: int = 0, radius: float = 0.2, num: int = 64, num_frames: int = 128,
                   psi: float = 1.0, class_idx: int | None = None) -> dict[str, np.ndarray]:
    """Neighbourhood average and slice streak of one seed as HWC uint8 arrays (the definition in the module's
    docstring): dict(average, streak)."""
    z0 = _as_latent(G, seed)
    z1 = z0 + radius * WALK_LENGTH * seed_latent(G, seed + 1)
    c = class_label(G, class_idx, seed)
    with input_transform(G):
        average = neighbourhood_average(G, z0, c, radius=radius, num=num, psi=psi, batch_size=1, seed=seed)
        streak = slice_streak(G, z0, z1, num_frames, c=c, psi=psi, batch_size=1)
    return dict(average=to_uint8_rgb(average), streak=to_uint8_rgb(streak))


@torch.no_grad()
def sticking_figure(G: torch.nn.Module, seed: int = 0, radius: float = 0.2, num: int = 64, num_frames: int = 128,
                    psi: float = 1.0, class_idx: int | None = None) -> dict[str, np.ndarray]:
    """The seed's image (constant noise) beside :func:`sticking_views`: dict(central, average, streak), HWC uint8."""
    device = _device_of(G)
    c = class_label(G, class_idx, seed).to(device)
    with input_transform(G):
        central = G(_as_latent(G, seed).to(device), c, truncation_psi=psi, noise_mode='const')[0].cpu()
    return dict(central=to_uint8_rgb(central), **sticking_views(G, seed, radius, num, num_frames, psi, class_idx))


HIGH_BAND = 0.25   # cycles per pixel: the upper half of the band below Nyquist (0.5)


def high_frequency_energy(image: torch.Tensor, band: float = HIGH_BAND) -> float:
    """Energy of a [C, H, W] image at radial frequencies of at least `band` cycles per pixel: each channel minus
    its mean, times a separable Hann window (so the image's borders, which the FFT joins, add no edge), |FFT|^2
    summed over those frequencies and the channels, divided by H * W."""
    x = image.detach().to('cpu', torch.float64)
    x = x - x.mean(dim=(1, 2), keepdim=True)
    h, w = x.shape[-2:]
    window = torch.outer(torch.hann_window(h, periodic=False, dtype=torch.float64),
                         torch.hann_window(w, periodic=False, dtype=torch.float64))
    power = torch.fft.fft2(x * window).abs().square().sum(dim=0)
    fy = torch.fft.fftfreq(h, dtype=torch.float64).reshape(-1, 1)
    fx = torch.fft.fftfreq(w, dtype=torch.float64).reshape(1, -1)
    mask = (fx.square() + fy.square()).sqrt() >= band
    return float(power[mask].sum() / (h * w))


@torch.no_grad()
def sticking_ratio(G: torch.nn.Module, seed: int, radius: float = 0.2, num: int = 64, psi: float = 1.0,
                   class_idx: int | None = None, band: float = HIGH_BAND) -> float:
    """High-frequency energy (:func:`high_frequency_energy`) of the seed's neighbourhood average (the same
    neighbourhood as :func:`sticking_views`: `num` latents z(seed) + radius * N(0, I), drawn with the seed)
    over that of the seed's own image, both with constant noise and the input transform at identity."""
    device = _device_of(G)
    z0 = _as_latent(G, seed)
    c = class_label(G, class_idx, seed)
    with input_transform(G):
        central = G(z0.to(device), c.to(device), truncation_psi=psi, noise_mode='const')[0]
        average = neighbourhood_average(G, z0, c, radius=radius, num=num, psi=psi, seed=seed)
    reference = high_frequency_energy(central, band)
    if not reference > 0:
        return float('nan')     # a flat image has no detail to keep or lose
    return high_frequency_energy(average, band) / reference


def compose_rows(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Rows of HWC uint8 images on a white canvas, `gap` pixels apart."""
    height = max(img.shape[0] for row in rows for img in row)
    width = max(sum(img.shape[1] for img in row) + gap * (len(row) - 1) for row in rows)
    canvas = np.full([len(rows) * (height + gap) - gap, width, 3], 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        x = 0
        for img in row:
            canvas[r * (height + gap):r * (height + gap) + img.shape[0], x:x + img.shape[1]] = img
            x += img.shape[1] + gap
    return canvas
