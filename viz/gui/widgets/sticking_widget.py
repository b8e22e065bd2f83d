"""Texture-sticking view (paper Fig. 1): neighbourhood average of images, and the slice streak; progress, cancel
and error while it has none."""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils import imgui_utils
from viz.gui.widgets.spectrum_widget import analysis_status


class StickingWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.enabled = False
        self.radius = 0.5
        self.num = 8
        self.frames = 32

    def load_args(self, args) -> None:
        self.enabled, self.radius = bool(args.sticking), float(args.sticking_radius)
        self.num, self.frames = int(args.sticking_num), int(args.sticking_frames)

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            imgui.text('Sticking')
            imgui.same_line(viz.label_w)
            _, self.enabled = imgui.checkbox('Show##stick', self.enabled)
            viz.rect('sticking_show')
            imgui_utils.tooltip('Texture sticking of the seed (paper Fig. 1): neighbourhood average and slice streak')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 5):
                _, self.radius = imgui.slider_float('##strad', self.radius, 0.05, 2.0, format='r %.2f')
            imgui_utils.tooltip('Radius of the z neighbourhood the average is taken over (also sets the walk length)')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 5):
                _, self.num = imgui.slider_int('##stnum', self.num, 2, 64, format='%d imgs')
            imgui_utils.tooltip('How many neighbouring latents the average is taken over')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 5):
                _, self.frames = imgui.slider_int('##stfr', self.frames, 4, 256, format='%d frames')
            imgui_utils.tooltip('Frames of a short walk from the seed, z to z + 4 radius z(seed + 1) (as python -m '
                                'tools.sticking); their middle columns form the streak')
        viz.set_args(sticking=bool(self.enabled), sticking_radius=float(self.radius), sticking_num=int(self.num),
                     sticking_frames=int(self.frames))

    def draw_view(self, result, width: float) -> None:
        views = result.sticking if result is not None else None
        if views is None:
            if not analysis_status(self.viz, self, 'sticking', 'sticking') and self.enabled:
                imgui.text_disabled('texture-sticking view: waiting for the renderer')
            return
        size = min(width * 0.45, self.viz.font_size * 22)
        imgui.text('Neighbourhood average (sharp = sticking)')
        imgui.same_line(size + self.viz.spacing * 3)
        imgui.text('Slice streak (one column per frame)')
        avg = self.viz.textures.get('stick_avg', views['average'])
        streak = self.viz.textures.get('stick_streak', views['streak'])
        imgui.image(imgui.ImTextureRef(avg.gl_id), imgui.ImVec2(size, size))
        imgui.same_line()
        h = size
        w = h * streak.width / max(streak.height, 1)
        imgui.image(imgui.ImTextureRef(streak.gl_id), imgui.ImVec2(w, h))
