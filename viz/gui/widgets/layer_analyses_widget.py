"""The paper's per-layer analyses in the window: aliasing per layer (a bar chart of each layer's energy beyond its
frequency limits) and equivariance per layer (a PSNR curve over the layers), each for the shown latent, live, or
averaged over N seeds / samples in the background with progress and Cancel under the image.

The panels (Analysis tab) set what is computed; the charts are drawn under the image (`draw_view`), from the
render's rows (`RenderResult.aliasing`, `RenderResult.layer_eq`), with ImPlot: nothing is rendered for them.
"""

from __future__ import annotations

import math

import numpy as np
from imgui_bundle import imgui, implot

from analysis.aliasing import BANDS, LOWEST_FLOOR
from analysis.layer_eq import KIND_LABELS, KINDS, OUTPUT
from gui_utils import imgui_utils
from viz.gui.widgets.spectrum_widget import analysis_status

BAND_SHORT = {'above_cutoff': '|f| > fc', 'above_stopband': '|f| > ft', 'aliases': '|f| > next s/2'}
EQ_CHOICES = ('',) + KINDS
EQ_LABELS = ('off',) + tuple(KIND_LABELS[k] for k in KINDS)
MAX_SEEDS = 1024  # the sliders' range; a session may ask for more (its own limits)


def short_name(name: str) -> str:
    """'L3_52_512' -> 'L3' (the axis has room for the index only); StyleGAN2's 'b16.conv0' stays."""
    return name.split('_')[0] if name.startswith('L') and '_' in name else name


def _finite(values) -> np.ndarray:
    return np.array([v if v is not None and math.isfinite(v) else math.nan for v in values], dtype=np.float64)


def _x_ticks(names: list[str]) -> None:
    implot.setup_axis_ticks(implot.ImAxis_.x1, [float(i) for i in range(len(names))], [short_name(n) for n in names])


def _status_line(viz, widget, name: str, what: str, shown: str | None) -> None:
    """The panel's line under an enabled analysis: where its result is (`shown`), else its error or progress
    (`analysis_status`), else that it waits."""
    imgui.text(' ')
    imgui.same_line(viz.label_w)
    if shown:
        imgui.text_disabled(shown)
    elif not analysis_status(viz, widget, name, what):
        imgui.text_disabled('waiting for the renderer' if viz.rendering else 'not computed')


class AliasingWidget:
    """Aliasing per layer: the share of each layer's energy above its cutoff, in its stopband and beyond the next
    layer's s/2."""

    def __init__(self, viz) -> None:
        self.viz = viz
        self.enabled = False
        self.seeds = 0  # 0: the shown latent and input transform

    def load_args(self, args) -> None:
        self.enabled, self.seeds = bool(args.aliasing), int(args.aliasing_seeds)

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            imgui.text('Aliasing')
            imgui.same_line(viz.label_w)
            _, self.enabled = imgui.checkbox('Per layer##alias', self.enabled)
            viz.rect('aliasing')
            imgui_utils.tooltip('Each layer\'s energy beyond its own frequency limits, as a bar chart under the image: '
                                'above the cutoff fc, beyond the stopband ft (what the filter should have removed) '
                                'and beyond the next layer\'s s/2 (what will alias when it samples)')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 8):
                _, self.seeds = imgui.slider_int('##aliasseeds', self.seeds, 0, MAX_SEEDS,
                                                 format='shown latent' if self.seeds == 0 else '%d seeds')
            viz.rect('aliasing_seeds')
            imgui_utils.tooltip('0: the shown latent under the shown input transform (one extra forward pass); '
                                'N: the mean over seeds 0..N-1 at the identity transform, in the background')
            if self.enabled:
                rows = viz.result.aliasing if viz.result is not None else None
                _status_line(viz, self, 'aliasing', 'aliasing', rows and 'bar chart under the image')
        viz.set_args(aliasing=bool(self.enabled), aliasing_seeds=int(self.seeds))

    def draw_view(self, result, width: float) -> None:
        """The bar chart: one group per layer, three bars; log scale down to the smallest fraction's power of ten."""
        rows = result.aliasing if result is not None else None
        if not rows:
            return
        names = [row['name'] for row in rows]
        values = np.stack([_finite([row[b] for row in rows]) for b in BANDS], axis=0)
        positive = values[np.isfinite(values) & (values > 0)]
        # the log scale reaches the smallest positive fraction's power of ten (as tools.aliasing's chart does)
        floor = max(10.0 ** math.floor(math.log10(positive.min())), LOWEST_FLOOR) if positive.size else 1e-6
        values = np.where(np.isfinite(values), np.maximum(values, floor), floor)
        seeds = self.seeds
        title = ('Energy beyond each layer\'s limits, '
                 + ('shown latent and transform' if seeds <= 0 else f'mean of {seeds} seeds'))
        if implot.begin_plot(f'{title}###aliasing', imgui.ImVec2(width, self.viz.font_size * 14),
                             implot.Flags_.no_menus | implot.Flags_.no_box_select):
            implot.setup_axes('', 'fraction of energy', 0, implot.AxisFlags_.auto_fit)
            implot.setup_axis_scale(implot.ImAxis_.y1, implot.Scale_.log10)
            implot.setup_axis_limits(implot.ImAxis_.y1, floor, 1.0, implot.Cond_.always)
            implot.setup_axis_limits(implot.ImAxis_.x1, -0.6, len(names) - 0.4, implot.Cond_.always)
            _x_ticks(names)
            implot.setup_legend(implot.Location_.north_west)
            implot.plot_bar_groups([BAND_SHORT[b] for b in BANDS], np.ascontiguousarray(values.ravel()), 0.75)
            implot.end_plot()
        self.viz.rect('aliasing_chart')


class LayerEqWidget:
    """Equivariance per layer: each layer's PSNR under translation or rotation of the input, in its own
    coordinates; the last point is the output, the EQ readout's (or metric's) number."""

    def __init__(self, viz) -> None:
        self.viz = viz
        self.kind = 2  # index into EQ_CHOICES: EQ-T frac (sub-pixel moves, what every StyleGAN3 is built for)
        self.enabled = False
        self.samples = 0  # 0: the shown latent under the EQ readout's transforms

    def load_args(self, args) -> None:
        self.enabled = bool(args.layer_eq)
        if args.layer_eq in EQ_CHOICES:
            self.kind = EQ_CHOICES.index(args.layer_eq) if args.layer_eq else self.kind
        self.samples = int(args.layer_eq_samples)

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            imgui.text('EQ per layer')
            imgui.same_line(viz.label_w)
            _, self.enabled = imgui.checkbox('Curve##layereq', self.enabled)
            viz.rect('layer_eq')
            imgui_utils.tooltip('The PSNR of every layer\'s feature maps against the untransformed maps moved by the '
                                'same amount in that layer\'s coordinates (StyleGAN3 only), as a curve under the '
                                'image; the last point is the output')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 6):
                _, kind = imgui.combo('##layereqkind', self.kind - 1, list(EQ_LABELS[1:]))
                self.kind = kind + 1
            imgui_utils.tooltip('EQ-T: whole output pixels; EQ-T frac: sub-pixel; EQ-R: rotation')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 8):
                _, self.samples = imgui.slider_int('##layereqn', self.samples, 0, MAX_SEEDS,
                                                   format='shown latent' if self.samples == 0 else '%d samples')
            viz.rect('layer_eq_samples')
            imgui_utils.tooltip('0: the shown latent under the EQ readout\'s transforms (its number is the last '
                                'point); N: N samples drawn as the EQ metric draws them, in the background')
            if self.enabled:
                rows = viz.result.layer_eq if viz.result is not None else None
                _status_line(viz, self, 'layer_eq', 'layer EQ',
                             rows and f'output {rows[-1]["psnr_db"]:.2f} dB (curve under the image)')
        viz.set_args(layer_eq=EQ_CHOICES[self.kind] if self.enabled else '', layer_eq_samples=int(self.samples))

    def draw_view(self, result, width: float) -> None:
        """PSNR over the layers; no error (+inf) is drawn at the top edge."""
        rows = result.layer_eq if result is not None else None
        if not rows:
            return
        names = [row['name'] for row in rows]
        psnr = _finite([row['psnr_db'] if row['psnr_db'] != math.inf else None for row in rows])
        finite = psnr[np.isfinite(psnr)]
        top = float(finite.max()) + 10 if finite.size else 100.0
        psnr = np.where([row['psnr_db'] == math.inf for row in rows], top, psnr)
        args = result.args
        kind = KIND_LABELS.get(args.layer_eq, args.layer_eq) if args is not None else ''
        how = (f'mean of {args.layer_eq_samples} samples' if args is not None and args.layer_eq_samples > 0
               else 'shown latent, the EQ readout\'s transforms')
        if implot.begin_plot(f'{kind} per layer, {how}###layereq', imgui.ImVec2(width, self.viz.font_size * 14),
                             implot.Flags_.no_menus | implot.Flags_.no_box_select | implot.Flags_.no_legend):
            implot.setup_axes('', 'PSNR (dB)', 0, implot.AxisFlags_.auto_fit)
            implot.setup_axis_limits(implot.ImAxis_.x1, -0.5, len(names) - 0.5, implot.Cond_.always)
            _x_ticks(names)
            spec = implot.Spec(marker=implot.Marker_.circle)
            implot.plot_line(kind or 'PSNR', np.arange(len(names), dtype=np.float64), psnr, spec)
            if names and names[-1] == OUTPUT:  # the output: the readout's (or metric's) own number
                implot.plot_scatter('output', np.array([len(names) - 1.0]), psnr[-1:],
                                    implot.Spec(marker=implot.Marker_.diamond, marker_size=7))
            implot.end_plot()
        self.viz.rect('layer_eq_chart')
