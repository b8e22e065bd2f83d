"""Training options are data: a closed table of the classes a configuration may name, and one schema for the
options that files carry (a slice state's `state.json`, a snapshot's dataset options).

A configuration names its dataset, networks and augmentation pipe by key (`class_name`, NVlabs' convention).
The key selects one of the project's own classes from :data:`CLASSES`; nothing is ever imported or called by
a name that came from a file. :func:`validate_options` checks every field of a `TrainingConfig` as a file gives
it: known keys only, types, ranges, finite numbers, and the constructor arguments of the networks as plain
bounded data (the rules the network-pickle loader applies, `networks.pickle_io.check_init_kwargs`).
"""

from __future__ import annotations

import importlib
import inspect
import math
from typing import Any

from networks.errors import UserError

__all__ = ['CLASSES', 'OptionsError', 'class_for', 'construct', 'validate_options', 'validate_dataset_kwargs']

# key -> (module, attribute): the only classes a configuration can select.
CLASSES = {
    'training.dataset.ImageFolderDataset': ('training.dataset', 'ImageFolderDataset'),
    'networks.stylegan2.Generator': ('networks.stylegan2', 'Generator'),
    'networks.stylegan3.Generator': ('networks.stylegan3', 'Generator'),
    'networks.stylegan2.Discriminator': ('networks.stylegan2', 'Discriminator'),
    'training.augment.AugmentPipe': ('training.augment', 'AugmentPipe'),
}
_ROLES = {
    'training_set_kwargs': ('training.dataset.ImageFolderDataset',),
    'G_kwargs': ('networks.stylegan2.Generator', 'networks.stylegan3.Generator'),
    'D_kwargs': ('networks.stylegan2.Discriminator',),
    'augment_kwargs': ('training.augment.AugmentPipe',),
}
MAX_INT = 2**53          # larger integers are not counts of anything a run does
MAX_TEXT = 4096


class OptionsError(UserError, ValueError):
    """Training options that are not valid data (the message names the field)."""


def class_for(class_name: Any, role: str | None = None) -> type:
    """The class a key selects from the closed table (for `role`, one of its allowed keys)."""
    allowed = _ROLES[role] if role is not None else tuple(CLASSES)
    if not isinstance(class_name, str) or class_name not in allowed:
        shown = repr(class_name)[:80] if isinstance(class_name, str) else type(class_name).__name__
        raise OptionsError(f'{role or "class_name"}: {shown} is not one of {", ".join(allowed)}')
    module, attr = CLASSES[class_name]
    return getattr(importlib.import_module(module), attr)


def construct(class_name: str, **kwargs):
    """An instance of the class `class_name` selects from the closed table (never an import by name)."""
    return class_for(class_name)(**kwargs)


# ----------------------------------------------------------------------------------------------------------
# Field checks


def _text(value: Any, where: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise OptionsError(f'{where} must be text of at most {limit} characters')
    if '\x00' in value:
        raise OptionsError(f'{where} contains a NUL character')
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise OptionsError(f'{where} must be true or false, not {_show(value)}')
    return value


def _int(value: Any, where: str, low: int, high: int, none: bool = False) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise OptionsError(f'{where} must be an integer in {low}..{high}{" or null" if none else ""}, '
                           f'not {_show(value)}')
    return value


def _float(value: Any, where: str, low: float, high: float, none: bool = False, open_low: bool = False) -> float | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionsError(f'{where} must be a number, not {_show(value)}')
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or not (low < number if open_low else low <= number) or number > high:
        raise OptionsError(f'{where} must be a finite number in {"(" if open_low else "["}{low:g}, {high:g}]'
                           f'{" or null" if none else ""}, not {_show(value)}')
    return number


def _show(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f'an integer of {len(str(abs(value))) if abs(value) < 10**4000 else "thousands of"} digits'
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def _dict(value: Any, where: str) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise OptionsError(f'{where} must be an object with text keys, not {type(value).__name__}')
    return value


def _known_keys(value: dict, where: str, known) -> None:
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise OptionsError(f'{where}: unknown options {[k[:40] for k in unknown[:3]]}')


def _parameters(cls: type, skip: tuple[str, ...] = ()) -> list[str]:
    return [name for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != 'self' and name not in skip and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def validate_dataset_kwargs(value: Any, where: str = 'training_set_kwargs') -> dict:
    """The dataset options: the one dataset class, a path and its flags, checked field by field."""
    value = dict(_dict(value, where))
    class_for(value.get('class_name'), 'training_set_kwargs')
    _known_keys(value, where, ['class_name', *_parameters(class_for(value['class_name']))])
    if 'path' in value:
        _text(value['path'], f'{where}.path')
    if value.get('resolution') is not None:
        res = _int(value['resolution'], f'{where}.resolution', 4, 4096)
        if res & (res - 1):
            raise OptionsError(f'{where}.resolution {res} is not a power of two')
    for key in ('use_labels', 'xflip'):
        if key in value:
            _bool(value[key], f'{where}.{key}')
    if 'max_size' in value:
        _int(value['max_size'], f'{where}.max_size', 1, MAX_INT, none=True)
    if 'random_seed' in value:
        _int(value['random_seed'], f'{where}.random_seed', 0, 2**32 - 1)
    if value.get('name') is not None:
        _text(value['name'], f'{where}.name', 256)
    if 'bad_images' in value and value['bad_images'] not in ('stop', 'skip'):
        raise OptionsError(f'{where}.bad_images must be "stop" or "skip", not {_show(value["bad_images"])}')
    return value


def _network_kwargs(value: Any, where: str) -> dict:
    from networks.pickle_io import check_init_kwargs
    value = dict(_dict(value, where))
    class_for(value.get('class_name'), where)
    rest = {k: v for k, v in value.items() if k != 'class_name'}
    for key in ('c_dim', 'img_resolution', 'img_channels'):
        if key in rest:
            raise OptionsError(f'{where}.{key}: set from the dataset, not an option')
    try:
        return dict(check_init_kwargs(rest, where), class_name=value['class_name'])
    except ValueError as e:   # PickleError: the same bounds as a network pickle's constructor arguments
        raise OptionsError(str(e)) from None


def _optimizer_kwargs(value: Any, where: str) -> dict:
    value = dict(_dict(value, where))
    _known_keys(value, where, ['lr', 'betas', 'eps'])
    out = dict(lr=_float(value.get('lr'), f'{where}.lr', 0, 10, open_low=True))
    betas = value.get('betas', [0, 0.99])
    if not isinstance(betas, list | tuple) or len(betas) != 2:
        raise OptionsError(f'{where}.betas must be a list of two numbers')
    out['betas'] = [_float(b, f'{where}.betas[{i}]', 0, 1) for i, b in enumerate(betas)]
    if out['betas'][1] >= 1:
        raise OptionsError(f'{where}.betas[1] must be below 1')
    if 'eps' in value:
        out['eps'] = _float(value['eps'], f'{where}.eps', 0, 1, open_low=True)
    return out


def _augment_kwargs(value: Any, where: str) -> dict | None:
    if value is None:
        return None
    value = dict(_dict(value, where))
    cls = class_for(value.get('class_name'), 'augment_kwargs')
    _known_keys(value, where, ['class_name', *_parameters(cls)])
    for key, v in value.items():
        if key != 'class_name':
            _float(v, f'{where}.{key}', -1e6, 1e6)
    return value


_LOSS = {  # StyleGAN2Loss's options: (low, high, integer)
    'r1_gamma': (0, 1e6, False), 'style_mixing_prob': (0, 1, False), 'pl_weight': (0, 1e6, False),
    'pl_batch_shrink': (1, 1 << 16, True), 'pl_decay': (0, 1, False), 'blur_init_sigma': (0, 1e4, False),
    'blur_fade_kimg': (0, 1e9, False),
}


def _loss_kwargs(value: Any, where: str) -> dict:
    value = dict(_dict(value, where))
    _known_keys(value, where, _LOSS)
    for key, v in value.items():
        low, high, integer = _LOSS[key]
        (_int if integer else _float)(v, f'{where}.{key}', low, high)
    return value


def _metrics(value: Any, where: str) -> list:
    from training.metrics import is_valid_metric
    if not isinstance(value, list) or len(value) > 16:
        raise OptionsError(f'{where} must be a list of at most 16 metric names')
    for i, name in enumerate(value):
        if not isinstance(name, str) or not is_valid_metric(name):
            raise OptionsError(f'{where}[{i}]: {_show(name)} is not a metric')
    return value


def _data_loader_kwargs(value: Any, where: str) -> dict:
    value = dict(_dict(value, where))
    _known_keys(value, where, ['num_workers', 'prefetch_factor', 'pin_memory'])
    if 'num_workers' in value:
        _int(value['num_workers'], f'{where}.num_workers', 0, 64)
    if 'prefetch_factor' in value:
        _int(value['prefetch_factor'], f'{where}.prefetch_factor', 1, 64, none=True)
    if 'pin_memory' in value:
        _bool(value['pin_memory'], f'{where}.pin_memory')
    return value


def _scalar_checks() -> dict:
    K = 10**9                            # kimg: a billion thousand images is beyond any run
    return {
        'random_seed': lambda v, w: _int(v, w, 0, 2**32 - 1),
        'num_gpus': lambda v, w: _int(v, w, 1, 1024),
        'batch_size': lambda v, w: _int(v, w, 1, 1 << 16),
        'batch_gpu': lambda v, w: _int(v, w, 1, 1 << 16),
        'ema_kimg': lambda v, w: _float(v, w, 0, K),
        'ema_rampup': lambda v, w: _float(v, w, 0, K, none=True),
        'G_reg_interval': lambda v, w: _int(v, w, 1, 1 << 20, none=True),
        'D_reg_interval': lambda v, w: _int(v, w, 1, 1 << 20, none=True),
        'augment_p': lambda v, w: _float(v, w, 0, 1),
        'ada_target': lambda v, w: _float(v, w, 0, 1, none=True),
        'ada_interval': lambda v, w: _int(v, w, 1, 1 << 20),
        'ada_kimg': lambda v, w: _float(v, w, 0, K, open_low=True),
        'total_kimg': lambda v, w: _float(v, w, 0, K, open_low=True),
        'kimg_per_tick': lambda v, w: _float(v, w, 0, K, open_low=True),
        'image_snapshot_ticks': lambda v, w: _int(v, w, 1, MAX_INT, none=True),
        'network_snapshot_ticks': lambda v, w: _int(v, w, 1, MAX_INT, none=True),
        'network_snapshot_seconds': lambda v, w: _float(v, w, 0, 1e9, none=True, open_low=True),
        'metrics_num_samples': lambda v, w: _int(v, w, 1, 10_000_000, none=True),
        'resume_kimg': lambda v, w: _float(v, w, 0, K),
        'cudnn_benchmark': _bool,
        'run_dir': lambda v, w: _text(v, w),
        'resume_pkl': lambda v, w: None if v is None else _text(v, w),
        'device': lambda v, w: _text(v, w, 64),
    }


_STRUCTURED = {
    'training_set_kwargs': validate_dataset_kwargs,
    'data_loader_kwargs': _data_loader_kwargs,
    'G_kwargs': _network_kwargs,
    'D_kwargs': _network_kwargs,
    'G_opt_kwargs': _optimizer_kwargs,
    'D_opt_kwargs': _optimizer_kwargs,
    'augment_kwargs': _augment_kwargs,
    'loss_kwargs': _loss_kwargs,
    'metrics': _metrics,
}


def validate_options(options: Any, required: tuple[str, ...] = ()) -> dict:
    """A checked copy of a TrainingConfig's fields as a file gives them; OptionsError names the first bad one.

    Every key must be a TrainingConfig field; `required` fields must be present (the others take the
    defaults). Relations are checked too: the batch splits evenly over processes and rounds.
    """
    import dataclasses

    from training.training_loop import TrainingConfig
    options = _dict(options, 'options')
    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    _known_keys(options, 'options', fields)
    missing = [k for k in required if k not in options]
    if missing:
        raise OptionsError(f'options lack {missing[:4]}')
    scalars = _scalar_checks()
    out = {}
    for key, value in options.items():
        if key in _STRUCTURED:
            out[key] = _STRUCTURED[key](value, key)
        else:
            scalars[key](value, key)
            out[key] = value
    defaults = TrainingConfig()
    batch, gpus, batch_gpu = (out.get(k, getattr(defaults, k)) for k in ('batch_size', 'num_gpus', 'batch_gpu'))
    if batch % (gpus * batch_gpu) != 0:
        raise OptionsError(f'batch_size {batch} is not a multiple of num_gpus {gpus} x batch_gpu {batch_gpu}')
    return out
