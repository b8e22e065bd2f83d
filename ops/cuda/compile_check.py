"""Compile-checks the CUDA sources with nvcc against the installed torch headers (no GPU or CUDA torch needed).

``python -m ops.cuda.compile_check [file.cu ...]`` runs ``nvcc -c`` on each source into a temporary directory
and prints one line per file; exit status 1 when any file fails, 2 when nvcc is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent


def nvcc_command(source: Path, output: Path, arch: str = "sm_80") -> list[str]:
    from torch.utils.cpp_extension import include_paths

    nvcc = shutil.which("nvcc") or "nvcc"
    incs = [f"-I{p}" for p in include_paths()] + [f"-I{sysconfig.get_paths()['include']}", f"-I{SOURCE_DIR}"]
    return [nvcc, "-c", "-std=c++20", "-DC10_CUDA_NO_CMAKE_CONFIGURE_FILE", "-DTORCH_EXTENSION_NAME=compile_check",
            f"-arch={arch}", "-O1", *incs, str(source), "-o", str(output)]


def check(source: Path) -> tuple[bool, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        proc = subprocess.run(nvcc_command(source, Path(tmp) / (source.stem + ".o")), capture_output=True, text=True)
        return proc.returncode == 0, time.monotonic() - t0, (proc.stdout + proc.stderr).strip()


def main(argv: list[str]) -> int:
    if shutil.which("nvcc") is None:
        print("nvcc not found")
        return 2
    files = [Path(a) for a in argv] or sorted(SOURCE_DIR.glob("*.cu"))
    ok_all = True
    for f in files:
        ok, seconds, log = check(f)
        ok_all &= ok
        ours = [line for line in log.splitlines() if str(SOURCE_DIR) in line]  # torch's headers warn a lot
        print(f"{f.name}: {'OK' if ok else 'FAILED'} ({seconds:.0f} s, {len(ours)} diagnostics in ops/cuda)")
        if not ok:
            print(log[-4000:])
        elif ours:
            print("\n".join(ours))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
