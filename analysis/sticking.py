"""Texture sticking, the alias-free paper's Fig. 1, for any network.

- `neighbourhood_average`: the mean of the images of many latents drawn in a small neighbourhood of a
  central latent. Details that move with the content blur out; details glued to pixel coordinates
  (StyleGAN2) stay sharp.
- `slice_streak`: one pixel column of every frame of a latent walk, stacked side by side. Content that
  moves gives slanted, flowing lines; sticking texture gives horizontal streaks.

The command line is `python -m tools.sticking` (one row per network, StyleGAN2 vs StyleGAN3 side by side).
"""

from __future__ import annotations

import numpy as np
import torch

from networks.conventions import seed_latent, to_uint8_rgb

__all__ = ['neighbourhood_average', 'slice_streak', 'sticking_figure', 'compose_rows']


def _as_latent(G: torch.nn.Module, z: torch.Tensor | int) -> torch.Tensor:
    """[1, z_dim] float32 latent; an int is a seed."""
    if isinstance(z, (int, np.integer)):
        return seed_latent(G, int(z))
    z = torch.as_tensor(z, dtype=torch.float32)
    return z.reshape(1, -1)


def _label(G: torch.nn.Module, c: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor:
    c_dim = int(getattr(G, 'c_dim', 0) or 0)
    if c is None:
        return torch.zeros([n, c_dim], device=device)
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


def sticking_figure(G: torch.nn.Module, seed: int = 0, radius: float = 0.2, num: int = 64, num_frames: int = 128,
                    psi: float = 1.0) -> dict[str, np.ndarray]:
    """Central image, neighbourhood average and slice streak of one network as HWC uint8 arrays."""
    device = _device_of(G)
    z0 = _as_latent(G, seed)
    central = G(z0.to(device), _label(G, None, 1, device), truncation_psi=psi, noise_mode='const')[0].cpu()
    average = neighbourhood_average(G, z0, radius=radius, num=num, psi=psi, seed=seed)
    z1 = z0 + radius * 4 * seed_latent(G, seed + 1)
    streak = slice_streak(G, z0, z1, num_frames, psi=psi)
    return dict(central=to_uint8_rgb(central), average=to_uint8_rgb(average), streak=to_uint8_rgb(streak))


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
