"""The visualizer's small settings file (for now: the recent pickles), in the platform's config directory.

Where: ``$XDG_CONFIG_HOME/<app>/settings.json`` when XDG_CONFIG_HOME is set (tests point it at a temporary
directory), else ``%APPDATA%\\<app>`` on Windows, ``~/Library/Application Support/<app>`` on macOS and
``~/.config/<app>`` elsewhere. A missing file is an empty one; a corrupt or foreign one is ignored with a note
(the caller shows it), never an exception: settings are a convenience and must not stop the app.
"""

from __future__ import annotations

import json
import os
import sys

from networks.atomic_io import atomic_write
from networks.file_io import FileReadError, read_json

__all__ = ['APP_NAME', 'MAX_RECENT', 'Settings', 'config_dir', 'settings_path', 'load_settings', 'save_settings',
           'add_recent']

APP_NAME = 'alias-free-gan-workbench'
MAX_RECENT = 12
SETTINGS_VERSION = 1
MAX_SETTINGS_BYTES = 1 << 20   # a dozen paths: a few KB


def config_dir() -> str:
    """The directory this app keeps its settings in (not created here)."""
    xdg = os.environ.get('XDG_CONFIG_HOME')
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative value
        return os.path.join(xdg, APP_NAME)
    if sys.platform == 'win32' and os.environ.get('APPDATA'):
        return os.path.join(os.environ['APPDATA'], APP_NAME)
    if sys.platform == 'darwin':
        return os.path.join(os.path.expanduser('~'), 'Library', 'Application Support', APP_NAME)
    return os.path.join(os.path.expanduser('~'), '.config', APP_NAME)


def settings_path() -> str:
    return os.path.join(config_dir(), 'settings.json')


class Settings:
    """What is kept between runs: ``recent`` (pickle paths that loaded, newest first)."""

    def __init__(self, recent: list[str] | None = None) -> None:
        self.recent: list[str] = list(recent or [])


def load_settings(path: str | None = None) -> tuple[Settings, str | None]:
    """(settings, note): a missing file gives empty settings and no note; an unusable one, empty settings and a
    one-line note saying it was ignored."""
    path = path or settings_path()
    if not os.path.lexists(path):
        return Settings(), None
    try:
        data = read_json(path, max_bytes=MAX_SETTINGS_BYTES, max_depth=4, what='settings file')
    except FileReadError as exc:
        return Settings(), f'ignored the settings file {path}: {exc.reason}'
    if not isinstance(data, dict) or data.get('version') != SETTINGS_VERSION:
        return Settings(), f'ignored the settings file {path}: not a version {SETTINGS_VERSION} settings object'
    recent = data.get('recent', [])
    if not isinstance(recent, list) or not all(isinstance(p, str) and 0 < len(p) <= 4096 for p in recent):
        return Settings(), f'ignored the settings file {path}: "recent" is not a list of paths'
    return Settings(recent=_dedup(recent)[:MAX_RECENT]), None


def save_settings(settings: Settings, path: str | None = None) -> str | None:
    """Write the settings atomically; returns a one-line note when that fails (read-only home, full disk)."""
    path = path or settings_path()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = json.dumps(dict(version=SETTINGS_VERSION, recent=settings.recent), indent=1)
        atomic_write(path, lambda f: f.write(text.encode('utf-8')))
    except OSError as exc:
        return f'cannot save the settings file {path}: {exc.strerror or exc}'
    return None


def add_recent(recent: list[str], path: str) -> list[str]:
    """`path` first, no duplicates, at most MAX_RECENT entries (call only for a path that loaded)."""
    return _dedup([path] + recent)[:MAX_RECENT]


def _dedup(paths: list[str]) -> list[str]:
    seen: set[str] = set()
    return [p for p in paths if not (p in seen or seen.add(p))]
