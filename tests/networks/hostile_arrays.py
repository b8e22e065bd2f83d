"""Hostile .npy / .npz files, built byte by byte (a header that declares what its data is not, a zip whose
directory says what its members are not), and seeded mutations of valid files for the fuzz tests."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

TIB = 1 << 40


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def npy_header(shape, descr: str = '<f8', fortran: bool = False, version: tuple[int, int] = (1, 0),
               header_text: str | None = None) -> bytes:
    """The magic string and header of a .npy file declaring ``shape`` and ``descr`` (no data)."""
    text = header_text if header_text is not None else \
        f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {tuple(shape)!r}, }}"
    length_format = '<H' if version[0] == 1 else '<I'
    prefix = 6 + 2 + struct.calcsize(length_format)
    text += ' ' * ((-(prefix + len(text) + 1)) % 64) + '\n'
    return b'\x93NUMPY' + bytes(version) + struct.pack(length_format, len(text)) + text.encode('latin-1')


@dataclass
class Member:
    """A zip member as written: ``data`` already compressed for ``method``; ``file_size`` and ``crc`` are what the
    directory claims (the true values unless a test lies)."""

    name: str
    data: bytes
    method: int = zipfile.ZIP_STORED
    file_size: int | None = None
    crc: int | None = None
    flags: int = 0


def stored(name: str, payload: bytes) -> Member:
    return Member(name, payload, zipfile.ZIP_STORED, len(payload), zlib.crc32(payload))


def deflated(name: str, payload: bytes) -> Member:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member(name, c.compress(payload) + c.flush(), zipfile.ZIP_DEFLATED, len(payload), zlib.crc32(payload))


def raw_zip(members: list[Member]) -> bytes:
    """A zip archive written field by field, so that its directory can say anything."""
    out, central = io.BytesIO(), io.BytesIO()
    for m in members:
        name = m.name.encode('utf-8')
        size = len(m.data) if m.file_size is None else m.file_size
        crc = zlib.crc32(m.data) if m.crc is None else m.crc
        offset = out.tell()
        out.write(struct.pack('<4s5H3L2H', b'PK\x03\x04', 20, m.flags, m.method, 0, 0, crc, len(m.data), size,
                              len(name), 0) + name + m.data)
        central.write(struct.pack('<4s6H3L5H2L', b'PK\x01\x02', 20, 20, m.flags, m.method, 0, 0, crc, len(m.data),
                                  size, len(name), 0, 0, 0, 0, 0, offset) + name)
    directory = central.getvalue()
    start = out.tell()
    out.write(directory)
    out.write(struct.pack('<4s4H2LH', b'PK\x05\x06', 0, 0, len(members), len(members), len(directory), start, 0))
    return out.getvalue()


def zeros_bomb(name: str, uncompressed: int, header: bytes) -> Member:
    """A deflated member of ``header`` and then zeros up to ``uncompressed`` bytes, compressed about 1000:1 (a
    16 MiB block compressed once and repeated: blocks after a full flush do not refer back)."""
    block = 16 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    zeros = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    count = (uncompressed - len(header)) // block
    data = head + zeros * count + c.flush()
    crc = zlib.crc32(header)
    chunk = bytes(block)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    return Member(name, data, zipfile.ZIP_DEFLATED, len(header) + count * block, crc)


def valid_npz(compressed: bool) -> bytes:
    """A small .npz of the kinds of arrays the project stores (floats, ints, a 0-d string, a bool, an empty one)."""
    rng = np.random.default_rng(5)
    arrays = dict(w=rng.standard_normal((4, 16)).astype(np.float32), num=np.array(10), source=np.array('net.pkl'),
                  flag=np.array(True), empty=np.zeros((0, 3)), f=np.asfortranarray(np.arange(12.).reshape(3, 4)))
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One seeded mutation of ``data``: flipped bits, overwritten or inserted bytes, a cut, a repeated slice, or a
    digit of a .npy header changed (shapes and lengths)."""
    out = bytearray(data)
    kind = rng.randrange(7)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        i = rng.randrange(len(out))
        out[i:i + rng.randint(1, 8)] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif kind == 2:
        return bytes(out[:rng.randrange(len(out))])
    elif kind == 3:
        i = rng.randrange(len(out))
        out[i:i] = bytes(rng.choice((0, 0xff, 0x7f, 0x80)) for _ in range(rng.randint(1, 16)))
    elif kind == 4:
        i = rng.randrange(len(out))
        j = min(len(out), i + rng.randint(1, 256))
        out[j:j] = out[i:j] * rng.randint(1, 4)
    elif kind == 5:   # a digit in a header: shapes, lengths
        digits = [i for i, b in enumerate(out) if 0x30 <= b <= 0x39]
        if digits:
            i = rng.choice(digits)
            out[i:i + 1] = rng.choice((b'9', b'99999', b'0', b'-1', b'7' * 30))
    else:   # a 16- or 32-bit field (zip sizes, counts, offsets; header lengths) set to an extreme
        i = rng.randrange(max(1, len(out) - 4))
        out[i:i + 4] = struct.pack('<L', rng.choice((0, 1, 0xffff, 0x7fffffff, 0xffffffff)))
    return bytes(out)


def valid_members() -> list[tuple[str, bytes]]:
    """(name, .npy bytes) of the members of :func:`valid_npz`."""
    with zipfile.ZipFile(io.BytesIO(valid_npz(False))) as z:
        return [(info.filename, z.read(info)) for info in z.infolist()]


def mutated_npz(rng: random.Random) -> bytes:
    """A seeded hostile .npz: half are byte mutations of a whole valid archive (most end in a bad CRC or a broken
    directory); half rebuild a valid archive around one mutated member, with true sizes and CRC, so that the
    mutation reaches the .npy header and data checks."""
    if rng.random() < 0.5:
        return mutate(valid_npz(rng.random() < 0.5), rng)
    members = valid_members()
    i = rng.randrange(len(members))
    members[i] = (members[i][0], mutate(members[i][1], rng))
    pack = deflated if rng.random() < 0.5 else stored
    return raw_zip([pack(name, payload) for name, payload in members])
