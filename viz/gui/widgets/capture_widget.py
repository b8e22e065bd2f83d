"""Capture: directory, save the image, save a GUI screenshot (glReadPixels), record a video of any view.

Recording (viz.core.recorder): live (real time) or exact (N frames of the animation at t = k / fps, the
recording driving the app's animation clock); frames stream to disk from a writer thread. An exact recording
whose next render fails stops at once (it would wait for that render forever) and says so; recording an FFT view
switches the FFT on, and a live recording that finds no such view in the render says so instead of taking nothing.
"""

from __future__ import annotations

import threading

import numpy as np
from imgui_bundle import imgui

from gui_utils import imgui_utils
from networks.errors import UserError
from networks.image_write import save_png
from viz.core.capture import next_path, view_image
from viz.core.recorder import Recording
from viz.core.video_writer import MAX_GIF_FPS

VIEWS = ('image', 'fft', 'image+fft', 'gui')
FORMATS = ('mp4', 'gif')
MAX_EXACT_FRAMES = 100_000


class CaptureWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.dir_text = viz.capture_dir
        self.view = 0
        self.format = 0
        self.fps = 30
        self.exact = False
        self.exact_frames = 90
        self.recorder: Recording | None = None
        self._finishing: threading.Thread | None = None
        self._finished: list[tuple[str, Recording, Exception | None]] = []  # from the finishing thread
        self.last_saved = ''
        self.note = ''  # why the last recording stopped or takes nothing; shown under the Record button
        self._noted = False  # the live "no such view" note is logged once per recording

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
        self.note, self._noted = '', False
        view = VIEWS[self.view]
        if 'fft' in view and not self.viz.args.fft_show:
            # Without the FFT the render has no such view and the recording would take nothing.
            layer = getattr(self.viz, 'layer_widget', None)
            if layer is not None:
                layer.fft_show = True  # the widget owns the flag: it would set it back on its next frame
            self.viz.set_args(fft_show=True)
            self.viz.log(f'FFT switched on for the {view} recording')
        ext = FORMATS[self.format]
        path = next_path(self.capture_dir, 'video', ext)
        try:
            self.recorder = Recording(path, fps=self.fps, frames=self.exact_frames if self.exact else None)
        except UserError as exc:
            self.viz.log(str(exc), error=True)
            return
        what = f'{self.exact_frames} frames at {self.fps} fps' if self.exact else f'{self.fps} fps, live'
        self.viz.log(f'recording {VIEWS[self.view]} to {path} ({what})')

    def stop_video(self) -> None:
        """Stop taking frames; the file is finished on a thread (the queued frames still encode) and reported by
        the next frame. The thread is not a daemon: closing the window still finishes the file."""
        if self.recorder is None:
            return
        rec, self.recorder = self.recorder, None

        def finish() -> None:
            try:
                self._finished.append((rec.close(), rec, None))
            except Exception as exc:  # noqa: BLE001 - reported in the window
                self._finished.append((rec.path, rec, exc))

        self._finishing = threading.Thread(target=finish, name='video-finish')
        self._finishing.start()

    def _report_finished(self) -> None:
        while self._finished:
            path, rec, exc = self._finished.pop(0)
            if exc is not None:
                self.viz.log(f'video failed: {exc}', error=True)
                continue
            held = f', {rec.dropped} held while the encoder caught up' if rec.dropped else ''
            self.viz.log(f'saved {path} ({rec.captured} frames, {rec.seconds:.2f} s{held})')
            self.last_saved = path

    @property
    def finishing(self) -> bool:
        return self._finishing is not None and self._finishing.is_alive()

    def animation_step(self, wall_delta: float) -> float:
        """The app's animation time step this frame: an exact recording drives the animation clock."""
        return self.recorder.animation_step(wall_delta) if self.recorder is not None else wall_delta

    def render_failed(self, result) -> None:
        """The app got a failed render. If it is the one an exact recording waits for (the current state, with
        nothing to take), stop the recording: the state will not change by itself, so it would wait forever."""
        rec = self.recorder
        if rec is None or not rec.exact or result.args != self.viz.args:
            return
        view = VIEWS[self.view]
        if view != 'gui' and view_image(result, view) is not None:
            return  # the failure left a picture (e.g. the view before a failed analysis): keep recording
        if view == 'gui' and result.image is not None:
            return
        self.note = (f'recording stopped at frame {rec.captured}/{rec.target}: the render failed '
                     f'({result.error or "no image"})')
        self.viz.log(self.note, error=True)
        self.stop_video()

    def _shows_current_args(self) -> bool:
        result = self.viz.result
        return result is not None and result.args == self.viz.args

    def _take_view_frame(self) -> None:
        """Image views: take the newest result as often as frames fell due (exact: once it is current)."""
        rec = self.recorder
        if rec is None or VIEWS[self.view] == 'gui':
            return
        copies = rec.frames_due(self._shows_current_args())
        if copies:
            frame = view_image(self.viz.result, VIEWS[self.view])
            if frame is not None:
                self._add(frame, copies)
            elif rec.exact and self._shows_current_args():
                self.note = f'recording stopped: the current render has no {VIEWS[self.view]} view'
                self.viz.log(self.note, error=True)
                self.stop_video()
            elif not rec.exact and not self._noted:
                # live: nothing is taken while the view is missing (the frames due meanwhile repeat the next
                # picture); say why, once, instead of recording nothing in silence
                view = VIEWS[self.view]
                cause = ('FFT is off: switch it on (Layers)' if 'fft' in view and not self.viz.args.fft_show
                         else 'the render failed' if self._shows_current_args() else '')
                if cause:
                    self._noted = True
                    self.note = f'recording takes no frames: the render has no {view} view ({cause})'
                    self.viz.log(self.note, error=True)

    def on_gui_frame(self, pixels: np.ndarray) -> None:
        if self.recorder is not None and VIEWS[self.view] == 'gui':
            self._add(pixels, self.recorder.frames_due(self._shows_current_args()))

    def _add(self, frame: np.ndarray, copies: int) -> None:
        try:
            self.recorder.add(frame, copies)
        except Exception as exc:  # noqa: BLE001 - the window stays up
            self.viz.log(f'video failed: {exc}', error=True)
            self.stop_video()
            return
        if self.recorder.done:
            self.stop_video()

    @property
    def wants_gui_frames(self) -> bool:
        rec = self.recorder
        return rec is not None and VIEWS[self.view] == 'gui' and rec.frames_due(self._shows_current_args()) > 0

    def _status(self) -> str:
        rec = self.recorder
        if rec is None:
            return 'finishing the video...' if self.finishing else ''
        text = f'{rec.captured}/{rec.target} frames' if rec.exact else f'{rec.captured} frames'
        text += f', {rec.seconds:.1f} s'
        if rec.dropped:
            text += f'; encoder behind: {rec.dropped} frames held'
        return text

    def _combo(self, name: str, index: int, items: tuple[str, ...]) -> int:
        """A combo whose items record their rectangles (viz.rect) so tests can pick them with the mouse."""
        if imgui.begin_combo(f'##{name}', items[index]):
            for i, item in enumerate(items):
                if imgui.selectable(item, i == index)[0]:
                    index = i
                self.viz.rect(f'{name}:{item}')
            imgui.end_combo()
        self.viz.rect(name)
        return index

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        self._report_finished()
        self._take_view_frame()
        if not show:
            return
        imgui.text('Capture dir')
        imgui.same_line(viz.label_w)
        with imgui_utils.item_width(-1):
            _, self.dir_text = imgui.input_text('##capdir', self.dir_text)
        imgui_utils.tooltip('Folder for saved images, screenshots and videos (created when needed)')
        imgui.text(' ')
        imgui.same_line(viz.label_w)
        if imgui_utils.button('Save image', enabled=viz.result is not None and viz.result.image is not None):
            self.save_image()
        viz.rect('save_image')
        imgui_utils.tooltip('Save the rendered image (the shown layer or output) as a PNG (Ctrl+S)')
        imgui.same_line()
        if imgui_utils.button('Save GUI'):
            self.save_gui()
        viz.rect('save_gui')
        imgui_utils.tooltip('Save a screenshot of the whole window as a PNG')
        imgui.text('Video')
        imgui.same_line(viz.label_w)
        recording = self.recorder is not None
        with imgui_utils.grayed_out(recording):
            with imgui_utils.item_width(viz.font_size * 6):
                self.view = self._combo('video_view', self.view, VIEWS)
            imgui.set_item_tooltip('what to record: a view of the render, or the whole window (gui)')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 4):
                self.format = self._combo('video_format', self.format, FORMATS)
            imgui.set_item_tooltip('mp4 (H.264) or gif (at most 50 fps, larger files)')
            imgui.same_line()
            max_fps = MAX_GIF_FPS if FORMATS[self.format] == 'gif' else 60
            self.fps = min(self.fps, max_fps)
            with imgui_utils.item_width(viz.font_size * 5):
                _, self.fps = imgui.slider_int('##vfps', self.fps, 1, max_fps, format='%d fps')
            viz.rect('video_fps')
            imgui.set_item_tooltip('frame rate of the video (a GIF plays at most 50 fps); ctrl+click to type')
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            _, self.exact = imgui.checkbox('Exact##video', self.exact)
            viz.rect('video_exact')
            imgui.set_item_tooltip('record exactly N frames of the animation at t = k / fps, each fully rendered '
                                   '(the animation waits for the renderer); otherwise record live, in real time')
            if self.exact:
                imgui.same_line()
                with imgui_utils.item_width(viz.font_size * 5):
                    _, frames = imgui.input_int('##vframes', self.exact_frames, 0)
                imgui.set_item_tooltip('how many frames the exact recording takes before it stops by itself')
                self.exact_frames = min(max(int(frames), 1), MAX_EXACT_FRAMES)
                viz.rect('video_frames')
                imgui.same_line()
                imgui.text(f'frames = {self.exact_frames / max(self.fps, 1):.2f} s')
        imgui.same_line()
        # `###`: the ID stays the same while the label counts frames, so a press and its release (a frame or
        # more later) hit the same button; with `##` the changing count made Stop unclickable.
        if recording:
            if imgui_utils.button(f'Stop ({self.recorder.captured})###video_record'):
                self.stop_video()
            imgui_utils.tooltip('Stop recording; the frames taken so far are written to the file')
        elif imgui_utils.button('Record###video_record', enabled=not self.finishing):
            self.start_video()
        if not recording:
            imgui_utils.tooltip('Record the chosen view into a new file in the capture folder')
        viz.rect('record')
        status = self._status()
        if status:
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            imgui.text_disabled(status)
        if self.note:
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            imgui.push_text_wrap_pos(0.0)  # wrapped: a cut-off reason is no reason
            imgui_utils.text_colored(self.note, (1.0, 0.35, 0.3))
            imgui.pop_text_wrap_pos()
        if self.last_saved:
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            imgui.text_disabled(f'last: {self.last_saved}')
