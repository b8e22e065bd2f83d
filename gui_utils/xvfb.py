"""Start a private Xvfb server (tests, benchmarks, screenshots on machines without a screen)."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time


class XvfbUnavailable(RuntimeError):
    pass


def start_xvfb(width: int = 1600, height: int = 1000, timeout: float = 20.0) -> tuple[subprocess.Popen, str]:
    """Run `Xvfb -displayfd` on a free display; returns (process, ':N'). Kill the process when done."""
    if shutil.which('Xvfb') is None:
        raise XvfbUnavailable('Xvfb is not installed (apt install xvfb)')
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(['Xvfb', '-displayfd', str(write_fd), '-screen', '0', f'{width}x{height}x24',
                             '-nolisten', 'tcp'], pass_fds=(write_fd,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b''
    deadline = time.monotonic() + timeout
    try:
        while not number.endswith(b'\n') and time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], 0.5)
            if ready:
                chunk = os.read(read_fd, 16)
                if not chunk:
                    break
                number += chunk
    finally:
        os.close(read_fd)
    if not number.strip():
        proc.kill()
        proc.wait()
        raise XvfbUnavailable('Xvfb did not report a display number')
    return proc, f':{number.decode().strip()}'
