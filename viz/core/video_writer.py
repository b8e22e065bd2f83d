"""Video writer for captures: frames stream to disk from a writer thread (MP4 through imageio-ffmpeg, GIF frame
by frame through Pillow), so a recording's memory stays bounded however long it runs.

The caller's thread only copies a frame into a bounded queue; the writer thread encodes it. `add(block=False)`
never waits: when the queue is full the frame is dropped (counted in `dropped`) and the next accepted frame is
held for the dropped frames' time, so the video keeps its length.
"""

from __future__ import annotations

import io
import os
import queue
import threading

import numpy as np

from networks.errors import UserError

__all__ = ['VideoRecorder', 'VideoWriteError', 'GifStreamWriter', 'MAX_GIF_FPS', 'gif_delays_cs']

MAX_GIF_FPS = 50  # GIF delays are whole centiseconds, and players treat delays under 2 cs as 10 cs


def gif_delays_cs(first: int, count: int, fps: float) -> list[int]:
    """Delays (centiseconds) of frames first..first+count-1 at `fps`: frame k ends at round(100 (k+1) / fps),
    so the rounding errors do not add up (30 fps gives 3, 3, 4, 3, 3, 4, ... and exactly one second per 30)."""
    return [round(100 * (k + 1) / fps) - round(100 * k / fps) for k in range(first, first + count)]


def _gif_parts(image) -> tuple[bytes, bytes, int]:
    """(colour table, image data from the LZW minimum code size on, interlace flag 0 or 0x40) of a one-frame GIF
    that Pillow writes.

    Pillow has no public incremental GIF writer, so each frame is saved on its own (Pillow picks its palette)
    and its pieces are spliced into our stream, the frame's palette becoming a local colour table. Pillow
    interlaces frames of 16 rows or more unless told not to; the image data's row order depends on that flag,
    so it is asked for none and whatever flag it wrote is carried into our descriptor.
    """
    buf = io.BytesIO()
    image.save(buf, format='GIF', interlace=False)
    data = buf.getvalue()
    packed = data[10]
    pos = 13
    table = b''
    if packed & 0x80:
        table_len = 3 << ((packed & 7) + 1)
        table, pos = data[pos:pos + table_len], pos + table_len
    while data[pos:pos + 1] == b'!':  # extensions: skip their sub-blocks
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    if data[pos:pos + 1] != b',':
        raise ValueError('unexpected GIF layout from Pillow')
    local_packed = data[pos + 9]
    pos += 10
    if local_packed & 0x80:  # Pillow wrote a local table: it wins over the global one
        table_len = 3 << ((local_packed & 7) + 1)
        table, pos = data[pos:pos + table_len], pos + table_len
    end = data.rindex(b';')  # the trailer
    return table, data[pos:end], local_packed & 0x40


class VideoWriteError(UserError, RuntimeError):
    """The video file could not be written (a folder that cannot hold files, a full disk, a failing encoder): one
    line for the user, and a RuntimeError for callers that catch those."""


class GifStreamWriter:
    """An animated GIF written frame by frame (each frame's own palette); nothing is kept but the last frame's
    encoded bytes (to repeat it cheaply). Delays follow `gif_delays_cs`, so N frames play N / fps seconds."""

    def __init__(self, path: str, fps: float, size: tuple[int, int]) -> None:
        self.fps = fps
        self.num_frames = 0
        self._height, self._width = size
        self._file = open(path, 'wb')  # noqa: SIM115 - closed in close()
        self._file.write(b'GIF89a' + self._u16(self._width) + self._u16(self._height) + bytes([0, 0, 0]))
        # NETSCAPE2.0 application extension: loop forever
        self._file.write(b'!\xff\x0bNETSCAPE2.0\x03\x01' + self._u16(0) + b'\x00')
        self._last: tuple[bytes, bytes, int] | None = None

    @staticmethod
    def _u16(value: int) -> bytes:
        return int(value).to_bytes(2, 'little')

    def append(self, frame: np.ndarray | None, copies: int = 1) -> None:
        """Write `frame` (HxWx3 uint8) `copies` times; None repeats the previous frame."""
        import PIL.Image

        if frame is not None:
            # fast octree: about 15x faster than Pillow's default for a GUI-sized frame, close enough for video
            image = PIL.Image.fromarray(np.ascontiguousarray(frame)).quantize(256, method=PIL.Image.Quantize.FASTOCTREE)
            self._last = _gif_parts(image)
        if self._last is None:
            return
        table, pixels, interlace = self._last
        size_bits = max(len(table) // 3 - 1, 1).bit_length() - 1  # table holds 2^(size_bits + 1) colours
        descriptor = (b',' + self._u16(0) + self._u16(0) + self._u16(self._width) + self._u16(self._height)
                      + bytes([0x80 | interlace | size_bits]))
        for delay in gif_delays_cs(self.num_frames, copies, self.fps):
            # graphic control extension: no disposal, no transparency, the frame's delay
            self._file.write(b'!\xf9\x04\x00' + self._u16(delay) + b'\x00\x00')
            self._file.write(descriptor + table + pixels)
        self.num_frames += copies

    def close(self) -> None:
        if not self._file.closed:
            self._file.write(b';')
            self._file.close()


_STOP = object()


class VideoRecorder:
    """Frames of one size (the first frame's; later ones are padded / cropped to it) streamed into `path`.

    `.gif` is written by `GifStreamWriter`, anything else as H.264 MP4 by imageio-ffmpeg. At most `queue_size`
    frames wait for the writer thread; `num_frames` counts the frames the video will have (copies included).
    """

    def __init__(self, path: str, fps: int = 30, queue_size: int = 8) -> None:
        self.path = path
        self.fps = int(fps)
        self.kind = 'gif' if path.lower().endswith('.gif') else 'mp4'
        if self.fps < 1:
            raise UserError(f'video fps must be at least 1, got {fps}')
        if self.kind == 'gif' and self.fps > MAX_GIF_FPS:
            raise UserError(f'a GIF plays at most {MAX_GIF_FPS} fps (delays are whole centiseconds), got {fps}; '
                            f'record MP4 for more')
        self.num_frames = 0
        self.dropped = 0
        self._owed = 0  # dropped frames whose time the next accepted frame takes
        self._size: tuple[int, int] | None = None
        self._error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=max(int(queue_size), 1))
        self._thread: threading.Thread | None = None
        self._closed = False
        os.makedirs(os.path.dirname(os.path.abspath(path)) or '.', exist_ok=True)

    def _fit(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame, np.uint8)[:, :, :3]
        if self._size is None:
            h, w = frame.shape[:2]
            self._size = (h - h % 2, w - w % 2)  # H.264 wants even sizes
        h, w = self._size
        out = np.zeros((h, w, 3), np.uint8)  # always a copy: the caller may reuse its buffer
        fh, fw = min(h, frame.shape[0]), min(w, frame.shape[1])
        out[:fh, :fw] = frame[:fh, :fw]
        return out

    @property
    def has_room(self) -> bool:
        """Whether `add` would queue a frame now without waiting."""
        return not self._queue.full()

    @property
    def pending(self) -> int:
        """Frames queued but not yet encoded."""
        return self._queue.qsize()

    def add(self, frame: np.ndarray, copies: int = 1, block: bool = True) -> bool:
        """Queue `frame` to appear `copies` times. With block=False a full queue drops it (returns False)."""
        self._raise_error()
        if self._closed:
            raise RuntimeError('the recorder is closed')
        if copies < 1:
            return True
        frame = self._fit(frame)
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_loop, name='video-writer', daemon=True)
            self._thread.start()
        try:
            self._queue.put((frame, copies + self._owed), block=block)
        except queue.Full:
            self.dropped += copies
            self._owed += copies
            return False
        self.num_frames += copies + self._owed
        self._owed = 0
        return True

    def _write_loop(self) -> None:
        writer, last = None, None
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                frame, copies = item  # frame None: repeat the previous one
                if frame is None and last is None:
                    continue
                if writer is None:
                    writer = self._open(frame.shape[:2])
                if self.kind == 'gif':
                    writer.append(frame, copies)
                else:
                    last = last if frame is None else frame
                    for _ in range(copies):
                        writer.append_data(last)
                last = last if frame is None else frame
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._error = exc
            while self._queue.get() is not _STOP:  # keep taking frames so a blocked `add` returns
                pass
        finally:
            if writer is not None:
                try:
                    writer.close()
                except BaseException as exc:  # noqa: BLE001
                    self._error = self._error or exc

    def _open(self, size: tuple[int, int]):
        if self.kind == 'gif':
            return GifStreamWriter(self.path, self.fps, size)
        import imageio

        return imageio.get_writer(self.path, fps=self.fps, codec='libx264', quality=8, macro_block_size=1,
                                  pixelformat='yuv420p')

    def _raise_error(self) -> None:
        if self._error is not None:
            raise VideoWriteError(f'writing {self.path} failed: {self._error}') from self._error

    def close(self) -> str:
        """Wait for the queued frames to be written, finish the file and return its path."""
        if not self._closed:
            self._closed = True
            if self._thread is not None:
                if self._owed and self._error is None:  # the last frames were dropped: hold the last one
                    self._queue.put((None, self._owed))
                    self.num_frames += self._owed
                    self._owed = 0
                self._queue.put(_STOP)
                self._thread.join()
        self._raise_error()
        return self.path
