"""`python -m tools.dataset_tool` on hostile sources: each ends in one `error:` line (rc 1) within 2 s, without a
traceback and without anything at --dest. Every source is made here."""

import io
import json
import os
import struct
import threading
import time
import zipfile

import numpy as np
import PIL.Image
import pytest

from tools.dataset_tool import main


def _png(size=16, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    PIL.Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), 'RGB').save(buf, 'PNG')
    return buf.getvalue()


def _zip(path, members: dict) -> str:
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return str(path)


def _patch_member(path, name: str, patch) -> None:
    """Apply ``patch(data, local_header_offset, central_header_offset)`` to the zip's bytes, for member ``name``."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    data = bytearray(open(path, 'rb').read())
    central = data.find(b'PK\x01\x02')
    while central >= 0:   # the central record whose local-header offset is this member's
        if struct.unpack_from('<I', data, central + 42)[0] == info.header_offset:
            break
        central = data.find(b'PK\x01\x02', central + 4)
    assert central >= 0
    patch(data, info.header_offset, central)
    with open(path, 'wb') as f:
        f.write(bytes(data))


def _flip_data_byte(path, name: str, at: int) -> None:
    def patch(data, local, _central):
        name_len, extra_len = struct.unpack_from('<HH', data, local + 26)
        data[local + 30 + name_len + extra_len + at] ^= 0xFF
    _patch_member(path, name, patch)


def _encrypt_flag(path, name: str) -> None:
    def patch(data, local, central):
        data[local + 6] |= 0x1       # general-purpose flags: local header offset 6, central header offset 8
        data[central + 8] |= 0x1
    _patch_member(path, name, patch)


def _method_99(path, name: str) -> None:
    def patch(data, local, central):
        struct.pack_into('<H', data, local + 8, 99)     # compression method: local offset 8, central offset 10
        struct.pack_into('<H', data, central + 10, 99)
    _patch_member(path, name, patch)


NAME = '00000/img00000000.png'


def _json_folder(tmp_path, text: str) -> str:
    folder = tmp_path / 'src'
    (folder / '00000').mkdir(parents=True)
    (folder / NAME).write_bytes(_png())
    (folder / 'dataset.json').write_text(text)
    return str(folder)


BAD_JSON = {
    'invalid': '{"labels": [',
    'a list': '[1, 2, 3]',
    'labels a string': '{"labels": "cat"}',
    'bad pairs': '{"labels": [[1, 2, 3]]}',
    'bad label': '{"labels": [["00000/img00000000.png", "cat"]]}',
    'deeply nested': '{"labels": ' + '[' * 100_000 + ']' * 100_000 + '}',
    '5000-digit int': '{"labels": [["00000/img00000000.png", ' + '7' * 5000 + ']]}',
    'not utf-8': '{"labels": "\udcff"}',
}


def _source(kind: str, tmp_path) -> str:
    if kind == 'not a zip':
        path = tmp_path / 'src.zip'
        path.write_bytes(b'this is not a zip file' * 10)
        return str(path)
    if kind == 'truncated zip':
        path = _zip(tmp_path / 'src.zip', {NAME: _png()})
        data = open(path, 'rb').read()
        open(path, 'wb').write(data[:len(data) // 2])
        return path
    if kind.startswith(('bad crc', 'encrypted', 'method 99')):
        member = 'dataset.json' if kind.endswith('dataset.json') else NAME
        path = _zip(tmp_path / 'src.zip', {NAME: _png(), 'dataset.json': json.dumps({'labels': [[NAME, 0]]})})
        if kind.startswith('bad crc'):
            _flip_data_byte(path, member, 60 if member == NAME else 3)
        elif kind.startswith('encrypted'):
            _encrypt_flag(path, member)
        else:
            _method_99(path, member)
        return path
    if kind.startswith('zip json: '):
        text = BAD_JSON[kind.split(': ', 1)[1]]
        return _zip(tmp_path / 'src.zip', {NAME: _png(), 'dataset.json': text.encode('utf-8', 'surrogateescape')})
    if kind.startswith('folder json: '):
        text = BAD_JSON[kind.split(': ', 1)[1]]
        folder = _json_folder(tmp_path, 'x')
        with open(os.path.join(folder, 'dataset.json'), 'wb') as f:
            f.write(text.encode('utf-8', 'surrogateescape'))
        return folder
    if kind == 'fifo source':
        path = tmp_path / 'src.zip'
        os.mkfifo(path)
        return str(path)
    if kind == 'fifo image source':
        path = tmp_path / 'src.png'
        os.mkfifo(path)
        return str(path)
    if kind == 'symlink to /dev/zero source':
        path = tmp_path / 'src.zip'
        os.symlink('/dev/zero', path)
        return str(path)
    if kind == 'symlink to /dev/zero image source':
        path = tmp_path / 'src.png'
        os.symlink('/dev/zero', path)
        return str(path)
    if kind == 'fifo dataset.json':
        folder = _json_folder(tmp_path, '{}')
        os.remove(os.path.join(folder, 'dataset.json'))
        os.mkfifo(os.path.join(folder, 'dataset.json'))
        return folder
    if kind == 'symlink to /dev/zero dataset.json':
        folder = _json_folder(tmp_path, '{}')
        os.remove(os.path.join(folder, 'dataset.json'))
        os.symlink('/dev/zero', os.path.join(folder, 'dataset.json'))
        return folder
    raise AssertionError(kind)


KINDS = [
    'not a zip', 'truncated zip',
    'bad crc image', 'bad crc dataset.json', 'encrypted image', 'encrypted dataset.json',
    'method 99 image', 'method 99 dataset.json',
    *(f'zip json: {k}' for k in BAD_JSON), *(f'folder json: {k}' for k in BAD_JSON),
    'fifo source', 'fifo image source', 'symlink to /dev/zero source', 'symlink to /dev/zero image source',
    'fifo dataset.json', 'symlink to /dev/zero dataset.json',
]


@pytest.mark.parametrize('dest_kind', ['zip', 'folder'])
@pytest.mark.parametrize('kind', KINDS)
def test_hostile_source_is_one_error_line(tmp_path, capsys, kind, dest_kind):
    source = _source(kind, tmp_path)
    dest = str(tmp_path / ('out.zip' if dest_kind == 'zip' else 'out'))
    result = {}

    def call():
        try:
            result['rc'] = main(['--source', source, '--dest', dest])
        except BaseException as e:  # noqa: BLE001  (reported below)
            result['exc'] = e
    start = time.monotonic()
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(timeout=10)
    elapsed = time.monotonic() - start
    if worker.is_alive():   # unblock a reader stuck on a FIFO, then fail
        for fifo in (source, os.path.join(source, 'dataset.json')):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    err = capsys.readouterr().err
    assert not worker.is_alive(), f'{kind}: hangs'
    assert 'exc' not in result, f'{kind}: {result.get("exc")!r}'
    assert result['rc'] == 1, (kind, err)
    assert 'Traceback' not in err
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(errors) == 1, (kind, err)
    assert elapsed < 2.0, (kind, elapsed)
    assert not os.path.exists(dest) and not os.path.exists(dest + '.tmp'), os.listdir(tmp_path)
