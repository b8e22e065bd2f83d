"""Capture: directory, save the image, save a GUI screenshot (glReadPixels), record a video of any view."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from gui_utils import imgui_utils
from viz.core.capture import next_path, view_image
from viz.core.images import save_png
from viz.core.video_writer import VideoRecorder

VIEWS = ('image', 'fft', 'image+fft', 'gui')
FORMATS = ('mp4', 'gif')


class CaptureWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.dir_text = viz.capture_dir
        self.view = 0
        self.format = 0
        self.fps = 30
        self.recorder: VideoRecorder | None = None
        self.last_saved = ''

    @property
    def capture_dir(self) -> str:
        return self.dir_text or self.viz.capture_dir

    def save_image(self) -> str | None:
        result = self.viz.result
        if result is None or result.image is None:
            self.viz.log('nothing to save yet', error=True)
            return None
        path = next_path(self.capture_dir, 'image', 'png')
        save_png(path, result.image)
        self.viz.log(f'saved {path}')
        self.last_saved = path
        return path

    def save_gui(self, path: str | None = None) -> str:
        """Ask the app for the next finished frame (read back before the swap) as a PNG."""
        path = path or next_path(self.capture_dir, 'gui', 'png')
        self.viz.request_screenshot(path)
        self.last_saved = path
        return path

    def start_video(self) -> None:
        ext = FORMATS[self.format]
        path = next_path(self.capture_dir, 'video', ext)
        self.recorder = VideoRecorder(path, fps=self.fps)
        self.viz.log(f'recording {VIEWS[self.view]} to {path}')

    def stop_video(self) -> None:
        if self.recorder is None:
            return
        rec, self.recorder = self.recorder, None
        try:
            path = rec.close()
            self.viz.log(f'saved {path} ({rec.num_frames} frames)')
            self.last_saved = path
        except Exception as exc:  # noqa: BLE001 - the window stays up
            self.viz.log(f'video failed: {exc}', error=True)

    def on_result(self, result) -> None:
        """A new render arrived: record it if an image view is being captured."""
        if self.recorder is None or VIEWS[self.view] == 'gui':
            return
        frame = view_image(result, VIEWS[self.view])
        if frame is not None:
            self._add(frame)

    def on_gui_frame(self, pixels: np.ndarray) -> None:
        if self.recorder is not None and VIEWS[self.view] == 'gui':
            self._add(pixels)

    def _add(self, frame: np.ndarray) -> None:
        try:
            self.recorder.add(frame)
        except Exception as exc:  # noqa: BLE001
            self.viz.log(f'video failed: {exc}', error=True)
            self.recorder = None

    @property
    def wants_gui_frames(self) -> bool:
        return self.recorder is not None and VIEWS[self.view] == 'gui'

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if not show:
            return
        imgui.text('Capture dir')
        imgui.same_line(viz.label_w)
        with imgui_utils.item_width(-1):
            _, self.dir_text = imgui.input_text('##capdir', self.dir_text)
        imgui.text(' ')
        imgui.same_line(viz.label_w)
        if imgui_utils.button('Save image', enabled=viz.result is not None and viz.result.image is not None):
            self.save_image()
        viz.rect('save_image')
        imgui.same_line()
        if imgui_utils.button('Save GUI'):
            self.save_gui()
        viz.rect('save_gui')
        imgui.text('Video')
        imgui.same_line(viz.label_w)
        recording = self.recorder is not None
        with imgui_utils.grayed_out(recording):
            with imgui_utils.item_width(viz.font_size * 6):
                _, self.view = imgui.combo('##vview', self.view, list(VIEWS))
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 4):
                _, self.format = imgui.combo('##vfmt', self.format, list(FORMATS))
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 5):
                _, self.fps = imgui.slider_int('##vfps', self.fps, 1, 60, format='%d fps')
        imgui.same_line()
        if recording:
            if imgui_utils.button(f'Stop ({self.recorder.num_frames})##video'):
                self.stop_video()
        elif imgui_utils.button('Record##video'):
            self.start_video()
        viz.rect('record')
        if self.last_saved:
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            imgui.text_disabled(f'last: {self.last_saved}')
