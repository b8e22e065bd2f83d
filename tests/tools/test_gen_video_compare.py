"""python -m tools.gen_video --compare: every frame holds each network's own frame (as the tool makes it for that
network alone) side by side under its name; mixed resolutions are enlarged with a note; a network that cannot make
its frames, or a third network to compare, is refused in one line and leaves no file."""

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

import networks
from tests.tiny_networks import tiny_generator, write_tiny_networks
from tools import gen_video
from viz.core.compare import compose_panes


@pytest.fixture(scope='module')
def nets(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('nets')
    paths = write_tiny_networks(root)  # 16 px
    paths['sg3_32'] = str(root / 'sg3_32.pkl')
    networks.save_network_pkl(paths['sg3_32'], dict(G_ema=tiny_generator('sg3', 32, seed=4)))
    return paths


class Frames:
    """Stands in for the video writer: keeps the frames the tool hands it."""

    taken: list = []

    def __init__(self, path, fps=30):
        self.path, self.num_frames = path, 0
        Frames.taken = []

    def add(self, frame, copies=1):
        Frames.taken.append(np.array(frame))
        self.num_frames += 1

    def close(self):
        return self.path


def _frames(monkeypatch, tmp_path, argv) -> list[np.ndarray]:
    monkeypatch.setattr(gen_video, 'VideoRecorder', Frames)
    assert gen_video.main([*argv, '--output', str(tmp_path / 'v.mp4')]) == 0
    return Frames.taken


@pytest.mark.parametrize('mode', [['--seeds', '0-2', '--w-frames', '2'],
                                  ['--mode', 'eq', '--seeds', '3', '--frames', '3', '--sweep', 'x,rot']])
def test_each_pane_is_the_network_alone(nets, tmp_path, monkeypatch, mode):
    pkls = [nets['sg3'], nets['sg3r']]
    alone = [_frames(monkeypatch, tmp_path, ['--network', pkl, *mode]) for pkl in pkls]
    both = _frames(monkeypatch, tmp_path, ['--network', pkls[0], '--compare', pkls[1], *mode])
    assert len(both) == len(alone[0]) == len(alone[1]) > 1
    for k, frame in enumerate(both):
        _image, boxes, _notes = compose_panes([alone[0][k], alone[1][k]], ['sg3.pkl', 'sg3r.pkl'])
        assert frame.shape[1] == sum(b['width'] for b in boxes) + 2 and frame.shape[0] > boxes[0]['height']
        for box, own in zip(boxes, (alone[0][k], alone[1][k])):
            np.testing.assert_array_equal(frame[box['y']:, box['x']:box['x'] + box['width']], own)
        assert (frame[:boxes[0]['y']].max(axis=2) > 150).sum() > 20  # the names are written above the panes
    assert not np.array_equal(both[1], both[0])  # the frames move


def test_mixed_resolutions_make_one_video_with_a_note(nets, tmp_path, capsys):
    out = tmp_path / 'sticking.mp4'
    assert gen_video.main(['--network', nets['sg2'], '--compare', nets['sg3_32'], '--seeds', '0-1',
                           '--w-frames', '2', '--output', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'note: panes shown 32 px high: sg2.pkl 16 px enlarged x2 (whole pixels)' in printed
    frames = [frame for frame in imageio.get_reader(str(out))]  # list() would take its length (inf) as a hint
    assert len(frames) == 4 and frames[0].shape[1] == 32 + 2 + 32 and frames[0].shape[0] > 32


def test_refusals_are_one_line_and_leave_no_file(nets, tmp_path, capsys):
    out = tmp_path / 'eq.mp4'
    assert gen_video.main(['--network', nets['sg3'], '--compare', nets['sg2'], '--mode', 'eq', '--frames', '2',
                           '--output', str(out)]) == 1
    assert capsys.readouterr().err == ('error: sg2.pkl: equivariance videos need a network with an input transform '
                                       '(StyleGAN3); this one has none\n')
    assert gen_video.main(['--network', nets['sg3'], '--compare', nets['sg2'], nets['sg2'], nets['sg3r'],
                           '--output', str(out)]) == 1
    assert capsys.readouterr().err == 'error: compare with at most 2 other networks (three panes), got 3 (--compare)\n'
    assert gen_video.main(['--network', nets['sg3'], '--compare', str(tmp_path / 'none.pkl'), '--output',
                           str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: argument --compare') and 'Traceback' not in err
    assert not out.exists()
