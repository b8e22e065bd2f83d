"""Tooltips on every control, so the GUI explains itself: every control a widget draws is followed by its tooltip
before the next control (ImGui attaches a tooltip to the last item drawn, so a tooltip after the next control explains
the wrong one). Read from the source with `ast`: the tests import no imgui frame."""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WIDGETS = os.path.join(ROOT, 'viz', 'gui', 'widgets')
CONTROLS = {'button', 'small_button', 'checkbox', 'combo', 'radio_button', '_combo'}
CONTROL_PREFIXES = ('slider_', 'input_', 'drag_')
TOOLTIPS = {'tooltip', 'set_item_tooltip'}
NOT_YET: set[str] = set()  # every widget file is checked


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ''


def _is_control(call: ast.Call) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    owner = func.value.id if isinstance(func.value, ast.Name) else ''
    name = func.attr
    if owner == 'self':
        return name == '_combo'
    return owner in ('imgui', 'imgui_utils') and (name in CONTROLS or name.startswith(CONTROL_PREFIXES))


def untipped_controls(source: str) -> list[str]:
    """'line: call' of each control not followed by a tooltip before the next control of its function."""
    missing = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef) or fn.name == '_combo':  # the helper's own combo is its caller's
            continue
        calls = sorted((c for c in ast.walk(fn) if isinstance(c, ast.Call)), key=lambda c: (c.lineno, c.col_offset))
        pending = None
        for call in calls:
            if _is_control(call):
                if pending is not None:
                    missing.append(f'{pending.lineno}: {_name(pending)}')
                pending = call
            elif _name(call) in TOOLTIPS and pending is not None:
                pending = None
        if pending is not None:
            missing.append(f'{pending.lineno}: {_name(pending)}')
    return missing


def test_the_check_finds_a_control_without_a_tooltip():
    source = ('def draw(self):\n'
              '    imgui.checkbox("a", True)\n'
              '    imgui_utils.tooltip("explains a")\n'
              '    imgui.slider_int("b", 1, 0, 9)\n'
              '    imgui_utils.button("c")\n'
              '    imgui.set_item_tooltip("explains c")\n')
    assert untipped_controls(source) == ['4: slider_int']


@pytest.mark.parametrize('name', sorted(n for n in os.listdir(WIDGETS) if n.endswith('_widget.py')
                                        and n not in NOT_YET))
def test_every_control_has_a_tooltip(name):
    with open(os.path.join(WIDGETS, name), encoding='utf-8') as f:
        missing = untipped_controls(f.read())
    assert not missing, f'{name}: controls without a tooltip: {missing}'
