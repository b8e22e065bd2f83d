"""Style mixing: a second seed whose w replaces the chosen ws indices."""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils import imgui_utils


class StyleMixWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.seed = 0
        self.enabled = False
        self.mask: list[bool] = []
        self.anim = False
        self.anim_period = 1.0  # seconds per seed
        self._anim_time = 0.0

    def load_args(self, args) -> None:
        self.seed = int(args.stylemix_seed)
        self.enabled = bool(args.stylemix_idx)
        size = max(len(self.mask), max(args.stylemix_idx, default=-1) + 1)
        self.mask = [i in args.stylemix_idx for i in range(size)]

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        num_ws = int(viz.network.get('num_ws', 0))
        if len(self.mask) != num_ws:
            self.mask = [False] * num_ws
        if self.anim:
            self._anim_time += viz.frame_delta
            if self._anim_time >= self.anim_period:
                self._anim_time = 0.0
                self.seed += 1
        if show:
            imgui.text('Style mix')
            imgui.same_line(viz.label_w)
            _, self.enabled = imgui.checkbox('##mix', self.enabled)
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 7):
                _, self.seed = imgui.input_int('Seed##mix', self.seed, 0)
            imgui.same_line()
            _, self.anim = imgui.checkbox('Anim##mix', self.anim)
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            if imgui_utils.button('All##mix'):
                self.mask = [True] * num_ws
            imgui.same_line()
            if imgui_utils.button('None##mix'):
                self.mask = [False] * num_ws
            imgui.same_line()
            if imgui_utils.button('Fine##mix'):
                self.mask = [i >= num_ws // 2 for i in range(num_ws)]
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            for i in range(num_ws):
                if i and i % 8:
                    imgui.same_line()
                elif i:
                    imgui.text(' ')
                    imgui.same_line(viz.label_w)
                _, self.mask[i] = imgui.checkbox(f'##ws{i}', self.mask[i])
                if imgui.is_item_hovered():
                    imgui.set_tooltip(f'ws[{i}]')
        idx = tuple(i for i, on in enumerate(self.mask) if on) if self.enabled else ()
        viz.set_args(stylemix_seed=int(self.seed), stylemix_idx=idx)
