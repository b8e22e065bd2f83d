"""Average 2-D power spectrum panel: heatmap plus 0 and 45 degree slices (ImPlot), for the output or a layer."""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui, implot

from gui_utils import imgui_utils


class SpectrumWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.enabled = False
        self.num_seeds = 16
        self.of_layer = False
        self.dataset = ''

    def load_args(self, args) -> None:
        self.enabled = args.spectrum_seeds > 0
        self.num_seeds = int(args.spectrum_seeds) or self.num_seeds
        self.of_layer, self.dataset = bool(args.spectrum_layer), args.spectrum_dataset

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            imgui.text('Spectrum')
            imgui.same_line(viz.label_w)
            _, self.enabled = imgui.checkbox('Show##spec', self.enabled)
            viz.rect('spectrum_show')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 7):
                _, self.num_seeds = imgui.slider_int('##specn', self.num_seeds, 1, 256, format='%d seeds')
            imgui.same_line()
            _, self.of_layer = imgui.checkbox('Of layer', self.of_layer)
            imgui.text('Dataset')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(-1):
                _, self.dataset = imgui.input_text_with_hint('##specds', 'optional folder or zip to compare',
                                                             self.dataset)
            imgui.text_disabled('Kaiser beta: the FFT setting in Layers')
        viz.set_args(spectrum_seeds=int(self.num_seeds) if self.enabled else 0, spectrum_layer=bool(self.of_layer),
                     spectrum_dataset=self.dataset.strip() if self.enabled else '')

    def draw_view(self, result, width: float) -> None:
        """Heatmap and slices of `result.spectrum` (right-hand pane)."""
        spec = result.spectrum if result is not None else None
        if spec is None:
            imgui.text_disabled('computing the average spectrum...' if self.enabled else '')
            return
        tex = self.viz.textures.get('spectrum', spec['image'], nearest=False)
        size = min(width * 0.45, self.viz.font_size * 22)
        what = spec.get('layer') or 'output'
        imgui.text(f'Average power spectrum of {what}, {spec["num_seeds"]} seeds (dB, DC at the centre)')
        # Heatmap in cycles / image (y up, as the paper's figures), drawn by ImPlot from the colour-mapped texture.
        half = float(spec['freqs'][-1]) if len(spec['freqs']) else 0.5
        if implot.begin_plot('Heatmap##spec', imgui.ImVec2(size, size), implot.Flags_.equal | implot.Flags_.no_legend):
            implot.setup_axes('cycles / image', '', 0, 0)
            implot.setup_axes_limits(-half, half, -half, half, implot.Cond_.always)
            implot.plot_image('##specimg', imgui.ImTextureRef(tex.gl_id), implot.Point(-half, -half),
                              implot.Point(half, half))
            implot.end_plot()
        imgui.same_line()
        if implot.begin_plot('Slices##spec', imgui.ImVec2(-1, size)):
            implot.setup_axes('cycles / image', 'dB', implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            freqs = np.ascontiguousarray(spec['freqs'], np.float64)
            implot.plot_line('0 deg', freqs, np.ascontiguousarray(spec['deg0'], np.float64))
            implot.plot_line('45 deg', freqs, np.ascontiguousarray(spec['deg45'], np.float64))
            if 'dataset_deg0' in spec:
                dfreqs = np.ascontiguousarray(spec['dataset_freqs'], np.float64)
                implot.plot_line('dataset 0 deg', dfreqs, np.ascontiguousarray(spec['dataset_deg0'], np.float64))
                implot.plot_line('dataset 45 deg', dfreqs, np.ascontiguousarray(spec['dataset_deg45'], np.float64))
            implot.end_plot()
