"""The GUI's fps cap paces the starts of buffer swaps (gui_utils.window.frame_wait), so a slow swap does not
lower the frame rate below the cap (llvmpipe renders at the swap: 10-20 ms here)."""

from __future__ import annotations

import pytest

from gui_utils.window import frame_wait


def test_the_wait_counts_from_the_start_of_the_previous_swap():
    # Previous swap started at 0 and took 10 ms; this frame was built in 2 ms: at 50 fps (20 ms) the swap may
    # start 8 ms from now. Counting from the end of that swap (the old pacing) would wait 18 ms.
    assert frame_wait(0.0, 50.0, 0.012) == pytest.approx(0.008)


def test_no_wait_without_a_cap_or_when_the_frame_is_late():
    assert frame_wait(0.0, 0.0, 0.001) == 0.0
    assert frame_wait(0.0, 50.0, 0.025) == 0.0


@pytest.mark.parametrize('swap_s, build_s, fps', [(0.010, 0.002, 60.0), (0.015, 0.004, 30.0), (0.001, 0.001, 120.0)])
def test_a_loop_with_slow_swaps_runs_at_the_cap(swap_s, build_s, fps):
    """A simulated frame loop (a clock advanced by hand): when building + swapping fits in 1/fps, the frame rate
    is the cap, whatever part of the frame the swap takes."""
    now, start, starts = 0.0, 0.0, []
    for _ in range(200):
        now += build_s
        now += frame_wait(start, fps, now)
        start = now
        starts.append(start)
        now += swap_s
    periods = [b - a for a, b in zip(starts[1:], starts[2:])]
    assert min(periods) == pytest.approx(1 / fps) and max(periods) == pytest.approx(1 / fps)
