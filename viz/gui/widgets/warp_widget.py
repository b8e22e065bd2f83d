"""Input scale, shear and mirror (StyleGAN3): the same input-transform matrix as translate / rotate, but outside
what the networks were trained to be equivariant to, and marked so."""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils import imgui_utils

ORANGE = imgui_utils.ORANGE


class WarpWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.scale = 1.0
        self.shear = [0.0, 0.0]
        self.mirror = [False, False]

    def load_args(self, args) -> None:
        self.scale = float(args.input_scale)
        self.shear = [float(args.shear_x), float(args.shear_y)]
        self.mirror = [bool(args.mirror_x), bool(args.mirror_y)]

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if show:
            has_transform = bool(viz.network.get('has_transform', False))
            with imgui_utils.grayed_out(not has_transform):
                imgui.text('Scale')
                imgui.same_line(viz.label_w)
                with imgui_utils.item_width(viz.font_size * 10):
                    _, self.scale = imgui.slider_float('##inscale', self.scale, 0.25, 4.0, format='x%.3f',
                                                       flags=imgui.SliderFlags_.logarithmic)
                    imgui_utils.tooltip('Scale of the input (outside what the network was trained to be '
                                        'equivariant to)')
                viz.rect('warp_scale')
                imgui.text('Shear')
                imgui.same_line(viz.label_w)
                with imgui_utils.item_width(viz.font_size * 10):
                    _, self.shear = imgui.drag_float2('##shear', self.shear, 0.005, -0.9, 0.9, format='%.3f')
                    imgui_utils.tooltip('Shear of the input, x and y (outside the trained equivariances)')
                imgui.text('Mirror')
                imgui.same_line(viz.label_w)
                _, self.mirror[0] = imgui.checkbox('x##mirror', self.mirror[0])
                imgui_utils.tooltip('Mirror the input horizontally')
                viz.rect('warp_mirror_x')
                imgui.same_line()
                _, self.mirror[1] = imgui.checkbox('y##mirror', self.mirror[1])
                imgui_utils.tooltip('Mirror the input vertically')
                imgui.same_line()
                if imgui_utils.button('Reset##warp'):
                    self.scale, self.shear, self.mirror = 1.0, [0.0, 0.0], [False, False]
                imgui_utils.tooltip('Scale 1, no shear, no mirror')
            if (self.scale, *self.shear, *self.mirror) != (1.0, 0.0, 0.0, False, False):
                imgui_utils.text_colored('outside what the network was trained to be equivariant to', ORANGE)
        self.scale = min(max(float(self.scale), 0.01), 100.0)
        viz.set_args(input_scale=self.scale, shear_x=float(self.shear[0]), shear_y=float(self.shear[1]),
                     mirror_x=bool(self.mirror[0]), mirror_y=bool(self.mirror[1]))
