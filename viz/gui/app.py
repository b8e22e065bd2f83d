"""The visualizer application: a control pane of widgets, the view pane, the async renderer, captures.

Each frame the widgets edit `self.args` (a frozen `RenderArgs`); when the renderer is idle the newest args
are submitted, and the newest result is uploaded as textures and drawn. Nothing here touches a network: a change
of display fields alone is re-viewed here from the renderer's cached synthesis (`Renderer.view_from_cache`).
`latency_trace` says where the time of the newest change went (change -> request -> render -> frame on screen).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections import deque

import glfw
from imgui_bundle import imgui

from gui_utils import imgui_utils
from gui_utils.gl_texture import TextureCache
from gui_utils.window import GlfwImguiWindow
from networks.image_write import save_png
from viz.core.async_renderer import AsyncRenderer
from viz.core.compare import NOTE_PREFIX
from viz.core.jobs import stop_all
from viz.core.render_types import DEFAULT_PKL, RenderArgs, RenderResult
from viz.core.renderer import same_synthesis_and_analyses
from viz.core.session import check_changes
from viz.gui.image_view import WHEEL_STEP, ImageView, display_zoom
from viz.gui.widgets.capture_widget import CaptureWidget
from viz.gui.widgets.class_widget import ClassWidget
from viz.gui.widgets.compare_widget import CompareWidget
from viz.gui.widgets.directions_widget import DirectionsWidget
from viz.gui.widgets.eq_readout_widget import EquivarianceReadoutWidget
from viz.gui.widgets.keyframes_widget import KeyframesWidget
from viz.gui.widgets.latent_widget import LatentWidget
from viz.gui.widgets.layer_analyses_widget import AliasingWidget, LayerEqWidget
from viz.gui.widgets.layer_widget import LayerWidget
from viz.gui.widgets.performance_widget import PerformanceWidget
from viz.gui.widgets.pickle_widget import PickleWidget
from viz.gui.widgets.projection_widget import ProjectionWidget
from viz.gui.widgets.session_widget import SessionWidget
from viz.gui.widgets.spectrum_widget import SpectrumWidget, analysis_progress
from viz.gui.widgets.sticking_widget import StickingWidget
from viz.gui.widgets.stylemix_widget import StyleMixWidget
from viz.gui.widgets.transform_widget import TransformWidget
from viz.gui.widgets.trunc_noise_widget import TruncationNoiseWidget
from viz.gui.widgets.warp_widget import WarpWidget

log = logging.getLogger('visualizer')

RED, ORANGE = imgui_utils.RED, imgui_utils.ORANGE
FINE_STEP = 0.05  # Up/Down: a twentieth of the way to the next seed
# A display-only change is re-viewed on the GUI thread, from the renderer's cached synthesis, when the view of the
# shown result took less than this (it costs the GUI one frame of this length; a larger one goes to the renderer).
SYNC_VIEW_S = 0.05
# Stages of the latency trace (`VisualizerApp.latency_trace`), in the order a change passes them.
TRACE_STAGES = ('changed', 'submitted', 'enqueued', 'picked', 'synthesis_done', 'view_done', 'posted', 'seen',
                'drawn', 'shown')

# Every keyboard shortcut, as the F1 overlay lists it. None fires while a text field has the keyboard.
SHORTCUTS = (
    ('Left / Right', 'previous / next seed'),
    ('Up / Down', f'fine step of the latent (x {FINE_STEP:+g} / {-FINE_STEP:+g})'),
    ('Space', 'play / pause the latent animation'),
    ('Ctrl+S', 'save the image (capture directory)'),
    ('Ctrl+Shift+S', 'save a screenshot of the GUI'),
    ('Mouse wheel on the image', 'zoom about the cursor'),
    ('Middle-drag on the image', 'pan the zoomed image'),
    ('Left-drag / right-drag on the image', 'move the latent / translate the input'),
    ('F1', 'show / hide this list'),
    ('Esc', 'close this list, else close the window'),
)


def kind_label(info: dict) -> str:
    """'SG3-T', 'SG3-R' or 'SG2' for the header (the config decides what the network is equivariant to)."""
    kind = info.get('kind', '')
    if kind == 'StyleGAN2':
        return 'SG2'
    if kind == 'StyleGAN3':
        return f'SG3-{info["config"]}' if info.get('config') else 'SG3'
    return kind


class VisualizerApp:
    def __init__(self, pkls: list[str] | None = None, capture_dir: str = 'renders', browse_dir: str | None = None,
                 device: str = 'cpu', session: str | None = None, width: int = 1280, height: int = 800,
                 async_renderer: AsyncRenderer | None = None, compare: list[str] | None = None) -> None:
        self.window = GlfwImguiWindow('Alias-free GAN visualizer', width, height)
        self.capture_dir = capture_dir
        self.browse_dir = browse_dir
        self.args = RenderArgs(device=device)
        self.result: RenderResult | None = None  # newest result (shown)
        self.network: dict = {}
        self.error_text = ''
        self._last_note = ''   # the last correction set_args logged
        self.controls_count: dict = {}   # controls visible / drawn, measured when measure_controls is on
        self.messages: deque[tuple[str, bool]] = deque(maxlen=200)
        self.rects: dict[str, tuple[float, float, float, float]] = {}
        self.textures = TextureCache()
        # Analyses wait for the window to show the view of their request first (at most half a second).
        self.async_renderer = async_renderer or AsyncRenderer(hold_until_shown=0.5)
        self._submitted: RenderArgs | None = None
        # Latency trace: perf_counter stamps of the newest change on its way to the screen (see TRACE_STAGES).
        self._stamps: dict[str, float] = {}
        self._traced: RenderResult | None = None  # the result the last finished trace belongs to
        self.latency_trace: dict[str, float] = {}  # the last finished trace: stage -> ms after 'changed'
        self.sync_views = 0  # display-only changes shown from the cached synthesis on this thread
        self._last_good_pkl = DEFAULT_PKL
        self._last_good_device = 'cpu'
        self._error_args: RenderArgs | None = None  # the state the banner's error belongs to
        self._error_source: str | None = None       # the action it came from, if not a render
        self.show_shortcuts = False  # the F1 overlay
        self.image_view = ImageView()
        self.pixel_readout = ''
        self._screenshot_paths: list[str] = []
        self.frame_index = 0
        self.frame_delta = 1 / 60
        self.wall_delta = 1 / 60
        self._last_frame = time.perf_counter()
        self.image_size_px = 256.0
        self.font_size = self.window.font_size
        self.spacing = self.label_w = self.button_w = 0.0
        self._update_sizes()

        self.pickle_widget = PickleWidget(self)
        self.compare_widget = CompareWidget(self)
        self.latent_widget = LatentWidget(self)
        self.stylemix_widget = StyleMixWidget(self)
        self.trunc_noise_widget = TruncationNoiseWidget(self)
        self.transform_widget = TransformWidget(self)
        self.layer_widget = LayerWidget(self)
        self.spectrum_widget = SpectrumWidget(self)
        self.eq_readout_widget = EquivarianceReadoutWidget(self)
        self.sticking_widget = StickingWidget(self)
        self.aliasing_widget = AliasingWidget(self)
        self.layer_eq_widget = LayerEqWidget(self)
        self.capture_widget = CaptureWidget(self)
        self.session_widget = SessionWidget(self)
        self.perf_widget = PerformanceWidget(self)
        # Exploration widgets: drawn after the latent and transform widgets, so keyframe playback overrides them.
        self.class_widget = ClassWidget(self)
        self.warp_widget = WarpWidget(self)
        self.projection_widget = ProjectionWidget(self)
        self.directions_widget = DirectionsWidget(self)
        self.keyframes_widget = KeyframesWidget(self)
        # The pane's tabs, each a few panels that fit a laptop screen (1280x800) without scrolling; every widget
        # runs every frame (hidden ones with show=False), so what they set holds whichever tab is in front.
        self.tabs = [
            ('Latent', [('Network & latent', [self.pickle_widget, self.compare_widget, self.latent_widget,
                                              self.stylemix_widget, self.trunc_noise_widget]),
                        ('Equivariance / input transform', [self.transform_widget])]),
            ('Layers', [('Layers', [self.layer_widget])]),
            ('Analysis', [('Spectrum, EQ, sticking', [self.spectrum_widget, self.eq_readout_widget,
                                                       self.sticking_widget]),
                          ('Per layer: aliasing, equivariance', [self.aliasing_widget, self.layer_eq_widget])]),
            ('Explore', [('Class & warp', [self.class_widget, self.warp_widget]),
                         ('Projection & directions', [self.projection_widget, self.directions_widget]),
                         ('Keyframes', [self.keyframes_widget])]),
            ('Capture', [('Capture & session', [self.capture_widget, self.session_widget]),
                         ('Performance', [self.perf_widget])]),
        ]
        self.panels = [(title, True, widgets) for _tab, panels in self.tabs for title, widgets in panels]
        self._select_tab: str | None = None   # a tab to bring to the front on the next frame (count_all_controls)
        self._test_state = os.environ.get('VIZ_TEST_STATE') or None
        self.measure_controls = bool(self._test_state)   # the tests and the layout benchmark read the count
        self.front_tab: str | None = None
        self._test_commands = os.environ.get('VIZ_TEST_COMMANDS') or None
        self._test_commands_done = 0

        for pkl in reversed(pkls or []):
            self.pickle_widget.load(pkl)
        if session:
            self.session_widget.load(session)
        for pkl in compare or []:
            self.compare_widget.add(pkl)

    # --- API for the widgets ----------------------------------------------------------------------------------
    def set_args(self, **changes) -> None:
        """Apply the widgets' edits. Typed values can be anything (Ctrl+click on a slider takes 1e9 or nan), so
        each goes through the session file's checks (`check_changes`): out of range is clamped, NaN or infinity
        keeps the current value, with a note in the log; the widgets then take the corrected values back, so
        the next frame asks for nothing new and a saved session always loads."""
        changes = {k: v for k, v in changes.items() if getattr(self.args, k) != v}
        if not changes:
            return
        changes, notes = check_changes(self.args, changes)
        for note in notes:
            if note != self._last_note:        # a widget that asks again before it is corrected: one note
                self.log(note)
            self._last_note = note
        changes = {k: v for k, v in changes.items() if getattr(self.args, k) != v}
        if changes:
            self.args = dataclasses.replace(self.args, **changes)
            self._stamps = dict(changed=time.perf_counter())
        if notes:
            self._widgets_take_args()

    def log(self, text: str, error: bool = False, source: str | None = None) -> None:
        """Add a line to the log; an error also goes into the banner. `source` names the action an error came
        from ('projection', 'keyframes'): its banner goes when that action starts again (`clear_error`), not only
        after a render, which may not come while the user retries the action."""
        self.messages.append((text, error))
        (log.error if error else log.info)(text)
        if error:
            self.error_text = text
            self._error_args = self.args  # the banner stays until a render of another state succeeds
            self._error_source = source

    def clear_error(self, source: str) -> None:
        """Take down the banner if it holds an error of `source` (its action was started again)."""
        if self.error_text and self._error_source == source:
            self.error_text, self._error_args, self._error_source = '', None, None

    def rect(self, name: str) -> None:
        """Record the screen rectangle of the last drawn item (test hook and drag targets)."""
        self.rects[name] = imgui_utils.item_rect()

    def request_screenshot(self, path: str) -> None:
        self._screenshot_paths.append(path)

    @property
    def rendering(self) -> bool:
        # A result finished after this frame polled is not shown yet: still rendering, as far as the user sees.
        return self.async_renderer.busy or self.async_renderer.result_waiting or self._submitted != self.args

    def _widgets_take_args(self) -> None:
        """Every widget that keeps state of its own takes it from the current args (`load_args`)."""
        for _title, _open, widgets in self.panels:
            for widget in widgets:
                load = getattr(widget, 'load_args', None)
                if load is not None:
                    load(self.args)

    def apply_session(self, args: RenderArgs) -> None:
        """Make `args` current: widgets take their state from it. The caller has validated the whole file
        (viz.core.session), so this cannot stop half-way; what does not fit the network (a layer it lacks,
        style-mix indices past its ws) is reset with a note when its first result arrives."""
        self.args = args
        self._widgets_take_args()
        if args.pkl != DEFAULT_PKL:
            self.pickle_widget.load(args.pkl)

    # --- frame loop -------------------------------------------------------------------------------------------
    def _update_sizes(self) -> None:
        self.font_size = self.window.font_size
        self.spacing = round(self.font_size * 0.4)
        self.label_w = round(self.font_size * 6.5)
        self.button_w = round(self.font_size * 5)

    def run(self, max_frames: int | None = None) -> bool:
        """Frame loop until the window closes; returns whether everything stopped cleanly."""
        try:
            while not self.window.should_close():
                self.frame()
                if max_frames is not None and self.frame_index >= max_frames:
                    break
        finally:
            clean = self.close()
        return clean

    def close(self) -> bool:
        """Close the window; False if the render thread is still busy (see AsyncRenderer.close)."""
        if self.capture_widget.recorder is not None:
            self.capture_widget.stop_video()
        for note in stop_all(timeout=10.0):       # projections and keyframe exports: stopped and joined
            log.info(note)
        self.textures.clear()
        self.window.close()
        stopped = self.async_renderer.close(timeout=3.0)
        self.clean_exit = stopped
        return stopped

    def frame(self) -> None:
        now = time.perf_counter()
        # the animating widgets step by frame_delta; an exact video recording sets it (0 while a frame renders)
        # wall_delta is the real frame time (the performance widget's); frame_delta may be the recording's step
        self.wall_delta = max(now - self._last_frame, 1e-4)
        self.frame_delta = self.capture_widget.animation_step(min(self.wall_delta, 0.25))
        self._last_frame = now
        self.window.begin_frame()
        self.rects = {}
        self._handle_keys()
        width, height = self.window.size
        pane_w = min(round(self.font_size * 33), width * 0.5)
        # no_background: the two panes tile the window, and end_frame clears it to their background colour; a
        # window-sized ImGui background is an alpha-blended textured quad, about 10 ms of CPU a frame on llvmpipe
        flags = (imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_move
                 | imgui.WindowFlags_.no_collapse | imgui.WindowFlags_.no_bring_to_front_on_focus
                 | imgui.WindowFlags_.no_background)

        imgui.set_next_window_pos(imgui.ImVec2(0, 0))
        imgui.set_next_window_size(imgui.ImVec2(pane_w, height))
        imgui.begin('##controls', None, flags)
        imgui_utils.pane_border()
        imgui_utils.controls_drawn = [] if self.measure_controls else None
        self._draw_tabs()
        self._count_controls(pane_w, height)
        imgui.end()

        before = self.result
        self._poll_result()
        if self.result is not before and self.result is not None and self.result.args == self.args:
            self._stamps.setdefault('seen', time.perf_counter())  # the render thread's result for the newest args
        self._view_display_change()
        imgui.set_next_window_pos(imgui.ImVec2(pane_w, 0))
        imgui.set_next_window_size(imgui.ImVec2(width - pane_w, height))
        imgui.begin('##view', None, flags)
        imgui_utils.pane_border()
        self._draw_view(width - pane_w)
        imgui.end()
        tracing = self.result is not None and self.result is not self._traced and self.result.args == self.args
        if tracing:
            self._stamps['drawn'] = time.perf_counter()  # its textures are uploaded

        if self.show_shortcuts:
            self._draw_shortcuts(width, height)
        self._submit()
        self._run_test_commands()
        want_pixels = bool(self._screenshot_paths) or self.capture_widget.wants_gui_frames
        pixels = self.window.end_frame(clear_color=self.window.pane_background(), read_back=want_pixels)
        if pixels is not None:
            for path in self._screenshot_paths:
                try:
                    save_png(path, pixels)
                    self.log(f'saved GUI screenshot {path}')
                except OSError as exc:
                    self.log(f'cannot save {path}: {exc}', error=True)
            self._screenshot_paths = []
            self.capture_widget.on_gui_frame(pixels)
        self.async_renderer.view_shown()  # the result taken this frame is on screen: held analyses go on
        if tracing:
            self._finish_trace()
        self.frame_index += 1
        if self._test_state and self.frame_index % 3 == 0:
            self._write_test_state()

    def _draw_tabs(self) -> None:
        """The tab bar and the front tab's panels (collapsing headers); the other tabs' widgets run unseen."""
        shown = None
        if imgui.begin_tab_bar('##tabs'):
            for tab, _panels in self.tabs:
                flags = imgui.TabItemFlags_.set_selected if tab == self._select_tab else 0
                selected, _ = imgui.begin_tab_item(f'{tab}###tab-{tab}', None, flags)
                self.rect(f'tab:{tab}')
                imgui_utils.tooltip(', '.join(title for title, _w in dict(self.tabs)[tab]))
                if selected:
                    shown = tab
                    imgui.end_tab_item()
            imgui.end_tab_bar()
        self._select_tab = None
        self.front_tab = shown
        for tab, panels in self.tabs:
            for title, widgets in panels:
                show = tab == shown and imgui.collapsing_header(title, imgui.TreeNodeFlags_.default_open)
                for widget in widgets:
                    widget(show)

    def count_all_controls(self) -> dict:
        """The controls of the whole pane and how many are reachable without scrolling: each tab is brought to the
        front in turn, and its controls inside the window count (the tab bar's once). For the layout benchmark;
        the front tab is the same afterwards."""
        front, per_tab = self.front_tab, {}
        self.measure_controls = True
        for tab, _panels in self.tabs:
            self._select_tab = tab
            self.frame()             # the tab bar takes the selection here
            self.frame()             # and draws the tab's panels here
            per_tab[tab] = dict(self.controls_count)
        self._select_tab = front
        self.frame()
        bar = len(self.tabs)         # the tab bar's controls, in every count
        return dict(total=sum(c['drawn'] - bar for c in per_tab.values()) + bar,
                    reachable=sum(c['visible'] - bar for c in per_tab.values()) + bar,
                    per_tab={tab: c['visible'] - bar for tab, c in per_tab.items()})

    def _count_controls(self, pane_w: float, height: float) -> None:
        """How many of the controls drawn this frame lie wholly inside the window (reachable without scrolling),
        of how many drawn at all (for the tests' state and the layout benchmark)."""
        drawn, imgui_utils.controls_drawn = imgui_utils.controls_drawn, None
        if drawn is not None:
            self.controls_count = dict(visible=sum(1 for x0, y0, x1, y1 in drawn if y0 >= 0 and y1 <= height
                                                   and x0 >= 0 and x1 <= pane_w), drawn=len(drawn))

    def _finish_trace(self) -> None:
        """The frame showing the newest state was swapped: record where its time went since the change."""
        stamps = dict(self._stamps, shown=time.perf_counter())
        for stage in ('enqueued', 'picked', 'synthesis_done', 'view_done', 'posted'):
            at = self.result.timings.get(f'at_{stage}')
            if at is not None and at >= stamps.get('changed', at):  # a re-viewed older result: not this change's
                stamps[stage] = at
        changed = stamps.get('changed', stamps['shown'])
        self.latency_trace = {k: 1000 * (stamps[k] - changed) for k in TRACE_STAGES if k in stamps}
        self._traced = self.result

    def _view_display_change(self) -> None:
        """Show a change of display fields alone (FFT, dB, normalise, channels) at once, re-viewed here from the
        renderer's cached synthesis: no round trip through the render thread, which may be busy with an analysis (a
        display change must not wait for it). The renderer is not asked again when the request it has differs from
        these args in display fields alone: its analyses are the same, and its results are re-viewed here as they
        arrive."""
        shown, args = self.result, self.args
        view_from_cache = getattr(self.async_renderer.renderer, 'view_from_cache', None)
        if (shown is None or shown.args is None or shown.args == args or view_from_cache is None
                or shown.timings.get('view', float('inf')) >= SYNC_VIEW_S):
            return
        t = time.perf_counter()
        res = view_from_cache(args, shown)
        if res is None:
            return
        res.timings['at_view_done'] = time.perf_counter()
        self._stamps.setdefault('seen', t)
        self.result = res
        self.sync_views += 1
        if self._submitted is not None and same_synthesis_and_analyses(self._submitted, args):
            self._submitted = args

    def _submit(self) -> None:
        """Hand the newest args to the renderer when it is idle (so every shown result is the newest request's), or
        when only analyses run: the new request cancels them between samples, so a
        running analysis never holds up the view."""
        if self.args != self._submitted and self.async_renderer.accepting:
            self.async_renderer.set_args(self.args)
            self._submitted = self.args
            self._stamps.setdefault('submitted', time.perf_counter())

    def _poll_result(self) -> None:
        result = self.async_renderer.get_result()
        if result is None:
            return
        self.perf_widget.record_render(result.timings)
        if result.error:
            self.log(result.error, error=True)
            self.capture_widget.render_failed(result)  # before the args fall back to the last good network
            if not result.network and result.args is not None:
                # The network did not load (bad pickle, unusable device): keep working with the previous one.
                if result.args.pkl != self._last_good_pkl:
                    self.set_args(pkl=self._last_good_pkl)
                if result.args.device != self._last_good_device:
                    self.perf_widget.set_device(self._last_good_device)
                    self.set_args(device=self._last_good_device)
                # The automatic re-render of the previous state must not clear the banner at once.
                self._error_args = self.args
            if self.result is not None and result.image is None:
                return  # keep showing the last good image under the error
        elif result.args is not None:
            self._last_good_pkl = result.args.pkl
            self._last_good_device = result.args.device
            if result.network:
                self.pickle_widget.loaded(result.args.pkl)
            # A partial result is the view before its analyses; they may still fail, so wait for the whole one.
            if self.error_text and not result.partial and result.args != self._error_args:
                self.error_text = ''
                self._error_args = None
            self._drop_stale_layer(result)
        previous = self.result.messages if self.result is not None else ()
        for text in result.messages:
            if text.startswith(NOTE_PREFIX) and text in previous:
                continue  # a comparison's standing note (panes scaled, a grey pane): logged once, not every frame
            if not self.messages or self.messages[-1][0] != text:
                self.log(text)
        self.result = result
        if result.network:
            if result.network != self.network:
                self.window.set_title(f'Alias-free GAN visualizer - {result.network.get("name", "")}')
            self.network = result.network

    def _drop_stale_layer(self, result: RenderResult) -> None:
        """A selected layer that this network lacks (another network, an old session) is reset, with a note;
        otherwise the widget would keep asking for it and the output would be labelled with its name."""
        layer = self.layer_widget.layer
        if layer is None or result.args.layer_name != layer or not result.layers:
            return
        if layer not in {ly.name for ly in result.layers}:
            self.layer_widget.select(None)
            self.set_args(layer_name=None)
            self.log(f'layer selection reset: {result.network.get("name", "this network")} has no layer "{layer}"')

    # --- keyboard ---------------------------------------------------------------------------------------------
    def _handle_keys(self) -> None:
        """The shortcuts of SHORTCUTS. ImGui's want_text_input is set while a text field has the keyboard:
        then every key belongs to the field (typing a space must not start the animation, Esc leaves the field)."""
        presses = self.window.pop_key_presses()  # with the modifiers held at each press (see the window)
        if imgui.get_io().want_text_input:
            return
        latent = self.latent_widget
        for key, mods, repeat in presses:
            ctrl, shift = bool(mods & glfw.MOD_CONTROL), bool(mods & glfw.MOD_SHIFT)
            if ctrl:
                if key == glfw.KEY_S and not repeat:
                    if shift:
                        self.capture_widget.save_gui()
                    else:
                        self.capture_widget.save_image()
                continue  # other Ctrl chords are ImGui's
            if key == glfw.KEY_F1 and not repeat:
                self.show_shortcuts = not self.show_shortcuts
            elif key == glfw.KEY_ESCAPE and not repeat:
                if self.show_shortcuts:
                    self.show_shortcuts = False
                elif not imgui.is_popup_open('', imgui.PopupFlags_.any_popup_id):  # Esc closes the popup first
                    self.window.request_close()
            elif key == glfw.KEY_LEFT:
                latent.set_seed(latent.seed - 1)
            elif key == glfw.KEY_RIGHT:
                latent.set_seed(latent.seed + 1)
            elif key == glfw.KEY_UP:
                latent.x += FINE_STEP
            elif key == glfw.KEY_DOWN:
                latent.x -= FINE_STEP
            elif key == glfw.KEY_SPACE and not repeat:
                latent.anim = not latent.anim

    def _draw_shortcuts(self, width: float, height: float) -> None:
        """The F1 overlay: every shortcut, centred over the window."""
        imgui.set_next_window_pos(imgui.ImVec2(width / 2, height / 2), imgui.Cond_.always, imgui.ImVec2(0.5, 0.5))
        imgui.set_next_window_bg_alpha(0.92)
        flags = (imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_move | imgui.WindowFlags_.no_collapse
                 | imgui.WindowFlags_.always_auto_resize | imgui.WindowFlags_.no_saved_settings)
        _, still_open = imgui.begin('Keyboard shortcuts (F1 or Esc to close)###shortcuts', True, flags)
        if imgui.begin_table('##shortcut_table', 2, imgui.TableFlags_.row_bg | imgui.TableFlags_.borders_inner_v):
            for keys, action in SHORTCUTS:
                imgui.table_next_row()
                imgui.table_next_column()
                imgui_utils.text_colored(keys, ORANGE)
                imgui.table_next_column()
                imgui.text(action)
            imgui.end_table()
        imgui.text_disabled('Shortcuts do nothing while a text field is being edited.')
        pos, size = imgui.get_window_pos(), imgui.get_window_size()
        self.rects['shortcuts'] = (float(pos.x), float(pos.y), float(pos.x + size.x), float(pos.y + size.y))
        imgui.end()
        if not still_open:
            self.show_shortcuts = False

    # --- the view pane ----------------------------------------------------------------------------------------
    def _draw_view(self, pane_width: float) -> None:
        net = self.network
        if net:
            imgui.text(f'{net.get("name", "")}  -  {kind_label(net)} {net.get("resolution", "")}px, '
                       f'{net.get("num_ws", "")} ws, {net.get("device", "")} {net.get("precision", "")}')
            imgui_utils.tooltip('SG3-T: StyleGAN3 equivariant to translation; SG3-R: to translation and rotation; '
                                'SG2: StyleGAN2 (no input transform)')
            if net.get('untrained'):
                imgui.same_line()
                imgui_utils.text_colored('UNTRAINED (random weights)', ORANGE)
            panes = self.result.panes[1:] if self.result is not None else ()
            if panes:  # the compared networks, left to right after the first, on their own (wrapped) line
                imgui.push_text_wrap_pos(0.0)
                imgui.text_disabled('vs ' + ', '.join(
                    f'{p["name"]} ({kind_label(p["network"])} {p["network"].get("resolution", "")}px)'
                    if p['network'] else f'{p["name"]} (not loaded)' for p in panes))
                imgui.pop_text_wrap_pos()
        else:
            imgui.text('loading network...')
        imgui.same_line()
        imgui.text_disabled('  rendering...' if self.rendering else '  ')
        if self.error_text:
            if imgui.small_button('dismiss'):
                self.error_text = ''
            imgui_utils.tooltip('Hide this error (it also goes away by itself after the next successful render)')
            imgui.same_line()
            imgui.push_text_wrap_pos(0.0)
            imgui_utils.text_colored(f'Error: {self.error_text}', RED)
            imgui.pop_text_wrap_pos()
            self.rect('error')

        result = self.result
        avail = imgui.get_content_region_avail()
        if result is not None and result.image is not None:
            images = [('image', result.image)]
            if result.fft is not None:
                images.append(('fft', result.fft))
            analysis_h = self.font_size * 24 if (self.spectrum_widget.enabled or self.sticking_widget.enabled) else 0
            analysis_h += self.font_size * 15 * (self.aliasing_widget.enabled + self.layer_eq_widget.enabled)
            res = max(result.image.shape[:2])
            # the FFT is drawn as tall as the image (its colour bar makes it wider than tall)
            scales = [res / img.shape[0] if name == 'fft' else 1.0 for name, img in images]
            zoom = display_zoom([img.shape[1] * k for (_, img), k in zip(images, scales)], res, avail.x,
                                avail.y - analysis_h - self.font_size * 6, self.spacing)
            for i, ((name, img), k) in enumerate(zip(images, scales)):
                if i:
                    imgui.same_line()
                tex = self.textures.get(name, img)
                size = imgui.ImVec2(img.shape[1] * zoom * k, img.shape[0] * zoom * k)
                pos = imgui.get_cursor_screen_pos()
                if name == 'image':  # zoom and pan show a part of the texture in the same box
                    u0, v0, u1, v1 = self.image_view.uv()
                    imgui.image(imgui.ImTextureRef(tex.gl_id), size, imgui.ImVec2(u0, v0), imgui.ImVec2(u1, v1))
                else:
                    imgui.image(imgui.ImTextureRef(tex.gl_id), size)
                self.rect(name)
                if name == 'image':
                    self.image_size_px = float(size.x)
                    if net.get('untrained'):
                        imgui.get_window_draw_list().add_text(
                            imgui.ImVec2(pos.x + 4, pos.y + 2), imgui.get_color_u32(imgui.ImVec4(*ORANGE, 1)),
                            'untrained')
                    self._image_drag(pos, size)
            info = f'{result.args.layer_name or "output"}  {result.image.shape[1]}x{result.image.shape[0]}'
            info += f'   synthesis {result.timings.get("synthesis", 0) * 1000:.0f} ms'
            info += f', render {result.timings.get("total", 0) * 1000:.0f} ms'
            if result.eq:
                info += '   EQ-T {:.1f} dB, EQ-T frac {:.1f} dB, EQ-R {:.1f} dB'.format(
                    result.eq.get('eqt_int', float('nan')), result.eq.get('eqt_frac', float('nan')),
                    result.eq.get('eqr', float('nan')))
            imgui.text(info)
            if self.image_view.zoom > 1:  # first on the line: the readout's changing width must not move it
                if imgui.small_button('Fit###zoomfit'):
                    self.image_view.reset()
                imgui_utils.tooltip('Show the whole image again')
                self.rect('zoom_fit')
                imgui.same_line()
                imgui.text_disabled(f'zoom {self.image_view.zoom:.2f}x ')
                imgui.same_line()
            imgui.text(self.pixel_readout or 'hover the image for pixel values; the wheel zooms')
        else:
            imgui.text_disabled('waiting for the first render...')
        analysis_progress(self)          # every analysis's progress and Cancel, here and nowhere else
        if self.spectrum_widget.enabled:
            self.spectrum_widget.draw_view(result, pane_width)
        if self.sticking_widget.enabled:
            self.sticking_widget.draw_view(result, pane_width)
        if self.aliasing_widget.enabled:
            self.aliasing_widget.draw_view(result, pane_width)
        if self.layer_eq_widget.enabled:
            self.layer_eq_widget.draw_view(result, pane_width)
        imgui.separator()
        for text, error in list(self.messages)[-4:]:
            if error and text == self.error_text:  # an error that a later success cleared is history: grey
                imgui_utils.text_colored(text, RED)
            else:
                imgui.text_disabled(text)

    def _image_drag(self, pos, size) -> None:
        """Left-drag in the image moves the latent (or translates, in the transform widget's drag modes);
        right-drag always translates slowly; middle-drag pans and the wheel zooms; hovering reads a pixel."""
        imgui.set_cursor_screen_pos(pos)
        imgui.invisible_button('##imagedrag', size, imgui.ButtonFlags_.mouse_button_left
                               | imgui.ButtonFlags_.mouse_button_right | imgui.ButtonFlags_.mouse_button_middle)
        io = imgui.get_io()
        self._hover_readout(pos, size, io)
        # The frame the button goes down carries the whole move since the last frame (the pointer may have come
        # from far away within one frame): that is no drag, so the first frame's delta is dropped.
        if not imgui.is_item_active() or imgui.is_item_activated():
            return
        delta = io.mouse_delta
        if delta.x == 0 and delta.y == 0:
            return
        if imgui.is_mouse_down(imgui.MouseButton_.middle):
            self.image_view.pan(delta.x, delta.y, size.x, size.y)
        elif imgui.is_mouse_down(imgui.MouseButton_.right):
            self.transform_widget.drag(delta.x, delta.y, slow=True)
        elif self.transform_widget.drag_mode:
            self.transform_widget.drag(delta.x, delta.y, slow=self.transform_widget.drag_mode == 'slow')
        else:
            self.latent_widget.drag(delta.x, delta.y)

    def _hover_readout(self, pos, size, io) -> None:
        """Wheel zoom about the cursor, and the readout of the pixel under it (position in the shown image and
        its RGB value), while the mouse is over the image."""
        result = self.result
        if not imgui.is_item_hovered() or result is None or result.image is None:
            if not imgui.is_item_active():
                self.pixel_readout = ''
            return
        fx = (io.mouse_pos.x - pos.x) / max(size.x, 1.0)
        fy = (io.mouse_pos.y - pos.y) / max(size.y, 1.0)
        if io.mouse_wheel:
            self.image_view.zoom_at(fx, fy, WHEEL_STEP ** io.mouse_wheel)
        img = result.image
        pixel = self.image_view.pixel_at(fx, fy, img.shape[1], img.shape[0])
        if pixel is None:
            self.pixel_readout = ''
            return
        x, y = pixel
        value = ' '.join(str(int(v)) for v in img[y, x, :3])
        self.pixel_readout = f'pixel x {x}, y {y} of {img.shape[1]}x{img.shape[0]}: RGB {value}'

    # --- test hook --------------------------------------------------------------------------------------------
    def _write_test_state(self) -> None:
        """VIZ_TEST_STATE=path: the app writes what a test needs to drive the real window and check it."""
        result = self.result
        res = None
        if result is not None:
            res = dict(error=result.error, seeds=result.args.w0_seeds if result.args else None,
                       layer=result.args.layer_name if result.args else None,
                       pkl=result.args.pkl if result.args else None,
                       image_shape=list(result.image.shape) if result.image is not None else None,
                       image_mean=float(result.image.mean()) if result.image is not None else None,
                       fft=result.fft is not None, layers=[ly.name for ly in result.layers],
                       eq=result.eq, spectrum=result.spectrum is not None, sticking=result.sticking is not None,
                       aliasing=len(result.aliasing or ()), layer_eq=len(result.layer_eq or ()),
                       limits=(result.limits or {}).get('name'),
                       panes=[{k: v for k, v in pane.items() if k != 'network'} for pane in result.panes])
        state = dict(frame=self.frame_index, time=time.time(), pid=os.getpid(), rects=self.rects,
                     window_size=list(self.window.size), args=dataclasses.asdict(self.args), result=res,
                     rendering=self.rendering, error_text=self.error_text, network=self.network,
                     messages=[m for m, _e in list(self.messages)[-20:]],
                     seed=self.latent_widget.seed, last_saved=self.capture_widget.last_saved,
                     latent_xy=[self.latent_widget.x, self.latent_widget.y], anim=self.latent_widget.anim,
                     shortcuts=self.show_shortcuts, pixel_readout=self.pixel_readout,
                     focus_text=bool(imgui.get_io().want_text_input),
                     zoom=self.image_view.zoom, recent=list(self.pickle_widget.recent),
                     recording=self.capture_widget.recorder is not None,
                     queue=self.async_renderer.queue_length, renderer_stats=dict(self.async_renderer.stats),
                     projection=self.projection_widget.test_state(), keyframes=self.keyframes_widget.test_state(),
                     controls=self.controls_count, tab=self.front_tab)
        tmp = self._test_state + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f, default=str)
        os.replace(tmp, self._test_state)

    def _run_test_commands(self) -> None:
        """VIZ_TEST_COMMANDS=path: JSON lines appended by a test ({"cmd": "quit"} | {"cmd": "save_gui", "path": p}
        | {"cmd": "drop", "paths": [...]})."""
        if not self._test_commands or not os.path.exists(self._test_commands):
            return
        with open(self._test_commands) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        for line in lines[self._test_commands_done:]:
            self._test_commands_done += 1
            try:
                cmd = json.loads(line)
            except json.JSONDecodeError:
                continue
            if cmd.get('cmd') == 'quit':
                self.window.request_close()
            elif cmd.get('cmd') == 'save_gui':
                self.capture_widget.save_gui(cmd.get('path'))
            elif cmd.get('cmd') == 'drop':  # as GLFW's drop callback would (xdotool cannot drag files)
                self.window._on_drop(self.window.window, list(cmd.get('paths', [])))
