"""The async renderer: newest request wins, the queue never grows, stale results are dropped."""

from __future__ import annotations

import threading
import time

from viz.core.async_renderer import AsyncRenderer
from viz.core.render_types import RenderArgs, RenderResult


class SlowRenderer:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.seen: list[RenderArgs] = []
        self.gate = threading.Event()
        self.gate.set()

    def render(self, args: RenderArgs) -> RenderResult:
        self.gate.wait()
        self.seen.append(args)
        time.sleep(self.seconds)
        return RenderResult(args=args, error='boom' if args.pkl == 'bad' else None)


def _args(i: int) -> RenderArgs:
    return RenderArgs(w0_seeds=((i, 1.0),))


def test_newest_wins_and_queue_never_grows():
    slow = SlowRenderer(0.05)
    ar = AsyncRenderer(slow)
    try:
        for i in range(200):
            ar.set_args(_args(i))
            assert ar.queue_length <= 1
        assert ar.wait_idle(10)
        assert ar.stats['max_queue'] == 1
        assert len(slow.seen) < 10  # intermediate requests were replaced, not rendered
        assert ar.result_waiting and not ar.busy  # finished, not yet taken: the GUI still shows the old image
        result = ar.get_result()
        assert result.args == _args(199)
        assert not ar.result_waiting
        assert ar.get_result() is None  # each result is delivered once
    finally:
        ar.close()


def test_stale_result_dropped():
    slow = SlowRenderer(0.2)
    ar = AsyncRenderer(slow)
    try:
        ar.set_args(_args(1))
        time.sleep(0.05)  # 1 is rendering
        ar.set_args(_args(2))
        assert ar.wait_idle(10)
        result = ar.get_result()
        assert result.args == _args(2) and ar.stats['dropped'] == 1
        ar.set_args(_args(2))  # same as the newest: nothing to do
        assert not ar.busy
    finally:
        ar.close()


def test_errors_come_back_as_text():
    ar = AsyncRenderer(SlowRenderer(0.0))
    try:
        ar.set_args(RenderArgs(pkl='bad'))
        assert ar.wait_idle(5)
        assert ar.get_result().error == 'boom'
    finally:
        ar.close()


def test_real_renderer_error_result(pkl_dir):
    ar = AsyncRenderer()
    try:
        ar.set_args(RenderArgs(pkl=str(pkl_dir / 'garbage.pkl')))
        assert ar.wait_idle(30)
        res = ar.get_result()
        assert res.error and res.image is None
    finally:
        ar.close()


def test_render_threads_are_niced_relative_to_the_gui(tmp_path):
    """Started under `nice -n 5`, views render at 5 + VIEW_NICE and analyses at 5 + ANALYSIS_NICE, not at absolute
    values (which, for root, would put the renders above a niced GUI); each on its own thread, so a view that
    follows seconds of analysis does not inherit that thread's place in the scheduler's queue."""
    import os
    import subprocess
    import sys

    import pytest

    if not sys.platform.startswith('linux'):
        pytest.skip('thread nice values are Linux only')
    script = tmp_path / 'nice_check.py'
    script.write_text(
        'import os, threading\n'
        'from viz.core.async_renderer import AsyncRenderer, VIEW_NICE, ANALYSIS_NICE\n'
        'from viz.core.render_types import RenderArgs, RenderResult\n'
        'def me():\n'
        '    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), threading.get_native_id()\n'
        'class R:\n'
        '    seen = {}\n'
        '    def analyses_pending(self, args):\n'
        '        return True\n'
        '    def render(self, args, control=None):\n'
        '        self.seen["analyses" if control is not None else "view"] = me()\n'
        '        return RenderResult(args=args)\n'
        'r = R(); ar = AsyncRenderer(r); ar.set_args(RenderArgs()); ar.wait_idle(60)\n'
        'ar.view_shown(); ar.close()\n'
        'view, analyses = r.seen["view"], r.seen["analyses"]\n'
        'print(os.getpriority(os.PRIO_PROCESS, 0), view[0], analyses[0], VIEW_NICE, ANALYSIS_NICE,\n'
        '      int(view[1] != analyses[1]))\n')
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run(['nice', '-n', '5', sys.executable, str(script)], capture_output=True, text=True, env=env,
                         timeout=300, check=True).stdout.split()
    gui, view, analyses, view_nice, analysis_nice, two_threads = map(int, out[-6:])
    assert gui == 5 and view_nice > 0 and analysis_nice >= view_nice
    assert view == min(gui + view_nice, 19) and analyses == min(gui + analysis_nice, 19)
    assert two_threads == 1


def test_a_raising_analysis_comes_back_as_an_error_and_the_worker_goes_on():
    """The analyses run on a second thread while the worker waits for them: if a renderer raised there, the worker
    must get an error result, not wait forever."""
    from viz.core.async_renderer import AsyncRenderer
    from viz.core.render_types import RenderArgs, RenderResult

    class Raising:
        def analyses_pending(self, args):
            return True

        def render(self, args, control=None):
            if control is not None and args.w0_seeds == ((1, 1.0),):
                raise RuntimeError('analysis blew up')
            return RenderResult(args=args)

    ar = AsyncRenderer(Raising())
    try:
        ar.set_args(RenderArgs(w0_seeds=((1, 1.0),)))
        assert ar.wait_idle(30)
        results = []
        while (res := ar.get_result()) is not None:
            results.append(res)
        assert results and 'analysis blew up' in (results[-1].error or '')
        ar.set_args(RenderArgs(w0_seeds=((2, 1.0),)))
        assert ar.wait_idle(30)
        res = ar.get_result()
        assert res is not None and res.error is None and res.args.w0_seeds == ((2, 1.0),)
    finally:
        assert ar.close()


def test_close_during_a_view_does_not_wait_for_the_gone_analysis_thread():
    """close() while the view of a request with analyses renders: the analysis thread leaves at once, and the
    worker, when its view is done, must not hand analyses to it and wait forever."""
    import threading
    import time

    from viz.core.async_renderer import AsyncRenderer
    from viz.core.render_types import RenderArgs, RenderResult

    started = threading.Event()

    class SlowView:
        def analyses_pending(self, args):
            return True

        def render(self, args, control=None):
            if control is None:
                started.set()
                time.sleep(0.5)
            return RenderResult(args=args)

    ar = AsyncRenderer(SlowView())
    ar.set_args(RenderArgs())
    assert started.wait(30)
    t0 = time.monotonic()
    assert ar.close(timeout=10)
    assert time.monotonic() - t0 < 5
