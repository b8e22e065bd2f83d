"""Seeds to w: the blended, truncated and style-mixed latent the renderer shows, and batches of seeds."""

from __future__ import annotations

import numpy as np
import torch

from networks.conventions import seed_to_zc
from viz.core.synthesis import run_synthesis

__all__ = ['compute_ws', 'generate_batch']


def compute_ws(G: torch.nn.Module, w0_seeds, stylemix_seed: int, stylemix_idx, psi: float, cutoff: int | None,
               device: torch.device) -> torch.Tensor:
    """ws [1, num_ws, w_dim]: weighted blend of the seeds' w (relative to w_avg) plus style mixing."""
    seeds = [int(s) for s, _w in w0_seeds] or [0]
    all_seeds = list(dict.fromkeys(seeds + [int(stylemix_seed)]))
    zs, cs = zip(*(seed_to_zc(s, G.z_dim, G.c_dim) for s in all_seeds))
    z = torch.as_tensor(np.stack(zs), dtype=torch.float32, device=device)
    c = torch.as_tensor(np.stack(cs), dtype=torch.float32, device=device)
    dtype = next(G.mapping.parameters()).dtype
    w_avg = G.mapping.w_avg.to(torch.float32)
    all_ws = G.mapping(z.to(dtype), c.to(dtype), truncation_psi=psi, truncation_cutoff=cutoff).to(torch.float32)
    all_ws = dict(zip(all_seeds, all_ws - w_avg))
    weights = list(w0_seeds) or [(0, 1.0)]
    w = torch.stack([all_ws[int(s)] * float(wt) for s, wt in weights]).sum(dim=0, keepdim=True)
    idx = [i for i in stylemix_idx if 0 <= i < G.num_ws]
    if idx:
        w[:, idx] = all_ws[int(stylemix_seed)][None, idx]
    return w + w_avg


def generate_batch(G: torch.nn.Module, seeds, device: torch.device, psi: float = 1.0, cutoff: int | None = None,
                   layer: str | None = None, noise_mode: str = 'const') -> torch.Tensor:
    """Images (or one layer's activations) for a list of seeds, float32 [N, C, H, W]."""
    zs, cs = zip(*(seed_to_zc(s, G.z_dim, G.c_dim) for s in seeds))
    dtype = next(G.mapping.parameters()).dtype
    z = torch.as_tensor(np.stack(zs), device=device).to(dtype)
    c = torch.as_tensor(np.stack(cs), device=device).to(dtype)
    ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
    out = run_synthesis(G, ws, noise_mode=noise_mode, capture_layer=layer)
    if isinstance(out, tuple):
        out = out[0]
    return out.to(torch.float32)
