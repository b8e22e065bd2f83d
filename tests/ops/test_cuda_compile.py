"""nvcc compile check of every .cu source against the installed torch headers (no GPU needed).

About 2 minutes per file on a small CPU, so opt-in: ``ALIASFREE_NVCC_CHECK=1 pytest tests/ops/test_cuda_compile.py``
(or ``python -m ops.cuda.compile_check``). Skipped when nvcc is absent.
"""

from __future__ import annotations

import os
import shutil

import pytest

from ops.cuda import build, compile_check

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not found"),
    pytest.mark.skipif(os.environ.get("ALIASFREE_NVCC_CHECK") != "1", reason="opt-in: set ALIASFREE_NVCC_CHECK=1"),
]


@pytest.mark.parametrize("source", sorted({s for srcs in build.OPS.values() for s in srcs}))
def test_nvcc_compiles(source):
    ok, seconds, log = compile_check.check(build.SOURCE_DIR / source)
    assert ok, log[-4000:]
