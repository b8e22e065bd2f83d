"""Session files: the whole render state as JSON; the GUI saves and loads them, and they drive headless mode."""

from __future__ import annotations

import json
import os

from viz.core.render_types import RenderArgs, args_from_dict, args_to_dict

__all__ = ['SESSION_VERSION', 'save_session', 'load_session']

SESSION_VERSION = 1


def save_session(path: str, args: RenderArgs, views: list[str] | None = None) -> None:
    """Write args (and the headless views) to `path` atomically (a temporary file, then a rename)."""
    data = dict(version=SESSION_VERSION, args=args_to_dict(args))
    if views:
        data['views'] = list(views)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def load_session(path: str) -> tuple[RenderArgs, list[str] | None]:
    """(args, views) from a session file; ValueError with a clear message for a bad file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path} is not a JSON session file ({exc.msg} at line {exc.lineno})') from exc
    if not isinstance(data, dict) or not isinstance(data.get('args'), dict):
        raise ValueError(f'{path} is not a session file (no "args" object)')
    views = data.get('views')
    return args_from_dict(data['args']), list(views) if isinstance(views, list) else None
