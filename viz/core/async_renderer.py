"""Runs a `Renderer` on a worker thread so the GUI never waits for the generator.

At most one request waits: a new `set_args` replaces the waiting one (the newest request wins), so the
queue never grows however fast a slider moves. A result whose request was superseded while it rendered
is dropped (counted in `stats['dropped']`) when `drop_stale` is set; errors arrive as `RenderResult.error`.
Results carry perf_counter stamps of their way through here (`timings['at_enqueued' / 'at_picked' / 'at_posted']`).

A request with slow analyses not yet cached is answered twice: first the view alone (`partial`), then the
full result. While its analyses run, `analysing` is True, `progress` says how far they are, and a newer
request (or `cancel_analysis`) stops them within one sample (`viz.core.analysis_cache.AnalysisControl`), unless it
changes display fields alone (`renderer.DISPLAY_FIELDS`): it needs the same analyses, so they run on, and the GUI
shows its view from the cached synthesis meanwhile (`Renderer.view_from_cache`).

Two threads share the work, one at a time: the worker renders views (nice +`VIEW_NICE` from the GUI), and a
second thread runs the analyses (nice +`ANALYSIS_NICE`). On Linux a thread that has run for a while is served
after one that has slept, and an unprivileged process cannot lower a nice value again, so a single thread that
ran a spectrum for seconds took its next view at about half speed beside a busy GUI (measured in the window:
seed click 182 ms with a spectrum running against 100 ms plain, `benchmarks/bench_gui`); the view thread has
slept meanwhile.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time

from viz.core.analysis_cache import AnalysisControl
from viz.core.render_types import RenderArgs, RenderResult, error_text
from viz.core.renderer import Renderer, same_synthesis_and_analyses

VIEW_NICE = 5  # the render threads' nice values, relative to the GUI thread's (at most 19)
ANALYSIS_NICE = 10


def thread_nice() -> int | None:
    """The calling thread's nice value (Linux), else None."""
    if sys.platform.startswith('linux') and hasattr(os, 'getpriority'):
        try:
            return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        except OSError:
            pass
    return None


def lower_thread_priority(niceness: int, base: int | None = None) -> None:
    """Linux: give the calling thread (and the torch threads it starts later) the nice value `base` + `niceness`
    (at most 19; `base` defaults to its own), so that on a busy CPU the window keeps its frame rate and the renders
    take the slack. Relative, not absolute: under `nice -n 19` an absolute 10 would put the renders above the GUI
    (for root, who may lower a nice value)."""
    base = thread_nice() if base is None else base
    if base is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(base + niceness, 19))
        except OSError:
            pass


class AsyncRenderer:
    def __init__(self, renderer: Renderer | None = None, drop_stale: bool = True,
                 hold_until_shown: float = 0.0) -> None:
        self.renderer = renderer or Renderer()
        self.drop_stale = drop_stale
        # > 0: after delivering a view, its analyses wait (at most this many seconds) until the GUI says it has shown
        # it (`view_shown`): otherwise they compete with the GUI's upload and draw of that very view for the CPU
        # and the GIL (measured: a seed click during a spectrum took 2.6x a plain one in the window).
        self.hold_until_shown = hold_until_shown
        self._posted = 0  # results delivered so far
        self._taken = 0  # the newest of them that get_result handed out
        self._shown = 0  # the newest of them the GUI has shown
        self._holding = False
        self._cond = threading.Condition()
        self._pending: RenderArgs | None = None
        self._pending_at = 0.0  # perf_counter when the waiting request was made (latency trace)
        self._in_flight: RenderArgs | None = None
        self._latest: RenderArgs | None = None  # newest request ever made
        self._result: RenderResult | None = None  # newest undelivered result
        self._closed = False
        self._control: AnalysisControl | None = None  # of the request in flight
        self._cancel_requested = False
        self._analysing = False  # the in-flight request's view is delivered; only its analyses run
        self._warmed = False  # views.warm_up done (after the first render, while idle)
        self.stats = dict(requested=0, rendered=0, dropped=0, replaced=0, max_queue=0, cancelled=0, preempted=0)
        self._job: tuple | None = None  # (args, control) handed to the analysis thread
        self._job_result: RenderResult | None = None
        self._job_cond = threading.Condition()
        self._base_nice = thread_nice()  # the creating (GUI) thread's
        self._thread = threading.Thread(target=self._worker, name='async-renderer', daemon=True)
        self._analysis_thread = threading.Thread(target=self._analysis_worker, name='async-analyses', daemon=True)
        self._thread.start()
        self._analysis_thread.start()

    # --- GUI side ---------------------------------------------------------------------------------------------
    def set_args(self, args: RenderArgs) -> None:
        """Request a render of `args` (no-op if it is the newest request already)."""
        with self._cond:
            if args == self._latest:
                return
            self._latest = args
            if self._pending is not None:
                self.stats['replaced'] += 1
            self._pending = args
            self._pending_at = time.perf_counter()
            self.stats['requested'] += 1
            self.stats['max_queue'] = max(self.stats['max_queue'], self.queue_length)
            self._cond.notify()

    @property
    def queue_length(self) -> int:
        """Requests waiting (0 or 1), not counting the one rendering."""
        return 0 if self._pending is None else 1

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._pending is not None or self._in_flight is not None

    @property
    def result_waiting(self) -> bool:
        """A finished result that `get_result` has not taken yet."""
        with self._cond:
            return self._result is not None

    @property
    def analysing(self) -> bool:
        """Only analyses run (their request's view was delivered): a new request now cancels them within a sample."""
        with self._cond:
            return self._analysing and self._pending is None

    @property
    def accepting(self) -> bool:
        """Whether a new request is taken at once: nothing in flight, or only analyses (which it cancels)."""
        with self._cond:
            return (self._pending is None and self._in_flight is None) or (self._analysing and self._pending is None)

    @property
    def progress(self) -> tuple[str, int, int] | None:
        """(analysis, samples done, samples in all) of the analysis running now, or None."""
        control = self._control
        return control.progress if control is not None else None

    def cancel_analysis(self) -> None:
        """Stop the running analysis between samples; its request's result comes back without it."""
        with self._cond:
            if self._in_flight is not None:
                self._cancel_requested = True

    @property
    def holding(self) -> bool:
        """The analyses of the request in flight wait for the GUI to show its view (`hold_until_shown`)."""
        with self._cond:
            return self._holding

    def view_shown(self) -> None:
        """The GUI has put the last result it took on screen: held analyses may go on."""
        with self._cond:
            if self._shown != self._taken:
                self._shown = self._taken
                self._cond.notify_all()

    @property
    def latest_args(self) -> RenderArgs | None:
        return self._latest

    def get_result(self) -> RenderResult | None:
        """The newest finished result not yet taken, or None."""
        with self._cond:
            result, self._result = self._result, None
            if result is not None:
                self._taken = self._posted
            return result

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until nothing is pending or rendering (tests, headless tools)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._in_flight is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the worker; False if a render is still running after `timeout` (the caller should then
        leave with os._exit rather than let the interpreter tear down a thread inside torch)."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        with self._job_cond:
            self._job_cond.notify_all()
        deadline = time.monotonic() + timeout
        self._thread.join(timeout=timeout)
        self._analysis_thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return not (self._thread.is_alive() or self._analysis_thread.is_alive())

    # --- worker side ------------------------------------------------------------------------------------------
    def _lower_priority(self, niceness: int) -> None:
        lower_thread_priority(niceness, self._base_nice)

    def _should_cancel(self, args: RenderArgs) -> bool:
        # Read without the lock: reference reads are atomic, and a late answer costs one more layer at most.
        # A newer request that changes only display fields needs the same analyses: they run on (the GUI shows
        # its view from the cached synthesis meanwhile, `Renderer.view_from_cache`).
        latest = self._latest
        superseded = args != latest and not (latest is not None and same_synthesis_and_analyses(args, latest))
        return self._closed or self._cancel_requested or (self.drop_stale and superseded)

    def _hold(self, posted: int) -> None:
        """(Lock held.) Wait until the GUI has shown result number `posted`, a newer request came, or the time is up."""
        if self.hold_until_shown <= 0:
            return
        deadline = time.monotonic() + self.hold_until_shown
        self._holding = True
        try:
            while self._shown < posted and self._pending is None and not self._closed and not self._cancel_requested:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        finally:
            self._holding = False

    def _analysis_worker(self) -> None:
        """Runs `renderer.render(args, control)` for the worker, which waits meanwhile (never two renders at once)."""
        self._lower_priority(ANALYSIS_NICE)
        while True:
            with self._job_cond:
                while self._job is None and not self._closed:
                    self._job_cond.wait()
                if self._job is None:
                    return
                args, control = self._job
            try:
                result = self.renderer.render(args, control=control)  # Renderer.render never raises ...
            except Exception as exc:  # noqa: BLE001 - ... a stand-in might: the worker must not wait forever
                result = RenderResult(args=args, error=error_text(exc))
            with self._job_cond:
                self._job, self._job_result = None, result
                self._job_cond.notify_all()

    def _render_analyses(self, args: RenderArgs, control: AnalysisControl) -> RenderResult:
        """The full render of `args` on the analysis thread; blocks until it is done (a newer request stops it
        through `control` within one synthesis layer)."""
        with self._job_cond:
            if self._closed:  # the analysis thread may have left already (close() during the view)
                return RenderResult(args=args, error='the renderer was closed')
            self._job, self._job_result = (args, control), None
            self._job_cond.notify_all()
            while self._job_result is None:
                self._job_cond.wait()
            result, self._job_result = self._job_result, None
        return result

    def _worker(self) -> None:
        self._lower_priority(VIEW_NICE)
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                args, self._pending = self._pending, None
                stamps = dict(at_enqueued=self._pending_at, at_picked=time.perf_counter())
                self._in_flight = args
                self._cancel_requested = False
            full_renderer = getattr(self.renderer, 'analyses_pending', None) is not None
            if full_renderer and self.renderer.analyses_pending(args):
                # Slow analyses to compute: show the view first (delivered only if still the newest request).
                from viz.core.renderer import without_analyses

                partial = self.renderer.render(without_analyses(args))
                partial.args, partial.partial = args, True
                partial.timings.update(stamps)
                with self._cond:
                    partial.timings['at_posted'] = time.perf_counter()
                    if args == self._latest and not partial.error:
                        self._result = partial
                        self._posted += 1
                        self._analysing = True
                        self._hold(self._posted)
                    self._cond.notify_all()
            if full_renderer:
                control = AnalysisControl(functools.partial(self._should_cancel, args))
                self._control = control
                result = self._render_analyses(args, control)
                self._control = None
            else:
                result = self.renderer.render(args)
            result.timings.update(stamps)
            with self._cond:
                result.timings['at_posted'] = time.perf_counter()
                self._in_flight = None
                self._analysing = False
                if self._cancel_requested:
                    self.stats['cancelled'] += 1
                elif full_renderer and control.stopped:
                    self.stats['preempted'] += 1  # a newer request needed another synthesis or analysis
                self.stats['rendered'] += 1
                if self.drop_stale and args != self._latest:
                    self.stats['dropped'] += 1
                else:
                    self._result = result
                    self._posted += 1
                self._cond.notify_all()
                warm = not self._warmed and self._pending is None
            if warm and full_renderer:
                from viz.core.views import warm_up

                warm_up()
                self._warmed = True
