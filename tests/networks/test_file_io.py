"""networks.file_io: JSON and .npy / .npz files are read only as regular files within byte caps, declared shapes
are checked before anything is allocated, nesting before the parser recurses, numbers before Python's int limit,
and every hostile file ends in one FileReadError line, fast and small. Valid files read as json / numpy read them."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import random
import time
import zipfile

import numpy as np
import pytest

from networks.errors import UserError
from networks.file_io import (
    DEFAULT_MAX_DEPTH,
    MAX_NDIM,
    FileReadError,
    json_depth,
    open_regular,
    parse_json,
    read_arrays,
    read_bytes,
    read_fd,
    read_json,
    read_npy,
    read_npz,
)

from . import hostile_arrays as H
from .hostile_images import measure

MB = 1 << 20
FUZZ_SEED = 20260521


def _one_line(err: BaseException, name: str) -> str:
    text = str(err)
    assert text and '\n' not in text and 'Traceback' not in text and repr(name) in text
    return text


def _refused(call, name: str, why: str, max_seconds: float = 2.0, max_rss: int = 300 * MB) -> str:
    seconds, rss, error, finished = measure(call, timeout=max_seconds + 3)
    assert finished, f'still running after {seconds:.1f} s'
    assert isinstance(error, FileReadError), repr(error)
    assert seconds < max_seconds and rss < max_rss, (seconds, rss / MB)
    text = _one_line(error, name)
    assert why in text, text
    return text


# ------------------------------------------------------------------------------------------------------------
# Files

def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / 'fifo.json'
    os.mkfifo(fifo)   # nobody writes: opening it for reading would wait for ever
    _refused(lambda: read_json(fifo, max_bytes=MB), str(fifo), 'a FIFO, not a regular file')
    zero = tmp_path / 'zero.npz'
    zero.symlink_to('/dev/zero')
    _refused(lambda: read_npz(zero, max_bytes=MB), str(zero), 'a character device')
    _refused(lambda: read_bytes('/dev/zero', max_bytes=MB), '/dev/zero', 'a character device')
    _refused(lambda: read_npy(tmp_path, max_bytes=MB), str(tmp_path), 'a directory')
    _refused(lambda: read_json(tmp_path / 'missing.json', max_bytes=MB), str(tmp_path / 'missing.json'),
             'file not found')


class _Refused(Exception):
    pass


def _open_and_read(path, max_bytes: int = MB, **kwargs) -> bytes:
    fd, size = open_regular(path, max_bytes, _Refused, **kwargs)
    try:
        data = read_fd(fd, max_bytes, _Refused)
    finally:
        os.close(fd)
    assert len(data) == size
    return data


def test_symlinks_are_refused_when_not_followed(tmp_path):
    """Folders whose files must all be inside them (training states) open without following links."""
    target = tmp_path / 'target.bin'
    target.write_bytes(b'data')
    link = tmp_path / 'link.bin'
    link.symlink_to(target)
    assert _open_and_read(link) == b'data'                                   # followed by default
    assert _open_and_read(target, follow_symlinks=False) == b'data'
    for path in (link, tmp_path / 'dangling'):
        if path.name == 'dangling':
            path.symlink_to(tmp_path / 'nowhere')
        with pytest.raises(_Refused, match='^a symbolic link, not a regular file$'):
            _open_and_read(path, follow_symlinks=False)
    zero = tmp_path / 'zero'
    zero.symlink_to('/dev/zero')
    with pytest.raises(_Refused, match='^a character device, not a regular file$'):
        _open_and_read(zero)
    with pytest.raises(_Refused, match='^a symbolic link'):
        _open_and_read(zero, follow_symlinks=False)
    with pytest.raises(_Refused, match='^4 bytes, more than the 3 allowed$'):
        _open_and_read(target, 3, follow_symlinks=False)


def test_the_byte_cap_is_checked_before_reading(tmp_path):
    path = tmp_path / 'huge.json'
    with open(path, 'wb') as f:
        f.truncate(8 << 30)   # sparse: 8 GiB of nothing on disk
    for call in (lambda: read_json(path, max_bytes=MB), lambda: read_npz(path, max_bytes=MB),
                 lambda: read_npy(path, max_bytes=MB), lambda: read_arrays(path, max_bytes=MB)):
        _refused(call, str(path), f'{8 << 30} bytes, more than the {MB} allowed', max_seconds=1.0, max_rss=20 * MB)


def test_the_error_is_a_user_error_that_pickles():
    err = FileReadError('a.json', 'not valid JSON', 'session file')
    assert isinstance(err, UserError) and isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) == "cannot read session file 'a.json': not valid JSON"
    assert (again.name, again.reason, again.what) == ('a.json', 'not valid JSON', 'session file')
    # a name with a line break still gives one line
    assert '\n' not in str(FileReadError('a\nb.json', 'x'))


def test_caps_are_checked_as_arguments(tmp_path):
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match='positive integer'):
            read_bytes(tmp_path, max_bytes=bad)


# ------------------------------------------------------------------------------------------------------------
# JSON

VALID_JSON = [
    {'version': 1, 'args': {'w0_seeds': [[0, 1.0]], 'pkl': 'a "[" b\\', 'x': None, 'ok': True}},
    [1, -2, 3.5, 1e308, -1e-308, 10**300, '\u00e9\u4e2d\U0001f600', ''],
    'text', 0, [], {},
]


@pytest.mark.parametrize('value', VALID_JSON)
def test_valid_json_reads_as_json_does(tmp_path, value):
    path = tmp_path / 'v.json'
    path.write_text(json.dumps(value, ensure_ascii=False), encoding='utf-8')
    assert read_json(path, max_bytes=MB) == value
    assert parse_json(path.read_bytes(), name='v') == value


def test_nan_and_infinity_parse_to_floats_for_the_schema_to_name(tmp_path):
    value = parse_json(b'{"a": NaN, "b": Infinity, "c": -Infinity}', name='n')
    assert math.isnan(value['a']) and value['b'] == math.inf and value['c'] == -math.inf


HOSTILE_JSON = [
    ('deep', b'[' * 100_000 + b']' * 100_000, 'nested too deeply (100000 levels'),
    ('deep-objects', b'{"a":' * 50_000 + b'1' + b'}' * 50_000, 'nested too deeply'),
    ('deep-unclosed', b'[' * 1_000_000, 'nested too deeply'),
    ('int-beyond-float', b'{"trunc_psi": 1' + b'0' * 400 + b'}', 'beyond float range'),
    ('int-5000-digits', b'{"seed": ' + b'7' * 5000 + b'}', 'an integer of 5000 digits'),
    ('int-5000-digits-negative', b'[-' + b'7' * 5000 + b']', 'an integer of 5000 digits'),
    ('float-beyond-range', b'{"rotate": 1e400}', 'the number 1e400 is beyond float range'),
    ('float-5000-digits', b'[' + b'9' * 5000 + b'.0]', 'beyond float range'),
    ('not-utf8', b'{"a": "\xff\xfe"}', 'not UTF-8 text'),
    ('utf16', '{"a": 1}'.encode('utf-16'), 'not UTF-8 text'),
    ('truncated', b'{"version": 1, "args": {', 'not valid JSON'),
    ('empty', b'', 'not valid JSON'),
    ('trailing', b'{} {}', 'not valid JSON'),
]


@pytest.mark.parametrize('name,data,why', HOSTILE_JSON, ids=[c[0] for c in HOSTILE_JSON])
def test_hostile_json_is_one_line(tmp_path, name, data, why):
    path = tmp_path / f'{name}.json'
    path.write_bytes(data)
    _refused(lambda: read_json(path, max_bytes=4 * MB), str(path), why)


def test_depth_is_measured_without_recursion_and_exactly_for_valid_json(monkeypatch):
    rng = random.Random(FUZZ_SEED)
    # string contents with brackets, escaped quotes and runs of backslashes (as JSON text)
    contents = ['a', '[[{', '\\\\', '\\"][', '\\\\\\"{{', 'x\\\\\\\\']

    def value(depth: int) -> str:
        r = rng.random()
        if depth > 7 or r < 0.3:
            return rng.choice(['1', 'null'] + [f'"{c}"' for c in contents])
        if r < 0.65:
            return '[' + ','.join(value(depth + 1) for _ in range(rng.randint(0, 3))) + ']'
        keys = [f'"{j}{rng.choice(contents)}"' for j in range(rng.randint(0, 3))]   # distinct: json keeps the last
        return '{' + ','.join(f'{key}:{value(depth + 1)}' for key in keys) + '}'

    def depth_of(v) -> int:
        if isinstance(v, list):
            return 1 + max((depth_of(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth_of(x) for x in v.values()), default=0)
        return 0

    texts = [value(0).encode() for _ in range(300)]
    for chunk in (1 << 20, 5, 2):   # strings and backslash runs across chunk boundaries
        monkeypatch.setattr('networks.file_io._CHUNK', chunk)
        for text in texts:
            assert json_depth(text) == depth_of(json.loads(text)), text
    assert json_depth(b'') == 0


def test_the_default_depth_fits_the_formats():
    assert 8 <= DEFAULT_MAX_DEPTH <= 64
    assert parse_json(b'[' * DEFAULT_MAX_DEPTH + b']' * DEFAULT_MAX_DEPTH, name='x') is not None
    with pytest.raises(FileReadError, match='nested too deeply'):
        parse_json(b'[' * (DEFAULT_MAX_DEPTH + 1) + b']' * (DEFAULT_MAX_DEPTH + 1), name='x')


# ------------------------------------------------------------------------------------------------------------
# .npy / .npz

VALID_ARRAYS = [
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.asfortranarray(np.arange(24.).reshape(2, 3, 4)),
    np.array(3.5), np.array('nvlabs'), np.array(b'bytes'), np.array([True, False]),
    np.zeros((0, 7), np.int16), np.arange(6, dtype='>i4'), np.array([1 + 2j], np.complex64),
    np.zeros((1,) * MAX_NDIM, np.uint8),
]


@pytest.mark.parametrize('array', VALID_ARRAYS, ids=[f'{a.dtype}{list(a.shape)}' for a in VALID_ARRAYS])
def test_valid_arrays_read_as_numpy_does(tmp_path, array):
    np.save(tmp_path / 'a.npy', array)
    for got in (read_npy(tmp_path / 'a.npy', max_bytes=MB), read_arrays(tmp_path / 'a.npy', max_bytes=MB)):
        assert got.dtype == array.dtype and got.shape == array.shape and got.flags.writeable
        np.testing.assert_array_equal(got, array)
    for save in (np.savez, np.savez_compressed):
        save(tmp_path / 'a.npz', x=array, other=np.ones(3))
        for got in (read_npz(tmp_path / 'a.npz', max_bytes=MB), read_arrays(tmp_path / 'a.npz', max_bytes=MB)):
            assert sorted(got) == ['other', 'x']
            assert got['x'].dtype == array.dtype and got['x'].shape == array.shape
            np.testing.assert_array_equal(got['x'], array)


def _npz(*members: H.Member) -> bytes:
    return H.raw_zip(list(members))


def _object_npy() -> bytes:
    return H.npy_bytes(np.array([{'x': 1}], dtype=object), allow_pickle=True)


HEADER_64TIB = H.npy_header((1 << 23, 1 << 20), '<f8')             # 2^43 float64 = 64 TiB
HEADER_4TIB = H.npy_header((1 << 19, 1 << 20), '<f8')
_GOOD = H.npy_bytes(np.arange(10.))

HOSTILE_ARRAYS = [
    ('npy-64TiB', 'npy', HEADER_64TIB + bytes(64), 'more than the'),
    ('npy-4TiB-v2', 'npy', H.npy_header((1 << 19, 1 << 20), '<f8', version=(2, 0)) + bytes(64), 'more than the'),
    ('npz-64TiB', 'npz', _npz(H.stored('w.npy', HEADER_64TIB + bytes(64))), 'more than the'),
    ('npz-4TiB-deflated', 'npz', _npz(H.deflated('w.npy', HEADER_4TIB + bytes(4096))), 'more than the'),
    ('npz-huge-declared-size', 'npz', _npz(H.Member('w.npy', b'', zipfile.ZIP_STORED, 0xfffffff0, 0)),
     'more than the'),
    ('npy-object', 'npy', _object_npy(), 'never unpickled'),
    ('npz-object', 'npz', _npz(H.stored('w.npy', _object_npy())), 'never unpickled'),
    ('npy-structured', 'npy', H.npy_bytes(np.zeros(2, [('a', '<f4'), ('b', '<i4')])), 'not plain numbers'),
    ('npy-void', 'npy', H.npy_header((2,), '|V8') + bytes(16), 'not plain numbers'),
    ('npy-datetime', 'npy', H.npy_bytes(np.zeros(2, 'M8[s]')), 'not plain numbers'),
    ('npy-zero-itemsize', 'npy', H.npy_header((1 << 60,), '|S0'), 'zero-size items'),
    ('npy-negative-dim', 'npy', H.npy_header((-1, 8), '<f4'), 'negative dimension'),
    ('npy-too-many-dims', 'npy', H.npy_header((1,) * (MAX_NDIM + 1), '<f4') + bytes(4), 'dimensions'),
    ('npy-zero-size-huge-dims', 'npy', H.npy_header((0, 1 << 62, 1 << 62), '<f8'), 'more than the'),
    ('npy-5000-digit-dim', 'npy', H.npy_header((), header_text="{'descr': '<f8', 'fortran_order': False, "
                                                             "'shape': (" + '9' * 5000 + ",), }"), 'bad .npy header'),
    ('npy-header-nested', 'npy', H.npy_header((), header_text='(' * 5000 + ')' * 5000), 'bad .npy header'),
    ('npy-header-length', 'npy', b'\x93NUMPY\x02\x00' + (0xfffffff0).to_bytes(4, 'little') + b'{', 'more than'),
    ('npy-version-3', 'npy', H.npy_header((2,), '<f4', version=(3, 0)) + bytes(8), 'version 3.0'),
    ('npy-truncated', 'npy', _GOOD[:-8], 'holds 72 bytes of data where its header declares 80'),
    ('npy-trailing', 'npy', _GOOD + b'extra', 'where its header declares'),
    ('npy-not-npy', 'npy', b'hello world', 'not a .npy array'),
    ('npy-empty', 'npy', b'', 'empty file'),
    ('npz-not-zip', 'npz', b'hello world', 'not a .npz archive'),
    ('npz-truncated-half', 'npz', H.valid_npz(True)[:len(H.valid_npz(True)) // 2], 'damaged'),
    ('npz-truncated-tail', 'npz', H.valid_npz(False)[:-10], 'damaged'),
    ('npz-member-not-npy', 'npz', _npz(H.stored('x.txt', b'hi')), "member 'x.txt' is not a .npy array"),
    ('npz-member-named-npy', 'npz', _npz(H.stored('w.npy', b'hello')), 'not a .npy array'),
    ('npz-bad-crc', 'npz', _npz(H.Member('w.npy', _GOOD, crc=12345)), 'damaged'),
    ('npz-encrypted', 'npz', _npz(H.Member('w.npy', _GOOD, flags=1)), 'encrypted'),
    ('npz-method-99', 'npz', _npz(H.Member('w.npy', _GOOD, method=99)), 'compression method 99'),
    ('npz-bzip2', 'npz', _npz(H.Member('w.npy', _GOOD, method=zipfile.ZIP_BZIP2)), 'compression method 12'),
    ('npz-duplicate', 'npz', _npz(H.stored('w.npy', _GOOD), H.stored('w.npy', _GOOD)), 'two members of the same'),
    ('npz-size-lies-small', 'npz', _npz(H.Member('w.npy', _GOOD, file_size=len(_GOOD) - 40)), 'damaged'),
    ('npz-size-lies-large', 'npz', _npz(H.Member('w.npy', _GOOD, file_size=len(_GOOD) + 40)), 'where its header'),
    ('npz-too-many', 'npz', _npz(*[H.stored(f'a{i}.npy', _GOOD) for i in range(1100)]), 'members, more than'),
]


@pytest.mark.parametrize('name,kind,data,why', HOSTILE_ARRAYS, ids=[c[0] for c in HOSTILE_ARRAYS])
def test_hostile_arrays_are_one_line_small_and_fast(tmp_path, name, kind, data, why):
    path = tmp_path / f'{name}.{kind}'
    path.write_bytes(data)
    reader = read_npy if kind == 'npy' else read_npz
    _refused(lambda: reader(path, max_bytes=64 * MB, max_array_bytes=64 * MB), str(path), why)
    _refused(lambda: read_arrays(path, max_bytes=64 * MB, max_array_bytes=64 * MB), str(path), '')


def test_a_compressed_bomb_is_refused_before_it_is_inflated(tmp_path):
    """1.5 MB on disk that inflates to 1.5 GB (numpy took 3.2-3.7 GB for it): refused by the uncompressed sizes
    its directory declares, before a byte is inflated; and when the directory claims less than the stream holds,
    the bounded stream stops at what the header declared."""
    header = H.npy_header(((1536 << 20) // 8,), '<f8')
    bomb = H.zeros_bomb('w.npy', 1536 << 20, header)
    assert len(bomb.data) < 2 * MB
    path = tmp_path / 'bomb.npz'
    path.write_bytes(_npz(bomb))
    _refused(lambda: read_npz(path, max_bytes=64 * MB), str(path), 'more than the', max_rss=100 * MB)
    # the directory lies: a 1 KiB member, whose header declares 1 KiB of data, is 1.5 GB of deflated zeros
    small = H.npy_header((128,), '<f8')
    liar = H.zeros_bomb('w.npy', 1536 << 20, small)
    liar.file_size = len(small) + 1024
    path.write_bytes(_npz(liar))
    _refused(lambda: read_npz(path, max_bytes=64 * MB), str(path), 'damaged', max_rss=100 * MB)


def test_arrays_of_a_file_share_one_budget(tmp_path):
    np.savez(tmp_path / 'two.npz', a=np.zeros(1000), b=np.zeros(1000))   # 8000 bytes each
    assert len(read_npz(tmp_path / 'two.npz', max_bytes=MB, max_array_bytes=16000)) == 2
    with pytest.raises(FileReadError, match="member 'b.npy'"):
        read_npz(tmp_path / 'two.npz', max_bytes=MB, max_array_bytes=15999)


def test_fuzz_npz(tmp_path):
    """500 seeded mutations of valid .npz files (stored and deflated; whole archives, and single members inside
    a consistent archive): each is read or refused with FileReadError, nothing else; each within 2 s; the whole
    run within 1 GB of RSS."""
    rng = random.Random(FUZZ_SEED)
    escapes, slow, outcomes = [], [], {'read': 0, 'refused': 0}
    path = str(tmp_path / 'fuzz.npz')

    def run():
        for i in range(500):
            data = H.mutated_npz(rng)
            with open(path, 'wb') as f:
                f.write(data)
            start = time.perf_counter()
            try:
                read_npz(path, max_bytes=4 * MB, max_array_bytes=256 * MB)
                outcomes['read'] += 1
            except FileReadError as err:
                _one_line(err, path)
                outcomes['refused'] += 1
            except BaseException as err:  # noqa: BLE001 - counted, reported below
                escapes.append((i, repr(err)[:200]))
            if time.perf_counter() - start > 2.0:
                slow.append(i)

    seconds, rss, error, finished = measure(run, timeout=300)
    assert finished and error is None, error
    assert escapes == [] and slow == [], (escapes[:5], slow[:5])
    assert rss < 1024 * MB, rss / MB
    assert outcomes['refused'] > 100 and outcomes['read'] > 10, outcomes   # the mutations reach both sides


def test_a_zip_of_a_zip_is_one_member_that_is_not_npy(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, 'w') as z:
        z.writestr('w.npy', _GOOD)
    path = tmp_path / 'nested.npz'
    path.write_bytes(_npz(H.stored('inner.npz', inner.getvalue())))
    _refused(lambda: read_npz(path, max_bytes=MB), str(path), "member 'inner.npz' is not a .npy array")
