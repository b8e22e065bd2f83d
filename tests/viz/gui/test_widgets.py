"""Widgets' effect on the render arguments, without a display: each widget is called with show=False (its
per-frame logic without drawing) and the RenderArgs it sets are checked; plus the session load path and the
pure helpers."""

from __future__ import annotations

import numpy as np

from tests.viz.gui.fakes import fake_app
from viz.core.capture import next_path, view_image
from viz.core.render_types import RenderArgs, RenderResult
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
