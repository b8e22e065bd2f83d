"""python -m tools.gen_video: interpolation (cubic, slerp; MP4 and GIF) and equivariance videos."""

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from analysis.video_frames import equivariance_frames, interpolation_frames, keyframe_seeds, slerp
from tests.tiny_networks import write_tiny_networks
from tests.training.metrics.fakes import FourierGenerator
from tools import gen_video


@pytest.fixture(scope='module')
def nets(tmp_path_factory):
    return write_tiny_networks(tmp_path_factory.mktemp('nets'))


def test_interpolation_loops_seamlessly():
    G = FourierGenerator(img_resolution=16)
    for kind in ('cubic', 'slerp'):
        frames = list(interpolation_frames(G, [0, 1, 2, 3], grid=(2, 1), w_frames=3, kind=kind))
        assert len(frames) == 6 and frames[0].shape == (16, 32, 3)
        # The frame after the last one would be the first again: the last step is as small as the others.
        last_step = np.abs(frames[-1].astype(int) - frames[0].astype(int)).mean()
        steps = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, frames[1:])]
        assert last_step < 3 * max(steps)
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b, atol=1e-5, rtol=1e-5)


def test_equivariance_frames_show_small_difference_for_an_equivariant_network():
    G = FourierGenerator(img_resolution=16)
    frames = list(equivariance_frames(G, seed=0, num_frames=4))
    assert len(frames) == 4 and frames[1].shape == (3 * 16, 3 * 16, 3)
    diff_panel = frames[1][:, 32:, 0].astype(int)
    centre = diff_panel[16 + 6:16 + 10, 6:10]  # y-sweep row, valid centre: near-black difference
    assert centre.max() < 20
    bad = FourierGenerator(img_resolution=16, follow_transform=False)
    bad_frames = list(equivariance_frames(bad, seed=0, num_frames=4))
    assert bad_frames[1][:, 32:].mean() > frames[1][:, 32:].mean() + 5


def test_gen_video_cli_writes_mp4_and_gif(nets, tmp_path):
    mp4 = tmp_path / 'lerp.mp4'
    assert gen_video.main(['--network', nets['sg3'], '--seeds', '0-3', '--grid', '2x1', '--w-frames', '2',
                           '--output', str(mp4)]) == 0
    assert sum(1 for _ in imageio.get_reader(str(mp4))) == 4
    gif = tmp_path / 'walk.gif'
    assert gen_video.main(['--network', nets['sg2'], '--seeds', '0-1', '--interp', 'slerp', '--w-frames', '2',
                           '--output', str(gif)]) == 0
    assert gif.stat().st_size > 0
    eq = tmp_path / 'eq.mp4'
    assert gen_video.main(['--network', nets['sg3'], '--mode', 'eq', '--seeds', '0', '--frames', '3',
                           '--sweep', 'x,rot', '--output', str(eq)]) == 0
    frame = imageio.get_reader(str(eq)).get_data(0)
    assert frame.shape[:2] == (2 * 16, 3 * 16)


def test_gen_video_bad_input(nets, tmp_path, capsys):
    assert gen_video.main(['--network', nets['sg2'], '--mode', 'eq', '--output', str(tmp_path / 'a.mp4')]) == 1
    assert gen_video.main(['--network', nets['sg3'], '--seeds', '0', '--output', str(tmp_path / 'a.mp4')]) == 1
    assert gen_video.main(['--network', nets['sg3'], '--output', str(tmp_path / 'a.avi')]) == 1
    err = capsys.readouterr().err
    assert 'input transform' in err and 'keyframes' in err and '.mp4 or .gif' in err and 'Traceback' not in err
    # A folder that exists but cannot hold the file (procfs, where os.access says yes to root): refused when the
    # arguments are parsed, by creating a file there for real, in one line.
    assert gen_video.main(['--network', nets['sg3'], '--seeds', '0-3', '--output', '/proc/x.gif']) == 1
    assert capsys.readouterr().err == "error: argument --output: '/proc' is not writable (see --help)\n"


def test_a_video_that_fails_while_written_leaves_no_file(nets, tmp_path, capsys, monkeypatch):
    from viz.core import video_writer

    def fail(self, frame, copies):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(video_writer.GifStreamWriter, 'append', fail)
    out = tmp_path / 'v.gif'
    assert gen_video.main(['--network', nets['sg3'], '--seeds', '0-3', '--w-frames', '2', '--output', str(out)]) == 1
    err = capsys.readouterr().err
    assert 'error: writing' in err and 'No space left' in err and 'Traceback' not in err
    assert not out.exists()


def _nvlabs_keyframe_seeds(seeds, cells, num_keyframes, shuffle_seed=None):
    """NVlabs' gen_interp_video: all_seeds[idx] = seeds[idx % len(seeds)] for every keyframe, then shuffled."""
    all_seeds = np.zeros(num_keyframes * cells, dtype=np.int64)
    for idx in range(num_keyframes * cells):
        all_seeds[idx] = seeds[idx % len(seeds)]
    if shuffle_seed is not None:
        np.random.RandomState(seed=shuffle_seed).shuffle(all_seeds)
    return [int(s) for s in all_seeds]


def test_keyframe_seeds_are_nvlabs():
    seeds = list(range(10, 22))
    for cells, keys, shuffle in ((1, 4, None), (2, 3, 5), (1, 5, 7), (4, 5, None), (3, 7, 1), (1, 12, 3)):
        assert keyframe_seeds(seeds, cells, keys, shuffle) == _nvlabs_keyframe_seeds(seeds, cells, keys, shuffle)
    # More seeds than keyframes: the first six, shuffled (not all twelve shuffled and six of them taken).
    got = keyframe_seeds(seeds, 2, 3, shuffle_seed=5)
    assert sorted(got) == seeds[:6] and got != seeds[:6]
    # Fewer: cycled through.
    assert keyframe_seeds([3, 4], 1, 5) == [3, 4, 3, 4, 3]


def test_too_few_seeds_cycle_and_shuffle_takes_the_first(nets, tmp_path):
    G = FourierGenerator(img_resolution=16)
    frames = list(interpolation_frames(G, [0, 1, 2], num_keyframes=5, w_frames=1))  # keyframes 0 1 2 0 1
    assert len(frames) == 5
    assert np.array_equal(frames[3], frames[0]) and np.array_equal(frames[4], frames[1])
    assert not np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[2], frames[0])
    shuffled = list(interpolation_frames(G, list(range(8)), num_keyframes=3, w_frames=1, shuffle_seed=5))
    order = list(interpolation_frames(G, _nvlabs_keyframe_seeds(range(8), 1, 3, 5), num_keyframes=3, w_frames=1))
    assert all(np.array_equal(a, b) for a, b in zip(shuffled, order))
    # The command line: 2 seeds fill 3 keyframes; --shuffle-seed gives NVlabs' order.
    cycled = tmp_path / 'cycled.mp4'
    assert gen_video.main(['--network', nets['sg3'], '--seeds', '0-1', '--num-keyframes', '3', '--w-frames', '2',
                           '--output', str(cycled)]) == 0
    assert sum(1 for _ in imageio.get_reader(str(cycled))) == 6
    videos = {}
    for name, extra in (('shuffled', ['--seeds', '0-7', '--shuffle-seed', '5']),
                        ('ordered', ['--seeds', ','.join(map(str, _nvlabs_keyframe_seeds(range(8), 1, 3, 5)))])):
        videos[name] = tmp_path / f'{name}.mp4'
        assert gen_video.main(['--network', nets['sg3'], *extra, '--num-keyframes', '3', '--w-frames', '1',
                               '--output', str(videos[name])]) == 0
    a, b = (np.stack([f for f in imageio.get_reader(str(videos[n]))]) for n in ('shuffled', 'ordered'))
    assert a.shape[0] == 3 and np.array_equal(a, b)
