"""Writes pickles in NVlabs' format for tests, without NVlabs' code.

Fake ``torch_utils.persistence`` and ``dnnlib.util`` modules exist only while dumping, so the pickle names the
same globals NVlabs' files do. Their functions and the embedded module source raise if ever executed.
"""

from __future__ import annotations

import collections
import contextlib
import pickle
import sys
import types

import numpy as np
import torch

MODULE_SRC = "raise RuntimeError('NVlabs module source was executed')\n"


def _never_called(*args, **kwargs):
    raise RuntimeError("a fake NVlabs global was executed by the loader")


@contextlib.contextmanager
def fake_nvlabs_modules():
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _never_called
    _never_called.__module__ = "torch_utils.persistence"
    _never_called.__qualname__ = "_reconstruct_persistent_obj"
    _never_called.__name__ = "_reconstruct_persistent_obj"
    util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__ = "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    util.EasyDict = EasyDict
    names = {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
             "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util}
    saved = {k: sys.modules.get(k) for k in names}
    sys.modules.update(names)
    try:
        yield util.EasyDict
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _Persistent:
    """Pickles as NVlabs' persistent objects do: a call of _reconstruct_persistent_obj(meta)."""

    def __init__(self, meta):
        self.meta = meta

    def __reduce__(self):
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,))


def _module_record(module: torch.nn.Module, EasyDict, init_kwargs=None):
    children = collections.OrderedDict(
        (name, _module_record(child, EasyDict)) for name, child in module._modules.items()
    )
    state = {
        "training": module.training,
        "_parameters": collections.OrderedDict((k, v) for k, v in module._parameters.items()),
        "_buffers": collections.OrderedDict((k, v) for k, v in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": collections.OrderedDict(),
        "_forward_hooks": collections.OrderedDict(),
        "_forward_pre_hooks": collections.OrderedDict(),
        "_state_dict_hooks": collections.OrderedDict(),
        "_load_state_dict_pre_hooks": collections.OrderedDict(),
        "_modules": children,
        "_init_args": (),
        "_init_kwargs": EasyDict(init_kwargs or {}),
    }
    for key, value in vars(module).items():  # plain attributes, numpy included, as NVlabs' files have them
        if not key.startswith("_") and isinstance(value, int | float | str | np.ndarray | np.generic):
            state[key] = value
    return _Persistent({"type": "class", "version": 6, "module_src": MODULE_SRC,
                        "class_name": type(module).__name__, "state": state})


def dump_nvlabs_pickle(path, G, D=None, G_ema=None, extra=None):
    """Writes {'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'} like NVlabs' training loop."""
    with fake_nvlabs_modules() as EasyDict:
        data = {
            "G": _module_record(G, EasyDict, G.init_kwargs),
            "D": _module_record(D, EasyDict, D.init_kwargs) if D is not None else None,
            "G_ema": _module_record(G_ema or G, EasyDict, (G_ema or G).init_kwargs),
            "augment_pipe": None,
            "training_set_kwargs": EasyDict(class_name="training.dataset.ImageFolderDataset", path="x.zip",
                                            use_labels=False, max_size=100, xflip=False, resolution=16,
                                            random_seed=0),
        }
        data.update(extra or {})
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=4)
