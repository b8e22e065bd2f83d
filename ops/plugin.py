"""One life cycle for every compiled op: lazy build, shared build lock, self-check, fallback, status.

A :class:`Plugin` is something built at first use and checked before use: each fused CUDA kernel
(``ops/cuda``), the fused CPU module (``ops/cpu``: filtered_lrelu, with the Winograd convolution in the same
library) and the Winograd 3x3 convolution (``ops/conv3x3``, which needs the CPU module). Every one has the same
states, :class:`Status`::

    idle --first call that can use it, or warm_up_async--> building --built and self-checked--> ready
                                                                    `--any failure (reason)----> failed

* Nothing is built at import. :meth:`Plugin.get` builds on the first call; calls made while another thread
  builds wait for it, unless :func:`warm_up_async` was asked to let them take the reference path meanwhile.
* Compilers run under :class:`BuildLock` (one lock file per build directory, shared by the CUDA and the CPU
  builders), which never waits forever on the lock of a killed or hung compile.
* A built plugin must pass its self-check against the reference path (the PyTorch ops, ``conv2d``) before any
  op uses it; the check's duration is kept in :attr:`Plugin.check_seconds`.
* Any failure (no compiler, a compile error, a failed self-check, a switch such as ``ALIASFREE_CPU_OPS=0``)
  leaves the plugin ``failed`` with a one-line reason, logged once (logger ``aliasfree.ops``, WARNING) and
  never raised into an op call: the ops use the reference path.
* A ready plugin that meets a call it does not support hands that call to the reference path through
  :func:`fall_back`: logged once per reason and recorded in :data:`fallbacks`; with ``ALIASFREE_OPS_STRICT=1``
  (GPU parity tests, ``gpu-report``) it raises :class:`FallbackError` instead, so that a comparison can never
  silently compare the reference path with itself.
* :func:`describe` says in a line or two what every op uses now (the GUI's performance panel).
"""

from __future__ import annotations

import enum
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("aliasfree.ops")

LOCK_NAME = "aliasfree.lock"
TORCH_LOCK_NAME = "lock"  # torch.utils.cpp_extension's FileBaton in the build directory


class Status(str, enum.Enum):
    """Where a plugin stands; its value is the word every status text uses."""

    IDLE = "idle"  # nothing has needed it yet
    BUILDING = "building"  # compiling or loading from the cache, then the self-check
    READY = "ready"  # built and self-checked: the ops use it
    FAILED = "failed"  # unusable in this process (the reason is logged once): the ops use the reference path

    def __str__(self) -> str:
        return self.value


class Unavailable(RuntimeError):
    """Raised by a build or load step with the one-line reason why a plugin cannot be used."""


class FallbackError(RuntimeError):
    """A plugin would have handed a call to the reference path while ALIASFREE_OPS_STRICT forbids it."""


# ----------------------------------------------------------------------------------------------------------
# Messages


_said: set[str] = set()
_said_lock = threading.Lock()
fallbacks: list[str] = []  # 'op: reason' of every call a plugin handed to the reference path, in order


def say_once(message: str) -> None:
    """Logs ``message`` as a warning of logger ``aliasfree.ops``, once per distinct message and process."""
    with _said_lock:
        if message in _said:
            return
        _said.add(message)
    log.warning("aliasfree ops: %s", message)


def strict() -> bool:
    """True when a plugin's fallback to the reference path must raise ($ALIASFREE_OPS_STRICT=1)."""
    return os.environ.get("ALIASFREE_OPS_STRICT", "") not in ("", "0")


def fall_back(op: str, reason: str) -> None:
    """Records that a ready plugin hands this call of ``op`` to the PyTorch path; logs once, raises if strict."""
    fallbacks.append(f"{op}: {reason}")
    if strict():
        raise FallbackError(f"{op}: the fused kernel fell back to the PyTorch path ({reason}) while "
                            "ALIASFREE_OPS_STRICT is set")
    say_once(f"{op}: the fused kernel hands a call to the PyTorch path ({reason})")


# ----------------------------------------------------------------------------------------------------------
# Build lock and compiler


def lock_timeout() -> float:
    """Seconds after which a held build lock counts as stale ($ALIASFREE_CUDA_LOCK_TIMEOUT, both builders)."""
    return float(os.environ.get("ALIASFREE_CUDA_LOCK_TIMEOUT", "900"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_is_stale(path: Path, timeout: float) -> bool:
    """A lock is stale when its owner process died on this host or it is older than ``timeout`` seconds."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > timeout:
        return True
    try:
        info = json.loads(path.read_text())
        if info.get("host") == socket.gethostname() and not _pid_alive(int(info["pid"])):
            return True
    except (OSError, ValueError, KeyError, TypeError):
        pass  # being written or unreadable: judge by age only
    return False


class BuildLock:
    """Inter-process lock of one build directory (file ``aliasfree.lock``: pid, host, time).

    A lock whose owner died on this host, or older than the timeout, is stale: it is cleared together with
    torch's own ``lock`` baton that an interrupted compile leaves behind (which would otherwise make every later
    build wait forever).
    """

    def __init__(self, build_dir: Path, timeout: float | None = None, poll: float = 0.2):
        self.path = Path(build_dir) / LOCK_NAME
        self.torch_lock = Path(build_dir) / TORCH_LOCK_NAME
        self.timeout = lock_timeout() if timeout is None else timeout
        self.poll = poll
        self.cleared_stale = False

    def __enter__(self) -> BuildLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if lock_is_stale(self.path, self.timeout):
                    log.warning("aliasfree ops: clearing a stale extension build lock %s (an interrupted or hung "
                                "compile)", self.path)
                    self.cleared_stale = True
                    self.path.unlink(missing_ok=True)
                else:
                    time.sleep(self.poll)
                continue
            with os.fdopen(fd, "w") as fh:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}, fh)
            break
        # Every builder takes our lock first, so a torch baton present now is left over from a killed compile.
        if self.torch_lock.exists():
            self.cleared_stale = True
            self.torch_lock.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)


def ninja_problem() -> str | None:
    """None when ninja runs, else the reason. pip's ninja (requirements.txt) sits beside this interpreter, which
    is not on PATH unless the virtual environment is active: that directory is added to PATH first."""
    from torch.utils.cpp_extension import is_ninja_available

    if not is_ninja_available():
        venv_bin = os.path.dirname(sys.executable)
        if os.path.exists(os.path.join(venv_bin, "ninja")):
            os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    return None if is_ninja_available() else "ninja is not on PATH (pip install ninja)"


def compile_extension(name: str, sources: Iterable[Path], build_dir: Path, what: str, verbose: bool = False,
                      **load_kwargs):
    """``torch.utils.cpp_extension.load`` under the build directory's :class:`BuildLock`; any compiler or loader
    error becomes :class:`Unavailable` ('building <what> failed (first line); build log in <dir>')."""
    from torch.utils.cpp_extension import load

    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    with BuildLock(build_dir):
        try:
            return load(name=name, sources=[str(p) for p in sources], build_directory=str(build_dir),
                        verbose=verbose, **load_kwargs)
        except Exception as e:  # noqa: BLE001 -- any compiler or loader error means: fall back
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise Unavailable(f"building {what} failed ({first}); build log in {build_dir}") from e


# ----------------------------------------------------------------------------------------------------------
# The life cycle


PLUGINS: dict[str, Plugin] = {}  # every plugin of the process by name, in the order they were made


class Plugin:
    """One lazily built, self-checked op implementation with a status (module docstring).

    ``build()`` (or ``build(value of requires)``) returns the usable object or raises (:class:`Unavailable`
    with a one-line reason); ``check(obj)`` returns None when ``obj`` agrees with the reference path, else what
    differs; ``switched_off()`` returns the reason when a switch forbids the plugin, else None. ``group`` heads
    the logged line ('<group> unavailable, using <fallback>: <reason>'), so that one reason shared by several
    plugins (no CUDA device for every kernel) is logged once.
    """

    def __init__(self, name: str, build: Callable[..., object], check: Callable[[object], str | None] | None,
                 *, label: str, device: str, fallback: str = "the PyTorch path", group: str | None = None,
                 requires: Plugin | None = None, switched_off: Callable[[], str | None] | None = None):
        if name in PLUGINS:
            raise ValueError(f"a plugin named {name!r} exists already")
        self.name, self.label, self.device = name, label, device
        self.build, self.check, self.requires, self.switched_off = build, check, requires, switched_off
        self.fallback, self.group = fallback, group or label
        self.wait = True  # False (warm_up_async): calls made during a build take the reference path meanwhile
        self.check_seconds = 0.0
        self._mutex = threading.Lock()
        self._done = threading.Event()
        self._status, self._value, self._reason = Status.IDLE, None, ""
        PLUGINS[name] = self

    @property
    def status(self) -> Status:
        return self._status

    @property
    def reason(self) -> str:
        """Why the plugin failed ('' unless it did)."""
        return self._reason

    def status_text(self) -> str:
        """'idle' | 'building' | 'ready' | 'failed: <reason>'."""
        return f"{Status.FAILED}: {self._reason}" if self._status is Status.FAILED else str(self._status)

    def get(self):
        """The usable object, or None: failed (logged once), or still building and not to be waited for."""
        if self._status is Status.READY:
            return self._value
        if self._status is Status.FAILED:
            return None
        if self._claim():
            self._run()
        else:
            with self._mutex:
                status, done = self._status, self._done
            if status is Status.BUILDING:
                if not self.wait:
                    return None
                done.wait()
        return self._value if self._status is Status.READY else None

    def _claim(self) -> bool:
        """idle -> building; True when the caller is the one to build."""
        with self._mutex:
            if self._status is not Status.IDLE:
                return False
            self._status, self._done = Status.BUILDING, threading.Event()
            return True

    def _finish(self, status: Status, value=None, reason: str = "") -> None:
        with self._mutex:
            self._status, self._value, self._reason = status, value, reason
            self._done.set()

    def _run(self) -> None:
        """Builds and checks after a successful :meth:`_claim`; never raises."""
        quiet = False
        try:
            off = self.switched_off() if self.switched_off else None
            if off:
                raise Unavailable(off)
            args = ()
            if self.requires is not None:
                base = self.requires.get()
                if base is None:
                    if self.requires.status is not Status.FAILED:  # still building elsewhere: try again later
                        self._finish(Status.IDLE)
                        return
                    quiet = True  # the required plugin has logged its reason already
                    raise Unavailable(f"needs the {self.requires.label} ({self.requires.reason})")
                args = (base,)
            value = self.build(*args)
            if self.check is not None:
                t0 = time.perf_counter()
                problem = self.check(value)
                self.check_seconds = time.perf_counter() - t0
                if problem:
                    raise Unavailable(f"the {self.label} failed its self-check ({problem})")
        except Exception as e:  # noqa: BLE001 -- never let a build or check raise into an op call
            reason = (str(e) if isinstance(e, Unavailable) else f"{type(e).__name__}: {e}") or type(e).__name__
            message = f"{self.group} unavailable, using {self.fallback}: {reason}"
            if quiet:
                with _said_lock:
                    _said.add(message)
            self._finish(Status.FAILED, reason=reason)
            say_once(message)
            return
        self._finish(Status.READY, value)

    def disable(self, reason: str) -> None:
        """Marks the plugin failed without building it (e.g. known to fail already); nothing is logged."""
        with _said_lock:
            _said.add(f"{self.group} unavailable, using {self.fallback}: {reason}")
        self._finish(Status.FAILED, reason=reason)

    def reset(self) -> None:
        """Forgets the result (tests; after installing a toolkit). Messages already logged are not repeated."""
        self.wait, self.check_seconds = True, 0.0
        self._finish(Status.IDLE)

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, {self.status_text()!r})"


def combined_status(plugins: Iterable[Plugin]) -> str:
    """One status text for several plugins: the first failure, else 'ready' when all are, else 'building' when
    any is, else 'idle'."""
    plugins = list(plugins)
    for p in plugins:
        if p.status is Status.FAILED:
            return p.status_text()
    if plugins and all(p.status is Status.READY for p in plugins):
        return str(Status.READY)
    return str(Status.BUILDING if any(p.status is Status.BUILDING for p in plugins) else Status.IDLE)


def all_plugins(device: str | None = None) -> list[Plugin]:
    """Every plugin (of ``device``, 'cuda' or 'cpu'); importing the op packages registers them."""
    from . import conv3x3, cuda  # noqa: F401  (conv3x3 imports ops.cpu)

    return [p for p in PLUGINS.values() if device is None or p.device == device]


class WarmUp:
    """A background build of some plugins; poll :attr:`status` from the GUI thread."""

    def __init__(self, plugins: list[Plugin], claimed: list[Plugin]):
        self.plugins = plugins
        self.thread = threading.Thread(target=lambda: [p._run() for p in claimed], name="aliasfree-ops-build",
                                       daemon=True)

    @property
    def status(self) -> str:
        status = combined_status(self.plugins)
        return str(Status.BUILDING) if status == Status.IDLE and self.thread.is_alive() else status

    def done(self) -> bool:
        return not self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> str:
        self.thread.join(timeout)
        return self.status


def warm_up_async(plugins: str | Iterable[Plugin], torch_path_meanwhile: bool = True) -> WarmUp:
    """Builds ``plugins`` (a list, or every plugin of the device 'cuda' / 'cpu') on a background thread, never on
    the GUI thread; returns a pollable :class:`WarmUp`.

    With ``torch_path_meanwhile`` (the visualizer's choice) op calls made during the build take the reference
    path instead of waiting for the compiler. Without a compiler or device this finishes at once, 'failed: ...'.
    """
    plugins = all_plugins(plugins) if isinstance(plugins, str) else list(plugins)
    for p in plugins:
        p.wait = not torch_path_meanwhile
    warm = WarmUp(plugins, [p for p in plugins if p._claim()])  # claimed now: the status is 'building' at once
    warm.thread.start()
    return warm


def describe() -> str:
    """What the ops use now, for the GUI's performance panel: one line per device, e.g.
    'impl=auto, CUDA kernels idle' and 'fused CPU filtered_lrelu ready, Winograd CPU convolution ready'."""
    from . import backend

    impl = backend.get_default_impl()
    if impl == "torch":
        return "impl=torch: the PyTorch path for every op"
    cuda, cpu = all_plugins("cuda"), all_plugins("cpu")
    return (f"impl={impl}, CUDA kernels {combined_status(cuda)}\n"
            + ", ".join(f"{p.label} {p.status_text()}" for p in cpu))
