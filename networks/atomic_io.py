"""Atomic file writes: a file appears whole under its name or not at all.

A write goes to a temporary file beside the target (``.<name>.<8 random chars>.tmp``, from ``mkstemp``), is
fsynced and renamed into place. While it is being written the writer holds an exclusive ``flock`` on it, so
:func:`remove_stale_temp_files` can tell the leftovers of a killed writer (lock free) from a write in progress
(lock held) and removes only the former; each successful write also removes such leftovers of earlier writes to
the same name (:func:`atomic_write`), so a killed save's temporary file lasts until the next save of that file
or the next cleaning of its folder, whichever comes first. Finished files take the user's umask like any other
output (``mkstemp`` alone would leave them 0600). A failing write (disk full, read-only file system, ...) becomes one
:class:`AtomicWriteError` line that says where and how much; the previous file under the name is left untouched.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import UserError

try:
    import fcntl
except ImportError:  # Windows: no flock; stale files are recognised by age instead
    fcntl = None

__all__ = ['AtomicWriteError', 'atomic_write', 'remove_stale_temp_files', 'TEMP_NAME_PATTERN']

# mkstemp(prefix='.<name>.', suffix='.tmp') names: its random part is 8 characters of [a-z0-9_].
TEMP_NAME_PATTERN = re.compile(r'^\..+\.[a-z0-9_]{8}\.tmp$')
_STALE_AGE_WITHOUT_LOCKS_S = 3600.0


class AtomicWriteError(UserError, OSError):
    """A file could not be written (disk full, no permission, ...); the previous file is unchanged.

    Also an ``OSError`` (with ``errno`` and ``filename`` set) so existing ``except OSError`` handlers still see it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''   # OSError's own would print '[Errno n] None: <path>'


def _current_umask() -> int:
    # /proc avoids os.umask(0)'s window in which another thread would create world-writable files.
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _find_os_error(err: BaseException) -> OSError | None:
    # torch.save reports a failed write as RuntimeError("... file write failed") with the OSError as its context.
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def _size_text(n: int) -> str:
    for unit, scale in (('GiB', 2**30), ('MiB', 2**20), ('KiB', 2**10)):
        if n >= scale:
            return f'{n / scale:.1f} {unit}'
    return f'{n} bytes'


def _write_error(path: Path, err: OSError, written: int | None) -> AtomicWriteError:
    reason = err.strerror or str(err) or type(err).__name__
    parts = [f'cannot write {path}: {reason}']
    if written is not None:
        parts.append(f'after {_size_text(written)} of it were written')
    try:
        parts.append(f'{_size_text(shutil.disk_usage(path.parent).free)} free in {path.parent}')
    except OSError:
        pass
    keep = 'the previous file is unchanged' if path.exists() else 'nothing was written'
    result = AtomicWriteError(f'{", ".join(parts)}; {keep}')
    result.errno = err.errno
    result.filename = str(path)
    return result


def _lock_new_temp(path: Path) -> tuple[int, str]:
    """mkstemp beside ``path``, locked; retried if a concurrent cleaner removed it before we held the lock."""
    for _attempt in range(100):
        fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:       # still linked: no cleaner got to it first
            return fd, tmp
        os.close(fd)
    raise OSError(errno.EAGAIN, 'temporary files are being removed as fast as they are created')


def atomic_write(path: str | os.PathLike, write_fn: Callable[[BinaryIO], object]) -> None:
    """Calls ``write_fn(file)`` on a temporary file beside ``path`` and renames it into place when done.

    Once ``path`` is in place, temporary files of earlier writes to ``path`` that no writer holds (left by a killed
    process) are removed; those of other names are left to :func:`remove_stale_temp_files`.

    Raises :class:`AtomicWriteError` (one line: where, how much was written, free space) when the file system
    refuses the write, in which case the temporary file is removed and an existing ``path`` is untouched.
    Other exceptions from ``write_fn`` (bugs) propagate unchanged, also after removing the temporary file.
    """
    path = Path(path)
    tmp = None
    written = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _lock_new_temp(path)
        with os.fdopen(fd, 'wb') as f:
            try:
                os.fchmod(fd, 0o666 & ~_current_umask())
                write_fn(f)
                f.flush()
                os.fsync(f.fileno())
            finally:
                written = os.fstat(f.fileno()).st_size
            os.replace(tmp, path)       # while still holding the lock: a cleaner never sees a finished file
            tmp = None
        _remove_stale_siblings(path)
    except BaseException as err:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        os_error = _find_os_error(err) if isinstance(err, Exception) else None
        if os_error is None or isinstance(err, AtomicWriteError):
            raise
        # One line for the user; the OSError is in the message, a chained second traceback would add nothing.
        raise _write_error(path, os_error, written) from None


def _remove_if_stale(entry: os.DirEntry) -> bool:
    """Unlinks the temporary file ``entry`` if no writer holds it (without flock: untouched for an hour)."""
    if not entry.is_file(follow_symlinks=False):
        return False
    try:
        if fcntl is None:
            if time.time() - entry.stat(follow_symlinks=False).st_mtime > _STALE_AGE_WITHOUT_LOCKS_S:
                os.unlink(entry.path)
                return True
            return False
        fd = os.open(entry.path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False                # a writer is alive and busy with it
            os.unlink(entry.path)           # unlinked while locked: a writer that locks it next sees st_nlink 0
            return True
        finally:
            os.close(fd)
    except FileNotFoundError:
        return False                        # renamed into place or removed meanwhile


def _remove_stale_siblings(path: Path) -> None:
    """Removes the unlocked temporary files of earlier writes to ``path`` (``.<name>.<8 chars>.tmp``); a failure
    to remove one never fails the write that has just succeeded."""
    prefix = f'.{path.name}.'
    try:
        with os.scandir(path.parent) as entries:
            ours = [entry for entry in entries if entry.name.startswith(prefix)
                    and len(entry.name) == len(prefix) + 12 and TEMP_NAME_PATTERN.match(entry.name)]
        for entry in ours:
            _remove_if_stale(entry)
    except OSError:
        pass


def remove_stale_temp_files(folder: str | os.PathLike) -> list[str]:
    """Removes temporary files left in ``folder`` by interrupted :func:`atomic_write` calls; returns their names.

    Only regular files named like our temporaries are considered, and only those no live writer holds locked
    (without flock: those untouched for an hour). Not recursive. A missing folder is not an error.
    """
    folder = Path(folder)
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(entry.name for entry in entries
                  if TEMP_NAME_PATTERN.match(entry.name) and _remove_if_stale(entry))
