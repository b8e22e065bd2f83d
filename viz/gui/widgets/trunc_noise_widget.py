"""Truncation psi / cutoff and the noise mode / seed (noise is StyleGAN2 only: greyed for StyleGAN3)."""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils import imgui_utils

NOISE_MODES = ('const', 'random', 'none')


class TruncationNoiseWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.psi = 1.0
        self.cutoff_on = False
        self.cutoff = 8
        self.noise_mode = 0
        self.noise_seed = 0
        self.noise_anim = False

    def load_args(self, args) -> None:
        self.psi = float(args.trunc_psi)
        self.cutoff_on = args.trunc_cutoff is not None
        self.cutoff = int(args.trunc_cutoff) if args.trunc_cutoff is not None else self.cutoff
        self.noise_mode = NOISE_MODES.index(args.noise_mode) if args.noise_mode in NOISE_MODES else 0
        self.noise_seed = int(args.noise_seed)

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        num_ws = int(viz.network.get('num_ws', 0)) or 16
        has_noise = bool(viz.network.get('has_noise', False))
        if self.noise_anim and has_noise:
            self.noise_seed += 1
        if show:
            imgui.text('Truncate')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(viz.font_size * 8):
                _, self.psi = imgui.slider_float('##psi', self.psi, -1, 2, format='Psi %.2f')
            imgui_utils.tooltip('Truncation: w = w_avg + psi (w - w_avg). 1: none; 0: the average image; '
                                'below 1: more typical, less varied')
            viz.rect('psi')
            imgui.same_line()
            _, self.cutoff_on = imgui.checkbox('Cutoff', self.cutoff_on)
            imgui_utils.tooltip('Truncate only the first ws (the coarse layers)')
            imgui.same_line()
            with imgui_utils.grayed_out(not self.cutoff_on), imgui_utils.item_width(viz.font_size * 6):
                _, self.cutoff = imgui.slider_int('##cutoff', self.cutoff, 0, num_ws, format='%d ws')
            imgui_utils.tooltip('How many ws (from the first) are truncated')
            imgui.same_line()
            if imgui_utils.button('Reset##trunc', enabled=(self.psi, self.cutoff_on, self.noise_mode, self.noise_anim)
                                  != (1.0, False, 0, False)):
                self.psi, self.cutoff_on, self.noise_mode, self.noise_anim = 1.0, False, 0, False
            imgui_utils.tooltip('psi 1, no cutoff, constant noise')
            imgui.text('Noise')
            imgui.same_line(viz.label_w)
            with imgui_utils.grayed_out(not has_noise):
                with imgui_utils.item_width(viz.font_size * 6):
                    _, self.noise_mode = imgui.combo('##noise', self.noise_mode, list(NOISE_MODES))
                imgui_utils.tooltip('StyleGAN2 noise inputs: const (the stored maps), random (from the seed), '
                                    'none (zero)')
                imgui.same_line()
                with imgui_utils.grayed_out(NOISE_MODES[self.noise_mode] != 'random'):
                    with imgui_utils.item_width(viz.font_size * 6):
                        _, self.noise_seed = imgui.input_int('Seed##noise', self.noise_seed, 0)
                    imgui_utils.tooltip('Seed of the random noise maps')
                    imgui.same_line()
                    _, self.noise_anim = imgui.checkbox('Anim##noise', self.noise_anim)
                    imgui_utils.tooltip('A new noise seed every frame')
            if not has_noise:
                imgui.same_line()
                imgui.text_disabled('(SG2 only)')
        viz.set_args(trunc_psi=float(self.psi), trunc_cutoff=int(self.cutoff) if self.cutoff_on else None,
                     noise_mode=NOISE_MODES[self.noise_mode], noise_seed=int(self.noise_seed))
