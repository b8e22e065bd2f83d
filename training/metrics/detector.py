"""Feature detectors for FID / KID, loaded from a file the user names; nothing is downloaded implicitly.

A detector is called as NVlabs calls theirs: `detector(images, return_features=True)` with uint8 RGB
images [N, 3, H, W] of any size (the detector resizes internally), returning float features [N, D].
Accepted files:
- a TorchScript archive (`torch.jit.save`; NVlabs' StyleGAN2-ADA `inception-2015-12-05.pt` is one);
- a pickle in NVlabs' persistence layout (`torch_utils.persistence._reconstruct_persistent_obj(meta)`),
  read with a restricted unpickler that executes nothing: the detector must be embedded as a TorchScript
  archive (bytes) in the object's state. A persistence pickle that only carries Python source is
  refused with a message saying how to convert it once (`torch.jit.save`) where its code is trusted.
An http(s) URL is fetched only when the user passes one, into the cache directory.
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import urllib.request
import warnings
import zipfile
from collections.abc import Callable

import torch

__all__ = ['DetectorError', 'load_detector', 'detector_features', 'resolve_detector_path']


from networks.errors import UserError


class DetectorError(UserError, ValueError):
    """A detector file that is missing or cannot be used, with a one-line explanation."""


class _PersistentRecord(dict):
    """What `_reconstruct_persistent_obj(meta)` would have built, kept as data."""


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict):
        raise DetectorError('malformed NVlabs persistent object in the detector pickle')
    return _PersistentRecord(class_name=meta.get('class_name'), state=meta.get('state'),
                             has_source=bool(meta.get('module_src')))


class _EasyDict(dict):
    pass


_ALLOWED = {
    ('torch_utils.persistence', '_reconstruct_persistent_obj'): _reconstruct_persistent_obj,
    ('dnnlib.util', 'EasyDict'): _EasyDict,
    ('collections', 'OrderedDict'): collections.OrderedDict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise DetectorError(f'refused global {module}.{name} in the detector pickle (nothing is executed from it)')

    def persistent_load(self, pid):
        raise DetectorError('refused persistent id in the detector pickle')


def _find_torchscript_bytes(obj, depth: int = 0) -> bytes | None:
    if depth > 12:
        return None
    if isinstance(obj, bytes | bytearray) and bytes(obj[:2]) == b'PK':
        return bytes(obj)
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list | tuple) else ()
    for value in values:
        found = _find_torchscript_bytes(value, depth + 1)
        if found is not None:
            return found
    return None


def _has_source(obj, depth: int = 0) -> bool:
    if isinstance(obj, _PersistentRecord) and obj.get('has_source'):
        return True
    values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list | tuple) else ()
    return depth < 12 and any(_has_source(v, depth + 1) for v in values)


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
    if not os.path.isfile(path_or_url):
        raise DetectorError(f'detector file not found: {path_or_url!r} (pass --detector PATH to an Inception '
                            'detector in the NVlabs format; nothing is downloaded implicitly)')
    return path_or_url


def _load_torchscript(data: bytes, name: str) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export; still loads
            warnings.simplefilter('ignore', DeprecationWarning)
            return torch.jit.load(io.BytesIO(data), map_location='cpu').eval()
    except (RuntimeError, ValueError, zipfile.BadZipFile) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DetectorError(f'{name}: not a usable TorchScript detector ({first})') from err


def load_detector(path_or_url: str, device: torch.device | str = 'cpu',
                  cache_dir: str | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The detector as a module on `device`; DetectorError with one line if missing or unusable."""
    path = resolve_detector_path(str(path_or_url), cache_dir)
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'PK':
        module = _load_torchscript(data, path)
    elif data[:1] != b'\x80':  # every pickle of protocol 2 or later starts so
        raise DetectorError(f'{path}: not a detector pickle or TorchScript archive (unknown file format)')
    else:
        try:
            obj = _RestrictedUnpickler(io.BytesIO(data)).load()
        except DetectorError as err:
            raise DetectorError(f'{path}: {err}') from err
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
            raise DetectorError(f'{path}: not a detector pickle ({type(err).__name__}: {err})') from err
        blob = _find_torchscript_bytes(obj)
        if blob is None:
            hint = (' It embeds Python source, which this project never executes; convert it once, where you trust '
                    'it, to a TorchScript archive (torch.jit.save of the loaded detector) and pass that file'
                    if _has_source(obj) else '')
            raise DetectorError(f'{path}: no TorchScript detector inside the pickle.{hint}')
        module = _load_torchscript(blob, path)
    return module.to(device)


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
