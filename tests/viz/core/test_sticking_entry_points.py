"""Texture sticking has one definition (analysis.sticking.sticking_views): the command line, the renderer the GUI
draws from and the headless view give the same pixels, and the walk and the class are the documented ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import PIL.Image
import pytest
import torch

import networks
from analysis.sticking import WALK_LENGTH
from networks.conventions import class_label, seed_latent, seed_to_zc, to_uint8_rgb
from tests.tiny_networks import tiny_generator
from tools import sticking as sticking_cli
from viz.core.headless import render_views
from viz.core.render_types import RenderArgs
from viz.core.renderer import Renderer

SEED, RADIUS, NUM, FRAMES, PSI = 3, 0.3, 3, 5, 0.8


@pytest.fixture(scope='module')
def conditional_pkl(tmp_path_factory):
    path = tmp_path_factory.mktemp('cond') / 'cond_sg3.pkl'
    networks.save_network_pkl(str(path), dict(G_ema=tiny_generator('sg3', resolution=16, c_dim=3, channel_base=256,
                                                                  channel_max=16, seed=4)))
    return str(path)


def _png(path) -> np.ndarray:
    with PIL.Image.open(path) as im:
        return np.asarray(im.convert('RGB'))


@pytest.mark.parametrize('which', ['tiny_sg3.pkl', 'tiny_sg2.pkl', 'conditional'])
def test_cli_renderer_and_headless_agree_pixel_for_pixel(which, pkl_dir, conditional_pkl, tmp_path):
    torch.set_num_threads(1)
    pkl = conditional_pkl if which == 'conditional' else str(pkl_dir / which)
    assert sticking_cli.main(['--network', pkl, '--seed', str(SEED), '--radius', str(RADIUS), '--num', str(NUM),
                              '--frames', str(FRAMES), '--trunc', str(PSI), '--outdir', str(tmp_path / 'cli')]) == 0
    stem = pkl.rsplit('/', 1)[-1][:-len('.pkl')]
    cli = {k: _png(tmp_path / 'cli' / f'{stem}-{k}.png') for k in ('central', 'average', 'streak')}

    args = RenderArgs(pkl=pkl, w0_seeds=((SEED, 1.0),), trunc_psi=PSI, sticking_radius=RADIUS, sticking_num=NUM,
                      sticking_frames=FRAMES)
    renderer = Renderer()
    gui = renderer.render(dataclasses.replace(args, sticking=True))
    assert gui.sticking is not None, gui.messages
    written, errors = render_views(args, ['sticking'], str(tmp_path / 'headless'), renderer=Renderer(),
                                   say=lambda _text: None)
    assert errors == [] and len(written) == 3  # the two images and render_info.json
    headless = {k: _png(tmp_path / 'headless' / f'sticking_{k}.png') for k in ('average', 'streak')}

    for key in ('average', 'streak'):
        np.testing.assert_array_equal(gui.sticking[key], cli[key])
        np.testing.assert_array_equal(headless[key], cli[key])
    assert cli['streak'].shape == (cli['central'].shape[0], FRAMES, 3)

    # The definition: the walk ends at z0 + WALK_LENGTH * radius * z(seed + 1), with the seed's own class.
    G = networks.load_generator(pkl)
    c = class_label(G, None, SEED)
    z1 = seed_latent(G, SEED) + RADIUS * WALK_LENGTH * seed_latent(G, SEED + 1)
    with torch.no_grad():
        end = to_uint8_rgb(G(z1, c, truncation_psi=PSI, noise_mode='const')[0])
        central = to_uint8_rgb(G(seed_latent(G, SEED), c, truncation_psi=PSI, noise_mode='const')[0])
    column = G.img_resolution // 2
    assert np.abs(cli['streak'][:, -1].astype(int) - end[:, column]).max() <= 1
    assert np.abs(cli['streak'][:, 0].astype(int) - central[:, column]).max() <= 1
    assert np.abs(cli['streak'][:, -1].astype(int) - central[:, column]).max() > 3  # the walk moves: can fail
    np.testing.assert_array_equal(cli['central'], central)


def test_a_conditional_network_gets_the_seeds_own_class(conditional_pkl):
    G = networks.load_generator(conditional_pkl)
    c = class_label(G, None, SEED)
    expected = seed_to_zc(SEED, G.z_dim, 3)[1]
    np.testing.assert_array_equal(c[0].numpy(), expected)
    assert expected.sum() == 1
    with torch.no_grad():
        z = seed_latent(G, SEED)
        with_class = G(z, c, noise_mode='const')
        zero_class = G(z, torch.zeros([1, 3]), noise_mode='const')
    assert (with_class - zero_class).abs().max() > 1e-3  # an all-zero label would give another image
    other = class_label(G, (int(expected.argmax()) + 1) % 3, SEED)  # a given class wins over the seed's
    assert int(other.argmax()) == (int(expected.argmax()) + 1) % 3
