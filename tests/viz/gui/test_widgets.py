"""Widgets' effect on the render arguments, without a display: each widget is called with show=False (its
per-frame logic without drawing) and the RenderArgs it sets are checked; plus the session load path and the
pure helpers. Also: the seed field is the heaviest seed of the blend, style-mix labels name the layers each w
drives and indices that no longer apply are dropped with a note, the recent list keeps only networks that loaded,
a URL in the pickle field says downloads are off, channel -/+ clamps, and a bad session is refused whole."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

from tests.viz.gui.fakes import fake_app
from viz.core.capture import next_path, view_image
from viz.core.render_types import DEFAULT_PKL, RenderArgs, RenderResult
from viz.core.tiles import side_by_side


def test_load_args_restores_widget_state():
    from viz.gui.widgets.latent_widget import LatentWidget, blend_seeds
    from viz.gui.widgets.layer_widget import LayerWidget
    from viz.gui.widgets.stylemix_widget import StyleMixWidget
    from viz.gui.widgets.transform_widget import TransformWidget
    from viz.gui.widgets.trunc_noise_widget import TruncationNoiseWidget

    args = RenderArgs(w0_seeds=blend_seeds(7.25, 0.0), stylemix_seed=9, stylemix_idx=(2, 3), trunc_psi=0.5,
                      trunc_cutoff=4, noise_mode='random', translate_x=0.1, rotate=30, untransform=True,
                      layer_name='L2_36_32', sel_channels=1, base_channel=5, fft_show=True)
    viz = fake_app()
    latent, mix, trunc, eq, layer = (LatentWidget(viz), StyleMixWidget(viz), TruncationNoiseWidget(viz),
                                     TransformWidget(viz), LayerWidget(viz))
    for w in (latent, mix, trunc, eq, layer):
        w.load_args(args)
    assert abs(latent.x - 7.25) < 1e-9 and latent.seed == 7
    assert blend_seeds(latent.x, latent.y) == args.w0_seeds
    assert mix.enabled and mix.seed == 9 and [i for i, on in enumerate(mix.mask) if on] == [2, 3]
    assert trunc.psi == 0.5 and trunc.cutoff_on and trunc.cutoff == 4
    assert (eq.x, eq.angle, eq.untransform) == (0.1, 30.0, True)
    assert layer.layer == 'L2_36_32' and not layer.rgb and layer.base_channel == 5 and layer.fft_show


def test_latent_widget_sets_blended_seeds_and_animates():
    from viz.gui.widgets.latent_widget import LatentWidget

    viz = fake_app()
    latent = LatentWidget(viz)
    latent.x, latent.y = 7.25, 0.0
    latent(show=False)
    assert viz.args.w0_seeds == ((7, 0.75), (8, 0.25))  # a quarter of the way from seed 7 to seed 8
    latent.anim, latent.speed, viz.frame_delta = True, 2.0, 0.375
    latent(show=False)  # 0.375 s at 2 seeds/s: 0.75 seeds further
    assert viz.args.w0_seeds == ((8, 1.0),)


def test_stylemix_and_truncation_widgets_set_their_args():
    from viz.gui.widgets.stylemix_widget import StyleMixWidget
    from viz.gui.widgets.trunc_noise_widget import TruncationNoiseWidget

    viz = fake_app()
    viz.network = dict(num_ws=6, has_noise=True)
    mix = StyleMixWidget(viz)
    mix(show=False)
    assert viz.args.stylemix_idx == ()
    mix.enabled, mix.seed, mix.mask = True, 9, [False, False, True, True, False, True]
    mix(show=False)
    assert (viz.args.stylemix_seed, viz.args.stylemix_idx) == (9, (2, 3, 5))
    mix.enabled = False
    mix(show=False)
    assert viz.args.stylemix_idx == ()
    trunc = TruncationNoiseWidget(viz)
    trunc.psi, trunc.cutoff_on, trunc.cutoff, trunc.noise_mode, trunc.noise_seed = 0.5, True, 4, 1, 3
    trunc.noise_anim = True
    trunc(show=False)
    from viz.gui.widgets.trunc_noise_widget import NOISE_MODES

    assert (viz.args.trunc_psi, viz.args.trunc_cutoff) == (0.5, 4)
    assert (viz.args.noise_mode, viz.args.noise_seed) == (NOISE_MODES[1], 4)  # animated: one seed per frame
    trunc.cutoff_on = False
    trunc(show=False)
    assert viz.args.trunc_cutoff is None


def test_transform_widget_animates_snaps_and_sets_args():
    from viz.gui.widgets.transform_widget import TransformWidget

    viz = fake_app()
    viz.network = dict(has_transform=True, resolution=32)
    eq = TransformWidget(viz)
    eq.x, eq.y, eq.untransform = 0.1, -0.2, True
    eq.anim_rotate, viz.frame_delta = 10.0, 0.5
    eq(show=False)
    assert (viz.args.translate_x, viz.args.translate_y, viz.args.rotate, viz.args.untransform) == (
        0.1, -0.2, 5.0, True)
    eq.anim_rotate, eq.snap, eq.angle = 0.0, True, 10.4
    eq(show=False)  # whole pixels of a 32 px image, whole degrees
    assert (viz.args.translate_x, viz.args.translate_y, viz.args.rotate) == (3 / 32, -6 / 32, 10.0)


def test_layer_and_analysis_widgets_set_their_args():
    from viz.gui.widgets.eq_readout_widget import EquivarianceReadoutWidget
    from viz.gui.widgets.layer_widget import LayerWidget
    from viz.gui.widgets.spectrum_widget import SpectrumWidget
    from viz.gui.widgets.sticking_widget import StickingWidget

    viz = fake_app()
    layer = LayerWidget(viz)
    layer.layer, layer.rgb, layer.base_channel, layer.db, layer.normalize = 'L2_36_32', False, 5, 6.0, True
    layer.fft_show, layer.fft_beta = True, 4.0
    layer(show=False)
    a = viz.args
    assert (a.layer_name, a.sel_channels, a.base_channel, a.img_scale_db, a.img_normalize) == (
        'L2_36_32', 1, 5, 6.0, True)
    assert (a.fft_show, a.fft_beta) == (True, 4.0)
    spec, stick, eq = SpectrumWidget(viz), StickingWidget(viz), EquivarianceReadoutWidget(viz)
    for widget in (spec, stick, eq):
        widget(show=False)
    assert (viz.args.spectrum_seeds, viz.args.sticking, viz.args.eq_readout) == (0, False, False)  # off by default
    spec.enabled, spec.num_seeds, spec.dataset = True, 12, ' data.zip '
    stick.enabled, stick.radius, stick.num, stick.frames = True, 0.25, 5, 40
    eq.enabled, eq.num_transforms = True, 3
    for widget in (spec, stick, eq):
        widget(show=False)
    a = viz.args
    assert (a.spectrum_seeds, a.spectrum_dataset) == (12, 'data.zip')
    assert (a.sticking, a.sticking_radius, a.sticking_num, a.sticking_frames) == (True, 0.25, 5, 40)
    assert (a.eq_readout, a.eq_transforms) == (True, 3)


def test_drags_move_latent_and_transform():
    from viz.gui.widgets.latent_widget import LatentWidget
    from viz.gui.widgets.transform_widget import TransformWidget

    viz = fake_app()
    latent, eq = LatentWidget(viz), TransformWidget(viz)
    latent.drag(64, 0)  # a quarter of the image: one seed
    assert abs(latent.x - 1.0) < 1e-9
    eq.drag(128, -64)
    assert (eq.x, eq.y) == (0.5, -0.25)
    eq.drag(256, 0, slow=True)
    assert abs(eq.x - 0.6) < 1e-9
    eq.snap = True
    assert eq._snapped(32)[0] == round(0.6 * 32) / 32


def test_capture_helpers(tmp_path):
    img = np.zeros((32, 32, 3), np.uint8)
    fft = np.full((16, 16, 3), 200, np.uint8)
    both = side_by_side(img, fft)
    assert both.shape == (32, 64, 3) and both[:, 32:].min() == 200
    res = RenderResult(image=img, fft=fft)
    assert view_image(res, 'image') is img and view_image(res, 'fft') is fft
    assert view_image(res, 'image+fft').shape == (32, 64, 3) and view_image(None, 'image') is None
    first = next_path(str(tmp_path), 'image', 'png')
    open(first, 'w').close()
    assert first.endswith('image-00000.png') and next_path(str(tmp_path), 'image', 'png').endswith('00001.png')


# --- the seed field shows the seed the image is made of ------------------------------------------------------
def test_seed_field_is_the_heaviest_seed_of_the_blend():
    from viz.gui.widgets.latent_widget import SEED_STEP_Y, LatentWidget, blend_seeds

    latent = LatentWidget(fake_app())
    latent.x = 2.0 - 1e-4  # after a drag: the image is seed 2 (weight 0.9999)
    assert latent.seed == 2
    rng = random.Random(0)
    for _ in range(500):
        latent.x, latent.y = rng.uniform(-50, 50), rng.uniform(0, 3)
        if abs(latent.x % 1 - 0.5) < 1e-6 or abs(latent.y % 1 - 0.5) < 1e-6:
            continue  # an exact tie: either seed is right
        heaviest = max(blend_seeds(latent.x, latent.y), key=lambda sw: sw[1])[0]
        assert latent.seed & 0xFFFFFFFF == heaviest, (latent.x, latent.y)
    latent.x, latent.y = 7.3, 0.4
    latent.set_seed(12)  # typing a seed gives exactly that seed, as in NVlabs' widget
    assert blend_seeds(latent.x, latent.y) == ((12, 1.0),) and latent.seed == 12
    latent.x, latent.y = 3.0, 1.0
    assert latent.seed == 3 + SEED_STEP_Y


# --- style mix: labels (the layers each w drives) and indices that no longer apply -----------------------------
def _w_of_each_layer(G, kind):
    """Which ws index reaches each layer, measured: every ws row is distinct, hooks catch the w each layer gets."""
    seen = {}
    handles = []
    for name, module in G.synthesis.named_modules():
        if (kind == 'sg3' and (name == 'input' or re.fullmatch(r'L\d+_[^.]*', name))) or \
                (kind == 'sg2' and re.fullmatch(r'b\d+\.(conv0|conv1|torgb)', name)):
            def hook(_m, args, kwargs, name=name):
                w = args[0] if name == 'input' else (args[1] if len(args) > 1 else kwargs['w'])
                seen[name] = w
            handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    ws = torch.arange(G.num_ws, dtype=torch.float32)[None, :, None].repeat(1, 1, G.w_dim) / G.num_ws
    try:
        with torch.no_grad():
            G.synthesis(ws)
    finally:
        for h in handles:
            h.remove()
    return {name: int(round(float(w.reshape(-1)[0]) * G.num_ws)) for name, w in seen.items()}


@pytest.mark.parametrize('kind', ['sg3', 'sg2'])
def test_style_mix_labels_name_the_layers_each_w_drives(kind):
    from tests.tiny_networks import tiny_generator
    from viz.core.synthesis import list_layers
    from viz.gui.widgets.stylemix_widget import ws_layers

    G = tiny_generator(kind, seed=1)
    names = [ly.name for ly in list_layers(G, torch.device('cpu'))]
    driven = ws_layers(names, G.num_ws)
    measured = _w_of_each_layer(G, kind)
    assert measured, 'no layer hooked'
    expected = [sorted(n for n, i in measured.items() if i == k) for k in range(G.num_ws)]
    assert [sorted(d) for d in driven] == expected
    assert all(driven), 'every w drives some layer'


def test_style_mix_keeps_a_sessions_choice_and_drops_what_no_longer_applies():
    from viz.gui.widgets.stylemix_widget import StyleMixWidget

    viz = fake_app()
    mix = StyleMixWidget(viz)
    mix.load_args(RenderArgs(stylemix_seed=5, stylemix_idx=(2, 3)))
    mix(show=False)  # no network yet: the session's choice stays
    assert viz.args.stylemix_idx == (2, 3)
    viz.network = dict(num_ws=16)
    mix(show=False)  # the network arrives: 16 ws, (2, 3) still applies (it used to be reset silently)
    assert viz.args.stylemix_idx == (2, 3) and not viz.messages
    mix.mask = [i in (1, 9, 12) for i in range(16)]
    viz.network = dict(num_ws=10)  # another network: ws 12 no longer exists
    mix(show=False)
    assert viz.args.stylemix_idx == (1, 9)
    assert viz.messages and 'style mix reset' in viz.messages[-1][0] and '12' in viz.messages[-1][0]
    viz.network = dict(num_ws=1)
    mix(show=False)
    assert viz.args.stylemix_idx == () and not mix.enabled


# --- the recent list and the URL note ----------------------------------------------------------------------
def _pickle_widget(viz, settings_file):
    from viz.gui.widgets.pickle_widget import PickleWidget

    return PickleWidget(viz, settings_file=settings_file)


def test_recent_list_keeps_only_loaded_paths_between_runs(tmp_path):
    path = str(tmp_path / 'settings.json')
    viz = fake_app()
    widget = _pickle_widget(viz, path)
    assert widget.recent == []
    widget.load('/nets/good.pkl')
    assert viz.args.pkl == '/nets/good.pkl' and widget.recent == []  # asked for, not loaded yet
    widget.loaded('/nets/good.pkl')
    widget.load('/nets/missing.pkl')  # fails in the renderer: loaded() is never called for it
    widget.loaded(DEFAULT_PKL)  # the built-in network is always offered, never stored
    assert widget.recent == ['/nets/good.pkl']
    again = _pickle_widget(fake_app(), path)  # the next run
    assert again.recent == ['/nets/good.pkl']


def test_corrupt_settings_file_is_a_note_not_a_crash(tmp_path):
    path = tmp_path / 'settings.json'
    path.write_text('{"version": 1, "recent": [')
    viz = fake_app()
    widget = _pickle_widget(viz, str(path))
    assert widget.recent == []
    assert viz.messages and 'ignored the settings file' in viz.messages[0][0] and not viz.messages[0][1]


@pytest.mark.parametrize('url', ['https://api.ngc.nvidia.com/v2/models/stylegan3-t-ffhq-1024x1024.pkl',
                                 'HTTP://example.com/net.pkl', 's3://bucket/net.pkl'])
def test_a_url_in_the_pickle_field_says_downloads_are_off(tmp_path, url):
    viz = fake_app()
    widget = _pickle_widget(viz, str(tmp_path / 's.json'))
    widget.load(url)
    assert viz.args.pkl == DEFAULT_PKL  # nothing requested
    text, error = viz.messages[-1]
    assert error and 'downloads are off' in text and 'browser' in text and 'not found' not in text
    assert '--' not in text and 'python' not in text  # no command-line hints inside the GUI


# --- channel -/+ and a session refused whole ---------------------------------------------------------------
def test_channel_minus_plus_steps_and_clamps():
    from viz.gui.widgets.layer_widget import LayerWidget

    viz = fake_app()
    layer = LayerWidget(viz)
    layer.step_channel(-1, 8)
    assert layer.base_channel == 0
    for _ in range(10):
        layer.step_channel(1, 8)
    assert layer.base_channel == 7
    layer.step_channel(-1, 8)
    layer(show=False)
    assert viz.args.base_channel == 6


def test_bad_session_is_refused_whole_naming_the_field(tmp_path):
    import json

    from viz.gui.widgets.session_widget import SessionWidget

    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(dict(version=1, args=dict(w0_seeds=[[5, 1.0]], translate_x=0.25,
                                                         trunc_psi='abc'))))
    viz = fake_app()
    applied = []
    viz.apply_session = applied.append
    widget = SessionWidget(viz)
    assert widget.load(str(path)) is False
    assert applied == [] and viz.args == RenderArgs()
    text, error = viz.messages[-1]
    assert error and 'args.trunc_psi' in text and 'nothing changed' in text
