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
            viz.rect('psi')
            imgui.same_line()
            _, self.cutoff_on = imgui.checkbox('Cutoff', self.cutoff_on)
            imgui.same_line()
            with imgui_utils.grayed_out(not self.cutoff_on), imgui_utils.item_width(viz.font_size * 6):
                _, self.cutoff = imgui.slider_int('##cutoff', self.cutoff, 0, num_ws, format='%d ws')
            imgui.text('Noise')
            imgui.same_line(viz.label_w)
            with imgui_utils.grayed_out(not has_noise):
                with imgui_utils.item_width(viz.font_size * 6):
                    _, self.noise_mode = imgui.combo('##noise', self.noise_mode, list(NOISE_MODES))
                imgui.same_line()
                with imgui_utils.grayed_out(NOISE_MODES[self.noise_mode] != 'random'):
                    with imgui_utils.item_width(viz.font_size * 6):
                        _, self.noise_seed = imgui.input_int('Seed##noise', self.noise_seed, 0)
                    imgui.same_line()
                    _, self.noise_anim = imgui.checkbox('Anim##noise', self.noise_anim)
            if not has_noise:
                imgui.same_line()
                imgui.text_disabled('(no noise inputs in StyleGAN3)')
        viz.set_args(trunc_psi=float(self.psi), trunc_cutoff=int(self.cutoff) if self.cutoff_on else None,
                     noise_mode=NOISE_MODES[self.noise_mode], noise_seed=int(self.noise_seed))
