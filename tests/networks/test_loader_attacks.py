"""One test per attack class on the loaders (the loader's threat model), with payloads made here
(tests/networks/hostile.py).

1. memory corruption through numpy object arrays (run in a subprocess: it must not die by a signal);
2. process-wide poisoning through BUILD (afterwards a good file loads bit-identical, torch._utils is unchanged);
4. resource exhaustion from small files (each refused within 2 s and 200 MB of RSS growth, measured with psutil);
5. errors escaping the error class (crafted records, wrong kinds of values where networks belong);
6. shared data: one nested storage blob named many times is parsed once, one budget of opcodes covers a file,
   one storage's bytes are materialised once however many records or zip entries name them;
7. names from a file reach messages escaped (no terminal escapes, no lone surrogates).
Class 3 (TorchScript detectors) is in tests/training/metrics/test_detector_trust.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest
import torch

import networks
from networks import PickleError, load_network_pkl, safe_unpickle, save_network_pkl, stylegan2, stylegan3
from networks.pickle_io import FORMAT, _encode

from . import hostile as h
from .nvlabs_fake import dump_nvlabs_pickle

_SMALL = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tiny():
    torch.manual_seed(1)
    G = stylegan3.Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, channel_base=128,
                            channel_max=8)
    D = stylegan2.Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=128, channel_max=8)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.rand_like(p))  # positive offsets: a sign flip or a zeroed tensor cannot go unnoticed
    return G, D


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("good")
    G, D = _tiny()
    save_network_pkl(root / "ours.pkl", {"G_ema": G, "D": D})
    dump_nvlabs_pickle(root / "nvlabs.pkl", G, D, G_ema=G)
    torch.save({"t": torch.arange(1.0, 7.0)}, root / "plain.pt")
    reference = {k: v.clone() for k, v in G.state_dict().items()}
    return dict(ours=root / "ours.pkl", nvlabs=root / "nvlabs.pkl", plain=root / "plain.pt", reference=reference)


def _loads_bit_identical(files) -> None:
    for key in ("ours", "nvlabs"):
        G = load_network_pkl(files[key])["G_ema"]
        state = G.state_dict()
        assert list(state) == list(files["reference"])
        for name, ref in files["reference"].items():
            assert state[name].dtype == ref.dtype and torch.equal(state[name], ref), (key, name)
    assert torch.equal(torch.load(files["plain"], weights_only=True)["t"], torch.arange(1.0, 7.0))


# --------------------------------------------------------------------------------------------------------------
# 1. Memory corruption


_CHILD = """
import io, sys
sys.path.insert(0, {root!r})
import networks
try:
    networks.load_network_pkl(io.BytesIO(bytes.fromhex(sys.argv[1])))
    print('LOADED')
except networks.PickleError as e:
    print('PickleError:', e)
"""


@pytest.mark.parametrize("payload", [
    h.asm(h.EMPTY_DICT, h.V("G_ema"), h.object_ndarray_newobj(), h.SETITEM),
    h.asm(h.EMPTY_DICT, h.V("G_ema"), h.object_ndarray_reconstruct(), h.SETITEM),
    # The crash this guards against: a Generator whose kwargs hold the array; deep-copying the kwargs
    # dereferenced it.
    h.nvlabs_generator(_SMALL, h.V("extra") + h.object_ndarray_newobj()),
    h.nvlabs_generator(_SMALL, h.V("extra") + h.object_ndarray_reconstruct()),
    h.asm(h.EMPTY_DICT, h.V("training_set_kwargs"), h.object_ndarray_reconstruct(), h.SETITEM),
], ids=["newobj", "reconstruct", "newobj-in-kwargs", "reconstruct-in-kwargs", "reconstruct-as-data"])
def test_object_arrays_never_reach_memory(payload):
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(root=ROOT), payload.hex()], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"died with {proc.returncode}: {proc.stderr[-500:]}"  # negative: a signal
    assert proc.stdout.startswith("PickleError:") and "numpy" in proc.stdout, proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 1


def test_persistence_never_deep_copies_object_arrays():
    with pytest.raises(TypeError, match="dtype object"):
        networks.persistence._plain({"x": np.array([None], dtype=object)})


# --------------------------------------------------------------------------------------------------------------
# 2. Poisoning through BUILD


_POISON = [
    # (None, {'__defaults__': ...}) as slot state on the real tensor rebuilder: flips every later tensor's sign.
    h.asm(h.G("torch._utils", "_rebuild_tensor_v2"), h.NONE, h.V({"__defaults__": (None, -1)}), h.TUPLE2, h.BUILD),
    h.asm(h.G("torch._utils", "_rebuild_tensor_v2"), h.V({"__code__": 0}), h.BUILD),
    # BUILD on the EasyDict stand-in class, and state on an EasyDict instance that would replace .items.
    h.asm(h.G("dnnlib.util", "EasyDict"), h.V({"items": None}), h.BUILD),
    h.asm(h.EMPTY_DICT, h.V("training_set_kwargs"), h.G("dnnlib.util", "EasyDict"), h.EMPTY_TUPLE, h.NEWOBJ,
          h.V({"items": None}), h.BUILD, h.SETITEM),
    # The persistence reconstructor and the storage loader, as functions and as records.
    h.asm(h.G("torch_utils.persistence", "_reconstruct_persistent_obj"), h.NONE, h.V({"__kwdefaults__": {}}),
          h.TUPLE2, h.BUILD),
    h.asm(h.G("torch.storage", "_load_from_bytes"), h.V({"__defaults__": (1,)}), h.BUILD),
    h.asm(h.G("collections", "OrderedDict"), h.EMPTY_TUPLE, h.REDUCE, h.V({"x": 1}), h.BUILD),
]


def test_build_cannot_poison_the_process(good_files):
    _loads_bit_identical(good_files)
    functions = [torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.storage._load_from_bytes]
    before = [(f.__defaults__, f.__kwdefaults__, f.__code__, dict(f.__dict__)) for f in functions]
    for payload in _POISON:
        with pytest.raises(PickleError, match="refused"):
            load_network_pkl(io.BytesIO(payload))
    assert [(f.__defaults__, f.__kwdefaults__, f.__code__, dict(f.__dict__)) for f in functions] == before
    _loads_bit_identical(good_files)


# --------------------------------------------------------------------------------------------------------------
# 4. Resource exhaustion


def _measure(fn):
    """(seconds, peak RSS growth in bytes, exception) of fn(); RSS sampled by a psutil thread every 2 ms."""
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        fn()
        err = None
    except Exception as e:  # noqa: BLE001 - reported to the test
        err = e
    elapsed = time.perf_counter() - start
    done.set()
    thread.join()
    peak[0] = max(peak[0], proc.memory_info().rss)
    return elapsed, peak[0] - base, err


def _ours(init_kwargs, state=None) -> bytes:
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "data": {"G_ema": {"__network__": {
        "class_name": "networks.stylegan3.Generator", "init_kwargs": init_kwargs, "state_dict": state or {},
        "stored_half": False}}}}, buf)
    return buf.getvalue()


# The largest architecture the kwargs bounds let through: without its ~10 GB of tensors in the file it is refused.
_AT_BOUNDS = dict(z_dim=4096, c_dim=65536, w_dim=4096, img_resolution=4096, img_channels=16, channel_base=1 << 20,
                  channel_max=4096, num_layers=32, mapping_kwargs={"num_layers": 64})

BOMBS = {
    "memo billion laughs": lambda: h.billion_laughs(60),
    "memo index 2**32-1": lambda: h.asm(h.NONE, b"r\xff\xff\xff\xff"),
    "mapping num_layers 10**7": lambda: h.nvlabs_generator({**_SMALL, "mapping_kwargs": {"num_layers": 10**7}}),
    "ours num_layers 10**7": lambda: _ours({**_SMALL, "mapping_kwargs": {"num_layers": 10**7}}),
    "img_resolution 2**16": lambda: _ours({**_SMALL, "img_resolution": 2**16}),
    "nvlabs img_resolution 2**16": lambda: h.nvlabs_generator({**_SMALL, "img_resolution": 2**16}),
    "kwargs at the bounds, no tensors": lambda: _ours(_AT_BOUNDS),
    "data.pkl inflating to 2 GB": lambda: h.deflated_zip_bomb(2 << 30),
    "nesting 1000 deep": lambda: h.asm(h.MARK * 1000, h.LIST * 1000),
    "huge integer": lambda: h.asm(b"\x8b" + (1 << 30).to_bytes(4, "little"), b"\0" * 64),
    "claimed 8 EB string": lambda: h.asm(b"\x8d" + (1 << 63).to_bytes(8, "little"), b"x" * 64),
    "stride-0 tensor of 2**30 elements": lambda: _nvlabs_value("training_set_kwargs", _tensor_of(
        _storage_blob(2), (2**30,), (0,))),
    "40 views of one 64 KB storage": lambda: _views_of_one_storage(16384, 40),
    # 100 M opcodes when each reference parses the blob again (tens of seconds); 50,000 when it is parsed once.
    "one 100 KB storage blob named 2000 times": lambda: _blob_named_many_times(1, 50_000, 2000),
}


@pytest.fixture(scope="module")
def warm(good_files):
    load_network_pkl(good_files["nvlabs"])  # imports and first-use costs are not the bombs' doing
    load_network_pkl(good_files["ours"])


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_are_refused_fast_and_small(name, warm):
    payload = BOMBS[name]()
    if name != "data.pkl inflating to 2 GB":
        assert len(payload) < 128 << 10
    elapsed, grown, err = _measure(lambda: load_network_pkl(io.BytesIO(payload)))
    assert isinstance(err, PickleError), repr(err)
    assert "\n" not in str(err)
    assert elapsed < 2.0, f"{name}: {elapsed:.2f} s"
    assert grown < 200 << 20, f"{name}: RSS grew {grown >> 20} MB"


# --------------------------------------------------------------------------------------------------------------
# 5. Errors stay in the error class; nothing but our networks comes back as G / G_ema / D


def _nvlabs_value(key: str, value_parts: bytes) -> bytes:
    return h.asm(h.EMPTY_DICT, h.V(key), value_parts, h.SETITEM)


ESCAPES = {
    "unknown kwarg (TypeError)": lambda: _ours({**_SMALL, "not_an_argument": 1}),
    "kwarg of the wrong type": lambda: _ours({**_SMALL, "channel_base": "wide"}),
    "kwargs nested 150 deep (RecursionError)": lambda: _ours({**_SMALL, "mapping_kwargs": _nested(150)}),
    "num_critical = num_layers": lambda: _ours({**_SMALL, "num_layers": 2, "num_critical": 2}),
    "nan kwarg": lambda: _ours({**_SMALL, "magnitude_ema_beta": float("nan")}),
    "state dict of strings": lambda: _ours(_SMALL, {"mapping.w_avg": "x"}),
    "G_ema an ndarray": lambda: _nvlabs_value("G_ema", h.G("numpy.core.multiarray", "_reconstruct") + h.G(
        "numpy", "ndarray") + h.V((0,)) + b"C\x01b" + h.TUPLE3 + h.REDUCE + h.MARK + h.V(1) + h.V((1,)) + h.G(
        "numpy", "dtype") + h.V(("f8", False, True)) + h.REDUCE + h.V(False) + b"C\x08" + b"\0" * 8 + h.TUPLE
        + h.BUILD),
    "G_ema a raw record": lambda: _nvlabs_value("G_ema", h.persistent("AugmentPipe", h.V({}))),
    "G_ema an int": lambda: _nvlabs_value("G_ema", h.V(3)),
    "D a generator": lambda: _ours_keyed("D"),
    "G_ema of an unknown class": lambda: _ours_class("some.module.Generator"),
    "tensor past its storage": lambda: _tensor_past_its_storage(),
    "empty dict": lambda: h.asm(h.EMPTY_DICT),
    "reference cycle": lambda: h.asm(h.EMPTY_LIST, h.PUT(9), h.GET(9), h.APPEND),
    "newline in a kwarg name": lambda: _ours({**_SMALL, "bad\nname": 1}),
    "bfloat16 array record": lambda: _ours_array(torch.zeros(3, dtype=torch.bfloat16)),
    # Python refuses to write an integer of more than 4300 digits as text: every message naming one would fail.
    "5000-digit kwarg, ours": lambda: _ours({**_SMALL, "z_dim": 10**5000}),
    "5000-digit kwarg, NVlabs": lambda: h.nvlabs_generator({**_SMALL, "z_dim": 10**5000}),
    "5000-digit dict key, ours": lambda: _ours({**_SMALL, "mapping_kwargs": {10**5000: 1}}),
    "5000-digit dict key, NVlabs": lambda: _nvlabs_value(10**5000, h.V(1)),
    "empty tensor at offset 2**63": lambda: _nvlabs_value("training_set_kwargs", _tensor_at(_storage_blob(2), 2**63,
                                                                                            (0,), (1,))),
    "empty tensor past its storage": lambda: _nvlabs_value("training_set_kwargs", _tensor_at(_storage_blob(2), 3,
                                                                                            (0,), (1,))),
    "empty array of 2**117 elements otherwise": lambda: _nvlabs_value("training_set_kwargs", _float64_array(
        (0, 2**39, 2**39, 2**39), h.binbytes(b""))),
    "empty tensor of 2**117 elements otherwise": lambda: _nvlabs_value("training_set_kwargs", _tensor_at(
        _storage_blob(0), 0, (0, 2**39, 2**39, 2**39), (1, 1, 1, 1))),
}


def _nested(depth):
    value = {}
    for _ in range(depth):
        value = {"x": value}
    return value


def _ours_keyed(key):
    G, _ = _tiny()
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "data": _encode({"G_ema": G, key: G}, False, "data")}, buf)
    return buf.getvalue()


def _ours_array(tensor):
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "data": {"G_ema": None, "a": {"__ndarray__": tensor}}}, buf)
    return buf.getvalue()


def _ours_class(class_name):
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "data": {"G_ema": {"__network__": {
        "class_name": class_name, "init_kwargs": _SMALL, "state_dict": {}, "stored_half": False}}}}, buf)
    return buf.getvalue()


def _storage_blob(numel: int) -> bytes:
    """Opcodes for torch.storage._load_from_bytes(<legacy torch.save stream of a float32 storage>)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage is deprecated; NVlabs' files are made this way
        blob = torch.zeros(numel).storage().__reduce__()[1][0]
    return (h.G("torch.storage", "_load_from_bytes") + b"B" + len(blob).to_bytes(4, "little") + blob + h.TUPLE1
            + h.REDUCE)


def _tensor_of(storage: bytes, size, stride) -> bytes:
    return _tensor_at(storage, 0, size, stride)


def _tensor_at(storage: bytes, offset: int, size, stride) -> bytes:
    return (h.G("torch._utils", "_rebuild_tensor_v2") + h.MARK + storage + h.V(offset) + h.V(size) + h.V(stride)
            + h.V(False) + h.G("collections", "OrderedDict") + h.EMPTY_TUPLE + h.REDUCE + h.TUPLE + h.REDUCE)


def _float64_array(shape, data: bytes) -> bytes:
    """numpy's own reconstruction of a float64 array of ``shape`` over the bytes that opcodes ``data`` push."""
    dtype = h.G("numpy", "dtype") + h.V(("f8", False, True)) + h.REDUCE
    return (h.G("numpy.core.multiarray", "_reconstruct") + h.G("numpy", "ndarray") + h.V((0,)) + b"C\x01b"
            + h.TUPLE3 + h.REDUCE + h.MARK + h.V(1) + h.V(shape) + dtype + h.V(False) + data + h.TUPLE + h.BUILD)


def _tensor_past_its_storage():
    """_rebuild_tensor_v2(<a 2-element storage>, 0, (10,), (1,), ...) in NVlabs' layout."""
    return _nvlabs_value("training_set_kwargs", _tensor_of(_storage_blob(2), (10,), (1,)))


def _views_of_one_storage(numel: int, count: int) -> bytes:
    """A list of ``count`` full views of one storage (memoised): tensors claiming count x its bytes."""
    views = [_tensor_of(h.GET(5000), (numel,), (1,)) for _ in range(count)]
    return _nvlabs_value("training_set_kwargs", _storage_blob(numel) + h.PUT(5000) + h.POP + h.MARK + b"".join(views)
                         + h.LIST)


@pytest.mark.parametrize("name", list(ESCAPES))
def test_crafted_records_raise_only_pickle_errors(name, warm):
    with pytest.raises(PickleError) as info:
        load_network_pkl(io.BytesIO(ESCAPES[name]()))
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------------------
# 6. Shared data: parsed once, within one budget per file, materialised once


def _blob_named_many_times(numel: int, pad_ops: int, count: int, views: bool = False) -> bytes:
    """{'training_set_kwargs': [count records]}: each record is ``_load_from_bytes`` called again on ONE blob in the
    memo (a few bytes per reference); with ``views``, each is a one-element tensor of that storage instead."""
    blob = h.legacy_storage_stream(numel, pad_ops)
    head = (h.G("torch.storage", "_load_from_bytes") + h.PUT(1) + h.POP + h.binbytes(blob) + h.TUPLE1 + h.PUT(2)
            + h.POP)
    storage = h.GET(1) + h.GET(2) + h.REDUCE
    if views:
        head += (h.G("torch._utils", "_rebuild_tensor_v2") + h.PUT(3) + h.POP + h.G("collections", "OrderedDict")
                 + h.EMPTY_TUPLE + h.REDUCE + h.PUT(4) + h.POP)
        one = (h.GET(3) + h.MARK + storage + h.V(0) + h.V((1,)) + h.V((1,)) + h.V(False) + h.GET(4) + h.TUPLE
               + h.REDUCE)
    else:
        one = storage
    return h.asm(h.EMPTY_DICT, h.V("training_set_kwargs"), head, h.MARK, one * count, h.LIST, h.SETITEM)


@pytest.mark.parametrize("opcodes", [b"\x8b" + (1000).to_bytes(4, "little") + b"\x01" * 1000,
                                     b"L" + b"9" * 500 + b"L\n", b"I" + b"9" * 500 + b"\n"])
def test_integers_are_small(opcodes):
    with pytest.raises(PickleError, match="integer of"):
        safe_unpickle.parse_pickle(h.asm(opcodes))


def test_one_blob_named_many_times_is_parsed_once_and_shared():
    # 50 references to a blob of 20,000 opcodes under a budget of 100,000 for the whole file: it fits only if the
    # blob is parsed once, and then every reference is the one storage.
    data = _blob_named_many_times(3, 20_000, 50)
    tree = safe_unpickle.load_pickle(data, safe_unpickle.Limits(max_ops=100_000))
    storages = tree["training_set_kwargs"]
    assert len(storages) == 50 and all(s is storages[0] for s in storages)


def test_one_opcode_budget_covers_all_pickles_of_a_file():
    # Ten distinct blobs of 20,000 opcodes each: every one fits a budget of 100,000, the file does not.
    blobs = [h.G("torch.storage", "_load_from_bytes") + h.binbytes(h.legacy_storage_stream(3, 20_000)) + h.TUPLE1
             + h.REDUCE for _ in range(10)]
    data = h.asm(h.EMPTY_DICT, h.V("training_set_kwargs"), h.MARK, *blobs, h.LIST, h.SETITEM)
    safe_unpickle.load_pickle(data, safe_unpickle.Limits(max_ops=250_000))  # the whole file fits 250,000
    with pytest.raises(PickleError, match="more than 100000 pickle opcodes in one file"):
        safe_unpickle.load_pickle(data, safe_unpickle.Limits(max_ops=100_000))


def test_views_of_one_blob_share_one_storage():
    data = _blob_named_many_times(1000, 0, 16, views=True)
    tensors = safe_unpickle.materialize(safe_unpickle.load_pickle(data))["training_set_kwargs"]
    assert len(tensors) == 16 and len({t.untyped_storage().data_ptr() for t in tensors}) == 1


def test_one_buffer_is_the_data_of_one_array():
    def arrays(shapes) -> bytes:  # numpy arrays over ONE memoised buffer of 64 bytes
        parts = [h.binbytes(bytes(64)), h.PUT(7), h.POP]
        parts += [_float64_array(shape, h.GET(7)) for shape in shapes]
        return h.asm(h.EMPTY_DICT, h.V("training_set_kwargs"), h.MARK, *parts, h.LIST, h.SETITEM)

    same = safe_unpickle.materialize(safe_unpickle.load_pickle(arrays([(8,), (8,), (8,)])))["training_set_kwargs"]
    assert len(same) == 3 and all(a is same[0] for a in same) and same[0].shape == (8,)
    with pytest.raises(PickleError, match="two different numpy arrays"):
        safe_unpickle.load_pickle(arrays([(8,), (2, 4)]))


_BIG = 2 << 20  # float32 elements: 8 MiB; 128 references copied would be 1 GiB


def _aliased_zip(numel: int, count: int) -> bytes:
    """Our format with ``count`` storages whose zip entries all name the bytes of one (one-element views each)."""
    def tensor(key: str) -> bytes:
        pid = (h.MARK + h.V("storage") + h.G("torch", "FloatStorage") + h.V(key) + h.V("cpu") + h.V(numel)
               + h.TUPLE + b"Q")
        return _tensor_of(pid, (1,), (1,))

    pkl = h.asm(h.EMPTY_DICT, h.V("format"), h.V(FORMAT), h.SETITEM, h.V("data"), h.EMPTY_DICT, h.V("G_ema"),
                h.NONE, h.SETITEM, h.V("x"), h.MARK, *(tensor(str(i)) for i in range(count)), h.LIST, h.SETITEM,
                h.SETITEM)
    members = {"archive/data.pkl": pkl, "archive/byteorder": b"little", "archive/data/0": bytes(4 * numel)}
    return h.stored_zip(members, {f"archive/data/{i}": "archive/data/0" for i in range(1, count)})


def test_aliased_zip_entries_are_refused():
    with pytest.raises(PickleError, match="aliased"):
        load_network_pkl(io.BytesIO(_aliased_zip(1000, 2)))


# A fresh process: memory freed by earlier tests would be reused without showing as growth. ru_maxrss is the peak.
_PEAK_CHILD = """
import io, resource, sys
sys.path.insert(0, {root!r})
import networks
data = open(sys.argv[1], 'rb').read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    networks.load_network_pkl(io.BytesIO(data))
    print('loaded')
except networks.PickleError as e:
    print('PickleError:', e)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.parametrize("fmt", ["nvlabs memo", "ours aliased entries"])
def test_one_storage_named_many_times_is_materialised_once(fmt, tmp_path):
    payload = (_blob_named_many_times(_BIG, 0, 128, views=True) if fmt == "nvlabs memo"
               else _aliased_zip(_BIG, 128))
    assert len(payload) < 9 << 20
    (tmp_path / "shared.pkl").write_bytes(payload)
    proc = subprocess.run([sys.executable, "-c", _PEAK_CHILD.format(root=ROOT), str(tmp_path / "shared.pkl")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-500:]
    outcome, grown = proc.stdout.strip().splitlines()
    # NVlabs: refused for holding no generator, after loading its one storage; ours: refused as aliased.
    assert outcome.startswith("PickleError:"), outcome
    assert int(grown) < 300 << 20, f"{fmt}: peak RSS grew {int(grown) >> 20} MB"


# --------------------------------------------------------------------------------------------------------------
# 7. Names from a file are escaped in messages


@pytest.mark.parametrize("name", ["\x1b]0;owned\x07\x1b[2J\x1b[31mGenerator", "Gen\ud800erator", "Gen\u202eerator",
                                  "Gen\x9berator"], ids=["ESC and OSC", "lone surrogate", "bidi override", "C1 CSI"])
def test_class_names_reach_messages_escaped(name):
    with pytest.raises(PickleError) as info:
        load_network_pkl(io.BytesIO(_nvlabs_value("G_ema", h.persistent(name, h.V({})))))
    text = str(info.value)
    assert text.isprintable() and "\n" not in text
    text.encode("utf-8")  # a lone surrogate would raise here, as it does in print()
    assert "\\x1b" in text or "\\ud800" in text or "\\u202e" in text or "\\x9b" in text
