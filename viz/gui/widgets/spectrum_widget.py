"""Average 2-D power spectrum panel: NVlabs' absolute-dB heatmap with a colour bar, and slices to the Nyquist edge
(0 degrees) and the corner (45 degrees), for the output or a layer; optional dataset comparison.

NVlabs' definition (`analysis.spectra`) is the default; the whitened variant is a labelled option. Also
the analyses' one progress / Cancel line under the image (`analysis_progress`) and each one's error where its
value goes (`analysis_status`).
"""

from __future__ import annotations

import numpy as np
from imgui_bundle import imgui, implot

from analysis.spectra import DEFINITIONS
from gui_utils import imgui_utils
from viz.core.analysis_cache import PCA_PROGRESS, analysis_keys

RED = imgui_utils.RED
DEFINITION_NAMES = tuple(DEFINITIONS)  # 'nvlabs', 'whitened'
DEFINITION_LABELS = ("NVlabs' definition (uint8 output)", 'WHITENED per image (not NVlabs\')')
# StyleGAN2 noise for the spectrum (RenderArgs.spectrum_noise_mode): None follows the definition.
NOISE_MODES = (None, 'random', 'const')
NOISE_LABELS = ("the definition's (NVlabs: fresh per image)", 'fresh per image (random)', 'the fixed maps (const)')


# The analyses the renderer reports progress for (AsyncRenderer.progress names them by `what`): their key in
# RenderResult.analysis_errors, and the app attribute of the widget that switches each on.
ANALYSES = {'spectrum': ('spectrum', 'spectrum_widget'), 'EQ readout': ('eq', 'eq_readout_widget'),
            'sticking': ('sticking', 'sticking_widget'), 'aliasing': ('aliasing', 'aliasing_widget'),
            'layer EQ': ('layer_eq', 'layer_eq_widget')}


def analysis_progress(viz) -> bool:
    """The one place of every analysis's progress: "computing <what>: k of N" and a Cancel button that stops it
    and switches it off (the view pane, under the image); also a network's first PCA (its directions), which has
    no Cancel. Returns whether something is being computed."""
    progress = viz.async_renderer.progress
    if progress is not None and progress[0] == PCA_PROGRESS:
        _what, done, total = progress
        imgui.text_disabled(f'computing the PCA directions of this network, the first time: {done} of {total} '
                            'samples of w (kept on disk after)')
        viz.rect('pca_progress')
        return True
    if progress is None or progress[0] not in ANALYSES:
        return False
    what, done, total = progress
    name, widget_name = ANALYSES[what]
    imgui.text(f'computing {what}: {done} of {total}')
    imgui.same_line()
    if imgui.small_button(f'Cancel###cancel_{name}'):
        viz.async_renderer.cancel_analysis()
        getattr(viz, widget_name).enabled = False
    imgui_utils.tooltip(f'Stop the {what} and switch it off (the view stays)')
    viz.rect(f'{name}_cancel')
    return True


def analysis_status(viz, widget, name: str, what: str) -> bool:
    """Draw the state of analysis `name` when it has no value yet, where its value goes: its error (red,
    wrapped), or a pointer to the progress line under the image (`analysis_progress`). Returns whether it drew
    something."""
    result = viz.result
    error = None
    if result is not None and result.args is not None:
        # The shown result's error, while the analysis it is about is still the one asked for.
        asked = analysis_keys(viz.args, viz.args.layer_name).get(name)
        if asked is not None and asked == analysis_keys(result.args, result.args.layer_name).get(name):
            error = result.analysis_errors.get(name)
    if error:
        imgui.push_text_wrap_pos(0.0)
        imgui_utils.text_colored(error, RED)
        imgui.pop_text_wrap_pos()
        viz.rect(f'{name}_error')
        return True
    progress = viz.async_renderer.progress
    if progress is not None and progress[0] == what:
        imgui.text_disabled(f'computing {what} (progress and Cancel under the image)')
        return True
    return False


class SpectrumWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.enabled = False
        self.num_seeds = 16
        self.of_layer = False
        self.dataset = ''
        self.definition = DEFINITION_NAMES[0]
        self.noise_mode = None

    def load_args(self, args) -> None:
        self.enabled = args.spectrum_seeds > 0
        self.num_seeds = int(args.spectrum_seeds) or self.num_seeds
        self.of_layer, self.dataset = bool(args.spectrum_layer), args.spectrum_dataset
        self.definition = args.spectrum_definition
        self.noise_mode = args.spectrum_noise_mode

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            imgui.text('Spectrum')
            imgui.same_line(viz.label_w)
            _, self.enabled = imgui.checkbox('Show##spec', self.enabled)
            viz.rect('spectrum_show')
            imgui_utils.tooltip('Compute the average power spectrum over seeds 0..N-1 (after the view is shown)')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 7):
                _, self.num_seeds = imgui.slider_int('##specn', self.num_seeds, 1, 256, format='%d seeds')
            viz.rect('spectrum_seeds')
            imgui_utils.tooltip('How many seeds the spectrum averages (ctrl+click to type)')
            imgui.same_line()
            _, self.of_layer = imgui.checkbox('Of layer', self.of_layer)
            imgui_utils.tooltip('Spectrum of the selected layer instead of the output image')
            imgui.text('Definition')
            imgui.same_line(viz.label_w)
            index = DEFINITION_NAMES.index(self.definition) if self.definition in DEFINITION_NAMES else 0
            with imgui_utils.item_width(-1):
                changed, index = imgui.combo('##specdef', index, list(DEFINITION_LABELS))
            viz.rect('spectrum_definition')
            imgui_utils.tooltip('NVlabs\' definition (uint8 output, dataset mean / std) or each image whitened')
            if changed:
                self.definition = DEFINITION_NAMES[index]
            imgui.text('Noise')
            imgui.same_line(viz.label_w)
            index = NOISE_MODES.index(self.noise_mode) if self.noise_mode in NOISE_MODES else 0
            with imgui_utils.item_width(-1):
                changed, index = imgui.combo('##specnoise', index, list(NOISE_LABELS))
            viz.rect('spectrum_noise_mode')
            imgui_utils.tooltip('StyleGAN2 only (StyleGAN3 has no noise inputs): fresh noise for every image, as '
                                'NVlabs\' avg_spectra, or the network\'s fixed noise maps in every image')
            if changed:
                self.noise_mode = NOISE_MODES[index]
            imgui.text('Dataset')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(-1):
                _, self.dataset = imgui.input_text_with_hint('##specds', 'optional folder or zip to compare',
                                                             self.dataset)
            viz.rect('spectrum_dataset')
            imgui_utils.tooltip('A folder or zip of training images: its spectrum is shown beside the network\'s')
        viz.set_args(spectrum_seeds=int(self.num_seeds) if self.enabled else 0, spectrum_layer=bool(self.of_layer),
                     spectrum_dataset=self.dataset.strip() if self.enabled else '',
                     spectrum_definition=self.definition, spectrum_noise_mode=self.noise_mode)

    def draw_view(self, result, width: float) -> None:
        """Heatmap, colour bar and slices of `result.spectrum` (right-hand pane)."""
        spec = result.spectrum if result is not None else None
        if spec is None:
            if not analysis_status(self.viz, self, 'spectrum', 'spectrum') and self.enabled:
                imgui.text_disabled('average spectrum: waiting for the renderer')
            return
        viz = self.viz
        size = min(width * 0.4, viz.font_size * 22)
        what = spec.get('layer') or 'output'
        imgui.text(f'Average power spectrum of {what}, {spec["num_seeds"]} seeds: absolute dB, {spec["label"]}')
        viz.rect('spectrum_title')
        if spec.get('noise'):  # a StyleGAN2 network: which noise its images had
            imgui.text(spec['noise'])
            viz.rect('spectrum_noise')
        # Heatmap in cycles / image (y up, as the paper's figures), drawn by ImPlot from the colour-mapped texture.
        tex = viz.textures.get('spectrum', spec['image'], nearest=False)
        half = float(spec['extent'])
        if implot.begin_plot('Heatmap##spec', imgui.ImVec2(size, size), implot.Flags_.equal | implot.Flags_.no_legend):
            implot.setup_axes('cycles / image', 'cycles / image', 0, 0)
            implot.setup_axes_limits(-half, half, -half, half, implot.Cond_.always)
            implot.plot_image('##specimg', imgui.ImTextureRef(tex.gl_id), implot.Point(-half, -half),
                              implot.Point(half, half))
            implot.end_plot()
        imgui.same_line()
        bar = viz.textures.get('spectrum_colorbar', spec['colorbar'])
        bar_h = size * 0.9
        imgui.image(imgui.ImTextureRef(bar.gl_id), imgui.ImVec2(bar_h * bar.width / max(bar.height, 1), bar_h))
        viz.rect('spectrum_colorbar')
        imgui.same_line()
        if implot.begin_plot('Slices##spec', imgui.ImVec2(-1, size)):
            implot.setup_axes('cycles / image', 'dB', implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            curves = [('', 'freqs', 'deg0', '0 deg'), ('', 'freqs45', 'deg45', '45 deg (to the corner)')]
            if 'dataset_deg0' in spec:
                curves += [('dataset_', 'freqs', 'deg0', 'dataset 0 deg'),
                           ('dataset_', 'freqs45', 'deg45', 'dataset 45 deg')]
            for prefix, fkey, vkey, label in curves:
                implot.plot_line(label, np.ascontiguousarray(spec[prefix + fkey], np.float64),
                                 np.ascontiguousarray(spec[prefix + vkey], np.float64))
            implot.end_plot()
