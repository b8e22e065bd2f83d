"""Video writer for captures: MP4 through imageio-ffmpeg, or GIF through Pillow."""

from __future__ import annotations

import os

import numpy as np


class VideoRecorder:
    """Frames of one size (the first frame's; later ones are padded / cropped to it) into `path`."""

    def __init__(self, path: str, fps: int = 30) -> None:
        self.path = path
        self.fps = int(fps)
        self.num_frames = 0
        self._size: tuple[int, int] | None = None
        self._writer = None
        self._gif_frames: list[np.ndarray] = []
        os.makedirs(os.path.dirname(os.path.abspath(path)) or '.', exist_ok=True)
        self.kind = 'gif' if path.lower().endswith('.gif') else 'mp4'

    def _fit(self, frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame, np.uint8)[:, :, :3]
        if self._size is None:
            h, w = frame.shape[:2]
            self._size = (h - h % 2, w - w % 2)  # H.264 wants even sizes
        h, w = self._size
        out = np.zeros((h, w, 3), np.uint8)
        fh, fw = min(h, frame.shape[0]), min(w, frame.shape[1])
        out[:fh, :fw] = frame[:fh, :fw]
        return out

    def add(self, frame: np.ndarray) -> None:
        frame = self._fit(frame)
        if self.kind == 'gif':
            self._gif_frames.append(frame)
        else:
            if self._writer is None:
                import imageio

                self._writer = imageio.get_writer(self.path, fps=self.fps, codec='libx264', quality=8,
                                                  macro_block_size=1, pixelformat='yuv420p')
            self._writer.append_data(frame)
        self.num_frames += 1

    def close(self) -> str:
        if self.kind == 'gif':
            import PIL.Image

            if self._gif_frames:
                images = [PIL.Image.fromarray(f) for f in self._gif_frames]
                images[0].save(self.path, save_all=True, append_images=images[1:], loop=0,
                               duration=max(int(1000 / self.fps), 20))
            self._gif_frames = []
        elif self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.path
