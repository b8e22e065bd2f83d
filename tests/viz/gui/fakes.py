"""The one stand-in for the visualizer app that widget tests hand to widgets (no window, no renderer).

A widget reads and writes only a few things of the app: `args` (through `set_args`), `network` (what the loaded
network has), the layout sizes, `log`, `rect` and a few more. `fake_app` makes an object with all of them, with the
values the real app starts with; a test passes what it needs different as keyword arguments. Log lines are kept in
`messages` as (text, is_error), sessions handed to `apply_session` in `applied`, item rectangles in `rects`.
"""

from __future__ import annotations

import dataclasses
import types

from viz.core.render_types import RenderArgs


def fake_app(capture_dir: str | object = 'renders', network: dict | None = None, **attrs) -> types.SimpleNamespace:
    """A stand-in app for widgets. `capture_dir` may be a path object (tmp_path); `network` is the loaded network's
    info (an empty dict: no network yet); any other attribute is set or replaced by `attrs`."""
    viz = types.SimpleNamespace(
        args=RenderArgs(), network=dict(network or {}), capture_dir=str(capture_dir), image_size_px=256.0,
        frame_delta=0.0, wall_delta=0.0, result=None, rendering=False, messages=[], applied=[], rects={},
        font_size=14.0, label_w=90.0, button_w=70.0, spacing=6.0, browse_dir=None,
        window=types.SimpleNamespace(fps_limit=60.0, set_vsync=lambda on: None, pop_dropped=lambda: []))

    def set_args(**changes):
        viz.args = dataclasses.replace(viz.args, **changes)

    def log(text, error=False, source=None):
        viz.messages.append((text, error))
        if error:
            viz.error_text, viz.error_source = text, source

    def clear_error(source):
        if getattr(viz, 'error_source', None) == source:
            viz.error_text, viz.error_source = '', None

    def rect(name):
        from gui_utils import imgui_utils  # only widgets drawn in a headless ImGui context record rectangles

        viz.rects[name] = imgui_utils.item_rect()

    viz.set_args, viz.log, viz.rect, viz.apply_session = set_args, log, rect, viz.applied.append
    viz.clear_error = clear_error
    for name, value in attrs.items():
        setattr(viz, name, value)
    return viz
