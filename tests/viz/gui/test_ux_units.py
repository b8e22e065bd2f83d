"""Issue 12's GUI defects and "self-explanatory" items that need no window: seed rounding, style-mix labels and
stale indices, the recent list, URLs in the pickle field, the image view's zoom/pan/readout, T/R/SG2 in the
header, channel -/+, the session refused whole, and changing ImGui labels that keep their ID (###)."""

from __future__ import annotations

import ast
import dataclasses
import math
import os
import random
import re
import types

import numpy as np
import pytest
import torch

from viz.core.render_types import DEFAULT_PKL, LayerInfo, RenderArgs, RenderResult

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _fake_viz(**extra):
    viz = types.SimpleNamespace(args=RenderArgs(), network={}, capture_dir='renders', image_size_px=256.0,
                                frame_delta=0.0, result=None, messages=[], **extra)

    def set_args(**changes):
        viz.args = dataclasses.replace(viz.args, **changes)

    def log(text, error=False):
        viz.messages.append((text, error))

    viz.set_args, viz.log = set_args, log
    return viz


# --- #6: the seed field shows the seed the image is made of --------------------------------------------------
def test_seed_field_is_the_heaviest_seed_of_the_blend():
    from viz.gui.widgets.latent_widget import SEED_STEP_Y, LatentWidget, blend_seeds

    latent = LatentWidget(_fake_viz())
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


# --- style mix: labels (the layers each w drives) and indices that no longer apply (#7) ------------------------
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

    viz = _fake_viz()
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


# --- #8 recent list and the URL note ------------------------------------------------------------------------
def _pickle_widget(viz, settings_file):
    from viz.gui.widgets.pickle_widget import PickleWidget

    viz.window = types.SimpleNamespace(pop_dropped=lambda: [])
    viz.browse_dir = None
    return PickleWidget(viz, settings_file=settings_file)


def test_recent_list_keeps_only_loaded_paths_between_runs(tmp_path):
    path = str(tmp_path / 'settings.json')
    viz = _fake_viz()
    widget = _pickle_widget(viz, path)
    assert widget.recent == []
    widget.load('/nets/good.pkl')
    assert viz.args.pkl == '/nets/good.pkl' and widget.recent == []  # asked for, not loaded yet
    widget.loaded('/nets/good.pkl')
    widget.load('/nets/missing.pkl')  # fails in the renderer: loaded() is never called for it
    widget.loaded(DEFAULT_PKL)  # the built-in network is always offered, never stored
    assert widget.recent == ['/nets/good.pkl']
    again = _pickle_widget(_fake_viz(), path)  # the next run
    assert again.recent == ['/nets/good.pkl']


def test_corrupt_settings_file_is_a_note_not_a_crash(tmp_path):
    path = tmp_path / 'settings.json'
    path.write_text('{"version": 1, "recent": [')
    viz = _fake_viz()
    widget = _pickle_widget(viz, str(path))
    assert widget.recent == []
    assert viz.messages and 'ignored the settings file' in viz.messages[0][0] and not viz.messages[0][1]


@pytest.mark.parametrize('url', ['https://api.ngc.nvidia.com/v2/models/stylegan3-t-ffhq-1024x1024.pkl',
                                 'HTTP://example.com/net.pkl', 's3://bucket/net.pkl'])
def test_a_url_in_the_pickle_field_says_downloads_are_off(tmp_path, url):
    viz = _fake_viz()
    widget = _pickle_widget(viz, str(tmp_path / 's.json'))
    widget.load(url)
    assert viz.args.pkl == DEFAULT_PKL  # nothing requested
    text, error = viz.messages[-1]
    assert error and 'downloads are off' in text and 'browser' in text and 'not found' not in text
    assert '--' not in text and 'python' not in text  # no command-line hints inside the GUI


# --- zoom, pan and the pixel readout ------------------------------------------------------------------------
def test_zoom_keeps_the_point_under_the_cursor_and_stays_inside_the_image():
    from viz.gui.image_view import MAX_ZOOM, ImageView

    rng = random.Random(1)
    view = ImageView()
    assert view.uv() == (0.0, 0.0, 1.0, 1.0) and view.pixel_at(0.999, 0.0, 32, 32) == (31, 0)
    for _ in range(300):
        fx, fy, factor = rng.random(), rng.random(), rng.choice([1.25, 0.8, 1.25 ** 3, 0.5])
        u0, v0, u1, v1 = view.uv()
        before = (u0 + fx * (u1 - u0), v0 + fy * (v1 - v0))
        old_zoom = view.zoom
        view.zoom_at(fx, fy, factor)
        u0, v0, u1, v1 = view.uv()
        assert 0 <= u0 < u1 <= 1 and 0 <= v0 < v1 <= 1 and 1 <= view.zoom <= MAX_ZOOM
        assert math.isclose(u1 - u0, 1 / view.zoom) and math.isclose(v1 - v0, 1 / view.zoom)
        after = (u0 + fx * (u1 - u0), v0 + fy * (v1 - v0))
        if 1 < old_zoom * factor < MAX_ZOOM and 0 < u0 and u1 < 1 and 0 < v0 and v1 < 1:
            # not at a zoom limit and not pushed back from an edge: the point under the cursor stays put
            assert np.allclose(after, before, atol=1e-12), (before, after)
    view.reset()
    view.zoom_at(0.75, 0.25, 4.0)  # 4x about the point (0.75, 0.25)
    assert np.allclose(view.uv(), (0.5625, 0.1875, 0.8125, 0.4375))
    assert view.pixel_at(0.0, 0.0, 64, 64) == (36, 12) and view.pixel_at(1.0, 0.5, 64, 64) is None
    view.pan(-1000, 0, 100, 100)  # far to the left: stops at the right edge
    assert math.isclose(view.uv()[2], 1.0)


# --- header, channel -/+, session ---------------------------------------------------------------------------
@pytest.mark.parametrize('kind, label', [('sg3', 'SG3-T'), ('sg3r', 'SG3-R'), ('sg2', 'SG2')])
def test_header_names_the_config(kind, label):
    from tests.tiny_networks import tiny_generator
    from viz.core.network_cache import sg3_config
    from viz.gui.app import kind_label

    G = tiny_generator(kind, seed=1)
    info = dict(kind='StyleGAN3' if hasattr(G.synthesis, 'input') else 'StyleGAN2', config=sg3_config(G))
    assert kind_label(info) == label


def test_channel_minus_plus_steps_and_clamps():
    from viz.gui.widgets.layer_widget import LayerWidget

    viz = _fake_viz()
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
    viz = _fake_viz()
    applied = []
    viz.apply_session = applied.append
    widget = SessionWidget(viz)
    assert widget.load(str(path)) is False
    assert applied == [] and viz.args == RenderArgs()
    text, error = viz.messages[-1]
    assert error and 'args.trunc_psi' in text and 'nothing changed' in text


# --- labels whose text changes keep their ImGui ID ------------------------------------------------------------
def test_changing_labels_use_triple_hash_ids():
    """A label built from changing values must put its ID after '###'; after '##' the whole text is the ID, so
    the item gets a new ID whenever the text changes and can never be clicked (issue 12, "Stop (N)")."""
    offenders = []
    for folder in ('viz/gui', 'gui_utils'):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if not name.endswith('.py'):
                    continue
                text = open(os.path.join(dirpath, name), encoding='utf-8').read()
                for m in re.finditer(r"""f(['"])([^'"]*)\1""", text):
                    body = m.group(2)
                    if '##' in body and '{' in body.split('##')[0] and '###' not in body:
                        offenders.append(f'{name}: {body}')
                # 'Stop##x' if running else 'Start##x': two texts, so two IDs, as well
                for node in ast.walk(ast.parse(text)):
                    if isinstance(node, ast.IfExp) and all(
                            isinstance(v, ast.Constant) and isinstance(v.value, str) and '##' in v.value
                            for v in (node.body, node.orelse)):
                        a, b = node.body.value, node.orelse.value
                        if a != b and not ('###' in a and '###' in b):
                            offenders.append(f'{name}: {a!r} / {b!r}')
    assert not offenders, offenders


def test_layer_reset_note_uses_result_layers():
    """The app drops a selected layer the network lacks (the check itself, without a window)."""
    from viz.gui.app import VisualizerApp
    from viz.gui.widgets.layer_widget import LayerWidget

    viz = _fake_viz()
    viz.layer_widget = LayerWidget(viz)
    viz.layer_widget.layer = 'L99'
    res = RenderResult(args=RenderArgs(layer_name='L99'), layers=(LayerInfo('input', (1, 4, 8, 8), 'float32'),),
                       network=dict(name='tiny.pkl'))
    VisualizerApp._drop_stale_layer(viz, res)
    assert viz.layer_widget.layer is None and viz.args.layer_name is None
    assert 'layer selection reset' in viz.messages[-1][0] and 'L99' in viz.messages[-1][0]
    viz.layer_widget.layer = 'input'
    VisualizerApp._drop_stale_layer(viz, dataclasses.replace(res, args=RenderArgs(layer_name='input')))
    assert viz.layer_widget.layer == 'input'


def test_slider_handles_leave_the_value_readable():
    """ImGui draws a slider's value over its handle: the handle must be thin and see-through."""
    from gui_utils.window import readable_slider_style

    colours: dict = {}

    class Style:  # the two calls of ImGui's style the function uses (tests do not import imgui)
        grab_min_size = 12.0

        def color_(self, col):
            return colours.get(col, types.SimpleNamespace(x=0.3, y=0.5, z=0.9, w=1.0))

        def set_color_(self, col, value):
            colours[col] = value

    style = Style()
    readable_slider_style(style)
    assert len(colours) == 2  # the handle and the dragged handle: same colour, see-through
    assert all(c.w <= 0.5 and np.allclose((c.x, c.y, c.z), (0.3, 0.5, 0.9)) for c in colours.values())
    assert style.grab_min_size <= 4
