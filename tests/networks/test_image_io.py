"""networks.image_io: only PNG, JPEG, WebP, BMP, PPM and TIFF are opened (PostScript named .png never reaches
Ghostscript), declared sizes are checked before decoding, only regular files are read, and every hostile file ends
in one ImageReadError line, fast and small. Valid images read exactly as before. Every payload is made here."""

from __future__ import annotations

import errno
import io
import os
import pickle
import random
import shutil
import time

import numpy as np
import PIL.Image
import PIL.ImageFile
import PIL.PngImagePlugin
import pytest

from networks.errors import UserError
from networks.image_io import (
    DEFAULT_MAX_PIXELS,
    FORMATS,
    ImageReadError,
    read_image,
    read_image_info,
)

from .hostile_images import (
    LOOP_PROGRAM,
    eps,
    fix_png_crcs,
    install_fake_ghostscript,
    jpeg_claiming,
    marker_program,
    measure,
    png_claiming,
)

MB = 1 << 20
FUZZ_SEED = 20260514


def _array(height=12, width=10, channels=3, seed=0) -> np.ndarray:
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, fmt, **kwargs)
    return buf.getvalue()


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert text and '\n' not in text and 'Traceback' not in text
    return text


# ------------------------------------------------------------------------------------------------------------
# Valid images

EXACT = {'PNG': ('png', {}), 'BMP': ('bmp', {}), 'PPM': ('ppm', {}), 'TIFF': ('tif', {}),
         'WEBP': ('webp', {'lossless': True})}


@pytest.mark.parametrize('fmt', list(EXACT))
def test_valid_images_round_trip_from_path_bytes_and_stream(tmp_path, fmt):
    ext, options = EXACT[fmt]
    array = _array()
    data = _encode(array, fmt, **options)
    path = tmp_path / f'image.{ext}'
    path.write_bytes(data)
    for source in (path, str(path), data, bytearray(data), io.BytesIO(data)):
        image = read_image(source)
        assert image.mode == 'RGB' and image.size == (10, 12)
        np.testing.assert_array_equal(np.asarray(image), array)
    info = read_image_info(path)
    assert (info.format, info.width, info.height, info.mode, info.file_bytes) == (fmt, 10, 12, 'RGB', len(data))
    assert read_image_info(io.BytesIO(data)).format == fmt


def test_jpeg_reads_like_pillow():
    ramp = np.broadcast_to(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], (24, 32, 3)).copy()
    data = _encode(ramp, 'JPEG', quality=95)
    image = np.asarray(read_image(data)).astype(int)
    assert image.shape == (24, 32, 3) and np.abs(image - ramp).mean() < 2
    with PIL.Image.open(io.BytesIO(data)) as plain:
        np.testing.assert_array_equal(image, np.asarray(plain.convert('RGB')))


def test_modes_are_converted_or_kept_as_asked():
    gray = _array(channels=1)
    rgba = _array(channels=4)
    assert read_image(_encode(gray, 'PNG'), mode=None).mode == 'L'
    assert read_image(_encode(gray, 'PNG'), mode=('RGB', 'L')).mode == 'L'
    as_rgb = np.asarray(read_image(_encode(gray, 'PNG')))
    assert as_rgb.shape == (12, 10, 3) and all(np.array_equal(as_rgb[..., i], gray) for i in range(3))
    kept = read_image(_encode(rgba, 'PNG'), mode=('RGB', 'L', 'RGBA'))
    assert kept.mode == 'RGBA'
    np.testing.assert_array_equal(np.asarray(kept), rgba)
    np.testing.assert_array_equal(np.asarray(read_image(_encode(rgba, 'PNG'))), rgba[..., :3])
    assert read_image(_encode(rgba, 'PNG'), mode=('RGB', 'L')).mode == 'RGB'
    palette = PIL.Image.fromarray(_array()).convert('P')
    buf = io.BytesIO()
    palette.save(buf, 'PNG')
    np.testing.assert_array_equal(np.asarray(read_image(buf.getvalue())), np.asarray(palette.convert('RGB')))


def test_content_decides_not_the_extension_and_formats_can_be_narrowed(tmp_path):
    array = _array()
    (tmp_path / 'really-a-bmp.png').write_bytes(_encode(array, 'BMP'))
    np.testing.assert_array_equal(np.asarray(read_image(tmp_path / 'really-a-bmp.png')), array)
    with pytest.raises(ImageReadError, match='not a PNG image'):
        read_image(tmp_path / 'really-a-bmp.png', formats=('PNG',))
    with pytest.raises(ValueError, match='subset'):
        read_image(tmp_path / 'really-a-bmp.png', formats=('EPS',))   # a programming error, not input
    assert set(FORMATS) == {'PNG', 'JPEG', 'WEBP', 'BMP', 'PPM', 'TIFF'}


def test_the_error_class():
    with pytest.raises(ImageReadError) as info:
        read_image(b'not an image', name='notes.png')
    err = info.value
    assert isinstance(err, UserError) and isinstance(err, ValueError)
    assert err.name == 'notes.png' and 'not a PNG, JPEG, WebP, BMP, PPM or TIFF image' in err.reason
    assert _one_line(err) == f"cannot read image 'notes.png': {err.reason}"
    again = pickle.loads(pickle.dumps(err))        # crosses DataLoader worker processes intact
    assert type(again) is ImageReadError and str(again) == str(err)
    with pytest.raises(ImageReadError) as info:
        read_image(b'x', name='bad\x1b]0;title\x07.png')
    assert '\x1b' not in str(info.value)               # the name is printed escaped


# ------------------------------------------------------------------------------------------------------------
# PostScript is never opened: no Ghostscript, whatever the extension

@pytest.mark.parametrize('program', ['marker', 'loop'])
def test_postscript_named_png_never_starts_ghostscript(tmp_path, monkeypatch, program):
    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker))
    payload = eps(marker_program(str(marker)) if program == 'marker' else LOOP_PROGRAM)
    path = tmp_path / 'holiday.png'
    path.write_bytes(payload)
    calls = {'path': lambda: read_image(path), 'bytes': lambda: read_image(payload),
             'stream': lambda: read_image(io.BytesIO(payload)), 'header': lambda: read_image_info(path)}
    for how, call in calls.items():
        elapsed, grown, err, finished = measure(call, timeout=10)
        assert finished and isinstance(err, ImageReadError), (how, err)
        assert 'PostScript' in _one_line(err) and elapsed < 2.0, (how, elapsed)
    assert not marker.exists() and not os.path.exists(log)


def test_the_fake_ghostscript_is_what_plain_pillow_starts(tmp_path, monkeypatch):
    """The guard above is meaningful: Pillow asked without a format list starts `gs` for the very same file."""
    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker), sleep=0)
    (tmp_path / 'holiday.png').write_bytes(eps(marker_program(str(marker))))
    with pytest.raises(Exception), PIL.Image.open(tmp_path / 'holiday.png') as im:  # noqa: B017 (gs exits 1)
        im.load()
    assert marker.exists() and os.path.exists(log)


@pytest.mark.skipif(shutil.which('gs') is None, reason='Ghostscript is not installed')
@pytest.mark.parametrize('program', ['marker', 'loop'])
def test_real_ghostscript_is_never_started(tmp_path, monkeypatch, program):
    import PIL.EpsImagePlugin

    monkeypatch.setattr(PIL.EpsImagePlugin, 'gs_binary', None)
    marker = tmp_path / 'marker'
    payload = eps(marker_program(str(marker)) if program == 'marker' else LOOP_PROGRAM)
    (tmp_path / 'x.png').write_bytes(payload)
    elapsed, _grown, err, finished = measure(lambda: read_image(tmp_path / 'x.png'), timeout=10)
    assert finished and isinstance(err, ImageReadError) and elapsed < 2.0
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------------------
# Declared sizes: checked before anything is decoded

BOMBS = {
    'PNG 1 x 178M (a 356 KB file of these took 3.7 GB)': lambda: png_claiming(1, 178_000_000),
    'PNG 178M x 1': lambda: png_claiming(178_000_000, 1),
    'PNG 20000 x 20000 RGBA': lambda: png_claiming(20_000, 20_000, color_type=6),
    'PNG 2^31-1 square': lambda: png_claiming(2**31 - 1, 2**31 - 1),
    'PNG 8193 x 8193 (above our cap, below Pillow\'s)': lambda: png_claiming(8193, 8193),
    'JPEG 13000 x 13000 (600 bytes; took 1.4 GB)': lambda: jpeg_claiming(13_000, 13_000),
    'JPEG 65535 x 65535': lambda: jpeg_claiming(65_535, 65_535),
}


@pytest.fixture(scope='module')
def warm():
    read_image(_encode(_array(), 'PNG'))     # imports and first-use costs are not the bombs' doing
    read_image(_encode(_array(), 'JPEG'))


@pytest.mark.parametrize('name', list(BOMBS))
def test_bombs_are_refused_before_decoding(name, warm, tmp_path, monkeypatch):
    payload = BOMBS[name]()
    assert len(payload) < 1000
    loads = []
    real_load = PIL.ImageFile.ImageFile.load
    monkeypatch.setattr(PIL.ImageFile.ImageFile, 'load', lambda self: loads.append(self) or real_load(self))
    path = tmp_path / 'bomb.img'
    path.write_bytes(payload)
    for source in (payload, path):
        elapsed, grown, err, finished = measure(lambda source=source: read_image(source), timeout=30)
        assert finished and isinstance(err, ImageReadError), (name, err)
        assert elapsed < 2.0, f'{name}: {elapsed:.2f} s'
        assert grown < 300 * MB, f'{name}: RSS grew {grown // MB} MB'
        _one_line(err)
    assert loads == [], 'a pixel was decoded'
    read_image(_encode(_array(), 'JPEG' if name.startswith('JPEG') else 'PNG'))
    assert loads                # the spy does see decoding when it happens


def test_caps_are_ours_not_pillows_global(monkeypatch):
    monkeypatch.setattr(PIL.Image, 'MAX_IMAGE_PIXELS', None)     # a program that switched Pillow's check off
    for payload in (jpeg_claiming(13_000, 13_000), png_claiming(1, 178_000_000)):
        elapsed, grown, err, _finished = measure(lambda payload=payload: read_image(payload), timeout=30)
        assert isinstance(err, ImageReadError) and 'more than the' in str(err) and grown < 300 * MB
    small = _encode(_array(100, 100), 'PNG')
    with pytest.raises(ImageReadError, match='declares 100x100 = 10000 pixels, more than the 9999 allowed'):
        read_image(small, max_pixels=9999)
    with pytest.raises(ImageReadError, match='more than the 9999 allowed'):
        read_image_info(small, max_pixels=9999)
    assert read_image(small, max_pixels=10000).size == (100, 100)
    with pytest.raises(ImageReadError, match='is 100x100, expected 64x64'):
        read_image(small, size=(64, 64))
    with pytest.raises(ImageReadError, match='more than the 100 allowed'):
        read_image(small, max_bytes=100)
    assert DEFAULT_MAX_PIXELS == 64 * MB


# ------------------------------------------------------------------------------------------------------------
# Hostile files: one ImageReadError each, nothing else, never a hang

def _good_png() -> bytes:
    return _encode(_array(32, 32), 'PNG')


def _bad_ihdr_crc() -> bytes:
    data = bytearray(_good_png())
    data[29] ^= 0xFF                         # the IHDR chunk's CRC
    return bytes(data)


def _make(tmp_path, kind: str):
    """The path of a hostile file of ``kind``."""
    path = tmp_path / 'image.png'
    payloads = {
        'truncated header': lambda: _good_png()[:40],
        'truncated pixels': lambda: _good_png()[:-60],
        'bad IHDR CRC': _bad_ihdr_crc,
        'wrong magic': lambda: os.urandom(4096),
        'PNG signature then zeros': lambda: b'\x89PNG\r\n\x1a\n' + b'\0' * 64,
        'zero width': lambda: png_claiming(0, 16),
        'empty file': lambda: b'',
        'text': lambda: b'this is text, not an image\n',
        'PDF': lambda: b'%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n',
        'GIF (not accepted)': lambda: _encode(_array(), 'GIF'),
        'EPS with a binary header': lambda: b'\xc5\xd0\xd3\xc6' + b'\0' * 28 + eps(LOOP_PROGRAM),
    }
    if kind in payloads:
        path.write_bytes(payloads[kind]())
    elif kind == 'FIFO':
        os.mkfifo(path)
    elif kind == 'symlink to /dev/zero':
        os.symlink('/dev/zero', path)
    elif kind == 'directory':
        path.mkdir()
    elif kind == 'missing':
        pass
    else:
        raise AssertionError(kind)
    return path


HOSTILE = ['truncated header', 'truncated pixels', 'bad IHDR CRC', 'wrong magic', 'PNG signature then zeros',
           'zero width', 'empty file', 'text', 'PDF', 'GIF (not accepted)', 'EPS with a binary header', 'FIFO',
           'symlink to /dev/zero', 'directory', 'missing']


HEADER_INTACT = {'truncated pixels'}


def _release_fifo(path) -> None:
    # A reader blocked in open() of the FIFO (a regression) gets a writer, then end of file, instead of hanging.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError as err:
        assert err.errno in (errno.ENXIO, errno.ENOENT), err


@pytest.mark.parametrize('kind', HOSTILE)
def test_hostile_files_are_one_error(tmp_path, kind):
    path = _make(tmp_path, kind)
    calls = [lambda: read_image(path), lambda: read_image(str(path), mode=None)]
    if kind not in HEADER_INTACT:   # the header alone is fine there: only decoding finds the damage
        calls.append(lambda: read_image_info(path))
    try:
        for call in calls:
            elapsed, grown, err, finished = measure(call, timeout=5)
            assert finished, f'{kind}: still reading after 5 s'
            assert type(err) is ImageReadError, f'{kind}: {err!r}'
            assert str(path) in _one_line(err) and elapsed < 2.0 and grown < 300 * MB
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            err = measure(lambda: read_image(data), timeout=5)[2]
            assert type(err) is ImageReadError, f'{kind} as bytes: {err!r}'
            err = measure(lambda: read_image_info(data), timeout=5)[2]
            assert type(err) is ImageReadError or kind in HEADER_INTACT, f'{kind} header as bytes: {err!r}'
    finally:
        if kind == 'FIFO':
            _release_fifo(path)


def test_streams_that_fail_or_never_end_are_one_error():
    class Failing(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise OSError(5, 'Input/output error')

    class Endless(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            b[:] = b'\0' * len(b)
            return len(b)

    with pytest.raises(ImageReadError, match='read failed'):
        read_image(Failing())
    elapsed, grown, err, _ = measure(lambda: read_image(Endless(), max_bytes=8 * MB), timeout=10)
    assert isinstance(err, ImageReadError) and 'more than the' in str(err) and elapsed < 2 and grown < 300 * MB
    with pytest.raises(ImageReadError, match='more than the'):
        read_image_info(Endless(), max_bytes=MB)     # cannot seek: read, bounded


# ------------------------------------------------------------------------------------------------------------
# Fuzz

def _mutate(data: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(['flip', 'flip', 'truncate', 'splice', 'insert', 'delete', 'integer'])
    buf = bytearray(data)
    if kind == 'flip':
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif kind == 'truncate':
        del buf[rng.randrange(1, len(buf)):]
    elif kind == 'integer':   # a length, a width or a height becomes extreme
        pos = rng.randrange(len(buf) - 4)
        buf[pos:pos + 4] = rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, rng.getrandbits(32)]).to_bytes(4, 'big')
    else:
        n = rng.randint(1, 64)
        src, dst = rng.randrange(len(buf) - n), rng.randrange(len(buf) - n)
        chunk = bytes(buf[src:src + n])
        if kind == 'splice':
            buf[dst:dst + n] = chunk
        elif kind == 'insert':
            buf[dst:dst] = chunk
        else:
            del buf[dst:dst + n]
    return bytes(buf)


def _fuzz_original(fmt: str) -> bytes:
    array = _array(20, 24, 3, seed=3)
    if fmt == 'PNG':
        info = PIL.PngImagePlugin.PngInfo()
        info.add_text('Comment', 'a text chunk')
        info.add_text('Software', 'compressed text ' * 8, zip=True)
        return _encode(array, 'PNG', pnginfo=info)
    return _encode(array, fmt, **({'lossless': True} if fmt == 'WEBP' else {}))


FUZZ_CASES = {'PNG': 500, 'JPEG': 100, 'WEBP': 100, 'BMP': 100, 'TIFF': 100}


@pytest.mark.parametrize('fmt', list(FUZZ_CASES))
def test_fuzzed_images_give_one_error_or_an_image(fmt):
    original = _fuzz_original(fmt)
    rng = random.Random(f'{FUZZ_SEED}-{fmt}')
    cases = []
    for i in range(FUZZ_CASES[fmt]):
        mutated = _mutate(original, rng)
        if fmt == 'PNG' and i % 2:       # half with valid CRCs: the mutation reaches the chunk parsers
            mutated = fix_png_crcs(mutated)
        cases.append(mutated)
    state = {'case': None, 'slowest': 0.0, 'escapes': [], 'errors': set(), 'images': 0}

    def run_all():
        for i, payload in enumerate(cases):
            state['case'] = i
            start = time.perf_counter()
            try:
                read_image(payload)
                state['images'] += 1
            except ImageReadError as err:
                _one_line(err)
                state['errors'].add(err.reason.split(' (')[0])
            except Exception as err:  # noqa: BLE001 - an escape: reported with its case number
                state['escapes'].append((i, repr(err)))
            state['slowest'] = max(state['slowest'], time.perf_counter() - start)

    elapsed, grown, err, finished = measure(run_all, timeout=2.0 * len(cases))
    assert finished, f'case {state["case"]} still running (FUZZ_SEED {FUZZ_SEED})'
    assert err is None and state['escapes'] == [], state['escapes'][:5]
    assert state['slowest'] < 2.0, f'slowest case {state["slowest"]:.2f} s'
    assert grown < 1024 * MB, f'RSS grew {grown // MB} MB'
    # Not a vacuous fuzz: both outcomes occur, for several different reasons.
    assert state['images'] > 0 and len(state['errors']) >= 2, state
