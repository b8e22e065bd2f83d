"""Session panel: save / load the whole render state as JSON (file format in viz.core.session)."""

from __future__ import annotations

import os

from imgui_bundle import imgui

from gui_utils import imgui_utils
from networks.errors import UserError
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
            _, self.path = imgui.input_text('##session', self.path, imgui.InputTextFlags_.auto_select_all)
        imgui_utils.tooltip('A JSON file with every render setting (the headless mode reads it too)')
        viz.rect('session_path')
        imgui.same_line()
        save = imgui_utils.button('Save##session', viz.button_w)
        imgui_utils.tooltip('Write the current settings to the file')
        viz.rect('session_save')
        if save:
            try:
                save_session(self.path, viz.args)
                viz.log(f'saved session {self.path}')
            except OSError as exc:
                viz.log(f'cannot save session: {exc}', error=True)
        imgui.same_line()
        load = imgui_utils.button('Load##session', viz.button_w)
        imgui_utils.tooltip('Replace the settings with the file\'s; a file with a bad field is refused whole')
        viz.rect('session_load')
        if load:
            self.load(self.path)

    def load(self, path: str) -> bool:
        """Apply a session file, or refuse it whole (load_session checks every field before anything is used)."""
        try:
            args, _views = load_session(path)
        except UserError as exc:  # SessionError or FileReadError: any file content ends here, as one line
            self.viz.log(f'session not loaded, nothing changed: {exc}', error=True)
            return False
        self.viz.apply_session(args)
        self.viz.log(f'loaded session {path}')
        return True
