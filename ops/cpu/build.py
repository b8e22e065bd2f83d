"""Builds, caches and loads the fused CPU filtered_lrelu: the :class:`ops.plugin.Plugin` :data:`FUSED`.

The life cycle (lazy build, build lock, self-check, fallback, status, logging) is :mod:`ops.plugin`'s; this
module says how the op is built and checked. The same library holds the Winograd 3x3 convolution
(``winograd.cpp``), a plugin of its own in :mod:`ops.conv3x3` that requires this one (a failure of its
self-check falls back to ``conv2d`` only).

* Nothing is compiled at import. The first CPU call that can use the op (or ``FUSED.get()``) builds it with
  ``torch.utils.cpp_extension.load`` and ninja (about a minute the first time, a second or two from the cache).
* The build is tuned for this CPU (``-march=native``), so the build directory under ``$ALIASFREE_CPU_CACHE``
  (default ``~/.cache/aliasfree/cpu_ops``) is keyed by a hash of the source, the flags, the torch version and
  the CPU's model and feature flags: another machine sharing a home directory never loads a binary built for
  instructions it lacks. The source's path is in the key too: ninja's build file records it, so two checkouts
  sharing one directory rebuilt it for each other (minutes each, measured on the shared machine).
* A loaded op must reproduce the PyTorch path and its gradient on a small case (:func:`self_check`) before it
  is used.
* ``ALIASFREE_CPU_OPS=0`` makes it 'failed' without trying to build it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
from pathlib import Path

import torch

from .. import plugin

SOURCE = Path(__file__).resolve().parent / "filtered_lrelu.cpp"
SOURCES = (SOURCE, SOURCE.parent / "winograd.cpp")  # one module: the fused filtered_lrelu and the Winograd conv
CFLAGS = ["-O3", "-march=native", "-fopenmp"]  # OpenMP: at::parallel_for runs on torch's own (already loaded) runtime
LDFLAGS = ["-fopenmp"]


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
    """Compiles (or loads from the cache) the extension; raises plugin.Unavailable with a one-line reason."""
    ninja = plugin.ninja_problem()
    if ninja:
        raise plugin.Unavailable(ninja)
    key = cache_key()
    return plugin.compile_extension(f"aliasfree_cpu_filtered_lrelu_{key}", SOURCES,
                                    cache_root() / f"filtered_lrelu-{key}", "the fused CPU filtered_lrelu",
                                    verbose=verbose, extra_cflags=CFLAGS, extra_ldflags=LDFLAGS)


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


def _switched_off() -> str | None:
    return None if enabled() else "switched off by ALIASFREE_CPU_OPS=0"


# Looked up at call time, so that tests can replace the compiler and the check.
FUSED = plugin.Plugin("cpu/filtered_lrelu", lambda: build_extension(), lambda module: self_check(module),
                      label="fused CPU filtered_lrelu", device="cpu", switched_off=_switched_off)


def main() -> int:
    """``python -m ops.cpu``: build (or load from the cache) the fused CPU op now and say how it went.

    `make run` / `make test` call it so that the one-off compile happens at set-up, not inside the first frame or
    the first test. It always exits 0: without a compiler the ops simply use the PyTorch path.
    """
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not enabled():
        print("fused CPU filtered_lrelu: switched off (ALIASFREE_CPU_OPS=0)")
        return 0
    FUSED.get()
    print(f"fused CPU filtered_lrelu: {FUSED.status_text()}")
    return 0
