"""The one base class for errors caused by user input (files, arguments), reported as one line by every tool;
and :func:`printable`, the one way text that came from a file or a path is made safe to print."""

from __future__ import annotations

__all__ = ['UserError', 'PickleError', 'printable']


def _escape(char: str) -> str:
    code = ord(char)
    return f'\\x{code:02x}' if code < 0x100 else f'\\u{code:04x}' if code < 0x10000 else f'\\U{code:08x}'


def printable(text: object, limit: int | None = None) -> str:
    """``str(text)`` as one line that is safe to print anywhere: whitespace runs become one space; control and
    format characters (ESC, OSC, bidi overrides...), lone surrogates and other unprintable characters are written
    as ``\\xNN`` / ``\\uNNNN`` escapes, so a terminal never acts on them and no encoder fails on them. With
    ``limit``, longer results end in ``...`` at that length. The result is unchanged by a second call."""
    text = ' '.join(str(text).split())
    if not text.isprintable():
        text = ''.join(c if c.isprintable() else _escape(c) for c in text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 3, 0)] + '...'
    return text


class UserError(Exception):
    """Bad input from a user or a file: a CLI prints ``error: <message>`` and exits 1, the GUI shows the message.

    Never raised for bugs: anything that is not a ``UserError`` is a defect and keeps its traceback.

    The message names no command-line flag. ``option``, when set, names the setting the error is about (e.g.
    ``'class'``): a command line adds its flag (``--class``), the GUI can point at its control.
    """

    option: str | None = None


class PickleError(UserError, ValueError):
    """A network pickle could not be read: missing, not a pickle, corrupt, unsafe or of an unknown kind.

    Its message is always one :func:`printable` line, whatever names or text the file holds.
    """

    def __init__(self, message: object = '') -> None:
        super().__init__(printable(message))
