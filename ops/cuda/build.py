"""Builds, caches and loads the fused CUDA kernels, one :class:`ops.plugin.Plugin` per op (:data:`KERNELS`).

The life cycle (lazy build, build lock, self-check, fallback, status, logging) is :mod:`ops.plugin`'s; this
module says how a kernel is built and checked:

* The first CUDA call of an op (or :func:`warm_up_async`) builds that op's extension with
  ``torch.utils.cpp_extension.load`` and ninja, for the current GPU's architecture only.
* Build directories live under ``$ALIASFREE_CUDA_CACHE`` (default ``~/.cache/aliasfree/cuda_ops``) and are
  keyed by a hash of the sources, the op, the GPU architecture and the torch / CUDA / nvcc versions, so an
  edited source or a different GPU never reuses a stale binary.
* A freshly loaded plugin must pass :func:`ops.cuda.selfcheck.self_check` on the current GPU (once per op and
  process) before any op uses it.
* On any failure (no CUDA, no nvcc or ninja, mismatched CUDA versions, unsupported GPU, compile error, failed
  self-check) the op is 'failed' and uses the PyTorch path; each reason is logged once.
* A plugin that meets parameters its kernel does not support hands that call to the PyTorch path
  (:func:`ops.plugin.fall_back`; an error under ``$ALIASFREE_OPS_STRICT=1``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import torch

from .. import plugin

SOURCE_DIR = Path(__file__).resolve().parent
OPS: dict[str, list[str]] = {
    "bias_act": ["bias_act.cu"],
    "upfirdn2d": ["upfirdn2d.cu"],
    "filtered_lrelu": ["filtered_lrelu.cu"],
}
COMMON_HEADERS = ["common.cuh"]
MIN_CAPABILITY = (6, 0)
NVCC_FLAGS = ["-O3"]  # torch adds -std=c++20 itself; no fast math (the parity targets are 1e-5 relative)


class CudaUnavailable(plugin.Unavailable):
    """Raised with the one-line reason why this machine cannot build or run the kernels."""


# ----------------------------------------------------------------------------------------------------------
# Configuration


def cache_root() -> Path:
    env = os.environ.get("ALIASFREE_CUDA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "aliasfree" / "cuda_ops"


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
    ninja = plugin.ninja_problem()
    if ninja:
        raise CudaUnavailable(ninja)
    return f"{major}.{minor}", nvcc_version


# ----------------------------------------------------------------------------------------------------------
# Build, load and check


def build_directory(op: str, arch: str, nvcc_version: str) -> Path:
    return cache_root() / f"{op}-sm{arch.replace('.', '')}-{cache_key(op, arch, nvcc_version=nvcc_version)}"


def build_extension(op: str, verbose: bool = False):
    """Compiles (or loads from the cache) the extension of ``op``; raises plugin.Unavailable on failure."""
    arch, nvcc_version = check_environment()
    build_dir = build_directory(op, arch, nvcc_version)
    code = arch.replace(".", "")
    return plugin.compile_extension(
        f"aliasfree_{op}_{build_dir.name.rsplit('-', 1)[-1]}", [SOURCE_DIR / s for s in OPS[op]], build_dir,
        f"the {op} kernels", verbose=verbose, extra_include_paths=[str(SOURCE_DIR)], extra_cflags=["-O3"],
        extra_cuda_cflags=NVCC_FLAGS + [f"-gencode=arch=compute_{code},code=sm_{code}"])


def self_check_device() -> torch.device:
    """Where the self-check runs: the current CUDA device (the one the plugin was built for)."""
    return torch.device("cuda", torch.cuda.current_device())


def run_self_check(op: str, kernel: object) -> str | None:
    from .selfcheck import self_check

    return self_check(op, kernel, self_check_device())


def _load(op: str):
    from .functions import make_plugin

    return make_plugin(op, build_extension(op))


# One plugin per op; the functions are looked up at call time (tests replace the compiler and the device).
KERNELS: dict[str, plugin.Plugin] = {
    op: plugin.Plugin(f"cuda/{op}", functools.partial(_load, op),
                      lambda kernel, op=op: run_self_check(op, kernel),
                      label=f"{op} CUDA kernel", device="cuda", group="CUDA kernels")
    for op in OPS
}


def warm_up_async(ops: list[str] | None = None, torch_path_meanwhile: bool = True) -> plugin.WarmUp:
    """:func:`ops.plugin.warm_up_async` for the kernels of ``ops`` (default: all)."""
    return plugin.warm_up_async([KERNELS[op] for op in (ops or OPS)], torch_path_meanwhile)
