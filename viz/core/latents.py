"""Seeds (or an explicit w / w+) to ws: the blended, truncated and style-mixed latent the renderer shows, and
batches of seeds.

An explicit latent (a projected_w.npz, a .npy, or a vector in the render arguments) replaces the seeds' blend;
truncation and style mixing apply to it as to a seed's w, and at psi = 1 it is used unchanged, so a projected
latent renders exactly the image its projection ended with.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from networks.conventions import class_count, one_hot, seed_to_zc
from networks.errors import UserError
from viz.core.synthesis import run_synthesis

__all__ = ['compute_ws', 'generate_batch', 'latent_file_key', 'as_ws']


def latent_file_key(path: str) -> tuple[str, int] | str:
    """A latent file with its modification time, for cache keys: re-running a projection into the same file must
    update everything computed from it."""
    if path and os.path.exists(path):
        return path, os.stat(path).st_mtime_ns
    return path


def as_ws(G: torch.nn.Module, latent: np.ndarray | tuple[float, ...],
          device: torch.device | str = 'cpu') -> torch.Tensor:
    """[1, num_ws, w_dim] float32 from a w [w_dim] (repeated for every layer), a w+ [num_ws, w_dim] (or
    [1, num_ws, w_dim]), or either flattened; :class:`UserError` for any other shape or a non-finite value."""
    array = np.asarray(latent, dtype=np.float32)
    num_ws, w_dim = int(G.num_ws), int(G.w_dim)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 1 and array.size == num_ws * w_dim and array.size != w_dim:
        array = array.reshape(num_ws, w_dim)
    if array.shape == (w_dim,):
        array = np.broadcast_to(array, (num_ws, w_dim))
    if array.shape != (num_ws, w_dim):
        raise UserError(f'a latent for this network is w [{w_dim}] or w+ [{num_ws}, {w_dim}], '
                        f'got shape {list(np.shape(latent))}')
    if not np.isfinite(array).all():
        raise UserError('the latent has non-finite values')
    return torch.tensor(array)[None].to(device)  # a copy: callers edit ws in place


def _truncate(w_avg: torch.Tensor, ws: torch.Tensor, psi: float, cutoff: int | None) -> torch.Tensor:
    """The mapping network's truncation, for a latent that did not come through it (exact at psi = 1)."""
    if psi == 1:
        return ws
    cutoff = ws.shape[1] if cutoff is None else cutoff
    return torch.cat([w_avg.lerp(ws[:, :cutoff], psi), ws[:, cutoff:]], dim=1)


def compute_ws(G: torch.nn.Module, w0_seeds, stylemix_seed: int, stylemix_idx, psi: float, cutoff: int | None,
               device: torch.device, latent: np.ndarray | tuple[float, ...] | None = None,
               class_idx: int | None = None) -> torch.Tensor:
    """ws [1, num_ws, w_dim]: weighted blend of the seeds' w (relative to w_avg), or the explicit ``latent``
    (see :func:`as_ws`), plus style mixing. ``class_idx`` fixes the class of conditional networks; None draws
    it from each seed."""
    c_dim = class_count(G)
    fixed_c = one_hot(c_dim, class_idx) if class_idx is not None and c_dim else None
    idx = [i for i in stylemix_idx if 0 <= i < G.num_ws]
    seeds = [] if latent is not None else [int(s) for s, _w in w0_seeds] or [0]
    all_seeds = list(dict.fromkeys(seeds + ([int(stylemix_seed)] if idx else [])))
    dtype = next(G.mapping.parameters()).dtype
    w_avg = G.mapping.w_avg.to(torch.float32)
    mapped = {}
    for seed in all_seeds:  # one at a time: a batch of other seeds must not change this seed's w by a rounding
        z, c = seed_to_zc(seed, G.z_dim, G.c_dim)
        c = c if fixed_c is None else fixed_c
        z = torch.as_tensor(z[None], dtype=torch.float32, device=device)
        c = torch.as_tensor(c[None], dtype=torch.float32, device=device)
        mapped[seed] = G.mapping(z.to(dtype), c.to(dtype), truncation_psi=psi,
                                 truncation_cutoff=cutoff)[0].to(torch.float32)
    if latent is not None:
        w = _truncate(w_avg.to(device), as_ws(G, latent, device), psi, cutoff)
    else:
        weights = list(w0_seeds) or [(0, 1.0)]
        if len(weights) == 1 and float(weights[0][1]) == 1.0:
            w = mapped[int(weights[0][0])][None].clone()  # exactly the seed's w, as the command-line tools draw it
        else:
            w = torch.stack([(mapped[int(s)] - w_avg) * float(wt) for s, wt in weights]).sum(dim=0, keepdim=True)
            w = w + w_avg
    if idx:
        w[:, idx] = mapped[int(stylemix_seed)][None, idx]
    return w


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
