"""Long explorations off the GUI thread: projecting an image, exporting a keyframe loop.

A :class:`Job` runs one function on a daemon thread and publishes what a panel shows while it runs: progress,
a preview image (the projection's current reconstruction), a stop request, and at the end a result or one error
line. The panels only read these; the network work happens here, never in a widget or on the GUI thread.

Every job that runs is known to :func:`stop_all`, which the window calls when it closes: a daemon thread still
inside torch when the interpreter exits aborts the process ("terminate called without an active exception",
exit code 134), and a keyframe video cut off there would stay behind truncated without a word. So each job is
asked to stop and joined, and a job's partial output that is not usable is removed, with a note.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np

from networks.errors import UserError
from viz.core.render_types import RenderArgs, error_text

__all__ = ['Job', 'projection_job', 'keyframe_export_job', 'stop_all']

_running: set[Job] = set()
_running_lock = threading.Lock()


class Job:
    """``fn(job)`` on a daemon thread; ``fn`` reports through :meth:`report` and checks :attr:`stop_requested`."""

    def __init__(self, name: str, fn: Callable[[Job], object], partial_output: str | None = None) -> None:
        self.name = name
        self.partial_output = partial_output   # a file that is not usable unless the job finishes
        self.progress = 0.0          # 0..1
        self.status = 'starting'
        self.detail = ''             # what the job does (a projection: its loss terms); kept after it ends
        self.preview: np.ndarray | None = None  # uint8 HWC
        self.result: object = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn,), name=f'job-{name}', daemon=True)
        with _running_lock:
            _running.add(self)
        self._thread.start()

    def _run(self, fn: Callable[[Job], object]) -> None:
        from viz.core.async_renderer import VIEW_NICE, lower_thread_priority

        lower_thread_priority(VIEW_NICE)  # as the render thread: on a busy CPU the window keeps its frame rate
        try:
            self.result = fn(self)
            self.status = 'stopped' if self._stop.is_set() else 'done'
        except Exception as exc:  # noqa: BLE001 - shown as one line in the panel
            self.error = error_text(exc)
            self.status = 'failed'
        finally:
            with _running_lock:
                _running.discard(self)
            self._done.set()

    def report(self, progress: float, status: str, preview: np.ndarray | None = None) -> bool:
        """Publish progress; returns False once a stop was requested (the worker should end)."""
        self.progress = float(min(max(progress, 0.0), 1.0))
        self.status = status
        if preview is not None:
            self.preview = preview
        return not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


def stop_all(timeout: float = 10.0) -> list[str]:
    """Ask every running job to stop, wait for each (at most `timeout` seconds in all), and remove the partial
    output of each that stopped before finishing. Returns one note per job that was running (what became of it,
    and of its file), and one for a job that did not stop in time."""
    import time

    with _running_lock:
        jobs = list(_running)
    for job in jobs:
        job.stop()
    deadline = time.monotonic() + timeout
    notes = []
    for job in jobs:
        if not job.wait(max(deadline - time.monotonic(), 0.0)):
            notes.append(f'{job.name}: still running after {timeout:g} s; left to end with the process')
            continue
        path = job.partial_output
        if job.status == 'done' or path is None or not os.path.exists(path):
            notes.append(f'{job.name}: {job.status} at close')
            continue
        try:
            os.remove(path)
            notes.append(f'{job.name}: stopped at close ({job.progress:.0%} done); removed the partial {path}')
        except OSError as exc:
            notes.append(f'{job.name}: stopped at close; could not remove the partial {path}: {exc.strerror}')
    return notes


def projection_job(pkl: str, target: str, out_path: str, space: str = 'w+', steps: int = 200,
                   device: str = 'cpu', class_idx: int | None = None, preview_every: int = 1,
                   use_d: bool = True, d_weight: float = 0.1, d_every: int = 4) -> Job:
    """Project ``target`` into the network of ``pkl``; the result is the path of the written projected_w.npz.

    With ``use_d`` and a pickle that holds a D, the loss adds its feature term (``d_weight``, lazily every
    ``d_every`` steps; see :func:`analysis.projection.project`); the status line names the loss terms used.
    Stopping early still writes the latent reached so far (it is as usable as a finished one).
    """
    def run(job: Job) -> str:
        from analysis.projection import ProjectionStep, load_discriminator, load_target, project, save_projection
        from networks.conventions import class_count, class_label, to_uint8_rgb
        from viz.core.network_cache import check_device, load
        from viz.core.render_types import DEFAULT_PKL

        job.report(0.0, 'loading network')
        G = load(pkl, check_device(device)).G
        D = load_discriminator(pkl, check_device(device)) if use_d and pkl != DEFAULT_PKL else None
        terms = 'pixels + D features' if D is not None else ('pixels; the pickle has no D' if use_d else 'pixels')
        job.detail = f'loss: {terms}'
        image, note = load_target(target, G.img_resolution, G.img_channels)
        c = class_label(G, class_idx if class_idx is not None else 0) if class_count(G) else None

        def on_step(step: ProjectionStep) -> bool:
            preview = to_uint8_rgb(step.image[0]) if step.step % preview_every == 0 or step.step == 1 else None
            return job.report(step.step / step.num_steps,
                              f'step {step.step}/{step.num_steps}  loss {step.loss:.4f}  ({terms})', preview)

        job.report(0.0, note or f'projecting ({terms})')
        result = project(G, image, space=space, num_steps=steps, c=c, D=D, d_weight=d_weight, d_every=d_every,
                         device=device, callback=on_step)
        save_projection(out_path, result)
        job.preview = to_uint8_rgb(result.image[0])
        return out_path

    if not os.path.isfile(target):
        raise UserError(f'target {target!r} does not exist' if not os.path.exists(target)
                        else f'target {target!r} is not a file')
    return Job('projection', run)


def keyframe_export_job(base: RenderArgs, keyframes: list, path: str, frames_per_key: int = 30,
                        kind: str = 'cubic', fps: int = 30) -> Job:
    """Render the keyframe loop with a renderer of its own (this thread's) into ``path``; result: frames written."""
    def run(job: Job) -> int:
        from viz.core.keyframes import export_loop
        from viz.core.renderer import Renderer

        renderer = Renderer(max_networks=1)
        return export_loop(renderer.render, base, keyframes, path, frames_per_key, kind, fps,
                           progress=lambda done, total: job.report(done / total, f'frame {done}/{total}'))

    return Job('keyframes', run, partial_output=path)
