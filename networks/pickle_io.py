"""Reading and writing network pickles without ever executing code from a file.

Our format: ``torch.save`` of ``{'format': FORMAT, 'data': ...}`` where every network is stored as plain data,
``{'__network__': {'class_name', 'init_kwargs', 'state_dict', 'stored_half'}}``; it is read back with
``torch.load(weights_only=True)``, so any checkout of the project, or plain PyTorch, can read it.

NVlabs' format (StyleGAN2-ADA, StyleGAN3 snapshots): a plain pickle whose networks are "persistent objects"
carrying their module's source code. A restricted unpickler resolves only an allow-list of globals (tensor
and storage rebuilders, numpy reconstruction, OrderedDict, EasyDict read as a dict, and the persistence
reconstructor read as a plain record). Anything else is refused before it can run. The networks are then
rebuilt from our classes with the recorded constructor kwargs, and the tensors loaded by name.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from . import persistence
from .atomic_io import atomic_write
from .errors import PickleError

FORMAT = "aliasfree-workbench/1"


@dataclass
class ModuleRecord:
    """A stored module whose class is not importable here (e.g. an augment pipe): its plain data only."""

    class_name: str
    init_kwargs: dict
    state_dict: dict = field(repr=False)

    def rebuild(self) -> nn.Module:
        return persistence.rebuild(self.class_name, self.init_kwargs, self.state_dict)


# ----------------------------------------------------------------------------------------------------------
# Saving


def _encode(value: Any, half: bool, where: str) -> Any:
    if isinstance(value, nn.Module):
        class_name = persistence.class_name_of(type(value))
        if not hasattr(value, "init_kwargs") or class_name not in persistence.registered_classes():
            raise TypeError(f"{where}: {class_name} is not a @persistent_class and cannot be saved as plain data")
        state = {}
        for name, tensor in value.state_dict().items():
            tensor = tensor.detach().cpu().clone()
            if half and tensor.is_floating_point():
                tensor = tensor.to(torch.float16)
            state[name] = tensor
        return {"__network__": {"class_name": class_name, "init_kwargs": value.init_kwargs, "state_dict": state,
                                "stored_half": bool(half)}}
    if isinstance(value, ModuleRecord):
        return {"__network__": {"class_name": value.class_name, "init_kwargs": value.init_kwargs,
                                "state_dict": value.state_dict, "stored_half": False}}
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str | int):
                raise TypeError(f"{where}: dict keys must be str or int, got {type(k).__name__}")
            out[k] = _encode(v, half, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return type(value)(_encode(v, half, f"{where}[{i}]") for i, v in enumerate(value))
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    raise TypeError(f"{where}: values of type {type(value).__name__} cannot be saved as plain data")


def save_network_pkl(path: str | os.PathLike, data: Mapping[str, Any], half: bool = False) -> None:
    """Writes ``data`` (networks, tensors, plain options) atomically in our format.

    ``half=True`` stores floating-point tensors in float16 (half the size); loading restores float32.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"save_network_pkl: data must be a dict, got {type(data).__name__}")
    payload = {"format": FORMAT, "data": _encode(dict(data), half, "data")}
    atomic_write(path, lambda f: torch.save(payload, f))


# ----------------------------------------------------------------------------------------------------------
# Loading: dispatch


def _read_bytes(path_or_file: str | os.PathLike | BinaryIO) -> tuple[bytes, str]:
    if hasattr(path_or_file, "read"):
        name = getattr(path_or_file, "name", "<file>")
        data = path_or_file.read()
        if not isinstance(data, bytes):
            raise PickleError(f"{name}: open the file in binary mode")
        return data, str(name)
    path = Path(path_or_file)
    if not path.exists():
        raise PickleError(f"{path}: no such file")
    if path.is_dir():
        raise PickleError(f"{path}: is a directory, not a network pickle")
    try:
        return path.read_bytes(), str(path)
    except OSError as e:
        raise PickleError(f"{path}: cannot be read ({e.strerror or e})") from e


def load_network_pkl(path_or_file: str | os.PathLike | BinaryIO, device: str | torch.device = "cpu") -> dict:
    """Loads our snapshots or NVlabs' (StyleGAN2, StyleGAN2-ADA, StyleGAN3) without running code from the file.

    Returns a dict with at least ``G_ema``; networks come back on ``device``, in eval mode, with
    ``requires_grad`` off. Raises :class:`PickleError` with a one-line reason on any problem.
    """
    data, name = _read_bytes(path_or_file)
    if len(data) == 0:
        raise PickleError(f"{name}: file is empty")
    device = torch.device(device)
    if data[:4] == b"PK\x03\x04":
        result = _load_ours(data, name)
    elif data[:1] == b"\x80":
        result = _load_nvlabs(data, name)
    else:
        raise PickleError(f"{name}: not a network pickle (unrecognised header {data[:8]!r})")
    for key, value in result.items():
        if isinstance(value, nn.Module):
            result[key] = value.to(device).eval().requires_grad_(False)
    if "G_ema" not in result:
        if "G" in result:
            result["G_ema"] = result["G"]
        else:
            raise PickleError(f"{name}: holds no generator (keys: {sorted(result)})")
    return result


# ----------------------------------------------------------------------------------------------------------
# Loading: ours


def _decode(value: Any, name: str) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__network__"}:
            rec = value["__network__"]
            state = {k: (t.float() if rec.get("stored_half") and t.dtype == torch.float16 else t)
                     for k, t in rec["state_dict"].items()}
            if rec["class_name"] not in persistence.registered_classes():
                try:
                    persistence.lookup_class(rec["class_name"])  # imports our own network modules
                except KeyError:
                    return ModuleRecord(rec["class_name"], dict(rec["init_kwargs"]), state)
            return _rebuild_checked(rec["class_name"], rec["init_kwargs"], state, name)
        if set(value) == {"__ndarray__"}:
            return value["__ndarray__"].numpy()
        return {k: _decode(v, name) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_decode(v, name) for v in value)
    return value


def _rebuild_checked(class_name, init_kwargs, state, name) -> nn.Module:
    try:
        return persistence.rebuild(class_name, init_kwargs, state)
    except (TypeError, ValueError, KeyError, RuntimeError) as e:
        raise PickleError(f"{name}: cannot rebuild {class_name}: {e}") from e


def _load_ours(data: bytes, name: str) -> dict:
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "unsafe content"
        raise PickleError(f"{name}: refused: {first}") from e
    except (zipfile.BadZipFile, RuntimeError, EOFError, OSError) as e:
        raise PickleError(f"{name}: truncated or corrupt file ({type(e).__name__}: {e})") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise PickleError(f"{name}: a torch file, but not a network pickle of this project")
    return _decode(payload["data"], name)


# ----------------------------------------------------------------------------------------------------------
# Loading: NVlabs


@dataclass
class PersistentRecord:
    """What NVlabs' ``_reconstruct_persistent_obj(meta)`` would have built, as data: nothing is executed."""

    class_name: str
    state: dict
    module_src_len: int = 0


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or "class_name" not in meta:
        raise PickleError("malformed NVlabs persistent object")
    state = meta.get("state") or {}
    return PersistentRecord(str(meta["class_name"]), dict(state), len(meta.get("module_src") or ""))


class _EasyDict(dict):
    """Stands in for dnnlib.util.EasyDict while unpickling; converted to a plain dict afterwards."""


def _load_storage_bytes(b: bytes):
    # Each storage is a nested legacy torch.save stream; it too is read with the restricted loader.
    return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)


def _rebuild_parameter(data, requires_grad, backward_hooks, *args):
    return data


def _numpy_global(name):
    import numpy._core.multiarray as multiarray

    return {"_reconstruct": multiarray._reconstruct, "scalar": multiarray.scalar}[name]


_TORCH_DTYPES = {name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)}


def _allowed_global(module: str, name: str):
    if (module, name) == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
        return _reconstruct_persistent_obj
    if (module, name) == ("dnnlib.util", "EasyDict"):
        return _EasyDict
    if (module, name) == ("collections", "OrderedDict"):
        return collections.OrderedDict
    if (module, name) in {("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice")}:
        return {"set": set, "frozenset": frozenset, "slice": slice}[name]
    if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
        return getattr(torch._utils, name)
    if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
        return _rebuild_parameter
    if (module, name) == ("torch.storage", "_load_from_bytes"):
        return _load_storage_bytes
    if module == "torch" and name in _TORCH_DTYPES:
        return getattr(torch, name)
    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
        return _numpy_global(name)
    if (module, name) in {("numpy", "ndarray"), ("numpy", "dtype")}:
        return getattr(np, name)
    if module in ("numpy", "numpy.dtypes") and name.endswith("DType"):
        return type(np.dtype(name[: -len("DType")].lower()))
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        found = _allowed_global(module, name)
        if found is None:
            hint = " (a TensorFlow-era pickle: convert it with NVlabs' legacy tools first)" if "tflib" in module else ""
            raise PickleError(f"refused global {module}.{name}: not allowed in a network pickle{hint}")
        return found

    def persistent_load(self, pid):
        raise PickleError(f"refused persistent id {str(pid)[:60]!r} in a plain pickle")


def _plain_data(value):
    if isinstance(value, _EasyDict | collections.OrderedDict) or type(value) is dict:
        return {k: _plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain_data(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _record_state_dict(record: PersistentRecord, prefix: str = "", out: dict | None = None) -> dict:
    out = {} if out is None else out
    state = record.state
    skip = set(state.get("_non_persistent_buffers_set", ()) or ())
    for key in ("_parameters", "_buffers"):
        for name, tensor in (state.get(key) or {}).items():
            if tensor is not None and name not in skip:
                if not isinstance(tensor, torch.Tensor):
                    raise PickleError(f"{prefix}{name}: expected a tensor, got {type(tensor).__name__}")
                out[prefix + name] = tensor
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, PersistentRecord):
            _record_state_dict(child, f"{prefix}{name}.", out)
        elif child is not None:
            raise PickleError(f"{prefix}{name}: unexpected submodule of type {type(child).__name__}")
    return out


_POSITIONAL = {
    "Generator": ["z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"],
    "Discriminator": ["c_dim", "img_resolution", "img_channels"],
}


def _nvlabs_class_for(record: PersistentRecord) -> str:
    if record.class_name == "Generator":
        synthesis = (record.state.get("_modules") or {}).get("synthesis")
        children = (synthesis.state.get("_modules") or {}) if isinstance(synthesis, PersistentRecord) else {}
        if "input" in children:
            return "networks.stylegan3.Generator"
        if "b4" in children:
            return "networks.stylegan2.Generator"
        raise PickleError("a Generator of an unknown architecture (neither StyleGAN2 nor StyleGAN3)")
    if record.class_name == "Discriminator":
        return "networks.stylegan2.Discriminator"
    return ""


def _convert_record(record: PersistentRecord, name: str, key: str):
    args = list(record.state.get("_init_args") or ())
    kwargs = _plain_data(dict(record.state.get("_init_kwargs") or {}))
    positional = _POSITIONAL.get(record.class_name, [])
    if len(args) > len(positional):
        raise PickleError(f"{name}: {key} has {len(args)} positional constructor arguments; cannot map them")
    kwargs.update(dict(zip(positional, _plain_data(args))))
    state = _record_state_dict(record)
    ours = _nvlabs_class_for(record)
    if not ours:  # e.g. AugmentPipe: handed back as data for training to rebuild if it wants
        return ModuleRecord(record.class_name, kwargs, state)
    return _rebuild_checked(ours, kwargs, state, f"{name}: {key}")


def _load_nvlabs(data: bytes, name: str) -> dict:
    try:
        raw = _RestrictedUnpickler(io.BytesIO(data)).load()
    except PickleError as e:
        raise PickleError(f"{name}: {e}") from None
    except pickle.UnpicklingError as e:
        raise PickleError(f"{name}: truncated or corrupt pickle ({e})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, RuntimeError, MemoryError) as e:
        raise PickleError(f"{name}: truncated or corrupt pickle ({type(e).__name__}: {str(e)[:200]})") from None
    if isinstance(raw, tuple):
        raise PickleError(f"{name}: a TensorFlow-era (G, D, Gs) pickle; convert it with NVlabs' legacy tools first")
    if not isinstance(raw, dict):
        raise PickleError(f"{name}: expected a dict of networks, got {type(raw).__name__}")
    result = {}
    for key, value in raw.items():
        if isinstance(value, PersistentRecord):
            result[key] = _convert_record(value, name, key)
        else:
            result[key] = _plain_data(value)
    result.setdefault("training_set_kwargs", None)
    result.setdefault("augment_pipe", None)
    return result
