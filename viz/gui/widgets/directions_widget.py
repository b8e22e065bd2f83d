"""Latent directions: sliders on the network's top PCA axes (GANSpace), a user direction file, layer presets,
reset and save. Writes only `RenderArgs.directions`; a slider at 0 adds no edit at all."""

from __future__ import annotations

from imgui_bundle import imgui

from analysis.directions import save_edit
from gui_utils import imgui_utils
from viz.core.capture import next_path
from viz.core.render_types import LAYER_PRESETS

NUM_SLIDERS = 6
MAX_STRENGTH = 5.0  # standard deviations of W along the axis


class DirectionsWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.strengths = [0.0] * NUM_SLIDERS
        self.layers = [0] * NUM_SLIDERS  # index into LAYER_PRESETS
        self.file = ''
        self.file_index = 0
        self.file_strength = 0.0
        self.file_layers = 0

    def edits(self) -> tuple[tuple[str, int, float, str], ...]:
        """The edits with a non-zero strength, PCA axes first."""
        out = [('pca', i, float(s), LAYER_PRESETS[self.layers[i]]) for i, s in enumerate(self.strengths) if s != 0]
        if self.file and self.file_strength != 0:
            out.append((self.file, int(self.file_index), float(self.file_strength), LAYER_PRESETS[self.file_layers]))
        return tuple(out)

    def load_args(self, args) -> None:
        self.strengths = [0.0] * NUM_SLIDERS
        self.file_strength = 0.0
        for src, idx, strength, layers in args.directions:
            preset = LAYER_PRESETS.index(layers) if layers in LAYER_PRESETS else 0
            if src == 'pca' and 0 <= idx < NUM_SLIDERS:
                self.strengths[idx], self.layers[idx] = float(strength), preset
            elif src != 'pca':
                self.file, self.file_index = src, int(idx)
                self.file_strength, self.file_layers = float(strength), preset

    def save(self) -> str | None:
        viz = self.viz
        result = viz.result
        if result is None or result.ws is None:
            viz.log('nothing rendered yet: no edit to save', error=True)
            return None
        path = next_path(viz.capture_dir, 'edit', 'npz')
        save_edit(path, result.ws, result.args.directions if result.args else ())
        viz.log(f'saved the edited latent {path} (load it as a latent file)')
        return path

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            for i in range(NUM_SLIDERS):
                imgui.text(f'PCA {i}')
                imgui.same_line(viz.label_w)
                with imgui_utils.item_width(viz.font_size * 10):
                    _, self.strengths[i] = imgui.slider_float(f'##pca{i}', self.strengths[i], -MAX_STRENGTH,
                                                              MAX_STRENGTH, format='%+.2f sd')
                    imgui_utils.tooltip('Strength of this PCA direction of W (GANSpace), in standard deviations; '
                                    '0 leaves the image unchanged')
                viz.rect(f'direction:{i}')
                imgui.same_line()
                with imgui_utils.item_width(viz.font_size * 5):
                    _, self.layers[i] = imgui.combo(f'##pcalayers{i}', self.layers[i], list(LAYER_PRESETS))
                    imgui_utils.tooltip('Layers this direction is applied to (coarse, middle, fine or all)')
            imgui.text('File')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(viz.font_size * 10):
                _, self.file = imgui.input_text_with_hint('##dirfile', '.npy / .npz directions', self.file)
                imgui_utils.tooltip('A direction file (.npy / .npz, e.g. an InterFaceGAN boundary), '
                                    'read without pickles')
            viz.rect('direction_file')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 4):
                _, self.file_index = imgui.input_int('##dirindex', self.file_index, 0)
                imgui_utils.tooltip('Which direction of the file (row index)')
                self.file_index = max(int(self.file_index), 0)
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(viz.font_size * 10):
                _, self.file_strength = imgui.slider_float('##dirstrength', self.file_strength, -10, 10,
                                                           format='%+.2f')
                imgui_utils.tooltip('Strength of the file direction')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 5):
                _, self.file_layers = imgui.combo('##dirlayers', self.file_layers, list(LAYER_PRESETS))
                imgui_utils.tooltip('Layers the file direction is applied to')
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            if imgui_utils.button('Reset##dir'):
                self.strengths = [0.0] * NUM_SLIDERS
                self.file_strength = 0.0
            imgui_utils.tooltip('Set every direction strength back to 0')
            viz.rect('direction_reset')
            imgui.same_line()
            if imgui_utils.button('Save edit##dir'):
                self.save()
            imgui_utils.tooltip('Write the edited w+ as a latent file (it can be loaded back as the current latent)')
            viz.rect('direction_save')
        viz.set_args(directions=self.edits())
