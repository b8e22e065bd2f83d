"""Reading JSON and NumPy files nobody vouches for: bounded, validating readers with one error class.

Sessions, keyframes, default-network cards, spectra, latents, directions and the caches of the analyses are all
read here (images have :mod:`networks.image_io`, network pickles :mod:`networks.pickle_io`). Every reader

- reads a path only if it is a regular file: ``stat`` first (a FIFO, a device, a socket or a directory is never
  opened, also not behind a symlink such as one to ``/dev/zero``), then ``open`` with ``O_NONBLOCK`` (opening a
  FIFO swapped in meanwhile cannot wait for a writer) and ``fstat`` on what was opened;
- checks the file's size against a byte cap before reading, and reads at most that many bytes;
- raises :class:`FileReadError` (a :class:`~networks.errors.UserError`: one line naming the file and the reason)
  for anything wrong with the file, and no other exception for any file content.

JSON (:func:`read_json`, :func:`parse_json` for bytes already in memory): strict UTF-8; the nesting depth is
measured by a linear scan of the text before the parser runs (so deep nesting never reaches Python's recursion
limit); an integer of more than :data:`MAX_INT_DIGITS` digits or any number beyond float range (``1e400``,
``10**400``) is refused by the parser's hooks, before Python's int-string limit can raise. ``NaN`` and
``Infinity`` parse to floats, so that a schema can name the field that holds them.

NumPy (:func:`read_npy`, :func:`read_npz`, :func:`read_arrays`): never unpickles. A ``.npy`` header is parsed
with ``numpy.lib.format`` (its length checked before it is read) and the declared dtype and shape are checked
before anything is allocated: plain numbers, booleans or strings only (no objects, no structured types), at most
:data:`MAX_NDIM` dimensions, and at most ``max_array_bytes`` for all arrays of a file together. Each member of a
``.npz`` must be a stored or deflated, unencrypted ``NAME.npy`` whose declared uncompressed size agrees with its
header; its data is read into the allocated array through the (bounded) decompressing stream, then the member's
CRC is checked. A truncated or damaged zip is the same one-line error as anything else.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import stat
import struct
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

from .errors import UserError

__all__ = ['DEFAULT_MAX_DEPTH', 'MAX_INT_DIGITS', 'MAX_NDIM', 'MAX_NPZ_MEMBERS', 'FileReadError', 'json_depth',
           'open_regular', 'parse_json', 'read_fd', 'read_arrays', 'read_bytes', 'read_json', 'read_npy', 'read_npz']

DEFAULT_MAX_DEPTH = 32        # sessions and cards nest 4 levels
MAX_INT_DIGITS = 400          # 10**308 has 309 digits: every longer integer is beyond float range anyway
MAX_NDIM = 32                 # NumPy's own limit is 64
MAX_NPZ_MEMBERS = 1024
MAX_NPY_HEADER = 1 << 16      # bytes of a .npy header (NumPy writes a few hundred; it refuses 10000 characters)
_ARRAY_KINDS = 'biufcSU'      # bool, integers, floats, complex, byte and unicode strings
_CHUNK = 1 << 20


class FileReadError(UserError, ValueError):
    """A file that cannot be used: missing, not a regular file, too large, malformed, or beyond a limit.

    ``name`` is the file as the caller names it, ``what`` what it was read as (e.g. ``'session file'``),
    ``reason`` the one-line why; ``str()`` gives all three on one line. Also a ``ValueError``, so handlers written
    for the exceptions of ``json`` and ``numpy`` still see it.
    """

    def __init__(self, name: str, reason: str, what: str = 'file'):
        super().__init__(name, reason, what)   # args stay the constructor's, so the error pickles across processes
        self.name = name
        self.reason = reason
        self.what = what

    def __str__(self) -> str:
        return f'cannot read {self.what} {self.name!r}: {self.reason}'


# ------------------------------------------------------------------------------------------------------------
# Files

def _name(path: str | os.PathLike, name: str | None) -> str:
    if name is not None:
        return str(name)
    try:
        path = os.fspath(path)
    except TypeError:
        return repr(path)
    return path if isinstance(path, str) else os.fsdecode(path)


def _os_reason(err: BaseException) -> str:
    return (getattr(err, 'strerror', None) or str(err) or type(err).__name__).lower()


def _describe(err: BaseException) -> str:
    text = ' '.join(str(err).split())
    if len(text) > 160:
        text = text[:157] + '...'
    return f'{type(err).__name__}: {text}' if text else type(err).__name__


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISCHR, 'a character device'),
                       (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return kind
    return 'not a regular file'


def _check_cap(value: Any, label: str) -> None:
    # A programming error, not input: stays a plain exception.
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ValueError(f'{label} must be a positive integer, got {value!r}')


def open_regular(path: str | os.PathLike, max_bytes: int, fail: Callable[[str], Exception], *,
                 follow_symlinks: bool = True) -> tuple[int, int]:
    """(descriptor, size) of a regular file of at most ``max_bytes``; the caller closes the descriptor.

    ``stat`` first, so a device or FIFO is never even opened; then ``O_NONBLOCK`` (opening a FIFO cannot wait for a
    writer) and ``fstat`` on what was actually opened, in case the path was swapped in between. ``fail(reason)``
    makes the exception to raise, so each reader keeps its own error class (images: ``ImageReadError``).
    ``follow_symlinks=False`` refuses a symbolic link itself (``lstat``, then ``O_NOFOLLOW``), for folders whose
    files must all be inside them (training states).
    """
    try:
        before = os.stat(path) if follow_symlinks else os.lstat(path)
    except FileNotFoundError:
        raise fail('file not found') from None
    except (OSError, ValueError, TypeError) as err:   # ValueError: a NUL byte in the path
        raise fail(_os_reason(err)) from None
    if stat.S_ISLNK(before.st_mode):
        raise fail('a symbolic link, not a regular file')
    if not stat.S_ISREG(before.st_mode):
        raise fail(f'{_file_kind(before.st_mode)}, not a regular file')
    flags = os.O_RDONLY
    for extra in ('O_NONBLOCK', 'O_CLOEXEC', 'O_NOCTTY', 'O_BINARY') + (() if follow_symlinks else ('O_NOFOLLOW',)):
        flags |= getattr(os, extra, 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise fail('file not found') from None
    except (OSError, ValueError, TypeError) as err:
        if getattr(err, 'errno', None) == errno.ELOOP and not follow_symlinks:   # swapped for a link meanwhile
            raise fail('a symbolic link, not a regular file') from None
        raise fail(_os_reason(err)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise fail(f'{_file_kind(st.st_mode)}, not a regular file')
        if st.st_size > max_bytes:
            raise fail(f'{st.st_size} bytes, more than the {max_bytes} allowed')
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_fd(fd: int, max_bytes: int, fail: Callable[[str], Exception]) -> bytes:
    """At most ``max_bytes`` bytes from the descriptor ``fd`` (from :func:`open_regular`), read to its end;
    ``fail(reason)`` if it holds more (it grew while it was read) or the read fails."""
    chunks, total = [], 0
    try:
        while True:
            chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise fail(f'grew beyond the {max_bytes} bytes allowed while it was read')
    except OSError as err:
        raise fail(f'read failed ({_os_reason(err)})') from None
    return b''.join(chunks)


def _open_regular(path: str | os.PathLike, name: str, what: str, max_bytes: int) -> tuple[int, int]:
    return open_regular(path, max_bytes, lambda reason: FileReadError(name, reason, what))


def read_bytes(path: str | os.PathLike, *, max_bytes: int, what: str = 'file', name: str | None = None) -> bytes:
    """The bytes of the regular file ``path`` (see the module), at most ``max_bytes`` of them."""
    _check_cap(max_bytes, 'max_bytes')
    name = _name(path, name)
    fd, _size = _open_regular(path, name, what, max_bytes)
    try:
        return read_fd(fd, max_bytes, lambda reason: FileReadError(name, reason, what))
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------------------------
# JSON

_STEP = np.zeros(256, np.int8)
_STEP[[ord('['), ord('{')]] = 1
_STEP[[ord(']'), ord('}')]] = -1
_QUOTE, _BACKSLASH = ord('"'), ord('\\')


def json_depth(data: bytes | bytearray | memoryview) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON text, brackets inside strings skipped.

    A linear scan with NumPy, in chunks (a few MiB of temporaries for any text), no recursion: a quote preceded
    by an odd number of backslashes is escaped; the others open and close strings. Exact for valid JSON; for
    invalid JSON the number only decides which message refuses it.
    """
    text = np.frombuffer(data, np.uint8)
    deepest = level = 0
    backslashes = 0      # backslashes that end the previous chunk
    in_string = 0        # 1 when the previous chunk ends inside a string
    for start in range(0, len(text), _CHUNK):
        chunk = text[start:start + _CHUNK]
        n = len(chunk)
        index = np.arange(n, dtype=np.int64)
        not_backslash = chunk != _BACKSLASH
        last = np.maximum.accumulate(np.where(not_backslash, index, -1))   # last non-backslash at or before i
        # backslashes right before position i: those since `last[i - 1]`, plus the carry when that is -1
        before = np.empty(n, np.int64)
        before[0] = backslashes
        before[1:] = index[:-1] - last[:-1] + np.where(last[:-1] < 0, backslashes, 0)
        quotes = (chunk == _QUOTE) & (before % 2 == 0)
        inside = (np.cumsum(quotes, dtype=np.int64) + in_string) % 2
        levels = np.cumsum(np.where(inside == 0, _STEP[chunk], 0), dtype=np.int64) + level
        deepest, level = max(deepest, int(levels.max())), int(levels[-1])
        in_string = int(inside[-1])
        backslashes = backslashes + n if last[-1] < 0 else n - 1 - int(last[-1])
    return deepest


class _BadNumber(Exception):
    pass


def _parse_int(text: str) -> int:
    digits = len(text) - text.startswith('-')
    if digits > MAX_INT_DIGITS:
        raise _BadNumber(f'an integer of {digits} digits is beyond float range')
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise _BadNumber(f'the integer {text[:12]}... ({digits} digits) is beyond float range') from None
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 24 else text[:21] + '...'
        raise _BadNumber(f'the number {shown} is beyond float range')
    return value


def parse_json(data: bytes | bytearray | str, *, name: str, what: str = 'JSON file',
               max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The value of the JSON text ``data`` (UTF-8 bytes or a str) read from ``name``; :class:`FileReadError` for
    text that is not UTF-8, not JSON, nested deeper than ``max_depth`` or holding a number beyond float range."""
    _check_cap(max_depth, 'max_depth')
    raw = data.encode('utf-8', 'surrogatepass') if isinstance(data, str) else bytes(data)
    # Fewer opening brackets than the limit cannot nest deeper: the scan is needed only beyond that.
    depth = json_depth(raw) if raw.count(b'[') + raw.count(b'{') > max_depth else 0
    if depth > max_depth:
        raise FileReadError(name, f'nested too deeply ({depth} levels, at most {max_depth})', what)
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        raise FileReadError(name, 'not UTF-8 text', what) from None
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float)
    except _BadNumber as err:
        raise FileReadError(name, f'not usable JSON ({err})', what) from None
    except json.JSONDecodeError as err:
        raise FileReadError(name, f'not valid JSON ({err.msg} at line {err.lineno} column {err.colno})',
                            what) from None
    except RecursionError:   # not expected after the depth scan; kept so that nothing else can escape
        raise FileReadError(name, 'nested too deeply', what) from None
    except (ValueError, TypeError, MemoryError) as err:
        raise FileReadError(name, f'not usable JSON ({_describe(err)})', what) from None


def read_json(path: str | os.PathLike, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH,
              what: str = 'JSON file', name: str | None = None) -> Any:
    """The value of the JSON file ``path``: a regular file of at most ``max_bytes``, parsed by :func:`parse_json`."""
    name = _name(path, name)
    return parse_json(read_bytes(path, max_bytes=max_bytes, what=what, name=name), name=name, what=what,
                      max_depth=max_depth)


# ------------------------------------------------------------------------------------------------------------
# NumPy

class _Budget:
    """Bytes of array data a file may still declare."""

    def __init__(self, max_array_bytes: int) -> None:
        self.limit = self.left = max_array_bytes


def _read_exact(fp: BinaryIO, size: int) -> bytes:
    data = fp.read(size)
    if len(data) != size:
        raise _Malformed('truncated')
    return data


class _Malformed(Exception):
    pass


def _npy_header(fp: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran_order, dtype, header bytes) of the .npy stream ``fp``, positioned at its data after."""
    from numpy.lib import format as npy

    magic = fp.read(npy.MAGIC_LEN)
    if len(magic) != npy.MAGIC_LEN or not magic.startswith(npy.MAGIC_PREFIX):
        raise _Malformed('not a .npy array (no NumPy magic string)')
    major, minor = npy.read_magic(io.BytesIO(magic))
    if (major, minor) not in ((1, 0), (2, 0)):
        raise _Malformed(f'.npy format version {major}.{minor} is not supported (1.0 and 2.0 are)')
    length_format = '<H' if major == 1 else '<I'
    length_field = _read_exact(fp, struct.calcsize(length_format))
    (length,) = struct.unpack(length_format, length_field)
    if length > MAX_NPY_HEADER:
        raise _Malformed(f'its .npy header declares {length} bytes, more than the {MAX_NPY_HEADER} allowed')
    header = io.BytesIO(length_field + _read_exact(fp, length))
    reader = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
    try:
        shape, fortran_order, dtype = reader(header, max_header_size=MAX_NPY_HEADER)
    except Exception as err:  # noqa: BLE001  (ValueError, SyntaxError, MemoryError from a hostile header)
        raise _Malformed(f'bad .npy header ({_describe(err)})') from None
    return shape, fortran_order, dtype, len(magic) + len(length_field) + length


def _check_declared(shape: tuple[int, ...], dtype: np.dtype, budget: _Budget) -> int:
    """The data bytes of an array of ``shape`` and ``dtype``, after the checks of the module."""
    if dtype.hasobject:
        raise _Malformed(f'holds Python objects (dtype {dtype}), which are never unpickled')
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _Malformed(f'dtype {dtype} is not plain numbers, booleans or strings')
    if dtype.itemsize == 0:
        raise _Malformed(f'dtype {dtype} has zero-size items')
    if len(shape) > MAX_NDIM:
        raise _Malformed(f'declares {len(shape)} dimensions, more than the {MAX_NDIM} allowed')
    if any(d < 0 for d in shape):
        raise _Malformed(f'declares a negative dimension in shape {shape}')
    count = math.prod(shape)
    if any(d > budget.limit for d in shape) or count * dtype.itemsize > budget.left:
        shown = str(shape) if len(str(shape)) <= 80 else str(shape)[:77] + '...'
        raise _Malformed(f'declares an array {shown} of {dtype}, more than the {budget.limit} bytes of arrays '
                         f'allowed')
    nbytes = count * dtype.itemsize
    budget.left -= nbytes
    return nbytes


def _read_array(fp: BinaryIO, budget: _Budget, data_bytes: int | None = None) -> np.ndarray:
    """One array from the .npy stream ``fp``; ``data_bytes``: what the container says follows the header."""
    shape, fortran_order, dtype, header_bytes = _npy_header(fp)
    nbytes = _check_declared(shape, dtype, budget)
    if data_bytes is not None and data_bytes - header_bytes != nbytes:
        raise _Malformed(f'holds {data_bytes - header_bytes} bytes of data where its header declares {nbytes}')
    array = np.empty(shape, dtype, order='F' if fortran_order else 'C')
    view = memoryview(array.reshape(-1, order='A').view(np.uint8)) if nbytes else memoryview(b'')
    done = 0
    while done < nbytes:
        got = fp.readinto(view[done:done + _CHUNK * 16])
        if not got:
            raise _Malformed(f'truncated: {done} of the {nbytes} bytes of data its header declares')
        done += got
    if fp.read(1):
        raise _Malformed('has data after the array its header declares')
    return array


def _npz_members(zf: zipfile.ZipFile, budget: _Budget) -> dict[str, np.ndarray]:
    infos = zf.infolist()
    if len(infos) > MAX_NPZ_MEMBERS:
        raise _Malformed(f'has {len(infos)} members, more than the {MAX_NPZ_MEMBERS} allowed')
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise _Malformed('has two members of the same name')
    total = sum(info.file_size for info in infos)
    if total > budget.limit + MAX_NPY_HEADER * len(infos):
        raise _Malformed(f'its members declare {total} bytes uncompressed, more than the {budget.limit} bytes of '
                         f'arrays allowed')
    arrays = {}
    for info in infos:
        shown = info.filename if len(info.filename) <= 60 else info.filename[:57] + '...'
        if not info.filename.endswith('.npy') or info.is_dir():
            raise _Malformed(f'member {shown!r} is not a .npy array')
        if info.flag_bits & 0x1:
            raise _Malformed(f'member {shown!r} is encrypted')
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Malformed(f'member {shown!r} uses compression method {info.compress_type} (stored or deflated '
                             f'only)')
        try:
            with zf.open(info) as member:
                array = _read_array(member, budget, info.file_size)
        except _Malformed as err:
            raise _Malformed(f'member {shown!r}: {err}') from None
        arrays[info.filename[:-len('.npy')]] = array
    return arrays


def _arrays(path: str | os.PathLike, name: str, what: str, max_bytes: int, max_array_bytes: int,
            kind: str) -> np.ndarray | dict[str, np.ndarray]:
    _check_cap(max_bytes, 'max_bytes')
    _check_cap(max_array_bytes, 'max_array_bytes')
    fd, size = _open_regular(path, name, what, max_bytes)
    budget = _Budget(max_array_bytes)
    try:
        with os.fdopen(fd, 'rb') as f:
            head = f.read(6)
            is_zip = head[:4] == b'PK\x03\x04' or head[:4] == b'PK\x05\x06'
            if kind == 'npy' or (kind == 'any' and not is_zip):
                if head[:6] != b'\x93NUMPY':
                    raise _Malformed('not a .npy array' + (' or .npz archive' if kind == 'any' else '')
                                     + ('' if head else ' (empty file)'))
                f.seek(0)
                return _read_array(f, budget, size)
            if not is_zip:
                raise _Malformed('not a .npz archive (not a zip file)' if head else 'empty file')
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                return _npz_members(zf, budget)
    except _Malformed as err:
        raise FileReadError(name, str(err), what) from None
    except FileReadError:
        raise
    except MemoryError:
        raise FileReadError(name, 'out of memory while reading it', what) from None
    except Exception as err:  # noqa: BLE001  (BadZipFile, zlib.error, EOFError, OSError, CRC errors, ...)
        raise FileReadError(name, f'damaged ({_describe(err)})', what) from None


def read_npy(path: str | os.PathLike, *, max_bytes: int, max_array_bytes: int | None = None,
             what: str = 'array file', name: str | None = None) -> np.ndarray:
    """The array of the ``.npy`` file ``path`` (see the module); ``max_array_bytes`` defaults to ``max_bytes``."""
    return _arrays(path, _name(path, name), what, max_bytes, max_array_bytes or max_bytes, 'npy')


def read_npz(path: str | os.PathLike, *, max_bytes: int, max_array_bytes: int | None = None,
             what: str = 'array file', name: str | None = None) -> dict[str, np.ndarray]:
    """{key: array} of the ``.npz`` file ``path`` (see the module); ``max_array_bytes`` caps the arrays of all
    members together, uncompressed (default ``max_bytes``)."""
    return _arrays(path, _name(path, name), what, max_bytes, max_array_bytes or max_bytes, 'npz')


def read_arrays(path: str | os.PathLike, *, max_bytes: int, max_array_bytes: int | None = None,
                what: str = 'array file', name: str | None = None) -> np.ndarray | dict[str, np.ndarray]:
    """What ``np.load(path, allow_pickle=False)`` gives, by content: an array for a ``.npy`` file, a dict for a
    ``.npz`` archive; with the checks and caps of :func:`read_npy` and :func:`read_npz`."""
    return _arrays(path, _name(path, name), what, max_bytes, max_array_bytes or max_bytes, 'any')
