"""Compare panel: up to two more networks shown beside the loaded one, driven by the same controls.

Paths follow the pickle widget's conventions (a local path; empty: the default network; a URL is refused, nothing
is downloaded; the recent list offers the networks that loaded before). The renderer draws every pane into one
image (`RenderArgs.compare_pkls`, viz.core.compare), so captures and recordings take all panes as they are shown;
a network that fails to load is a grey pane, its reason is shown here, and the other panes keep working.
"""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils import imgui_utils
from viz.core.compare import MAX_COMPARE, pane_name
from viz.core.default_network import default_pkl
from viz.core.render_types import DEFAULT_PKL
from viz.gui.widgets.pickle_widget import url_refusal

RED = imgui_utils.RED


class CompareWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.pkls: list[str] = []  # the networks beside the first, in pane order
        self.path_text = ''

    def load_args(self, args) -> None:
        self.pkls = list(args.compare_pkls)

    def add(self, path: str) -> bool:
        """Show the network at `path` beside the others; refused with a note when two are shown already or the
        path is a URL. Whether it loads is the renderer's to say (a grey pane and a note if it does not)."""
        path = path.strip() or default_pkl()
        refusal = url_refusal(path)
        if refusal:
            self.viz.log(refusal, error=True)
            return False
        if len(self.pkls) >= MAX_COMPARE:
            self.viz.log(f'compare: at most {MAX_COMPARE} networks beside the first; remove one first', error=True)
            return False
        self.pkls.append(path)
        self.path_text = ''
        self.viz.log(f'comparing with {path}')
        self.viz.set_args(compare_pkls=tuple(self.pkls))
        return True

    def remove(self, index: int) -> None:
        if 0 <= index < len(self.pkls):
            path = self.pkls.pop(index)
            self.viz.log(f'no longer comparing with {path}')
            self.viz.set_args(compare_pkls=tuple(self.pkls))

    def _errors(self) -> dict[str, str]:
        """pkl -> why its pane is grey, from the shown result."""
        result = self.viz.result
        panes = getattr(result, 'panes', ()) if result is not None else ()
        return {pane['pkl']: pane['error'] for pane in panes[1:] if pane.get('error')}

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            full = len(self.pkls) >= MAX_COMPARE
            imgui.text('Compare')
            imgui.same_line(viz.label_w)
            with imgui_utils.grayed_out(full):
                with imgui_utils.item_width(-viz.button_w * 2 - viz.spacing * 2):
                    entered, self.path_text = imgui.input_text_with_hint(
                        '##compare_pkl', 'another .pkl to show beside', self.path_text,
                        imgui.InputTextFlags_.enter_returns_true | imgui.InputTextFlags_.auto_select_all)
                imgui_utils.tooltip(f'Up to {MAX_COMPARE} more networks, rendered with the same seed, truncation, '
                                    'transform and view beside the loaded one; Enter adds it. Empty: the default '
                                    'network.')
                viz.rect('compare_path')
            if entered and not full:
                self.add(self.path_text)
            imgui.same_line()
            if imgui_utils.button('Add##compare', viz.button_w, enabled=not full):
                self.add(self.path_text)
            imgui_utils.tooltip('Show the network in the field beside the others (the analyses and the FFT stay '
                                'of the first)')
            viz.rect('compare_add')
            imgui.same_line()
            recent = list(getattr(viz.pickle_widget, 'recent', [])) if hasattr(viz, 'pickle_widget') else []
            if imgui_utils.button('Recent##compare', viz.button_w, enabled=bool(recent) and not full):
                imgui.open_popup('compare_recent')
            imgui_utils.tooltip('Add one of the networks that loaded before')
            viz.rect('compare_recent')
            if imgui.begin_popup('compare_recent'):
                for path in [DEFAULT_PKL] + recent:
                    if imgui.menu_item_simple(f'{path}###compare_recent:{path}'):
                        self.add(path)
                imgui.end_popup()
            errors = self._errors()
            for i, path in enumerate(list(self.pkls)):
                imgui.text(' ')
                imgui.same_line(viz.label_w)
                if imgui.small_button(f'Remove###compare_remove{i}'):
                    self.remove(i)
                imgui_utils.tooltip(f'Stop showing {path}')
                viz.rect(f'compare_remove:{i}')
                imgui.same_line()
                imgui.text(f'pane {i + 2}: {pane_name(path)}')
                imgui_utils.tooltip(path)
                if path in errors:
                    imgui_utils.wrapped_status(errors[path], error=True)
        viz.set_args(compare_pkls=tuple(self.pkls))
