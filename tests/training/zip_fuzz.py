"""Mutation fuzz of dataset zips, run in its own process by test_dataset_zip_fuzz.py.

``python -m tests.training.zip_fuzz --cases N --seed S --workdir DIR`` builds one valid small dataset zip
(16 RGB PNGs of 8x8, stored and deflated members alternating, and a dataset.json of class labels), then for each
case makes a mutation of it (seeded by S and the case number) and feeds it to

- the training-set reader (``training.dataset.ImageFolderDataset``, what ``tools.train`` and ``tools.train_slice``
  open ``--data`` with), with labels, in both bad-image modes, reading every item as the training loop does;
- ``tools.dataset_tool``'s conversion (``training.dataset_convert.convert_dataset``) with the zip as its source,
  on both ``--on-error`` modes, and the reader again on what it wrote.

Each case prints one JSON line: its number, the kind of mutation, each consumer's outcome (``loaded``,
``refused: <error class>`` or ``escape: <exception>``), the seconds it took and any wrong image it produced. Before
a case starts, a ``{"start": i}`` line is printed, so the parent names the case that hangs. The last line holds
the process's peak resident memory (VmHWM).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import struct
import sys
import time
import zipfile
import zlib

import numpy as np
import PIL.Image

from networks.errors import UserError
from training.dataset import ImageFolderDataset
from training.dataset_convert import convert_dataset

IMAGES = 16
SIDE = 8
CLASSES = 4
NAMES = [f'{i // 8:05d}/img{i:08d}.png' for i in range(IMAGES)]

# (offset, size) of the fields of a local file header, a central directory entry and the end record
LOCAL_FIELDS = [(0, 4), (4, 2), (6, 2), (8, 2), (10, 2), (12, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)]
CENTRAL_FIELDS = [(0, 4), (4, 2), (6, 2), (8, 2), (10, 2), (12, 2), (14, 2), (16, 4), (20, 4), (24, 4), (28, 2),
                  (30, 2), (32, 2), (34, 2), (36, 2), (38, 4), (42, 4)]
END_FIELDS = [(0, 4), (4, 2), (6, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]
INTERESTING = [0, 1, 2, 7, 8, 9, 12, 14, 99, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]

# Values for "labels" (and for the whole of dataset.json) that a hostile author would write.
HOSTILE_JSON = [
    '{"labels": null}', '{}', '[]', '"labels"', 'null', '3', '{"labels": 7}', '{"labels": "x"}',
    '{"labels": [1, 2, 3]}', '{"labels": [[1, 2, 3]]}', '{"labels": {"a": 1}}', '{"labels": [["a"]]}',
    '{"labels": [[null, 1]]}', '{"labels": ' + '[' * 5000 + ']' * 5000 + '}', '[' * 100000,
    '{"labels": [["x", ' + '9' * 5000 + ']]}', '{"labels": [["x", 1e400]]}', '{"labels": [["x", NaN]]}',
    '\ufeff{"labels": null}', '{"labels": [["x", 1]], "labels": 5}', '{"a": "' + 'z' * 200000 + '"}',
]


def make_png(i: int) -> bytes:
    rng = np.random.default_rng(i)
    buf = io.BytesIO()
    PIL.Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8), 'RGB').save(buf, 'PNG')
    return buf.getvalue()


def dataset_json(labels: list | dict | None = None) -> str:
    labels = [[name, i % CLASSES] for i, name in enumerate(NAMES)] if labels is None else labels
    return json.dumps({'labels': labels})


def build_zip(json_text: str | bytes | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as zf:
        for i, name in enumerate(NAMES):
            method = zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), make_png(i), compress_type=method)
        text = dataset_json() if json_text is None else json_text
        zf.writestr(zipfile.ZipInfo('dataset.json', (2020, 1, 1, 0, 0, 0)), text,
                    compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


class Layout:
    """Where things are in the valid archive: local headers, member data, central entries, the end record."""

    def __init__(self, data: bytes):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            self.central_start = zf.start_dir
        self.locals, self.data = [], []
        for info in infos:
            name_len, extra_len = struct.unpack_from('<HH', data, info.header_offset + 26)
            start = info.header_offset + 30 + name_len + extra_len
            self.locals.append(info.header_offset)
            self.data.append((start, start + info.compress_size))
        self.centrals = []
        at = self.central_start
        while data[at:at + 4] == b'PK\x01\x02':
            self.centrals.append(at)
            name_len, extra_len, comment_len = struct.unpack_from('<HHH', data, at + 28)
            at += 46 + name_len + extra_len + comment_len
        self.end = data.rfind(b'PK\x05\x06')
        self.json_index = [info.filename for info in infos].index('dataset.json')


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    """64 MiB of zeros, raw-deflated (about 64 KiB)."""
    if not _BOMB:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        _BOMB.append(deflate.compress(bytes(64 << 20)) + deflate.flush())
    return _BOMB[0]


def _set_field(data: bytearray, at: int, size: int, rng: random.Random) -> None:
    old = int.from_bytes(data[at:at + size], 'little')
    choice = rng.random()
    if choice < 0.5:
        value = rng.choice(INTERESTING)
    elif choice < 0.8:
        value = old + rng.choice([-2, -1, 1, 2, 16, -16, 1000, -1000])
    else:
        value = rng.getrandbits(8 * size)
    data[at:at + size] = (value % (1 << (8 * size))).to_bytes(size, 'little')


def _bytes(data: bytearray, start: int, end: int, rng: random.Random) -> None:
    """Flip bits in, overwrite or insert/delete a few bytes of data[start:end]."""
    end = max(end, start + 1)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(start, min(end, len(data))) if start < len(data) else len(data) - 1
        what = rng.random()
        if what < 0.5:
            data[at] ^= 1 << rng.randrange(8)
        elif what < 0.8:
            data[at] = rng.randrange(256)
        elif what < 0.9:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            del data[at:at + rng.randint(1, 8)]


def _json_bytes(rng: random.Random) -> bytes:
    text = bytearray(dataset_json().encode())
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(text))
        what = rng.random()
        if what < 0.3:
            text[at] = rng.choice(b'[]{}",:0123456789-.eE \\nultrfa\x00\xff')
        elif what < 0.5:
            del text[at:at + rng.randint(1, 20)]
        elif what < 0.7:
            text[at:at] = text[rng.randrange(len(text)):][:rng.randint(1, 40)]
        elif what < 0.85:
            text[at] ^= 1 << rng.randrange(8)
        else:
            text[at:at] = rng.choice([b'[' * 40, b'{"a":' * 40, b'9' * 400, b'1e999', b'"\\ud800"', b'-0', b'NaN'])
    return bytes(text)


def _json_values(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(HOSTILE_JSON)
    labels: list = [[name, i % CLASSES] for i, name in enumerate(NAMES)]
    as_dict = as_tuples = False
    for _ in range(rng.randint(1, 3)):
        pairs = [j for j, pair in enumerate(labels) if isinstance(pair, list) and len(pair) == 2]
        i = rng.choice(pairs) if pairs else 0
        what = rng.randrange(9)
        if what == 0 and pairs:
            labels[i][1] = rng.choice([-1, 100000, 10**18, 1.5, True, None, 'cat', [], {}, [1, [2]], 1e308])
        elif what == 1 and pairs:
            labels[i][1] = [rng.random() for _ in range(rng.randint(0, 3))]
        elif what == 2:
            labels = [[name, [float(j), 1.0]] for j, name in enumerate(NAMES)]
            labels[rng.randrange(IMAGES)][1] = rng.choice([[1.0], [1.0, 'x'], [1.0, None], 3])
        elif what == 3 and labels:
            del labels[rng.randrange(len(labels))]
        elif what == 4 and pairs:
            labels[i][0] = rng.choice(['', '../' + labels[i][0], labels[i][0].upper(), 'dataset.json', '\x00'])
        elif what == 5:
            labels.append(rng.choice([[], [1, 2], ['a', 1, 2], 'x', None, [NAMES[0], 2]]))
        elif what == 6:
            as_dict = True
        elif what == 7:
            labels *= rng.choice([2, 100])
        else:
            as_tuples = True    # JSON has no tuples: the same text, reached another way
    if as_dict:
        return json.dumps({'labels': {str(pair[0]): pair[1] for pair in labels
                                      if isinstance(pair, list) and len(pair) == 2}})
    if as_tuples:
        labels = [tuple(pair) if isinstance(pair, list) else pair for pair in labels]
    return json.dumps({'labels': labels})


KINDS = ('any_bytes', 'local_header', 'member_data', 'central_directory', 'end_record', 'cut_or_extend',
         'member_names', 'json_bytes', 'json_values')


def mutate(valid: bytes, layout: Layout, case: int, seed: int) -> tuple[str, bytes]:
    rng = random.Random(seed * 1_000_003 + case)
    kind = KINDS[case % len(KINDS)]
    data = bytearray(valid)
    member = rng.randrange(len(layout.locals))
    if kind == 'any_bytes':
        _bytes(data, 0, len(data), rng)
    elif kind == 'local_header':
        for _ in range(rng.randint(1, 2)):
            offset, size = rng.choice(LOCAL_FIELDS)
            _set_field(data, layout.locals[member] + offset, size, rng)
    elif kind == 'member_data':
        start, end = layout.data[member]
        if rng.random() < 0.2:   # a deflate bomb where the member was: small on disk, huge when inflated
            blob = _bomb()
            data[start:end] = blob[:end - start] if rng.random() < 0.5 else blob
        else:
            _bytes(data, start, end, rng)
    elif kind == 'central_directory':
        for _ in range(rng.randint(1, 2)):
            offset, size = rng.choice(CENTRAL_FIELDS)
            _set_field(data, layout.centrals[member] + offset, size, rng)
    elif kind == 'end_record':
        for _ in range(rng.randint(1, 2)):
            offset, size = rng.choice(END_FIELDS)
            _set_field(data, layout.end + offset, size, rng)
    elif kind == 'cut_or_extend':
        what = rng.random()
        if what < 0.5:
            del data[rng.randrange(len(data)):]
        elif what < 0.7:
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 2000)))
        elif what < 0.85:   # a second copy of the central directory and end record
            data += data[layout.central_start:]
        else:
            data[0:0] = bytes(rng.randint(1, 5000))   # junk before the archive (as self-extracting ones have)
    elif kind == 'member_names':
        central = layout.centrals[member]
        name_len = struct.unpack_from('<H', data, central + 28)[0]
        target = rng.choice(['dataset.json', NAMES[(member + 1) % IMAGES], '../../etc/passwd', 'a\x00b.png',
                             '\udcff.png', 'x.png', '/abs.png'])
        raw = target.encode('utf-8', 'surrogateescape')
        data[central + 46:central + 46 + name_len] = raw
        struct.pack_into('<H', data, central + 28, len(raw))
        if rng.random() < 0.5:
            struct.pack_into('<H', data, central + 8, struct.unpack_from('<H', data, central + 8)[0] ^ 0x800)
        if len(raw) != name_len:   # the end record's central-directory size follows the change
            end = data.rfind(b'PK\x05\x06')
            struct.pack_into('<I', data, end + 12, struct.unpack_from('<I', data, end + 12)[0] + len(raw) - name_len)
    elif kind == 'json_bytes':
        data = bytearray(build_zip(_json_bytes(rng)))
    else:
        data = bytearray(build_zip(_json_values(rng)))
    return kind, bytes(data)


def _check_item(image, label, label_shape) -> str | None:
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (3, SIDE, SIDE)):
        return f'image {getattr(image, "dtype", type(image))} {getattr(image, "shape", None)}'
    if not (isinstance(label, np.ndarray) and label.dtype == np.float32 and list(label.shape) == label_shape):
        return f'label {getattr(label, "dtype", type(label))} {getattr(label, "shape", None)}'
    return None


def read_dataset(path: str, bad_images: str) -> tuple[str, str | None]:
    """(outcome, wrong item or None) of reading every item of the dataset at ``path`` as training does."""
    try:
        ds = ImageFolderDataset(path, use_labels=True, bad_images=bad_images)
        try:
            if ds.image_shape != [3, SIDE, SIDE]:
                return 'loaded', f'image_shape {ds.image_shape}'
            label_shape = ds.label_shape
            for i in range(len(ds)):
                if bad_images == 'stop':
                    image, label = ds[i]
                else:
                    image, label, _bad, _reason = ds.get_item_checked(i)
                wrong = _check_item(image, label, label_shape)
                if wrong:
                    return 'loaded', f'item {i}: {wrong}'
        finally:
            ds.close()
        return 'loaded', None
    except UserError as e:
        return f'refused: {type(e).__name__}', None
    except BaseException as e:  # noqa: BLE001  (what the fuzz looks for)
        return f'escape: {type(e).__name__}: {" ".join(str(e).split())[:200]}', None


def convert(path: str, dest: str, on_error: str) -> tuple[str, str | None]:
    """(outcome, wrong output or None) of dataset_tool's conversion of ``path`` into the zip ``dest``."""
    try:
        convert_dataset(path, dest, on_error=on_error, progress=False, log=lambda *_: None)
    except UserError as e:
        return f'refused: {type(e).__name__}', None
    except BaseException as e:  # noqa: BLE001  (what the fuzz looks for)
        return f'escape: {type(e).__name__}: {" ".join(str(e).split())[:200]}', None
    outcome, wrong = read_dataset(dest, 'stop')       # what it wrote must be a dataset the reader loads
    if outcome != 'loaded' or wrong:
        return 'loaded', f'its output: {outcome} {wrong or ""}'.strip()
    return 'loaded', None


def peak_rss_bytes() -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument('--cases', type=int, required=True)
    parser.add_argument('--seed', type=int, required=True)
    parser.add_argument('--workdir', required=True)
    parser.add_argument('--first', type=int, default=0, help='run cases first .. first + cases - 1')
    args = parser.parse_args(argv)
    valid = build_zip()
    layout = Layout(valid)
    path = os.path.join(args.workdir, 'data.zip')
    dest = os.path.join(args.workdir, 'out.zip')
    out = sys.stdout
    for case in [-1, *range(args.first, args.first + args.cases)]:   # -1: the valid archive itself
        kind, data = ('valid', valid) if case < 0 else mutate(valid, layout, case, args.seed)
        with open(path, 'wb') as f:
            f.write(data)
        print(json.dumps({'start': case}), file=out, flush=True)
        result = {'case': case, 'kind': kind}
        for name, call in (('reader_stop', lambda: read_dataset(path, 'stop')),
                           ('reader_skip', lambda: read_dataset(path, 'skip')),
                           ('tool_skip', lambda: convert(path, dest, 'skip')),
                           ('tool_stop', lambda: convert(path, dest, 'stop'))):
            start = time.perf_counter()
            outcome, wrong = call()
            result[name] = dict(outcome=outcome, seconds=round(time.perf_counter() - start, 3), wrong=wrong)
            for leftover in (dest, dest + '.tmp'):
                if os.path.isdir(leftover):
                    shutil.rmtree(leftover)
                elif os.path.exists(leftover):
                    os.remove(leftover)
        print(json.dumps(result), file=out, flush=True)
    print(json.dumps({'peak_rss_bytes': peak_rss_bytes()}), file=out, flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
