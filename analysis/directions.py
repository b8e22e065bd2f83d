"""Latent directions: GANSpace PCA of W (cached on disk per network), user direction files, and edits of ws.

GANSpace (Härkönen et al. 2020) samples many w = mapping(z), takes the principal axes of that cloud and moves
a latent along them, in only some of the ws (coarse layers for pose and shape, fine ones for colour); the top
axes are meaningful edits without any labels. Here:

- :func:`principal_directions`: PCA of samples (unit axes, their standard deviations, the mean);
- :func:`network_pca`: that PCA for one network, computed once and cached on disk under a key made from a hash
  of the network's weights (so a retrained snapshot never reuses another's axes);
- :func:`load_direction_file`: user directions from ``.npy`` / ``.npz`` (e.g. InterFaceGAN boundaries, [1, 512]),
  read without unpickling and checked for shape and finiteness;
- :func:`apply_directions`: ws + strength * direction in a layer range; strength 0 leaves ws bit-identical;
- :func:`save_edit`: the edited latent as a ``projected_w.npz``-style file (key ``w``), loadable as a latent.

An edit is a tuple ``(source, index, strength, layers)``: source ``'pca'`` (strength in standard deviations of
W along that axis) or a file path (strength times the file's vector), layers as in
:func:`layer_range`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from analysis.latent_files import read_array
from networks.atomic_io import atomic_write
from networks.conventions import class_count, random_class_labels
from networks.errors import UserError
from networks.file_io import read_npz

__all__ = ['DEFAULT_PCA_SAMPLES', 'PCA_COMPONENTS', 'PCA', 'Edit', 'principal_directions', 'sample_w', 'weights_hash',
           'default_cache_dir', 'network_pca', 'load_direction_file', 'parse_direction', 'DirectionResolver',
           'apply_directions', 'save_edit', 'LAYER_PRESETS', 'LAYER_SPEC', 'layer_range']

DEFAULT_PCA_SAMPLES = 10_000   # GANSpace uses 1e6 for its figures; 1e4 fixes the top axes well (about 1 s on a CPU)
PCA_COMPONENTS = 64            # axes kept in the cache (sliders show the top few)
PCAS_HELD = 4                  # networks whose PCA stays in memory: the shown one and the compared ones
MAX_DIRECTION_FILE = 64 << 20  # bytes
MAX_PCA_CACHE = 64 << 20       # bytes; 64 axes of a 512-wide w are 130 KB
APP_NAME = 'aliasfree-workbench'

Edit = tuple[str, int, float, str]  # (source 'pca' or a file, index, strength, layers)


LAYER_PRESETS = ('all', 'coarse', 'middle', 'fine')
LAYER_SPEC = re.compile(r'(all|coarse|middle|fine|(\d{1,4})-(\d{1,4}))')


def layer_range(spec: str, num_ws: int) -> tuple[int, int]:
    """[start, stop) of the ws a direction moves: a preset or 'A-B' (inclusive, clipped to the network).

    The presets split the ws as GANSpace does for 18 of them (coarse 0-3, middle 4-7, fine 8-17), scaled to
    ``num_ws``: coarse layers set pose and shape, fine ones colour and texture.
    """
    match = LAYER_SPEC.fullmatch(spec)
    if match is None:
        raise UserError(f'layers {spec!r}: expected all, coarse, middle, fine or A-B (e.g. 0-3)')
    coarse_end, middle_end = round(num_ws * 4 / 18), round(num_ws * 8 / 18)
    if match.group(2) is not None:
        first, last = int(match.group(2)), int(match.group(3))
        if first > last:
            raise UserError(f'layers {spec!r}: the first layer is after the last')
        return min(first, num_ws), min(last + 1, num_ws)
    return {'all': (0, num_ws), 'coarse': (0, coarse_end), 'middle': (coarse_end, middle_end),
            'fine': (middle_end, num_ws)}[spec]


@dataclass(frozen=True)
class PCA:
    """Principal axes of W: ``components`` [k, w_dim] unit rows (largest variance first), ``stddev`` [k] the
    standard deviation of W along each, ``mean`` [w_dim]."""

    components: np.ndarray
    stddev: np.ndarray
    mean: np.ndarray
    num_samples: int


def principal_directions(samples: np.ndarray, k: int) -> PCA:
    """PCA of ``samples`` [N, D] by SVD of the centred data; each axis's sign makes its largest entry positive
    (so the same network always gives the same slider direction)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise UserError(f'PCA needs at least 2 samples of [N, D], got shape {list(x.shape)}')
    mean = x.mean(axis=0)
    _u, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = min(int(k), vt.shape[0])
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    stddev = singular[:k] / np.sqrt(x.shape[0] - 1)
    return PCA(comps.astype(np.float32), stddev.astype(np.float32), mean.astype(np.float32), int(x.shape[0]))


@torch.no_grad()
def sample_w(G: torch.nn.Module, num: int, seed: int = 0, device: torch.device | str = 'cpu',
             batch: int = 1000, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """[num, w_dim] float32 w = mapping(z, c) for z ~ N(0, I) (and uniform random classes), untruncated;
    `progress(done, num)` after each batch."""
    gen = torch.Generator().manual_seed(int(seed))
    out = []
    for start in range(0, num, batch):
        n = min(batch, num - start)
        z = torch.randn([n, G.z_dim], generator=gen)
        c = random_class_labels(class_count(G), n, gen)
        ws = G.mapping(z.to(device), c.to(device), truncation_psi=1)
        out.append(ws[:, 0].to(torch.float32).cpu().numpy())
        if progress is not None:
            progress(start + n, num)
    return np.concatenate(out)


def weights_hash(G: torch.nn.Module) -> str:
    """sha256 (hex) of every parameter and buffer of G: names, dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(G.state_dict().items()):
        t = tensor.detach().to('cpu').contiguous()
        digest.update(f'{name}|{t.dtype}|{tuple(t.shape)}|'.encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b'')
    return digest.hexdigest()


def default_cache_dir() -> str:
    """The platform's per-user cache folder for this project (XDG on Linux, Library/Caches on macOS,
    LOCALAPPDATA on Windows)."""
    if sys.platform == 'win32':
        base = os.environ.get('LOCALAPPDATA') or os.path.expanduser('~\\AppData\\Local')
        return os.path.join(base, APP_NAME, 'Cache')
    if sys.platform == 'darwin':
        return os.path.join(os.path.expanduser('~/Library/Caches'), APP_NAME)
    return os.path.join(os.environ.get('XDG_CACHE_HOME') or os.path.expanduser('~/.cache'), APP_NAME)


def _read_pca(path: str) -> PCA | None:
    try:
        data = read_npz(path, max_bytes=MAX_PCA_CACHE, what='PCA cache file')
        if np.ndim(data['num_samples']) != 0 or data['num_samples'].dtype.kind not in 'iu':
            return None
        pca = PCA(np.array(data['components'], np.float32), np.array(data['stddev'], np.float32),
                  np.array(data['mean'], np.float32), int(data['num_samples']))
    except (UserError, KeyError, ValueError, TypeError):   # FileReadError, a missing key, text for numbers
        return None  # a damaged cache entry is recomputed, not an error
    ok = pca.components.ndim == 2 and pca.stddev.shape == pca.components.shape[:1] and \
        pca.mean.shape == pca.components.shape[1:] and np.isfinite(pca.components).all()
    return pca if ok else None


def network_pca(G: torch.nn.Module, num_samples: int = DEFAULT_PCA_SAMPLES, cache_dir: str | None = None,
                device: torch.device | str = 'cpu', progress: Callable[[int, int], None] | None = None) -> PCA:
    """The PCA of this network's W, from the disk cache when it holds it (key: weights hash, sample count);
    `progress(done, total)` reports the samples while it is computed."""
    folder = cache_dir or default_cache_dir()
    path = os.path.join(folder, f'pca_{weights_hash(G)[:32]}_{int(num_samples)}.npz')
    if os.path.isfile(path):
        cached = _read_pca(path)
        if cached is not None and cached.components.shape[1] == G.w_dim:
            return cached
    pca = principal_directions(sample_w(G, int(num_samples), device=device, progress=progress), PCA_COMPONENTS)

    def write(f) -> None:
        np.savez(f, components=pca.components, stddev=pca.stddev, mean=pca.mean, num_samples=pca.num_samples)

    try:
        atomic_write(path, write)
    except (UserError, OSError):
        pass  # an unwritable cache costs only the recomputation next time
    return pca


def load_direction_file(path: str, w_dim: int | None = None) -> np.ndarray:
    """[k, w_dim] float32 directions from a .npy ([w_dim] or [k, w_dim]) or .npz (key ``directions`` or
    ``boundary``, else its only array); no pickles are read, and shape and finiteness are checked."""
    array = read_array(path, 'direction file', ('directions', 'boundary'), MAX_DIRECTION_FILE)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise UserError(f'direction file {path!r}: expected [w_dim] or [k, w_dim], got shape {list(array.shape)}')
    if w_dim is not None and array.shape[1] != w_dim:
        raise UserError(f'direction file {path!r}: directions have {array.shape[1]} values, the network\'s w {w_dim}')
    if not np.isfinite(array).all():
        raise UserError(f'direction file {path!r} has non-finite values')
    return array.astype(np.float32)


def parse_direction(text: str) -> Edit:
    """``SOURCE[:INDEX]=STRENGTH[@LAYERS]`` -> (source, index, strength, layers).

    SOURCE is ``pca`` or a .npy / .npz file (checked here); INDEX defaults to 0; LAYERS to ``all``. Examples:
    ``pca:0=2``, ``pca:3=-1.5@coarse``, ``smile.npy=3@4-7``.
    """
    head, sep, tail = text.rpartition('=')
    if not sep or not head:
        raise UserError(f'direction {text!r}: expected SOURCE[:INDEX]=STRENGTH[@LAYERS], e.g. pca:0=2@coarse',
                        option='direction')
    strength_text, _, layers = tail.partition('@')
    layers = layers or 'all'
    try:
        strength = float(strength_text)
    except ValueError:
        raise UserError(f'direction {text!r}: strength {strength_text!r} is not a number', option='direction') from None
    if not np.isfinite(strength) or abs(strength) > 1e4:
        raise UserError(f'direction {text!r}: strength must be finite and at most 1e4 in size', option='direction')
    try:
        layer_range(layers, 4096)  # the spelling and order; clipped to the network when applied
    except UserError as err:
        raise UserError(f'direction {text!r}: {err}', option='direction') from None
    source, index = head, 0
    base, colon, index_text = head.rpartition(':')
    if colon and base and index_text.isdigit():  # 'C:\\x.npy' keeps its drive letter: only digits make an index
        source, index = base, int(index_text)
    if index >= 4096:
        raise UserError(f'direction {text!r}: index {index} is out of range 0..4095', option='direction')
    if source != 'pca':
        if not os.path.isfile(source):
            raise UserError(f'direction {text!r}: {source!r} is not "pca" and not an existing file', option='direction')
        if not source.lower().endswith(('.npy', '.npz')):
            raise UserError(f'direction {text!r}: {source!r} is not a .npy / .npz file', option='direction')
    return source, index, strength, layers


class DirectionResolver:
    """Turns edits into vectors for one network at a time, caching the PCA and the files it read."""

    def __init__(self, cache_dir: str | None = None, num_samples: int = DEFAULT_PCA_SAMPLES) -> None:
        self.cache_dir = cache_dir
        self.num_samples = num_samples
        # The PCAs of the last few networks, held by weak reference: compared panes ask for theirs in turn each
        # render, and the network cache, not this, decides how long a network lives.
        self._pca: dict[int, tuple[weakref.ref, PCA]] = {}
        self._files: dict[tuple[str, float, int], np.ndarray] = {}
        # Told how far a PCA computed the first time for a network is (seconds to a minute on a CPU): the window
        # shows it instead of a bare "rendering".
        self.progress: Callable[[int, int], None] | None = None

    def pca(self, G: torch.nn.Module) -> PCA:
        """The network's PCA (memory, then disk cache, then computed)."""
        held = self._pca.pop(id(G), None)
        if held is None or held[0]() is not G:  # id() may be reused by a later network
            held = (weakref.ref(G), network_pca(G, self.num_samples, self.cache_dir, next(G.parameters()).device,
                                                self.progress))
        self._pca = {k: v for k, v in self._pca.items() if v[0]() is not None}
        while len(self._pca) >= PCAS_HELD:
            del self._pca[next(iter(self._pca))]  # the least recently asked for
        self._pca[id(G)] = held
        return held[1]

    def file(self, path: str, w_dim: int) -> np.ndarray:
        stat = os.stat(path) if os.path.exists(path) else None
        key = (path, stat.st_mtime if stat else 0.0, stat.st_size if stat else -1)
        if key not in self._files:
            self._files[key] = load_direction_file(path, w_dim)
        array = self._files[key]
        if array.shape[1] != w_dim:
            raise UserError(f'direction file {path!r}: directions have {array.shape[1]} values, the network\'s w '
                            f'{w_dim}')
        return array

    def vector(self, G: torch.nn.Module, source: str, index: int) -> np.ndarray:
        """[w_dim] float32 offset for strength 1: one standard deviation along a PCA axis, or a file's row."""
        if source == 'pca':
            pca = self.pca(G)
            if not 0 <= index < len(pca.components):
                raise UserError(f'PCA direction {index} out of range 0..{len(pca.components) - 1}')
            return pca.components[index] * pca.stddev[index]
        rows = self.file(source, int(G.w_dim))
        if not 0 <= index < len(rows):
            raise UserError(f'direction file {source!r} has {len(rows)} direction(s); index {index} is out of range')
        return rows[index]

    def check(self, G: torch.nn.Module, edits) -> None:
        """Raise the :class:`UserError` an edit would raise when applied (before any output is written)."""
        for src, idx, _strength, layers in edits:
            self.vector(G, src, int(idx))
            layer_range(layers, int(G.num_ws))

    def edit(self, G: torch.nn.Module, ws: torch.Tensor, edits) -> torch.Tensor:
        """``ws`` moved by every edit with a non-zero strength (``ws`` itself, untouched, when there is none)."""
        moves = [(self.vector(G, src, int(idx)), float(strength), layer_range(layers, ws.shape[1]))
                 for src, idx, strength, layers in edits if float(strength) != 0.0]
        return apply_directions(ws, moves)


def apply_directions(ws: torch.Tensor, moves) -> torch.Tensor:
    """ws [N, num_ws, w_dim] + strength * vector in ws[:, start:stop], for each (vector, strength, (start, stop));
    a new tensor, or ``ws`` itself when no move has a non-zero strength (bit-identical by construction)."""
    moves = [m for m in moves if float(m[1]) != 0.0]
    if not moves:
        return ws
    out = ws.clone()
    for vector, strength, (start, stop) in moves:
        offset = torch.as_tensor(np.asarray(vector, np.float32) * np.float32(strength), device=ws.device)
        out[:, start:stop] += offset.to(ws.dtype)
    return out


def save_edit(path: str, ws: torch.Tensor, edits) -> None:
    """The edited latent ``w`` [num_ws, w_dim] (a latent file like projected_w.npz) and the edits as JSON."""
    w = ws.detach().to('cpu', torch.float32).numpy()
    if w.ndim == 3:
        w = w[0]
    buffer = io.BytesIO()
    np.savez(buffer, w=w, edits=np.array(json.dumps([list(e) for e in edits])))
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
