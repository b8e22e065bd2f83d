"""Keyframes: add the current state, reorder, delete, play the loop (cubic or slerp), export it as a video, and
keep it in a session file. Playback sets the render arguments of each frame (`viz.core.keyframes.state_at`);
export renders in a background job with a renderer of its own."""

from __future__ import annotations

import dataclasses

from imgui_bundle import imgui

from gui_utils import imgui_utils
from networks.errors import UserError
from viz.core.capture import next_path
from viz.core.jobs import Job, keyframe_export_job
from viz.core.keyframes import NUMBERS, Keyframe, keyframe_from_dict, keyframe_of, keyframe_to_dict, state_at
from viz.core.session import load_keyframes, save_session

KINDS = ('cubic', 'slerp')
FORMATS = ('mp4', 'gif')
PLAYED = ('latent', 'latent_file', 'directions', *NUMBERS, 'mirror_x', 'mirror_y')  # the fields playback drives
# Widgets that show played fields: they take each played state, so their controls show what plays.
SHOWN_BY = ('transform_widget', 'warp_widget', 'trunc_noise_widget', 'directions_widget')


class KeyframesWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.keyframes: list[Keyframe] = []
        self.labels: list[str] = []
        self.kind = 0
        self.frames_per_key = 30
        self.format = 0
        self.playing = False
        self.t = 0.0
        self._before_play: dict | None = None
        self.job: Job | None = None
        self._reported: Job | None = None
        self.session_path = ''

    def add(self) -> None:
        viz = self.viz
        try:
            kf = keyframe_of(viz.args, viz.result if viz.result is not None and viz.result.args == viz.args else None)
        except UserError as exc:
            viz.log(f'keyframe: {exc} (wait for the render to finish)', error=True)
            return
        self.keyframes.append(kf)
        seeds = ','.join(str(s) for s, _w in viz.args.w0_seeds)
        self.labels.append('latent' if (viz.args.latent or viz.args.latent_file) else f'seed {seeds}')

    def row_text(self, i: int) -> str:
        """What keyframe `i` holds, in one line: its source, the input transform and psi where not neutral,
        the direction edits and mirror flags."""
        kf = self.keyframes[i]
        values = dict(zip(NUMBERS, kf.numbers))
        parts = [self.labels[i]]
        if values['translate_x'] or values['translate_y']:
            parts.append(f'move {values["translate_x"]:+.3f},{values["translate_y"]:+.3f}')
        if values['rotate']:
            parts.append(f'rot {values["rotate"]:+.1f} deg')
        if values['input_scale'] != 1.0 or values['shear_x'] or values['shear_y']:
            parts.append(f'scale {values["input_scale"]:.2f} shear {values["shear_x"]:+.2f},{values["shear_y"]:+.2f}')
        mirrored = ''.join(axis for axis, on in zip('xy', kf.mirror) if on)
        if mirrored:
            parts.append(f'mirror {mirrored}')
        parts.append(f'psi {values["trunc_psi"]:.2f}')
        if kf.directions:
            parts.append(f'{len(kf.directions)} edits')
        return ', '.join(parts)

    def jump(self, i: int) -> None:
        """Show keyframe `i` (stops playback): the state the loop passes through at that keyframe."""
        self.stop_playing()
        problem = self.misfit()
        if problem:
            self.viz.log(problem, error=True)
            return
        # a loop needs two keyframes; one alone is shown as the loop of itself twice, at its own frame
        keyframes = self.keyframes if len(self.keyframes) >= 2 else self.keyframes * 2
        state = state_at(self.viz.args, keyframes, i, KINDS[self.kind])
        self.viz.set_args(**{name: getattr(state, name) for name in PLAYED})
        self._show_played()

    def move(self, i: int, step: int) -> None:
        j = i + step
        if 0 <= i < len(self.keyframes) and 0 <= j < len(self.keyframes):
            for seq in (self.keyframes, self.labels):
                seq[i], seq[j] = seq[j], seq[i]

    def delete(self, i: int) -> None:
        del self.keyframes[i], self.labels[i]
        if len(self.keyframes) < 2:
            self.stop_playing()

    def misfit(self) -> str | None:
        """Why the keyframes cannot play on the network shown (their w+ has another size: taken on another
        network), or None. Unknown until the network has rendered once."""
        network = self.viz.network or {}
        num_ws, w_dim = network.get('num_ws'), network.get('w_dim')
        if not self.keyframes or not num_ws or not w_dim:
            return None
        size = len(self.keyframes[0].latent)
        if size != num_ws * w_dim:
            return (f'keyframes: they hold latents of {size} numbers, this network takes {num_ws} x {w_dim}: they '
                    'were taken on another network (load it again, or clear them and add new ones)')
        return None

    def play(self) -> None:
        if len(self.keyframes) < 2:
            self.viz.log('keyframes: add at least 2 to play a loop', error=True)
            return
        problem = self.misfit()
        if problem:
            self.viz.log(problem, error=True)
            return
        self._before_play = {name: getattr(self.viz.args, name) for name in PLAYED}
        self.playing, self.t = True, 0.0

    def stop_playing(self) -> None:
        if self.playing and self._before_play is not None:
            self.viz.set_args(**self._before_play)
            self._show_played()
        self.playing = False

    def _show_played(self) -> None:
        for name in SHOWN_BY:
            widget = getattr(self.viz, name, None)
            if widget is not None:
                widget.load_args(self.viz.args)

    def export(self) -> None:
        viz = self.viz
        if len(self.keyframes) < 2 or (self.job is not None and not self.job.done):
            return
        viz.clear_error('keyframes')        # the last export's error is history once a new one starts
        path = next_path(viz.capture_dir, 'loop', FORMATS[self.format])
        base = dataclasses.replace(viz.args, spectrum_seeds=0, eq_readout=False, sticking=False)
        self.job = keyframe_export_job(base, list(self.keyframes), path, int(self.frames_per_key), KINDS[self.kind])
        viz.log(f'exporting the keyframe loop to {path}')

    def save(self) -> str:
        path = next_path(self.viz.capture_dir, 'keyframes', 'json')
        save_session(path, self.viz.args, keyframes=[keyframe_to_dict(kf) for kf in self.keyframes])
        self.session_path = path
        self.viz.log(f'saved the session with {len(self.keyframes)} keyframes: {path}')
        return path

    def load(self, path: str) -> None:
        try:
            self.keyframes = [keyframe_from_dict(d) for d in load_keyframes(path)]
        except UserError as exc:  # SessionError or FileReadError: any file content ends here, as one line
            self.viz.log(f'keyframes: {exc}', error=True)
            return
        self.labels = [f'from {path}'] * len(self.keyframes)

    def test_state(self) -> dict:
        job = self.job
        return dict(count=len(self.keyframes), playing=self.playing, t=self.t,
                    export_done=job is not None and job.done, export_error=job.error if job else None,
                    export_result=job.result if job else None, export_progress=job.progress if job else 0.0)

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        job = self.job
        if job is not None and job.done and self._reported is not job:
            self._reported = job
            viz.log(f'keyframe export: {job.error}' if job.error else f'keyframe loop written ({job.result} frames)',
                    error=bool(job.error), source='keyframes')
        if show:
            imgui.text('Keyframes')
            imgui.same_line(viz.label_w)
            if imgui_utils.button('Add current##kf'):
                self.add()
            imgui_utils.tooltip('Add the current state (w+, direction strengths, transform, psi) as a keyframe')
            viz.rect('kf_add')
            imgui.same_line()
            label = 'Stop###kfplay' if self.playing else 'Play###kfplay'
            if imgui_utils.button(label, enabled=len(self.keyframes) >= 2):
                if self.playing:
                    self.stop_playing()
                else:
                    self.play()
            imgui_utils.tooltip('Play the loop through the keyframes (seamless at the wrap)')
            viz.rect('kf_play')
            imgui.same_line()
            exporting = job is not None and not job.done
            if imgui_utils.button('Export##kf', enabled=len(self.keyframes) >= 2 and not exporting):
                self.export()
            imgui_utils.tooltip('Export the loop as a video (MP4 or GIF) in the background')
            viz.rect('kf_export')
            imgui.same_line()
            if imgui_utils.button('Save##kf', enabled=bool(self.keyframes)):
                self.save()
            imgui_utils.tooltip('Save the keyframes in a session file')
            viz.rect('kf_save')
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(viz.font_size * 5):
                _, self.kind = imgui.combo('##kfkind', self.kind, list(KINDS))
                imgui_utils.tooltip('Interpolation: periodic Catmull-Rom in W, or slerp')
                imgui.same_line()
                _, self.frames_per_key = imgui.input_int('frames/key##kf', self.frames_per_key, 0)
                viz.rect('kf_frames')
                imgui_utils.tooltip('Frames from one keyframe to the next')
                self.frames_per_key = min(max(int(self.frames_per_key), 1), 3600)
                imgui.same_line()
                _, self.format = imgui.combo('##kffmt', self.format, list(FORMATS))
                imgui_utils.tooltip('Video format of the export')
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(-viz.button_w - viz.spacing):
                _, self.session_path = imgui.input_text_with_hint('##kfsession', 'session file with keyframes',
                                                                  self.session_path)
                imgui_utils.tooltip('A session file whose keyframes to load')
            imgui.same_line()
            if imgui_utils.button('Load##kf', viz.button_w, enabled=bool(self.session_path)):
                self.load(self.session_path)
            imgui_utils.tooltip('Load the keyframes of that session file')
            viz.rect('kf_load')
            if job is not None:
                imgui.text(' ')
                imgui.same_line(viz.label_w)
                imgui.progress_bar(job.progress, imgui.ImVec2(-1, 0), f'{job.progress:.0%}')
                imgui.text(' ')
                imgui.same_line(viz.label_w)
                imgui_utils.wrapped_status(job.error or job.status, error=bool(job.error))
            for i in range(len(self.labels)):
                imgui.text(f'  {i}')
                imgui.same_line(viz.label_w)
                if imgui.small_button(f'show##kf{i}'):
                    self.jump(i)
                viz.rect(f'kf_show:{i}')
                imgui_utils.tooltip('Show this keyframe (stops playback)')
                imgui.same_line()
                if imgui.small_button(f'up##kf{i}'):
                    self.move(i, -1)
                imgui_utils.tooltip('Move this keyframe up')
                imgui.same_line()
                if imgui.small_button(f'down##kf{i}'):
                    self.move(i, 1)
                imgui_utils.tooltip('Move this keyframe down')
                imgui.same_line()
                if imgui.small_button(f'del##kf{i}'):
                    self.delete(i)
                    break
                imgui_utils.tooltip('Delete this keyframe')
                imgui.same_line()
                imgui.text_disabled(self.row_text(i))
        if self.playing and len(self.keyframes) >= 2:
            problem = self.misfit()          # another network was loaded while playing: stop, and say so once
            if problem:
                self.stop_playing()
                viz.log(problem.replace('keyframes:', 'keyframes: playback stopped:', 1), error=True)
                return
            fps = 30.0  # playback at the export's frame rate: frames_per_key frames per keyframe
            self.t = (self.t + viz.frame_delta * fps / self.frames_per_key) % len(self.keyframes)
            state = state_at(viz.args, self.keyframes, self.t, KINDS[self.kind])
            viz.set_args(**{name: getattr(state, name) for name in PLAYED})
            self._show_played()
