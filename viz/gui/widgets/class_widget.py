"""Class of a conditional network (c_dim > 0): an index (input and slider) or, as NVlabs' visualizer, drawn from
each seed. Hidden for unconditional networks, which get class_idx None."""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils import imgui_utils


class ClassWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.from_seed = True
        self.index = 0

    def load_args(self, args) -> None:
        self.from_seed = args.class_idx is None
        self.index = int(args.class_idx or 0)

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if not viz.network:
            return  # not loaded yet: keep what a session asked for
        c_dim = int(viz.network.get('c_dim', 0) or 0)
        if c_dim == 0:
            viz.set_args(class_idx=None)
            return
        if show:
            imgui.text('Class')
            imgui.same_line(viz.label_w)
            with imgui_utils.grayed_out(self.from_seed):
                with imgui_utils.item_width(viz.font_size * 5):
                    _, self.index = imgui.input_int('##classidx', self.index, 1)
                    imgui_utils.tooltip('Class index of a conditional network')
                viz.rect('class_input')
                imgui.same_line()
                with imgui_utils.item_width(viz.font_size * 8):
                    _, self.index = imgui.slider_int('##classslider', self.index, 0, c_dim - 1)
                    imgui_utils.tooltip('Class index of a conditional network')
            imgui.same_line()
            _, self.from_seed = imgui.checkbox('From seed##class', self.from_seed)
            imgui_utils.tooltip('Draw the class from the seed, as NVlabs does (the index above is then ignored)')
            viz.rect('class_from_seed')
        self.index = min(max(int(self.index), 0), c_dim - 1)
        viz.set_args(class_idx=None if self.from_seed else self.index)
