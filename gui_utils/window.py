"""A GLFW window with an OpenGL 3.3 core, forward-compatible context and a Dear ImGui (imgui-bundle) context.

Usage::

    win = GlfwImguiWindow('title', 1280, 800)      # raises NoDisplayError where no window can be opened
    while not win.should_close():
        win.begin_frame()
        ...imgui calls...
        win.end_frame()
    win.close()
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import glfw  # import before imgui_bundle so that it uses this glfw, not its bundled copy
import numpy as np
import OpenGL.GL as gl
from imgui_bundle import imgui, implot

from gui_utils.fonts import default_font_path
from gui_utils.gl_renderer import LeanGlfwRenderer


class NoDisplayError(RuntimeError):
    """No window can be opened here (no DISPLAY, no OpenGL 3.3 core context)."""


_glfw_error = ''


def _on_glfw_error(code: int, description: bytes) -> None:
    global _glfw_error
    _glfw_error = description.decode(errors='replace') if isinstance(description, bytes) else str(description)


def display_available() -> tuple[bool, str]:
    """Whether glfw can initialise here, and if not, why (cheap, leaves glfw terminated on failure)."""
    if os.name == 'posix' and not os.environ.get('DISPLAY') and not os.environ.get('WAYLAND_DISPLAY'):
        if not hasattr(os, 'uname') or os.uname().sysname != 'Darwin':
            return False, 'no DISPLAY or WAYLAND_DISPLAY environment variable'
    glfw.set_error_callback(_on_glfw_error)
    if not glfw.init():
        return False, f'glfw.init() failed: {_glfw_error or "unknown reason"}'
    return True, ''


def frame_wait(prev_swap_start: float, fps_limit: float, now: float) -> float:
    """Seconds to sleep before this frame's swap so that swaps *start* at most `fps_limit` times a second.

    Pacing from the start of the previous swap, not its end: with llvmpipe (or any driver that renders at the
    swap) the swap itself takes 10-20 ms, and a wait measured from its end made a 60 fps cap give about 35 fps.
    """
    if fps_limit <= 0:
        return 0.0
    return max(0.0, prev_swap_start + 1.0 / fps_limit - now)


def readable_slider_style(style) -> None:
    """Slider values are drawn over the handle: keep the handle thin and see-through so it never hides them."""
    style.grab_min_size = 4.0
    for col in (imgui.Col_.slider_grab, imgui.Col_.slider_grab_active):
        c = style.color_(col)
        style.set_color_(col, imgui.ImVec4(c.x, c.y, c.z, 0.45))


class GlfwImguiWindow:
    """One window, one ImGui + ImPlot context, the imgui-bundle GLFW/OpenGL3 renderer."""

    def __init__(self, title: str, width: int = 1280, height: int = 800, font_size: float = 15.0,
                 vsync: bool = False, visible: bool = True) -> None:
        ok, why = display_available()
        if not ok:
            raise NoDisplayError(why)
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, glfw.TRUE)
        glfw.window_hint(glfw.VISIBLE, glfw.TRUE if visible else glfw.FALSE)
        self.content_scale = self._monitor_scale()
        self.window = glfw.create_window(int(width * self.content_scale), int(height * self.content_scale),
                                         title, None, None)
        if not self.window:
            glfw.terminate()
            raise NoDisplayError(f'cannot create an OpenGL 3.3 core window: {_glfw_error or "unknown reason"}')
        glfw.make_context_current(self.window)
        self.vsync = None
        self.set_vsync(vsync)
        self.fps_limit = 0.0
        self._last_swap = time.perf_counter()  # end of the previous swap (frame times)
        self._last_swap_start = self._last_swap  # its start (the fps cap paces these)
        self.frame_times: list[float] = []

        self.imgui_context = imgui.create_context()
        self.implot_context = implot.create_context()
        io = imgui.get_io()
        io.set_ini_filename('')
        io.set_log_filename('')
        self.font_size = font_size * self.content_scale
        font_path = default_font_path()
        if font_path is not None:
            self.font = io.fonts.add_font_from_file_ttf(font_path, self.font_size)
        else:
            self.font = None
        style = imgui.get_style()
        style.window_rounding = 0
        readable_slider_style(style)
        style.scale_all_sizes(self.content_scale)
        self.renderer = LeanGlfwRenderer(self.window)
        self.input_hooks: list[Callable[[], None]] = []  # run after the backend's input processing (tests)
        self._dropped: list[str] = []
        glfw.set_drop_callback(self.window, self._on_drop)
        # Key presses with the modifiers GLFW reports with each one, for shortcuts. ImGui's own modifier state
        # is a separate, trickled event: in a fast chord (Ctrl down, S down, S up, Ctrl up within one poll) it
        # can see Ctrl released before S goes down, and Ctrl+S would be lost.
        self._key_presses: list[tuple[int, int, bool]] = []
        backend_on_key = self.renderer.keyboard_callback

        def on_key(window, key, scancode, action, mods) -> None:
            if action in (glfw.PRESS, glfw.REPEAT):
                self._key_presses.append((int(key), int(mods), action == glfw.REPEAT))
            backend_on_key(window, key, scancode, action, mods)

        self._on_key = on_key  # referenced here so that it is not collected while GLFW holds it
        glfw.set_key_callback(self.window, on_key)

    @staticmethod
    def _monitor_scale() -> float:
        """DPI factor of the primary monitor (1 on Xvfb); windows and fonts are sized by it.

        macOS measures windows in points and ImGui renders at the framebuffer scale by itself: 1 there.
        """
        if sys.platform == 'darwin':
            return 1.0
        try:
            monitor = glfw.get_primary_monitor()
            if monitor:
                sx, sy = glfw.get_monitor_content_scale(monitor)
                return float(max(1.0, min(4.0, max(sx, sy))))
        except Exception:
            pass
        return 1.0

    # --- properties -------------------------------------------------------------------------------------------
    # Both as GLFW's resize callbacks last reported them (see LeanGlfwRenderer): asking GLFW is an X round trip.
    @property
    def size(self) -> tuple[int, int]:
        return self.renderer.window_size

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        return self.renderer.framebuffer_size

    # --- settings ---------------------------------------------------------------------------------------------
    def set_vsync(self, vsync: bool) -> None:
        if vsync != self.vsync:
            glfw.swap_interval(1 if vsync else 0)
            self.vsync = vsync

    def pane_background(self) -> tuple[float, float, float]:
        """The colour of an ImGui window's background (the style's WindowBg) as an opaque RGB clear colour.

        Full-window panes should pass `WindowFlags_.no_background` and clear to this colour instead: on a
        software rasteriser (Mesa llvmpipe) a window-sized, alpha-blended, textured background quad costs about
        10 ms of CPU a frame at 1280x800, a clear well under 1 ms. Before, panes were drawn over an uncleared
        buffer; repeated blending of WindowBg over itself converges to its RGB, so the picture is the same.
        """
        c = imgui.get_style().color_(imgui.Col_.window_bg)
        return float(c.x), float(c.y), float(c.z)

    def set_title(self, title: str) -> None:
        glfw.set_window_title(self.window, title)

    def _on_drop(self, _window, paths) -> None:
        self._dropped.extend(str(p) for p in paths)

    def pop_key_presses(self) -> list[tuple[int, int, bool]]:
        """(glfw key, glfw modifier bits, is_repeat) of every key pressed since the last call."""
        presses, self._key_presses = self._key_presses, []
        return presses

    def pop_dropped(self) -> list[str]:
        paths, self._dropped = self._dropped, []
        return paths

    # --- frame loop -------------------------------------------------------------------------------------------
    def should_close(self) -> bool:
        return bool(glfw.window_should_close(self.window))

    def request_close(self) -> None:
        glfw.set_window_should_close(self.window, True)

    def begin_frame(self) -> None:
        glfw.poll_events()
        self.renderer.process_inputs()
        for hook in self.input_hooks:
            hook()
        imgui.new_frame()
        if self.font is not None:
            imgui.push_font(self.font, self.font_size)

    def end_frame(self, clear_color: tuple[float, float, float] | None = (0.08, 0.08, 0.09),
                  read_back: bool = False) -> np.ndarray | None:
        """Draw ImGui, swap; with `read_back`, return the finished frame (HxWx3 uint8) as shown on screen.

        `clear_color=None` skips the clear. A clear is cheap even on llvmpipe (it marks tiles, fills nothing):
        prefer clearing to `pane_background()` over drawing window-sized ImGui backgrounds.
        """
        if self.font is not None:
            imgui.pop_font()
        imgui.render()
        fw, fh = self.framebuffer_size
        gl.glViewport(0, 0, fw, fh)
        if clear_color is not None:
            gl.glClearColor(*clear_color, 1.0)
            gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        self.renderer.render(imgui.get_draw_data())
        pixels = self.read_pixels() if read_back else None
        wait = frame_wait(self._last_swap_start, self.fps_limit, time.perf_counter())
        if wait > 0:
            time.sleep(wait)
        self._last_swap_start = time.perf_counter()
        glfw.swap_buffers(self.window)
        now = time.perf_counter()
        self.frame_times.append(now - self._last_swap)
        del self.frame_times[:-240]
        self._last_swap = now
        return pixels

    def read_pixels(self) -> np.ndarray:
        """The back buffer as uint8 HxWx3 (top row first): call after drawing, before the swap."""
        fw, fh = self.framebuffer_size
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        gl.glReadBuffer(gl.GL_BACK)
        data = gl.glReadPixels(0, 0, fw, fh, gl.GL_RGB, gl.GL_UNSIGNED_BYTE)
        pixels = np.frombuffer(data, np.uint8).reshape(fh, fw, 3)
        return np.ascontiguousarray(pixels[::-1])

    def close(self) -> None:
        if self.window is None:
            return
        try:
            self.renderer.shutdown()
        except Exception:
            pass
        implot.destroy_context(self.implot_context)
        imgui.destroy_context(self.imgui_context)
        glfw.destroy_window(self.window)
        glfw.terminate()
        self.window = None
