"""Making network classes rebuildable from plain data: class name, constructor kwargs and a state dict.

``@persistent_class`` records the keyword arguments a module was constructed with in ``module.init_kwargs``
and registers the class under its qualified name. A saved network is then just
``{'class_name', 'init_kwargs', 'state_dict'}``: no code travels with it, and :func:`rebuild` only ever
instantiates classes from this registry.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

_registry: dict[str, type] = {}


def _plain(value: Any) -> Any:
    """Copies constructor arguments into plain Python data (numpy scalars/arrays become numbers/lists).

    Builds new containers itself (no ``copy.deepcopy``, which would follow whatever an object array points at);
    only numeric numpy data is accepted.
    """
    if isinstance(value, np.generic | np.ndarray) and value.dtype.kind not in "biuf":
        raise TypeError(f"a numpy value of dtype {value.dtype} cannot be stored as plain data")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"constructor argument of type {type(value).__name__} cannot be stored as plain data")


def class_name_of(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def persistent_class(cls: type) -> type:
    """Class decorator: records constructor kwargs in ``self.init_kwargs`` and registers the class."""
    orig_init = cls.__init__
    signature = inspect.signature(orig_init)

    @functools.wraps(orig_init)
    def __init__(self, *args, **kwargs):
        if type(self) is cls:
            bound = signature.bind(self, *args, **kwargs)
            recorded = {}
            for name, value in list(bound.arguments.items())[1:]:
                param = signature.parameters[name]
                if param.kind is inspect.Parameter.VAR_KEYWORD:
                    recorded.update(value)
                elif param.kind is inspect.Parameter.VAR_POSITIONAL:
                    if value:
                        raise TypeError(f"{cls.__name__}: extra positional arguments cannot be recorded")
                else:
                    recorded[name] = value
            self.init_kwargs = _plain(recorded)
        orig_init(self, *args, **kwargs)

    cls.__init__ = __init__
    _registry[class_name_of(cls)] = cls
    return cls


def registered_classes() -> dict[str, type]:
    return dict(_registry)


def lookup_class(class_name: str) -> type:
    if class_name not in _registry:
        # Our own network modules register on import; import them lazily so a loader needs no other import.
        from . import stylegan2, stylegan3  # noqa: F401
    if class_name not in _registry:
        raise KeyError(f"unknown network class {class_name!r}; known: {sorted(_registry)}")
    return _registry[class_name]


def rebuild(class_name: str, init_kwargs: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """Instantiates a registered class with ``init_kwargs`` and loads ``state_dict`` into it (strictly)."""
    cls = lookup_class(class_name)
    module = cls(**dict(init_kwargs))
    missing, unexpected = module.load_state_dict(dict(state_dict), strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{class_name}: state dict does not match the architecture "
            f"(missing {sorted(missing)[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {sorted(unexpected)[:5]}{'...' if len(unexpected) > 5 else ''})"
        )
    return module
