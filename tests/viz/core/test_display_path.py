"""Display-only changes without the render thread (they must show within 50 ms even while an analysis runs): the view
re-made from the cached synthesis equals a full render's, runs no generator, and a running analysis is not cancelled
by such a change."""

from __future__ import annotations

import dataclasses
import time
import types

import numpy as np

from tests.viz.core.test_analysis_cache import SynthesisCounter
from viz.core.async_renderer import AsyncRenderer
from viz.core.renderer import DISPLAY_FIELDS, VIEW_ONLY_FIELDS, Renderer, same_synthesis_and_analyses

CHANGES = [dict(fft_range_db=20.0), dict(fft_beta=2.0), dict(img_scale_db=6.0), dict(img_normalize=True),
           dict(sel_channels=1, base_channel=2), dict(fft_all=False, sel_channels=1), dict(fft_show=False)]


def _wait(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.002)


def test_display_fields_are_view_only_and_no_analysis_reads_them(sg3):
    from viz.core.analysis_cache import analysis_keys

    assert DISPLAY_FIELDS <= VIEW_ONLY_FIELDS
    full = dataclasses.replace(sg3, spectrum_seeds=4, eq_readout=True, sticking=True)
    changed = dataclasses.replace(full, **{k: v for c in CHANGES for k, v in c.items()}, untransform=True)
    assert same_synthesis_and_analyses(full, changed)
    assert analysis_keys(full, None) == analysis_keys(changed, None)
    assert not same_synthesis_and_analyses(full, dataclasses.replace(full, w0_seeds=((5, 1.0),)))
    assert not same_synthesis_and_analyses(full, dataclasses.replace(full, spectrum_seeds=5))


def test_view_from_cache_equals_a_full_render_without_the_generator(sg3):
    renderer = Renderer()
    moved = dataclasses.replace(sg3, translate_x=0.1, rotate=5.0, fft_show=True, w0_seeds=((3, 1.0),))
    shown = renderer.render(moved)
    assert shown.error is None
    reference = Renderer()  # renders every variant from scratch: the values the cached path must give
    counter = SynthesisCounter(renderer.networks.get(sg3.pkl).G)
    try:
        for change in CHANGES:
            args = dataclasses.replace(moved, **change)
            res = renderer.view_from_cache(args, shown)
            assert res is not None and res.args == args
            ref = reference.render(args)
            np.testing.assert_array_equal(res.image, ref.image)
            if ref.fft is None:
                assert res.fft is None
            else:
                np.testing.assert_array_equal(res.fft, ref.fft)
            assert res.stats == ref.stats
            assert res.layers == shown.layers and res.network == shown.network
        assert counter.calls == 0
        # The untransformed image is built by the render thread (slow the first time): not here.
        assert renderer.view_from_cache(dataclasses.replace(moved, untransform=True), shown) is None
        renderer.render(dataclasses.replace(moved, untransform=True))
        calls = counter.calls
        res = renderer.view_from_cache(dataclasses.replace(moved, untransform=True, img_scale_db=3.0), shown)
        assert res is not None and res.stats['untransformed'] and counter.calls == calls
        # Not display-only, or another synthesis in the cache: the render thread's work.
        assert renderer.view_from_cache(dataclasses.replace(moved, w0_seeds=((4, 1.0),)), shown) is None
        assert renderer.view_from_cache(dataclasses.replace(moved, spectrum_seeds=4), shown) is None
        renderer.render(dataclasses.replace(moved, w0_seeds=((4, 1.0),)))
        assert renderer.view_from_cache(dataclasses.replace(moved, img_scale_db=6.0), shown) is None
    finally:
        counter.remove()


def test_display_change_does_not_cancel_a_running_analysis(sg3):
    renderer = Renderer()
    renderer.render(sg3)
    counter = SynthesisCounter(renderer.networks.get(sg3.pkl).G, delay=0.02)
    ar = AsyncRenderer(renderer)
    try:
        long = dataclasses.replace(sg3, spectrum_seeds=16)
        ar.set_args(long)
        _wait(lambda: ar.analysing and (ar.progress or ('', 0, 0))[1] >= 2)
        shown = ar.get_result()
        assert shown is not None and shown.partial
        brighter = dataclasses.replace(long, img_scale_db=6.0)
        ar.set_args(brighter)  # display only: the spectrum runs on
        assert ar.wait_idle(60)
        assert ar.stats['cancelled'] == ar.stats['preempted'] == 0
        final = ar.get_result()
        assert final.args == brighter and final.spectrum is not None and not final.partial
        # 16 samples, the first view, the cached view of `brighter`: nothing redone
        assert counter.calls <= 16 + 1
        ar.set_args(dataclasses.replace(long, spectrum_seeds=12))
        _wait(lambda: ar.analysing and (ar.progress or ('', 0, 0))[1] >= 1)
        ar.set_args(dataclasses.replace(long, spectrum_seeds=12, w0_seeds=((9, 1.0),)))  # not display-only
        assert ar.wait_idle(60)
        assert ar.stats['preempted'] == 1 and ar.stats['cancelled'] == 0
    finally:
        counter.remove()
        ar.close()


def _bare_app(renderer: Renderer, shown, args, submitted):
    """The state `VisualizerApp._view_display_change` reads, without a window."""
    from viz.gui.app import VisualizerApp

    app = VisualizerApp.__new__(VisualizerApp)
    app.result, app.args, app._submitted = shown, args, submitted
    app.async_renderer = types.SimpleNamespace(renderer=renderer)
    app._stamps, app.sync_views = {}, 0
    return app


def test_app_shows_a_display_change_in_the_same_frame_without_a_request(sg3):
    from viz.gui.app import SYNC_VIEW_S, VisualizerApp

    renderer = Renderer()
    args = dataclasses.replace(sg3, fft_show=True, w0_seeds=((6, 1.0),))
    shown = renderer.render(args)
    assert shown.timings['view'] < SYNC_VIEW_S
    counter = SynthesisCounter(renderer.networks.get(sg3.pkl).G)
    try:
        new = dataclasses.replace(args, fft_range_db=10.0, img_normalize=True)
        app = _bare_app(renderer, shown, new, submitted=args)
        VisualizerApp._view_display_change(app)
        assert app.result.args == new and app.sync_views == 1
        assert app._submitted == new  # the renderer's request differs in display fields only: not asked again
        ref = Renderer().render(new)
        np.testing.assert_array_equal(app.result.image, ref.image)
        np.testing.assert_array_equal(app.result.fft, ref.fft)
        assert counter.calls == 0

        # a seed change, or a view too slow for the GUI thread: left to the render thread
        seed = dataclasses.replace(args, w0_seeds=((7, 1.0),))
        app = _bare_app(renderer, shown, seed, submitted=args)
        VisualizerApp._view_display_change(app)
        assert app.result is shown and app._submitted == args
        slow = dataclasses.replace(shown, timings=dict(shown.timings, view=SYNC_VIEW_S))
        app = _bare_app(renderer, slow, new, submitted=args)
        VisualizerApp._view_display_change(app)
        assert app.result is slow and app._submitted == args and app.sync_views == 0
    finally:
        counter.remove()


def test_analysis_waits_until_the_gui_has_shown_the_view(sg3):
    """With `hold_until_shown`, the analysis of a request starts only after the GUI says its view is on screen,
    and a request arriving during the analysis gets its view (and the same wait) before the analysis goes on."""
    renderer = Renderer()
    renderer.render(sg3)
    counter = SynthesisCounter(renderer.networks.get(sg3.pkl).G, delay=0.02)
    ar = AsyncRenderer(renderer, hold_until_shown=300.0)  # no time-out within the test: only view_shown frees it
    try:
        long = dataclasses.replace(sg3, spectrum_seeds=30)
        ar.set_args(long)
        _wait(lambda: ar.holding)
        assert counter.calls == 0 and ar.result_waiting  # the view (the synthesis cached above), no sample yet
        view = ar.get_result()
        assert view.partial and view.args == long
        ar.view_shown()
        _wait(lambda: (ar.progress or ('', 0, 0))[1] >= 2)
        assert not ar.holding

        clicked = dataclasses.replace(long, w0_seeds=((8, 1.0),))
        ar.set_args(clicked)
        _wait(lambda: ar.holding)
        calls = counter.calls
        res = ar.get_result()
        assert res is not None and res.args == clicked and res.partial and res.image is not None
        time.sleep(0.2)
        assert ar.holding and counter.calls == calls  # no sample: it waits for the GUI
        ar.view_shown()
        assert ar.wait_idle(60)
        final = ar.get_result()
        assert final.args == clicked and final.spectrum is not None and ar.stats['preempted'] == 1
    finally:
        counter.remove()
        ar.close()


def test_hold_ends_by_time(sg3):
    renderer = Renderer()
    renderer.render(sg3)
    ar = AsyncRenderer(renderer, hold_until_shown=0.05)  # a GUI that never says it has shown anything
    try:
        long = dataclasses.replace(sg3, spectrum_seeds=3)
        ar.set_args(long)
        assert ar.wait_idle(60)  # the analysis ran after the time-out
        assert ar.get_result().spectrum is not None
    finally:
        ar.close()
