"""The GL window's draw path, in-process under our own Xvfb, pixels read back from the back buffer.

- Panes without an ImGui background over a clear to `pane_background()` look like panes with their background
  (the app draws them so: a window-sized blended quad cost about 10 ms of CPU a frame on llvmpipe).
- A texture cached by array identity still shows each new image (uploads only happen when the content changed).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.gui

W, H, SPLIT = 320, 240, 120
FLAGS = None  # set once imgui is imported


@pytest.fixture(scope='module')
def window():
    from gui_utils.xvfb import XvfbUnavailable, start_xvfb

    try:
        xvfb, display = start_xvfb(640, 480)
    except XvfbUnavailable as exc:
        pytest.skip(f'{exc}; GUI tests need it')
    old = {k: os.environ.get(k) for k in ('DISPLAY', 'WAYLAND_DISPLAY')}
    os.environ['DISPLAY'] = display
    os.environ.pop('WAYLAND_DISPLAY', None)
    from gui_utils.window import GlfwImguiWindow, NoDisplayError

    try:
        win = GlfwImguiWindow('test', W, H)
    except NoDisplayError as exc:
        xvfb.kill()
        pytest.skip(f'no OpenGL 3.3 core context under Xvfb: {exc}')
    yield win
    win.close()
    xvfb.kill()
    xvfb.wait()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _frame(win, background: bool, clear, draw=None) -> np.ndarray:
    """One frame of two panes tiling the window (as the app lays them out); returns the read-back pixels."""
    from imgui_bundle import imgui

    flags = (imgui.WindowFlags_.no_title_bar | imgui.WindowFlags_.no_resize | imgui.WindowFlags_.no_move
             | imgui.WindowFlags_.no_collapse | imgui.WindowFlags_.no_scrollbar)
    if not background:
        flags |= imgui.WindowFlags_.no_background
    from gui_utils.imgui_utils import pane_border

    win.begin_frame()
    imgui.set_next_window_pos(imgui.ImVec2(0, 0))
    imgui.set_next_window_size(imgui.ImVec2(SPLIT, H))
    imgui.begin('##left', None, flags)
    if not background:
        pane_border()
    imgui.text('left')
    imgui.end()
    imgui.set_next_window_pos(imgui.ImVec2(SPLIT, 0))
    imgui.set_next_window_size(imgui.ImVec2(W - SPLIT, H))
    imgui.begin('##right', None, flags)
    if not background:
        pane_border()
    if draw is not None:
        draw()
    imgui.end()
    return win.end_frame(clear_color=clear, read_back=True)


def test_cleared_panes_look_like_panes_with_their_background(window):
    bg = window.pane_background()
    expected = np.round(np.array(bg) * 255)
    # the old path: the panes' own (alpha 0.94) backgrounds over an uncleared buffer, until it has settled
    for _ in range(12):
        old = _frame(window, background=True, clear=None)
    # the new path: no ImGui background, a clear to the pane colour; start from a red buffer so that an
    # uncleared pixel cannot pass
    for _ in range(2):
        _frame(window, background=True, clear=(1.0, 0.0, 0.0))
    new = _frame(window, background=False, clear=bg)
    assert new.shape == old.shape == (H, W, 3)
    # away from text and borders: the bottom-right corner of each pane
    for pane in (new[H - 40:H - 4, SPLIT - 40:SPLIT - 4], new[H - 40:H - 4, W - 40:W - 4]):
        assert np.abs(pane.astype(int) - expected).max() <= 1
    differs = np.abs(new.astype(int) - old.astype(int)).max(axis=2) > 1
    assert differs.mean() < 0.001, f'{differs.sum()} pixels differ from the old background path'
    # and the text is still drawn on top
    assert np.abs(new[:30, :SPLIT].astype(int) - expected).max() > 60


def _show(window, tex, shape) -> np.ndarray:
    """Draw `tex` 1:1 at the right pane's content origin; return the pixels it covers."""
    from imgui_bundle import imgui

    where = {}

    def draw():
        pos = imgui.get_cursor_screen_pos()
        where['pos'] = (int(pos.x), int(pos.y))
        imgui.image(imgui.ImTextureRef(tex().gl_id), imgui.ImVec2(shape[1], shape[0]))

    pixels = _frame(window, background=False, clear=window.pane_background(), draw=draw)
    x, y = where['pos']
    return pixels[y:y + shape[0], x:x + shape[1]]


def test_a_cached_texture_shows_each_new_image(window):
    from gui_utils.gl_texture import TextureCache

    rng = np.random.default_rng(0)
    cache = TextureCache()
    try:
        first = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        current = {'img': first}
        shown = _show(window, lambda: cache.get('image', current['img']), first.shape)
        np.testing.assert_array_equal(shown, first)
        # the same array again: no upload, same picture
        again = _show(window, lambda: cache.get('image', current['img']), first.shape)
        np.testing.assert_array_equal(again, first)
        # a new result (a new array, same size): it reaches the screen
        current['img'] = second = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        shown = _show(window, lambda: cache.get('image', current['img']), second.shape)
        np.testing.assert_array_equal(shown, second)
        # a new size and a grey feature map
        current['img'] = third = rng.integers(0, 256, (32, 40), dtype=np.uint8)
        shown = _show(window, lambda: cache.get('image', current['img']), third.shape)
        np.testing.assert_array_equal(shown, np.repeat(third[:, :, None], 3, axis=2))
    finally:
        cache.clear()


def test_lean_renderer_draws_the_same_pixels_as_imgui_bundles_renderer(window):
    """The same ImGui frame drawn by the stock renderer and by ours: identical pixels. The frame has text,
    an opaque image (drawn without blending by ours), a translucent RGBA image, an opaque image inside a
    disabled block (its vertices are translucent) and an overlapping window."""
    import OpenGL.GL as gl
    from imgui_bundle import imgui
    from imgui_bundle.python_backends.opengl_backend_programmable import ProgrammablePipelineRenderer

    from gui_utils.gl_renderer import LeanGlfwRenderer, vertices_opaque
    from gui_utils.gl_texture import Texture, is_opaque

    assert isinstance(window.renderer, LeanGlfwRenderer)
    rng = np.random.default_rng(1)
    opaque = Texture(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    rgba[:, :, 3] = rng.integers(0, 200, (16, 16), dtype=np.uint8)
    translucent = Texture(rgba)
    stock = ProgrammablePipelineRenderer()
    try:
        assert is_opaque(opaque.gl_id) and not is_opaque(translucent.gl_id)

        def draw():
            imgui.text('text over the pane')
            imgui.image(imgui.ImTextureRef(opaque.gl_id), imgui.ImVec2(96, 96))
            imgui.same_line()
            imgui.image(imgui.ImTextureRef(translucent.gl_id), imgui.ImVec2(64, 64))
            imgui.begin_disabled(True)
            imgui.image(imgui.ImTextureRef(opaque.gl_id), imgui.ImVec2(40, 40))
            imgui.end_disabled()

        _frame(window, background=False, clear=window.pane_background(), draw=draw)  # settle the layout
        window.begin_frame()
        imgui.set_next_window_pos(imgui.ImVec2(0, 0))
        imgui.set_next_window_size(imgui.ImVec2(W, H))
        imgui.begin('##one', None, imgui.WindowFlags_.no_title_bar)
        draw()
        imgui.end()
        imgui.set_next_window_pos(imgui.ImVec2(60, 60))
        imgui.set_next_window_size(imgui.ImVec2(120, 100))
        imgui.begin('overlapping', None)
        imgui.image(imgui.ImTextureRef(opaque.gl_id), imgui.ImVec2(200, 200))  # clipped by its window
        imgui.end()
        if window.font is not None:
            imgui.pop_font()
        imgui.render()
        draw_data = imgui.get_draw_data()
        found = {}
        for cmd_list in draw_data.cmd_lists:
            for cmd in cmd_list.cmd_buffer:
                if cmd.get_tex_id() == opaque.gl_id:
                    found.setdefault('opaque', []).append(
                        vertices_opaque(cmd_list, cmd.idx_offset, cmd.elem_count))
        # the enabled images are opaque quads; the disabled one (alpha 0.6) is not and must be blended
        assert True in found['opaque'] and False in found['opaque']
        shown = []
        for renderer in (stock, window.renderer):
            gl.glClearColor(0.3, 0.2, 0.1, 1.0)
            gl.glClear(gl.GL_COLOR_BUFFER_BIT)
            renderer.render(draw_data)
            shown.append(window.read_pixels())
        import glfw

        glfw.swap_buffers(window.window)
        assert shown[0].std() > 10
        np.testing.assert_array_equal(shown[1], shown[0])
    finally:
        stock._invalidate_device_objects()
        opaque.delete()
        translucent.delete()
        assert not is_opaque(opaque.gl_id)


def test_the_next_frames_clear_covers_the_whole_window(window):
    """The renderer leaves no scissor behind: after a frame whose last draw was clipped to a small window, the
    next frame's clear reaches every pixel."""
    from imgui_bundle import imgui

    def small_window_last():
        imgui.set_next_window_pos(imgui.ImVec2(10, 10))
        imgui.set_next_window_size(imgui.ImVec2(50, 40))
        imgui.begin('small', None, imgui.WindowFlags_.no_title_bar)
        imgui.text('x')
        imgui.end()

    window.begin_frame()
    small_window_last()
    window.end_frame(clear_color=(0.0, 0.0, 1.0))
    window.begin_frame()
    pixels = window.end_frame(clear_color=(0.0, 1.0, 0.0), read_back=True)
    assert (pixels == np.array([0, 255, 0], np.uint8)).all()


def test_sizes_follow_a_resize_without_asking_the_server_each_frame(window):
    """The window and framebuffer sizes come from GLFW's callbacks: after a resize they are the new ones (as
    GLFW's own queries say), ImGui's display size follows, and the read-back frame has the new size."""
    import time

    import glfw
    from imgui_bundle import imgui

    def settle(size):
        glfw.set_window_size(window.window, *size)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and tuple(glfw.get_window_size(window.window)) != size:
            window.begin_frame()
            window.end_frame()
        for _ in range(3):  # the callbacks run inside poll_events (begin_frame)
            window.begin_frame()
            display = imgui.get_io().display_size
            pixels = window.end_frame(read_back=True)
        return (display.x, display.y), pixels

    try:
        display, pixels = settle((W + 40, H - 30))
        assert window.size == (W + 40, H - 30) == tuple(glfw.get_window_size(window.window))
        assert window.framebuffer_size == tuple(glfw.get_framebuffer_size(window.window))
        assert display == (W + 40, H - 30)
        assert pixels.shape == (window.framebuffer_size[1], window.framebuffer_size[0], 3)
    finally:
        settle((W, H))
    assert window.size == (W, H)
