"""The dataset loader, the resumable sampler and the dataset tool (including bad input)."""

import io
import json
import os
import zipfile

import numpy as np
import PIL.Image
import pytest

from networks.errors import UserError, hint
from tests.networks.hostile_images import (
    LOOP_PROGRAM,
    eps,
    install_fake_ghostscript,
    jpeg_claiming,
    marker_program,
    measure,
    png_claiming,
)
from tools.dataset_tool import main
from training.dataset import DatasetError, ImageFolderDataset, InfiniteSampler
from training.dataset_convert import BUILTIN_PHOTOS, convert_dataset, load_builtin_photos


def _quiet(*_args):
    pass


def _write_png(path, size, mode='RGB', value=128):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    PIL.Image.new(mode, size, value if mode == 'L' else (value, 60, 200)).save(path)


def test_builtin_photos_load():
    photos = load_builtin_photos()
    assert [name for name, _ in photos] == [name for name, _, _ in BUILTIN_PHOTOS]
    for _name, image in photos:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) >= 256


def test_builtin_is_deterministic_and_loads(tmp_path):
    a, b, c = (str(tmp_path / f'{n}.zip') for n in 'abc')
    convert_dataset('builtin:photos', a, resolution='16x16', count=12, seed=3, progress=False, log=_quiet)
    convert_dataset('builtin:photos', b, resolution='16x16', count=12, seed=3, progress=False, log=_quiet)
    convert_dataset('builtin:photos', c, resolution='16x16', count=12, seed=4, progress=False, log=_quiet)
    da, db, dc = (ImageFolderDataset(p, use_labels=True) for p in (a, b, c))
    images = [np.stack([d[i][0] for i in range(len(d))]) for d in (da, db, dc)]
    assert np.array_equal(images[0], images[1])
    assert not np.array_equal(images[0], images[2])
    assert len(da) == 12 and da.resolution == 16 and da.num_channels == 3
    assert da.has_labels and da.label_dim == len(BUILTIN_PHOTOS)
    assert da[0][1].sum() == 1.0                # one-hot photo index
    assert images[0].std() > 10                 # real content, not blank crops


def test_dataset_folder_xflip_maxsize_labels(tmp_path):
    src = tmp_path / 'src'
    for i in range(6):
        img = np.zeros([8, 8, 3], np.uint8)
        img[:, :4] = 40 * i                     # left half coloured: x-flips are visible
        os.makedirs(src / 'sub', exist_ok=True)
        PIL.Image.fromarray(img).save(src / 'sub' / f'{i}.png')
    (src / 'dataset.json').write_text(json.dumps({'labels': [[f'sub/{i}.png', [i, 0.5]] for i in range(6)]}))
    ds = ImageFolderDataset(str(src), use_labels=True, xflip=True)
    assert len(ds) == 12 and ds.label_shape == [2] and not ds.has_onehot_labels
    image, label = ds[1]
    flipped, label_f = ds[7]
    assert np.array_equal(flipped, image[:, :, ::-1]) and np.allclose(label, [1, 0.5]) and np.allclose(label_f, label)
    small = ImageFolderDataset(str(src), max_size=3, random_seed=5)
    assert len(small) == 3 and small.label_dim == 0


def test_dataset_refuses_nonsquare_and_non_power_of_two(tmp_path):
    for size, name in [((16, 8), 'wide'), ((12, 12), 'twelve')]:
        _write_png(str(tmp_path / name / 'a.png'), size)
        with pytest.raises(DatasetError, match='power of two') as info:
            ImageFolderDataset(str(tmp_path / name))
        command = hint(info.value)   # the command line prints the conversion that fixes it
        assert command.startswith(f' (python -m tools.dataset_tool --source {tmp_path / name} --dest NEW.zip ')
        assert command.endswith(' --transform center-crop)') and '--resolution ' in command
    with pytest.raises(DatasetError, match='not found'):
        ImageFolderDataset(str(tmp_path / 'missing'))


def test_sampler_resumes_exactly_and_splits_ranks():
    full = InfiniteSampler(10, seed=7)
    stream = [i for i, _ in zip(full, range(35))]
    assert sorted(stream[:10]) == list(range(10)) and stream[:10] != stream[10:20]
    resumed = InfiniteSampler(10, seed=7, start=13)
    assert [i for i, _ in zip(resumed, range(22))] == stream[13:35]
    ranks = [InfiniteSampler(10, rank=r, num_replicas=2, seed=7, start=4) for r in range(2)]
    r0, r1 = ([i for i, _ in zip(s, range(5))] for s in ranks)
    assert r0 == stream[4:14:2] and r1 == stream[5:15:2]


def test_tool_folder_center_crop_with_labels(tmp_path):
    src = tmp_path / 'src'
    _write_png(str(src / 'a.png'), (40, 30))
    _write_png(str(src / 'b.jpg'), (30, 50))
    _write_png(str(src / 'c.png'), (20, 20), mode='L')       # gray in a colour dataset: converted
    (src / 'dataset.json').write_text(json.dumps({'labels': [['a.png', 0], ['b.jpg', 1], ['c.png', 1]]}))
    dest = str(tmp_path / 'out')
    result = convert_dataset(str(src), dest, resolution='16x16', transform='center-crop', progress=False, log=_quiet)
    assert result['written'] == 3 and result['skipped'] == []
    ds = ImageFolderDataset(dest, use_labels=True)
    assert ds.image_shape == [3, 16, 16] and ds.label_dim == 2


def test_tool_bad_images_skipped_or_stop(tmp_path, capsys):
    src = tmp_path / 'src'
    _write_png(str(src / 'a.png'), (16, 16))
    _write_png(str(src / 'b.png'), (32, 32))                       # size mismatch without a transform
    (src / 'c.png').write_bytes(b'this is not a png')              # unreadable
    _write_png(str(src / 'd.png'), (16, 16))
    lines = []
    result = convert_dataset(str(src), str(tmp_path / 'ok.zip'), progress=False, log=lines.append)
    assert result['written'] == 2
    assert [name for name, _ in result['skipped']] == ['b.png', 'c.png']
    assert any('skipped c.png: unreadable' in line for line in lines)
    assert any('skipped b.png: size 32x32 differs' in line for line in lines)
    with zipfile.ZipFile(tmp_path / 'ok.zip') as zf:
        names = zf.namelist()
        assert 'dataset.json' in names and '00000/img00000001.png' in names
        assert PIL.Image.open(io.BytesIO(zf.read('00000/img00000000.png'))).size == (16, 16)

    # --on-error stop: a clear message, exit status 1, and no half-written zip left behind.
    rc = main(['--source', str(src), '--dest', str(tmp_path / 'stop.zip'), '--on-error', 'stop'])
    assert rc == 1
    assert 'b.png: size 32x32 differs' in capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'stop.zip') and not os.path.exists(tmp_path / 'stop.zip.tmp')


@pytest.mark.parametrize('program', ['marker', 'loop'])
def test_tool_never_starts_ghostscript(tmp_path, capsys, monkeypatch, program):
    # PostScript named .png in a folder and in a zip: skipped as unreadable, or one line with --on-error stop.
    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker))
    payload = eps(marker_program(str(marker)) if program == 'marker' else LOOP_PROGRAM)
    src = tmp_path / 'src'
    _write_png(str(src / 'a.png'), (16, 16))
    (src / 'b.png').write_bytes(payload)
    with zipfile.ZipFile(tmp_path / 'src.zip', 'w') as zf:
        zf.write(src / 'a.png', 'a.png')
        zf.writestr('b.png', payload)
    for source in (src, tmp_path / 'src.zip'):
        lines = []
        run = lambda source=source, lines=lines: convert_dataset(  # noqa: E731
            str(source), str(tmp_path / f'{source.name}-out.zip'), progress=False, log=lines.append)
        elapsed, _grown, err, finished = measure(run, timeout=10)
        assert finished and err is None and elapsed < 2.0, (source, err, elapsed)
        assert [line for line in lines if line.startswith('skipped')] == [
            "skipped b.png: unreadable (not a PNG, JPEG, WebP, BMP, PPM or TIFF image (it is PostScript, which is "
            "never opened))"]
        capsys.readouterr()
        rc = main(['--source', str(source), '--dest', str(tmp_path / f'{source.name}-stop.zip'), '--on-error', 'stop'])
        err_text = capsys.readouterr().err.split('\r')[-1]     # after the progress bar
        assert rc == 1 and err_text.count('\n') == 2 and 'Traceback' not in err_text   # the bar's last line, ours
        assert err_text.splitlines()[-1].startswith('error: b.png: unreadable') and 'PostScript' in err_text
    assert not marker.exists() and not os.path.exists(log)


def test_tool_skips_bombs_and_special_files(tmp_path):
    src = tmp_path / 'src'
    _write_png(str(src / 'a.png'), (16, 16))
    (src / 'b.png').write_bytes(png_claiming(1, 178_000_000))
    (src / 'c.jpg').write_bytes(jpeg_claiming(13_000, 13_000))
    os.mkfifo(src / 'd.png')
    os.symlink('/dev/zero', src / 'e.png')
    lines = []
    run = lambda: convert_dataset(str(src), str(tmp_path / 'out.zip'), progress=False, log=lines.append)  # noqa: E731
    elapsed, grown, err, finished = measure(run, timeout=20)
    assert finished and err is None and elapsed < 2.0 and grown < 300 << 20, (err, elapsed, grown >> 20)
    skipped = [line for line in lines if line.startswith('skipped')]
    assert [line.split(':')[0] for line in skipped] == [f'skipped {n}' for n in ('b.png', 'c.jpg', 'd.png', 'e.png')]
    assert 'more than the' in skipped[0] and 'more than the' in skipped[1]
    assert 'a FIFO' in skipped[2] and 'a character device' in skipped[3]
    assert ImageFolderDataset(str(tmp_path / 'out.zip')).image_shape == [3, 16, 16]


def test_tool_refuses_bad_resolutions(tmp_path):
    src = tmp_path / 'src'
    _write_png(str(src / 'a.png'), (24, 24))
    with pytest.raises(UserError, match='power-of-two'):
        convert_dataset(str(src), str(tmp_path / 'x'), progress=False, log=_quiet)      # 24x24 as is
    with pytest.raises(UserError, match='square images with a power-of-two'):
        convert_dataset(str(src), str(tmp_path / 'y'), resolution='24x24', transform='center-crop', progress=False)
    with pytest.raises(UserError, match='needs a resolution'):
        convert_dataset('builtin:photos', str(tmp_path / 'z'), count=2, progress=False)
    with pytest.raises(UserError, match='not found'):
        convert_dataset(str(tmp_path / 'nothing'), str(tmp_path / 'w'), progress=False)


def test_tool_single_image_random_crops_and_wide(tmp_path):
    big = str(tmp_path / 'big.png')
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, [64, 96, 3], dtype=np.uint8)).save(big)
    out = str(tmp_path / 'crops.zip')
    convert_dataset(big, out, resolution='16x16', transform='random-crop', count=5, progress=False, log=_quiet)
    ds = ImageFolderDataset(out)
    assert len(ds) == 5 and not np.array_equal(ds[0][0], ds[1][0])
    wide = str(tmp_path / 'wide.zip')
    convert_dataset(big, wide, resolution='32x16', transform='center-crop-wide', count=1, progress=False, log=_quiet)
    image = ImageFolderDataset(wide)[0][0]
    assert image.shape == (3, 32, 32) and image[:, :8].max() == 0 and image[:, 8:24].max() > 0


def test_zip_reopened_in_each_process(photos16, monkeypatch):
    # A forked DataLoader worker must not share the parent's zip file handle (shared offset -> bad CRC).
    ds = ImageFolderDataset(photos16)
    first = ds[0][0]
    parent_zip = ds._get_zipfile()
    monkeypatch.setattr(os, 'getpid', lambda: -12345)
    assert ds._get_zipfile() is not parent_zip
    assert np.array_equal(ds[0][0], first)
