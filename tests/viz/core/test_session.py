"""Session and keyframe files are data read by networks.file_io: any content (integers beyond float range, deep
nesting, huge files, FIFOs, devices, a "pkl" that is /dev/zero) ends in one UserError line, quickly and small, at
start-up (headless, the command line) as in the GUI's Session and Keyframes panels. The exploration fields
(explicit latent, class, directions, input transforms) and keyframes round-trip, and a bad one refuses the whole
file. (viz.core.session; the keyframe loop itself: test_keyframes.py.)"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time

import pytest

from networks.errors import UserError
from networks.file_io import FileReadError
from tests.hostile_json import mutate_json, run_limited
from tests.networks.hostile_images import measure
from viz.core.keyframes import Keyframe, keyframe_from_dict, keyframe_to_dict
from viz.core.render_types import RenderArgs
from viz.core.session import (
    LIMITS,
    MAX_SESSION_BYTES,
    MAX_SPECTRUM_SEEDS,
    SessionError,
    load_keyframes,
    load_session,
    save_session,
    validate_session,
)

MB = 1 << 20
FUZZ_SEED = 20260522
BIG = '1' + '0' * 400            # 10**400: an integer beyond float range
HUGE = '7' * 5000                # beyond Python's 4300-digit int-string limit


def _valid_session(path) -> str:
    args = RenderArgs(w0_seeds=((3, 0.5), (4, 0.5)), trunc_psi=0.7, rotate=10.0, latent=(0.5,) * 8,
                      directions=(('pca', 1, 2.0, 'coarse'),), stylemix_idx=(1, 2))
    kfs = [Keyframe((0.25,) * 8, (('pca', 0, 1.5, 'all'),), (0.1, 0.0, 20.0, 1.0, 0.0, 0.0, 0.7), 2),
           Keyframe((-0.5,) * 8, (), (0.0, 0.2, 0.0, 1.2, 0.1, 0.0, 1.0), 2)]
    save_session(str(path), args, views=['image'], keyframes=[keyframe_to_dict(kf) for kf in kfs])
    return path.read_text()


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert text and '\n' not in text and 'Traceback' not in text
    return text


def _refused_fast(call, why: str, max_seconds: float = 2.0, max_rss: int = 300 * MB) -> str:
    seconds, rss, error, finished = measure(call, timeout=max_seconds + 3)
    assert finished, f'still running after {seconds:.1f} s'
    assert isinstance(error, UserError), repr(error)
    assert seconds < max_seconds and rss < max_rss, (seconds, rss / MB)
    text = _one_line(error)
    assert why in text, text
    return text


# --- numbers ---------------------------------------------------------------------------------------------------
NUMBER_CASES = [
    ('args.trunc_psi', ('args', 'trunc_psi'), BIG),
    ('args.w0_seeds weight', ('args', 'w0_seeds', 0, 1), BIG),
    ('args.latent', ('args', 'latent', 3), BIG),
    ('args.directions strength', ('args', 'directions', 0, 2), BIG),
    ('keyframes.rotate', ('keyframes', 0, 'rotate'), BIG),
    ('keyframes.latent', ('keyframes', 1, 'latent', 0), BIG),
    ('keyframes.directions strength', ('keyframes', 0, 'directions', 0, 2), BIG),
    ('args.noise_seed 5000 digits', ('args', 'noise_seed'), HUGE),
    ('keyframes.num_ws 5000 digits', ('keyframes', 0, 'num_ws'), HUGE),
    ('args.rotate 1e400', ('args', 'rotate'), '1e400'),
]


def _with_raw(text: str, where: tuple, token: str) -> str:
    """The session ``text`` with the value at ``where`` replaced by the JSON text ``token`` as it is."""
    data = json.loads(text)
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = '@@TOKEN@@'
    return json.dumps(data, indent=2).replace('"@@TOKEN@@"', token)


@pytest.mark.parametrize('field,where,token', NUMBER_CASES, ids=[c[0] for c in NUMBER_CASES])
def test_numbers_beyond_float_range_are_one_line(tmp_path, field, where, token):
    """10**400 made math.isfinite raise OverflowError; a 5000-digit int raised ValueError from the parser."""
    path = tmp_path / 's.json'
    path.write_text(_with_raw(_valid_session(path), where, token))
    for load in (load_session, load_keyframes):
        with pytest.raises(FileReadError, match='beyond float range') as info:
            load(str(path))
        _one_line(info.value)


@pytest.mark.parametrize('name', sorted(LIMITS))
def test_the_finite_check_never_raises_for_big_integers(name):
    """validate_session on data built in memory: a big int in a float field is 'not finite', not OverflowError,
    and a 5000-digit int is shown without tripping Python's int-string limit."""
    for value in (10**400, -10**5000):
        with pytest.raises(SessionError, match=f'args.{name}') as info:
            validate_session(dict(version=1, args={name: value}))
        assert len(_one_line(info.value)) < 400
    with pytest.raises(SessionError, match='keyframes.0..rotate'):
        validate_session(dict(version=1, args={}, keyframes=[dict(latent=[1.0], rotate=10**400)]))
    with pytest.raises(SessionError, match='args.noise_seed'):
        validate_session(dict(version=1, args=dict(noise_seed=10**5000)))
    with pytest.raises(SessionError, match='args.w0_seeds'):
        validate_session(dict(version=1, args=dict(w0_seeds=[[10**5000, 1.0]])))


def test_nan_and_infinity_are_named_by_the_schema(tmp_path):
    path = tmp_path / 's.json'
    path.write_text(_with_raw(_valid_session(path), ('args', 'rotate'), 'NaN'))
    with pytest.raises(SessionError, match='args.rotate'):
        load_session(str(path))


# --- structure and size ------------------------------------------------------------------------------------------
def test_deep_nesting_is_refused_before_the_parser_recurses(tmp_path):
    """It raised RecursionError: a traceback at start-up, the GUI closed."""
    path = tmp_path / 's.json'
    path.write_text('{"version": 1, "args": {"latent": ' + '[' * 100_000 + ']' * 100_000 + '}}')
    _refused_fast(lambda: load_session(str(path)), 'nested too deeply')
    _refused_fast(lambda: load_keyframes(str(path)), 'nested too deeply')


def test_a_huge_session_is_refused_before_it_is_read(tmp_path):
    """40 MB of a plausible session: parsed and checked for seconds before; now refused by its size at once."""
    path = tmp_path / 's.json'
    path.write_bytes(b'{"version": 1, "args": {"latent": [' + b'0.0, ' * (8 << 20) + b'0.0]}}')
    assert os.path.getsize(path) > MAX_SESSION_BYTES
    _refused_fast(lambda: load_session(str(path)), f'more than the {MAX_SESSION_BYTES} allowed', max_seconds=0.5,
                  max_rss=50 * MB)


def test_a_fifo_session_does_not_hang(tmp_path):
    fifo = tmp_path / 's.json'
    os.mkfifo(fifo)
    _refused_fast(lambda: load_session(str(fifo)), 'a FIFO, not a regular file')
    _refused_fast(lambda: load_keyframes(str(fifo)), 'a FIFO, not a regular file')


def test_a_session_that_is_dev_zero_is_refused(tmp_path):
    """Run with a memory limit: the unbounded reader read /dev/zero until memory ran out."""
    link = tmp_path / 's.json'
    link.symlink_to('/dev/zero')
    start = time.perf_counter()
    proc = run_limited('from viz.core.session import load_session\n'
                       'from networks.errors import UserError\n'
                       f'try:\n    load_session({str(link)!r})\n'
                       'except UserError as e:\n    print("refused:", e)\n')
    assert proc.returncode == 0 and 'refused:' in proc.stdout and 'a character device' in proc.stdout, \
        proc.stderr[-600:]
    assert time.perf_counter() - start < 30


# --- the "pkl" of a session ---------------------------------------------------------------------------------------
def test_a_pkl_that_is_dev_zero_is_refused_when_used(tmp_path):
    """A session's "pkl" goes to the network loader when rendered: /dev/zero was read without limit."""
    session = tmp_path / 's.json'
    save_session(str(session), RenderArgs(pkl='/dev/zero'))
    proc = run_limited('import torch\ntorch.set_num_threads(1)\n'
                       'from viz.core.session import load_session\nfrom viz.core.renderer import Renderer\n'
                       f'args, _ = load_session({str(session)!r})\n'
                       'print("error:", Renderer().render(args).error)\n')
    assert proc.returncode == 0 and 'error:' in proc.stdout, proc.stderr[-600:]
    assert 'a character device, not a regular file' in proc.stdout, proc.stdout


def test_a_pkl_that_is_a_fifo_is_refused_when_used(tmp_path):
    from viz.core.renderer import Renderer

    fifo = tmp_path / 'net.pkl'
    os.mkfifo(fifo)
    session = tmp_path / 's.json'
    save_session(str(session), RenderArgs(pkl=str(fifo)))
    args, _views = load_session(str(session))
    results = []
    seconds, _rss, error, finished = measure(lambda: results.append(Renderer().render(args)), timeout=20)
    assert finished and error is None and seconds < 15, (seconds, error)
    assert 'a FIFO, not a regular file' in results[0].error


# --- start-up: headless and the command line ---------------------------------------------------------------------
@pytest.mark.parametrize('content', [b'{"version": 1, "args": {"trunc_psi": ' + BIG.encode() + b'}}',
                                     b'[' * 100_000, b'{"version": 1, "args": {"noise_seed": ' + HUGE.encode() + b'}}'],
                         ids=['big-int', 'deep', 'huge-int'])
def test_headless_start_up_reports_one_line(tmp_path, capsys, content):
    from viz.core.headless import run_headless

    path = tmp_path / 's.json'
    path.write_bytes(content)
    assert run_headless(out_dir=str(tmp_path / 'out'), session=str(path)) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and out[0].startswith('error: cannot load session'), out
    assert not (tmp_path / 'out').exists()


# --- fuzz ----------------------------------------------------------------------------------------------------------
def test_fuzz_sessions(tmp_path):
    """500 seeded mutations of a valid session (with keyframes): loaded or refused with a UserError, nothing
    else; each within 2 s; the whole run within 1 GB of RSS. What loads also converts to keyframes."""
    path = tmp_path / 's.json'
    text = _valid_session(path)
    rng = random.Random(FUZZ_SEED)
    escapes, slow, counts = [], [], {'loaded': 0, 'refused': 0}

    def run():
        for i in range(500):
            path.write_bytes(mutate_json(text, rng))
            start = time.perf_counter()
            try:
                args, _views = load_session(str(path))
                kfs = [keyframe_from_dict(d) for d in load_keyframes(str(path))]
                assert isinstance(args, RenderArgs) and all(math.isfinite(v) for kf in kfs for v in kf.numbers)
                dataclasses.replace(args)
                counts['loaded'] += 1
            except UserError as err:
                _one_line(err)
                counts['refused'] += 1
            except BaseException as err:  # noqa: BLE001 - counted, reported below
                escapes.append((i, repr(err)[:300]))
            if time.perf_counter() - start > 2.0:
                slow.append(i)

    seconds, rss, error, finished = measure(run, timeout=600)
    assert finished and error is None, error
    assert escapes == [] and slow == [], (escapes[:5], slow[:5])
    assert rss < 1024 * MB, rss / MB
    assert counts['refused'] > 100 and counts['loaded'] > 10, counts


def test_a_valid_session_still_round_trips(tmp_path):
    path = tmp_path / 's.json'
    _valid_session(path)
    args, views = load_session(str(path))
    assert args.trunc_psi == 0.7 and views == ['image']
    assert [keyframe_from_dict(d).num_ws for d in load_keyframes(str(path))] == [2, 2]
    assert json.loads(path.read_text())['version'] == 1


@pytest.mark.parametrize('name, typed, expected, note', [
    ('trunc_psi', 1e9, 100.0, 'set to 100'),
    ('trunc_psi', -1e9, -100.0, 'set to -100'),
    ('trunc_psi', math.nan, 0.7, 'kept 0.7'),
    ('trunc_psi', math.inf, 0.7, 'kept 0.7'),
    ('spectrum_seeds', 100_000_000, 10_000, 'set to 10000'),
    ('rotate', -1e300, -1e6, 'set to -1e+06'),
    ('img_scale_db', math.nan, 0.0, 'kept 0'),
    ('w0_seeds', ((1, math.nan),), ((0, 1.0),), 'kept'),
    ('directions', (('pca', 0, math.inf, 'all'),), (), 'kept'),
])
def test_typed_values_are_held_to_the_session_checks(name, typed, expected, note):
    """The GUI's edits go through check_changes: a finite number out of range is clamped to the session range,
    NaN / inf / a malformed list keeps the current value; either way one note, and what the GUI then holds
    saves as a session that loads."""
    from viz.core.session import check_changes
    args = dataclasses.replace(RenderArgs(), trunc_psi=0.7)
    accepted, notes = check_changes(args, {name: typed, 'noise_seed': 5})
    assert accepted.get('noise_seed') == 5                    # good edits beside a bad one still go through
    assert dataclasses.replace(args, **accepted).__getattribute__(name) == expected
    (line,) = notes
    assert line.startswith(name) and note in line


def test_good_edits_of_every_kind_go_through_unchanged():
    """Every field of a full, valid RenderArgs (tuples, nested tuples, None, strings) is accepted as it is."""
    from viz.core.session import check_changes
    good = RenderArgs(w0_seeds=((3, 0.25), (4, 0.75)), stylemix_idx=(0, 1), latent=(0.5,) * 8,
                      directions=(('pca', 1, 2.0, 'coarse'),), trunc_cutoff=None, class_idx=3, trunc_psi=0.5,
                      layer_name='L3', rotate=12.5)
    changes = {f.name: getattr(good, f.name) for f in dataclasses.fields(RenderArgs)}
    accepted, notes = check_changes(RenderArgs(), changes)
    assert notes == [] and accepted == changes


def test_a_session_saved_after_corrected_edits_loads(tmp_path):
    from viz.core.session import check_changes
    args = RenderArgs()
    for name, typed in [('trunc_psi', 1e9), ('rotate', math.nan), ('spectrum_seeds', 10**8), ('fft_beta', -5.0),
                        ('input_scale', 0.0), ('sticking_num', 10**9), ('eq_transforms', 0)]:
        accepted, _ = check_changes(args, {name: typed})
        args = dataclasses.replace(args, **accepted)
    save_session(str(tmp_path / 's.json'), args)
    loaded, _ = load_session(str(tmp_path / 's.json'))
    assert loaded == args and args.trunc_psi == 100 and args.spectrum_seeds == MAX_SPECTRUM_SEEDS


# --- keyframes kept in a session --------------------------------------------------------------------------------------
@pytest.mark.parametrize('keyframes, text', [
    ('x', 'keyframes must be a list'), ([{'num_ws': 1}], 'with a "latent"'),
    ([{'latent': [1.0], 'colour': 1}], 'unknown field'), ([{'latent': [1.0, 'a']}], 'keyframes[0].latent'),
    ([{'latent': [1.0, 2.0, 3.0], 'num_ws': 2}], 'num_ws rows'), ([{'latent': [1.0], 'rotate': 1e9}], '.rotate'),
    ([{'latent': [1.0], 'directions': [['pca', 0, 1.0, 'up']]}], '.directions'),
])
def test_sessions_refuse_bad_keyframes(tmp_path, keyframes, text) -> None:
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(dict(version=1, args={}, keyframes=keyframes)))
    with pytest.raises(SessionError, match=text.replace('[', r'\[').replace(']', r'\]')):
        load_session(str(path))


# --- the exploration fields: explicit latent, class, directions, input transforms --------------------------------

def test_session_round_trip_of_the_new_fields(tmp_path):
    args = RenderArgs(latent=(0.5, -1.25), latent_file='p.npz', class_idx=3,
                      directions=(('pca', 2, -1.5, 'coarse'), ('smile.npy', 0, 3.0, '4-7')),
                      input_scale=2.0, shear_x=0.1, shear_y=-0.2, mirror_x=True, mirror_y=False)
    path = str(tmp_path / 's.json')
    save_session(path, args)
    loaded, _views = load_session(path)
    assert loaded == args and hash(loaded) == hash(args)


@pytest.mark.parametrize('field, value', [
    ('latent', [1.0, 'x']), ('latent', 3.0), ('latent', [0.0] * 70000), ('class_idx', -1), ('class_idx', 1.5),
    ('directions', [['pca', 0, 1.0]]), ('directions', [['pca', 0, 1.0, 'sideways']]),
    ('directions', [['pca', -1, 1.0, 'all']]), ('directions', [['', 0, 1.0, 'all']]),
    ('directions', [['pca', 0, 1e9, 'all']]), ('input_scale', 0), ('shear_x', 1e6), ('mirror_x', 1),
])
def test_sessions_refuse_bad_new_fields_whole(tmp_path, field, value):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(dict(version=1, args={'trunc_psi': 0.5, field: value})))
    with pytest.raises(SessionError, match=f'args.{field}'):
        load_session(str(path))


def test_session_nan_in_latent_is_refused(tmp_path):
    path = tmp_path / 'nan.json'
    path.write_text(json.dumps(dict(version=1, args={'latent': [0.0, float('nan')]})))
    with pytest.raises(SessionError, match='args.latent'):
        load_session(str(path))
