"""Widgets' effect on the render arguments, without a display (session load path and pure helpers)."""

from __future__ import annotations

import dataclasses
import types

import numpy as np

from viz.core.capture import next_path, side_by_side, view_image
from viz.core.render_types import RenderArgs, RenderResult


def _fake_viz():
    viz = types.SimpleNamespace(args=RenderArgs(), network={}, capture_dir='renders', image_size_px=256.0)

    def set_args(**changes):
        viz.args = dataclasses.replace(viz.args, **changes)

    viz.set_args = set_args
    return viz


def test_load_args_restores_widget_state():
    from viz.gui.widgets.latent_widget import LatentWidget, blend_seeds
    from viz.gui.widgets.layer_widget import LayerWidget
    from viz.gui.widgets.stylemix_widget import StyleMixWidget
    from viz.gui.widgets.transform_widget import TransformWidget
    from viz.gui.widgets.trunc_noise_widget import TruncationNoiseWidget

    args = RenderArgs(w0_seeds=blend_seeds(7.25, 0.0), stylemix_seed=9, stylemix_idx=(2, 3), trunc_psi=0.5,
                      trunc_cutoff=4, noise_mode='random', translate_x=0.1, rotate=30, untransform=True,
                      layer_name='L2_36_32', sel_channels=1, base_channel=5, fft_show=True)
    viz = _fake_viz()
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


def test_drags_move_latent_and_transform():
    from viz.gui.widgets.latent_widget import LatentWidget
    from viz.gui.widgets.transform_widget import TransformWidget

    viz = _fake_viz()
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
