"""Fonts that ship inside our dependencies (nothing is ever downloaded)."""

from __future__ import annotations

import os


def _candidates() -> list[str]:
    paths = []
    try:
        import imgui_bundle

        root = os.path.join(os.path.dirname(imgui_bundle.__file__), 'assets', 'fonts')
        paths += [os.path.join(root, 'DroidSans.ttf'), os.path.join(root, 'Roboto', 'Roboto-Regular.ttf')]
    except ImportError:
        pass
    try:
        import matplotlib

        paths.append(os.path.join(os.path.dirname(matplotlib.__file__), 'mpl-data', 'fonts', 'ttf', 'DejaVuSans.ttf'))
    except ImportError:
        pass
    return paths


def default_font_path() -> str | None:
    """Path of a TrueType font bundled with imgui-bundle or matplotlib, or None (ImGui's built-in font)."""
    for path in _candidates():
        if os.path.isfile(path):
            return path
    return None
