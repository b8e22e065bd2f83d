"""The GL window's draw path, in-process under our own Xvfb, pixels read back from the back buffer.

- Panes without an ImGui background over a clear to `pane_background()` look like panes with their background
  (the app draws them so: a window-sized blended quad cost about 10 ms of CPU a frame on llvmpipe).
- A texture cached by array identity still shows each new image (uploads only happen when the content changed).
- The lean renderer draws the same pixels as imgui-bundle's, leaves no scissor behind, and follows resizes.

The ImGui/GL calls live in gui_utils.testing (tests may not import GUI libraries: tests/test_import_rules.py).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.gui

W, H, SPLIT = 320, 240, 120


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


def test_cleared_panes_look_like_panes_with_their_background(window):
    from gui_utils.testing import two_pane_frame

    bg = window.pane_background()
    expected = np.round(np.array(bg) * 255)
    # the old path: the panes' own (translucent) backgrounds over an uncleared buffer, until it has settled
    for _ in range(12):
        old, _ = two_pane_frame(window, SPLIT, background=True, clear=None)
    # the new path; start from red buffers so that an uncleared pixel cannot pass
    for _ in range(2):
        two_pane_frame(window, SPLIT, background=True, clear=(1.0, 0.0, 0.0))
    new, _ = two_pane_frame(window, SPLIT, background=False, clear=bg)
    assert new.shape == old.shape == (H, W, 3)
    # away from text and borders: the bottom-right corner of each pane
    for pane in (new[H - 40:H - 4, SPLIT - 40:SPLIT - 4], new[H - 40:H - 4, W - 40:W - 4]):
        assert np.abs(pane.astype(int) - expected).max() <= 1
    differs = np.abs(new.astype(int) - old.astype(int)).max(axis=2) > 1  # borders included
    assert differs.mean() < 0.001, f'{differs.sum()} pixels differ from the old background path'
    assert np.abs(new[:30, :SPLIT].astype(int) - expected).max() > 60  # the text is still drawn on top


def test_a_cached_texture_shows_each_new_image(window):
    from gui_utils.gl_texture import TextureCache
    from gui_utils.testing import two_pane_frame

    rng = np.random.default_rng(0)
    cache = TextureCache()

    def shown(img):
        tex = cache.get('image', img)
        pixels, (x, y) = two_pane_frame(window, SPLIT, False, window.pane_background(), tex,
                                        (img.shape[1], img.shape[0]))
        return pixels[y:y + img.shape[0], x:x + img.shape[1]]

    try:
        first = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        np.testing.assert_array_equal(shown(first), first)
        np.testing.assert_array_equal(shown(first), first)  # the same array again: no upload, same picture
        second = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)  # a new result of the same size
        np.testing.assert_array_equal(shown(second), second)
        third = rng.integers(0, 256, (32, 40), dtype=np.uint8)  # a new size, a grey feature map
        np.testing.assert_array_equal(shown(third), np.repeat(third[:, :, None], 3, axis=2))
    finally:
        cache.clear()


def test_lean_renderer_draws_the_same_pixels_as_imgui_bundles_renderer(window):
    """Text, an opaque image (drawn without blending by ours), a translucent RGBA image, an opaque image in a
    disabled block (translucent vertices: must be blended) and an overlapping window: identical pixels."""
    from gui_utils.gl_renderer import LeanGlfwRenderer
    from gui_utils.gl_texture import Texture, is_opaque
    from gui_utils.testing import stock_and_lean_pixels

    assert isinstance(window.renderer, LeanGlfwRenderer)
    rng = np.random.default_rng(1)
    opaque = Texture(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    rgba[:, :, 3] = rng.integers(0, 200, (16, 16), dtype=np.uint8)
    translucent = Texture(rgba)
    try:
        assert is_opaque(opaque.gl_id) and not is_opaque(translucent.gl_id)
        stock, lean, vertex_flags = stock_and_lean_pixels(window, opaque, translucent)
        assert True in vertex_flags and False in vertex_flags
        assert stock.std() > 10
        np.testing.assert_array_equal(lean, stock)
    finally:
        opaque_id = opaque.gl_id
        opaque.delete()
        translucent.delete()
    assert not is_opaque(opaque_id)


def test_the_next_frames_clear_covers_the_whole_window(window):
    """The renderer leaves no scissor behind: after a frame whose last draw was clipped to a small window, the
    next frame's clear reaches every pixel."""
    from gui_utils.testing import clear_after_a_small_last_window

    pixels = clear_after_a_small_last_window(window, (0.0, 1.0, 0.0))
    assert (pixels == np.array([0, 255, 0], np.uint8)).all()


def test_sizes_follow_a_resize_without_asking_the_server_each_frame(window):
    """The window and framebuffer sizes come from GLFW's callbacks: after a resize they are the new ones (as
    GLFW's own queries say), ImGui's display size follows, and the read-back frame has the new size."""
    from gui_utils.testing import resize

    try:
        r = resize(window, (W + 40, H - 30))
        assert r['size'] == (W + 40, H - 30) == r['glfw_size']
        assert r['framebuffer_size'] == r['glfw_framebuffer_size']
        assert r['display'] == (W + 40, H - 30)
        assert r['pixels'].shape == (r['framebuffer_size'][1], r['framebuffer_size'][0], 3)
    finally:
        r = resize(window, (W, H))
    assert r['size'] == (W, H)
