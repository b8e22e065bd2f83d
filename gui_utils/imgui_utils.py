"""Small Dear ImGui helpers shared by the widgets."""

from __future__ import annotations

import math

from imgui_bundle import imgui


# The two context managers are classes, not @contextlib.contextmanager generators: the widgets enter about
# sixty of them a frame, and a generator-based one costs several times as much to create and run.
class grayed_out:  # noqa: N801 (used like a function: `with grayed_out(cond):`)
    """Disable (and grey) the enclosed widgets when `cond` holds."""

    __slots__ = ('cond',)

    def __init__(self, cond: bool = True) -> None:
        self.cond = cond

    def __enter__(self) -> None:
        imgui.begin_disabled(self.cond)

    def __exit__(self, *exc) -> None:
        imgui.end_disabled()


class item_width:  # noqa: N801
    """Push `width` as the width of the enclosed items (None: leave it)."""

    __slots__ = ('width',)

    def __init__(self, width: float | None = None) -> None:
        self.width = width

    def __enter__(self) -> None:
        if self.width is not None:
            imgui.push_item_width(self.width)

    def __exit__(self, *exc) -> None:
        if self.width is not None:
            imgui.pop_item_width()


def finite(values, previous):
    """`values` (a number or a sequence of numbers, as a drag or slider returns them) where every one is finite,
    else `previous`: Ctrl+click lets the user type nan or inf into any of them, and a widget state that feeds
    arithmetic every frame (positions, animation speeds) must never take one."""
    seq = values if isinstance(values, list | tuple) else (values,)
    return values if all(math.isfinite(v) for v in seq) else previous


def wrapped_status(text: str, error: bool = False) -> None:
    """A status line that wraps at the window's edge (red for an error, grey otherwise): a long one centred in a
    progress bar was cut at both edges."""
    imgui.push_text_wrap_pos(0.0)
    if error:
        text_colored(text, RED)
    else:
        imgui.text_disabled(text)
    imgui.pop_text_wrap_pos()


def button(label: str, width: float = 0, enabled: bool = True) -> bool:
    # begin/end_disabled directly, not `grayed_out`: a generator context manager costs more than the button
    # itself, and the GUI draws about 40 of these every frame
    imgui.begin_disabled(not enabled)
    try:
        return bool(imgui.button(label, imgui.ImVec2(width, 0))) and enabled
    finally:
        imgui.end_disabled()


# Computed once: OR-ing the enum members costs several microseconds in Python, and tooltip() runs about 100
# times a frame.
_TOOLTIP_HOVER = imgui.HoveredFlags_.allow_when_disabled | imgui.HoveredFlags_.delay_short


RED = (1.0, 0.35, 0.3)       # errors
ORANGE = (1.0, 0.65, 0.1)    # warnings: untrained network, outside what the network was trained for

# While a list: the screen rectangle of every control drawn, appended by `tooltip` (every control has one, which
# tests/viz/gui/test_tooltips.py checks), so a layout can be measured by how many controls it shows.
controls_drawn: list[tuple[float, float, float, float]] | None = None


def tooltip(text: str) -> None:
    """Explain the last item when the mouse rests on it (also when it is disabled)."""
    if controls_drawn is not None:
        controls_drawn.append(item_rect())
    if text and imgui.is_item_hovered(_TOOLTIP_HOVER):
        imgui.set_tooltip(text)


def pane_border() -> None:
    """Draw the current window's outer border as ImGui does, for a window begun with `no_background`.

    ImGui drops the border together with the background; the app's panes skip their window-sized background
    (the window is cleared to its colour instead, far cheaper on a software rasteriser) but keep the border.
    Same call as ImGui's own (AddRect over the window rectangle with the border colour and size), drawn first
    in the window's draw list as ImGui does, so the pixels are the same.
    """
    size = imgui.get_style().window_border_size
    if size <= 0:
        return
    pos, extent = imgui.get_window_pos(), imgui.get_window_size()
    end = imgui.ImVec2(pos.x + extent.x, pos.y + extent.y)
    imgui.push_clip_rect(pos, end, False)  # the border lies outside the content's clip rectangle
    imgui.get_window_draw_list().add_rect(pos, end, imgui.get_color_u32(imgui.Col_.border), 0.0, size)
    imgui.pop_clip_rect()


def text_colored(text: str, rgb: tuple[float, float, float]) -> None:
    imgui.text_colored(imgui.ImVec4(rgb[0], rgb[1], rgb[2], 1.0), text)


def item_rect() -> tuple[float, float, float, float]:
    """Screen rectangle (x0, y0, x1, y1) of the last item, in window pixels."""
    lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    return (float(lo.x), float(lo.y), float(hi.x), float(hi.y))
