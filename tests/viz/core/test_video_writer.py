"""The capture video writer: frame count and rate read back from the file, bounded memory with many frames,
frames dropped (and their time held) when the encoder falls behind, errors from the writer thread."""

from __future__ import annotations

import threading
import time
import tracemalloc

import numpy as np
import PIL.Image
import pytest

from networks.errors import UserError
from tests.viz.gif import read_gif
from viz.core.video_writer import GifStreamWriter, VideoRecorder, gif_delays_cs


def _bars(k: int, size: int = 48) -> np.ndarray:
    """A frame that tells its index apart: a white bar at column 4k (mod size) on a grey ramp."""
    frame = np.tile(np.linspace(0, 120, size, dtype=np.uint8)[None, :, None], (size, 1, 3))
    col = (4 * k) % (size - 4)
    frame[:, col:col + 4] = 255
    return frame


@pytest.mark.parametrize('fps', [30, 7, 50])
def test_gif_has_every_frame_and_plays_at_the_rate(tmp_path, fps):
    path = tmp_path / 'v.gif'
    rec = VideoRecorder(str(path), fps=fps)
    num = 37
    for k in range(num):
        rec.add(_bars(k))
    assert rec.close() == str(path) and rec.num_frames == num
    frames, durations = read_gif(path)
    assert len(frames) == num
    # each frame lasts 1/fps to the centisecond, and the whole file exactly num / fps (to the centisecond)
    assert all(abs(d - 1000 / fps) <= 10 for d in durations), durations
    assert sum(durations) == 10 * round(100 * num / fps)
    for k, frame in enumerate(frames):
        # 256 colours per frame: close to its own frame, far from the next one
        assert np.abs(frame.astype(int) - _bars(k)).mean() < 6, f'frame {k} is not the {k}th frame added'
        assert np.abs(frame.astype(int) - _bars(k + 1)).mean() > 15


def test_gif_delays_never_drift():
    for fps in (1, 3, 7, 24, 30, 33, 50):
        delays = gif_delays_cs(0, 1000, fps)
        assert all(round(100 / fps) - 1 <= d <= round(100 / fps) + 1 for d in delays)
        # after any prefix the GIF is within half a centisecond of real time
        ends = np.cumsum(delays)
        assert np.abs(ends - 100 * np.arange(1, 1001) / fps).max() <= 0.5
    assert gif_delays_cs(0, 3, 30) + gif_delays_cs(3, 3, 30) == gif_delays_cs(0, 6, 30)


def test_copies_become_frames(tmp_path):
    rec = VideoRecorder(str(tmp_path / 'v.gif'), fps=10)
    rec.add(_bars(0), copies=3)
    rec.add(_bars(1))
    rec.close()
    frames, durations = read_gif(tmp_path / 'v.gif')
    assert len(frames) == 4 and sum(durations) == 400
    assert np.array_equal(frames[0], frames[2]) and not np.array_equal(frames[2], frames[3])


@pytest.mark.parametrize('ext', ['gif', 'mp4'])
def test_memory_stays_bounded_with_many_frames(tmp_path, ext):
    """400 frames of 128 px (20 MB of pixels) stream through; at most the queue's worth is held."""
    frame = np.tile(np.linspace(0, 255, 128, dtype=np.uint8)[None, :, None], (128, 1, 3))
    tracemalloc.start()
    try:
        rec = VideoRecorder(str(tmp_path / f'v.{ext}'), fps=25, queue_size=4)
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for k in range(400):
            rec.add(np.roll(frame, k, axis=1))
            assert rec.pending <= 4
        rec.close()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 4e6, f'{peak / 1e6:.1f} MB held for 20 MB of frames'
    if ext == 'gif':
        assert PIL.Image.open(tmp_path / 'v.gif').n_frames == 400
    else:
        import imageio.v3 as iio

        frames = iio.imread(tmp_path / 'v.mp4', index=None)
        assert frames.shape[0] == 400


def test_slow_encoder_drops_frames_but_keeps_the_length(tmp_path, monkeypatch):
    """Non-blocking adds never wait: when the queue is full a frame is dropped and the next one holds its time."""
    gate = threading.Event()
    original = GifStreamWriter.append

    def slow_append(self, frame, copies=1):
        gate.wait(5)  # the encoder is stuck until the producer is done
        original(self, frame, copies)

    monkeypatch.setattr(GifStreamWriter, 'append', slow_append)
    rec = VideoRecorder(str(tmp_path / 'v.gif'), fps=10, queue_size=2)
    start = time.perf_counter()
    accepted = [rec.add(_bars(k), block=False) for k in range(20)]
    assert time.perf_counter() - start < 2  # no add waited for the stuck encoder
    assert not all(accepted) and rec.dropped == accepted.count(False) and rec.pending <= 2
    gate.set()
    rec.close()
    frames, durations = read_gif(tmp_path / 'v.gif')
    assert len(frames) == 20 == rec.num_frames and sum(durations) == 2000


def test_gif_fps_limit_and_writer_errors(tmp_path):
    with pytest.raises(UserError, match='at most 50 fps'):
        VideoRecorder(str(tmp_path / 'v.gif'), fps=60)
    (tmp_path / 'taken.gif').mkdir()  # the writer thread cannot open a directory as a file
    rec = VideoRecorder(str(tmp_path / 'taken.gif'), fps=10)
    rec.add(_bars(0))
    with pytest.raises(RuntimeError, match='taken.gif'):
        rec.close()


def _rows(k: int, height: int, width: int) -> np.ndarray:
    """A frame whose every row differs from its neighbours (so rows written in another order show), in at most
    256 colours (so the GIF's quantisation keeps it exactly), and that differs from frame k + 1."""
    y, x = np.mgrid[:height, :width]
    level = (y * 7 + k * 3) % 16 * 16 + (x // 4 + k) % 2 * 8       # 32 levels
    frame = np.stack([level, (y * 13) % 8 * 32, np.full_like(level, (k * 40) % 256)], axis=-1)
    return frame.astype(np.uint8)


@pytest.mark.parametrize('height, width', [(48, 64), (16, 16), (37, 23), (15, 40), (128, 97), (2, 3)])
@pytest.mark.parametrize('interlaced_by_pillow', [False, True])
def test_every_decoded_gif_frame_equals_what_was_recorded(tmp_path, height, width, interlaced_by_pillow,
                                                          monkeypatch):
    """Pillow interlaces frames of 16 rows or more by default; the stream writer once dropped that flag from its
    own image descriptor, so every decoded frame of such a GIF showed stacked, squashed copies of its rows. Every
    frame is decoded and compared pixel for pixel, at odd and even sizes, also when Pillow interlaces."""
    if interlaced_by_pillow:        # the writer must carry whatever Pillow wrote, not assume one row order
        original = PIL.Image.Image.save

        def save(self, fp, format=None, **params):
            params.pop('interlace', None)
            return original(self, fp, format=format, **params)
        monkeypatch.setattr(PIL.Image.Image, 'save', save)
    path = tmp_path / 'v.gif'
    writer = GifStreamWriter(str(path), fps=25, size=(height, width))
    frames_in = [_rows(k, height, width) for k in range(5)]
    for frame in frames_in:
        writer.append(frame)
    writer.close()
    frames_out, _ = read_gif(path)
    assert len(frames_out) == len(frames_in)
    for k, (sent, got) in enumerate(zip(frames_in, frames_out)):
        assert got.shape == sent.shape
        # The fast octree palette moves colours by a few levels; rows out of order move them by tens.
        row_error = np.abs(got.astype(int) - sent).mean(axis=(1, 2))
        assert row_error.max() < 8, f'frame {k}: rows {np.flatnonzero(row_error >= 8).tolist()} differ'
