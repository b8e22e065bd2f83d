"""Pickle widget: path field, recent list (kept between runs), the default networks, browse a runs directory,
drag-and-drop.

"Default networks" lists every trained network shipped in networks/pretrained/ (by its card's label) and the
built-in untrained one; choosing one loads it like any pickle (and a shipped one enters the recent list).

Files dropped on the window are routed here by extension: a network (.pkl, .pt) loads, an image becomes the
projection panel's target, anything else is refused with a note naming what is accepted.
"""

from __future__ import annotations

import glob
import os

from imgui_bundle import imgui

from gui_utils import imgui_utils
from viz.core.default_network import default_entries, default_pkl
from viz.core.render_types import DEFAULT_PKL
from viz.core.settings import Settings, add_recent, load_settings, save_settings

URL_PREFIXES = ('http://', 'https://', 'ftp://', 's3://', 'gs://')
PICKLE_EXTENSIONS = ('.pkl', '.pt', '.pickle')
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp')


def drop_kind(path: str) -> str | None:
    """'pickle' or 'image' for a dropped file by its extension (any case), None for anything else."""
    ext = os.path.splitext(path)[1].lower()
    if ext in PICKLE_EXTENSIONS:
        return 'pickle'
    if ext in IMAGE_EXTENSIONS:
        return 'image'
    return None


def url_refusal(path: str) -> str | None:
    """The message for a pickle given as a URL (nothing is ever downloaded), or None for a local path."""
    if not path.lower().startswith(URL_PREFIXES):
        return None
    return ('downloads are off: this app never fetches URLs. Download the file with your browser, then enter its '
            'local path here or drop it on the window')


class PickleWidget:
    def __init__(self, viz, settings_file: str | None = None) -> None:
        self.viz = viz
        self.path_text = ''
        self.settings_file = settings_file  # None = the platform's config dir (viz.core.settings)
        settings, note = load_settings(settings_file)
        if note:
            viz.log(note)  # a note, not an error banner: the app works without its settings
        self.recent: list[str] = settings.recent
        self._browse_cache: tuple[float, list[str]] = (0.0, [])
        self.default_entries: list[tuple[str, str]] = []  # (label, pkl), read when the list is opened

    def load(self, path: str) -> None:
        """Ask for `path` (errors such as a missing file come back from the renderer as text). It enters the
        recent list only once it has loaded (`loaded`), so failed paths never push out working ones."""
        path = path.strip() or default_pkl()  # empty: the default network (trained SG3-T once it ships)
        self.path_text = '' if path == DEFAULT_PKL else path
        refusal = url_refusal(path)
        if refusal:
            self.viz.log(refusal, error=True)
            return
        self.viz.log(f'loading {path}')
        self.viz.set_args(pkl=path)

    def handle_drops(self, paths: list[str]) -> None:
        """Route files dropped on the window: networks load (the last one wins, as each replaces the one
        before), an image becomes the projection target (the panel waits for Start: a projection is long)."""
        for path in paths:
            kind = drop_kind(path)
            projection = getattr(self.viz, 'projection_widget', None)
            if kind == 'pickle':
                self.load(path)
            elif kind == 'image' and projection is not None:
                projection.set_target(path)
            else:
                accepted = ', '.join(PICKLE_EXTENSIONS + IMAGE_EXTENSIONS)
                self.viz.log(f'dropped {os.path.basename(path)!r}: not a network pickle or an image '
                             f'(accepted: {accepted})', error=True)

    def loaded(self, path: str) -> None:
        """`path` rendered: remember it (first in the recent list) and save the list."""
        if path == DEFAULT_PKL or (self.recent and self.recent[0] == path):
            return
        self.recent = add_recent(self.recent, path)
        note = save_settings(Settings(recent=self.recent), self.settings_file)
        if note:
            self.viz.log(note)

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
        self.handle_drops(self.viz.window.pop_dropped())
        if not show:
            return
        viz = self.viz
        imgui.text('Pickle')
        imgui.same_line(viz.label_w)
        with imgui_utils.item_width(-viz.button_w * 2 - viz.spacing * 2):
            entered, self.path_text = imgui.input_text_with_hint(
                '##pkl', 'path to a .pkl', self.path_text,
                imgui.InputTextFlags_.enter_returns_true | imgui.InputTextFlags_.auto_select_all)
        imgui_utils.tooltip('A network pickle (ours or NVlabs\'), a local path; Enter loads it. '
                            'Empty: the default network.')
        viz.rect('pickle_path')
        if entered:
            self.load(self.path_text)
        imgui.same_line()
        if imgui_utils.button('Load', viz.button_w):
            self.load(self.path_text)
        imgui_utils.tooltip('Load the pickle in the field')
        viz.rect('pickle_load')
        imgui.same_line()
        if imgui_utils.button('Recent', viz.button_w, enabled=bool(self.recent)):
            imgui.open_popup('recent_pkls')
        imgui_utils.tooltip('Pickles that loaded before (kept between runs)')
        viz.rect('pickle_recent')
        if imgui.begin_popup('recent_pkls'):
            for path in [DEFAULT_PKL] + self.recent:
                if imgui.menu_item_simple(path):
                    self.load(path)
            imgui.end_popup()
        imgui.text(' ')
        imgui.same_line(viz.label_w)
        if imgui_utils.button('Default networks'):
            self.default_entries = default_entries()  # re-read: cards can ship while the app runs
            imgui.open_popup('default_pkls')
        imgui_utils.tooltip('The trained networks that ship with the project (what each is and how long it '
                            'trained) and the built-in untrained one')
        viz.rect('pickle_defaults')
        if imgui.begin_popup('default_pkls'):
            for i, (label, path) in enumerate(self.default_entries):
                if imgui.menu_item_simple(f'{label}###default{i}', selected=viz.args.pkl == path):
                    self.load(path)
                viz.rect(f'pickle_default:{i}')
            imgui.end_popup()
        imgui.same_line()
        files = self.browse_list()
        # '###': the count changes, the ID must not (an ID that changes makes the button unclickable)
        if imgui_utils.button(f'Browse runs ({len(files)})###browse', enabled=bool(files)):
            imgui.open_popup('browse_pkls')
        imgui_utils.tooltip(f'Pickles under {viz.browse_dir}, newest first' if viz.browse_dir else
                            'No runs directory was given when the app started')
        if imgui.begin_popup('browse_pkls'):
            root = viz.browse_dir
            for path in files:
                if imgui.menu_item_simple(os.path.relpath(path, root)):
                    self.load(path)
            imgui.end_popup()
        imgui.same_line()
        imgui.text_disabled('or drop one here')
        imgui_utils.tooltip('Drop a .pkl on the window to load it, or an image to make it the projection target')
