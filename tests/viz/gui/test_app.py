"""viz.gui.app without a window: the header's config label (T/R/SG2), a session's layer that the network lacks
dropped with a note, error banners of actions, ImGui labels whose text changes keep their ID (###),
and slider handles that leave the value readable. Widgets: test_widgets.py; the image view: test_image_view.py."""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import types

import numpy as np
import pytest

from tests.viz.gui.fakes import fake_app
from viz.core.render_types import LayerInfo, RenderArgs, RenderResult

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


# --- the header -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('kind, label', [('sg3', 'SG3-T'), ('sg3r', 'SG3-R'), ('sg2', 'SG2')])
def test_header_names_the_config(kind, label):
    from tests.tiny_networks import tiny_generator
    from viz.core.network_cache import sg3_config
    from viz.gui.app import kind_label

    G = tiny_generator(kind, seed=1)
    info = dict(kind='StyleGAN3' if hasattr(G.synthesis, 'input') else 'StyleGAN2', config=sg3_config(G))
    assert kind_label(info) == label


# --- labels whose text changes keep their ImGui ID ------------------------------------------------------------
def test_changing_labels_use_triple_hash_ids():
    """A label built from changing values must put its ID after '###'; after '##' the whole text is the ID, so
    the item gets a new ID whenever the text changes and can never be clicked (a "Stop (N)" button that counts down)."""
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

    viz = fake_app()
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


# --- banners of actions ---------------------------------------------------------------------------------------------
def _banner_app(tmp_path):
    """A stand-in app whose log and clear_error are the real app's."""
    from viz.gui.app import VisualizerApp

    viz = fake_app(tmp_path, error_text='', _error_args=None, _error_source=None)
    viz.log = types.MethodType(VisualizerApp.log, viz)
    viz.clear_error = types.MethodType(VisualizerApp.clear_error, viz)
    return viz


def test_an_actions_error_banner_goes_when_the_action_starts_again(tmp_path, pkl_dir, monkeypatch):
    """A failed projection's "target does not exist" stayed up while the next projection ran, and a keyframe
    export's error until some render. Each now goes when its action starts again; another source's stays."""
    from networks.image_write import save_png
    from viz.core import jobs
    from viz.gui.widgets import keyframes_widget as kw
    from viz.gui.widgets.projection_widget import ProjectionWidget

    viz = _banner_app(tmp_path)
    viz.args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'))
    projection = ProjectionWidget(viz)
    projection.target = str(tmp_path / 'missing.png')
    projection.start()
    assert 'does not exist' in viz.error_text
    target = tmp_path / 'target.png'
    save_png(str(target), np.zeros((32, 32, 3), np.uint8))
    projection.target = str(target)
    projection.steps = 1
    try:
        projection.start()
        assert projection.job is not None and viz.error_text == ''
    finally:
        jobs.stop_all()       # a job left running at exit would abort the test process

    keyframes = kw.KeyframesWidget(viz)
    keyframes.keyframes = [object(), object()]
    monkeypatch.setattr(kw, 'keyframe_export_job', lambda *a, **k: types.SimpleNamespace(done=False))
    viz.log('keyframe export: the disk is full', error=True, source='keyframes')
    viz.log('a render failed', error=True)                       # a render's banner is not the export's
    keyframes.export()
    assert viz.error_text == 'a render failed'
    viz.log('keyframe export: the disk is full', error=True, source='keyframes')
    keyframes.job = None
    keyframes.export()
    assert viz.error_text == ''
