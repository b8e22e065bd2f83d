"""Session panel: save / load the whole render state as JSON (file format in viz.core.session)."""

from __future__ import annotations

import os

from imgui_bundle import imgui

from gui_utils import imgui_utils
from viz.core.session import load_session, save_session


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
