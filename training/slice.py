"""Resumable training slices: train for a few wall-clock minutes from a committed state folder, then write it back.

A GPU comes in short slots. A slice resumes from the state folder, runs the ordinary training loop
(`training.training_loop`, exactly as `--resume` of a snapshot does) until its minutes are up, and writes the
state back every `save_every` minutes and at the end, so a slot that is cut off loses at most those minutes.

The state folder holds `state.json` (the manifest: training options, counters, storage precision, history,
and the size and SHA-256 of every part) and `part-<generation>-<k>.bin`: one `torch.save` payload (G, D and
G_ema tensors, Adam moments, ADA p, path-length mean, RNG states, counters) cut into files of at most 16 MiB,
at most 64 MiB in all. When the payload would be larger it is stored less precisely, in this order, until it
fits (the manifest says which): Adam's second moments in bfloat16; G_ema in float16; G and D in float16; no
moments (Adam restarts them, bias-corrected). Adam's first moments are never stored with beta1 = 0 (all our
configs): they equal the next gradient exactly whatever they held before.

Writing never touches the last good state: new parts get new names, then `state.json` is replaced atomically
(the commit point), then parts the new manifest does not name are removed. A missing or corrupt state is one
`SliceStateError` line and nothing is written.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from networks.atomic_io import atomic_write, remove_stale_temp_files
from networks.errors import UserError
from networks.file_io import open_regular, read_fd
from training.training_loop import (
    MAX_COUNT,
    ResumeError,
    TrainingConfig,
    check_training_state,
    module_tensors,
    training_loop,
)

STATE_FORMAT = 'aliasfree-slice-state/1'
MANIFEST = 'state.json'
MAX_PART_BYTES = 16 * 2**20
MAX_TOTAL_BYTES = 64 * 2**20
_MANIFEST_RESERVE = 256 * 2**10          # room left for state.json inside the 64 MiB
_MAX_MANIFEST_BYTES = 4 * 2**20
_PART_PATTERN = re.compile(r'^part-(\d{6})-(\d{2})\.bin$')
MIN_STATE_BYTES = 2 * _MANIFEST_RESERVE     # the smallest size limit a state may ask for
MAX_GENERATION = 10**6                   # part names have six digits for it
MAX_NIMG = MAX_COUNT                      # a billion kimg: beyond any run
_MAX_HISTORY = 100_000
# Options every state must hold (a subset of what `_options_of` writes); the others take TrainingConfig's defaults.
REQUIRED_OPTIONS = ('training_set_kwargs', 'data_loader_kwargs', 'G_kwargs', 'D_kwargs', 'G_opt_kwargs',
                    'D_opt_kwargs', 'augment_kwargs', 'loss_kwargs', 'batch_size', 'batch_gpu', 'num_gpus',
                    'total_kimg', 'augment_p', 'random_seed')
NETWORKS = ('G', 'D', 'G_ema')

# Storage levels, tried in order until the payload fits; each is (moments, G_ema, G and D).
STORAGE_LEVELS = (
    ('float32', 'float32', 'float32'),
    ('bfloat16', 'float32', 'float32'),
    ('bfloat16', 'float16', 'float32'),
    ('bfloat16', 'float16', 'float16'),
    ('dropped', 'float16', 'float16'),
)
_DTYPES = {'float32': torch.float32, 'float16': torch.float16, 'bfloat16': torch.bfloat16}


class SliceStateError(UserError):
    """The slice's state folder is missing, corrupt or does not fit the limits; nothing was written."""


# ----------------------------------------------------------------------------------------------------------
# Payload: what a snapshot of the training loop becomes, at a given storage level


def _cast(tensor: torch.Tensor, dtype_name: str) -> torch.Tensor:
    tensor = tensor.detach().cpu()
    if not tensor.is_floating_point() or dtype_name == 'float32':
        return tensor.clone()
    low = tensor.to(_DTYPES[dtype_name])
    if dtype_name == 'float16' and torch.isfinite(tensor).all() and not torch.isfinite(low).all():
        low = tensor.to(torch.bfloat16)       # beyond float16's range (65504): keep the range, lose precision
    return low


def _encode_optimizer(state_dict: dict, moments: str) -> dict:
    groups = copy.deepcopy(state_dict['param_groups'])
    if moments == 'dropped':
        return dict(state={}, param_groups=groups)
    beta1_zero = {i for g in groups if float(g['betas'][0]) == 0.0 for i in g['params']}
    state = {}
    for index, entry in state_dict['state'].items():
        out = {}
        for key, value in entry.items():
            if key == 'exp_avg' and index in beta1_zero:
                continue                           # m_t = g_t exactly when beta1 = 0: nothing to keep
            out[key] = value.detach().cpu().clone() if key == 'step' else _cast(value, moments)
        state[index] = out
    return dict(state=state, param_groups=groups)


def _decode_optimizer(state_dict: dict) -> dict:
    state = {}
    for index, entry in state_dict['state'].items():
        entry = {k: (v.float() if k != 'step' and v.is_floating_point() else v) for k, v in entry.items()}
        if 'exp_avg' not in entry and 'exp_avg_sq' in entry:
            entry['exp_avg'] = torch.zeros_like(entry['exp_avg_sq'])
        state[index] = entry
    return dict(state=state, param_groups=state_dict['param_groups'])


def encode_payload(snapshot: dict, level: int) -> dict:
    """The training loop's snapshot dict (live modules, training_state) as plain tensors at a storage level."""
    moments, ema_dtype, net_dtype = STORAGE_LEVELS[level]
    payload = {name: {k: _cast(v, ema_dtype if name == 'G_ema' else net_dtype)
                      for k, v in module_tensors(snapshot[name]).items()} for name in NETWORKS}
    pipe = snapshot.get('augment_pipe')
    payload['augment_p'] = None if pipe is None else float(pipe.p)
    state = dict(snapshot['training_state'])
    for key in ('G_opt', 'D_opt'):
        state[key] = _encode_optimizer(state[key], moments)
    state['pl_mean'] = state['pl_mean'].detach().cpu().clone()
    state['rng_states'] = [{k: v.detach().cpu().clone() for k, v in s.items()} for s in state['rng_states']]
    payload['training_state'] = state
    return payload


def _payload_bytes_estimate(snapshot: dict, level: int) -> int:
    moments, ema_dtype, net_dtype = STORAGE_LEVELS[level]
    size = {'float32': 4, 'float16': 2, 'bfloat16': 2, 'dropped': 0}
    total = 0
    for name in NETWORKS:
        for tensor in module_tensors(snapshot[name]).values():
            total += tensor.numel() * (size[ema_dtype if name == 'G_ema' else net_dtype]
                                       if tensor.is_floating_point() else tensor.element_size())
    for key in ('G_opt', 'D_opt'):
        opt = snapshot['training_state'][key]
        beta1_zero = {i for g in opt['param_groups'] if float(g['betas'][0]) == 0.0 for i in g['params']}
        for index, entry in opt['state'].items():
            for k, v in entry.items():
                if k == 'exp_avg_sq' or (k == 'exp_avg' and index not in beta1_zero):
                    total += v.numel() * size[moments]
    return total


def serialize_payload(snapshot: dict, max_bytes: int = MAX_TOTAL_BYTES - _MANIFEST_RESERVE) -> tuple[bytes, int]:
    """(torch.save bytes, storage level) at the most precise level that fits `max_bytes`."""
    estimates = []
    for level in range(len(STORAGE_LEVELS)):
        estimate = _payload_bytes_estimate(snapshot, level)
        estimates.append(estimate)
        if estimate > max_bytes:
            continue
        buffer = io.BytesIO()
        torch.save(encode_payload(snapshot, level), buffer)
        if buffer.tell() <= max_bytes:
            return buffer.getvalue(), level
    raise SliceStateError(f'the training state needs {estimates[-1] / 2**20:.1f} MiB even with float16 weights and '
                          f'no optimizer moments, more than the {max_bytes / 2**20:.1f} MiB a slice may hand back; '
                          'train smaller networks', option=('cbase', 'cmax'))


def storage_description(level: int) -> dict:
    moments, ema_dtype, net_dtype = STORAGE_LEVELS[level]
    return dict(level=level, G=net_dtype, D=net_dtype, G_ema=ema_dtype, adam_exp_avg_sq=moments,
                adam_exp_avg='not stored when beta1 = 0 (equals the next gradient)')


# ----------------------------------------------------------------------------------------------------------
# The state folder


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _corrupt(state_dir: Path, reason: str) -> SliceStateError:
    return SliceStateError(f'training state {state_dir} is corrupt ({reason}); it was left as it is: restore it '
                           f'(e.g. git checkout -- {state_dir}) or start afresh in another folder', option='init')


def _read_regular(state_dir: Path, name: str, limit: int) -> bytes:
    """The bytes of `state_dir/name`: a regular file of at most `limit` bytes, not a symlink, FIFO or device
    (`networks.file_io.open_regular` without following links: nothing blocks, nothing is read before the checks)."""
    path = state_dir / name

    def fail(reason: str) -> SliceStateError:
        return _corrupt(state_dir, f'{name} is missing' if reason == 'file not found' else f'{name}: {reason}')

    fd, _size = open_regular(path, limit, fail, follow_symlinks=False)
    try:
        return read_fd(fd, limit, fail)
    finally:
        os.close(fd)


def read_manifest(state_dir: str | os.PathLike) -> dict | None:
    """The validated manifest, or None when the folder has no state.json. Raises SliceStateError if corrupt.

    The manifest is data: every field is checked (counters, history, the training options against the schema
    of `training.options`, whose closed table is the only way a name selects a class)."""
    state_dir = Path(state_dir)
    path = state_dir / MANIFEST
    if not os.path.lexists(path):
        return None
    manifest = _manifest_as_written(state_dir)
    if not isinstance(manifest, dict) or manifest.get('format') != STATE_FORMAT:
        raise _corrupt(state_dir, f'{MANIFEST} is not a slice state of format {STATE_FORMAT}')
    parts = manifest.get('parts')
    if not isinstance(parts, list) or not 0 < len(parts) <= 64:
        raise _corrupt(state_dir, 'its list of parts is malformed')
    for part in parts:
        if not (isinstance(part, dict) and isinstance(part.get('file'), str) and _PART_PATTERN.match(part['file'])
                and isinstance(part.get('bytes'), int) and 0 < part['bytes'] <= MAX_PART_BYTES
                and isinstance(part.get('sha256'), str)):
            raise _corrupt(state_dir, f'a part entry is malformed: {str(part)[:80]}')
    if sum(part['bytes'] for part in parts) > MAX_TOTAL_BYTES:
        raise _corrupt(state_dir, f'its parts add up to more than {MAX_TOTAL_BYTES // 2**20} MiB')
    if not isinstance(manifest.get('generation'), int) or not isinstance(manifest.get('options'), dict):
        raise _corrupt(state_dir, 'generation or options missing')
    _check_manifest_fields(state_dir, manifest)
    return manifest


def _manifest_as_written(state_dir: Path) -> object:
    """The JSON value of `state_dir`'s state.json, unchecked (`read_manifest` checks it)."""
    data = _read_regular(state_dir, MANIFEST, _MAX_MANIFEST_BYTES)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise _corrupt(state_dir, f'{MANIFEST} cannot be read: {type(e).__name__}: {str(e)[:120]}') from None


def _check_manifest_fields(state_dir: Path, manifest: dict) -> None:
    from training.options import OptionsError, validate_options
    generation = manifest['generation']
    if isinstance(generation, bool) or not 1 <= generation < MAX_GENERATION:
        raise _corrupt(state_dir, f'generation {str(generation)[:20]} is not in 1..{MAX_GENERATION - 1}')
    cur_nimg = manifest.get('cur_nimg')
    if isinstance(cur_nimg, bool) or not isinstance(cur_nimg, int) or not 0 <= cur_nimg <= MAX_NIMG:
        raise _corrupt(state_dir, f'cur_nimg is not a count of images in 0..{MAX_NIMG}')
    kimg = manifest.get('kimg')
    if isinstance(kimg, bool) or not isinstance(kimg, int | float) or not -1 <= kimg <= MAX_NIMG / 1000 \
            or not abs(kimg - cur_nimg / 1000) <= 1e-6 * (1 + cur_nimg / 1000):   # range first: no int overflow
        raise _corrupt(state_dir, 'kimg is missing or does not equal cur_nimg / 1000')
    for key, high in (('cpu_seconds', 1e12), ('max_state_bytes', MAX_TOTAL_BYTES)):
        value = manifest.get(key, 0.0 if key == 'cpu_seconds' else MAX_TOTAL_BYTES)
        low = 0 if key == 'cpu_seconds' else MIN_STATE_BYTES
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise _corrupt(state_dir, f'{key} is not a number in {low}..{high:.0f}')
    history = manifest.get('history', [])
    if not isinstance(history, list) or len(history) > _MAX_HISTORY:
        raise _corrupt(state_dir, f'history is not a list of at most {_MAX_HISTORY} slices')
    for i, entry in enumerate(history):
        if not isinstance(entry, dict):
            raise _corrupt(state_dir, f'history[{i}] is not an object')
        for key in ('start_kimg', 'end_kimg', 'seconds', 'cpu_seconds'):
            value = entry.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1e12:
                raise _corrupt(state_dir, f'history[{i}].{key} is not a finite count')
        for key in ('device', 'command'):
            if key in entry and (not isinstance(entry[key], str) or len(entry[key]) > 65536):
                raise _corrupt(state_dir, f'history[{i}].{key} is not text')
    try:
        manifest['options'] = validate_options(manifest['options'], required=REQUIRED_OPTIONS)
    except OptionsError as e:
        raise _corrupt(state_dir, f'training options: {e}') from None
    if 'resolution' not in manifest['options']['training_set_kwargs']:
        raise _corrupt(state_dir, 'training options: the dataset resolution is missing')


def read_state(state_dir: str | os.PathLike) -> tuple[dict, dict] | None:
    """(manifest, payload) with float32 tensors, or None when there is no state. Raises SliceStateError.

    Everything is checked before it is used: the manifest's fields and options (`read_manifest`), the parts'
    sizes and checksums, the payload's structure, and its networks against the architecture the options name."""
    state_dir = Path(state_dir)
    manifest = read_manifest(state_dir)
    if manifest is None:
        return None
    payload = read_payload(state_dir, manifest)
    _check_against_options(state_dir, manifest, payload)
    return manifest, payload


def read_payload(state_dir: str | os.PathLike, manifest: dict) -> dict:
    """The payload the manifest's parts hold (sizes, checksums and structure checked; float32 tensors); the
    options are not looked at (`read_state` checks the networks against them)."""
    state_dir = Path(state_dir)
    chunks = []
    for part in manifest['parts']:
        data = _read_regular(state_dir, part['file'], MAX_PART_BYTES)
        if len(data) != part['bytes']:
            raise _corrupt(state_dir, f'{part["file"]} has {len(data)} bytes, the manifest says {part["bytes"]}')
        if hashlib.sha256(data).hexdigest() != part['sha256']:
            raise _corrupt(state_dir, f'{part["file"]} does not match its SHA-256')
        chunks.append(data)
    try:
        payload = torch.load(io.BytesIO(b''.join(chunks)), map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001  (the checksums matched, so this is a state written by a bug)
        raise _corrupt(state_dir, f'the payload does not load: {type(e).__name__}') from None
    _check_payload(state_dir, payload)
    for name in NETWORKS:
        payload[name] = {k: v.float() if v.is_floating_point() else v for k, v in payload[name].items()}
    state = payload['training_state']
    for key in ('G_opt', 'D_opt'):
        state[key] = _decode_optimizer(state[key])
    return payload


def _check_payload(state_dir: Path, payload: object) -> None:
    if not isinstance(payload, dict):
        raise _corrupt(state_dir, 'the payload is not a dict')
    for name in NETWORKS:
        tensors = payload.get(name)
        if not isinstance(tensors, dict) or not tensors or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()):
            raise _corrupt(state_dir, f'{name} is not a dict of tensors')
    state = payload.get('training_state')
    try:
        check_training_state(state)
    except ResumeError as e:
        raise _corrupt(state_dir, str(e)) from None
    if len(state['rng_states']) != 1:                      # a slice runs one process
        raise _corrupt(state_dir, 'training_state.rng_states is not one set of generator states')
    p = payload.get('augment_p')
    if p is not None and (isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1):
        raise _corrupt(state_dir, 'augment_p is not a probability')


_Spec = collections.namedtuple('_Spec', 'size dtype')     # what the architecture check reads of a tensor


def _check_against_options(state_dir: Path, manifest: dict, payload: dict) -> None:
    """The payload's networks must be exactly the ones the options describe (built on the meta device, which
    allocates nothing), and its counters must be the manifest's."""
    from networks.pickle_io import _check_architecture
    from training.options import class_for
    options = manifest['options']
    if payload['training_state']['cur_nimg'] != manifest['cur_nimg']:
        raise _corrupt(state_dir, 'the payload and the manifest disagree on cur_nimg')
    dims = manifest.get('network_dims')
    if not isinstance(dims, dict):
        raise _corrupt(state_dir, 'network_dims missing')
    common = {}
    for key, (low, high) in (('c_dim', (0, 65536)), ('img_channels', (1, 16))):
        value = dims.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _corrupt(state_dir, f'network_dims.{key} is not in {low}..{high}')
        common[key] = value
    common['img_resolution'] = options['training_set_kwargs']['resolution']
    for name, role in (('G', 'G_kwargs'), ('D', 'D_kwargs'), ('G_ema', 'G_kwargs')):
        kwargs = dict(options[role])
        cls = class_for(kwargs.pop('class_name'), role)
        kwargs.update(common)
        specs = {k: _Spec(tuple(v.shape), v.dtype) for k, v in payload[name].items()}
        try:
            _check_architecture(cls, kwargs, specs, f'{name}')
        except ValueError as e:
            raise _corrupt(state_dir, f'the networks do not match the options: {str(e)[:200]}') from None


def write_state(state_dir: str | os.PathLike, snapshot: dict, options: dict, history: list[dict],
                max_part_bytes: int = MAX_PART_BYTES,
                max_total_bytes: int = MAX_TOTAL_BYTES - _MANIFEST_RESERVE, max_state_bytes: int | None = None) -> dict:
    """Writes a new state beside the old one, commits it by replacing state.json, then drops the old parts.

    `max_state_bytes` (parts and manifest; at most 64 MiB) lowers the payload's limit and is recorded in the
    manifest, where later slices find it: a compact state stays compact."""
    if max_state_bytes is not None:
        max_total_bytes = min(max_total_bytes, int(max_state_bytes) - _MANIFEST_RESERVE)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    old = read_manifest(state_dir)
    generation = _next_generation(old['generation'] if old else None)
    data, level = serialize_payload(snapshot, max_total_bytes)
    view = memoryview(data)

    def manifest_of(parts: list[dict]) -> dict:
        training_state = snapshot['training_state']
        manifest = dict(format=STATE_FORMAT, generation=generation, cur_nimg=int(training_state['cur_nimg']),
                        kimg=training_state['cur_nimg'] / 1000, saved_at=time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                                                                       time.gmtime()),
                        cpu_seconds=round(float(training_state.get('cpu_seconds', 0.0)), 1),
                        storage=storage_description(level), payload_bytes=len(data), parts=parts,
                        network_dims=dict(c_dim=getattr(snapshot['G'], 'c_dim', None),
                                          img_channels=getattr(snapshot['G'], 'img_channels', None)),
                        options=options, history=history)
        if max_state_bytes is not None:
            manifest['max_state_bytes'] = int(max_state_bytes)
        return manifest
    return _commit_parts(state_dir, (view[start:start + max_part_bytes]
                                     for start in range(0, len(data), max_part_bytes)), generation, manifest_of)


def _next_generation(current: int | None, above: int = 0) -> int:
    """The generation of new parts: past `current` (the state's; None without one) and `above`, renumbered from 1
    rather than reach a name the reader refuses, and never `current` itself."""
    generation = max(current or 0, above) + 1
    if generation >= MAX_GENERATION:
        generation = 1 if current != 1 else 2
    return generation


def _commit_parts(state_dir: Path, chunks: Iterable, generation: int,
                  manifest_of: Callable[[list[dict]], dict]) -> dict:
    """Writes `chunks` as the parts of `generation`, then state.json = `manifest_of(parts)` (the commit point),
    then drops the parts it does not name. Until state.json is replaced the old state stays the current one: on
    any failure the new parts are removed again and the error propagates."""
    parts: list[dict] = []
    try:
        for k, chunk in enumerate(chunks):
            name = f'part-{generation:06d}-{k:02d}.bin'
            atomic_write(state_dir / name, lambda f, chunk=chunk: f.write(chunk))
            parts.append(dict(file=name, bytes=len(chunk), sha256=hashlib.sha256(chunk).hexdigest()))
        manifest = manifest_of(parts)
        text = json.dumps(manifest, indent=1).encode()
        atomic_write(state_dir / MANIFEST, lambda f: f.write(text))     # the commit point
    except BaseException:
        for part in parts:
            try:
                os.unlink(state_dir / part['file'])
            except OSError:
                pass
        raise
    _fsync_dir(state_dir)
    remove_unreferenced_parts(state_dir, manifest)
    return manifest


def remove_unreferenced_parts(state_dir: Path, manifest: dict) -> list[str]:
    """Part files (by name pattern only) that `manifest` does not list: older generations, aborted writes."""
    keep = {part['file'] for part in manifest['parts']}
    removed = []
    for entry in os.scandir(state_dir):
        if _PART_PATTERN.match(entry.name) and entry.name not in keep and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed


# ----------------------------------------------------------------------------------------------------------
# Adopting a state that a slice saved elsewhere

_RUN_LOG_PATTERN = re.compile(r'^(log\.txt|stats\.jsonl|metric-[A-Za-z0-9_]+\.jsonl)$')
_MAX_LOG_BYTES = 256 * 2**20


def _continues(old: dict, new: dict) -> bool:
    """Whether `new`'s history is `old`'s followed by at least one slice that starts where `old` ends."""
    old_history, new_history = old.get('history', []), new.get('history', [])
    return (len(new_history) > len(old_history) and new_history[:len(old_history)] == old_history
            and abs(new_history[len(old_history)]['start_kimg'] - old['kimg']) <= 1e-6 * (1 + old['kimg']))


def _append_run_logs(returned_run_dir: Path, run_dir: Path) -> list[str]:
    """Appends each run log of `returned_run_dir` (log.txt, stats.jsonl, metric-*.jsonl) to the file of the same
    name in `run_dir`, each replaced atomically; a log whose first line `run_dir`'s file already holds was
    appended before and is skipped. Returns the names appended."""
    if not returned_run_dir.is_dir():
        return []
    appended = []
    for name in sorted(e.name for e in os.scandir(returned_run_dir) if _RUN_LOG_PATTERN.match(e.name)):
        added = _read_regular(returned_run_dir, name, _MAX_LOG_BYTES)
        if not added.strip():
            continue
        if not added.endswith(b'\n'):
            added += b'\n'
        target = run_dir / name
        existing = _read_regular(run_dir, name, _MAX_LOG_BYTES) if os.path.lexists(target) else b''
        first = added.splitlines(keepends=True)[0]
        if first in existing.splitlines(keepends=True):
            continue
        if existing and not existing.endswith(b'\n'):
            existing += b'\n'
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(target, lambda f, data=existing + added: f.write(data))
        appended.append(name)
    return appended


def adopt_state(state_dir: str | os.PathLike, returned_dir: str | os.PathLike, run_dir: str | os.PathLike | None = None,
                returned_run_dir: str | os.PathLike | None = None) -> dict:
    """Makes the state that a slice saved elsewhere (`--save-to`, e.g. the folder a time-limited GPU machine hands
    back) the state of `state_dir`, and appends that slice's logs to `state_dir`'s run logs.

    The returned state is checked whole first (`read_state`), and it must continue `state_dir`'s state: its
    history is `state_dir`'s followed by slices that start at its kimg (or `state_dir` holds no state). Its parts
    are copied under a new generation, `state.json` is replaced last (the commit point) and the old parts are
    removed, so an interrupted adoption leaves the old state current. Adopting the same state again changes
    nothing. Both folders are locked, as for a slice."""
    state_dir, returned_dir = Path(state_dir), Path(returned_dir)
    run_dir = Path(run_dir) if run_dir is not None else Path(f'{state_dir}-run')
    returned_run_dir = Path(returned_run_dir) if returned_run_dir is not None else Path(f'{returned_dir}-run')
    if returned_dir.exists() and state_dir.exists() and returned_dir.resolve() == state_dir.resolve():
        raise SliceStateError(f'{returned_dir} is the state folder itself: adopt a state saved elsewhere',
                              option='adopt')
    locks = _FolderLocks([state_dir, returned_dir], create=[state_dir])
    failed = True
    try:
        if read_state(returned_dir) is None:
            raise SliceStateError(f'no training state in {returned_dir} (no {MANIFEST}): name the folder the slice '
                                  'saved to, e.g. the returned sg3r/', option='adopt')
        new = _manifest_as_written(returned_dir)        # its options as written; read_state checked it whole
        old = read_manifest(state_dir)
        same = old is not None and old.get('history', []) == new.get('history', []) and old['kimg'] == new['kimg']
        if old is not None and not same and not _continues(old, new):
            raise SliceStateError(
                f'the state in {returned_dir} ({new["kimg"]:.3f} kimg, {len(new.get("history", []))} slices) does '
                f'not continue the one in {state_dir} ({old["kimg"]:.3f} kimg, {len(old.get("history", []))} '
                'slices): its history must begin with that state\'s whole history', option='adopt')
        appended = _append_run_logs(returned_run_dir, run_dir)
        if not same:
            def verified_parts():
                for part in new['parts']:
                    data = _read_regular(returned_dir, part['file'], MAX_PART_BYTES)
                    if hashlib.sha256(data).hexdigest() != part['sha256']:
                        raise _corrupt(returned_dir, f'{part["file"]} changed while it was adopted')
                    yield data
            generation = _next_generation(old['generation'] if old else None, new['generation'])
            _commit_parts(state_dir, verified_parts(), generation,
                          lambda parts: dict(new, generation=generation, parts=parts))
        failed = False
        return dict(state_dir=str(state_dir), adopted_from=str(returned_dir),
                    from_kimg=None if old is None else old['kimg'], kimg=new['kimg'], changed=not same,
                    logs_appended=appended)
    finally:
        locks.release(failed=failed)


# ----------------------------------------------------------------------------------------------------------
# One slice


def _options_of(cfg: TrainingConfig) -> dict:
    options = dataclasses.asdict(cfg)
    for key in ('run_dir', 'resume_pkl', 'resume_kimg', 'device', 'network_snapshot_seconds'):
        options.pop(key, None)
    return options


def _config_from_options(state_dir: Path, options: dict) -> TrainingConfig:
    """The configuration of options that `read_manifest` validated (every field checked, classes by key)."""
    return TrainingConfig(**copy.deepcopy(options))


class _Clock:
    """Stops the slice early enough to save before its minutes are up, learning how long steps and saves take."""

    def __init__(self, deadline: float, first_save_estimate_s: float = 2.0, cpu_deadline: float | None = None):
        self.deadline = deadline
        self.cpu_deadline = cpu_deadline      # time.process_time() (all threads of this process) to stop at
        self.save_s = first_save_estimate_s
        self.steps: collections.deque = collections.deque(maxlen=10)   # recent steps: not the warm-up one
        self.last = None
        self.calls = 0
        self.stop_requested = False

    def should_stop(self) -> bool:
        now = time.time()
        self.calls += 1
        if self.last is not None and self.calls > 2:
            self.steps.append(now - self.last)
        self.last = now
        step_s = max(self.steps, default=0.0)
        if self.cpu_deadline is not None and time.process_time() >= self.cpu_deadline:
            return True
        return self.stop_requested or now + 1.5 * self.save_s + 2 * step_s >= self.deadline

    def saved(self, seconds: float) -> None:
        self.save_s = max(seconds, 0.5)
        self.last = time.time()      # a save is not a step


def _make_logger(path: Path, echo: Callable[[str], None] | None) -> Callable[[str], None]:
    path.parent.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        if echo is not None:
            echo(message)
        with open(path, 'a') as f:
            f.write(message + '\n')
    return log


def check_networks_fit(cfg: TrainingConfig, common: dict) -> None:
    """Refuse networks whose weights alone (G, D and G_ema in float16) exceed what a state may hold, counted on
    the meta device (which allocates nothing) before anything is built for real."""
    from training.training_loop import construct_class_by_name
    with torch.device('meta'):
        G = construct_class_by_name(**cfg.G_kwargs, **common)
        D = construct_class_by_name(**cfg.D_kwargs, **common)
    g, d = (sum(t.numel() for t in module_tensors(net).values()) for net in (G, D))
    need = (2 * g + d) * 2
    if need > MAX_TOTAL_BYTES - _MANIFEST_RESERVE:
        raise SliceStateError(f'these networks (G {g / 1e6:.1f}M, D {d / 1e6:.1f}M values) need '
                              f'{need / 2**20:.0f} MiB even with float16 weights and no optimizer moments, more '
                              f'than the {MAX_TOTAL_BYTES // 2**20} MiB a state may hold; train smaller networks',
                              option=('cbase', 'cmax'))


def estimate_state(cfg: TrainingConfig, max_state_mib: float | None = None) -> dict:
    """Storage level and size of the state that a slice started with `cfg` would write (networks built, nothing
    trained), under the cap `max_state_mib` as a slice applies it."""
    from training.training_loop import construct_class_by_name
    dataset = construct_class_by_name(**cfg.training_set_kwargs)
    common = dict(c_dim=dataset.label_dim, img_resolution=dataset.resolution, img_channels=dataset.num_channels)
    check_networks_fit(cfg, common)
    G = construct_class_by_name(**cfg.G_kwargs, **common)
    D = construct_class_by_name(**cfg.D_kwargs, **common)
    states = {}
    for key, net, opt_kwargs in (('G_opt', G, cfg.G_opt_kwargs), ('D_opt', D, cfg.D_opt_kwargs)):
        betas = tuple(float(b) for b in opt_kwargs['betas'])
        opt = torch.optim.Adam(net.parameters(), lr=opt_kwargs['lr'], betas=betas)
        for p in net.parameters():      # moments as a trained optimizer holds them
            opt.state[p] = dict(step=torch.tensor(1.0), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        states[key] = opt.state_dict()
    snapshot = dict(G=G, D=D, G_ema=copy.deepcopy(G), augment_pipe=None, training_state=dict(
        cur_nimg=0, cur_tick=0, batch_idx=0, pl_mean=torch.zeros([]), rng_states=[dict(cpu=torch.get_rng_state())],
        **states))
    max_bytes = MAX_TOTAL_BYTES - _MANIFEST_RESERVE
    if max_state_mib is not None:
        max_bytes = min(max_bytes, int(max_state_mib * 2**20) - _MANIFEST_RESERVE)
    data, level = serialize_payload(snapshot, max_bytes)
    return dict(G_params=sum(p.numel() for p in G.parameters()), D_params=sum(p.numel() for p in D.parameters()),
                state_mib=round(len(data) / 2**20, 2), files=-(-len(data) // MAX_PART_BYTES),
                storage=storage_description(level))


class _FolderLocks:
    """Exclusive advisory locks (flock) on the state folder and the folder saved to, held for a whole slice: a
    second slice of the same state, started by mistake beside a running one, would train from the same kimg and
    overwrite the other's saves, losing one run's work. The lock is on the directory itself, so no lock file
    enters the folder (which is committed to git), and the kernel drops it when the process dies, however it
    dies. Folders a slice will write (``--init``, ``--save-to``) are created here, with any missing parents, and
    removed again if the slice fails before writing anything into them."""

    def __init__(self, folders: list[Path], create: list[Path]):
        self._fds: list[int] = []
        self._created: list[Path] = []
        try:
            for folder in dict.fromkeys(f.resolve() for f in folders):   # one lock per distinct folder
                if folder in {c.resolve() for c in create} and not folder.exists():
                    missing = [folder]                  # the folder and its missing parents, each removed again
                    while not missing[-1].parent.exists():
                        missing.append(missing[-1].parent)
                    for path in reversed(missing):
                        try:
                            path.mkdir()
                        except FileExistsError:
                            continue
                        except OSError as e:
                            raise SliceStateError(f'cannot create {path}: {e.strerror or e}') from None
                        self._created.append(path)
                if not folder.is_dir():
                    continue        # nothing to lock: reading the state says what is wrong
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                self._fds.append(fd)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise SliceStateError(f'{folder} is in use by another slice (a running process holds its '
                                          'lock); wait for it to end, or stop it') from None
        except BaseException:
            self.release(failed=True)
            raise

    def release(self, failed: bool) -> None:
        if failed:
            for folder in reversed(self._created):
                try:
                    folder.rmdir()            # only when still empty: never removes what was written
                except OSError:
                    pass
        for fd in self._fds:
            os.close(fd)                      # closing the descriptor releases its flock
        self._fds = []


def run_slice(state_dir: str | os.PathLike, minutes: float, save_every_minutes: float = 3.0,
              make_init_cfg: Callable[[], TrainingConfig] | None = None, data: str | None = None,
              total_kimg: float | None = None,
              device: str = 'cpu', run_dir: str | None = None, echo: Callable[[str], None] | None = print,
              handle_sigterm: bool = False, save_to: str | os.PathLike | None = None,
              command: str | None = None, cpu_minutes: float | None = None,
              max_state_mib: float | None = None, metrics: list[str] | None = None,
              metrics_samples: int | None = None, glr: float | None = None, dlr: float | None = None,
              ema_kimg: float | None = None) -> dict:
    """Resume from `state_dir` (or start it from `make_init_cfg()`, the configuration the train CLI builds), train
    for `minutes` of wall clock (or until `total_kimg`), saving every `save_every_minutes` to `save_to` (default:
    `state_dir` itself; another folder leaves `state_dir` untouched, e.g. one whose files a time-limited machine
    hands back); `command`, the command line of this slice, goes into its history entry (for the shipped
    network's card); `cpu_minutes` also stops it once this process has used that much CPU time (all its threads;
    data-loader workers are other processes), so that settings compared on a shared machine get equal work;
    `max_state_mib` caps the state's size (the storage levels drop precision until it fits; kept in the
    manifest for later slices, which may lower it again); `metrics` and `metrics_samples` replace what is
    measured after each save, and `glr`, `dlr` (the optimizers' base learning rates) and `ema_kimg` (G_ema's
    half-life) replace the state's, from this slice on: a late phase of lower rates and a longer average, with
    Adam's moments kept; returns a summary dict. Both folders are locked for the whole
    slice (`_FolderLocks`): a second slice of the same state is refused with one line."""
    state_dir = Path(state_dir)
    save_dir = Path(save_to) if save_to is not None else state_dir
    locks = _FolderLocks([state_dir, save_dir],
                         create=[save_dir] + ([state_dir] if make_init_cfg is not None else []))
    failed = True
    try:
        result = _run_slice(state_dir, save_dir, minutes, save_every_minutes, make_init_cfg, data, total_kimg,
                            device, run_dir, echo, handle_sigterm, command, cpu_minutes, max_state_mib, metrics,
                            metrics_samples, glr, dlr, ema_kimg)
        failed = False
        return result
    finally:
        locks.release(failed=failed and not (save_dir / MANIFEST).exists())


def _run_slice(state_dir: Path, save_dir: Path, minutes: float, save_every_minutes: float,
               make_init_cfg: Callable[[], TrainingConfig] | None, data: str | None, total_kimg: float | None,
               device: str, run_dir: str | None, echo: Callable[[str], None] | None, handle_sigterm: bool,
               command: str | None, cpu_minutes: float | None, max_state_mib: float | None,
               metrics: list[str] | None, metrics_samples: int | None, glr: float | None, dlr: float | None,
               ema_kimg: float | None) -> dict:
    """`run_slice` with its folders locked."""
    start = time.time()
    cpu_start = time.process_time()
    device_type = torch.device(device).type
    existing = read_state(state_dir)            # raises on a corrupt state before anything is written
    if save_dir.resolve() != state_dir.resolve() and (save_dir / MANIFEST).exists():
        raise SliceStateError(f'save-to folder {save_dir} already holds a training state; choose an empty folder',
                              option='save_to')
    if make_init_cfg is not None:
        if existing is not None:
            raise SliceStateError(f'{state_dir} already holds a training state ({existing[0]["kimg"]:.3f} kimg); '
                                  'starting a new one would replace it: resume it instead, or use another folder',
                                  option='init')
        cfg = make_init_cfg()
        if cfg.num_gpus != 1:
            raise SliceStateError('a slice runs one process: use one GPU (and a larger batch for a big GPU)',
                                  option='gpus', value='1')
        from training.training_loop import construct_class_by_name
        dataset = construct_class_by_name(**cfg.training_set_kwargs)
        check_networks_fit(cfg, dict(c_dim=dataset.label_dim if cfg.training_set_kwargs.get('use_labels') else 0,
                                     img_resolution=dataset.resolution, img_channels=dataset.num_channels))
        del dataset
        history: list[dict] = []
        resume_data = None
        start_kimg = 0.0
    else:
        if existing is None:
            raise SliceStateError(f'no training state in {state_dir} (no {MANIFEST}); start one with tools.train '
                                  'options after the init option', option='init',
                                  value='--cfg ... --data ... --batch ... --gamma ...')
        manifest, payload = existing
        cfg = _config_from_options(state_dir, manifest['options'])
        history = list(manifest.get('history', []))
        resume_data = dict(G=payload['G'], D=payload['D'], G_ema=payload['G_ema'],
                           augment_pipe=None if payload.get('augment_p') is None else
                           dict(p=torch.tensor(payload['augment_p'])),
                           training_state=payload['training_state'])
        start_kimg = manifest['kimg']
        if max_state_mib is None and 'max_state_bytes' in manifest:
            max_state_mib = manifest['max_state_bytes'] / 2**20
    if data is not None:
        cfg.training_set_kwargs = dict(cfg.training_set_kwargs, path=data)
    if total_kimg is not None:
        cfg.total_kimg = total_kimg
    if metrics is not None:
        cfg.metrics = list(metrics)
    if metrics_samples is not None:
        cfg.metrics_num_samples = metrics_samples
    changed = []
    for name, value, attr in (('glr', glr, 'G_opt_kwargs'), ('dlr', dlr, 'D_opt_kwargs')):
        if value is not None and value != getattr(cfg, attr)['lr']:
            changed.append(f'{name} {getattr(cfg, attr)["lr"]:g} -> {value:g}')
            setattr(cfg, attr, dict(getattr(cfg, attr), lr=float(value)))
    if ema_kimg is not None and ema_kimg != cfg.ema_kimg:
        changed.append(f'ema_kimg {cfg.ema_kimg:g} -> {ema_kimg:g}')
        cfg.ema_kimg = float(ema_kimg)
    cfg.device = device
    cfg.run_dir = str(run_dir or f'{save_dir}-run')
    cfg.resume_pkl = None
    cfg.network_snapshot_seconds = save_every_minutes * 60
    cfg.network_snapshot_ticks = cfg.image_snapshot_ticks = 10**9    # tick 0 (first slice) and the end only
    options = _options_of(cfg)
    log = _make_logger(Path(cfg.run_dir) / 'log.txt', echo)
    removed = remove_stale_temp_files(save_dir) if save_dir.exists() else []
    if existing is not None and save_dir == state_dir:
        removed += remove_unreferenced_parts(state_dir, existing[0])
    if removed:
        log(f'  removed leftovers of an interrupted save in {save_dir}: {removed}')

    clock = _Clock(start + minutes * 60,
                   cpu_deadline=None if cpu_minutes is None else cpu_start + cpu_minutes * 60)
    entry = dict(slice=len(history) + 1, device=torch.cuda.get_device_name(cfg.device)
                 if device_type == 'cuda' else device_type, start_kimg=start_kimg, end_kimg=start_kimg, seconds=0.0,
                 cpu_seconds=0.0)
    if command is not None:
        entry['command'] = command
    saves = []

    def snapshot_fn(snapshot: dict) -> str:
        t0 = time.time()
        entry.update(end_kimg=snapshot['training_state']['cur_nimg'] / 1000, seconds=round(t0 - start, 1),
                     cpu_seconds=round(time.process_time() - cpu_start, 1))
        manifest = write_state(save_dir, snapshot, options, history + [entry],
                               max_state_bytes=None if max_state_mib is None else int(max_state_mib * 2**20))
        clock.saved(time.time() - t0)
        saves.append(dict(kimg=manifest['kimg'], seconds=round(time.time() - t0, 2),
                          mib=round(manifest['payload_bytes'] / 2**20, 2), files=len(manifest['parts']),
                          storage=manifest['storage']))
        s = manifest['storage']
        log(f'  state saved: kimg {manifest["kimg"]:.3f}, {saves[-1]["mib"]} MiB in {len(manifest["parts"])} '
            f'files (G/D {s["G"]}, G_ema {s["G_ema"]}, Adam moments {s["adam_exp_avg_sq"]}), '
            f'{saves[-1]["seconds"]} s')
        return str(save_dir)

    previous = None
    if handle_sigterm:   # the slot's time limit: stop at the next step and save, if the KILL does not come first
        previous = signal.signal(signal.SIGTERM, lambda *_: setattr(clock, 'stop_requested', True))
    try:
        log(f'Slice {entry["slice"]} of {state_dir}: from kimg {start_kimg:.3f}, {minutes:g} minutes, '
            f'saving every {save_every_minutes:g} minutes to {save_dir}, on {entry["device"]}')
        if changed:
            log(f'  from this slice on: {", ".join(changed)}')
        result = training_loop(cfg, log=log, resume_data=resume_data, should_stop=clock.should_stop,
                               snapshot_fn=snapshot_fn, strict_resume=True)
    finally:
        if handle_sigterm:
            signal.signal(signal.SIGTERM, previous)
    return dict(state_dir=str(state_dir), saved_to=str(save_dir), start_kimg=start_kimg,
                end_kimg=result['cur_nimg'] / 1000, seconds=round(time.time() - start, 1),
                cpu_seconds=round(time.process_time() - cpu_start, 1), saves=saves,
                run_dir=cfg.run_dir)
