"""Builds, caches and loads the fused CPU filtered_lrelu; the PyTorch path is used whenever that fails.

The module also holds the Winograd 3x3 convolution (``winograd.cpp``), which :mod:`ops.conv3x3` self-checks
on its own before first use (a failure there falls back to ``conv2d`` only).

* Nothing is compiled at import. The first CPU call that can use the op (or :func:`get_plugin`) builds it with
  ``torch.utils.cpp_extension.load`` and ninja (about a minute the first time, a second or two from the cache).
* The build is tuned for this CPU (``-march=native``), so the build directory under ``$ALIASFREE_CPU_CACHE``
  (default ``~/.cache/aliasfree/cpu_ops``) is keyed by a hash of the source, the flags, the torch version and
  the CPU's model and feature flags: another machine sharing a home directory never loads a binary built for
  instructions it lacks. The source's path is in the key too: ninja's build file records it, so two checkouts
  sharing one directory rebuilt it for each other (minutes each, measured on the shared machine).
* Builds hold the same stale-proof lock as the CUDA kernels (:class:`ops.cuda.build.BuildLock`).
* A loaded op must reproduce the PyTorch path and its gradient on a small case (:func:`self_check`) before it
  is used.
* On any failure the reason is logged once (one line, logger ``aliasfree.ops``) and the ops use the PyTorch path.
  ``ALIASFREE_CPU_OPS=0`` skips the fused CPU op without trying to build it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import sys
import threading
from pathlib import Path

import torch

SOURCE = Path(__file__).resolve().parent / "filtered_lrelu.cpp"
SOURCES = (SOURCE, SOURCE.parent / "winograd.cpp")  # one module: the fused filtered_lrelu and the Winograd conv
CFLAGS = ["-O3", "-march=native", "-fopenmp"]  # OpenMP: at::parallel_for runs on torch's own (already loaded) runtime
LDFLAGS = ["-fopenmp"]

log = logging.getLogger("aliasfree.ops")
_lock = threading.Lock()
_state: dict[str, object] = {"state": "idle", "reason": "", "module": None}
_wait_for_build = True  # False (warm_up_async): calls made during the build use the PyTorch path meanwhile


def enabled() -> bool:
    """False when ``$ALIASFREE_CPU_OPS`` is 0/false/off: the fused CPU op is then never built nor used."""
    return os.environ.get("ALIASFREE_CPU_OPS", "1").strip().lower() not in ("0", "false", "off", "no")


def cache_root() -> Path:
    env = os.environ.get("ALIASFREE_CPU_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "aliasfree" / "cpu_ops"


def cpu_signature() -> str:
    """The CPU's model name and feature flags (what -march=native compiles for)."""
    text = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                text += line + "\n"
                if line.startswith("flags"):
                    break
    except OSError:
        pass
    return text or platform.processor() or platform.machine()


def cache_key() -> str:
    h = hashlib.sha256()
    parts = [p.read_bytes() for p in SOURCES] + [str(SOURCE).encode()]
    for part in parts + [" ".join(CFLAGS + LDFLAGS).encode(), torch.__version__.encode(), cpu_signature().encode()]:
        h.update(part + b"\0")
    return h.hexdigest()[:16]


def build_extension(verbose: bool = False):
    """Compiles (or loads from the cache) the extension; raises RuntimeError with a one-line reason."""
    from torch.utils.cpp_extension import is_ninja_available, load

    from ..cuda.build import BuildLock

    if not is_ninja_available():
        # pip's ninja (requirements.txt) sits beside this interpreter, which is not on PATH unless the venv is active
        venv_bin = os.path.dirname(sys.executable)
        if os.path.exists(os.path.join(venv_bin, "ninja")):
            os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    if not is_ninja_available():
        raise RuntimeError("ninja is not on PATH (pip install ninja)")
    key = cache_key()
    build_dir = cache_root() / f"filtered_lrelu-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    with BuildLock(build_dir):
        try:
            return load(name=f"aliasfree_cpu_filtered_lrelu_{key}", sources=[str(p) for p in SOURCES],
                        extra_cflags=CFLAGS, extra_ldflags=LDFLAGS, build_directory=str(build_dir), verbose=verbose)
        except Exception as e:  # noqa: BLE001 -- any compiler or loader error means: fall back
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise RuntimeError(f"building the fused CPU filtered_lrelu failed ({first}); log in {build_dir}") from e


def self_check(module) -> str | None:
    """None when the built op reproduces the PyTorch path on a small up-2 / down-2 case, else what differs."""
    from ..filtered_lrelu import filtered_lrelu
    from .fused import fused_backward, fused_forward, new_mask

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 19, 9, 8, generator=g, dtype=torch.float64)
    b = torch.randn(19, generator=g, dtype=torch.float64)
    fu = torch.randn(8, generator=g, dtype=torch.float64)
    fd = torch.randn(5, 6, generator=g, dtype=torch.float64)
    kw = dict(up=2, down=2, padding=[5, 4, 6, 3], gain=1.4, slope=0.2, clamp=2.0)
    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():  # the first call, which builds, may come from inside torch.no_grad()
        ref = filtered_lrelu(xg, fu, fd, b, impl="torch", **kw)
    mask = new_mask(x, fu, kw["up"], kw["padding"])
    out = fused_forward(module, x, fu, fd, b, flip_filter=False, mask=mask, **kw)
    err = float((out - ref.detach()).abs().max())
    if err > 1e-10:
        return f"max |fused - PyTorch path| = {err:.3g} on the self-check case"
    dy = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    (dx_ref,) = torch.autograd.grad(ref, [xg], dy)
    dx = fused_backward(module, dy, mask, tuple(x.shape), torch.contiguous_format, fu, fd, kw["up"], kw["down"],
                        kw["padding"], kw["gain"], kw["slope"], False)
    err = float((dx - dx_ref).abs().max())
    return None if err <= 1e-10 else f"max |fused - PyTorch path| gradient = {err:.3g} on the self-check case"


def _build_locked() -> None:
    """Builds, checks and records the result; the caller holds ``_lock``."""
    _state["state"] = "compiling"
    try:
        if not enabled():
            raise RuntimeError("switched off by ALIASFREE_CPU_OPS=0")
        module = build_extension()
        problem = self_check(module)
        if problem:
            raise RuntimeError(f"the fused CPU filtered_lrelu failed its self-check ({problem})")
        _state.update(state="ready", module=module)
    except Exception as e:  # noqa: BLE001 -- never let a loader raise into an op call
        _state.update(state="failed", reason=str(e) or type(e).__name__)
        log.warning("aliasfree ops: fused CPU filtered_lrelu unavailable, using the PyTorch path: %s",
                    _state["reason"])


def get_plugin():
    """The compiled module, or None (after logging the reason once) when it cannot be built or is switched off."""
    if _state["state"] == "ready":
        return _state["module"]
    if _state["state"] == "failed" or (_state["state"] == "compiling" and not _wait_for_build):
        return None
    with _lock:
        if _state["state"] == "idle":
            _build_locked()
    return _state["module"] if _state["state"] == "ready" else None


def warm_up_async(torch_path_meanwhile: bool = True) -> threading.Thread:
    """Builds (or loads) the op on a background thread, e.g. at GUI start: the first build takes a minute or two.

    With ``torch_path_meanwhile``, filtered_lrelu calls made during the build use the PyTorch path instead of
    waiting for the compiler. Returns the (daemon) thread; :func:`status` says how it went.
    """
    global _wait_for_build
    _wait_for_build = not torch_path_meanwhile
    with _lock:
        start = _state["state"] == "idle"
        if start:
            _state["state"] = "compiling"  # from now on, callers that do not wait take the PyTorch path

    def work() -> None:
        with _lock:
            if _state["state"] == "compiling" and _state["module"] is None:
                _build_locked()

    thread = threading.Thread(target=work if start else (lambda: None), name="aliasfree-cpu-build", daemon=True)
    thread.start()
    return thread


def status() -> str:
    """'idle' | 'compiling' | 'ready' | 'failed: reason'."""
    return f"failed: {_state['reason']}" if _state["state"] == "failed" else str(_state["state"])


def reset() -> None:
    """Forgets the build result (tests)."""
    global _wait_for_build
    _wait_for_build = True
    with _lock:
        _state.update(state="idle", reason="", module=None)


def main() -> int:
    """``python -m ops.cpu``: build (or load from the cache) the fused CPU op now and say how it went.

    `make run` / `make test` call it so that the one-off compile happens at set-up, not inside the first frame or
    the first test. It always exits 0: without a compiler the ops simply use the PyTorch path.
    """
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not enabled():
        print("fused CPU filtered_lrelu: switched off (ALIASFREE_CPU_OPS=0)")
        return 0
    get_plugin()
    print(f"fused CPU filtered_lrelu: {status()}")
    return 0
