"""The exploration widgets' effect on the render arguments, without a display (show=False), and their jobs."""

from __future__ import annotations

import dataclasses
import types

import numpy as np
import pytest

from viz.core.render_types import RenderArgs


def _fake_viz(tmp_path=None, **network):
    viz = types.SimpleNamespace(args=RenderArgs(), network=dict(network), capture_dir=str(tmp_path or 'renders'),
                                image_size_px=256.0, frame_delta=0.0, result=None, logged=[])

    def set_args(**changes):
        viz.args = dataclasses.replace(viz.args, **changes)

    viz.set_args = set_args
    viz.log = lambda text, error=False: viz.logged.append((text, error))
    return viz


def test_directions_widget_sets_only_nonzero_edits_and_loads_them_back():
    from viz.gui.widgets.directions_widget import DirectionsWidget

    viz = _fake_viz()
    widget = DirectionsWidget(viz)
    widget(show=False)
    assert viz.args.directions == ()  # all sliders at 0: no edit, the image is the plain one
    widget.strengths[2], widget.layers[2] = 1.5, 1
    widget.file, widget.file_index, widget.file_strength, widget.file_layers = 'smile.npy', 1, -2.0, 3
    widget(show=False)
    assert viz.args.directions == (('pca', 2, 1.5, 'coarse'), ('smile.npy', 1, -2.0, 'fine'))
    other = DirectionsWidget(_fake_viz())
    other.load_args(viz.args)
    assert other.edits() == viz.args.directions


def test_class_widget_index_or_from_seed():
    from viz.gui.widgets.class_widget import ClassWidget

    viz = _fake_viz()
    viz.args = RenderArgs(class_idx=2)
    widget = ClassWidget(viz)
    widget.load_args(viz.args)
    widget(show=False)
    assert viz.args.class_idx == 2  # no network yet: a session's class is kept
    viz.network = dict(c_dim=4)
    widget.index = 9
    widget(show=False)
    assert viz.args.class_idx == 3  # clamped to the classes there are
    widget.from_seed = True
    widget(show=False)
    assert viz.args.class_idx is None
    viz.network = dict(c_dim=0)
    widget.from_seed = False
    widget(show=False)
    assert viz.args.class_idx is None  # unconditional


def test_warp_widget_sets_scale_shear_mirror():
    from viz.gui.widgets.warp_widget import WarpWidget

    viz = _fake_viz(has_transform=True)
    widget = WarpWidget(viz)
    widget(show=False)
    assert (viz.args.input_scale, viz.args.shear_x, viz.args.mirror_x) == (1.0, 0.0, False)
    widget.scale, widget.shear, widget.mirror = 2.0, [0.1, -0.2], [True, False]
    widget(show=False)
    assert (viz.args.input_scale, viz.args.shear_x, viz.args.shear_y, viz.args.mirror_x, viz.args.mirror_y) == \
        (2.0, 0.1, -0.2, True, False)


def test_keyframes_widget_add_reorder_delete_play(pkl_dir, tmp_path):
    from viz.core.renderer import Renderer
    from viz.gui.widgets.keyframes_widget import KeyframesWidget

    renderer = Renderer()
    viz = _fake_viz(tmp_path)
    widget = KeyframesWidget(viz)
    widget.add()
    assert widget.keyframes == [] and viz.logged[-1][1]  # nothing rendered yet: an error line, no keyframe
    for seed in (1, 2, 3):
        viz.args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), w0_seeds=((seed, 1.0),), rotate=10.0 * seed)
        viz.result = renderer.render(viz.args)
        widget.add()
    assert widget.labels == ['seed 1', 'seed 2', 'seed 3']
    widget.move(0, 1)
    assert widget.labels == ['seed 2', 'seed 1', 'seed 3']
    widget.move(0, -1)  # out of range: nothing moves
    widget.delete(2)
    assert len(widget.keyframes) == 2
    before = viz.args
    widget.play()
    viz.frame_delta = 0.0
    widget(show=False)
    assert viz.args.latent == widget.keyframes[0].latent and viz.args.rotate == 20.0  # t = 0: the first keyframe
    viz.frame_delta = 0.5  # 15 frames of 30 per key: half way to the next keyframe
    widget(show=False)
    assert widget.t == pytest.approx(0.5) and 10.0 < viz.args.rotate < 20.0
    widget.stop_playing()
    assert viz.args == before  # playback leaves the arguments as they were
    path = widget.save()
    other = KeyframesWidget(_fake_viz(tmp_path))
    other.load(path)
    assert other.keyframes == widget.keyframes


def test_keyframe_export_job_writes_the_loop(pkl_dir, tmp_path):
    import PIL.Image

    from viz.analysis.jobs import keyframe_export_job
    from viz.analysis.keyframes import keyframe_of
    from viz.core.renderer import Renderer

    renderer = Renderer()
    base = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'))
    kfs = [keyframe_of(a, renderer.render(a)) for a in (dataclasses.replace(base, w0_seeds=((s, 1.0),))
                                                         for s in (4, 5))]
    job = keyframe_export_job(base, kfs, str(tmp_path / 'loop.gif'), frames_per_key=3)
    assert job.wait(120) and job.error is None and job.result == 6 and job.progress == 1.0
    assert PIL.Image.open(tmp_path / 'loop.gif').n_frames == 6


def test_projection_job_runs_stops_and_reports(pkl_dir, tmp_path):
    from viz.analysis.jobs import projection_job
    from viz.core.images import save_png
    from viz.core.latents import load_latent
    from viz.core.renderer import Renderer

    pkl = str(pkl_dir / 'tiny_sg3.pkl')
    target = Renderer().render(RenderArgs(pkl=pkl, w0_seeds=((8, 1.0),))).image
    save_png(str(tmp_path / 'target.png'), target)
    job = projection_job(pkl, str(tmp_path / 'target.png'), str(tmp_path / 'p.npz'), steps=20)
    assert job.wait(120) and job.error is None and job.status == 'done' and job.progress == 1.0
    assert load_latent(job.result).shape == (16, 16) and job.preview.shape == target.shape
    # a stop request ends it early; the latent reached so far is still written
    slow = projection_job(pkl, str(tmp_path / 'target.png'), str(tmp_path / 'q.npz'), steps=100_000)
    slow.stop()
    assert slow.wait(120) and slow.status == 'stopped' and slow.progress < 0.01
    assert load_latent(slow.result).shape == (16, 16)
    bad = projection_job(pkl, str(tmp_path / 'p.npz'), str(tmp_path / 'r.npz'), steps=5)  # not an image
    assert bad.wait(60) and bad.status == 'failed' and 'not a readable image' in bad.error
    from networks.errors import UserError

    with pytest.raises(UserError, match='does not exist'):
        projection_job(pkl, str(tmp_path / 'missing.png'), str(tmp_path / 's.npz'))
    assert np.isfinite(load_latent(job.result)).all()
