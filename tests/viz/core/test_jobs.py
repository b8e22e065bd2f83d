"""Background jobs (viz.core.jobs): every running job is stopped and joined by stop_all, which the window calls
as it closes; a partial output that is not usable is removed with a note, a finished one is kept."""

from __future__ import annotations

import os
import threading
import time

from viz.core.jobs import Job, stop_all


def _writer(path, step_s=0.01, steps=10_000):
    """A job that appends to `path` step by step until done or stopped (as an export writes its video)."""
    def run(job):
        with open(path, 'ab') as f:
            for i in range(steps):
                if not job.report(i / steps, f'step {i}'):
                    return i
                f.write(b'x')
                time.sleep(step_s)
        return steps
    return run


def test_stop_all_stops_joins_and_removes_partial_outputs(tmp_path):
    partial = tmp_path / 'loop.mp4'
    kept = tmp_path / 'kept.npz'
    finished = tmp_path / 'done.mp4'
    done_job = Job('short', _writer(finished, steps=3), partial_output=str(finished))
    assert done_job.wait(10) and done_job.status == 'done'
    long_job = Job('keyframes', _writer(partial), partial_output=str(partial))
    usable = Job('projection', _writer(kept))             # stopping early still leaves a usable file
    while long_job.progress == 0 or usable.progress == 0:
        time.sleep(0.01)
    t0 = time.monotonic()
    notes = stop_all(timeout=10)
    assert time.monotonic() - t0 < 5
    assert long_job.done and usable.done and not any(t.name.startswith('job-') for t in threading.enumerate())
    assert long_job.status == usable.status == 'stopped'
    assert not partial.exists() and kept.exists() and finished.exists()
    assert sorted(notes) == sorted([
        f'keyframes: stopped at close ({long_job.progress:.0%} done); removed the partial {partial}',
        'projection: stopped at close'])
    assert stop_all() == []                                # nothing left running


def test_a_job_that_does_not_stop_in_time_is_reported(tmp_path):
    release = threading.Event()
    stubborn = Job('stubborn', lambda job: release.wait(30))
    try:
        notes = stop_all(timeout=0.2)
        assert notes == ['stubborn: still running after 0.2 s; left to end with the process']
    finally:
        release.set()
        stubborn.wait(10)
    assert os.listdir(tmp_path) == []
