"""gen_images / gen_video with --class and --direction agree with the renderer (same pixels)."""

from __future__ import annotations

import dataclasses

import numpy as np
import PIL.Image
import pytest
import torch

import networks
from tests.tiny_networks import tiny_generator
from tools import gen_images, gen_video
from viz.core.render_types import RenderArgs
from viz.core.renderer import Renderer


@pytest.fixture(scope='module')
def cond_pkl(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp('cond') / 'cond.pkl')
    networks.save_network_pkl(path, dict(G_ema=tiny_generator('sg3', c_dim=3, seed=4, output_scale=2.0)))
    return path


@pytest.fixture(scope='module')
def renderer():
    torch.set_num_threads(1)
    return Renderer()


def _png(path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path))


def test_class_cli_and_renderer_agree(cond_pkl, renderer, tmp_path) -> None:
    images = []
    for k in range(3):
        out = tmp_path / f'c{k}'
        assert gen_images.main(['--network', cond_pkl, '--seeds', '6', '--class', str(k), '--outdir', str(out)]) == 0
        cli_image = _png(out / 'seed0006.png')
        res = renderer.render(RenderArgs(pkl=cond_pkl, w0_seeds=((6, 1.0),), class_idx=k))
        assert res.error is None
        np.testing.assert_array_equal(cli_image, res.image)
        images.append(cli_image.astype(int))
    assert np.abs(images[0] - images[1]).mean() > 1 and np.abs(images[1] - images[2]).mean() > 1


def test_direction_cli_and_renderer_agree(cond_pkl, renderer, tmp_path) -> None:
    cache = tmp_path / 'cache'
    boundary = tmp_path / 'boundary.npy'
    np.save(boundary, np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32))
    argv = ['--network', cond_pkl, '--seeds', '2', '--class', '1', '--cache-dir', str(cache),
            '--direction', 'pca:1=2.5@coarse', '--direction', f'{boundary}:1=-1.5@3-9', '--outdir', str(tmp_path)]
    assert gen_images.main(argv) == 0
    renderer.directions.cache_dir = str(cache)
    args = RenderArgs(pkl=cond_pkl, w0_seeds=((2, 1.0),), class_idx=1,
                      directions=(('pca', 1, 2.5, 'coarse'), (str(boundary), 1, -1.5, '3-9')))
    res = renderer.render(args)
    assert res.error is None
    np.testing.assert_array_equal(_png(tmp_path / 'seed0002.png'), res.image)
    plain = renderer.render(dataclasses.replace(args, directions=())).image
    assert np.abs(plain.astype(int) - res.image.astype(int)).mean() > 1  # the edit is visible
    assert len(list(cache.glob('pca_*.npz'))) == 1  # the PCA went to the named cache


def test_gen_video_class_and_direction(cond_pkl, tmp_path, capsys) -> None:
    out = str(tmp_path / 'walk.gif')
    base = ['--network', cond_pkl, '--seeds', '0-1', '--w-frames', '2', '--output', out]
    assert gen_video.main(base) == 1
    assert 'conditional' in (err := capsys.readouterr().err) and '(--class)' in err
    assert gen_video.main(base + ['--class', '2', '--cache-dir', str(tmp_path), '--direction', 'pca=1@fine']) == 0
    frames = PIL.Image.open(out)
    assert frames.n_frames == 4
