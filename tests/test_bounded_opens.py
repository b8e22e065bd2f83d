"""The places that used to read a user's file with a plain ``open`` now go through networks.file_io.open_regular:
a FIFO, a symlink to /dev/zero or a file beyond the cap is one line, at once, and nothing blocks or grows.

Covered: the detector file (loading it and the key its cached statistics are filed under), the network pickle
check of the command lines (``tools.cli.network_pkl``, before any tool loads it), and a folder dataset's images at
open. Each case runs in a thread with a timeout (a reader stuck on a FIFO is unblocked afterwards).
"""

from __future__ import annotations

import argparse
import os
import struct
import zlib

import pytest

from networks import pickle_io
from tests.networks.hostile_images import measure
from tools import cli
from training.dataset import DatasetError, ImageFolderDataset
from training.metrics import detector as detector_lib


def _png(size: int = 16) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    raw = b''.join(b'\0' + bytes(3 * size) for _ in range(size))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))


def _hostile(path, kind: str, big: int, start: bytes = b'') -> None:
    """Makes ``path`` a FIFO, a symlink to /dev/zero, or a regular file of ``big`` bytes: ``start``, then zeros
    (sparse)."""
    if kind == 'fifo':
        os.mkfifo(path)
    elif kind == 'devzero':
        os.symlink('/dev/zero', path)
    else:
        with open(path, 'wb') as f:
            f.write(start)
            f.truncate(big)


REASONS = {'fifo': 'a FIFO', 'devzero': 'a character device', 'oversize': 'more than the'}
KINDS = tuple(REASONS)


def _one_line(fn, expected: type[BaseException], fifo: str | None = None) -> str:
    elapsed, grown, err, finished = measure(fn, timeout=10)
    if not finished and fifo:
        try:   # let the stuck reader go before failing
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert finished, 'hangs'
    assert isinstance(err, expected), repr(err)
    text = str(err)
    assert '\n' not in text and elapsed < 2.0 and grown < 300 << 20, (text, elapsed, grown >> 20)
    return text


@pytest.mark.parametrize('kind', KINDS)
def test_detector_file(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(detector_lib, 'MAX_DETECTOR_BYTES', 1 << 20)
    path = str(tmp_path / 'inception.pkl')
    _hostile(path, kind, (1 << 20) + 1)
    for trust in (False, True):    # trusting a detector's code does not make an unbounded file readable
        text = _one_line(lambda trust=trust: detector_lib.load_detector(path, trust=trust),
                         detector_lib.DetectorError, path)
        assert REASONS[kind] in text and 'inception.pkl' in text
    text = _one_line(lambda: detector_lib.detector_key(path), detector_lib.DetectorError, path)
    assert REASONS[kind] in text


def test_detector_key_is_the_content_hash(tmp_path):
    a, b = tmp_path / 'a.pkl', tmp_path / 'b.pkl'
    a.write_bytes(b'\x80\x04detector')
    b.write_bytes(b'\x80\x04detector')
    assert detector_lib.detector_key(str(a)) == detector_lib.detector_key(str(b))
    b.write_bytes(b'\x80\x04other')
    assert detector_lib.detector_key(str(a)) != detector_lib.detector_key(str(b))


@pytest.mark.parametrize('kind', KINDS)
def test_network_pickle_argument(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(pickle_io, 'max_pickle_file_bytes', lambda: 1 << 20)
    path = str(tmp_path / 'net.pkl')
    _hostile(path, kind, (1 << 20) + 1)
    text = _one_line(lambda: cli.network_pkl(path), argparse.ArgumentTypeError, path)
    assert REASONS[kind] in text and 'net.pkl' in text


def test_network_pickle_argument_still_reads_the_head(tmp_path):
    good, bad = tmp_path / 'good.pkl', tmp_path / 'bad.pkl'
    good.write_bytes(b'PK\x03\x04rest')
    bad.write_bytes(b'GIF89a')
    assert cli.network_pkl(str(good)) == str(good)
    with pytest.raises(argparse.ArgumentTypeError, match='not a network pickle'):
        cli.network_pkl(str(bad))


@pytest.mark.parametrize('kind', KINDS)
def test_folder_dataset_image_at_open(tmp_path, kind):
    folder = tmp_path / 'data'
    folder.mkdir()
    for i in range(3):
        (folder / f'{i}.png').write_bytes(_png())
    # beyond what a 16x16 image file may hold (networks.image_io caps the bytes it reads by the declared size)
    _hostile(str(folder / 'x.png'), kind, 64 << 20, start=_png())    # a valid 16x16 PNG, then 64 MiB
    text = _one_line(lambda: ImageFolderDataset(str(folder)), DatasetError, str(folder / 'x.png'))
    reason = 'too large for a 16x16 image' if kind == 'oversize' else REASONS[kind]
    assert "'x.png'" in text and reason in text, text
    skip = ImageFolderDataset(str(folder), bad_images='skip')
    assert [name for name, _ in skip.skipped_at_open] == ['x.png'] and len(skip) == 3
