"""Small Dear ImGui helpers shared by the widgets."""

from __future__ import annotations

import contextlib

from imgui_bundle import imgui


@contextlib.contextmanager
def grayed_out(cond: bool = True):
    """Disable (and grey) the enclosed widgets when `cond` holds."""
    imgui.begin_disabled(cond)
    try:
        yield
    finally:
        imgui.end_disabled()


@contextlib.contextmanager
def item_width(width: float | None = None):
    if width is not None:
        imgui.push_item_width(width)
    try:
        yield
    finally:
        if width is not None:
            imgui.pop_item_width()


def button(label: str, width: float = 0, enabled: bool = True) -> bool:
    with grayed_out(not enabled):
        return bool(imgui.button(label, imgui.ImVec2(width, 0))) and enabled


def tooltip(text: str) -> None:
    """Explain the last item when the mouse rests on it (also when it is disabled)."""
    if text and imgui.is_item_hovered(imgui.HoveredFlags_.allow_when_disabled | imgui.HoveredFlags_.delay_short):
        imgui.set_tooltip(text)


def text_colored(text: str, rgb: tuple[float, float, float]) -> None:
    imgui.text_colored(imgui.ImVec4(rgb[0], rgb[1], rgb[2], 1.0), text)


def item_rect() -> tuple[float, float, float, float]:
    """Screen rectangle (x0, y0, x1, y1) of the last item, in window pixels."""
    lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
    return (float(lo.x), float(lo.y), float(hi.x), float(hi.y))
