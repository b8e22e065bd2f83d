"""Hostile image files for the image-reader tests, all made here: PostScript disguised as PNG, headers that declare
huge images, and a stand-in for Ghostscript that leaves a mark when anything starts it.

``measure(fn)`` runs ``fn`` in a worker thread and reports (seconds, peak RSS growth, exception, finished): a call
that hangs ends the measurement after ``timeout`` seconds instead of hanging the test run.
"""

from __future__ import annotations

import io
import os
import shlex
import struct
import threading
import time
import zlib

import psutil

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def png_claiming(width: int, height: int, color_type: int = 0) -> bytes:
    """A tiny PNG whose (correctly checksummed) IHDR declares width x height 8-bit pixels; its IDAT holds a few
    rows only. Decoding it would allocate the whole declared image first."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, color_type, 0, 0, 0)
    return (PNG_SIGNATURE + png_chunk(b'IHDR', ihdr) + png_chunk(b'IDAT', zlib.compress(b'\0' * 4096))
            + png_chunk(b'IEND', b''))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A valid 8x8 baseline JPEG (about 600 bytes) whose start-of-frame header is patched to width x height."""
    import PIL.Image

    buf = io.BytesIO()
    PIL.Image.new('RGB', (8, 8), (10, 200, 30)).save(buf, 'JPEG')
    data = bytearray(buf.getvalue())
    sof = data.index(b'\xff\xc0')   # SOF0: marker, length (2), precision (1), height (2), width (2)
    data[sof + 5:sof + 9] = struct.pack('>HH', height, width)
    return bytes(data)


def fix_png_crcs(data: bytes) -> bytes:
    """``data`` with the CRC of every complete chunk recomputed, so that mutations inside chunks reach the parser."""
    out = bytearray(data)
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(out):
        length = struct.unpack('>I', out[pos:pos + 4])[0]
        end = pos + 8 + length
        if end + 4 > len(out):
            break
        out[end:end + 4] = struct.pack('>I', zlib.crc32(bytes(out[pos + 4:end])))
        pos = end + 4
    return bytes(out)


def eps(program: str, size: int = 16) -> bytes:
    """An Encapsulated PostScript file (which Pillow hands to Ghostscript to render) running ``program``."""
    return (f'%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 {size} {size}\n{program}\n'
            f'0 0 moveto {size} {size} lineto stroke\nshowpage\n%%EOF\n').encode()


def marker_program(marker: str) -> str:
    """PostScript that creates the file ``marker`` (what a hostile file would do with a secret instead)."""
    return f'({marker}) (w) file closefile'


LOOP_PROGRAM = '{ } loop'   # PostScript that never ends


def install_fake_ghostscript(monkeypatch, folder, marker: str, sleep: float = 5.0) -> str:
    """Put a ``gs`` first on PATH that answers ``--version`` and otherwise creates ``marker`` and sleeps ``sleep``
    seconds (as a looping program keeps the real one busy); make Pillow look for gs again. Returns the path of the
    log of its calls (absent while it was never started)."""
    import PIL.EpsImagePlugin

    bin_dir = os.path.join(str(folder), 'fake-bin')
    os.makedirs(bin_dir, exist_ok=True)
    log = os.path.join(str(folder), 'gs-calls.log')
    script = os.path.join(bin_dir, 'gs')
    with open(script, 'w') as f:
        f.write(f'#!/bin/sh\necho "$@" >> {shlex.quote(log)}\n'
                f'if [ "$1" = "--version" ]; then echo 10.00; exit 0; fi\n'
                f'touch {shlex.quote(str(marker))}\nsleep {sleep:g}\nexit 1\n')
    os.chmod(script, 0o755)
    monkeypatch.setenv('PATH', bin_dir + os.pathsep + os.environ.get('PATH', ''))
    monkeypatch.setattr(PIL.EpsImagePlugin, 'gs_binary', None)
    return log


def measure(fn, timeout: float = 10.0):
    """(seconds, peak RSS growth in bytes, exception or None, finished) of fn() run in a daemon thread; RSS is
    sampled every 2 ms. ``finished`` is False when fn was still running after ``timeout`` seconds."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    outcome: list = []

    def work():
        try:
            fn()
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - reported to the test
            outcome.append(e)

    thread = threading.Thread(target=work, daemon=True)
    start = time.perf_counter()
    thread.start()
    while thread.is_alive() and time.perf_counter() - start < timeout:
        peak = max(peak, proc.memory_info().rss)
        time.sleep(0.002)
    thread.join(0.0)
    elapsed = time.perf_counter() - start
    peak = max(peak, proc.memory_info().rss)
    return elapsed, peak - base, (outcome[0] if outcome else None), bool(outcome)
