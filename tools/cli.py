"""The one CLI runner and argument types shared by every tool.

Every tool builds its parser with :class:`ArgumentParser` and runs its body through :func:`run`. Bad input
(a :class:`networks.UserError`, a bad argument, a missing file) then gives exactly one ``error: ...`` line on
stderr and exit status 1; a traceback is printed only with ``--debug``. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import stat
import sys
from collections.abc import Callable, Sequence

from networks.conventions import MAX_SEED
from networks.errors import UserError, flag, hint, printable

__all__ = ['ArgumentParser', 'UsageError', 'run', 'main_entry', 'finite_float', 'positive_int', 'nonnegative_int',
           'positive_float', 'nonnegative_float', 'probability', 'int_range', 'float_range', 'seed', 'seed_list',
           'vec2', 'shown', 'existing_file', 'existing_path', 'existing_dir', 'network_pkl', 'output_dir',
           'output_file', 'device', 'refuse_unused', 'psi', 'degrees', 'translation', 'translation_vec2',
           'loss_weight', 'MAX_SEEDS', 'MAX_SEED', 'MAX_PSI', 'MAX_TRANSLATE', 'MAX_DEGREES', 'MAX_LOSS_WEIGHT']

MAX_SEEDS = 100_000       # seeds in one --seeds list: a few hours of 256 px images on a CPU; more is a typo
# Sane ranges of the render arguments every tool shares, the same as a session file's (viz.core.session.LIMITS):
# generous sanity limits, far beyond anything useful, that keep every result finite. A psi of 1e30 or a rotation
# of 1e300 degrees is a typo, not a request.
MAX_PSI = 100             # |--trunc|: psi 2 already extrapolates far outside the training distribution
MAX_TRANSLATE = 1e4       # |--translate| in image widths
MAX_DEGREES = 1e6         # |--rotate| in degrees (a rotation is periodic: 360 is a full turn)
MAX_LOSS_WEIGHT = 1e4     # loss-term weights (defaults are 0.1 .. 10): beyond this a float32 loss can overflow
_SHOWN = 40               # characters of a bad argument quoted in an error line (a 5000-digit number is not shown)


_PATH_ERRORS = (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


class UsageError(UserError):
    """A command-line argument is missing, malformed or out of range."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing usage and exiting 2, and knows ``--debug``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument('--debug', action='store_true', help='print a traceback for errors (for bug reports)')

    def error(self, message: str):  # noqa: D102 - argparse hook
        raise UsageError(f'{message} (see --help)')


def run(body: Callable[[], object], debug: bool = False) -> int:
    """``body()``'s exit status (an int it returns, else 0); 1 with one ``error: ...`` line for a user error."""
    try:
        result = body()
    except UserError as err:
        if debug:
            raise
        print(f'error: {printable(_one_line(err) + hint(err, flag))}', file=sys.stderr)
        return 1
    except FileNotFoundError as err:
        if debug:
            raise
        print(f'error: file not found: {printable(err.filename or err)}', file=sys.stderr)
        return 1
    except OSError as err:
        # The user's paths and disk (permissions, a file where a folder is expected, a full disk) are input too;
        # other OS errors keep their traceback.
        if debug or not (isinstance(err, _PATH_ERRORS) or err.errno in (errno.ENOSPC, errno.EDQUOT)):
            raise
        where = f' ({err.filename})' if err.filename else ''
        print(f'error: {printable(f"{err.strerror or err}{where}")}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('error: interrupted', file=sys.stderr)
        return 1
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def main_entry(parser: ArgumentParser, body: Callable[[argparse.Namespace], object],
               argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run ``body(opts)`` through :func:`run`: bad arguments are user errors too."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = '--debug' in argv
    holder: list[argparse.Namespace] = []
    status = run(lambda: holder.append(parser.parse_args(argv)), debug=debug)
    if status:
        return status
    return run(lambda: body(holder[0]), debug=debug)


def refuse_unused(opts: argparse.Namespace, names: Sequence[str], when: str) -> None:
    """Refuse the options of ``names`` that were given (not None or False) where they would change nothing, e.g.
    an equivariance-video option in an interpolation video: ignoring them silently would let the user believe they
    had been applied. ``when`` completes the message ('with --mode interp')."""
    given = [name for name in names if getattr(opts, name.lstrip('-').replace('-', '_')) not in (None, False)]
    if given:
        raise UsageError(f'{" and ".join(given)} would have no effect {when}')


def _one_line(err: BaseException) -> str:
    """The error as one printable line: names from files and paths may hold terminal escapes or lone surrogates."""
    return printable(err) or type(err).__name__


# ------------------------------------------------------------------------------------------------------------
# Argument types: each raises argparse.ArgumentTypeError, which the parser turns into one error line.

def shown(text: str) -> str:
    """``text`` quoted for an error line, shortened when long (a 5000-digit number stays one short line)."""
    return repr(text) if len(text) <= _SHOWN else f'{text[:_SHOWN // 2]!r}...({len(text)} characters)'


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{shown(text)} is not a number') from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'{shown(text)} is not a finite number')
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'{shown(text)} must be > 0')
    return value


def probability(text: str) -> float:
    value = finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f'{shown(text)} must be in [0, 1]')
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        digits = text.strip().lstrip('+-').replace('_', '')
        if digits.isdigit():  # Python refuses to convert more than 4300 digits: a number, but far out of range
            raise argparse.ArgumentTypeError(f'{shown(text)} is far out of range ({len(digits)} digits)') from None
        raise argparse.ArgumentTypeError(f'{shown(text)} is not an integer') from None


def positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'{shown(text)} must be >= 1')
    return value


def nonnegative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'{shown(text)} must be >= 0')
    return value


def nonnegative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'{shown(text)} must be >= 0')
    return value


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An argument type for integers in [low, high] (the message names the range)."""
    def parse(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'{shown(text)} must be in {low}..{high}')
        return value
    parse.__name__ = f'int_{low}_{high}'  # argparse names the type in some messages
    return parse


def float_range(low: float, high: float) -> Callable[[str], float]:
    """An argument type for finite numbers in [low, high]."""
    def parse(text: str) -> float:
        value = finite_float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'{shown(text)} must be in [{low:g}, {high:g}]')
        return value
    parse.__name__ = f'float_{low:g}_{high:g}'
    return parse


def psi(text: str) -> float:
    """Truncation psi: finite, |psi| <= MAX_PSI."""
    return float_range(-MAX_PSI, MAX_PSI)(text)


def degrees(text: str) -> float:
    """An angle in degrees: finite, |angle| <= MAX_DEGREES."""
    return float_range(-MAX_DEGREES, MAX_DEGREES)(text)


def translation(text: str) -> float:
    """A translation in image widths: finite, |t| <= MAX_TRANSLATE."""
    return float_range(-MAX_TRANSLATE, MAX_TRANSLATE)(text)


def translation_vec2(text: str) -> tuple[float, float]:
    """'0.1,-0.2' -> (0.1, -0.2): an x,y translation in image widths, each as :func:`translation`."""
    x, y = vec2(text)
    for value in (x, y):
        if abs(value) > MAX_TRANSLATE:
            raise argparse.ArgumentTypeError(f'{shown(text)}: each of x,y must be in [{-MAX_TRANSLATE:g}, '
                                             f'{MAX_TRANSLATE:g}]')
    return x, y


def loss_weight(text: str) -> float:
    """The weight of a loss term: finite, in [0, MAX_LOSS_WEIGHT] (0 switches the term off)."""
    return float_range(0, MAX_LOSS_WEIGHT)(text)


def seed(text: str) -> int:
    """One latent seed, 0 .. 2**32 - 1."""
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f'seed {shown(text)} must be in 0..{MAX_SEED}')
    return value


def seed_list(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]: each seed in 0 .. 2**32 - 1, at most MAX_SEEDS of them."""
    out: list[int] = []
    for part in text.split(','):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition('-')
        try:
            first, last = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f'bad seeds {shown(text)}: expected e.g. 0-3,7 (seeds are >= 0)') from None
        if not (0 <= first <= MAX_SEED and 0 <= last <= MAX_SEED):
            raise argparse.ArgumentTypeError(f'bad seeds {shown(text)}: seeds must be in 0..{MAX_SEED}')
        if last < first:
            raise argparse.ArgumentTypeError(f'bad seeds {shown(text)}: range {part!r} is empty')
        if len(out) + last - first + 1 > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f'bad seeds {shown(text)}: more than {MAX_SEEDS:,} seeds')
        out.extend(range(first, last + 1))
    if not out:
        raise argparse.ArgumentTypeError(f'bad seeds {shown(text)}: no seed')
    return out


def vec2(text: str) -> tuple[float, float]:
    """'0.1,-0.2' -> (0.1, -0.2), both finite."""
    parts = text.split(',')
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f'{shown(text)}: expected two comma-separated numbers, e.g. 0.1,0')
    return finite_float(parts[0]), finite_float(parts[1])


def _kind(text: str) -> str | None:
    """What ``text`` is when it is neither a regular file nor a folder ('a FIFO', ...): reading one could block for
    ever (a FIFO) or never end (/dev/zero), so no tool takes them as input or output."""
    try:
        mode = os.stat(text).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return ('a FIFO' if stat.S_ISFIFO(mode) else 'a character device' if stat.S_ISCHR(mode)
            else 'a block device' if stat.S_ISBLK(mode) else 'a socket' if stat.S_ISSOCK(mode) else 'not a file')


def existing_path(text: str) -> str:
    """A file or folder that exists (datasets are either)."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f'{text!r} does not exist')
    if _kind(text):
        raise argparse.ArgumentTypeError(f'{text!r} is {_kind(text)}, not a regular file or folder')
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f'{text!r} is not readable')
    return text


def existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f'{text!r} is not a folder' if os.path.exists(text)
                                         else f'{text!r} does not exist')
    return text


def network_pkl(text: str) -> str:
    """An existing file that starts like a network pickle: ours (a zip) or NVlabs' (pickle protocol >= 2).

    Only the first bytes are read: loading (and every check of the contents) happens once, in the tool.
    """
    existing_file(text)
    from networks.file_io import open_regular
    from networks.pickle_io import max_pickle_file_bytes

    # A regular file of at most what the loader accepts: a FIFO, /dev/zero or a 100 GB file is refused here, at once.
    fd, _size = open_regular(text, max_pickle_file_bytes(),
                             lambda reason: argparse.ArgumentTypeError(f'{text!r} cannot be read: {reason}'))
    try:
        head = os.read(fd, 4)
    except OSError as err:
        raise argparse.ArgumentTypeError(f'{text!r} cannot be read: {err.strerror or err}') from None
    finally:
        os.close(fd)
    if not (head.startswith(b'PK\x03\x04') or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5)):
        what = 'empty' if not head else 'not a network pickle (neither our format nor NVlabs\')'
        raise argparse.ArgumentTypeError(f'{text!r} is {what}')
    return text


def existing_file(text: str) -> str:
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f'{text!r} does not exist')
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f'{text!r} is a folder, expected a file')
    if _kind(text):
        raise argparse.ArgumentTypeError(f'{text!r} is {_kind(text)}, not a regular file')
    if not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f'{text!r} is not readable')
    return text


def output_dir(text: str) -> str:
    """A folder that exists and is writable, or can be created (its nearest existing parent is writable)."""
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f'{text!r} exists and is not a folder')
    probe = os.path.abspath(text)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise argparse.ArgumentTypeError(f'cannot create {text!r}: {probe!r} is not a folder')
    if not os.access(probe, os.W_OK | os.X_OK) or not _can_create_in(probe):
        raise argparse.ArgumentTypeError(f'{text!r} is not writable')
    return text


def _can_create_in(folder: str) -> bool:
    """Whether a file can be created in ``folder``, tried for real (and removed at once): ``os.access`` says yes
    to root everywhere, also in read-only mounts and in /proc, where the tool would fail only when it writes."""
    import tempfile

    try:
        fd, path = tempfile.mkstemp(prefix='.write-check-', dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.remove(path)
    return True


def output_file(text: str) -> str:
    """A file path whose folder is (or can be made) writable, and which is not itself a folder."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f'{text!r} is a folder, expected a file name')
    if _kind(text):
        raise argparse.ArgumentTypeError(f'{text!r} is {_kind(text)}, not a regular file to write')
    output_dir(os.path.dirname(os.path.abspath(text)))
    return text


def device(text: str) -> str:
    """'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', checked against what this machine has; 'auto' becomes cuda or cpu."""
    import torch
    if text == 'auto':   # resolved here, so that no tool hands 'auto' to torch.device
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f'{text!r} is not a device (cpu, cuda, cuda:N, mps or auto)') from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f'{text!r}: CUDA is not available on this machine')
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f'{text!r}: only {torch.cuda.device_count()} CUDA devices')
    elif dev.type == 'mps':
        if not (getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available()):
            raise argparse.ArgumentTypeError(f'{text!r}: MPS is not available on this machine')
    elif dev.type != 'cpu':
        raise argparse.ArgumentTypeError(f'{text!r}: unsupported device type')
    return text


def direction(text: str) -> tuple[str, int, float, str]:
    """``SOURCE[:INDEX]=STRENGTH[@LAYERS]`` (``analysis.directions.parse_direction``), e.g. ``pca:0=2@coarse``."""
    from analysis.directions import parse_direction

    try:
        return parse_direction(text)
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix('direction ')) from None
