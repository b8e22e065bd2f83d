"""Latent widget: seed, fractional offset (blends neighbouring seeds), drag in the image, animation.

An explicit latent (a projection, a latent file, a vector) overrides the seeds while it is shown; the widget says
so. Changing the seed in any way (field, -/+, arrow keys, drag, turning the animation on) means "go to that
seed": the explicit latent is cleared with a note. When an explicit latent arrives, a running seed animation is
paused, or it would clear the latent on the next frame.
"""

from __future__ import annotations

import math
import os

from imgui_bundle import imgui

from gui_utils import imgui_utils

SEED_STEP_Y = 100  # seed = x + y * SEED_STEP_Y on the 2-D latent grid


def blend_seeds(x: float, y: float) -> tuple[tuple[int, float], ...]:
    """Bilinear weights of the four grid seeds around (x, y); whole numbers give one seed of weight 1."""
    seeds = []
    x0, y0 = math.floor(x), math.floor(y)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        sx, sy = x0 + dx, y0 + dy
        weight = (1 - abs(x - sx)) * (1 - abs(y - sy))
        if weight > 1e-9:
            seeds.append(((int(sx) + int(sy) * SEED_STEP_Y) & 0xFFFFFFFF, float(weight)))
    return tuple(seeds)


class LatentWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.x = 0.0
        self.y = 0.0
        self.anim = False
        self.speed = 0.25  # seeds per second
        self._seen_xy = (self.x, self.y)  # the position the last frame ended with
        self._seen_explicit = False  # whether an explicit latent was shown in the last frame
        self._seed_requested = False  # set_seed since the last frame (also to the seed it already is)

    @property
    def seed(self) -> int:
        """The grid seed nearest to (x, y), i.e. the one that weighs most in the image (NVlabs rounds too;
        flooring showed seed 1 for x = 1.9999, an image that is seed 2)."""
        return int(round(self.x)) + int(round(self.y)) * SEED_STEP_Y

    def set_seed(self, seed: int) -> None:
        """Exactly that seed (fractions dropped, as NVlabs does): the field and the image then agree."""
        self.x, self.y = float(seed), 0.0
        self._seed_requested = True

    def reset(self) -> None:
        self.x = self.y = 0.0
        self.anim, self.speed = False, 0.25

    def drag(self, dx_px: float, dy_px: float) -> None:
        """Mouse drag in the image: one seed per 1/4 of the image width."""
        scale = 4.0 / max(self.viz.image_size_px, 1)
        self.x += dx_px * scale
        self.y += dy_px * scale

    def load_args(self, args) -> None:
        """Position on the seed grid from w0_seeds (the heaviest seed; fractions from the weights)."""
        if not args.w0_seeds:
            return
        seed, _w = max(args.w0_seeds, key=lambda sw: sw[1])
        base = min(s for s, _w in args.w0_seeds)
        weights = dict(args.w0_seeds)
        self.x = float(base + weights.get(base + 1, 0.0) + weights.get(base + 1 + SEED_STEP_Y, 0.0))
        self.y = float(weights.get(base + SEED_STEP_Y, 0.0) + weights.get(base + 1 + SEED_STEP_Y, 0.0))
        if len(args.w0_seeds) == 1:
            self.x, self.y = float(seed), 0.0
        # a session's own position, not a seed change: its explicit latent (if any) stays
        self._seen_xy, self._seed_requested = (self.x, self.y), False

    def _explicit_name(self) -> str:
        """What the explicit latent is, for notes ('' when the seeds are shown)."""
        args = self.viz.args
        if args.latent_file:
            return os.path.basename(args.latent_file)
        return 'the explicit latent vector' if args.latent else ''

    def _follow_seeds(self) -> None:
        """Seed changed while an explicit latent is shown: go to the seed (clear the latent), with a note.
        Not while keyframes play: playback drives the latent each frame and restores it when it stops."""
        viz = self.viz
        name = self._explicit_name()
        moved = (self.x, self.y) != self._seen_xy or self._seed_requested
        keyframes = getattr(viz, 'keyframes_widget', None)
        if name and moved and not (keyframes is not None and keyframes.playing):
            viz.set_args(latent=(), latent_file='')
            viz.log(f'seed {self.seed}: showing seeds again ({name} no longer overrides them)')
        self._seen_xy, self._seed_requested = (self.x, self.y), False
        self._seen_explicit = bool(self._explicit_name())

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        if self._explicit_name() and not self._seen_explicit and self.anim:
            self.anim = False  # a latent arrived (a projection finished, a session): it must stay on screen
            viz.log('seed animation paused: an explicit latent is shown (Anim or any seed change goes back to seeds)')
        if self.anim:
            self.x += viz.frame_delta * self.speed
        if show:
            imgui.text('Latent')
            imgui.same_line(viz.label_w)
            seed = self.seed
            with imgui_utils.item_width(viz.font_size * 7):
                changed, seed = imgui.input_int('##seed', seed, 0)
            imgui_utils.tooltip('Seed of the latent (the grid point nearest to x, y). Keys: Left/Right')
            viz.rect('seed_input')
            if changed:
                self.set_seed(seed)
            imgui.same_line()
            if imgui_utils.button('-##seed', viz.font_size * 2):
                self.set_seed(self.seed - 1)
            imgui_utils.tooltip('Previous seed (Left arrow)')
            viz.rect('seed_minus')
            imgui.same_line()
            if imgui_utils.button('+##seed', viz.font_size * 2):
                self.set_seed(self.seed + 1)
            imgui_utils.tooltip('Next seed (Right arrow)')
            viz.rect('seed_plus')
            imgui.same_line()
            _, self.anim = imgui.checkbox('Anim##latent', self.anim)
            imgui_utils.tooltip('Move through the seeds at the speed below (Space)')
            viz.rect('latent_anim')
            imgui.same_line()
            changed_from_default = (self.x, self.y, self.anim, self.speed) != (0, 0, False, 0.25)
            if imgui_utils.button('Reset##latent', enabled=changed_from_default):
                self.reset()
            imgui_utils.tooltip('Seed 0, no fraction, no animation')
            imgui.text('x, y')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(viz.font_size * 10):
                _, xy = imgui.drag_float2('##xy', [self.x, self.y], 0.01, format='%.3f')
                self.x, self.y = imgui_utils.finite(tuple(xy), (self.x, self.y))
            imgui_utils.tooltip(f'Position on the seed grid: seed = x + {SEED_STEP_Y} y; fractions blend the four '
                                'neighbouring seeds. Drag here or in the image; Up/Down: fine steps in x')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 6):
                _, speed = imgui.slider_float('##speed', self.speed, -5, 5, format='%.2f seeds/s',
                                              flags=imgui.SliderFlags_.always_clamp)
                self.speed = imgui_utils.finite(speed, self.speed)
            imgui_utils.tooltip('Animation speed in seeds per second')
            imgui.same_line()
            if imgui_utils.button('Snap##latent', enabled=(self.x, self.y) != (round(self.x), round(self.y))):
                self.x, self.y = float(round(self.x)), float(round(self.y))
            imgui_utils.tooltip('Round x and y to the nearest seed')
            name = self._explicit_name()
            if name:
                imgui.text(' ')
                imgui.same_line(viz.label_w)
                imgui_utils.text_colored(f'Shown: {name}, not the seed; a seed change goes back to seeds',
                                         (1.0, 0.65, 0.1))
                viz.rect('latent_override')
        self._follow_seeds()
        viz.set_args(w0_seeds=blend_seeds(self.x, self.y))
