"""Hostile pickles for the loader tests, assembled opcode by opcode (no attacker code is imported to make them).

``asm(*parts)`` joins raw opcodes and the helpers below into a protocol-2 pickle. ``V(obj)`` inlines a plain
value (pickled by the standard library without memo entries, so the memo slots used here stay ours).
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib

MARK, STOP, TUPLE, REDUCE, BUILD, NEWOBJ = b"(", b".", b"t", b"R", b"b", b"\x81"
EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, DICT, SETITEM, SETITEMS = b"}", b"]", b")", b"d", b"s", b"u"
APPEND, LIST, NONE, TUPLE1, TUPLE2, TUPLE3, DUP, POP = b"a", b"l", b"N", b"\x85", b"\x86", b"\x87", b"2", b"0"


def G(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def V(value) -> bytes:
    """A plain value (str, int, float, tuple, dict of plain values) as opcodes, without memo entries."""
    buf = io.BytesIO()
    p = pickle._Pickler(buf, protocol=2)
    p.fast = True  # no memo: PUT/GET would collide with the slots these payloads use
    p.dump(value)
    return buf.getvalue()[2:-1]


def PUT(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def GET(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def asm(*parts: bytes) -> bytes:
    return b"\x80\x02" + b"".join(parts) + STOP


def persistent(class_name: str, state_parts: bytes) -> bytes:
    """NVlabs' ``_reconstruct_persistent_obj({'type': 'class', 'class_name': ..., 'state': <state_parts>})``."""
    return (G("torch_utils.persistence", "_reconstruct_persistent_obj") + MARK + EMPTY_DICT
            + V("type") + V("class") + SETITEM + V("version") + V(6) + SETITEM
            + V("module_src") + V("raise RuntimeError('executed')") + SETITEM
            + V("class_name") + V(class_name) + SETITEM + V("state") + state_parts + SETITEM + TUPLE + REDUCE)


def nvlabs_generator(init_kwargs: dict, extra_kwarg: bytes = b"") -> bytes:
    """{'G_ema': <an NVlabs StyleGAN3 Generator record with these kwargs and no tensors>}.

    ``extra_kwarg``: opcodes pushing one more (name, value) pair into the kwargs (e.g. a hostile object).
    """
    synthesis = persistent("SynthesisNetwork", V({"_modules": {"input": None}}))
    kwargs = V(init_kwargs) + (extra_kwarg + SETITEM if extra_kwarg else b"")
    state = EMPTY_DICT + V("_init_kwargs") + kwargs + SETITEM + V("_modules") + EMPTY_DICT + V(
        "synthesis") + synthesis + SETITEM + SETITEM
    return asm(EMPTY_DICT, V("G_ema"), persistent("Generator", state), SETITEM)


def object_ndarray_newobj() -> bytes:
    """NEWOBJ of numpy.ndarray: an object array over attacker bytes (a pointer to address 0x4141414141414141)."""
    dtype = G("numpy", "dtype") + V(("O8", False, True)) + REDUCE
    return G("numpy", "ndarray") + MARK + V((1,)) + dtype + b"C\x08" + b"A" * 8 + TUPLE + NEWOBJ


def object_ndarray_reconstruct() -> bytes:
    """numpy's own reconstruction path with an object dtype and a raw pointer as its data."""
    dtype = G("numpy", "dtype") + V(("O8", False, True)) + REDUCE + V((3, "|", None, None, None, -1, -1, 63)) + BUILD
    return (G("numpy.core.multiarray", "_reconstruct") + G("numpy", "ndarray") + V((0,)) + b"C\x01b" + TUPLE3
            + REDUCE + MARK + V(1) + V((1,)) + dtype + V(False) + b"C\x08" + b"A" * 8 + TUPLE + BUILD)


def billion_laughs(levels: int = 60) -> bytes:
    """A list of two references to a list of two references ... : 2**levels leaves from ~10 bytes per level."""
    parts = [V("lol"), PUT(1000), POP]
    for i in range(levels):
        parts += [MARK, GET(1000 + i), GET(1000 + i), LIST, PUT(1001 + i), POP]
    return asm(EMPTY_DICT, V("training_set_kwargs"), *parts, GET(1000 + levels), SETITEM)


def deflated_zip_bomb(inflated: int = 2 << 30, name: str = "archive/data.pkl") -> bytes:
    """A zip whose one member is a real deflate stream of ``inflated`` zero bytes (built in ~0.1 s).

    After a full flush the compressor's state repeats, so one compressed chunk is repeated. The CRC is left 0:
    a loader must refuse the member before inflating it, so it never gets to check the CRC.
    """
    chunk = 1 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)
    steady = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)
    body = first + steady * (inflated // chunk - 1) + comp.flush(zlib.Z_FINISH)
    fname = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(body), inflated, len(fname), 0) + fname
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(body), inflated,
                          len(fname), 0, 0, 0, 0, 0, 0) + fname
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(body), 0)
    return local + body + central + end


def legacy_storage_stream(numel: int, pad_ops: int = 0) -> bytes:
    """The bytes ``torch.storage._load_from_bytes`` takes (a legacy ``torch.save`` stream of a float32 storage of
    ``numel`` zeros), with ``pad_ops`` harmless opcodes (NONE, POP) in its first pickle: work for a parser."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated; NVlabs' files are made this way
        blob = torch.zeros(numel).storage().__reduce__()[1][0]
    assert blob[:2] == b"\x80\x02"
    return blob[:2] + (NONE + POP) * (pad_ops // 2) + blob[2:]


def binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def stored_zip(members: dict[str, bytes], aliases: dict[str, str] | None = None) -> bytes:
    """An uncompressed zip of ``members``; each of ``aliases`` (name -> member) is one more central-directory entry
    whose bytes are that member's (the same local header): many names, one copy of the bytes in the file."""
    out, central, where = bytearray(), bytearray(), {}
    for name, data in members.items():
        fname, crc = name.encode(), zlib.crc32(data)
        where[name] = (len(out), crc, len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(fname), 0)
        out += fname + data
    entries = [(name, name) for name in members] + list((aliases or {}).items())
    for name, target in entries:
        offset, crc, size = where[target]
        fname = name.encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, size, size, len(fname),
                               0, 0, 0, 0, 0, offset) + fname
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(out), 0)
    return bytes(out + central + end)
