"""The one restricted unpickler for network pickles (ours and NVlabs') and detector pickles.

Nothing from a file is ever called, by construction:

1. **Parse** (:func:`parse_pickle`): a pickle virtual machine of our own. ``GLOBAL``/``STACK_GLOBAL`` resolve an
   allow-listed name to an inert :class:`Global` record (a name, never the real torch or numpy callable);
   ``REDUCE``/``NEWOBJ`` only ever produce a :class:`Call` record (callee and arguments, nothing is called);
   ``BUILD`` only attaches state to such a record, once; ``SETITEM(S)``/``APPEND(S)``/``ADDITEMS`` act only on
   real dicts, lists and sets or on a record. Opcodes that import or call anything else (``INST``, ``OBJ``,
   ``EXT*``, out-of-band buffers) are refused. The memo is a dict (no memo-index bomb), every length is
   checked against the bytes actually present, and integers are small. One :class:`Budget` of opcodes covers a
   whole file: its outer pickle and every pickle nested in it together.
2. **Validate** (:func:`validate`): the record tree is walked once per object (memoised references are
   followed once), with bounded depth, bounded unique nodes and a bounded *expanded* size (a "billion laughs"
   of shared references is refused, not expanded). Each record is checked against the one shape it may have
   (a tensor: storage, offset, sizes and strides inside the storage's real bytes; an ndarray: numeric dtype,
   raw bytes of exactly the right length; ...) and turned into a plain tree whose leaves are specs
   (:class:`TensorSpec`, :class:`ArraySpec`, :class:`BytesSpec`, :class:`PersistentSpec`). No tensor exists yet.
   Shared data stays shared: one nested storage blob is parsed once however many records name it, and the bytes
   the file makes the loader allocate are counted once per distinct buffer against one cap.
3. **Materialize** (:func:`materialize`): our code builds tensors and arrays from the validated specs, each
   storage once (views of one storage share it; nothing is copied per reference).

Containers: :func:`read_torch_zip` reads ``torch.save`` zips (our format) with the same machine; members must be
stored uncompressed (``torch.save`` never compresses), so no decompression happens at all, and ``data.pkl`` is
capped, and members whose bytes overlap (aliased entries: one storage's bytes under many names) are refused.
NVlabs' nested storage blobs (``torch.storage._load_from_bytes``, legacy ``torch.save`` streams) are parsed by
the same machine, within the same budget. Every failure is a :class:`networks.errors.PickleError` with a
one-line reason (printable: names from the file are escaped).
"""

from __future__ import annotations

import bisect
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .errors import PickleError, printable

__all__ = ['Limits', 'Global', 'Call', 'Persistent', 'StorageSpec', 'TensorSpec', 'ArraySpec', 'BytesSpec',
           'PersistentSpec', 'Budget', 'parse_pickle', 'validate', 'materialize', 'load_pickle', 'read_torch_zip',
           'walk_unique']


@dataclass(frozen=True)
class Limits:
    """Bounds on what one file may make the loader do; the defaults fit real networks with a wide margin."""

    max_ops: int = 5_000_000           # pickle opcodes executed per file (nested pickles included)
    max_nodes: int = 2_000_000         # unique objects in the record tree
    max_expanded: int = 5_000_000      # objects counted once per reference (shared references expanded)
    max_depth: int = 100               # nesting of containers and records
    max_data_pkl: int = 256 << 20      # bytes of a zip's data.pkl
    max_total_bytes: int = 16 << 30    # bytes materialised: storages, arrays, byte strings (each buffer once)
    max_ndim: int = 8
    max_str: int = 1 << 20             # bytes of one string (NVlabs' embedded module source is ~100 KB)


DEFAULT_LIMITS = Limits()


def _one_line(text, limit: int = 300) -> str:
    return printable(text, limit)


class Budget:
    """The work one file may make the loader do: pickle opcodes, counted over the file's outer pickle and every
    pickle nested in it (storage blobs) together, so no arrangement of references multiplies it."""

    def __init__(self, limits: Limits | None = None):
        self.max_ops = (limits or DEFAULT_LIMITS).max_ops
        self.ops = 0  # opcodes executed so far, by every pickle of the file


# ------------------------------------------------------------------------------------------------------------
# Records made by the parser: inert data, never called.


@dataclass(frozen=True, eq=False)
class Global:
    """An allow-listed global, by canonical name only (e.g. ``'tensor_v2'``, ``'storage:float32'``)."""

    name: str
    origin: str  # 'module.name' as written in the file, for messages

    def __reduce__(self):  # a record is never pickled again
        raise TypeError('records are not picklable')


@dataclass(eq=False)
class Call:
    """``func(*args)`` as the file asked for it (``REDUCE``/``NEWOBJ``), plus ``BUILD`` state and items."""

    func: Global
    args: tuple
    kind: str                      # 'reduce' or 'newobj'
    state: Any = None
    has_state: bool = False
    items: list = field(default_factory=list)   # (key, value) pairs from SETITEM(S)


@dataclass(eq=False)
class Persistent:
    """A persistent id (``BINPERSID``): a storage reference in torch files."""

    pid: Any


_STORAGE_DTYPES = {
    'FloatStorage': torch.float32, 'DoubleStorage': torch.float64, 'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16, 'ByteStorage': torch.uint8, 'CharStorage': torch.int8,
    'ShortStorage': torch.int16, 'IntStorage': torch.int32, 'LongStorage': torch.int64, 'BoolStorage': torch.bool,
}
_TORCH_DTYPES = {str(d).removeprefix('torch.'): d for d in
                 (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.uint8, torch.int8, torch.int16,
                  torch.int32, torch.int64, torch.bool)}
_NUMPY_CODES = {'b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8'}

_ALLOWED_GLOBALS: dict[tuple[str, str], str] = {
    ('collections', 'OrderedDict'): 'OrderedDict',
    ('dnnlib.util', 'EasyDict'): 'EasyDict',
    ('torch_utils.persistence', '_reconstruct_persistent_obj'): 'persistent_obj',
    ('torch._utils', '_rebuild_tensor_v2'): 'tensor_v2',
    ('torch._utils', '_rebuild_tensor'): 'tensor',
    ('torch._utils', '_rebuild_parameter'): 'parameter',
    ('torch._utils', '_rebuild_parameter_with_state'): 'parameter',
    ('torch.storage', '_load_from_bytes'): 'storage_from_bytes',
    ('builtins', 'set'): 'set',
    ('builtins', 'frozenset'): 'frozenset',
    ('numpy', 'ndarray'): 'np_ndarray',
    ('numpy', 'dtype'): 'np_dtype',
    ('numpy.core.multiarray', '_reconstruct'): 'np_reconstruct',
    ('numpy._core.multiarray', '_reconstruct'): 'np_reconstruct',
    ('numpy.core.multiarray', 'scalar'): 'np_scalar',
    ('numpy._core.multiarray', 'scalar'): 'np_scalar',
    **{('torch', name): f'storage:{name}' for name in _STORAGE_DTYPES},
    **{('torch', name): f'dtype:{name}' for name in _TORCH_DTYPES},
}


def resolve_global(module: str, name: str) -> Global:
    """The inert record for an allowed global; PickleError naming it otherwise."""
    canonical = _ALLOWED_GLOBALS.get((module, name))
    if canonical is None:
        hint = ' (a TensorFlow-era pickle: convert it with NVlabs\' legacy tools first)' if 'tflib' in module else ''
        raise PickleError(f'refused global {_one_line(module, 80)}.{_one_line(name, 80)}: not allowed in a network '
                          f'pickle{hint}')
    return Global(canonical, f'{module}.{name}')


# ------------------------------------------------------------------------------------------------------------
# 1. The pickle machine.


_TEXT_LINE_MAX = 512
# A network pickle's integers are small (the largest, the legacy torch magic number, has 10 bytes). Bounding them
# keeps arithmetic cheap and every integer printable: Python refuses to turn one of over 4300 digits into text.
_LONG_BYTES_MAX = 64


class _Machine:
    """Runs one pickle from ``buf[pos:]``; see the module docstring for what each opcode may do."""

    def __init__(self, buf: memoryview, pos: int, limits: Limits, budget: Budget):
        self.buf, self.pos, self.end, self.limits, self.budget = buf, pos, len(buf), limits, budget
        self.stack: list = []
        self.metastack: list = []
        self.memo: dict = {}

    # -- reading
    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > self.end:
            raise PickleError('truncated or corrupt pickle (data ends early)')
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, size: int):
        return struct.unpack(fmt, self.take(size))[0]

    def line(self) -> str:
        stop = min(self.end, self.pos + _TEXT_LINE_MAX)
        chunk = bytes(self.buf[self.pos:stop])
        nl = chunk.find(b'\n')
        if nl < 0:
            raise PickleError('truncated or corrupt pickle (text argument without end of line)')
        self.pos += nl + 1
        return chunk[:nl].decode('ascii')

    def text(self, n: int) -> str:
        if n > self.limits.max_str:
            raise PickleError(f'a string of {n} bytes is longer than allowed ({self.limits.max_str})')
        return bytes(self.take(n)).decode('utf-8', 'surrogatepass')

    # -- stack
    def pop_mark(self) -> list:
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def run(self) -> tuple[Any, int]:
        ops = 0
        left = self.budget.max_ops - self.budget.ops  # what the file's earlier pickles left of its budget
        dispatch = _DISPATCH
        try:
            while True:
                if self.pos >= self.end:
                    raise PickleError('truncated or corrupt pickle (no STOP opcode)')
                op = self.buf[self.pos]
                self.pos += 1
                ops += 1
                if ops > left:
                    raise PickleError(f'more than {self.budget.max_ops} pickle opcodes in one file: refused')
                handler = dispatch.get(op)
                if handler is None:
                    raise PickleError(_refused_opcode(op))
                if handler(self):
                    return self.stack.pop(), self.pos
        except PickleError:
            raise
        except Exception as err:  # only our own data-structure code runs here: any failure means a corrupt file
            raise PickleError(f'truncated or corrupt pickle at byte {self.pos} ({type(err).__name__}: '
                              f'{_one_line(err, 120)})') from None
        finally:
            self.budget.ops += ops


def _refused_opcode(op: int) -> str:
    names = {ord('i'): 'INST', ord('o'): 'OBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER',
             0x98: 'READONLY_BUFFER', ord('S'): 'STRING'}
    if op in names:
        return f'refused pickle opcode {names[op]}: not allowed in a network pickle'
    return f'truncated or corrupt pickle (unknown opcode 0x{op:02x})'


def _push(value):
    return lambda m: m.stack.append(value)


def _op_proto(m):
    if m.take(1)[0] > 5:
        raise PickleError('unsupported pickle protocol')


def _op_frame(m):
    m.take(8)  # frames are a buffering hint; the bytes are contiguous here


def _op_stop(m):
    return True


def _op_mark(m):
    m.metastack.append(m.stack)
    m.stack = []


def _op_pop(m):
    if m.stack:
        m.stack.pop()
    else:
        m.pop_mark()


def _small_int(value: int) -> int:
    if value.bit_length() > 8 * _LONG_BYTES_MAX:
        raise PickleError(f'an integer of more than {_LONG_BYTES_MAX} bytes: refused')
    return value


def _op_int(m):
    text = m.line()
    m.stack.append(False if text == '00' else True if text == '01' else _small_int(int(text)))


def _op_long(m):
    m.stack.append(_small_int(int(m.line().rstrip('L'))))


def _op_long_n(size_fmt, size_len):
    def op(m):
        n = m.unpack(size_fmt, size_len)
        if n < 0 or n > _LONG_BYTES_MAX:
            raise PickleError(f'an integer of {n} bytes: refused')
        m.stack.append(int.from_bytes(m.take(n), 'little', signed=True))
    return op


def _op_num(fmt, size):
    return lambda m: m.stack.append(m.unpack(fmt, size))


def _op_float(m):
    m.stack.append(float(m.line()))


def _op_unicode_n(fmt, size):
    return lambda m: m.stack.append(m.text(m.unpack(fmt, size)))


def _op_unicode_line(m):
    m.stack.append(m.line().encode('ascii').decode('raw-unicode-escape'))


def _op_binstring(fmt, size):
    def op(m):
        n = m.unpack(fmt, size)
        if n > m.limits.max_str:
            raise PickleError(f'a string of {n} bytes is longer than allowed')
        m.stack.append(bytes(m.take(n)).decode('ascii'))
    return op


def _op_bytes(fmt, size):
    return lambda m: m.stack.append(m.take(m.unpack(fmt, size)))  # a zero-copy view of the file


# The mark is popped before ``m.stack`` is looked up: ``m.stack.append(m.pop_mark())`` would push onto the
# list that was just popped.
def _op_list(m):
    items = m.pop_mark()
    m.stack.append(items)


def _op_tuple(m):
    items = tuple(m.pop_mark())
    m.stack.append(items)


def _op_tuple_n(n):
    def op(m):
        if len(m.stack) < n:
            raise PickleError('truncated or corrupt pickle (stack underflow)')
        items = m.stack[-n:]
        del m.stack[-n:]
        m.stack.append(tuple(items))
    return op


def _op_dict(m):
    items = m.pop_mark()
    if len(items) % 2:
        raise PickleError('truncated or corrupt pickle (odd number of dict items)')
    m.stack.append({items[i]: items[i + 1] for i in range(0, len(items), 2)})


def _setitems(target, pairs):
    if type(target) is dict:
        for k, v in pairs:
            target[k] = v
    elif isinstance(target, Call):
        target.items.extend(pairs)
    else:
        raise PickleError(f'refused SETITEM on a {type(target).__name__}')


def _op_setitem(m):
    value = m.stack.pop()
    key = m.stack.pop()
    _setitems(m.stack[-1], [(key, value)])


def _op_setitems(m):
    items = m.pop_mark()
    if len(items) % 2:
        raise PickleError('truncated or corrupt pickle (odd number of dict items)')
    _setitems(m.stack[-1], [(items[i], items[i + 1]) for i in range(0, len(items), 2)])


def _op_append(m):
    value = m.stack.pop()
    target = m.stack[-1]
    if type(target) is not list:
        raise PickleError(f'refused APPEND on a {type(target).__name__}')
    target.append(value)


def _op_appends(m):
    items = m.pop_mark()
    target = m.stack[-1]
    if type(target) is not list:
        raise PickleError(f'refused APPENDS on a {type(target).__name__}')
    target.extend(items)


def _op_additems(m):
    items = m.pop_mark()
    target = m.stack[-1]
    if type(target) is not set:
        raise PickleError(f'refused ADDITEMS on a {type(target).__name__}')
    target.update(items)


def _op_frozenset(m):
    items = frozenset(m.pop_mark())
    m.stack.append(items)


def _op_global(m):
    module = m.line()
    name = m.line()
    m.stack.append(resolve_global(module, name))


def _op_stack_global(m):
    name = m.stack.pop()
    module = m.stack.pop()
    if type(module) is not str or type(name) is not str:
        raise PickleError('truncated or corrupt pickle (STACK_GLOBAL needs two strings)')
    m.stack.append(resolve_global(module, name))


def _callee(value, opcode: str) -> Global:
    if not isinstance(value, Global):
        raise PickleError(f'refused {opcode} on a {type(value).__name__}: only allow-listed globals may be named')
    return value


def _op_reduce(m):
    args = m.stack.pop()
    func = _callee(m.stack.pop(), 'REDUCE')
    if type(args) is not tuple:
        raise PickleError('truncated or corrupt pickle (REDUCE arguments are not a tuple)')
    m.stack.append(Call(func, args, 'reduce'))


def _op_newobj(m):
    args = m.stack.pop()
    cls = _callee(m.stack.pop(), 'NEWOBJ')
    if type(args) is not tuple:
        raise PickleError('truncated or corrupt pickle (NEWOBJ arguments are not a tuple)')
    m.stack.append(Call(cls, args, 'newobj'))


def _op_newobj_ex(m):
    kwargs = m.stack.pop()
    args = m.stack.pop()
    cls = _callee(m.stack.pop(), 'NEWOBJ_EX')
    if type(args) is not tuple or type(kwargs) is not dict or kwargs:
        raise PickleError('refused NEWOBJ_EX with keyword arguments')
    m.stack.append(Call(cls, args, 'newobj'))


def _op_build(m):
    state = m.stack.pop()
    target = m.stack[-1]
    if not isinstance(target, Call):
        raise PickleError(f'refused BUILD on a {type(target).__name__}: only records of this loader take state')
    if target.has_state:
        raise PickleError('refused a second BUILD on the same object')
    target.state, target.has_state = state, True


def _op_put_line(m):
    m.memo[int(m.line())] = m.stack[-1]


def _op_put(fmt, size):
    def op(m):
        m.memo[m.unpack(fmt, size)] = m.stack[-1]
    return op


def _op_memoize(m):
    m.memo[len(m.memo)] = m.stack[-1]


def _get(m, idx):
    try:
        m.stack.append(m.memo[idx])
    except KeyError:
        raise PickleError(f'truncated or corrupt pickle (memo entry {idx} was never stored)') from None


def _op_get_line(m):
    _get(m, int(m.line()))


def _op_get(fmt, size):
    return lambda m: _get(m, m.unpack(fmt, size))


def _op_persid_line(m):
    m.stack.append(Persistent(m.line()))


def _op_binpersid(m):
    m.stack.append(Persistent(m.stack.pop()))


def _op_dup(m):
    m.stack.append(m.stack[-1])


def _op_empty(factory):
    return lambda m: m.stack.append(factory())


_DISPATCH: dict[int, Callable[[_Machine], Any]] = {
    0x80: _op_proto, 0x95: _op_frame, ord('.'): _op_stop, ord('('): _op_mark, ord('0'): _op_pop,
    ord('1'): lambda m: m.pop_mark(), ord('2'): _op_dup,
    ord('N'): _push(None), 0x88: _push(True), 0x89: _push(False),
    ord('I'): _op_int, ord('J'): _op_num('<i', 4), ord('K'): _op_num('<B', 1), ord('M'): _op_num('<H', 2),
    ord('L'): _op_long, 0x8a: _op_long_n('<B', 1), 0x8b: _op_long_n('<i', 4),
    ord('F'): _op_float, ord('G'): _op_num('>d', 8),
    ord('V'): _op_unicode_line, ord('X'): _op_unicode_n('<I', 4), 0x8c: _op_unicode_n('<B', 1),
    0x8d: _op_unicode_n('<Q', 8),
    ord('T'): _op_binstring('<i', 4), ord('U'): _op_binstring('<B', 1),
    ord('B'): _op_bytes('<I', 4), ord('C'): _op_bytes('<B', 1), 0x8e: _op_bytes('<Q', 8), 0x96: _op_bytes('<Q', 8),
    ord(']'): _op_empty(list), ord('l'): _op_list, ord('a'): _op_append, ord('e'): _op_appends,
    ord(')'): _op_empty(tuple), ord('t'): _op_tuple, 0x85: _op_tuple_n(1), 0x86: _op_tuple_n(2),
    0x87: _op_tuple_n(3),
    ord('}'): _op_empty(dict), ord('d'): _op_dict, ord('s'): _op_setitem, ord('u'): _op_setitems,
    0x8f: _op_empty(set), 0x90: _op_additems, 0x91: _op_frozenset,
    ord('c'): _op_global, 0x93: _op_stack_global,
    ord('R'): _op_reduce, 0x81: _op_newobj, 0x92: _op_newobj_ex, ord('b'): _op_build,
    ord('p'): _op_put_line, ord('q'): _op_put('<B', 1), ord('r'): _op_put('<I', 4), 0x94: _op_memoize,
    ord('g'): _op_get_line, ord('h'): _op_get('<B', 1), ord('j'): _op_get('<I', 4),
    ord('P'): _op_persid_line, ord('Q'): _op_binpersid,
}


def parse_pickle(data: bytes | bytearray | memoryview, pos: int = 0, limits: Limits = DEFAULT_LIMITS,
                 budget: Budget | None = None) -> tuple[Any, int]:
    """Runs one pickle starting at ``pos``: (record tree, position after STOP). Nothing is called.

    ``budget``: the file's opcode budget, shared with its other pickles (a fresh one when None).
    """
    buf = memoryview(data).cast('B') if not isinstance(data, memoryview) else data
    return _Machine(buf, pos, limits, budget if budget is not None else Budget(limits)).run()


# ------------------------------------------------------------------------------------------------------------
# 2. Validation: record tree -> plain tree with spec leaves. No tensor or array is built here.


@dataclass(eq=False)
class StorageSpec:
    """A storage whose bytes exist in the file: ``read()`` returns exactly ``nbytes`` bytes."""

    dtype: torch.dtype
    numel: int
    read: Callable[[], memoryview]

    @property
    def nbytes(self) -> int:
        return self.numel * _itemsize(self.dtype)


@dataclass(eq=False)
class TensorSpec:
    """A strided view of a storage, checked to lie inside it."""

    storage: StorageSpec
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def dtype(self) -> torch.dtype:
        return self.storage.dtype


@dataclass(eq=False)
class ArraySpec:
    """A numeric numpy array: dtype from our allow-list, raw bytes of exactly the right length."""

    dtype: np.dtype
    shape: tuple[int, ...]
    raw: memoryview
    fortran: bool


@dataclass(eq=False)
class BytesSpec:
    """A bytes value (kept as a view of the file until materialized)."""

    data: memoryview


@dataclass(eq=False)
class PersistentSpec:
    """An NVlabs persistent object as data: class name and validated state; its module source is never used."""

    class_name: str
    state: dict
    module_src_len: int


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


StorageResolver = Callable[[Any], StorageSpec]


class _Validator:
    def __init__(self, limits: Limits, resolve_storage: StorageResolver | None, budget: Budget):
        self.limits = limits
        self.resolve_storage = resolve_storage
        self.budget = budget
        self.done: dict[int, Any] = {}
        self.active: set[int] = set()
        self.expanded: dict[int, int] = {}
        self.nodes = 0
        self.storages: dict[int, StorageSpec] = {}
        # Specs by the file buffer (a memoryview from the pickle) they are made of: a blob or an array's bytes named
        # by many records (through the memo) gives one spec, so it is parsed once and materialised once.
        self.blobs: dict[int, StorageSpec] = {}
        self.arrays: dict[int, ArraySpec] = {}
        self.total_bytes = 0    # bytes materialise() will allocate: storages, arrays, byte strings, each once
        self.storage_bytes = 0  # of which tensor storages
        self.tensor_bytes = 0  # all tensors' elements: many views of one storage could otherwise multiply it

    def charge(self, nbytes: int) -> None:
        self.total_bytes += nbytes
        if self.total_bytes > self.limits.max_total_bytes:
            raise PickleError(f'tensors, arrays and bytes exceed {self.limits.max_total_bytes} bytes: refused')

    def add_storage(self, spec: StorageSpec) -> None:
        if id(spec) not in self.storages:
            self.storages[id(spec)] = spec
            self.storage_bytes += spec.nbytes
            self.charge(spec.nbytes)

    # The expanded size counts an object once per reference: shared references cannot multiply work later.
    def size_of(self, node) -> int:
        return self.expanded.get(id(node), 1)

    def check(self, node, depth: int = 0):
        if node is None or type(node) in (bool, int, float, str):
            return node
        key = id(node)
        if key in self.done:
            return self.done[key]
        if key in self.active:
            raise PickleError('refused a reference cycle in the pickle')
        if depth > self.limits.max_depth:
            raise PickleError(f'nesting deeper than {self.limits.max_depth}: refused')
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise PickleError(f'more than {self.limits.max_nodes} objects: refused')
        self.active.add(key)
        try:
            out, children = self.convert(node, depth + 1)
        finally:
            self.active.discard(key)
        size = 1 + sum(self.size_of(c) for c in children)
        if size > self.limits.max_expanded:
            raise PickleError(f'shared references expand to more than {self.limits.max_expanded} objects '
                              '("billion laughs"): refused')
        self.done[key] = out
        self.expanded[key] = size
        return out

    def convert(self, node, depth):
        t = type(node)
        if t is memoryview:
            self.charge(len(node))
            return BytesSpec(node), ()
        if t is list:
            return [self.check(v, depth) for v in node], node
        if t is tuple:
            return tuple(self.check(v, depth) for v in node), node
        if t is dict:
            return self.mapping(node.items(), depth), [*node.keys(), *node.values()]
        if t in (set, frozenset):
            for v in node:
                if type(v) not in (bool, int, float, str) and v is not None:
                    raise PickleError(f'refused a set holding a {type(v).__name__}')
            return t(node), ()
        if t is Global:
            if node.name.startswith('dtype:'):
                return _TORCH_DTYPES[node.name[6:]], ()
            raise PickleError(f'refused global {node.origin} used as a value')
        if t is Call:
            return self.call(node, depth)
        if t is Persistent:
            return self.storage(node), ()
        raise PickleError(f'refused a {t.__name__} in the pickle')

    def mapping(self, pairs, depth) -> dict:
        out = {}
        for k, v in pairs:
            if type(k) not in (str, int):
                raise PickleError(f'refused a dict key of type {type(k).__name__}')
            out[k] = self.check(v, depth)
        return out

    def storage(self, node: Persistent) -> StorageSpec:
        if self.resolve_storage is None:
            raise PickleError('refused a persistent id in a plain pickle')
        spec = self.resolve_storage(node.pid)
        self.add_storage(spec)
        return spec

    def call(self, node: Call, depth):
        name = node.func.name
        handler = _CALLS.get(name)
        if handler is None or (node.kind == 'newobj') != (name == 'EasyDict'):
            raise PickleError(f'refused {"NEWOBJ" if node.kind == "newobj" else "REDUCE"} of {node.func.origin}')
        if name not in ('EasyDict', 'OrderedDict') and node.items:
            raise PickleError(f'refused dict items on {node.func.origin}')
        if name not in ('np_reconstruct', 'np_dtype') and node.has_state and node.state not in (None, {}):
            raise PickleError(f'refused BUILD state on {node.func.origin}')
        return handler(self, node, depth)


def _want(cond: bool, what: str):
    if not cond:
        raise PickleError(f'malformed {what}')


def _is_int(x) -> bool:
    return type(x) is int


def _call_dict(v: _Validator, node: Call, depth):
    if node.func.name == 'OrderedDict' and node.args:  # protocol 0/1 style: OrderedDict([(k, v), ...])
        _want(len(node.args) == 1 and type(node.args[0]) is list
              and all(type(p) in (list, tuple) and len(p) == 2 for p in node.args[0]), 'OrderedDict arguments')
        pairs = [tuple(p) for p in node.args[0]] + node.items
    else:
        _want(not node.args, f'{node.func.origin} arguments')
        pairs = node.items
    return v.mapping(pairs, depth), [x for p in pairs for x in p]


def _call_set(v: _Validator, node: Call, depth):
    _want(len(node.args) <= 1, 'set arguments')
    items = node.args[0] if node.args else []
    _want(type(items) in (list, tuple), 'set arguments')
    for x in items:
        _want(type(x) in (bool, int, float, str) or x is None, 'set member')
    return (set if node.func.name == 'set' else frozenset)(items), ()


def _call_persistent(v: _Validator, node: Call, depth):
    _want(len(node.args) == 1 and type(node.args[0]) is dict, 'NVlabs persistent object')
    meta = node.args[0]
    _want(meta.get('type') == 'class' and type(meta.get('class_name')) is str, 'NVlabs persistent object')
    state = meta.get('state')
    _want(state is None or type(state) is dict or (isinstance(state, Call) and state.func.name == 'EasyDict'),
          'NVlabs persistent object state')
    src = meta.get('module_src')
    _want(src is None or type(src) is str, 'NVlabs persistent object source')
    checked = v.check(state, depth) if state is not None else {}
    return PersistentSpec(_one_line(meta['class_name'], 100), checked, len(src or '')), [state]


_MAX_ELEMENTS = 2 ** 40


def _shape(value, what: str, limits: Limits, sizes: bool = True) -> tuple[int, ...]:
    """A tuple of sizes (or, ``sizes=False``, of strides), each in range."""
    _want(type(value) is tuple and len(value) <= limits.max_ndim and all(_is_int(s) and 0 <= s < _MAX_ELEMENTS
                                                                          for s in value), what)
    # Zero-size shapes too: their other dimensions together stay in range (numpy and torch refuse more).
    _want(not sizes or math.prod(max(s, 1) for s in value) < _MAX_ELEMENTS, f'{what} (too many elements)')
    return value


def _tensor_spec(v: _Validator, storage, offset, size, stride) -> TensorSpec:
    _want(isinstance(storage, StorageSpec), 'tensor (its storage is not a storage)')
    _want(_is_int(offset) and 0 <= offset <= storage.numel, 'tensor offset')  # == numel: an empty tail view
    size = _shape(size, 'tensor size', v.limits)
    stride = _shape(stride, 'tensor stride', v.limits, sizes=False)
    _want(len(size) == len(stride), 'tensor (size and stride differ in length)')
    numel = math.prod(size)
    if numel > 0:
        last = offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= storage.numel:
            raise PickleError(f'a tensor of size {list(size)} reaches past its storage of {storage.numel} elements')
    if numel > storage.numel:  # overlapping strides (e.g. 0) would let a tiny storage stand for a huge tensor
        raise PickleError(f'a tensor of size {list(size)} has more elements than its storage ({storage.numel})')
    v.tensor_bytes += numel * _itemsize(storage.dtype)
    return TensorSpec(storage, offset, size, stride)


def _empty_hooks(value) -> bool:
    if value is None or value == {}:
        return True
    return isinstance(value, Call) and value.func.name == 'OrderedDict' and not value.items and not value.args


def _call_tensor(v: _Validator, node: Call, depth):
    args = node.args
    if node.func.name == 'tensor_v2':
        _want(len(args) in (6, 7), 'tensor arguments')
        _want(type(args[4]) is bool and _empty_hooks(args[5]), 'tensor (requires_grad or hooks)')
        _want(len(args) == 6 or args[6] is None or args[6] == {} or _empty_hooks(args[6]), 'tensor metadata')
    else:
        _want(len(args) == 4, 'tensor arguments')
    storage = v.check(args[0], depth)
    return _tensor_spec(v, storage, *args[1:4]), [args[0]]


def _call_parameter(v: _Validator, node: Call, depth):
    args = node.args
    _want(len(args) in (3, 4) and type(args[1]) is bool and _empty_hooks(args[2]), 'parameter arguments')
    _want(len(args) == 3 or args[3] is None or args[3] == {} or _empty_hooks(args[3]), 'parameter state')
    data = v.check(args[0], depth)
    _want(isinstance(data, TensorSpec), 'parameter (not a tensor)')
    return data, [args[0]]


_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c


def _storage_class(value) -> torch.dtype:
    _want(isinstance(value, Global) and value.name.startswith('storage:'), 'storage type')
    return _STORAGE_DTYPES[value.name[8:]]


def _call_storage_from_bytes(v: _Validator, node: Call, depth):
    """NVlabs' nested storage blob: a legacy ``torch.save`` stream of one storage, parsed with this machine.

    One blob named by many records (the memo lets a file repeat a reference for a few bytes) is parsed once and
    gives one storage, shared by all of them.
    """
    _want(len(node.args) == 1 and type(node.args[0]) is memoryview, 'storage blob')
    blob = node.args[0]
    if id(blob) in v.blobs:
        return v.blobs[id(blob)], ()
    pos = 0
    values = []
    for _ in range(4):  # magic number, protocol version, system info, the object
        value, pos = parse_pickle(blob, pos, v.limits, v.budget)
        values.append(value)
    magic, protocol, sys_info, obj = values
    _want(magic == _LEGACY_MAGIC and protocol == 1001, 'storage blob (not a legacy torch stream)')
    _want(type(sys_info) is dict and sys_info.get('little_endian') is True, 'storage blob (not little-endian)')
    _want(isinstance(obj, Persistent) and type(obj.pid) is tuple and len(obj.pid) == 6, 'storage blob object')
    kind, storage_type, key, _location, numel, view = obj.pid
    dtype = _storage_class(storage_type)
    _want(kind == 'storage' and type(key) is str and _is_int(numel) and numel >= 0 and view is None,
          'storage blob persistent id')
    keys, pos = parse_pickle(blob, pos, v.limits, v.budget)
    _want(keys == [key], 'storage blob keys')
    machine = _Machine(blob, pos, v.limits, v.budget)
    stored = machine.unpack('<q', 8)
    _want(stored == numel, 'storage blob (element count disagrees)')
    raw = machine.take(numel * _itemsize(dtype))
    spec = StorageSpec(dtype, numel, lambda raw=raw: raw)
    v.blobs[id(blob)] = spec
    v.add_storage(spec)
    return spec, ()


def _np_dtype(v: _Validator, value) -> np.dtype:
    _want(isinstance(value, Call) and value.func.name == 'np_dtype', 'numpy dtype')
    args = value.args
    _want(len(args) == 3 and type(args[0]) is str and args[0] in _NUMPY_CODES, 'numpy dtype (not a plain number '
          'type)')
    order = '|'
    if value.has_state:
        state = value.state
        _want(type(state) is tuple and len(state) >= 2 and state[1] in ('<', '>', '|', '='), 'numpy dtype state')
        _want(all(x is None for x in state[2:5]), 'numpy dtype (structured or object dtypes are refused)')
        order = state[1]
    code = args[0]
    dtype = np.dtype(code if code in ('b1', 'i1', 'u1') else ('=' if order == '|' else order) + code)
    return dtype


def _call_np_dtype(v: _Validator, node: Call, depth):
    return _np_dtype(v, node), ()


def _call_np_reconstruct(v: _Validator, node: Call, depth):
    args = node.args
    _want(len(args) == 3 and isinstance(args[0], Global) and args[0].name == 'np_ndarray', 'numpy array')
    _want(node.has_state and type(node.state) is tuple and len(node.state) == 5, 'numpy array state')
    version, shape, dtype, fortran, raw = node.state
    shape = _shape(shape, 'numpy array shape', v.limits)
    dtype = _np_dtype(v, dtype)
    _want(type(fortran) is bool and type(raw) is memoryview, 'numpy array (only raw numeric data is allowed)')
    _want(len(raw) == math.prod(shape) * dtype.itemsize, 'numpy array (data length disagrees with its shape)')
    spec = v.arrays.get(id(raw))
    if spec is not None:  # the same bytes named again (through the memo): the same array, or refused
        if (spec.dtype, spec.shape, spec.fortran) != (dtype, shape, fortran):
            raise PickleError('refused one buffer used as the data of two different numpy arrays')
        return spec, ()
    spec = ArraySpec(dtype, shape, raw, fortran)
    v.arrays[id(raw)] = spec
    v.charge(len(raw))
    return spec, ()


def _call_np_scalar(v: _Validator, node: Call, depth):
    _want(len(node.args) == 2 and type(node.args[1]) is memoryview, 'numpy scalar')
    dtype = _np_dtype(v, node.args[0])
    _want(len(node.args[1]) == dtype.itemsize, 'numpy scalar (data length)')
    return np.frombuffer(bytes(node.args[1]), dtype=dtype)[0].item(), ()


_CALLS = {
    'OrderedDict': _call_dict, 'EasyDict': _call_dict, 'set': _call_set, 'frozenset': _call_set,
    'persistent_obj': _call_persistent, 'tensor_v2': _call_tensor, 'tensor': _call_tensor,
    'parameter': _call_parameter, 'storage_from_bytes': _call_storage_from_bytes, 'np_dtype': _call_np_dtype,
    'np_reconstruct': _call_np_reconstruct, 'np_scalar': _call_np_scalar,
}


def validate(tree, limits: Limits = DEFAULT_LIMITS, resolve_storage: StorageResolver | None = None,
             budget: Budget | None = None):
    """The record tree as plain data with spec leaves, or PickleError. See the module docstring.

    ``budget``: the file's opcode budget, which nested storage blobs spend too (pass the one its outer pickle
    was parsed with).
    """
    validator = _Validator(limits, resolve_storage, budget if budget is not None else Budget(limits))
    try:
        out = validator.check(tree)
    except RecursionError:
        raise PickleError('nesting too deep: refused') from None
    if validator.tensor_bytes > 2 * validator.storage_bytes + (1 << 20):
        raise PickleError(f'tensors claim {validator.tensor_bytes} bytes from {validator.storage_bytes} bytes of '
                          'storage: refused')
    return out


# ------------------------------------------------------------------------------------------------------------
# 3. Materialization: our code builds tensors and arrays from validated specs.


def _storage_tensor(spec: StorageSpec) -> torch.Tensor:
    raw = spec.read()
    if len(raw) != spec.nbytes:
        raise PickleError('a tensor storage has fewer bytes than its header says')
    if spec.numel == 0:  # an empty byte tensor cannot be viewed as a wider dtype
        return torch.empty(0, dtype=spec.dtype)
    # A fresh, aligned copy: the result never aliases the file buffer.
    flat = torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).copy())
    if spec.dtype == torch.bool:
        return flat != 0  # any byte other than 0/1 would be an invalid bool
    return flat.view(spec.dtype)


def materialize(tree, leaf: Callable[[Any, Callable[[Any], Any]], Any] | None = None):
    """Builds tensors, arrays and bytes from a validated tree; ``leaf(node, recurse)`` handles other leaf types.

    Shared nodes are built once; a tree from :func:`validate` is bounded in depth, so recursion is bounded.
    """
    storages: dict[int, torch.Tensor] = {}
    done: dict[int, Any] = {}

    def build(node):
        if node is None or type(node) in (bool, int, float, str, torch.dtype, set, frozenset):
            return node
        key = id(node)
        if key in done:
            return done[key]
        t = type(node)
        if t is TensorSpec:
            sid = id(node.storage)
            if sid not in storages:
                storages[sid] = _storage_tensor(node.storage)
            out = torch.as_strided(storages[sid], node.size, node.stride, node.offset)
        elif t is ArraySpec:
            out = np.frombuffer(node.raw, dtype=node.dtype).reshape(node.shape, order='F' if node.fortran else 'C')
            out = out.copy()
        elif t is BytesSpec:
            out = bytes(node.data)
        elif t is list:
            out = [build(x) for x in node]
        elif t is tuple:
            out = tuple(build(x) for x in node)
        elif t is dict:
            out = {k: build(x) for k, x in node.items()}
        elif leaf is not None:
            out = leaf(node, build)
        else:
            raise PickleError(f'a {t.__name__} cannot be loaded here')
        done[key] = out
        return out

    return build(tree)


def walk_unique(tree, visit: Callable[[Any], bool]) -> bool:
    """Calls ``visit`` on every node of a validated tree once (shared nodes once); True as soon as one is True."""
    seen: set[int] = set()
    todo = [tree]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if visit(node):
            return True
        if type(node) in (list, tuple):
            todo.extend(node)
        elif type(node) is dict:
            todo.extend(node.values())
        elif type(node) is PersistentSpec:
            todo.append(node.state)
    return False


# ------------------------------------------------------------------------------------------------------------
# Containers


def load_pickle(data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS):
    """A plain pickle (NVlabs' format, detector pickles) -> validated tree with spec leaves."""
    budget = Budget(limits)
    tree, _ = parse_pickle(data, 0, limits, budget)
    return validate(tree, limits, budget=budget)


_KEY = re.compile(r'[A-Za-z0-9_.]{1,64}')


def read_torch_zip(data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS):
    """A ``torch.save`` zip -> validated tree with spec leaves; storages are read lazily, each exactly once."""
    import io

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = {info.filename: info for info in archive.infolist()}
    except Exception as err:  # zipfile raises many types on corrupt directories
        raise PickleError(f'truncated or corrupt file (not a readable zip: {_one_line(err, 120)})') from None
    pkl_names = [n for n in infos if n.endswith('/data.pkl') and n.count('/') == 1]
    if len(pkl_names) != 1:
        raise PickleError('truncated or corrupt file (a zip without exactly one data.pkl)')
    prefix = pkl_names[0][: -len('data.pkl')]

    view = memoryview(data).cast('B') if not isinstance(data, memoryview) else data
    # Byte ranges of the members used so far, sorted: two central-directory entries may not share bytes (one
    # storage's bytes under many names would be materialised once per name).
    starts: list[int] = []
    ends: list[int] = []

    def claim(name: str, start: int, end: int) -> None:
        if start == end:
            return
        i = bisect.bisect_right(starts, start)
        if (i > 0 and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
            raise PickleError(f'refused zip member {name}: its bytes overlap another member\'s (aliased entries)')
        starts.insert(i, start)
        ends.insert(i, end)

    def locate(name: str, expected: int | None, cap: int) -> tuple[int, int, int]:
        """(start, end, CRC) of a stored member's bytes in the file, after checking its bounds; claimed."""
        info = infos.get(name)
        if info is None:
            raise PickleError(f'truncated or corrupt file ({name} is missing)')
        if info.compress_type != zipfile.ZIP_STORED:
            raise PickleError(f'refused compressed zip member {name} (torch.save never compresses)')
        if info.file_size > cap or (expected is not None and info.file_size != expected):
            raise PickleError(f'truncated or corrupt file ({name} has {info.file_size} bytes, expected '
                              f'{expected if expected is not None else f"at most {cap}"})')
        start = info.header_offset
        header = bytes(view[start:start + 30])
        if len(header) != 30 or header[:4] != b'PK\x03\x04':
            raise PickleError(f'truncated or corrupt file ({name}: bad local header)')
        start += 30 + int.from_bytes(header[26:28], 'little') + int.from_bytes(header[28:30], 'little')
        if info.compress_size != info.file_size or start + info.file_size > len(view):
            raise PickleError(f'truncated or corrupt file ({name} reaches past the end)')
        claim(name, start, start + info.file_size)
        return start, start + info.file_size, info.CRC

    def read(name: str, start: int, end: int, crc: int) -> memoryview:
        """A located member as a zero-copy view of the file, after checking its CRC."""
        out = view[start:end]
        if zlib.crc32(out) != crc:
            raise PickleError(f'truncated or corrupt file ({name}: checksum mismatch)')
        return out

    def read_member(name: str, expected: int | None, cap: int) -> memoryview:
        return read(name, *locate(name, expected, cap))

    if prefix + 'byteorder' in infos and bytes(read_member(prefix + 'byteorder', None, 16)) != b'little':
        raise PickleError('refused a big-endian torch file')
    pkl = read_member(pkl_names[0], None, limits.max_data_pkl)
    storages: dict[str, StorageSpec] = {}

    def resolve(pid) -> StorageSpec:
        _want(type(pid) is tuple and len(pid) == 5 and pid[0] == 'storage', 'persistent id')
        _kind, storage_type, key, _location, numel = pid
        dtype = _storage_class(storage_type)
        _want(type(key) is str and _KEY.fullmatch(key) is not None and _is_int(numel) and numel >= 0,
              'persistent id')
        if key in storages:
            _want(storages[key].dtype == dtype and storages[key].numel == numel, 'persistent id (reused key)')
            return storages[key]
        name = f'{prefix}data/{key}'
        nbytes = numel * _itemsize(dtype)
        info = infos.get(name)
        if info is None or info.file_size != nbytes or info.compress_type != zipfile.ZIP_STORED:
            raise PickleError(f'truncated or corrupt file (storage {key}: member missing, compressed or of the '
                              f'wrong size)')
        where = locate(name, nbytes, nbytes)
        spec = StorageSpec(dtype, numel, lambda: read(name, *where))
        storages[key] = spec
        return spec

    budget = Budget(limits)
    tree, _ = parse_pickle(pkl, 0, limits, budget)
    return validate(tree, limits, resolve, budget)
