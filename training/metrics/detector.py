"""Feature detectors for FID / KID, loaded from a file the user names; nothing is downloaded implicitly.

A detector is called as NVlabs calls theirs: `detector(images, return_features=True)` with uint8 RGB
images [N, 3, H, W] of any size (the detector resizes internally), returning float features [N, D].
Accepted files:
- a TorchScript archive (`torch.jit.save`; NVlabs' StyleGAN2-ADA `inception-2015-12-05.pt` is one);
- a pickle in NVlabs' persistence layout (`torch_utils.persistence._reconstruct_persistent_obj(meta)`)
  that embeds such an archive as bytes. The pickle is read with the one restricted unpickler of
  `networks.safe_unpickle` (nothing in it is called); a pickle that only carries Python source is refused
  with a message saying how to convert it once (`torch.jit.save`) where its code is trusted.
TorchScript is code: loading an archive runs what its author put in it. So an archive is loaded only with
`trust=True` (`--trust-detector` on the command line); otherwise the loader says why it refuses.
An http(s) URL is fetched only when the user passes one, into the cache directory.
"""

from __future__ import annotations

import hashlib
import io
import os
import urllib.request
import warnings
import zipfile
from collections.abc import Callable

import torch

from networks import safe_unpickle
from networks.errors import PickleError
from networks.file_io import FileReadError, read_bytes

__all__ = ['DetectorError', 'MAX_DETECTOR_BYTES', 'detector_features', 'detector_key', 'load_detector',
           'read_detector_file', 'resolve_detector_path']

# NVlabs' Inception detector is 91 MB (pickle) or 104 MB (TorchScript); larger feature networks (CLIP, DINOv2)
# stay below 2 GiB, which a file is checked against before it is read.
MAX_DETECTOR_BYTES = 2 << 30


class DetectorError(PickleError):
    """A detector file that is missing, refused or cannot be used, with a one-line explanation."""


def _find_torchscript_bytes(tree) -> bytes | None:
    found: list[bytes] = []

    def visit(node) -> bool:
        if isinstance(node, safe_unpickle.BytesSpec) and bytes(node.data[:2]) == b'PK':
            found.append(bytes(node.data))
            return True
        return False

    safe_unpickle.walk_unique(tree, visit)  # each node once: a fan-out graph costs its size, not its paths
    return found[0] if found else None


def _has_source(tree) -> bool:
    return safe_unpickle.walk_unique(
        tree, lambda node: isinstance(node, safe_unpickle.PersistentSpec) and node.module_src_len > 0)


def resolve_detector_path(path_or_url: str, cache_dir: str | None = None) -> str:
    """A local path for the detector; fetches an explicit URL (http, https, file) into cache_dir once."""
    if path_or_url.startswith(('http://', 'https://', 'file://')):
        cache_dir = cache_dir or os.path.join(os.path.expanduser('~'), '.cache', 'aliasfree-workbench')
        os.makedirs(cache_dir, exist_ok=True)
        name = hashlib.md5(path_or_url.encode()).hexdigest()[:12] + '-' + os.path.basename(path_or_url)
        local = os.path.join(cache_dir, name)
        if not os.path.isfile(local):
            try:
                with urllib.request.urlopen(path_or_url, timeout=60) as response:
                    data = response.read()
            except OSError as err:
                raise DetectorError(f'cannot download the detector from {path_or_url}: {err}') from err
            tmp = local + '.tmp'
            with open(tmp, 'wb') as f:
                f.write(data)
            os.replace(tmp, local)
        return local
    if not os.path.exists(path_or_url):   # anything else that exists is judged by read_detector_file
        raise DetectorError(f'detector file not found: {path_or_url!r}; give the path of an Inception detector in '
                            'the NVlabs format (nothing is downloaded implicitly)', option='detector')
    return path_or_url


def read_detector_file(path: str) -> bytes:
    """The bytes of the detector file `path`: a regular file (no FIFO, no device, also not behind a symlink) of at
    most MAX_DETECTOR_BYTES, checked before anything is read; DetectorError otherwise. Trusting a detector's code
    (`--trust-detector`) says nothing about the file being readable in bounded time and memory."""
    try:
        return read_bytes(path, max_bytes=MAX_DETECTOR_BYTES, what='detector file')
    except FileReadError as err:
        raise DetectorError(str(err)) from None


def detector_key(path: str) -> str:
    """A short name for the detector file's content (its cached statistics are filed under it)."""
    return 'det' + hashlib.md5(read_detector_file(path)).hexdigest()[:10]


def _load_torchscript(data: bytes, name: str) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export; still loads
            warnings.simplefilter('ignore', DeprecationWarning)
            return torch.jit.load(io.BytesIO(data), map_location='cpu').eval()
    except (RuntimeError, ValueError, zipfile.BadZipFile) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DetectorError(f'{name}: not a usable TorchScript detector ({first})') from err


def load_detector(path_or_url: str, device: torch.device | str = 'cpu', cache_dir: str | None = None,
                  trust: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """The detector as a module on `device`; DetectorError with one line if missing, refused or unusable.

    `trust=True` is required to load TorchScript (an archive, or one embedded in a pickle): it is code.
    """
    path = resolve_detector_path(str(path_or_url), cache_dir)
    data = read_detector_file(path)
    if data[:2] == b'PK':
        blob, what = data, 'is a TorchScript archive'
    elif data[:1] != b'\x80':  # every pickle of protocol 2 or later starts so
        raise DetectorError(f'{path}: not a detector pickle or TorchScript archive (unknown file format)')
    else:
        try:
            tree = safe_unpickle.load_pickle(data)
        except PickleError as err:
            raise DetectorError(' '.join(f'{path}: not a detector pickle ({err})'.split())) from None
        blob, what = _find_torchscript_bytes(tree), 'embeds a TorchScript archive'
        if blob is None:
            hint = (' It embeds Python source, which this project never executes; convert it once, where you trust '
                    'it, to a TorchScript archive (torch.jit.save of the loaded detector) and pass that file'
                    if _has_source(tree) else '')
            raise DetectorError(f'{path}: no TorchScript detector inside the pickle.{hint}')
    if not trust:
        raise DetectorError(f'{path} {what}: TorchScript is code and runs when it is loaded, so it is loaded only '
                            'on request; allow it (trust=True) if you trust where the file came from',
                            option='trust_detector')
    return _load_torchscript(blob, path).to(device)


@torch.no_grad()
def detector_features(detector: Callable, images: torch.Tensor) -> torch.Tensor:
    """Features [N, D] float32 of uint8 images [N, C, H, W] (grey images are repeated to RGB)."""
    if images.dtype != torch.uint8:
        raise TypeError('detector_features expects uint8 images')
    if images.shape[1] == 1:
        images = images.repeat([1, 3, 1, 1])
    try:
        features = detector(images, return_features=True)
    except (RuntimeError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DetectorError(f'the detector failed on a batch of {tuple(images.shape)} uint8 images: {first}') from err
    if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[0] != images.shape[0]:
        raise DetectorError('the detector must return features [N, D] for return_features=True')
    return features.float()
