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
