"""Reading images from files nobody vouches for: the one place in the project where an image file is opened.

Pillow identifies a file by its content, not its name, and not every plugin only decodes pixels: an Encapsulated
PostScript file (also one named ``.png``) is rendered by starting Ghostscript, which runs the PostScript program
in it. A valid header can also declare far more pixels than the file holds (a few hundred bytes that decode into
gigabytes). Every image the project reads (projection targets, the GUI's dropped images, dataset sources,
training-set images, reference PNGs) therefore goes through :func:`read_image` or :func:`read_image_info`, which

- open only the formats in :data:`FORMATS` (PNG, JPEG, WebP, BMP, PPM/PGM/PBM, TIFF), passed to ``PIL.Image.open``
  as ``formats=``, so Pillow never tries any other plugin (EPS, PDF, GIF, ICO, ...);
- read a path only if it is a regular file (no FIFO, device, socket or directory, also not through a symlink),
  opened with ``O_NONBLOCK`` and checked with ``fstat`` before a byte is read, of at most ``max_bytes`` bytes;
- check the declared width x height against ``max_pixels`` (and against ``size`` when the caller knows it) before
  decoding: ``Image.open`` parses the header only, ``load()`` decodes, and it is called only after the checks;
- refuse zero-size images, convert to the requested mode, and raise :class:`ImageReadError` (one line naming the
  file and the reason) for anything else: a truncated or corrupt file, an unknown format, a read error.

The limits that apply are the explicit ones given here, not Pillow's global ``MAX_IMAGE_PIXELS``: its check still
runs inside ``Image.open`` (its error becomes an :class:`ImageReadError` too, its warning is silenced), but every
cap here is lower than its default, and a program that raised or removed it would not weaken these.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from .errors import UserError
from .file_io import open_regular

__all__ = ['DEFAULT_MAX_BYTES', 'DEFAULT_MAX_PIXELS', 'FORMATS', 'ImageInfo', 'ImageReadError', 'read_image',
           'read_image_info']

# Pillow format ids -> the names used in messages. GIF, ICO, EPS, PDF and every other plugin are never tried.
_FORMAT_NAMES = {'PNG': 'PNG', 'JPEG': 'JPEG', 'WEBP': 'WebP', 'BMP': 'BMP', 'PPM': 'PPM', 'TIFF': 'TIFF'}
FORMATS = tuple(_FORMAT_NAMES)
DEFAULT_MAX_PIXELS = 64 * 1024 * 1024     # 8192 x 8192: about 256 MiB decoded as RGBA
DEFAULT_MAX_BYTES = 512 * 1024 * 1024     # enough for an uncompressed 64-megapixel RGBA BMP or TIFF

Source = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO

# Signatures of formats that are refused, named in the message so that the reason is clear.
_REFUSED_SIGNATURES = ((b'%!PS', 'PostScript'), (b'\xc5\xd0\xd3\xc6', 'PostScript (EPS)'), (b'%PDF', 'PDF'),
                       (b'GIF8', 'GIF'))


class ImageReadError(UserError, ValueError):
    """An image file that cannot be used: missing, not a regular file, too large, not an accepted format, corrupt.

    ``name`` is the file as the caller names it, ``reason`` the one-line why; ``str()`` gives both.
    """

    def __init__(self, name: str, reason: str):
        super().__init__(name, reason)   # args stay (name, reason), so the error pickles across processes
        self.name = name
        self.reason = reason

    def __str__(self) -> str:
        return f'cannot read image {self.name!r}: {self.reason}'


@dataclass(frozen=True)
class ImageInfo:
    """What the header of an accepted image declares; ``file_bytes`` is None for a stream of unknown length."""

    format: str
    width: int
    height: int
    mode: str
    file_bytes: int | None


def read_image(source: Source, *, name: str | None = None, mode: str | tuple[str, ...] | None = 'RGB',
               max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES,
               formats: tuple[str, ...] = FORMATS, size: tuple[int, int] | None = None):
    """The decoded image of ``source`` as a ``PIL.Image.Image`` (no longer tied to any file).

    ``source``: a path (``str`` or ``os.PathLike``), the file's bytes, or a binary stream (e.g. a zip member),
    of which at most ``max_bytes`` are read. ``mode``: a mode to convert to; a tuple of modes
    kept as they are, anything else converted to the first; None keeps the file's mode. ``size``: the exact
    (width, height) required, checked before decoding. Raises :class:`ImageReadError` and nothing else for any
    file content.
    """
    name = _name_of(source, name)
    _check_arguments(formats, max_pixels, max_bytes)
    if _is_data(source):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageReadError(name, f'{len(data)} bytes, more than the {max_bytes} allowed')
    elif _is_path(source):
        fd, file_bytes = _open_regular_file(source, name, max_bytes)
        try:
            data = _read_bounded(lambda n: os.read(fd, n), name, max_bytes)
        finally:
            os.close(fd)
        if len(data) != file_bytes:
            raise ImageReadError(name, 'the file changed while it was read')
    else:
        data = _read_bounded(source.read, name, max_bytes)
    if not data:
        raise ImageReadError(name, 'empty file')
    return _decode(io.BytesIO(data), name, mode, max_pixels, formats, size)


def read_image_info(source: Source, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                    max_bytes: int = DEFAULT_MAX_BYTES, formats: tuple[str, ...] = FORMATS) -> ImageInfo:
    """Format, size and mode from the header of ``source`` (as in :func:`read_image`), without decoding pixels.

    A path or a seekable stream is read only as far as the header; a stream that cannot seek is read into memory
    (at most ``max_bytes``). The checks are those of :func:`read_image`; the pixels may still be corrupt.
    """
    name = _name_of(source, name)
    _check_arguments(formats, max_pixels, max_bytes)
    if _is_data(source):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageReadError(name, f'{len(data)} bytes, more than the {max_bytes} allowed')
        if not data:
            raise ImageReadError(name, 'empty file')
        return _header(io.BytesIO(data), name, max_pixels, formats, len(data))
    if _is_path(source):
        fd, file_bytes = _open_regular_file(source, name, max_bytes)
        with os.fdopen(fd, 'rb') as f:
            return _header(f, name, max_pixels, formats, file_bytes)
    try:
        seekable = bool(source.seekable())
    except Exception:  # noqa: BLE001  (a stream without seekable(): read it, bounded)
        seekable = False
    if not seekable:
        data = _read_bounded(source.read, name, max_bytes)
        return _header(io.BytesIO(data), name, max_pixels, formats, len(data))
    return _header(source, name, max_pixels, formats, None)


# ------------------------------------------------------------------------------------------------------------
# Files and bytes

def _is_data(source: object) -> bool:
    return isinstance(source, bytes | bytearray | memoryview)


def _is_path(source: object) -> bool:
    return isinstance(source, str | os.PathLike)


def _name_of(source: Source, name: str | None) -> str:
    if name is not None:
        return str(name)
    if _is_path(source):
        path = os.fspath(source)
        return path if isinstance(path, str) else os.fsdecode(path)
    return '<image data>' if _is_data(source) else str(getattr(source, 'name', '<image stream>'))


def _check_arguments(formats: tuple[str, ...], max_pixels: int, max_bytes: int) -> None:
    # Programming errors, not input: these stay plain exceptions.
    unknown = [f for f in formats if f not in _FORMAT_NAMES]
    if unknown or not formats:
        raise ValueError(f'formats must be a non-empty subset of {FORMATS}, got {formats!r}')
    if not (isinstance(max_pixels, int) and max_pixels > 0 and isinstance(max_bytes, int) and max_bytes > 0):
        raise ValueError(f'max_pixels and max_bytes must be positive integers, got {max_pixels!r}, {max_bytes!r}')


def _open_regular_file(path: str | os.PathLike, name: str, max_bytes: int) -> tuple[int, int]:
    """(file descriptor, size) of a regular, non-empty file of at most ``max_bytes``; the caller closes it
    (``networks.file_io.open_regular``, with this module's error class)."""
    fd, size = open_regular(path, max_bytes, lambda reason: ImageReadError(name, reason))
    if size == 0:
        os.close(fd)
        raise ImageReadError(name, 'empty file')
    return fd, size


def _read_bounded(read, name: str, max_bytes: int) -> bytes:
    """All of ``read``'s bytes, in chunks; more than ``max_bytes`` is refused as soon as it is seen."""
    chunks, total = [], 0
    try:
        while True:
            chunk = read(min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise ImageReadError(name, f'more than the {max_bytes} bytes allowed')
    except ImageReadError:
        raise
    except Exception as err:  # noqa: BLE001  (OSError, a zip member's bad CRC or zlib error, ...)
        raise ImageReadError(name, f'read failed ({_describe(err)})') from None
    return b''.join(chunks)


# ------------------------------------------------------------------------------------------------------------
# Pillow

def _describe(err: BaseException) -> str:
    text = ' '.join(str(err).split())
    if len(text) > 200:
        text = text[:197] + '...'
    return f'{type(err).__name__}: {text}' if text else type(err).__name__


def _accepted(formats: tuple[str, ...]) -> str:
    names = [_FORMAT_NAMES[f] for f in formats]
    return names[0] if len(names) == 1 else ', '.join(names[:-1]) + ' or ' + names[-1]


def _sniff(fp) -> str | None:
    try:
        fp.seek(0)
        prefix = fp.read(16)
    except Exception:  # noqa: BLE001  (only for a clearer message)
        return None
    return next((kind for sig, kind in _REFUSED_SIGNATURES if prefix.startswith(sig)), None)


def _close(im) -> None:
    # Also closes the file object Pillow read from (ours, or the caller's stream, which is done with it).
    try:
        im.close()
    except Exception:  # noqa: BLE001  (nothing of the result depends on it)
        pass


class _quiet_pillow(warnings.catch_warnings):
    """No warning from Pillow reaches the user: a hostile file could print many, and Pillow's decompression-bomb
    warning (above its global limit) is moot, since the explicit ``max_pixels`` check refuses such an image.

    Like every ``catch_warnings``, this swaps the process-wide filters for its duration: a warning that another
    thread raises meanwhile is silenced too.
    """

    def __enter__(self):
        result = super().__enter__()
        warnings.simplefilter('ignore')
        return result


def _open(fp, name: str, max_pixels: int, formats: tuple[str, ...], size: tuple[int, int] | None):
    """Pillow's image for ``fp`` with only the header read, after the size checks; raises ImageReadError."""
    import PIL.Image

    try:
        im = PIL.Image.open(fp, formats=list(formats))
    except PIL.UnidentifiedImageError:
        kind = _sniff(fp)
        refused = f' (it is {kind}, which is never opened)' if kind else ''
        raise ImageReadError(name, f'not a {_accepted(formats)} image{refused}') from None
    except PIL.Image.DecompressionBombError as err:   # above twice Pillow's global limit: it refuses first
        raise ImageReadError(name, f'declares more than the {max_pixels} pixels allowed ({_describe(err)})') from None
    except Exception as err:  # noqa: BLE001  (hostile headers raise many types)
        raise ImageReadError(name, f'unreadable header ({_describe(err)})') from None
    try:
        if im.format not in formats:   # Image.open tried only `formats`: a mismatch would be a Pillow bug
            raise ImageReadError(name, f'{im.format} is not an accepted format')
        width, height = im.size
        if width <= 0 or height <= 0:
            raise ImageReadError(name, f'declares a zero-size image ({width}x{height})')
        if size is not None and (width, height) != tuple(size):
            raise ImageReadError(name, f'is {width}x{height}, expected {size[0]}x{size[1]}')
        if width * height > max_pixels:
            raise ImageReadError(name, f'declares {width}x{height} = {width * height} pixels, more than the '
                                       f'{max_pixels} allowed')
    except BaseException:
        _close(im)
        raise
    return im


def _header(fp, name: str, max_pixels: int, formats: tuple[str, ...], file_bytes: int | None) -> ImageInfo:
    with _quiet_pillow():
        im = _open(fp, name, max_pixels, formats, None)
        try:
            return ImageInfo(im.format, im.width, im.height, im.mode, file_bytes)
        finally:
            _close(im)


def _decode(fp: io.BytesIO, name: str, mode: str | tuple[str, ...] | None, max_pixels: int,
            formats: tuple[str, ...], size: tuple[int, int] | None):
    with _quiet_pillow():
        im = _open(fp, name, max_pixels, formats, size)
        try:
            declared = im.size
            im.load()
            if im.size != declared:
                raise ImageReadError(name, f'decoded as {im.width}x{im.height}, not the declared '
                                           f'{declared[0]}x{declared[1]}')
        except ImageReadError:
            _close(im)
            raise
        except Exception as err:  # noqa: BLE001  (truncated data, zlib/libjpeg errors, ...: all "corrupt")
            _close(im)
            raise ImageReadError(name, f'cannot decode the pixels ({_describe(err)})') from None
        try:
            if mode is None or (isinstance(mode, tuple) and im.mode in mode):
                return im.copy()
            return im.convert(mode if isinstance(mode, str) else mode[0])
        except Exception as err:  # noqa: BLE001  (a mode Pillow cannot convert, e.g. some 16-bit ones)
            raise ImageReadError(name, f'cannot convert its {im.mode} pixels ({_describe(err)})') from None
        finally:
            _close(im)
