"""The visualizer application: a control pane of widgets, the view pane, the async renderer, captures.

Each frame the widgets edit `self.args` (a frozen `RenderArgs`); when the renderer is idle the newest args
are submitted, and the newest result is uploaded as textures and drawn. Nothing here touches a network.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections import deque

from imgui_bundle import imgui

from gui_utils import imgui_utils
from gui_utils.gl_texture import TextureCache
from gui_utils.window import GlfwImguiWindow
from viz.core.async_renderer import AsyncRenderer
from viz.core.images import save_png
from viz.core.render_types import DEFAULT_PKL, RenderArgs, RenderResult
from viz.core.session import load_session
from viz.gui.widgets.capture_widget import CaptureWidget
from viz.gui.widgets.class_widget import ClassWidget
from viz.gui.widgets.directions_widget import DirectionsWidget
from viz.gui.widgets.eq_readout_widget import EquivarianceReadoutWidget
from viz.gui.widgets.keyframes_widget import KeyframesWidget
from viz.gui.widgets.latent_widget import LatentWidget
from viz.gui.widgets.layer_widget import LayerWidget
from viz.gui.widgets.performance_widget import PerformanceWidget
from viz.gui.widgets.pickle_widget import PickleWidget
from viz.gui.widgets.projection_widget import ProjectionWidget
from viz.gui.widgets.session_widget import SessionWidget
from viz.gui.widgets.spectrum_widget import SpectrumWidget
from viz.gui.widgets.sticking_widget import StickingWidget
from viz.gui.widgets.stylemix_widget import StyleMixWidget
from viz.gui.widgets.transform_widget import TransformWidget
from viz.gui.widgets.trunc_noise_widget import TruncationNoiseWidget
from viz.gui.widgets.warp_widget import WarpWidget

log = logging.getLogger('visualizer')

RED = (1.0, 0.35, 0.3)
ORANGE = (1.0, 0.65, 0.1)


class VisualizerApp:
    def __init__(self, pkls: list[str] | None = None, capture_dir: str = 'renders', browse_dir: str | None = None,
                 device: str = 'cpu', session: str | None = None, width: int = 1280, height: int = 800,
                 async_renderer: AsyncRenderer | None = None) -> None:
        self.window = GlfwImguiWindow('Alias-free GAN visualizer', width, height)
        self.capture_dir = capture_dir
        self.browse_dir = browse_dir
        self.args = RenderArgs(device=device)
        self.result: RenderResult | None = None  # newest result (shown)
        self.network: dict = {}
        self.error_text = ''
        self.messages: deque[tuple[str, bool]] = deque(maxlen=200)
        self.rects: dict[str, tuple[float, float, float, float]] = {}
        self.textures = TextureCache()
        self.async_renderer = async_renderer or AsyncRenderer()
        self._submitted: RenderArgs | None = None
        self._last_good_pkl = DEFAULT_PKL
        self._last_good_device = 'cpu'
        self._screenshot_paths: list[str] = []
        self.frame_index = 0
        self.frame_delta = 1 / 60
        self._last_frame = time.perf_counter()
        self.image_size_px = 256.0
        self.font_size = self.window.font_size
        self.spacing = self.label_w = self.button_w = 0.0
        self._update_sizes()

        self.pickle_widget = PickleWidget(self)
        self.latent_widget = LatentWidget(self)
        self.stylemix_widget = StyleMixWidget(self)
        self.trunc_noise_widget = TruncationNoiseWidget(self)
        self.transform_widget = TransformWidget(self)
        self.layer_widget = LayerWidget(self)
        self.spectrum_widget = SpectrumWidget(self)
        self.eq_readout_widget = EquivarianceReadoutWidget(self)
        self.sticking_widget = StickingWidget(self)
        self.capture_widget = CaptureWidget(self)
        self.session_widget = SessionWidget(self)
        self.perf_widget = PerformanceWidget(self)
        # Exploration (issue 13): drawn after the latent and transform widgets, so keyframe playback overrides them.
        self.class_widget = ClassWidget(self)
        self.warp_widget = WarpWidget(self)
        self.projection_widget = ProjectionWidget(self)
        self.directions_widget = DirectionsWidget(self)
        self.keyframes_widget = KeyframesWidget(self)
        self.panels = [
            ('Network & latent', True, [self.pickle_widget, self.latent_widget, self.stylemix_widget,
                                        self.trunc_noise_widget]),
            ('Equivariance / input transform', True, [self.transform_widget]),
            ('Layers', True, [self.layer_widget]),
            ('Analysis: spectrum, EQ, sticking', True, [self.spectrum_widget, self.eq_readout_widget,
                                                       self.sticking_widget]),
            ('Capture & session', True, [self.capture_widget, self.session_widget]),
            ('Explore: class, warp, projection, directions, keyframes', True,
             [self.class_widget, self.warp_widget, self.projection_widget, self.directions_widget,
              self.keyframes_widget]),
            ('Performance', False, [self.perf_widget]),
        ]
        self._test_state = os.environ.get('VIZ_TEST_STATE') or None
        self._test_commands = os.environ.get('VIZ_TEST_COMMANDS') or None
        self._test_commands_done = 0

        for pkl in reversed(pkls or []):
            self.pickle_widget.load(pkl)
        if session:
            try:
                args, _views = load_session(session)
                self.apply_session(args)
                self.log(f'loaded session {session}')
            except (OSError, ValueError, TypeError) as exc:
                self.log(f'cannot load session {session}: {exc}', error=True)

    # --- API for the widgets ----------------------------------------------------------------------------------
    def set_args(self, **changes) -> None:
        changes = {k: v for k, v in changes.items() if getattr(self.args, k) != v}
        if changes:
            self.args = dataclasses.replace(self.args, **changes)

    def log(self, text: str, error: bool = False) -> None:
        self.messages.append((text, error))
        (log.error if error else log.info)(text)
        if error:
            self.error_text = text

    def rect(self, name: str) -> None:
        """Record the screen rectangle of the last drawn item (test hook and drag targets)."""
        self.rects[name] = imgui_utils.item_rect()

    def request_screenshot(self, path: str) -> None:
        self._screenshot_paths.append(path)

    @property
    def rendering(self) -> bool:
        # A result finished after this frame polled is not shown yet: still rendering, as far as the user sees.
        return self.async_renderer.busy or self.async_renderer.result_waiting or self._submitted != self.args

    def apply_session(self, args: RenderArgs) -> None:
        """Make `args` current: widgets take their state from it."""
        self.args = args
        for _title, _open, widgets in self.panels:
            for widget in widgets:
                load = getattr(widget, 'load_args', None)
                if load is not None:
                    load(args)
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
        self.textures.clear()
        self.window.close()
        stopped = self.async_renderer.close(timeout=3.0)
        self.clean_exit = stopped
        return stopped

    def frame(self) -> None:
        now = time.perf_counter()
        self.frame_delta = min(max(now - self._last_frame, 1e-4), 0.25)
        self._last_frame = now
        self.window.begin_frame()
        self.rects = {}
        width, height = self.window.size
        pane_w = min(round(self.font_size * 33), width * 0.5)
        flags = (imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_move
                 | imgui.WindowFlags_.no_collapse | imgui.WindowFlags_.no_bring_to_front_on_focus)

        imgui.set_next_window_pos(imgui.ImVec2(0, 0))
        imgui.set_next_window_size(imgui.ImVec2(pane_w, height))
        imgui.begin('##controls', None, flags)
        for title, default_open, widgets in self.panels:
            show = imgui.collapsing_header(title, imgui.TreeNodeFlags_.default_open if default_open else 0)
            for widget in widgets:
                widget(show)
        imgui.end()

        self._poll_result()
        imgui.set_next_window_pos(imgui.ImVec2(pane_w, 0))
        imgui.set_next_window_size(imgui.ImVec2(width - pane_w, height))
        imgui.begin('##view', None, flags)
        self._draw_view(width - pane_w)
        imgui.end()

        self._submit()
        self._run_test_commands()
        want_pixels = bool(self._screenshot_paths) or self.capture_widget.wants_gui_frames
        pixels = self.window.end_frame(clear_color=None, read_back=want_pixels)  # the two panes cover the window
        if pixels is not None:
            for path in self._screenshot_paths:
                try:
                    save_png(path, pixels)
                    self.log(f'saved GUI screenshot {path}')
                except OSError as exc:
                    self.log(f'cannot save {path}: {exc}', error=True)
            self._screenshot_paths = []
            self.capture_widget.on_gui_frame(pixels)
        self.frame_index += 1
        if self._test_state and self.frame_index % 3 == 0:
            self._write_test_state()

    def _submit(self) -> None:
        """Hand the newest args to the renderer when it is idle (so every shown result is the newest request's)."""
        if self.args != self._submitted and not self.async_renderer.busy:
            self.async_renderer.set_args(self.args)
            self._submitted = self.args

    def _poll_result(self) -> None:
        result = self.async_renderer.get_result()
        if result is None:
            return
        self.perf_widget.record_render(result.timings.get('total', 0.0))
        if result.error:
            self.log(result.error, error=True)
            if not result.network and result.args is not None:
                # The network did not load (bad pickle, unusable device): keep working with the previous one.
                if result.args.pkl != self._last_good_pkl:
                    self.set_args(pkl=self._last_good_pkl)
                if result.args.device != self._last_good_device:
                    self.perf_widget.set_device(self._last_good_device)
                    self.set_args(device=self._last_good_device)
            if self.result is not None and result.image is None:
                return  # keep showing the last good image under the error
        else:
            if result.args is not None and result.args.pkl != self._last_good_pkl:
                self._last_good_pkl = result.args.pkl
                self.error_text = ''
            if result.args is not None:
                self._last_good_device = result.args.device
        for text in result.messages:
            if not self.messages or self.messages[-1][0] != text:
                self.log(text)
        self.result = result
        if result.network:
            if result.network != self.network:
                self.window.set_title(f'Alias-free GAN visualizer - {result.network.get("name", "")}')
            self.network = result.network
        self.capture_widget.on_result(result)

    # --- the view pane ----------------------------------------------------------------------------------------
    def _draw_view(self, pane_width: float) -> None:
        net = self.network
        if net:
            imgui.text(f'{net.get("name", "")}  -  {net.get("kind", "")} {net.get("resolution", "")}px, '
                       f'{net.get("num_ws", "")} ws, {net.get("device", "")} {net.get("precision", "")}')
            if net.get('untrained'):
                imgui.same_line()
                imgui_utils.text_colored('UNTRAINED (random weights)', ORANGE)
        else:
            imgui.text('loading network...')
        imgui.same_line()
        imgui.text_disabled('  rendering...' if self.rendering else '  ')
        if self.error_text:
            if imgui.small_button('dismiss'):
                self.error_text = ''
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
            box = max(min((avail.x - self.spacing * len(images)) / len(images),
                          avail.y - analysis_h - self.font_size * 6), 64)
            res = max(result.image.shape[:2])
            zoom = max(1, int(box // res)) if box >= res else box / res
            for i, (name, img) in enumerate(images):
                if i:
                    imgui.same_line()
                tex = self.textures.get(name, img)
                size = imgui.ImVec2(img.shape[1] * zoom * (res / img.shape[0] if name == 'fft' else 1),
                                    img.shape[0] * zoom * (res / img.shape[0] if name == 'fft' else 1))
                pos = imgui.get_cursor_screen_pos()
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
        else:
            imgui.text_disabled('waiting for the first render...')
        if self.spectrum_widget.enabled:
            self.spectrum_widget.draw_view(result, pane_width)
        if self.sticking_widget.enabled:
            self.sticking_widget.draw_view(result, pane_width)
        imgui.separator()
        for text, error in list(self.messages)[-4:]:
            if error:
                imgui_utils.text_colored(text, RED)
            else:
                imgui.text_disabled(text)

    def _image_drag(self, pos, size) -> None:
        """Left-drag in the image moves the latent (or translates, in the transform widget's drag modes);
        right-drag always translates slowly."""
        imgui.set_cursor_screen_pos(pos)
        imgui.invisible_button('##imagedrag', size, imgui.ButtonFlags_.mouse_button_left
                               | imgui.ButtonFlags_.mouse_button_right)
        if not imgui.is_item_active():
            return
        delta = imgui.get_io().mouse_delta
        if delta.x == 0 and delta.y == 0:
            return
        if imgui.is_mouse_down(imgui.MouseButton_.right):
            self.transform_widget.drag(delta.x, delta.y, slow=True)
        elif self.transform_widget.drag_mode:
            self.transform_widget.drag(delta.x, delta.y, slow=self.transform_widget.drag_mode == 'slow')
        else:
            self.latent_widget.drag(delta.x, delta.y)

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
                       eq=result.eq, spectrum=result.spectrum is not None, sticking=result.sticking is not None)
        state = dict(frame=self.frame_index, time=time.time(), pid=os.getpid(), rects=self.rects,
                     window_size=list(self.window.size), args=dataclasses.asdict(self.args), result=res,
                     rendering=self.rendering, error_text=self.error_text, network=self.network,
                     messages=[m for m, _e in list(self.messages)[-20:]],
                     seed=self.latent_widget.seed, last_saved=self.capture_widget.last_saved,
                     recording=self.capture_widget.recorder is not None,
                     queue=self.async_renderer.queue_length, renderer_stats=dict(self.async_renderer.stats),
                     projection=self.projection_widget.test_state(), keyframes=self.keyframes_widget.test_state())
        tmp = self._test_state + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(state, f, default=str)
        os.replace(tmp, self._test_state)

    def _run_test_commands(self) -> None:
        """VIZ_TEST_COMMANDS=path: JSON lines appended by a test ({"cmd": "quit"} | {"cmd": "save_gui", "path": p})."""
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
