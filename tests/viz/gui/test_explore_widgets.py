"""The exploration widgets' effect on the render arguments, without a display (show=False), and their jobs."""

from __future__ import annotations

import dataclasses
import os
import types

import numpy as np
import pytest
import torch

from tests.viz.gui.fakes import fake_app
from viz.core.render_types import RenderArgs


def test_directions_widget_sets_only_nonzero_edits_and_loads_them_back():
    from viz.gui.widgets.directions_widget import DirectionsWidget

    viz = fake_app()
    widget = DirectionsWidget(viz)
    widget(show=False)
    assert viz.args.directions == ()  # all sliders at 0: no edit, the image is the plain one
    widget.strengths[2], widget.layers[2] = 1.5, 1
    widget.file, widget.file_index, widget.file_strength, widget.file_layers = 'smile.npy', 1, -2.0, 3
    widget(show=False)
    assert viz.args.directions == (('pca', 2, 1.5, 'coarse'), ('smile.npy', 1, -2.0, 'fine'))
    other = DirectionsWidget(fake_app())
    other.load_args(viz.args)
    assert other.edits() == viz.args.directions


def test_class_widget_index_or_from_seed():
    from viz.gui.widgets.class_widget import ClassWidget

    viz = fake_app()
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

    viz = fake_app(network=dict(has_transform=True))
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
    viz = fake_app(tmp_path)
    widget = KeyframesWidget(viz)
    widget.add()
    assert widget.keyframes == [] and viz.messages[-1][1]  # nothing rendered yet: an error line, no keyframe
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
    other = KeyframesWidget(fake_app(tmp_path))
    other.load(path)
    assert other.keyframes == widget.keyframes


def test_keyframes_of_another_network_are_refused_once_and_played_values_are_shown(pkl_dir, tmp_path):
    """Keyframes taken on one network and played on one with another w size failed every render (about 53 red
    lines a second). Play refuses them in one line, and a network change during playback stops it in one line.
    While playing, the panels that own the played fields show the played values (the Scale field once kept
    showing 1.5 while 1.22 played)."""
    from viz.core.renderer import Renderer
    from viz.gui.widgets.keyframes_widget import KeyframesWidget
    from viz.gui.widgets.warp_widget import WarpWidget

    renderer = Renderer()
    viz = fake_app(tmp_path)
    viz.warp_widget = WarpWidget(viz)
    widget = KeyframesWidget(viz)
    for seed, scale in ((1, 1.0), (2, 2.0)):
        viz.args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), w0_seeds=((seed, 1.0),), input_scale=scale)
        viz.result = renderer.render(viz.args)
        viz.network = dict(viz.result.network)
        widget.add()
    viz.warp_widget.load_args(viz.args)
    widget.play()
    viz.frame_delta = 0.5
    widget(show=False)
    assert widget.playing and 1.0 < viz.args.input_scale < 2.0
    assert viz.warp_widget.scale == viz.args.input_scale          # the Scale control shows what plays
    widget.stop_playing()
    assert viz.warp_widget.scale == viz.args.input_scale == 2.0   # and what is back after playback

    viz.network = dict(viz.network, w_dim=viz.network['w_dim'] * 2)   # another network is loaded
    viz.messages.clear()
    widget.play()
    assert not widget.playing and len(viz.messages) == 1 and viz.messages[0][1]
    assert 'another network' in viz.messages[0][0]
    viz.network = dict(viz.result.network)
    widget.play()
    widget(show=False)
    viz.network = dict(viz.network, num_ws=viz.network['num_ws'] + 1)  # switched while playing
    viz.messages.clear()
    for _ in range(5):
        widget(show=False)
    assert not widget.playing and len(viz.messages) == 1 and 'playback stopped' in viz.messages[0][0]


def test_keyframe_rows_say_what_they_hold_and_show_jumps_there(pkl_dir, tmp_path):
    """Rows showed only "seed N"; now each names its transform, psi, mirror and edits, and "show" puts exactly
    that keyframe's state on screen."""
    from viz.core.renderer import Renderer
    from viz.gui.widgets.keyframes_widget import KeyframesWidget

    renderer = Renderer()
    viz = fake_app(tmp_path)
    widget = KeyframesWidget(viz)
    shots = [RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), w0_seeds=((1, 1.0),)),
             RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), w0_seeds=((2, 1.0),), translate_x=0.125, rotate=-30.0,
                        trunc_psi=0.5, mirror_y=True)]
    for args in shots:
        viz.args = args
        viz.result = renderer.render(args)
        viz.network = dict(viz.result.network)
        widget.add()
        if len(widget.keyframes) == 1:
            first_image = viz.result.image
    assert widget.row_text(0) == 'seed 1, psi 1.00'
    assert widget.row_text(1) == 'seed 2, move +0.125,+0.000, rot -30.0 deg, mirror y, psi 0.50'
    widget.jump(0)
    assert viz.args.latent == widget.keyframes[0].latent and viz.args.rotate == 0.0 and not viz.args.mirror_y
    np.testing.assert_array_equal(renderer.render(viz.args).image, first_image)
    widget.jump(1)
    assert (viz.args.rotate, viz.args.trunc_psi, viz.args.mirror_y) == (-30.0, 0.5, True)
    widget.delete(0)
    widget.jump(0)                                    # one keyframe left: still shown
    assert viz.args.latent == widget.keyframes[0].latent


def test_keyframe_export_job_writes_the_loop(pkl_dir, tmp_path):
    import PIL.Image

    from viz.core.jobs import keyframe_export_job
    from viz.core.keyframes import keyframe_of
    from viz.core.renderer import Renderer

    renderer = Renderer()
    base = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'))
    kfs = [keyframe_of(a, renderer.render(a)) for a in (dataclasses.replace(base, w0_seeds=((s, 1.0),))
                                                         for s in (4, 5))]
    job = keyframe_export_job(base, kfs, str(tmp_path / 'loop.gif'), frames_per_key=3)
    assert job.wait(120) and job.error is None and job.result == 6 and job.progress == 1.0
    assert PIL.Image.open(tmp_path / 'loop.gif').n_frames == 6


def test_projection_job_runs_stops_and_reports(pkl_dir, tmp_path):
    from analysis.latent_files import load_latent
    from networks.image_write import save_png
    from viz.core.jobs import projection_job
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


def test_dropped_files_are_routed_by_extension():
    from viz.gui.widgets.pickle_widget import PickleWidget, drop_kind
    from viz.gui.widgets.projection_widget import ProjectionWidget

    assert [drop_kind(p) for p in ('a.PKL', 'b.pt', 'face.JPG', 'x.jpeg', 'y.webp', 'z.bmp', 'w.png', 'n.npz',
                                   'noext', 'dir.png/file')] == \
        ['pickle', 'pickle', 'image', 'image', 'image', 'image', 'image', None, None, None]
    viz = fake_app()
    dropped = ['/data/face.png', '/runs/net.pkl', '/tmp/notes.txt']
    viz.window = types.SimpleNamespace(pop_dropped=lambda: [dropped.pop(0)] if dropped else [])
    viz.projection_widget = ProjectionWidget(viz)
    widget = PickleWidget(viz, settings_file='/nonexistent/dir/settings.json')
    widget(show=False)  # the image: the projection panel's target, the network stays
    assert viz.projection_widget.target == '/data/face.png' and viz.args.pkl == RenderArgs().pkl
    widget(show=False)  # the pickle: loads, the target stays
    assert viz.args.pkl == '/runs/net.pkl' and viz.projection_widget.target == '/data/face.png'
    viz.messages.clear()
    widget(show=False)  # anything else: one error line naming what is accepted, nothing changes
    assert len(viz.messages) == 1 and viz.messages[0][1] and 'notes.txt' in viz.messages[0][0]
    assert '.png' in viz.messages[0][0] and '.pkl' in viz.messages[0][0]
    assert viz.args.pkl == '/runs/net.pkl' and viz.projection_widget.target == '/data/face.png'


def test_a_dropped_postscript_png_fails_in_one_line_without_ghostscript(pkl_dir, tmp_path, monkeypatch):
    from tests.networks.hostile_images import LOOP_PROGRAM, eps, install_fake_ghostscript
    from viz.gui.widgets.pickle_widget import PickleWidget
    from viz.gui.widgets.projection_widget import ProjectionWidget

    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker))
    dropped = tmp_path / 'face.png'
    dropped.write_bytes(eps(f'({marker}) (w) file closefile {LOOP_PROGRAM}'))
    viz = fake_app(tmp_path)
    viz.set_args(pkl=str(pkl_dir / 'tiny_sg3.pkl'))
    viz.window = types.SimpleNamespace(pop_dropped=lambda: [str(dropped)])
    viz.projection_widget = ProjectionWidget(viz)
    PickleWidget(viz, settings_file='/nonexistent/dir/settings.json')(show=False)
    assert viz.projection_widget.target == str(dropped)
    viz.projection_widget.start()
    job = viz.projection_widget.job
    assert job.wait(60) and job.status == 'failed'
    assert 'not a readable image' in job.error and 'PostScript' in job.error and '\n' not in job.error
    viz.projection_widget(show=False)          # the panel reports it as one error line
    assert viz.messages[-1][1] and 'projection failed' in viz.messages[-1][0]
    assert not marker.exists() and not os.path.exists(log)


def test_seed_change_while_an_explicit_latent_is_shown_goes_back_to_seeds():
    from viz.gui.widgets.latent_widget import LatentWidget

    viz = fake_app()
    widget = LatentWidget(viz)
    widget(show=False)
    viz.set_args(latent_file='/out/projected_w.npz')  # a projection finished
    for _ in range(3):  # frames without a seed change: the latent stays
        widget(show=False)
    assert viz.args.latent_file == '/out/projected_w.npz' and not viz.messages
    widget.set_seed(widget.seed + 1)  # "+", Right arrow
    widget(show=False)
    assert (viz.args.latent_file, viz.args.latent, viz.args.w0_seeds) == ('', (), ((1, 1.0),))
    assert len(viz.messages) == 1 and 'projected_w.npz' in viz.messages[0][0] and not viz.messages[0][1]
    # the seed it already is (typed into the field) also means "show that seed"
    viz.set_args(latent=(0.5,) * 16)
    widget(show=False)
    widget.set_seed(widget.seed)
    widget(show=False)
    assert viz.args.latent == () and 'explicit latent vector' in viz.messages[-1][0]
    # a drag in the image (a fine move) too
    viz.set_args(latent_file='/out/p.npz')
    widget(show=False)
    widget.drag(3.0, 0.0)
    widget(show=False)
    assert viz.args.latent_file == '' and viz.args.w0_seeds != ((1, 1.0),)


def test_explicit_latent_pauses_the_seed_animation_and_anim_goes_back_to_seeds():
    from viz.gui.widgets.latent_widget import LatentWidget

    viz = fake_app()
    viz.frame_delta = 0.1
    widget = LatentWidget(viz)
    widget.anim = True
    widget(show=False)
    assert widget.x > 0
    viz.set_args(latent_file='/out/p.npz')  # arrives while the seeds animate
    widget(show=False)
    widget(show=False)
    assert not widget.anim and viz.args.latent_file == '/out/p.npz' and 'paused' in viz.messages[-1][0]
    widget.anim = True  # the user turns the animation on again: back to moving seeds
    widget(show=False)
    widget(show=False)
    assert viz.args.latent_file == '' and widget.anim
    # a session holding a latent: its own position is no seed change
    from viz.core.render_types import RenderArgs as Args

    session = Args(w0_seeds=((7, 1.0),), latent_file='/s/p.npz')
    viz.args, widget.anim = session, False
    widget.load_args(session)
    widget(show=False)
    assert viz.args.latent_file == '/s/p.npz' and widget.seed == 7


def test_keyframe_playback_is_not_taken_for_a_seed_change():
    from viz.gui.widgets.latent_widget import LatentWidget

    viz = fake_app()
    viz.keyframes_widget = types.SimpleNamespace(playing=True)
    widget = LatentWidget(viz)
    viz.set_args(latent=(0.1,) * 16)
    widget(show=False)
    widget.set_seed(5)
    widget(show=False)
    assert viz.args.latent == (0.1,) * 16  # playback drives the latent; it restores the state when it stops


def test_projection_job_uses_the_pickles_d_only_when_asked_and_present(pkl_dir, tmp_path):
    import networks
    from analysis.projection import ProjectionError, load_discriminator
    from networks.image_write import save_png
    from networks.stylegan2 import Discriminator
    from viz.core.jobs import projection_job
    from viz.core.renderer import Renderer

    plain = str(pkl_dir / 'tiny_sg3.pkl')
    G = networks.load_network_pkl(plain)['G_ema']
    torch.manual_seed(0)
    D = Discriminator(c_dim=0, img_resolution=G.img_resolution, img_channels=3, channel_base=256, channel_max=16)
    with_d = str(tmp_path / 'with_d.pkl')
    networks.save_network_pkl(with_d, dict(G_ema=G, D=D))
    assert load_discriminator(plain) is None
    loaded = load_discriminator(with_d)
    assert loaded is not None and not any(p.requires_grad for p in loaded.parameters())
    with pytest.raises(ProjectionError, match='cannot load'):  # read by the safe loader: a hostile pickle is refused
        load_discriminator(str(pkl_dir / 'malicious.pkl'))
    save_png(str(tmp_path / 'target.png'), Renderer().render(RenderArgs(pkl=plain, w0_seeds=((8, 1.0),))).image)
    finals = {}
    for name, pkl, use_d, terms in (('d', with_d, True, 'pixels + D features'), ('off', with_d, False, 'pixels'),
                                    ('none', plain, True, 'pixels; the pickle has no D')):
        job = projection_job(pkl, str(tmp_path / 'target.png'), str(tmp_path / f'{name}.npz'), steps=5, use_d=use_d)
        assert job.wait(120) and job.error is None, job.error
        assert job.detail == f'loss: {terms}', job.detail
        finals[name] = np.load(job.result)['w']
    # The D term changes the optimisation (same G, target and seed otherwise).
    assert not np.array_equal(finals['d'], finals['off']) and np.array_equal(finals['off'], finals['none'])


def test_projection_preview_only_beside_its_network_and_use_seeds_says_so(monkeypatch):
    """After a network switch the running (or last) projection's preview belonged to the other network and stayed
    on screen; "Use seeds" went back to the seeds without the note the seed change gives."""
    from gui_utils.testing import HeadlessImgui
    from viz.gui.widgets.projection_widget import ProjectionWidget

    viz = fake_app(textures=types.SimpleNamespace(get=lambda name, image: types.SimpleNamespace(gl_id=1)))
    viz.args = RenderArgs(pkl='a.pkl', latent_file='projected_w.npz')
    widget = ProjectionWidget(viz)
    widget.job = types.SimpleNamespace(progress=0.5, error=None, status='step 5/10', done=False,
                                       preview=np.zeros((8, 8, 3), np.uint8))
    widget._job_pkl = 'a.pkl'
    from gui_utils import imgui_utils
    drawn = []
    monkeypatch.setattr(imgui_utils, 'wrapped_status', lambda text, error=False: drawn.append((text, error)))
    ui = HeadlessImgui(size=(1600, 900))
    try:
        ui.frame(widget)
        # the status goes on its own wrapped line (centred in the bar, a long one was cut at both edges)
        assert drawn[-1] == ('step 5/10', False)
        assert 'project_preview' in viz.rects
        viz.rects.clear()
        viz.args = dataclasses.replace(viz.args, pkl='b.pkl')
        ui.frame(widget)
        assert 'project_preview' not in viz.rects and 'project_progress' in viz.rects
        x0, y0, x1, y1 = viz.rects['project_clear']
        ui.click_at(widget, (x0 + x1) / 2, (y0 + y1) / 2)
    finally:
        ui.close()
    assert viz.args.latent_file == '' and viz.args.latent == ()
    assert any('showing seeds again' in text and 'projected_w.npz' in text for text, _e in viz.messages)
