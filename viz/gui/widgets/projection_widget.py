"""Project an image into W / W+: target path, steps, space, the D-feature loss; live reconstruction, progress bar,
stop button.

The work runs in a :class:`viz.core.jobs.Job` (its own thread and its own copy of the network); this widget
only starts it, draws what it publishes and, when it ends, makes the written projected_w.npz the current latent.
"""

from __future__ import annotations

import os

from imgui_bundle import imgui

from gui_utils import imgui_utils
from networks.errors import UserError
from viz.core.capture import next_path
from viz.core.jobs import Job, projection_job

SPACES = ('w', 'w+')


class ProjectionWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.target = ''
        self.steps = 200
        self.space = 1  # index into SPACES
        self.use_d = True  # the snapshot's D features in the loss, when the pickle has a D (the status says)
        self.job: Job | None = None
        self._applied: Job | None = None
        self._job_pkl = ''   # the network the job projects into: its preview is shown only beside it

    def set_target(self, path: str) -> None:
        """Make ``path`` the target (an image dropped on the window); the projection starts with Start."""
        self.target = path
        self.viz.log(f'projection target: {path} (press Start under Explore > Project)')

    def start(self) -> None:
        viz = self.viz
        if self.job is not None and not self.job.done:
            return
        viz.clear_error('projection')       # the last projection's error is history once a new one starts
        try:
            out = next_path(viz.capture_dir, 'projected_w', 'npz')
            self.job = projection_job(viz.args.pkl, self.target, out, SPACES[self.space], int(self.steps),
                                      viz.args.device, viz.args.class_idx, use_d=self.use_d)
            self._job_pkl = viz.args.pkl
        except (UserError, OSError) as exc:
            viz.log(f'projection: {exc}', error=True, source='projection')

    def _finish(self) -> None:
        job = self.job
        if job is None or not job.done or self._applied is job:
            return
        self._applied = job
        if job.error:
            self.viz.log(f'projection failed: {job.error}', error=True, source='projection')
        elif job.result:
            self.viz.set_args(latent_file=str(job.result), latent=())
            self.viz.log(f'projection {job.status}: {os.path.basename(str(job.result))} is the current latent')

    def test_state(self) -> dict:
        job = self.job
        return dict(target=self.target, steps=int(self.steps), use_d=self.use_d,
                    running=job is not None and not job.done,
                    progress=job.progress if job else 0.0, status=job.status if job else '',
                    error=job.error if job else None, result=job.result if job else None)

    def __call__(self, show: bool = True) -> None:
        self._finish()
        if not show:
            return
        viz = self.viz
        job = self.job
        running = job is not None and not job.done
        imgui.text('Project')
        imgui.same_line(viz.label_w)
        with imgui_utils.item_width(-viz.button_w - viz.spacing):
            _, self.target = imgui.input_text_with_hint('##projtarget', 'target image (.png, .jpg)', self.target)
            imgui_utils.tooltip('The image to project into the network (or drop an image on the window)')
        viz.rect('project_target')
        imgui.same_line()
        if imgui_utils.button('Stop###proj' if running else 'Start###proj', viz.button_w,
                              enabled=running or bool(self.target)):
            if running:
                job.stop()
            else:
                self.start()
        imgui_utils.tooltip('Start the projection (it runs in the background), or stop it; '
                            'the result becomes the current latent')
        viz.rect('project_stop' if running else 'project_start')
        imgui.text(' ')
        imgui.same_line(viz.label_w)
        with imgui_utils.item_width(viz.font_size * 6), imgui_utils.grayed_out(running):
            _, self.steps = imgui.input_int('Steps##proj', self.steps, 50)
            imgui_utils.tooltip('Optimisation steps')
            viz.rect('project_steps')
            self.steps = min(max(int(self.steps), 1), 100_000)
            imgui.same_line()
            _, self.space = imgui.combo('Space##proj', self.space, list(SPACES))
            imgui_utils.tooltip('W: one w for every layer; W+: one w per layer (closer fits)')
            imgui.same_line()
            _, self.use_d = imgui.checkbox('D features##proj', self.use_d)
            imgui_utils.tooltip("Add the snapshot's own discriminator features to the loss (a perceptual term, "
                                'evaluated every 4th step), when the pickle has a D; the status line says which '
                                'terms are used')
            viz.rect('project_use_d')
        if job is not None:
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            imgui.progress_bar(job.progress, imgui.ImVec2(-1, 0), f'{job.progress:.0%}')
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            imgui_utils.wrapped_status(job.error or job.status, error=bool(job.error))
            viz.rect('project_progress')
            if job.preview is not None and self._job_pkl == viz.args.pkl:   # not another network's picture
                imgui.text(' ')
                imgui.same_line(viz.label_w)
                tex = viz.textures.get('projection', job.preview)
                side = viz.font_size * 8
                imgui.image(imgui.ImTextureRef(tex.gl_id), imgui.ImVec2(side, side))
                viz.rect('project_preview')
        if viz.args.latent_file or viz.args.latent:
            imgui.text('Latent')
            imgui.same_line(viz.label_w)
            name = os.path.basename(viz.args.latent_file) if viz.args.latent_file else 'explicit vector'
            imgui.text_disabled(name)
            imgui.same_line()
            if imgui_utils.button('Use seeds##proj'):
                viz.set_args(latent_file='', latent=())
                viz.log(f'showing seeds again ({name} no longer overrides them)')
            imgui_utils.tooltip('Leave the explicit latent and show the seeds again')
            viz.rect('project_clear')
