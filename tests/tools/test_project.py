"""python -m tools.project: outputs, the saved w reproducing proj.png, the resize note, one-line errors (also for
hostile targets: PostScript named .png, header bombs)."""

import os

import numpy as np
import PIL.Image
import pytest
import torch

import networks
from analysis.projection import load_projection, render_projection
from networks.conventions import to_uint8_rgb
from networks.stylegan2 import Discriminator
from networks.stylegan3 import Generator as G3
from tests.networks.hostile_images import (
    LOOP_PROGRAM,
    eps,
    install_fake_ghostscript,
    jpeg_claiming,
    marker_program,
    measure,
    png_claiming,
)
from tools import project as project_tool

SMALL_SG3 = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, channel_base=512, channel_max=32,
                 output_scale=2.0, num_layers=4)


@pytest.fixture(scope='module')
def net(tmp_path_factory):
    """A small SG3 pickle with a D (exercises the D-feature term), and a 24x24 target it rendered."""
    root = tmp_path_factory.mktemp('proj')
    torch.manual_seed(1)
    G = G3(**SMALL_SG3).eval().requires_grad_(False)
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=16).eval()
    networks.save_network_pkl(str(root / 'net.pkl'), dict(G_ema=G, D=D))
    with torch.no_grad():
        img = to_uint8_rgb(G(torch.randn(1, 16), None))[0]
    PIL.Image.fromarray(img).resize((24, 24)).save(root / 'target24.png')
    PIL.Image.fromarray(img).save(root / 'target16.png')
    return root


def test_writes_w_images_and_video_and_w_reproduces_the_image(net, tmp_path, capsys):
    out = tmp_path / 'out'
    rc = project_tool.main(['--network', str(net / 'net.pkl'), '--target', str(net / 'target24.png'), '--space', 'w+',
                            '--steps', '4', '--outdir', str(out), '--video', '--seed', '1'])
    assert rc == 0
    text = capsys.readouterr().out
    assert 'note: target target24.png is 24x24' in text and 'resized to 16x16' in text and 'D features' in text
    ws, noise = load_projection(str(out / 'projected_w.npz'))
    assert ws.shape == (SMALL_SG3['num_layers'] + 2, 16) and noise == {}
    G = networks.load_network_pkl(str(net / 'net.pkl'))['G_ema']
    proj = np.asarray(PIL.Image.open(out / 'proj.png'))
    assert np.array_equal(proj, to_uint8_rgb(render_projection(G, ws))[0])
    side = np.asarray(PIL.Image.open(out / 'target_proj.png'))
    assert side.shape == (16, 32, 3) and np.array_equal(side[:, 16:], proj)
    assert (out / 'proj.mp4').stat().st_size > 0


def test_w_space_has_one_w_and_no_note_for_the_right_size(net, tmp_path, capsys):
    rc = project_tool.main(['--network', str(net / 'net.pkl'), '--target', str(net / 'target16.png'), '--space', 'w',
                            '--steps', '2', '--outdir', str(tmp_path), '--d-weight', '0'])
    assert rc == 0
    text = capsys.readouterr().out
    assert 'note:' not in text and 'pixels)' in text
    ws, _ = load_projection(str(tmp_path / 'projected_w.npz'))
    assert torch.equal(ws, ws[:1].expand_as(ws))


@pytest.mark.parametrize('case', ['non_image', 'missing', 'bad_steps', 'bad_space'])
def test_bad_input_gives_one_error_line(net, tmp_path, capsys, case):
    bad = tmp_path / 'notes.png'
    bad.write_text('this is text, not an image')
    args = {'--network': str(net / 'net.pkl'), '--target': str(bad), '--space': 'w+', '--steps': '2',
            '--outdir': str(tmp_path / 'o')}
    if case == 'missing':
        args['--target'] = str(tmp_path / 'nothing.png')
    if case == 'bad_steps':
        args['--steps'] = '0'
    if case == 'bad_space':
        args['--space'] = 'z'
    rc = project_tool.main([x for kv in args.items() for x in kv])
    err = capsys.readouterr().err
    assert rc == 1 and err.count('\n') == 1 and err.startswith('error: ')
    if case == 'non_image':
        assert 'not a readable image' in err
    assert not (tmp_path / 'o' / 'projected_w.npz').exists()


@pytest.mark.parametrize('program', ['marker', 'loop'])
def test_postscript_target_never_starts_ghostscript(net, tmp_path, capsys, monkeypatch, program):
    # PostScript named .png: before, Pillow handed it to Ghostscript (files written, `{ } loop` hung the tool).
    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker))
    target = tmp_path / 'face.png'
    target.write_bytes(eps(marker_program(str(marker)) if program == 'marker' else LOOP_PROGRAM))
    args = ['--network', str(net / 'net.pkl'), '--target', str(target), '--steps', '2', '--outdir', str(tmp_path / 'o')]
    project_tool.main(args)   # warm: the network's first load is not the target's doing
    capsys.readouterr()
    rc = []
    elapsed, _grown, err, finished = measure(lambda: rc.append(project_tool.main(args)), timeout=10)
    assert finished and err is None and rc == [1] and elapsed < 2.0
    out = capsys.readouterr().err
    assert out.count('\n') == 1 and out.startswith('error: ') and 'PostScript' in out and 'Traceback' not in out
    assert not marker.exists() and not os.path.exists(log)
    assert not (tmp_path / 'o' / 'projected_w.npz').exists()


@pytest.mark.parametrize('payload', ['png 1x178M', 'jpeg 13000x13000'])
def test_bomb_target_is_one_line_before_decoding(net, tmp_path, capsys, payload):
    target = tmp_path / 'big.png'
    target.write_bytes(png_claiming(1, 178_000_000) if payload.startswith('png') else jpeg_claiming(13_000, 13_000))
    args = ['--network', str(net / 'net.pkl'), '--target', str(target), '--steps', '2', '--outdir', str(tmp_path / 'o')]
    project_tool.main(args)   # warm: the network's first load is not the bomb's doing
    capsys.readouterr()
    rc = []
    elapsed, grown, err, finished = measure(lambda: rc.append(project_tool.main(args)), timeout=30)
    assert finished and err is None and rc == [1]
    out = capsys.readouterr().err
    assert out.count('\n') == 1 and out.startswith('error: ') and 'more than the' in out
    assert elapsed < 2.0 and grown < 300 << 20, (elapsed, grown >> 20)


class _FakeLpips(torch.nn.Module):
    """Stands in for NVlabs' vgg16.pt: same call signature, features from a fixed random 3x3 conv."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, img: torch.Tensor, resize_images: bool = True, return_lpips: bool = False) -> torch.Tensor:
        assert not resize_images and return_lpips
        assert float(img.mean()) > 1  # [0, 255] units, as vgg16.pt expects (G's output is not clamped)
        return self.conv(img / 255).flatten(1)


def test_vgg16_term_needs_trust_and_then_runs(net, tmp_path, capsys):
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(_FakeLpips()), str(tmp_path / 'vgg16.pt'))
    args = ['--network', str(net / 'net.pkl'), '--target', str(net / 'target16.png'), '--steps', '2',
            '--outdir', str(tmp_path / 'o'), '--vgg16', str(tmp_path / 'vgg16.pt')]
    assert project_tool.main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and '--trust-detector' in err
    assert project_tool.main(args + ['--trust-detector']) == 0
    assert 'LPIPS-VGG16' in capsys.readouterr().out and (tmp_path / 'o' / 'projected_w.npz').exists()
