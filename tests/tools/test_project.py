"""python -m tools.project: outputs, the saved w reproducing proj.png, the resize note, one-line errors."""

import numpy as np
import PIL.Image
import pytest
import torch

import networks
from networks.stylegan2 import Discriminator
from networks.stylegan3 import Generator as G3
from tools import project as project_tool
from viz.analysis.projection import load_projection, render_projection
from viz.core.images import to_uint8_rgb

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
