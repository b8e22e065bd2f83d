"""Live equivariance readout: EQ-T (integer, fractional) and EQ-R in dB for the current latent, with its progress,
a cancel button and its error."""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils import imgui_utils
from viz.gui.widgets.spectrum_widget import analysis_status


class EquivarianceReadoutWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.enabled = False
        self.num_transforms = 4

    def load_args(self, args) -> None:
        self.enabled, self.num_transforms = bool(args.eq_readout), int(args.eq_transforms)

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            imgui.text('EQ readout')
            imgui.same_line(viz.label_w)
            _, self.enabled = imgui.checkbox('Live##eq', self.enabled)
            viz.rect('eq_live')
            imgui_utils.tooltip('Measure EQ-T (integer and fractional) and EQ-R of the shown latent after each render')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 7):
                _, self.num_transforms = imgui.slider_int('##eqn', self.num_transforms, 1, 16,
                                                          format='%d transforms')
            imgui_utils.tooltip('Random translations / rotations averaged per figure (more: steadier, slower)')
            result = viz.result
            eq = result.eq if result is not None else None
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            if eq:
                imgui.text(f'EQ-T {eq.get("eqt_int", float("nan")):6.2f} dB   '
                           f'EQ-T frac {eq.get("eqt_frac", float("nan")):6.2f} dB   '
                           f'EQ-R {eq.get("eqr", float("nan")):6.2f} dB')
            elif self.enabled:
                if not analysis_status(viz, self, 'eq', 'EQ readout'):
                    imgui.text_disabled('waiting for the renderer' if viz.rendering else 'not computed')
            else:
                imgui.text_disabled('PSNR (I_max = 2) over the mutually valid region, paper definitions')
        viz.set_args(eq_readout=bool(self.enabled), eq_transforms=int(self.num_transforms))
