"""Reading and writing network pickles without ever executing code from a file.

Our format: ``torch.save`` of ``{'format': FORMAT, 'data': ...}`` where every network is stored as plain data,
``{'__network__': {'class_name', 'init_kwargs', 'state_dict', 'stored_half'}}``; plain PyTorch can read it with
``torch.load(weights_only=True)``. NVlabs' format (StyleGAN2-ADA, StyleGAN3 snapshots): a plain pickle whose
networks are "persistent objects" carrying their module's source code (never executed).

Both are read by :mod:`networks.safe_unpickle` (nothing from the file is called; records are validated before
anything is built). Then, per network and before any tensor exists: the class must be one of ours, its
constructor kwargs plain and within bounds (:func:`check_init_kwargs`), and the architecture those kwargs
describe (built on the ``meta`` device, which allocates nothing) must have exactly the tensors, with exactly the
shapes, that the file holds. Only then are tensors and networks built. Every failure is a ``PickleError``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from . import persistence, safe_unpickle
from .atomic_io import atomic_write
from .errors import PickleError
from .file_io import FileReadError, read_bytes
from .safe_unpickle import PersistentSpec, TensorSpec

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
        cap = max_pickle_file_bytes()
        try:
            data = path_or_file.read(cap + 1)
        except OSError as e:
            raise PickleError(f"{name}: cannot be read ({e.strerror or e})") from None
        if not isinstance(data, bytes):
            raise PickleError(f"{name}: open the file in binary mode")
        if len(data) > cap:
            raise PickleError(f"{name}: more than the {cap} bytes a network pickle may have")
        return data, str(name)
    path = Path(path_or_file)
    if not path.exists():
        raise PickleError(f"{path}: no such file")
    if path.is_dir():
        raise PickleError(f"{path}: is a directory, not a network pickle")
    # Only a regular file (never a FIFO or a device such as /dev/zero), of at most what the loader could accept.
    try:
        return read_bytes(path, max_bytes=max_pickle_file_bytes(), what="network pickle"), str(path)
    except FileReadError as e:
        raise PickleError(f"{path}: {e.reason}") from None


def max_pickle_file_bytes(limits: safe_unpickle.Limits = safe_unpickle.DEFAULT_LIMITS) -> int:
    """The largest network pickle file read: all tensor storages and the pickle stream at their caps, plus room
    for the zip's own structures. Checked before a byte is read."""
    return limits.max_total_bytes + limits.max_data_pkl + (64 << 20)


_GENERATORS = ("networks.stylegan3.Generator", "networks.stylegan2.Generator")
_EXPECTED = {"G": _GENERATORS, "G_ema": _GENERATORS, "D": ("networks.stylegan2.Discriminator",)}


def load_network_pkl(path_or_file: str | os.PathLike | BinaryIO, device: str | torch.device = "cpu") -> dict:
    """Loads our snapshots or NVlabs' (StyleGAN2, StyleGAN2-ADA, StyleGAN3) without running code from the file.

    Returns a dict with at least ``G_ema``; ``G``, ``G_ema`` and ``D``, when present, are networks of our own
    classes, on ``device``, in eval mode, with ``requires_grad`` off. Raises :class:`PickleError` with a
    one-line reason on any problem with the file.
    """
    data, name = _read_bytes(path_or_file)
    if len(data) == 0:
        raise PickleError(f"{name}: file is empty")
    device = torch.device(device)
    try:
        if data[:4] == b"PK\x03\x04":
            result = _load_ours(data)
        elif data[:1] == b"\x80":
            result = _load_nvlabs(data)
        else:
            raise PickleError(f"not a network pickle (unrecognised header {data[:8]!r})")
        for key, classes in _EXPECTED.items():
            value = result.get(key)
            if value is not None and not (isinstance(value, nn.Module)
                                          and persistence.class_name_of(type(value)) in classes):
                what = value.class_name if isinstance(value, ModuleRecord) else type(value).__name__
                raise PickleError(f"{key} is a {what}, not one of {', '.join(classes)}")
        if result.get("G_ema") is None:
            if result.get("G") is None:
                raise PickleError(f"holds no generator (keys: {sorted(map(str, result))[:10]})")
            result["G_ema"] = result["G"]
    except PickleError as e:
        raise PickleError(" ".join(f"{name}: {e}".split())) from None  # one line, whatever names the file holds
    for key, value in result.items():
        if isinstance(value, nn.Module):
            result[key] = value.to(device).eval().requires_grad_(False)
    return result


# ----------------------------------------------------------------------------------------------------------
# Loading: checks that run before anything is built

_MAX_KWARGS_ITEMS = 512
_MAX_STATE_ENTRIES = 100_000
# (low, high, may be None). Keys are checked wherever they occur in the kwargs (mapping_kwargs included).
_BOUNDS = {
    "img_resolution": (4, 4096, False), "img_channels": (1, 16, False), "z_dim": (0, 4096, False),
    "w_dim": (1, 4096, False), "c_dim": (0, 65536, False), "channel_base": (1, 1 << 20, False),
    "channel_max": (1, 4096, False), "num_layers": (1, 64, False), "num_critical": (0, 64, False),
    "num_fp16_res": (0, 16, False), "conv_kernel": (1, 9, False), "filter_size": (1, 64, False),
    "margin_size": (0, 1024, False), "layer_features": (1, 4096, True), "embed_features": (1, 4096, True),
    "cmap_dim": (1, 4096, True), "mbstd_group_size": (1, 1024, True), "mbstd_num_channels": (0, 64, True),
    "freeze_layers": (0, 64, False), "num_ws": (1, 128, True),
}


def _check_plain(value: Any, where: str, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise PickleError(f"{where}: more than {_MAX_KWARGS_ITEMS} constructor arguments")
    if depth > 4:
        raise PickleError(f"{where}: constructor arguments nested too deep")
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and len(value) > 256:
            raise PickleError(f"{where}: a string of {len(value)} characters")
        return value
    if isinstance(value, int):
        if abs(value) > 2**31:
            raise PickleError(f"{where}: {value} is out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > 1e9:
            raise PickleError(f"{where}: {value} is not a sane number")
        return value
    if isinstance(value, list | tuple):
        return type(value)(_check_plain(v, f"{where}[{i}]", depth + 1, budget) for i, v in enumerate(value))
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise PickleError(f"{where}: a constructor argument name of type {type(k).__name__}")
            out[k] = _check_plain(v, f"{where}.{k}", depth + 1, budget)
            if k in _BOUNDS:
                low, high, may_be_none = _BOUNDS[k]
                v = out[k]
                if v is None and may_be_none:
                    continue
                if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                    raise PickleError(f"{where}.{k} = {v!r} is out of range ({low}..{high})")
                if k == "img_resolution" and v & (v - 1):
                    raise PickleError(f"{where}.{k} = {v} is not a power of two")
        return out
    raise PickleError(f"{where}: a constructor argument of type {type(value).__name__} is not plain data")


def check_init_kwargs(kwargs: Any, where: str) -> dict:
    """Constructor kwargs as plain, bounded data (resolution <= 4096 and a power of two, channels, layers and
    dimensions bounded), or PickleError. Returns a fresh copy."""
    if not isinstance(kwargs, dict):
        raise PickleError(f"{where}: constructor arguments are a {type(kwargs).__name__}, not a dict")
    return _check_plain(kwargs, where, 0, [_MAX_KWARGS_ITEMS])


def _construct(cls: type, kwargs: dict, where: str) -> nn.Module:
    try:
        return cls(**kwargs)
    except Exception as e:  # our own constructors given the file's (bounded) kwargs: a bad file, not a bug
        raise PickleError(f"{where}: cannot build {cls.__name__} from its constructor arguments "
                          f"({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None


def _check_architecture(cls: type, kwargs: dict, state: dict[str, TensorSpec], where: str) -> None:
    """The architecture the kwargs describe, built on the meta device (no memory), must match the file's tensors."""
    with torch.device("meta"):
        expected = _construct(cls, kwargs, where).state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise PickleError(
            f"{where}: state dict does not match the architecture "
            f"(missing {sorted(missing)[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {sorted(unexpected)[:5]}{'...' if len(unexpected) > 5 else ''})")
    for key, tensor in expected.items():
        spec = state[key]
        if tuple(spec.size) != tuple(tensor.shape):
            raise PickleError(f"{where}: {key} has shape {list(spec.size)} in the file, {list(tensor.shape)} in the "
                              "architecture")
        if spec.dtype.is_floating_point != tensor.dtype.is_floating_point or spec.dtype == torch.bool:
            raise PickleError(f"{where}: {key} is {spec.dtype} in the file, {tensor.dtype} in the architecture")


@dataclass(eq=False)
class _NetworkPlan:
    """A network checked against its architecture; built by :func:`_build_leaf` after all checks passed."""

    class_name: str
    kwargs: dict
    state: dict
    stored_half: bool
    cls: type | None  # None: not one of our classes, handed back as a ModuleRecord


def _plan_network(class_name: Any, kwargs: Any, state: Any, stored_half: bool, where: str) -> _NetworkPlan:
    if not isinstance(class_name, str):
        raise PickleError(f"{where}: class name is a {type(class_name).__name__}")
    kwargs = check_init_kwargs(kwargs, f"{where}: {class_name}")
    if not isinstance(state, dict) or len(state) > _MAX_STATE_ENTRIES:
        raise PickleError(f"{where}: state dict is not a dict of at most {_MAX_STATE_ENTRIES} tensors")
    for key, tensor in state.items():
        if not isinstance(key, str) or not isinstance(tensor, TensorSpec):
            raise PickleError(f"{where}: state dict entry {str(key)[:60]!r} is not a tensor")
    try:
        cls = persistence.lookup_class(class_name)
    except KeyError:
        cls = None
    if cls is not None:
        _check_architecture(cls, kwargs, state, f"{where}: {class_name}")
    return _NetworkPlan(class_name, kwargs, state, stored_half, cls)


def _build_leaf(node: Any, build) -> Any:
    if isinstance(node, _NetworkPlan):
        state = {}
        for key, spec in node.state.items():
            tensor = build(spec)
            state[key] = tensor.float() if node.stored_half and tensor.dtype == torch.float16 else tensor
        if node.cls is None:
            return ModuleRecord(node.class_name, node.kwargs, {k: v.clone() for k, v in state.items()})
        module = _construct(node.cls, node.kwargs, node.class_name)
        try:
            # The tensors are fresh and ours (never views of the file): the module takes them as they are
            # (assign=True) instead of copying them; converted to the module's dtypes first.
            current = module.state_dict()
            state = {k: v.to(current[k].dtype) for k, v in state.items()}
            module.load_state_dict(state, strict=True, assign=True)
        except Exception as e:  # shapes were checked; this is a last line of defence with the same error class
            reason = " ".join(str(e).split())[:200]
            raise PickleError(f"cannot load the tensors of {node.class_name}: {reason}") from None
        return module
    if isinstance(node, _NdarrayPlan):
        if node.tensor.dtype == torch.bfloat16:
            raise PickleError("an array record of dtype bfloat16 (numpy has none)")
        return build(node.tensor).numpy()
    raise PickleError(f"a {type(node).__name__} in an unexpected place")


@dataclass(eq=False)
class _NdarrayPlan:
    tensor: TensorSpec


def _map_tree(tree: Any, fn) -> Any:
    """Rebuilds a validated tree with ``fn(node, recurse)`` applied first; shared nodes are mapped once."""
    done: dict[int, Any] = {}

    def recurse(node):
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if id(node) in done:
            return done[id(node)]
        out = fn(node, recurse)
        if out is _DESCEND:
            if type(node) is dict:
                out = {k: recurse(v) for k, v in node.items()}
            elif type(node) in (list, tuple):
                out = type(node)(recurse(v) for v in node)
            else:
                out = node
        done[id(node)] = out
        return out

    return recurse(tree)


_DESCEND = object()


# ----------------------------------------------------------------------------------------------------------
# Loading: ours


def _load_ours(data: bytes) -> dict:
    tree = safe_unpickle.read_torch_zip(data)
    if not isinstance(tree, dict) or tree.get("format") != FORMAT or not isinstance(tree.get("data"), dict):
        raise PickleError("a torch file, but not a network pickle of this project")

    def plan(node, recurse):
        if type(node) is dict and len(node) == 1 and "__network__" in node:
            rec = node["__network__"]
            if not isinstance(rec, dict):
                raise PickleError("malformed network record")
            stored_half = rec.get("stored_half", False)
            if not isinstance(stored_half, bool):
                raise PickleError("malformed network record (stored_half)")
            return _plan_network(rec.get("class_name"), rec.get("init_kwargs"), rec.get("state_dict"),
                                 stored_half, "network")
        if type(node) is dict and len(node) == 1 and "__ndarray__" in node:
            if not isinstance(node["__ndarray__"], TensorSpec):
                raise PickleError("malformed array record")
            return _NdarrayPlan(node["__ndarray__"])
        if isinstance(node, PersistentSpec):
            raise PickleError("an NVlabs persistent object inside our format")
        return _DESCEND

    planned = _map_tree(tree["data"], plan)
    return safe_unpickle.materialize(planned, _build_leaf)


# ----------------------------------------------------------------------------------------------------------
# Loading: NVlabs


def _record_state_dict(record: PersistentSpec, prefix: str, out: dict, depth: int = 0) -> dict:
    if depth > 32:
        raise PickleError(f"{prefix or 'network'}: submodules nested deeper than 32")
    state = record.state
    skip = state.get("_non_persistent_buffers_set") or set()
    if not isinstance(skip, set | frozenset | list | tuple):
        raise PickleError(f"{prefix or 'network'}: malformed _non_persistent_buffers_set")
    for key in ("_parameters", "_buffers"):
        tensors = state.get(key) or {}
        if not isinstance(tensors, dict):
            raise PickleError(f"{prefix or 'network'}: {key} is not a dict")
        for name, tensor in tensors.items():
            if tensor is not None and name not in skip:
                if not isinstance(tensor, TensorSpec):
                    raise PickleError(f"{prefix}{name}: expected a tensor, got {type(tensor).__name__}")
                out[f"{prefix}{name}"] = tensor
                if len(out) > _MAX_STATE_ENTRIES:
                    raise PickleError(f"more than {_MAX_STATE_ENTRIES} tensors in one network")
    children = state.get("_modules") or {}
    if not isinstance(children, dict):
        raise PickleError(f"{prefix or 'network'}: _modules is not a dict")
    for name, child in children.items():
        if isinstance(child, PersistentSpec):
            _record_state_dict(child, f"{prefix}{name}.", out, depth + 1)
        elif child is not None:
            raise PickleError(f"{prefix}{name}: unexpected submodule of type {type(child).__name__}")
    return out


_POSITIONAL = {
    "Generator": ["z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"],
    "Discriminator": ["c_dim", "img_resolution", "img_channels"],
}


def _nvlabs_class_for(record: PersistentSpec) -> str:
    if record.class_name == "Generator":
        synthesis = (record.state.get("_modules") or {}).get("synthesis")
        children = (synthesis.state.get("_modules") or {}) if isinstance(synthesis, PersistentSpec) else {}
        if "input" in children:
            return "networks.stylegan3.Generator"
        if "b4" in children:
            return "networks.stylegan2.Generator"
        raise PickleError("a Generator of an unknown architecture (neither StyleGAN2 nor StyleGAN3)")
    if record.class_name == "Discriminator":
        return "networks.stylegan2.Discriminator"
    return ""


def _plan_nvlabs_record(record: PersistentSpec, key: str) -> _NetworkPlan:
    args = record.state.get("_init_args") or ()
    kwargs = record.state.get("_init_kwargs") or {}
    if not isinstance(args, tuple | list) or not isinstance(kwargs, dict):
        raise PickleError(f"{key}: malformed constructor arguments")
    positional = _POSITIONAL.get(record.class_name, [])
    if len(args) > len(positional):
        raise PickleError(f"{key} has {len(args)} positional constructor arguments; cannot map them")
    kwargs = {**kwargs, **dict(zip(positional, args))}
    state = _record_state_dict(record, "", {})
    ours = _nvlabs_class_for(record)
    if not ours:  # e.g. AugmentPipe: handed back as data for training to rebuild if it wants
        plan = _plan_network(record.class_name, kwargs, state, False, key)
        plan.cls = None
        return plan
    return _plan_network(ours, kwargs, state, False, key)


def _load_nvlabs(data: bytes) -> dict:
    tree = safe_unpickle.load_pickle(data)
    if isinstance(tree, tuple):
        raise PickleError("a TensorFlow-era (G, D, Gs) pickle; convert it with NVlabs' legacy tools first")
    if not isinstance(tree, dict):
        raise PickleError(f"expected a dict of networks, got {type(tree).__name__}")

    def plan(node, recurse):
        if isinstance(node, PersistentSpec):
            raise PickleError(f"an NVlabs persistent object ({node.class_name}) in an unexpected place")
        return _DESCEND

    planned = {}
    for key, value in tree.items():
        if isinstance(value, PersistentSpec):
            planned[key] = _plan_nvlabs_record(value, str(key))
        else:
            planned[key] = _map_tree(value, plan)
    result = safe_unpickle.materialize(planned, _build_leaf)
    result.setdefault("training_set_kwargs", None)
    result.setdefault("augment_pipe", None)
    return result
