"""Style mixing: a second seed whose w replaces the chosen ws indices; each box names the layers its w drives."""

from __future__ import annotations

import re

from imgui_bundle import imgui

from gui_utils import imgui_utils

_SG2_CONV = re.compile(r'b(\d+)\.(conv0|conv1|torgb)$')


def ws_layers(layer_names: list[str], num_ws: int) -> list[list[str]]:
    """For each ws index, the synthesis layers its w modulates, from the layer list the renderer reports.

    StyleGAN3: ws[0] drives the input (its Fourier features' transform), ws[i] layer L{i-1} (the last one is
    the ToRGB layer). StyleGAN2: a block at resolution r takes ws[k], ws[k+1] for conv0, conv1 and ws[k+2] for
    torgb, and the next block starts at ws[k+2] (a torgb shares its w with the next conv0); the 4x4 block has
    no conv0.
    """
    driven: list[list[str]] = [[] for _ in range(num_ws)]
    sg3 = [n for n in layer_names if n == 'input' or re.fullmatch(r'L\d+_[^.]*', n)]
    if sg3 and sg3[0] == 'input':
        for i, name in enumerate(sg3[:num_ws]):
            driven[i].append(name)
        return driven
    blocks: dict[int, dict[str, str]] = {}
    for name in layer_names:
        m = _SG2_CONV.match(name)
        if m:
            blocks.setdefault(int(m.group(1)), {})[m.group(2)] = name
    k = 0
    for res in sorted(blocks):
        convs = [blocks[res][c] for c in ('conv0', 'conv1') if c in blocks[res]]
        for j, name in enumerate(convs):
            if k + j < num_ws:
                driven[k + j].append(name)
        if 'torgb' in blocks[res] and k + len(convs) < num_ws:
            driven[k + len(convs)].append(blocks[res]['torgb'])
        k += len(convs)
    return driven


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

    def fit(self, num_ws: int) -> None:
        """Resize the boxes to the network's ws, keeping the choices that still apply; those past its last w
        are dropped with a note (they used to be dropped silently, or to survive into the next network)."""
        if num_ws <= 0 or len(self.mask) == num_ws:
            return  # no network yet: keep what a session asked for until one has loaded
        dropped = [i for i, on in enumerate(self.mask) if on and i >= num_ws]
        self.mask = (self.mask + [False] * num_ws)[:num_ws]
        if dropped and self.enabled:
            self.viz.log(f'style mix reset: this network has {num_ws} ws, so ws '
                         f'{", ".join(map(str, dropped))} no longer apply')
            if not any(self.mask):
                self.enabled = False

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        num_ws = int(viz.network.get('num_ws', 0))
        self.fit(num_ws)
        if self.anim:
            self._anim_time += viz.frame_delta
            if self._anim_time >= self.anim_period:
                self._anim_time = 0.0
                self.seed += 1
        if show:
            imgui.text('Style mix')
            imgui.same_line(viz.label_w)
            _, self.enabled = imgui.checkbox('##mix', self.enabled)
            imgui_utils.tooltip('Take the ticked ws from a second seed (coarse ws: pose and shape; fine: colour)')
            viz.rect('stylemix_on')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 7):
                _, self.seed = imgui.input_int('Seed##mix', self.seed, 0)
            imgui_utils.tooltip('The seed whose w replaces the ticked ws')
            imgui.same_line()
            _, self.anim = imgui.checkbox('Anim##mix', self.anim)
            imgui_utils.tooltip(f'Next mix seed every {self.anim_period:g} s')
            imgui.same_line()
            if imgui_utils.button('Reset##mix', enabled=self.enabled or self.anim or self.seed != 0 or any(self.mask)):
                self.enabled, self.anim, self.seed, self.mask = False, False, 0, [False] * num_ws
            imgui_utils.tooltip('No style mixing')
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            if imgui_utils.button('All##mix'):
                self.mask = [True] * num_ws
            imgui_utils.tooltip('Tick every w')
            imgui.same_line()
            if imgui_utils.button('None##mix'):
                self.mask = [False] * num_ws
            imgui_utils.tooltip('Untick every w')
            imgui.same_line()
            if imgui_utils.button('Fine##mix'):
                self.mask = [i >= num_ws // 2 for i in range(num_ws)]
            imgui_utils.tooltip('Tick the second half (the high-resolution layers)')
            result = viz.result
            driven = ws_layers([ly.name for ly in result.layers] if result is not None else [], num_ws)
            for i in range(num_ws):
                if i % 8 == 0:  # a row of eight boxes, labelled with the ws range it holds
                    imgui.text(f'ws {i}-{min(i + 7, num_ws - 1)}')
                    imgui.same_line(viz.label_w)
                else:
                    imgui.same_line()
                _, self.mask[i] = imgui.checkbox(f'{i}###ws{i}', self.mask[i])
                layers = ', '.join(driven[i]) if driven[i] else 'layers not known yet'
                imgui_utils.tooltip(f'ws[{i}] drives {layers}')
                viz.rect(f'ws{i}')
        idx = tuple(i for i, on in enumerate(self.mask) if on) if self.enabled else ()
        viz.set_args(stylemix_seed=int(self.seed), stylemix_idx=idx)
