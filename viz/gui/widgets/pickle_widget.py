"""Pickle widget: path field, recent list, browse a runs directory, drag-and-drop onto the window."""

from __future__ import annotations

import glob
import os

from imgui_bundle import imgui

from gui_utils import imgui_utils
from viz.core.render_types import DEFAULT_PKL


class PickleWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.path_text = ''
        self.recent: list[str] = [DEFAULT_PKL]
        self._browse_cache: tuple[float, list[str]] = (0.0, [])

    def load(self, path: str) -> None:
        """Ask for `path` (errors such as a missing file come back from the renderer as text)."""
        path = path.strip() or DEFAULT_PKL
        self.path_text = '' if path == DEFAULT_PKL else path
        if path in self.recent:
            self.recent.remove(path)
        self.recent.insert(0, path)
        del self.recent[12:]
        self.viz.log(f'loading {path}')
        self.viz.set_args(pkl=path, layer_name=None, stylemix_idx=())

    def browse_list(self) -> list[str]:
        """*.pkl under the browse directory, newest first (rescanned every 2 s at most)."""
        root = self.viz.browse_dir
        if not root or not os.path.isdir(root):
            return []
        now = imgui.get_time()
        if now - self._browse_cache[0] > 2.0:
            files = glob.glob(os.path.join(root, '**', '*.pkl'), recursive=True)
            files.sort(key=lambda p: os.path.getmtime(p) if os.path.exists(p) else 0, reverse=True)
            self._browse_cache = (now, files[:200])
        return self._browse_cache[1]

    def __call__(self, show: bool = True) -> None:
        for path in self.viz.window.pop_dropped():
            self.load(path)
        if not show:
            return
        viz = self.viz
        imgui.text('Pickle')
        imgui.same_line(viz.label_w)
        with imgui_utils.item_width(-viz.button_w * 2 - viz.spacing * 2):
            entered, self.path_text = imgui.input_text_with_hint(
                '##pkl', 'path to a .pkl (empty = default network)', self.path_text,
                imgui.InputTextFlags_.enter_returns_true | imgui.InputTextFlags_.auto_select_all)
        viz.rect('pickle_path')
        if entered:
            self.load(self.path_text)
        imgui.same_line()
        if imgui_utils.button('Load', viz.button_w):
            self.load(self.path_text)
        viz.rect('pickle_load')
        imgui.same_line()
        if imgui_utils.button('Recent', viz.button_w):
            imgui.open_popup('recent_pkls')
        if imgui.begin_popup('recent_pkls'):
            for path in self.recent:
                if imgui.menu_item_simple(path):
                    self.load(path)
            imgui.end_popup()
        imgui.text(' ')
        imgui.same_line(viz.label_w)
        files = self.browse_list()
        if imgui_utils.button(f'Browse runs ({len(files)})', enabled=bool(files)):
            imgui.open_popup('browse_pkls')
        if imgui.begin_popup('browse_pkls'):
            root = viz.browse_dir
            for path in files:
                if imgui.menu_item_simple(os.path.relpath(path, root)):
                    self.load(path)
            imgui.end_popup()
        imgui.same_line()
        imgui.text_disabled('or drop a .pkl on the window')
