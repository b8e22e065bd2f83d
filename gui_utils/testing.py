"""Scenes that drive a `GlfwImguiWindow` directly and read its pixels back, for the draw-path tests, and
`HeadlessImgui`, an ImGui context without a window for clicking widgets.

Tests may not import the GUI libraries themselves (tests/test_import_rules.py: only the GUI layer does), so the
ImGui and GL calls of tests/viz/gui/test_gl_window.py live here; the tests check what these return.
"""

from __future__ import annotations

import time

import glfw
import numpy as np
import OpenGL.GL as gl
from imgui_bundle import imgui, implot
from imgui_bundle.python_backends.opengl_backend_programmable import ProgrammablePipelineRenderer

from gui_utils.gl_renderer import vertices_opaque
from gui_utils.gl_texture import Texture
from gui_utils.imgui_utils import pane_border
from gui_utils.window import GlfwImguiWindow


def two_pane_frame(win: GlfwImguiWindow, split: int, background: bool, clear, image: Texture | None = None,
                   image_size: tuple[int, int] | None = None) -> tuple[np.ndarray, tuple[int, int] | None]:
    """One frame of two panes tiling the window as the app lays them out (text in both; optionally `image`
    drawn `image_size` = (w, h) in the right pane). `background`: the panes draw ImGui's own background (the
    old path); else `no_background` + `pane_border`. Returns the read-back pixels and the image's position."""
    w, h = win.size
    flags = (imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_move
             | imgui.WindowFlags_.no_collapse | imgui.WindowFlags_.no_scrollbar)
    if not background:
        flags |= imgui.WindowFlags_.no_background
    win.begin_frame()
    pos = None
    for name, x, width in (('##left', 0, split), ('##right', split, w - split)):
        imgui.set_next_window_pos(imgui.ImVec2(x, 0))
        imgui.set_next_window_size(imgui.ImVec2(width, h))
        imgui.begin(name, None, flags)
        if not background:
            pane_border()
        imgui.text(name[2:])
        if image is not None and name == '##right':
            p = imgui.get_cursor_screen_pos()
            pos = (int(p.x), int(p.y))
            imgui.image(imgui.ImTextureRef(image.gl_id), imgui.ImVec2(*image_size))
        imgui.end()
    return win.end_frame(clear_color=clear, read_back=True), pos


def stock_and_lean_pixels(win: GlfwImguiWindow, opaque: Texture,
                          translucent: Texture) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """One ImGui frame (text; `opaque` and `translucent` images; `opaque` inside a disabled block, so with
    translucent vertices; an overlapping window that clips a large `opaque` image) drawn by imgui-bundle's
    stock renderer and by the window's own. Returns both read-backs and, for each draw command with the
    `opaque` texture, whether its vertices are all opaque (what the lean renderer decides blending on)."""
    stock = ProgrammablePipelineRenderer()
    try:
        for final in (False, True):  # the first frame settles the layout
            win.begin_frame()
            imgui.set_next_window_pos(imgui.ImVec2(0, 0))
            imgui.set_next_window_size(imgui.ImVec2(*win.size))
            imgui.begin('##one', None, imgui.WindowFlags_.no_title_bar)
            imgui.text('text over the pane')
            imgui.image(imgui.ImTextureRef(opaque.gl_id), imgui.ImVec2(96, 96))
            imgui.same_line()
            imgui.image(imgui.ImTextureRef(translucent.gl_id), imgui.ImVec2(64, 64))
            imgui.begin_disabled(True)
            imgui.image(imgui.ImTextureRef(opaque.gl_id), imgui.ImVec2(40, 40))
            imgui.end_disabled()
            imgui.end()
            imgui.set_next_window_pos(imgui.ImVec2(60, 60))
            imgui.set_next_window_size(imgui.ImVec2(120, 100))
            imgui.begin('overlapping', None)
            imgui.image(imgui.ImTextureRef(opaque.gl_id), imgui.ImVec2(200, 200))  # clipped by its window
            imgui.end()
            if not final:
                win.end_frame()
        if win.font is not None:
            imgui.pop_font()
        imgui.render()
        draw_data = imgui.get_draw_data()
        flags = [vertices_opaque(cmd_list, cmd.idx_offset, cmd.elem_count)
                 for cmd_list in draw_data.cmd_lists for cmd in cmd_list.cmd_buffer
                 if cmd.get_tex_id() == opaque.gl_id]
        shown = []
        for renderer in (stock, win.renderer):
            gl.glClearColor(0.3, 0.2, 0.1, 1.0)
            gl.glClear(gl.GL_COLOR_BUFFER_BIT)
            renderer.render(draw_data)
            shown.append(win.read_pixels())
        glfw.swap_buffers(win.window)
        return shown[0], shown[1], flags
    finally:
        stock._invalidate_device_objects()


def clear_after_a_small_last_window(win: GlfwImguiWindow, rgb: tuple[float, float, float]) -> np.ndarray:
    """A frame whose last draw is clipped to a small window, then an empty frame cleared to `rgb`: its pixels."""
    win.begin_frame()
    imgui.set_next_window_pos(imgui.ImVec2(10, 10))
    imgui.set_next_window_size(imgui.ImVec2(50, 40))
    imgui.begin('small', None, imgui.WindowFlags_.no_title_bar)
    imgui.text('x')
    imgui.end()
    win.end_frame(clear_color=(0.0, 0.0, 1.0))
    win.begin_frame()
    return win.end_frame(clear_color=rgb, read_back=True)


def resize(win: GlfwImguiWindow, size: tuple[int, int], timeout: float = 10.0) -> dict:
    """Resize the window, run frames until GLFW reports the new size, then three more. Returns the window's
    cached sizes, GLFW's own answers, ImGui's display size and the last read-back frame."""
    glfw.set_window_size(win.window, *size)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and tuple(glfw.get_window_size(win.window)) != tuple(size):
        win.begin_frame()
        win.end_frame()
    for _ in range(3):  # the callbacks run inside poll_events (begin_frame)
        win.begin_frame()
        display = imgui.get_io().display_size
        pixels = win.end_frame(read_back=True)
    return dict(size=win.size, framebuffer_size=win.framebuffer_size,
                glfw_size=tuple(glfw.get_window_size(win.window)),
                glfw_framebuffer_size=tuple(glfw.get_framebuffer_size(win.window)),
                display=(display.x, display.y), pixels=pixels)


class HeadlessImgui:
    """An ImGui context without a window or a renderer (the frames are never drawn): each frame shows a widget in
    one window of the whole display; a click is mouse events injected at a point."""

    def __init__(self, size: tuple[int, int] = (1600, 900), plots: bool = False) -> None:
        self.size = size
        self.ctx = imgui.create_context()
        self.plot_ctx = implot.create_context() if plots else None  # for widgets that plot (performance)
        io = imgui.get_io()
        io.display_size = imgui.ImVec2(*size)
        io.backend_flags |= imgui.BackendFlags_.renderer_has_textures  # no renderer: ImGui keeps the atlas
        io.set_ini_filename('')  # write no imgui.ini

    def frame(self, widget) -> None:
        """One frame with `widget(True)` drawn in the window."""
        imgui.get_io().delta_time = 1 / 60
        imgui.new_frame()
        imgui.set_next_window_pos(imgui.ImVec2(0, 0))
        imgui.set_next_window_size(imgui.ImVec2(*self.size))
        imgui.begin('##test')
        widget(True)
        imgui.end()
        imgui.render()

    def click_at(self, widget, x: float, y: float, settle: int = 2) -> None:
        """Move to (x, y), press and release the left button, a frame after each, then `settle` more frames."""
        io = imgui.get_io()
        io.add_mouse_pos_event(x, y)
        self.frame(widget)
        io.add_mouse_button_event(0, True)
        self.frame(widget)
        io.add_mouse_button_event(0, False)
        for _ in range(settle):
            self.frame(widget)

    def close(self) -> None:
        if self.plot_ctx is not None:
            implot.destroy_context(self.plot_ctx)
        imgui.destroy_context(self.ctx)
