"""The trained default networks that ship with the repository, and their JSON cards.

Per network KEY in :data:`CARD_KEYS` this folder may hold ``KEY.pkl`` (G_ema in our pickle format),
``KEY.json`` (its card: dataset, training command, kimg, time, hardware, metrics, reference render) and
``KEY-ref.png`` (the image :func:`render_reference` draws on the card's seed and psi, the regression guard).
Which of them exist is decided by the export step (``tools/export_default.py``); this module only reads them.

Cards are hostile input like any file: :func:`read_card` reads one with :func:`networks.file_io.read_json` (a
regular file of at most :data:`MAX_CARD_BYTES`, nested at most :data:`MAX_CARD_DEPTH` levels, numbers within float
range), checks every field and raises a UserError naming the bad one; :func:`available` skips a bad card with one
logged line. Pickles load only through the project's safe
loader, and never when larger than :data:`MAX_PICKLE_BYTES`.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import numpy as np
import torch

from networks.errors import UserError
from networks.file_io import read_json
from networks.image_io import ImageReadError, read_image

__all__ = ['CARD_KEYS', 'CFGS', 'MAX_CARD_BYTES', 'MAX_CARD_DEPTH', 'MAX_PICKLE_BYTES', 'MAX_REFERENCE_BYTES',
           'MIN_FRESH_DIFFERENCE', 'available', 'card_label', 'check_network', 'folder', 'load_card_generator',
           'load_reference', 'pickle_path', 'read_card', 'reference_path', 'render_reference', 'validate_card']

CARD_KEYS = ('sg3t', 'sg3r', 'sg2')
CFGS = ('stylegan3-t', 'stylegan3-r', 'stylegan2')
CARD_FORMAT = 1
MAX_CARD_BYTES = 1 << 20  # a card is a few hundred bytes; anything near this is not a card
MAX_CARD_DEPTH = 8  # a card nests 2 levels
MAX_PICKLE_BYTES = 32 << 20  # a shipped pickle is at most 25 MB (it lives in git); refuse larger ones unread
MAX_REFERENCE_BYTES = 8 << 20
MAX_REFERENCE_PIXELS = 4096 * 4096
MAX_TOLERANCE = 0.1  # a "regression guard" with a larger tolerance would pass nearly any image
# Mean absolute difference (images in [0, 1]) below which a render counts as "the same as a freshly initialised
# network": far above float noise, far below what training changes.
MIN_FRESH_DIFFERENCE = 0.02

log = logging.getLogger(__name__)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def folder() -> str:
    """This package's folder, where the shipped pickles, cards and reference PNGs live."""
    return _PACKAGE_DIR


# --- card validation ----------------------------------------------------------------------------------------
def _bad(field: str, why: str) -> UserError:
    return UserError(f'default network card: field "{field}" {why}')


def _number(card: dict, field: str, path: str, nullable: bool = False, lo: float | None = None,
            hi: float | None = None, integer: bool = False) -> float | int | None:
    if field not in card:
        raise _bad(path, 'is missing')
    v = card[field]
    if v is None and nullable:
        return None
    # bool is an int in Python; a card saying "kimg": true is wrong, not 1
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise _bad(path, f'must be {"an integer" if integer else "a number"}{" or null" if nullable else ""}, '
                         f'not {type(v).__name__}')
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an int beyond float range (a card built by hand: read_card refuses those earlier)
        finite = False
    if not finite:
        raise _bad(path, f'must be finite, not {_shown(v)}')
    if lo is not None and v < lo:
        raise _bad(path, f'must be >= {lo}, not {v}')
    if hi is not None and v > hi:
        raise _bad(path, f'must be <= {hi}, not {v}')
    return v


def _shown(value) -> str:
    """``repr(value)``, cut short; never raises (Python refuses to print ints of more than 4300 digits)."""
    try:
        text = repr(value)
    except ValueError:
        return f'an integer of {value.bit_length()} bits'
    return text if len(text) <= 40 else text[:37] + '...'


def _text(card: dict, field: str, path: str, choices: tuple[str, ...] | None = None) -> str:
    if field not in card:
        raise _bad(path, 'is missing')
    v = card[field]
    if not isinstance(v, str) or not v.strip():
        raise _bad(path, f'must be a non-empty string, not {type(v).__name__ if not isinstance(v, str) else "empty"}')
    if len(v) > 4000:
        raise _bad(path, 'is longer than 4000 characters')
    if choices is not None and v not in choices:
        raise _bad(path, f'must be one of {", ".join(choices)}, not {v!r}')
    return v


def _file_name(card: dict, field: str, path: str, ext: str) -> str:
    """A bare file name in this folder: no directory part, no '..', no hidden or odd names."""
    v = _text(card, field, path)
    if '/' in v or '\\' in v or os.sep in v or (os.altsep and os.altsep in v):
        raise _bad(path, f'must be a file name without a path separator, not {v!r}')
    if v in ('.', '..') or v.startswith('.') or '\x00' in v or ':' in v:
        raise _bad(path, f'must be a plain file name, not {v!r}')
    if not v.lower().endswith(ext):
        raise _bad(path, f'must name a {ext} file, not {v!r}')
    return v


def _repo_path(card: dict, field: str, path: str) -> str:
    """A relative '/'-separated path inside the repository (e.g. docs/x.png): no '..', not absolute."""
    v = _text(card, field, path)
    parts = v.split('/')
    if v.startswith(('/', '\\')) or '\\' in v or ':' in v or '\x00' in v or any(p in ('', '.', '..') for p in parts):
        raise _bad(path, f'must be a relative path inside the repository without "..", not {v!r}')
    return v


def _section(card: dict, field: str) -> dict:
    if field not in card:
        raise _bad(field, 'is missing')
    v = card[field]
    if not isinstance(v, dict):
        raise _bad(field, f'must be an object, not {type(v).__name__}')
    return v


def validate_card(card: Any, key: str | None = None) -> dict:
    """`card` itself when every field of the schema (h15_common.md) is present, of its type and finite; else a
    UserError naming the first bad field. Unknown extra fields are allowed (a later card format may add some)."""
    if not isinstance(card, dict):
        raise UserError(f'default network card must be a JSON object, not {type(card).__name__}')
    _number(card, 'format', 'format', integer=True, lo=CARD_FORMAT, hi=CARD_FORMAT)
    k = _text(card, 'key', 'key', CARD_KEYS)
    if key is not None and k != key:
        raise _bad('key', f'is {k!r} in the card of {key!r}')
    _text(card, 'title', 'title')
    _text(card, 'cfg', 'cfg', CFGS)
    _number(card, 'resolution', 'resolution', integer=True, lo=4, hi=4096)
    _file_name(card, 'file', 'file', '.pkl')
    ds = _section(card, 'dataset')
    _text(ds, 'name', 'dataset.name')
    _text(ds, 'command', 'dataset.command')
    _number(ds, 'count', 'dataset.count', integer=True, lo=0)
    _number(ds, 'resolution', 'dataset.resolution', integer=True, lo=4, hi=4096)
    tr = _section(card, 'training')
    _text(tr, 'command', 'training.command')
    _number(tr, 'kimg', 'training.kimg', lo=0)
    _number(tr, 'seconds', 'training.seconds', lo=0)
    _text(tr, 'hardware', 'training.hardware')
    _number(tr, 'slices', 'training.slices', integer=True, lo=0)
    me = _section(card, 'metrics')
    _number(me, 'swd', 'metrics.swd', nullable=True, lo=0)
    for name in ('eqt50k_int', 'eqt50k_frac', 'eqr50k'):
        _number(me, name, f'metrics.{name}', nullable=True)
    _number(me, 'eq_samples', 'metrics.eq_samples', integer=True, lo=0)
    _number(me, 'swd_images', 'metrics.swd_images', integer=True, lo=0)
    if not isinstance(me.get('notes'), str):
        raise _bad('metrics.notes', 'must be a string' if 'notes' in me else 'is missing')
    ref = _section(card, 'reference')
    _number(ref, 'seed', 'reference.seed', integer=True, lo=0, hi=2**32 - 1)
    _number(ref, 'psi', 'reference.psi', lo=-2.0, hi=2.0)
    _file_name(ref, 'png', 'reference.png', '.png')
    tol = _number(ref, 'max_abs_tolerance', 'reference.max_abs_tolerance', lo=0, hi=MAX_TOLERANCE)
    if tol == 0:
        raise _bad('reference.max_abs_tolerance', 'must be > 0 (renders differ by rounding between machines)')
    im = _section(card, 'images')
    _repo_path(im, 'grid', 'images.grid')
    _repo_path(im, 'swd_curve', 'images.swd_curve')
    _text(card, 'created', 'created')
    return card


def read_card(key: str, folder: str | None = None) -> dict:
    """The validated card ``KEY.json`` of `folder` (default: this package's); UserError naming what is wrong."""
    if key not in CARD_KEYS:
        raise UserError(f'unknown default network "{key}" (one of {", ".join(CARD_KEYS)})')
    path = os.path.join(folder or _PACKAGE_DIR, f'{key}.json')
    if not os.path.lexists(path):
        raise UserError(f'no card for default network "{key}" ({path} not found)')
    # FileReadError for anything but a regular JSON file within the caps. NaN / Infinity parse to floats so that
    # the validation below names the field that holds them.
    card = read_json(path, max_bytes=MAX_CARD_BYTES, max_depth=MAX_CARD_DEPTH, what='default network card')
    try:
        return validate_card(card, key)
    except UserError as exc:
        raise UserError(f'{path}: {exc}') from None


def pickle_path(card: dict, folder: str | None = None) -> str:
    """Where the card's pickle is (it may be missing: :func:`available` lists only cards whose pickle exists)."""
    name = _file_name(card, 'file', 'file', '.pkl')  # cards built by hand, not read_card, are checked too
    return os.path.join(folder or _PACKAGE_DIR, name)


def reference_path(card: dict, folder: str | None = None) -> str:
    """Where the card's reference PNG is."""
    name = _file_name(_section(card, 'reference'), 'png', 'reference.png', '.png')
    return os.path.join(folder or _PACKAGE_DIR, name)


def _checked_pickle(card: dict, folder: str | None) -> str:
    path = pickle_path(card, folder)
    if not os.path.isfile(path):
        raise UserError(f'default network "{card.get("key")}": {path} not found')
    size = os.path.getsize(path)
    if size > MAX_PICKLE_BYTES:
        raise UserError(f'default network "{card.get("key")}": {path} is {size / 2**20:.1f} MiB, more than the '
                        f'{MAX_PICKLE_BYTES >> 20} MiB a shipped network may have; not loaded')
    return path


def available(folder: str | None = None) -> list[dict]:
    """Valid cards whose pickle exists (and is not oversized), in CARD_KEYS order. A bad card or pickle is
    skipped with one logged line: a broken shipped file must never stop the visualizer from starting."""
    root = folder or _PACKAGE_DIR
    cards = []
    for key in CARD_KEYS:
        if not os.path.exists(os.path.join(root, f'{key}.json')):
            continue
        try:
            card = read_card(key, root)
            _checked_pickle(card, root)
        except UserError as exc:
            log.warning('skipped default network %s: %s', key, exc)
            continue
        cards.append(card)
    return cards


def card_label(card: dict) -> str:
    """What the network is and how it was trained, e.g. 'StyleGAN3-T 64x64, builtin:photos, trained 123 kimg'.

    Until the card's ``campaign.goal_met`` is true (the training campaign's goal: SWD within 3x of the
    real-vs-real floor) the label says 'trained N kimg' and how far the SWD is from that floor, so a network that
    is trained but not yet good is never shown as if it were finished."""
    res = card['resolution']
    label = f'{card["title"]} {res}x{res}, {card["dataset"]["name"]}, '
    kimg = f'{card["training"]["kimg"]:.0f} kimg'
    campaign = card.get('campaign')
    if isinstance(campaign, dict) and campaign.get('goal_met') is True:
        return label + kimg
    ratio = campaign.get('swd_over_floor') if isinstance(campaign, dict) else None
    if isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and math.isfinite(ratio) and ratio > 0:
        return label + f'trained {kimg} (SWD {ratio:.1f}x the real-vs-real floor; goal 3x)'
    return label + f'trained {kimg}'


def load_card_generator(card: dict, folder: str | None = None, device: str | torch.device = 'cpu') -> torch.nn.Module:
    """The card's generator through the project's safe loader, after the size check; UserError otherwise."""
    from networks.loading import load_generator as safe_load

    return safe_load(_checked_pickle(card, folder), device=device)


# --- the reference render (the regression guard) -------------------------------------------------------------
@torch.no_grad()
def render_reference(G: torch.nn.Module, seed: int, psi: float, device: str | torch.device = 'cpu') -> np.ndarray:
    """The uint8 HWC image of `seed` at truncation `psi`: z as every tool draws it (networks.conventions), class
    of the seed for conditional networks, constant noise, NVlabs' [-1, 1] -> [0, 255] conversion."""
    from networks.conventions import seed_to_zc, to_uint8

    z, c = seed_to_zc(seed, G.z_dim, G.c_dim)
    dev = torch.device(device)
    z = torch.from_numpy(z[None]).float().to(dev)
    c = torch.from_numpy(c[None]).float().to(dev)
    img = G.to(dev)(z, c, truncation_psi=psi, noise_mode='const')
    return to_uint8(img[0]).permute(1, 2, 0).cpu().numpy()


def load_reference(path: str) -> np.ndarray:
    """The reference PNG as uint8 HWC RGB; UserError when missing, oversized or not a PNG."""
    if not os.path.isfile(path):
        raise UserError(f'reference image {path} not found')
    if os.path.getsize(path) > MAX_REFERENCE_BYTES:
        raise UserError(f'reference image {path} is larger than {MAX_REFERENCE_BYTES >> 20} MiB')
    try:
        image = read_image(path, mode='RGB', formats=('PNG',), max_pixels=MAX_REFERENCE_PIXELS,
                           max_bytes=MAX_REFERENCE_BYTES)
    except ImageReadError as exc:
        raise UserError(f'{path}: cannot read the reference image ({exc.reason})') from None
    return np.asarray(image)


def _as_rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[..., :3]


def check_network(card: dict, folder: str | None = None, fresh_seed: int = 12345,
                  device: str | torch.device = 'cpu') -> dict:
    """Check that one shipped network is what its card says it is (trained, not a fresh init): on the card's seed and
    psi its render matches the reference PNG within the card's tolerance, and differs clearly from a freshly
    initialised network of the same architecture (its init kwargs, weights drawn from `fresh_seed`).

    Returns {'max_abs', 'fresh_mean_abs', 'problems'} (differences of images in [0, 1]); the check passed when
    'problems' is empty. A missing or unreadable file is a UserError.
    """
    ref_card = card['reference']
    G = load_card_generator(card, folder, device)
    img = _as_rgb(render_reference(G, ref_card['seed'], ref_card['psi'], device)).astype(np.float64) / 255
    ref = load_reference(reference_path(card, folder)).astype(np.float64) / 255
    problems = []
    if ref.shape != img.shape:
        problems.append(f'reference is {ref.shape[1]}x{ref.shape[0]}, the network renders '
                        f'{img.shape[1]}x{img.shape[0]}')
        max_abs = math.inf
    else:
        max_abs = float(np.abs(img - ref).max())
        if not max_abs <= ref_card['max_abs_tolerance']:
            problems.append(f'render differs from {ref_card["png"]} by {max_abs:.4f} > '
                            f'{ref_card["max_abs_tolerance"]} (max abs, images in [0, 1])')
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(fresh_seed)
        fresh = type(G)(**G.init_kwargs).eval().requires_grad_(False)
    fresh_img = _as_rgb(render_reference(fresh, ref_card['seed'], ref_card['psi'], device)).astype(np.float64) / 255
    fresh_mean_abs = float(np.abs(img - fresh_img).mean())
    if not fresh_mean_abs >= MIN_FRESH_DIFFERENCE:
        problems.append(f'render is no different from a freshly initialised network (mean abs {fresh_mean_abs:.4f} '
                        f'< {MIN_FRESH_DIFFERENCE})')
    return dict(max_abs=max_abs, fresh_mean_abs=fresh_mean_abs, problems=problems)
