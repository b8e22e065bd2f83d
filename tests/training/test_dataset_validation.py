"""Training data is validated when it opens (every header, every label), and an image that fails to decode
later is skipped and counted or stops the run with one line. Every payload is made here."""

import io
import json
import os
import zipfile

import numpy as np
import PIL.Image
import pytest

from networks import UserError
from networks.errors import hint
from tests.networks.hostile_images import (
    LOOP_PROGRAM,
    eps,
    install_fake_ghostscript,
    marker_program,
    measure,
    png_claiming,
)
from tools.train import main
from training.dataset import MAX_LABEL_DIM, DatasetError, ImageFolderDataset


def _png(size=16, mode='RGB', seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == 'L' else (size, size, len(mode))
    buf = io.BytesIO()
    PIL.Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, 'PNG')
    return buf.getvalue()


def _zip(path, members: dict, labels=None, raw_json=None) -> str:
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if labels is not None:
            zf.writestr('dataset.json', json.dumps({'labels': labels}))
        if raw_json is not None:
            zf.writestr('dataset.json', raw_json)
    return str(path)


def _names(n):
    return [f'{i // 1000:05d}/img{i:08d}.png' for i in range(n)]


def _one_line(err):
    text = str(err)
    assert '\n' not in text and 'Traceback' not in text
    return text


def test_every_header_is_checked_not_only_the_first(tmp_path):
    names = _names(60)
    members = {n: _png(seed=i) for i, n in enumerate(names)}
    members[names[47]] = b'\x89PNG\r\n\x1a\n' + b'\x00' * 40          # a PNG signature, then junk
    path = _zip(tmp_path / 'd.zip', members)
    with pytest.raises(DatasetError) as info:
        ImageFolderDataset(path)
    assert names[47] in _one_line(info.value) and '--bad-images skip' in hint(info.value)
    assert isinstance(info.value, UserError)
    ds = ImageFolderDataset(path, bad_images='skip')
    assert len(ds) == 59 and [n for n, _ in ds.skipped_at_open] == [names[47]]


def test_mixed_sizes_and_mixed_channels(tmp_path):
    names = _names(10)
    members = {n: _png(16, seed=i) for i, n in enumerate(names)}
    members[names[8]] = _png(32)
    with pytest.raises(DatasetError, match=r'mixes image sizes: 9 of 16x16.*1 of 32x32') as info:
        ImageFolderDataset(_zip(tmp_path / 'sizes.zip', members))
    assert names[8] in _one_line(info.value)
    members[names[8]] = _png(16, mode='L')
    with pytest.raises(DatasetError, match='mixes grayscale and colour images: 9 with 3 channels') as info:
        ImageFolderDataset(_zip(tmp_path / 'channels.zip', members))
    assert names[8] in _one_line(info.value)
    members[names[8]] = _png(16, mode='RGBA')                      # alpha is dropped: still 3 channels
    assert ImageFolderDataset(_zip(tmp_path / 'rgba.zip', members)).num_channels == 3


def test_not_a_zip_and_oversized_member(tmp_path):
    junk = tmp_path / 'junk.zip'
    junk.write_bytes(os.urandom(1000))
    with pytest.raises(DatasetError, match='not a readable zip file') as info:
        ImageFolderDataset(str(junk))
    _one_line(info.value)
    (tmp_path / 'junk.bin').write_bytes(b'not an archive')
    with pytest.raises(DatasetError, match='neither a folder nor a zip file'):
        ImageFolderDataset(str(tmp_path / 'junk.bin'))
    # A small valid header followed by megabytes of padding: refused before anyone reads it all.
    path = _zip(tmp_path / 'big.zip', {'a.png': _png(), 'b.png': _png() + b'\x00' * (3 << 20)})
    with pytest.raises(DatasetError, match="'b.png'.*too large for a 16x16 image"):
        ImageFolderDataset(path)


def test_hostile_members_are_refused_at_open_without_ghostscript(tmp_path, monkeypatch):
    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker))
    names = _names(6)
    members = {n: _png(seed=i) for i, n in enumerate(names)}
    members[names[2]] = eps(marker_program(str(marker)))          # PostScript declaring 16x16, named .png
    members[names[4]] = png_claiming(1, 178_000_000)
    path = _zip(tmp_path / 'd.zip', members)
    elapsed, grown, err, finished = measure(lambda: ImageFolderDataset(path), timeout=10)
    assert finished and isinstance(err, DatasetError) and elapsed < 2.0 and grown < 300 << 20
    assert names[2] in _one_line(err) and 'PostScript' in str(err) and '(and 1 more)' in str(err)
    ds = ImageFolderDataset(path, bad_images='skip')
    assert len(ds) == 4 and [n for n, _ in ds.skipped_at_open] == [names[2], names[4]]
    assert 'more than the' in ds.skipped_at_open[1][1]
    assert all(ds[i][0].shape == (3, 16, 16) for i in range(4))
    assert not marker.exists() and not os.path.exists(log)


@pytest.mark.parametrize('swap', ['postscript', 'bomb', 'other size', 'fifo'])
def test_images_swapped_after_open_are_refused_before_decoding(tmp_path, monkeypatch, swap):
    """A folder dataset whose file is replaced once it is open: the size it must have is known, so a header
    declaring anything else is refused before a pixel is decoded; stop gives one line, skip a stand-in."""
    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker))
    folder = tmp_path / 'data'
    for i, name in enumerate(_names(4)):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(_png(seed=i))
    ds = ImageFolderDataset(str(folder))
    skip = ImageFolderDataset(str(folder), bad_images='skip')
    victim = folder / _names(4)[1]
    victim.unlink()
    if swap == 'postscript':
        victim.write_bytes(eps(f'({marker}) (w) file closefile {LOOP_PROGRAM}'))
    elif swap == 'bomb':
        victim.write_bytes(png_claiming(1, 178_000_000))
    elif swap == 'other size':
        victim.write_bytes(_png(size=32))
    else:
        os.mkfifo(victim)
    elapsed, grown, err, finished = measure(lambda: ds[1], timeout=10)
    assert finished and isinstance(err, DatasetError) and elapsed < 2.0 and grown < 300 << 20, (err, elapsed)
    assert _names(4)[1] in _one_line(err)
    reason = {'postscript': 'PostScript', 'bomb': 'is 1x178000000, expected 16x16',
              'other size': 'is 32x32, expected 16x16', 'fifo': 'a FIFO'}[swap]
    assert reason in str(err)
    np.testing.assert_array_equal(skip[1][0], skip[2][0])              # the next image stands in
    assert reason in skip.bad_images_seen[_names(4)[1]]
    assert not marker.exists() and not os.path.exists(log)


GOOD_IMAGES = 4


@pytest.mark.parametrize('labels, message', [
    ([[n, 'cat'] for n in _names(GOOD_IMAGES)], 'is "cat"; a label must be an integer class'),
    ([[n, [[1, 2]]] for n in _names(GOOD_IMAGES)], 'finite numbers only'),
    ([[n, 1.5] for n in _names(GOOD_IMAGES)], 'a non-integer number'),
    ([[n, 1e9] for n in _names(GOOD_IMAGES)], 'a non-integer number'),         # JSON 1e9 is a float
    ([[n, 10**9] for n in _names(GOOD_IMAGES)], f'classes must be integers from 0 to {MAX_LABEL_DIM - 1}'),
    ([[n, -1 if i == 2 else 0] for i, n in enumerate(_names(GOOD_IMAGES))], 'is class -1'),
    ([[n, True] for n in _names(GOOD_IMAGES)], 'is true'),
    ([[n, 1 if i else [1.0]] for i, n in enumerate(_names(GOOD_IMAGES))], 'list of 1 numbers like the first'),
    ([[n, 0 if i != 3 else [1]] for i, n in enumerate(_names(GOOD_IMAGES))], 'every label must be an integer'),
    ([[n, [0.5] * (1 + (i == 1))] for i, n in enumerate(_names(GOOD_IMAGES))], 'list of 1 numbers like the first'),
    ([[n, [float('nan')]] for n in _names(GOOD_IMAGES)], 'finite numbers only'),
    ([[n, [0.0] * (MAX_LABEL_DIM + 1)] for n in _names(GOOD_IMAGES)], 'label vectors need 1 to'),
    ([[n, 0] for n in _names(GOOD_IMAGES)[:3]], 'no label for 1 of 4 images'),
    ([['x', 0, 1]], 'must be a [file name, label] pair'),
    ('labels', '"labels" must be a list'),
])
def test_bad_labels_are_one_line(tmp_path, labels, message):
    members = {n: _png(seed=i) for i, n in enumerate(_names(GOOD_IMAGES))}
    path = _zip(tmp_path / 'l.zip', members, labels=labels)
    with pytest.raises(DatasetError) as info:
        ImageFolderDataset(path, use_labels=True)
    assert message in _one_line(info.value)
    assert ImageFolderDataset(path, use_labels=False).label_dim == 0     # unused labels are not read


def test_unreadable_json_and_good_labels(tmp_path):
    members = {n: _png(seed=i) for i, n in enumerate(_names(GOOD_IMAGES))}
    for raw in ('{"labels": [', '[1, 2]', '\xff\xfe'):
        with pytest.raises(DatasetError, match='dataset.json') as info:
            ImageFolderDataset(_zip(tmp_path / 'j.zip', members, raw_json=raw), use_labels=True)
        _one_line(info.value)
    classes = [3, 0, 7, 3]
    ds = ImageFolderDataset(_zip(tmp_path / 'c.zip', members, labels=[[n, c] for n, c in
                                                                       zip(_names(GOOD_IMAGES), classes)]),
                            use_labels=True)
    assert ds.label_shape == [8] and [int(np.argmax(ds[i][1])) for i in range(4)] == classes
    vectors = [[0.5, -1.0], [1, 2], [0, 0], [3.25, 1e-3]]
    ds = ImageFolderDataset(_zip(tmp_path / 'v.zip', members, labels=dict(zip(_names(GOOD_IMAGES), vectors))),
                            use_labels=True)
    assert np.allclose(np.stack([ds[i][1] for i in range(4)]), vectors)


def _corrupt_deep_zip(path, n=12, bad=9, how='truncate', size=16) -> tuple[str, list[str], dict]:
    # truncate: IDAT cut short; flip: a damaged byte inside IDAT; zipcrc: the PNG is fine, the zip's copy is not.
    """A zip whose image `bad` has an intact header but pixels that cannot be decoded."""
    names = _names(n)
    members = {name: _png(size, seed=i) for i, name in enumerate(names)}
    good = dict(members)
    if how == 'truncate':
        members[names[bad]] = members[names[bad]][:80]               # IHDR intact, IDAT cut short
    elif how == 'flip':
        data = bytearray(members[names[bad]])
        data[len(data) // 2] ^= 0xFF                                  # a flipped byte in the middle of IDAT
        members[names[bad]] = bytes(data)
    _zip(path, members)
    if how == 'zipcrc':     # the PNG itself is fine, the zip member's bytes are damaged (CRC checked at its end)
        raw = bytearray(open(path, 'rb').read())
        pos = raw.index(good[names[bad]][-2000:-1960])   # past what a header read fetches (64x64: ~12 kB)
        raw[pos] ^= 0xFF
        open(path, 'wb').write(bytes(raw))
    return str(path), names, good


@pytest.mark.parametrize('how', ['truncate', 'flip', 'zipcrc'])
def test_corrupt_pixels_deep_inside_zip_stop_and_skip(tmp_path, how):
    path, names, _good = _corrupt_deep_zip(tmp_path / 'c.zip', how=how, size=64 if how == 'zipcrc' else 16)
    ds = ImageFolderDataset(path)                                      # every header is fine: it opens
    assert len(ds) == 12
    np.testing.assert_array_equal(ds[8][0], ImageFolderDataset(path)[8][0])
    with pytest.raises(DatasetError) as info:
        ds[9]
    assert names[9] in _one_line(info.value) and '--bad-images skip' in hint(info.value)
    # Skip: the next image in file order stands in (deterministic, so resumed runs agree), and it is recorded.
    skip = ImageFolderDataset(path, bad_images='skip', xflip=True)
    image, _label = skip[9]
    np.testing.assert_array_equal(image, skip[10][0])
    np.testing.assert_array_equal(skip[12 + 9][0], image[:, :, ::-1])   # mirrored index: mirrored stand-in
    assert list(skip.bad_images_seen) == [names[9]]
    # The loop's view never raises, in either mode: it hands the failure over as data.
    _img, _lab, bad_name, reason = ds.get_item_checked(9)
    assert bad_name == names[9] and reason
    assert ds.get_item_checked(3)[2:] == ('', '')


def _train(tmp_path, data, tiny_net_args, *extra):
    return main(['--outdir', str(tmp_path / 'runs'), '--cfg', 'stylegan2', '--data', data, '--gpus', '1',
                 '--batch', '4', '--gamma', '1', '--kimg', '0.012', '--tick', '0.004', '--snap', '100', '--aug',
                 'noaug', *tiny_net_args, *extra])


@pytest.mark.parametrize('workers', ['0', '1'])
def test_training_through_a_corrupt_image(tmp_path, tiny_net_args, capsys, workers):
    # 12 images, 12 drawn: the corrupt one is met in the first epoch, whatever the order.
    path, names, _good = _corrupt_deep_zip(tmp_path / 'c.zip')
    assert _train(tmp_path / 'stop', path, tiny_net_args, '--workers', workers) == 1
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()
    assert line.startswith('error: Cannot decode image') and names[9] in line and 'Traceback' not in err

    assert _train(tmp_path / 'skip', path, tiny_net_args, '--workers', workers, '--bad-images', 'skip') == 0
    (run,) = os.listdir(tmp_path / 'skip' / 'runs')
    run_dir = tmp_path / 'skip' / 'runs' / run
    log = (run_dir / 'log.txt').read_text()
    assert f"skipped bad image '{names[9]}'" in log and 'Skipped 1 draws of 1 bad images' in log
    records = [json.loads(line) for line in open(run_dir / 'stats.jsonl')]
    assert records[-1]['Progress/bad_images'] == 1 and records[-1]['Progress/bad_images_skipped'] == 1
    assert records[-1]['Progress/kimg'] == 0.012


def test_training_removes_stale_temporaries_beside_resumed_snapshot(tmp_path, tiny_net_args):
    names = _names(8)
    data = _zip(tmp_path / 'ok.zip', {n: _png(seed=i) for i, n in enumerate(names)})
    assert _train(tmp_path / 'a', data, tiny_net_args, '--kimg', '0.004') == 0
    (run,) = os.listdir(tmp_path / 'a' / 'runs')
    run_dir = tmp_path / 'a' / 'runs' / run
    stale = run_dir / '.network-snapshot-000008.pkl.k3j_9x0a.tmp'     # as a killed atomic_write leaves it
    stale.write_bytes(b'half')
    mine = run_dir / 'notes.tmp'
    mine.write_bytes(b'keep')
    (snapshot,) = run_dir.glob('network-snapshot-*.pkl')
    assert _train(tmp_path / 'b', data, tiny_net_args, '--kimg', '0.008', '--resume', str(snapshot)) == 0
    assert not stale.exists() and mine.read_bytes() == b'keep'
    (run_b,) = os.listdir(tmp_path / 'b' / 'runs')
    assert 'removed 1 temporary files' in (tmp_path / 'b' / 'runs' / run_b / 'log.txt').read_text()
