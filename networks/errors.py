"""The one base class for errors caused by user input (files, arguments), reported as one line by every tool;
and :func:`printable`, the one way text that came from a file or a path is made safe to print."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ['UserError', 'PickleError', 'printable', 'hint', 'flag']


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

    The message names no command-line flag and no command: each front end words the hint itself (see :func:`hint`)
    from three optional fields, given as keywords or set as class attributes:

    - ``option``: the setting the error is about, in ``snake_case`` (``'noise_mode'``), or a tuple of settings;
      a command line adds its flag (``--noise-mode``), the GUI names its control.
    - ``value``: a value of ``option`` that gets past the error (``'cpu'`` for ``option='device'``).
    - ``hint_command``: a command that makes what is missing, as the arguments of ``python -m``
      (``'tools.avg_spectra calc ...'``); a command line prints it, the window cannot run it and leaves it out.
    """

    option: str | tuple[str, ...] | None = None
    value: str | None = None
    hint_command: str | None = None

    def __init__(self, *args: object, option: str | tuple[str, ...] | None = None, value: str | None = None,
                 hint_command: str | None = None) -> None:
        super().__init__(*args)
        if option is not None:
            self.option = option
        if value is not None:
            self.value = value
        if hint_command is not None:
            self.hint_command = hint_command

    @property
    def options(self) -> tuple[str, ...]:
        """``option`` as a tuple (empty when unset or not a name)."""
        option = self.option
        names = (option,) if isinstance(option, str) else option if isinstance(option, tuple) else ()
        return tuple(name for name in names if isinstance(name, str) and name)


def flag(option: str) -> str:
    """The command-line flag of a setting: ``'noise_mode'`` -> ``'--noise-mode'``."""
    return f'--{option.replace("_", "-")}'


def hint(err: BaseException, name_option: Callable[[str], str] = flag, with_command: bool = True,
         before_value: str = ' ') -> str:
    """The hint a front end adds after the message of ``err``: ``' (A, B VALUE; python -m COMMAND)'``, where each
    option is worded by ``name_option`` (a flag on the command line, a control in the window) and ``before_value``
    goes between the options and the value; ``''`` when ``err`` carries no hint. ``with_command=False`` leaves
    out ``hint_command``."""
    if not isinstance(err, UserError):
        return ''
    parts = []
    names = [name_option(option) for option in err.options]
    if names:
        value = err.value if isinstance(err.value, str) and err.value else None
        parts.append(', '.join(names) + (f'{before_value}{value}' if value else ''))
    if with_command and isinstance(err.hint_command, str) and err.hint_command:
        parts.append(f'python -m {err.hint_command}')
    return f' ({"; ".join(parts)})' if parts else ''


class PickleError(UserError, ValueError):
    """A network pickle could not be read: missing, not a pickle, corrupt, unsafe or of an unknown kind.

    Its message is always one :func:`printable` line, whatever names or text the file holds.
    """

    def __init__(self, message: object = '', **hints) -> None:
        super().__init__(printable(message), **hints)
