"""Builds, caches and loads the fused CUDA kernels; falls back to the PyTorch path on any failure.

* Nothing is compiled at import. The first CUDA call of an op (or :func:`warm_up_async`) builds that op's
  extension with ``torch.utils.cpp_extension.load`` and ninja, for the current GPU's architecture only.
* Build directories live under ``$ALIASFREE_CUDA_CACHE`` (default ``~/.cache/aliasfree/cuda_ops``) and are
  keyed by a hash of the sources, the op, the GPU architecture and the torch / CUDA / nvcc versions, so an
  edited source or a different GPU never reuses a stale binary.
* A build holds a lock file (``aliasfree.lock``: pid, host, time). A lock whose owner died on this host, or
  older than ``$ALIASFREE_CUDA_LOCK_TIMEOUT`` seconds (default 900), is stale: it is cleared together with
  torch's own ``lock`` baton that an interrupted compile leaves behind (which would otherwise make every later
  build wait forever).
* A freshly loaded plugin must pass :func:`ops.cuda.selfcheck.self_check` on the current GPU (once per op and
  process) before any op uses it.
* On any failure (no CUDA, no nvcc or ninja, mismatched CUDA versions, unsupported GPU, compile error, failed
  self-check) the loader returns None and warns ONCE per reason; the ops then use the PyTorch path.
* A plugin that meets parameters its kernel does not support hands that call to the PyTorch path
  (:func:`fall_back`): one warning, and the event is recorded in :data:`fallbacks`. With
  ``$ALIASFREE_OPS_STRICT=1`` (the GPU parity tests, ``gpu-report``) such a fallback raises instead, so a
  comparison can never silently compare the PyTorch path with itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

SOURCE_DIR = Path(__file__).resolve().parent
OPS: dict[str, list[str]] = {
    "bias_act": ["bias_act.cu"],
    "upfirdn2d": ["upfirdn2d.cu"],
    "filtered_lrelu": ["filtered_lrelu.cu"],
}
COMMON_HEADERS = ["common.cuh"]
MIN_CAPABILITY = (6, 0)
NVCC_FLAGS = ["-O3"]  # torch adds -std=c++20 itself; no fast math (the parity targets are 1e-5 relative)
LOCK_NAME = "aliasfree.lock"
TORCH_LOCK_NAME = "lock"  # torch.utils.cpp_extension's FileBaton in the build directory

_warned: set[str] = set()
_warn_lock = threading.Lock()
fallbacks: list[str] = []  # 'op: reason' of every call a plugin handed to the PyTorch path, in order


class CudaUnavailable(RuntimeError):
    """Raised internally with the one-line reason why the kernels cannot be used."""


# ----------------------------------------------------------------------------------------------------------
# Configuration


def cache_root() -> Path:
    env = os.environ.get("ALIASFREE_CUDA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "aliasfree" / "cuda_ops"


def lock_timeout() -> float:
    return float(os.environ.get("ALIASFREE_CUDA_LOCK_TIMEOUT", "900"))


def source_files(op: str) -> list[Path]:
    return [SOURCE_DIR / name for name in COMMON_HEADERS + OPS[op]]


def cache_key(op: str, arch: str, torch_version: str | None = None, cuda_version: str | None = None,
              nvcc_version: str | None = None, sources: list[Path] | None = None) -> str:
    """Hex key of everything that changes the binary: sources, op, architecture, versions, flags."""
    h = hashlib.sha256()
    for part in (op, arch, torch_version or torch.__version__, str(cuda_version or torch.version.cuda),
                 str(nvcc_version), " ".join(NVCC_FLAGS)):
        h.update(part.encode() + b"\0")
    for path in sources if sources is not None else source_files(op):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def warn_once(reason: str) -> None:
    """One warning per distinct reason per process."""
    with _warn_lock:
        if reason in _warned:
            return
        _warned.add(reason)
    warnings.warn(f"aliasfree ops: CUDA kernels unavailable, using the PyTorch path: {reason}", RuntimeWarning,
                  stacklevel=3)


def strict() -> bool:
    """True when a plugin's fallback to the PyTorch path must raise ($ALIASFREE_OPS_STRICT=1)."""
    return os.environ.get("ALIASFREE_OPS_STRICT", "") not in ("", "0")


class FallbackError(RuntimeError):
    """A fused kernel would have handed a call to the PyTorch path while strict mode forbids it."""


def fall_back(op: str, reason: str) -> None:
    """Records that a plugin hands this call of ``op`` to the PyTorch path; warns once, or raises if strict."""
    fallbacks.append(f"{op}: {reason}")
    if strict():
        raise FallbackError(f"{op}: the fused kernel fell back to the PyTorch path ({reason}) while "
                            "ALIASFREE_OPS_STRICT is set")
    warn_once(f"{op}: {reason}")


# ----------------------------------------------------------------------------------------------------------
# Build lock


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
    """Inter-process lock of one build directory that never waits forever on a stale lock."""

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
                    warnings.warn(f"aliasfree ops: clearing a stale extension build lock {self.path} "
                                  "(an interrupted or hung compile)", RuntimeWarning, stacklevel=2)
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


# ----------------------------------------------------------------------------------------------------------
# Environment checks


def _nvcc_path() -> str | None:
    """The nvcc that torch.utils.cpp_extension will run (its CUDA_HOME: $CUDA_HOME, nvcc on PATH, /usr/local/cuda)."""
    import torch.utils.cpp_extension as cpp_ext

    home = cpp_ext.CUDA_HOME or os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home:
        candidate = Path(home) / "bin" / "nvcc"
        return str(candidate) if candidate.exists() else None
    return shutil.which("nvcc")


def _nvcc_version(nvcc: str) -> str:
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise CudaUnavailable(f"the CUDA compiler {nvcc} does not run ({e})") from e
    for token in out.replace(",", " ").split():
        if token[:1].isdigit() and "." in token and out.find("release " + token) >= 0:
            return token
    raise CudaUnavailable(f"cannot read the version of the CUDA compiler {nvcc}")


def check_environment() -> tuple[str, str]:
    """Returns (arch like '8.6', nvcc version) or raises CudaUnavailable with the reason."""
    if torch.version.cuda is None:
        raise CudaUnavailable(f"torch {torch.__version__} is built without CUDA")
    if not torch.cuda.is_available():
        raise CudaUnavailable("no CUDA device is available")
    major, minor = torch.cuda.get_device_capability()
    if (major, minor) < MIN_CAPABILITY:
        raise CudaUnavailable(f"GPU compute capability {major}.{minor} is below the supported "
                              f"{MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]}")
    nvcc = _nvcc_path()
    if nvcc is None:
        raise CudaUnavailable("no CUDA compiler (nvcc) found; install the CUDA toolkit or set CUDA_HOME")
    nvcc_version = _nvcc_version(nvcc)
    if nvcc_version.split(".")[0] != str(torch.version.cuda).split(".")[0]:
        raise CudaUnavailable(f"nvcc {nvcc_version} does not match the CUDA {torch.version.cuda} torch was built "
                              "with; install a matching toolkit or set CUDA_HOME")
    from torch.utils.cpp_extension import is_ninja_available

    if not is_ninja_available():
        raise CudaUnavailable("ninja is not on PATH (pip install ninja)")
    return f"{major}.{minor}", nvcc_version


# ----------------------------------------------------------------------------------------------------------
# Build and load


def build_directory(op: str, arch: str, nvcc_version: str) -> Path:
    return cache_root() / f"{op}-sm{arch.replace('.', '')}-{cache_key(op, arch, nvcc_version=nvcc_version)}"


def build_extension(op: str, verbose: bool = False):
    """Compiles (or loads from the cache) the extension of ``op``; raises CudaUnavailable on failure."""
    arch, nvcc_version = check_environment()
    build_dir = build_directory(op, arch, nvcc_version)
    build_dir.mkdir(parents=True, exist_ok=True)
    code = arch.replace(".", "")
    from torch.utils.cpp_extension import load

    with BuildLock(build_dir):
        try:
            return load(
                name=f"aliasfree_{op}_{build_dir.name.rsplit('-', 1)[-1]}",
                sources=[str(SOURCE_DIR / s) for s in OPS[op]],
                extra_include_paths=[str(SOURCE_DIR)],
                extra_cflags=["-O3"],
                extra_cuda_cflags=NVCC_FLAGS + [f"-gencode=arch=compute_{code},code=sm_{code}"],
                build_directory=str(build_dir),
                verbose=verbose,
            )
        except Exception as e:  # noqa: BLE001 -- any compiler or loader error means: fall back
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise CudaUnavailable(f"building the {op} kernels failed ({first}); build log in {build_dir}") from e


@dataclass
class _OpState:
    state: str = "idle"  # idle | compiling | ready | failed
    reason: str = ""
    plugin: object | None = None
    check_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def self_check_device() -> torch.device:
    """Where the self-check runs: the current CUDA device (the one the plugin was built for)."""
    return torch.device("cuda", torch.cuda.current_device())


def run_self_check(op: str, plugin: object) -> str | None:
    from .selfcheck import self_check

    return self_check(op, plugin, self_check_device())


_states: dict[str, _OpState] = {op: _OpState() for op in OPS}
_wait_for_build = True  # False: calls made while another thread compiles use the PyTorch path meanwhile


def get_plugin(op: str) -> object | None:
    """The loader registered with ``ops.backend``: the plugin for ``op`` or None (after one warning)."""
    st = _states[op]
    if st.state == "ready":
        return st.plugin
    if st.state == "failed" or (st.state == "compiling" and not _wait_for_build):
        return None
    with st.lock:
        if st.state == "idle":
            st.state = "compiling"
            try:
                module = build_extension(op)
                from .functions import make_plugin

                plugin = make_plugin(op, module)
                t0 = time.perf_counter()
                problem = run_self_check(op, plugin)
                st.check_seconds = time.perf_counter() - t0
                if problem:
                    raise CudaUnavailable(f"{op}: the fused kernel failed its self-check on this GPU ({problem})")
                st.plugin, st.state = plugin, "ready"
            except CudaUnavailable as e:
                st.reason, st.state = str(e), "failed"
            except Exception as e:  # noqa: BLE001 -- never let a loader raise into an op call
                st.reason, st.state = f"{type(e).__name__}: {e}", "failed"
    if st.state == "failed":
        warn_once(st.reason)
        return None
    return st.plugin


def disable(op: str, reason: str) -> None:
    """Marks ``op``'s kernels unusable in this process without building them (e.g. known to fail already)."""
    with _states[op].lock:
        _states[op].state, _states[op].reason, _states[op].plugin = "failed", reason, None
        with _warn_lock:
            _warned.add(reason)  # the caller already knows; no warning


def op_status(op: str) -> str:
    st = _states[op]
    return f"failed: {st.reason}" if st.state == "failed" else st.state


def reset(op: str | None = None) -> None:
    """Forgets build results (tests; after installing a toolkit). Warnings already given are not repeated."""
    global _wait_for_build
    _wait_for_build = True
    for name in [op] if op else list(OPS):
        with _states[name].lock:
            _states[name] = _OpState()


class WarmUp:
    """Status of a background build; poll :attr:`status` from the GUI thread."""

    def __init__(self, ops: list[str]):
        self.ops = ops
        self.thread = threading.Thread(target=self._run, name="aliasfree-cuda-build", daemon=True)

    def _run(self) -> None:
        for op in self.ops:
            get_plugin(op)

    @property
    def status(self) -> str:
        """'idle' | 'compiling' | 'ready' | 'failed: reason' over all requested ops."""
        states = [op_status(op) for op in self.ops]
        failed = [s for s in states if s.startswith("failed")]
        if failed:
            return failed[0]
        if all(s == "ready" for s in states):
            return "ready"
        if any(s == "compiling" for s in states) or self.thread.is_alive():
            return "compiling"
        return "idle"

    def done(self) -> bool:
        return not self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> str:
        self.thread.join(timeout)
        return self.status


def warm_up_async(ops: list[str] | None = None, torch_path_meanwhile: bool = True) -> WarmUp:
    """Builds the kernels on a background thread (never on the GUI thread); returns a pollable status object.

    With ``torch_path_meanwhile`` (the visualizer's choice) op calls made during the build use the PyTorch path
    instead of waiting for the compiler. Without CUDA this finishes at once with status 'failed: <reason>'
    (and the usual single warning).
    """
    global _wait_for_build
    _wait_for_build = not torch_path_meanwhile
    w = WarmUp(list(ops) if ops else list(OPS))
    w.thread.start()
    return w
