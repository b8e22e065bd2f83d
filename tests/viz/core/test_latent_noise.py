"""A StyleGAN2 projection's noise maps in the renderer: a projected_w.npz shown on its SG2 network is exactly the
projection's saved final image (w alone is not), and the network's own noise buffers come back afterwards."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from networks.errors import UserError
from networks.image_write import save_png
from viz.core.render_types import RenderArgs
from viz.core.renderer import Renderer


@pytest.fixture(scope='module')
def projected(pkl_dir, tmp_path_factory):
    """tools.project run for a few steps on the tiny SG2 network (noise maps optimised and saved)."""
    from tools import project as project_tool

    root = tmp_path_factory.mktemp('sg2proj')
    pkl = str(pkl_dir / 'tiny_sg2.pkl')
    target = Renderer().render(RenderArgs(pkl=pkl, w0_seeds=((3, 1.0),))).image
    save_png(str(root / 'target.png'), target)
    assert project_tool.main(['--network', pkl, '--target', str(root / 'target.png'), '--space', 'w+',
                              '--steps', '6', '--outdir', str(root / 'out'), '--seed', '2']) == 0
    return pkl, root / 'out'


def test_sg2_projection_renders_exactly_its_saved_image(projected, tmp_path):
    pkl, out = projected
    with np.load(out / 'projected_w.npz') as data:
        assert any(k.startswith('noise/') for k in data.files)  # the premise: SG2 maps are saved
        w = np.array(data['w'])
    saved = np.asarray(PIL.Image.open(out / 'proj.png').convert('RGB'))
    renderer = Renderer()
    res = renderer.render(RenderArgs(pkl=pkl, latent_file=str(out / 'projected_w.npz')))
    assert res.error is None
    np.testing.assert_array_equal(res.image, saved)
    # w alone (the same latent without its maps) is a visibly different image: the maps matter
    np.save(tmp_path / 'w_only.npy', w)
    plain = renderer.render(RenderArgs(pkl=pkl, latent_file=str(tmp_path / 'w_only.npy')))
    assert plain.error is None and np.abs(plain.image.astype(int) - saved).mean() > 0.5
    # the maps are on loan for that render only: a seed renders as on a renderer that never saw the file
    seed = RenderArgs(pkl=pkl, w0_seeds=((9, 1.0),))
    np.testing.assert_array_equal(renderer.render(seed).image, Renderer().render(seed).image)
    # noise mode 'none' asks for no noise: the maps are not applied (the image equals w alone without noise)
    none_file = renderer.render(RenderArgs(pkl=pkl, latent_file=str(out / 'projected_w.npz'), noise_mode='none'))
    none_w = renderer.render(RenderArgs(pkl=pkl, latent_file=str(tmp_path / 'w_only.npy'), noise_mode='none'))
    np.testing.assert_array_equal(none_file.image, none_w.image)


def test_compared_panes_read_the_noise_maps_once(projected, tmp_path, monkeypatch):
    # Each pane renders with the same latent file: its maps are read once, not once per pane and render.
    import shutil

    from viz.core import renderer as renderer_mod

    pkl, out = projected
    other = shutil.copy(pkl, tmp_path / 'same_network_elsewhere.pkl')
    reads = []
    real_load = renderer_mod.load_noise_maps
    monkeypatch.setattr(renderer_mod, 'load_noise_maps', lambda path: reads.append(path) or real_load(path))
    renderer = Renderer()
    args = RenderArgs(pkl=pkl, latent_file=str(out / 'projected_w.npz'), compare_pkls=(str(other),))
    first = renderer.render(args)
    second = renderer.render(args)
    assert first.error is None and second.error is None and np.array_equal(first.image, second.image)
    assert len(reads) == 1


def test_noise_maps_of_another_network_are_refused(projected, tmp_path):
    pkl, out = projected
    with np.load(out / 'projected_w.npz') as data:
        arrays = {k: np.array(data[k]) for k in data.files}
    name = next(k for k in arrays if k.startswith('noise/'))
    wrong_shape = dict(arrays, **{name: np.zeros((3, 5), np.float32)})
    np.savez(tmp_path / 'shape.npz', **wrong_shape)
    res = Renderer().render(RenderArgs(pkl=pkl, latent_file=str(tmp_path / 'shape.npz')))
    assert res.error and 'noise map' in res.error and res.image is None
    np.savez(tmp_path / 'name.npz', **dict(arrays, **{'noise/b999.conv1.noise_const': np.zeros((4, 4))}))
    res = Renderer().render(RenderArgs(pkl=pkl, latent_file=str(tmp_path / 'name.npz')))
    assert res.error and 'do not belong to this network' in res.error
    np.savez(tmp_path / 'nan.npz', **dict(arrays, **{name: np.full_like(arrays[name], np.nan)}))
    res = Renderer().render(RenderArgs(pkl=pkl, latent_file=str(tmp_path / 'nan.npz')))
    assert res.error and 'finite' in res.error


def test_given_noise_restores_the_buffers_after_an_error(pkl_dir):
    from networks import load_network_pkl
    from networks.stylegan2 import noise_buffers
    from viz.core.synthesis import given_noise

    G = load_network_pkl(str(pkl_dir / 'tiny_sg2.pkl'))['G_ema']
    before = {k: v.clone() for k, v in noise_buffers(G).items()}
    name = next(iter(before))
    with pytest.raises(RuntimeError), given_noise(G, {name: torch.ones_like(before[name])}):
        assert torch.equal(noise_buffers(G)[name], torch.ones_like(before[name]))
        raise RuntimeError('synthesis failed')
    assert all(torch.equal(noise_buffers(G)[k], v) for k, v in before.items())
    with pytest.raises(UserError, match='noise map'):
        with given_noise(G, {name: torch.ones(2, 2)}):
            pass
