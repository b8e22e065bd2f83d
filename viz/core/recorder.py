"""When a GUI recording takes a frame, and how it drives the animation clock (GL-free, so it is testable).

Two modes:
- live: the video plays in real time. Frame k is due at k / fps seconds after the first frame; each GUI frame
  adds the shown picture as many times as frames fell due since the last one (a slow GUI repeats its picture,
  a fast one skips pictures), so 3 s of recording give 3 s of video.
- exact: N frames at F fps of the animation, whatever the render time. The recording owns the animation
  clock: the animating widgets advance by 0 while a frame is being rendered and by exactly 1 / F after each
  captured frame, so frame k shows the state at t = k / F and a 10 s animation gives a 10 s video.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from networks.errors import UserError
from viz.core.video_writer import VideoRecorder

__all__ = ['Recording']


class Recording:
    """One recording into `path` at `fps`; `frames` given = exact mode (that many frames, then `done`)."""

    def __init__(self, path: str, fps: int, frames: int | None = None, queue_size: int = 8,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if frames is not None and frames < 1:
            raise UserError(f'an exact recording needs at least one frame, got {frames}')
        self.video = VideoRecorder(path, fps=fps, queue_size=queue_size)
        self.path = path
        self.fps = int(fps)
        self.target = frames
        self.captured = 0  # frames accounted for: written, or dropped and held (live)
        self._clock = clock
        self._start: float | None = None
        self._advance = False  # exact: the frame is taken, the animation moves on one step

    @property
    def exact(self) -> bool:
        return self.target is not None

    @property
    def done(self) -> bool:
        return self.exact and self.captured >= self.target

    @property
    def seconds(self) -> float:
        """Length of the video so far."""
        return self.captured / self.fps

    def animation_step(self, wall_delta: float) -> float:
        """The time step the animating widgets take this GUI frame: the wall time (live), or 0 / exactly 1 / fps
        (exact: one step after each captured frame, none while the next one renders)."""
        if not self.exact:
            return wall_delta
        if self._advance:
            self._advance = False
            return 1.0 / self.fps
        return 0.0

    def frames_due(self, current: bool) -> int:
        """How many video frames the picture shown now stands for (0: take none now).

        `current`: the shown picture is the render of the current arguments (exact mode waits for it)."""
        if self.done:
            return 0
        if self.exact:
            return 1 if current and not self._advance and self.video.has_room else 0
        if self._start is None:
            return 1
        return max(int((self._clock() - self._start) * self.fps) + 1 - self.captured, 0)

    def add(self, frame: np.ndarray, copies: int) -> None:
        """Take `frame` for `copies` frames (from `frames_due`). Never waits for the encoder."""
        if copies < 1:
            return
        if self._start is None:
            self._start = self._clock()
        if self.exact:
            copies = min(copies, self.target - self.captured)
            self.video.add(frame, copies, block=True)  # frames_due saw room: this does not wait
            self._advance = self.captured + copies < self.target
        else:
            self.video.add(frame, copies, block=False)  # a full queue drops it; the video keeps its length
        self.captured += copies

    @property
    def dropped(self) -> int:
        return self.video.dropped

    def close(self) -> str:
        """Finish the file (waits for the writer thread); returns its path."""
        return self.video.close()
