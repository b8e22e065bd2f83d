"""Session files: the whole render state as JSON; the GUI saves and loads them, and they drive headless mode.

A session is checked whole before any of it is used: every field of ``args`` must have its type and lie in its
range (:data:`LIMITS`), so a file with ``spectrum_seeds: 1e9`` or a nonsense field is refused with one line that
names the field, instead of running for ever or failing deep inside a render. The file itself is read by
:func:`networks.file_io.read_json`: a regular file of at most :data:`MAX_SESSION_BYTES`, nested at most
:data:`MAX_SESSION_DEPTH` levels, numbers within float range; anything else is one
:class:`~networks.file_io.FileReadError` line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re

from networks.conventions import MAX_SEED
from networks.errors import UserError, printable
from networks.file_io import read_json
from viz.core.render_types import LAYER_SPEC, MAX_COMPARE, RenderArgs, args_from_dict, args_to_dict

__all__ = ['SESSION_VERSION', 'SessionError', 'LIMITS', 'check_changes', 'MAX_SESSION_BYTES', 'MAX_SESSION_DEPTH',
           'MAX_SPECTRUM_SEEDS', 'save_session', 'load_session', 'load_keyframes', 'validate_session']

SESSION_VERSION = 1
MAX_SPECTRUM_SEEDS = 10_000   # about 20 minutes for the default network on 2 CPU cores; NVlabs' figures use 50k
MAX_LIST = 1024               # w0_seeds / stylemix_idx entries
MAX_SESSION_BYTES = 32 << 20  # a session with 50 keyframes of a 16 x 512 w+ is about 10 MB
MAX_SESSION_DEPTH = 8         # the format nests 4 levels (keyframes[i].directions[j][k])

# Numeric fields: (low, high), inclusive. Bounds are generous sanity limits, not the GUI's slider ranges.
LIMITS: dict[str, tuple[float, float]] = {
    'stylemix_seed': (0, MAX_SEED), 'noise_seed': (0, MAX_SEED), 'trunc_psi': (-100, 100),
    'trunc_cutoff': (0, 1024), 'translate_x': (-1e4, 1e4), 'translate_y': (-1e4, 1e4), 'rotate': (-1e6, 1e6),
    'base_channel': (0, 1 << 16), 'img_scale_db': (-1000, 1000), 'fft_range_db': (0.01, 1000),
    'fft_beta': (0, 100), 'spectrum_seeds': (0, MAX_SPECTRUM_SEEDS), 'eq_transforms': (1, 1024),
    'sticking_radius': (0, 100), 'sticking_num': (1, 4096), 'sticking_frames': (1, 4096),
    'input_scale': (1e-3, 1e3), 'shear_x': (-100, 100), 'shear_y': (-100, 100), 'class_idx': (0, 1 << 20),
    'aliasing_seeds': (0, MAX_SPECTRUM_SEEDS), 'layer_eq_samples': (0, MAX_SPECTRUM_SEEDS),
}
MAX_LATENT = 1 << 16          # floats in an explicit w+ (the largest NVlabs networks have 18 * 512)
MAX_DIRECTIONS = 64
CHOICES: dict[str, tuple] = {'precision': ('float32', 'bfloat16', 'float16'),
                             'noise_mode': ('const', 'random', 'none'), 'sel_channels': (1, 3),
                             'spectrum_definition': ('nvlabs', 'whitened'),
                             'spectrum_noise_mode': (None, 'random', 'const'),
                             'layer_eq': ('', 'eqt_int', 'eqt_frac', 'eqr')}
_DEVICE = re.compile(r'(cpu|mps|cuda(:\d{1,3})?)')


class SessionError(UserError, ValueError):
    """A session file that cannot be used: not JSON, or a field of the wrong type or out of range."""


def save_session(path: str, args: RenderArgs, views: list[str] | None = None,
                 keyframes: list[dict] | None = None) -> None:
    """Write args (and the headless views, and keyframes as ``viz.core.keyframes.keyframe_to_dict`` gives
    them) to `path` atomically (a temporary file, then a rename)."""
    data = dict(version=SESSION_VERSION, args=args_to_dict(args))
    if views:
        data['views'] = list(views)
    if keyframes:
        data['keyframes'] = list(keyframes)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def load_session(path: str) -> tuple[RenderArgs, list[str] | None]:
    """(args, views) from a session file. A file that cannot be read as JSON is a
    :class:`~networks.file_io.FileReadError`, a bad field a :class:`SessionError` naming it: both are
    :class:`~networks.errors.UserError` lines, and nothing else escapes for any file content."""
    data = _read(path)
    views = data.get('views')
    return args_from_dict(data['args']), list(views) if views is not None else None


def load_keyframes(path: str) -> list[dict]:
    """The keyframes of a session file (checked with the rest of the file), [] when it has none."""
    return list(_read(path).get('keyframes', []))


def _read(path: str) -> dict:
    data = read_json(path, max_bytes=MAX_SESSION_BYTES, max_depth=MAX_SESSION_DEPTH, what='session file')
    validate_session(data, path)
    return data


def _finite(value) -> bool:
    """Whether the int or float ``value`` is a finite float; never raises (an int beyond float range is not)."""
    try:
        return math.isfinite(value)
    except (OverflowError, TypeError, ValueError):
        return False


def _shown(value, limit: int = 100) -> str:
    """``repr(value)`` cut to ``limit`` characters; never raises (Python refuses to print ints of > 4300 digits)."""
    try:
        text = repr(value)
    except ValueError:
        return f'an integer of {value.bit_length()} bits' if isinstance(value, int) else 'a value too large to show'
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _number(value, integer: bool) -> bool:
    if isinstance(value, bool):   # JSON true/false are not numbers here
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and _finite(value)


def _check_field(name: str, value, default) -> str | None:
    """None when ``value`` suits the field, else what is wrong with it."""
    if name in CHOICES:
        return None if value in CHOICES[name] and not isinstance(value, bool) else f'must be one of {CHOICES[name]}'
    if name == 'w0_seeds':
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
            return f'must be a list of 1..{MAX_LIST} [seed, weight] pairs'
        for pair in value:
            if not (isinstance(pair, list) and len(pair) == 2 and _number(pair[0], True)
                    and 0 <= pair[0] <= MAX_SEED and _number(pair[1], False) and abs(pair[1]) <= 1e6):
                return f'{_shown(pair)} is not a [seed 0..{MAX_SEED}, finite weight] pair'
        return None
    if name == 'stylemix_idx':
        if not isinstance(value, list) or len(value) > MAX_LIST or \
                not all(_number(i, True) and 0 <= i < MAX_LIST for i in value):
            return f'must be a list of layer indices 0..{MAX_LIST - 1}'
        return None
    if name == 'latent':
        if not isinstance(value, list) or len(value) > MAX_LATENT or not all(_number(v, False) for v in value):
            return f'must be a list of at most {MAX_LATENT} finite numbers'
        return None
    if name == 'directions':
        return _check_directions(value)
    if name == 'compare_pkls':
        if not isinstance(value, list) or len(value) > MAX_COMPARE or \
                not all(isinstance(p, str) and p.strip() and len(p) <= 4096 for p in value):
            return f'must be a list of at most {MAX_COMPARE} network paths (non-empty strings)'
        return None
    if name == 'device':
        return None if isinstance(value, str) and _DEVICE.fullmatch(value) else 'must be cpu, cuda, cuda:N or mps'
    if name in LIMITS:
        if value is None and name in ('trunc_cutoff', 'class_idx'):
            return None
        integer = isinstance(default, int) or name in ('trunc_cutoff', 'class_idx')
        low, high = LIMITS[name]
        if not _number(value, integer):
            return f'must be {"an integer" if integer else "a finite number"} in {low:g}..{high:g}'
        return None if low <= value <= high else f'{_shown(value)} is out of range {low:g}..{high:g}'
    if isinstance(default, bool):
        return None if isinstance(value, bool) else 'must be true or false'
    if isinstance(default, str) or name == 'layer_name':
        if value is None and name == 'layer_name':
            return None
        return None if isinstance(value, str) and len(value) <= 4096 else 'must be a string'
    return 'has no check (a bug: every RenderArgs field needs one)'


def _as_json(value):
    """A render setting as a session file holds it (tuples become lists, as json.dump writes them)."""
    return [_as_json(v) for v in value] if isinstance(value, list | tuple) else value


def check_changes(args: RenderArgs, changes: dict) -> tuple[dict, list[str]]:
    """Edits of the render settings (the GUI's typed and dragged values) held to a session file's checks, so that
    a session the GUI saves always loads: a finite number beyond a :data:`LIMITS` bound is clamped to it, and a
    value a session file would refuse for any other reason (NaN, an infinity, a malformed list) is dropped, the
    current value staying. Returns (the changes to make, one note per value corrected or dropped)."""
    fields = {f.name: f.default for f in dataclasses.fields(RenderArgs)}
    accepted, notes = {}, []
    for name, value in changes.items():
        problem = _check_field(name, _as_json(value), fields[name])
        if problem is None:
            accepted[name] = value
            continue
        if name in LIMITS and not isinstance(value, bool) and isinstance(value, int | float) and _finite(value):
            low, high = LIMITS[name]
            clamped = min(max(value, low), high)
            accepted[name] = type(value)(clamped)
            notes.append(f'{name} {_shown(value)} is out of range {low:g}..{high:g}: set to {clamped:g}')
        else:
            notes.append(f'{name} {problem}: kept {_shown(getattr(args, name))}')
    return accepted, notes


def _check_directions(value) -> str | None:
    """None for a list of [source, index, strength, layers] edits, else what is wrong."""
    if not isinstance(value, list) or len(value) > MAX_DIRECTIONS:
        return f'must be a list of at most {MAX_DIRECTIONS} [source, index, strength, layers] entries'
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 4 and isinstance(entry[0], str) and entry[0]
                and len(entry[0]) <= 4096 and _number(entry[1], True) and 0 <= entry[1] < 4096
                and _number(entry[2], False) and abs(entry[2]) <= 1e4 and isinstance(entry[3], str)
                and LAYER_SPEC.fullmatch(entry[3])):
            return (f'{_shown(entry)} is not a [source ("pca" or a file), index 0..4095, strength |s| <= 1e4, '
                    f'layers (all, coarse, middle, fine or A-B)] entry')
    return None


KEYFRAME_FIELDS = ('latent', 'num_ws', 'directions', 'translate_x', 'translate_y', 'rotate', 'input_scale',
                   'shear_x', 'shear_y', 'trunc_psi', 'mirror_x', 'mirror_y')
MAX_KEYFRAMES = 1024


def _check_keyframes(keyframes, fields: dict, path: str) -> None:
    """Each keyframe: a latent, its row count, and RenderArgs values checked as the args' own."""
    if not isinstance(keyframes, list) or len(keyframes) > MAX_KEYFRAMES:
        raise SessionError(f'{path}: keyframes must be a list of at most {MAX_KEYFRAMES} objects')
    for i, kf in enumerate(keyframes):
        where = f'{path}: keyframes[{i}]'
        if not isinstance(kf, dict) or 'latent' not in kf:
            raise SessionError(f'{where} must be an object with a "latent"')
        unknown = sorted(set(kf) - set(KEYFRAME_FIELDS))
        if unknown:
            raise SessionError(f'{where}: unknown field(s) {printable(", ".join(str(k)[:40] for k in unknown[:8]))}')
        for name, value in kf.items():
            if name == 'num_ws':
                if not (_number(value, True) and 1 <= value <= MAX_LIST):
                    raise SessionError(f'{where}.num_ws must be an integer in 1..{MAX_LIST}')
                continue
            problem = _check_field(name, value, fields[name])
            if problem:
                raise SessionError(f'{where}.{name} {problem}')
        if not kf['latent'] or len(kf['latent']) % kf.get('num_ws', 1):
            raise SessionError(f'{where}.latent must be num_ws rows of equal length')


def validate_session(data, path: str = 'session') -> None:
    """Raise :class:`SessionError` naming the first bad field of a parsed session file; the whole file is refused."""
    if not isinstance(data, dict) or not isinstance(data.get('args'), dict):
        raise SessionError(f'{path} is not a session file (no "args" object)')
    unknown = sorted(set(data) - {'version', 'args', 'views', 'keyframes'})
    if unknown:
        raise SessionError(f'{path}: unknown field(s) {printable(", ".join(str(k)[:40] for k in unknown[:8]))}')
    if data.get('version', SESSION_VERSION) != SESSION_VERSION:
        raise SessionError(f'{path}: version {_shown(data["version"])} is not supported (only {SESSION_VERSION})')
    fields = {f.name: f.default for f in dataclasses.fields(RenderArgs)}
    unknown = sorted(set(data['args']) - set(fields))
    if unknown:
        raise SessionError(f'{path}: unknown render setting(s) args.{", args.".join(unknown)}')
    for name, value in data['args'].items():
        problem = _check_field(name, value, fields[name])
        if problem:
            raise SessionError(f'{path}: args.{name} {problem}')
    if 'keyframes' in data:
        _check_keyframes(data['keyframes'], fields, path)
    views = data.get('views')
    if views is not None:
        from viz.core.headless import VIEWS  # lazily: the headless module loads the renderer

        if not isinstance(views, list) or not all(isinstance(v, str) and v in VIEWS for v in views):
            raise SessionError(f'{path}: views must be a list of {", ".join(VIEWS)}')
