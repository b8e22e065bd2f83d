"""Session state: save / load the whole render state as JSON (the same file drives the headless mode)."""

from __future__ import annotations

import json
import os

from imgui_bundle import imgui

from gui_utils import imgui_utils
from viz.render_types import RenderArgs, args_from_dict, args_to_dict

SESSION_VERSION = 1


def save_session(path: str, args: RenderArgs, views: list[str] | None = None) -> None:
    data = dict(version=SESSION_VERSION, args=args_to_dict(args))
    if views:
        data['views'] = list(views)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def load_session(path: str) -> tuple[RenderArgs, list[str] | None]:
    """(args, views) from a session file; ValueError with a clear message for a bad file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path} is not a JSON session file ({exc.msg} at line {exc.lineno})') from exc
    if not isinstance(data, dict) or not isinstance(data.get('args'), dict):
        raise ValueError(f'{path} is not a session file (no "args" object)')
    views = data.get('views')
    return args_from_dict(data['args']), list(views) if isinstance(views, list) else None


class SessionWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.path = os.path.join(viz.capture_dir, 'session.json')

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if not show:
            return
        imgui.text('Session')
        imgui.same_line(viz.label_w)
        with imgui_utils.item_width(-viz.button_w * 2 - viz.spacing * 2):
            _, self.path = imgui.input_text('##session', self.path)
        imgui.same_line()
        save = imgui_utils.button('Save##session', viz.button_w)
        viz.rect('session_save')
        if save:
            try:
                save_session(self.path, viz.args)
                viz.log(f'saved session {self.path}')
            except OSError as exc:
                viz.log(f'cannot save session: {exc}', error=True)
        imgui.same_line()
        load = imgui_utils.button('Load##session', viz.button_w)
        viz.rect('session_load')
        if load:
            try:
                args, _views = load_session(self.path)
                viz.apply_session(args)
                viz.log(f'loaded session {self.path}')
            except (OSError, ValueError, TypeError) as exc:
                viz.log(f'cannot load session: {exc}', error=True)
