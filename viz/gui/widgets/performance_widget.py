"""Performance: GUI and render time plots (ImPlot), FPS limit, vsync, device and precision."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui, implot

from gui_utils import imgui_utils
from ops import plugin as ops_plugin

DEVICES = ('cpu', 'cuda', 'mps')


def available_devices(current: str = 'cpu') -> tuple[str, ...]:
    """The devices this torch build can run on (CPU always; CUDA and MPS when present), plus `current` (a session
    may name a device this machine lacks: it stays visible, and rendering on it gives its error)."""
    import torch
    found = ['cpu']
    if torch.cuda.is_available():
        found.append('cuda')
    mps = getattr(torch.backends, 'mps', None)
    if mps is not None and mps.is_available():
        found.append('mps')
    if current in DEVICES and current not in found:
        found.append(current)
    return tuple(found)
PRECISIONS = ('float32', 'bfloat16', 'float16')


class PerformanceWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.fps_limit = 60
        self.vsync = False
        self.devices = available_devices(viz.args.device)
        self.device = self.devices.index(viz.args.device) if viz.args.device in self.devices else 0
        self.precision = 0
        self.gui_times = np.zeros(240, np.float32)
        self.render_times = np.zeros(240, np.float32)
        self._render_count = 0

    def set_device(self, device: str) -> None:
        self.devices = available_devices(device)
        self.device = self.devices.index(device) if device in self.devices else 0

    def load_args(self, args) -> None:
        self.set_device(args.device)
        self.precision = PRECISIONS.index(args.precision) if args.precision in PRECISIONS else 0

    def record_render(self, timings: dict) -> None:
        """Add a result's time to the render plot and rate, if the network ran for it: a view of the cached
        synthesis (another layer or FFT setting) takes a few milliseconds and would report a render rate of
        hundreds of frames a second that no seed change reaches."""
        if timings.get('synthesis', 0.0) <= 0.0:
            return
        self.render_times = np.roll(self.render_times, -1)
        self.render_times[-1] = timings.get('total', 0.0) * 1000
        self._render_count += 1

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        self.gui_times = np.roll(self.gui_times, -1)
        # the real frame time: frame_delta is the animation step, which an exact recording sets to 0 or 1 / fps
        self.gui_times[-1] = viz.wall_delta * 1000
        if show:
            recent = self.gui_times[-60:]
            fps = 1000.0 / max(float(recent[recent > 0].mean()) if (recent > 0).any() else 1.0, 1e-3)
            renders = self.render_times[self.render_times > 0][-20:]
            imgui.text('GUI')
            imgui.same_line(viz.label_w)
            imgui.text(f'{fps:6.1f} fps  {1000 / max(fps, 1e-3):6.2f} ms/frame')
            imgui.text('Render')
            imgui.same_line(viz.label_w)
            if len(renders):
                imgui.text(f'{1000 / renders.mean():6.2f} fps  {renders.mean():6.1f} ms/render')
            else:
                imgui.text('-')
            if implot.begin_plot('##perf', imgui.ImVec2(-1, viz.font_size * 8),
                                 implot.Flags_.no_menus | implot.Flags_.no_box_select):
                implot.setup_axes('', 'ms', implot.AxisFlags_.no_tick_labels, implot.AxisFlags_.auto_fit)
                implot.setup_axis_limits(implot.ImAxis_.x1, 0, len(self.gui_times), implot.Cond_.always)
                implot.plot_line('GUI frame', self.gui_times)
                implot.plot_line('render', self.render_times)
                implot.end_plot()
            imgui.text('FPS limit')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(viz.font_size * 8):
                _, self.fps_limit = imgui.slider_int('##fps', self.fps_limit, 0, 240,
                                                     format='%d fps' if self.fps_limit else 'off')
            imgui_utils.tooltip('Most GUI frames per second (0: no limit); lower leaves more CPU to the renderer')
            imgui.same_line()
            _, self.vsync = imgui.checkbox('Vertical sync', self.vsync)
            imgui_utils.tooltip('Wait for the screen refresh before showing a frame')
            imgui.same_line()
            if imgui_utils.button('Reset##perf', enabled=(self.fps_limit, self.vsync) != (60, False)):
                self.fps_limit, self.vsync = 60, False
            imgui_utils.tooltip('60 fps, no vertical sync')
            imgui.text('Device')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(viz.font_size * 6):
                _, self.device = imgui.combo('##device', self.device, list(self.devices))
            imgui_utils.tooltip('Where the network runs (an unusable device gives an error and stays on the last)')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 6):
                _, self.precision = imgui.combo('##precision', self.precision, list(PRECISIONS))
            imgui_utils.tooltip('Arithmetic precision of the network (float16/bfloat16: faster on GPUs, less exact)')
            # e.g. 'impl=auto, CUDA kernels building' / 'fused CPU filtered_lrelu ready, Winograd CPU convolution ready'
            for i, line in enumerate(ops_plugin.describe().splitlines()):
                imgui.text('Ops' if i == 0 else '')
                imgui.same_line(viz.label_w)
                imgui.text(line)
        viz.window.fps_limit = float(self.fps_limit)
        viz.window.set_vsync(bool(self.vsync))
        viz.set_args(device=self.devices[self.device], precision=PRECISIONS[self.precision])
