"""Input transform (StyleGAN3): translate x/y, rotate, drag in the image, animate, snap, untransform."""

from __future__ import annotations

import math

from imgui_bundle import imgui

from gui_utils import imgui_utils


class TransformWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.x = 0.0  # image widths
        self.y = 0.0
        self.angle = 0.0  # degrees
        self.snap = False
        self.untransform = False
        self.drag_mode = ''  # '' | 'fast' | 'slow': left-drag in the image translates instead of the latent
        self.anim_x = 0.0  # image widths per second
        self.anim_y = 0.0
        self.anim_rotate = 0.0  # degrees per second

    def drag(self, dx_px: float, dy_px: float, slow: bool = False) -> None:
        """Translate by a mouse drag: fast = one image width per image width dragged; slow = 1/10 of that."""
        scale = (0.1 if slow else 1.0) / max(self.viz.image_size_px, 1)
        self.x += dx_px * scale
        self.y += dy_px * scale

    def _snapped(self, resolution: int) -> tuple[float, float, float]:
        if not self.snap or resolution <= 0:
            return self.x, self.y, self.angle
        return round(self.x * resolution) / resolution, round(self.y * resolution) / resolution, float(
            round(self.angle))

    def load_args(self, args) -> None:
        self.x, self.y, self.angle = float(args.translate_x), float(args.translate_y), float(args.rotate)
        self.untransform = bool(args.untransform)
        self.anim_x = self.anim_y = self.anim_rotate = 0.0

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        has_transform = bool(viz.network.get('has_transform', False))
        dt = viz.frame_delta
        self.x += self.anim_x * dt
        self.y += self.anim_y * dt
        self.angle = math.remainder(self.angle + self.anim_rotate * dt, 360.0)
        if show:
            with imgui_utils.grayed_out(not has_transform):
                imgui.text('Translate')
                imgui.same_line(viz.label_w)
                with imgui_utils.item_width(viz.font_size * 10):
                    _, (self.x, self.y) = imgui.drag_float2('##trans', [self.x, self.y], 0.001, format='%.4f')
                imgui_utils.tooltip('Translation of the input (x, y) in image widths; right-drag in the image too')
                viz.rect('translate')
                imgui.same_line()
                for mode in ('fast', 'slow'):
                    active = self.drag_mode == mode
                    # '###': the visible text changes with the state, the ID must not
                    label = f'{"[Drag " + mode + "]" if active else "Drag " + mode}###drag_{mode}'
                    if imgui_utils.button(label):
                        self.drag_mode = '' if active else mode
                    imgui_utils.tooltip(f'Left-drag in the image translates ({"one" if mode == "fast" else "1/10"} '
                                        'image width per width dragged) instead of moving the latent')
                    viz.rect(f'drag_{mode}')
                    imgui.same_line()
                imgui.new_line()
                imgui.text('Rotate')
                imgui.same_line(viz.label_w)
                with imgui_utils.item_width(viz.font_size * 10):
                    _, self.angle = imgui.slider_float('##rot', self.angle, -180, 180, format='%.1f deg')
                imgui_utils.tooltip('Rotation of the input about the image centre, in degrees')
                viz.rect('rotate')
                imgui.same_line()
                if imgui_utils.button('Reset##eq', enabled=any((self.x, self.y, self.angle, self.anim_x, self.anim_y,
                                                                self.anim_rotate))):
                    self.x = self.y = self.angle = 0.0
                    self.anim_x = self.anim_y = self.anim_rotate = 0.0
                imgui_utils.tooltip('No translation, rotation or animation')
                imgui.text('Animate')
                imgui.same_line(viz.label_w)
                with imgui_utils.item_width(viz.font_size * 10):
                    _, speed = imgui.drag_float2('##animxy', [self.anim_x, self.anim_y], 0.001, -100, 100,
                                                 format='%.3f/s', flags=imgui.SliderFlags_.always_clamp)
                    self.anim_x, self.anim_y = imgui_utils.finite(tuple(speed), (self.anim_x, self.anim_y))
                imgui_utils.tooltip('Translation speed (x, y) in image widths per second')
                imgui.same_line()
                with imgui_utils.item_width(viz.font_size * 6):
                    _, rate = imgui.drag_float('##animrot', self.anim_rotate, 0.1, -36000, 36000, format='%.1f deg/s',
                                               flags=imgui.SliderFlags_.always_clamp)
                    self.anim_rotate = imgui_utils.finite(rate, self.anim_rotate)
                imgui_utils.tooltip('Rotation speed in degrees per second')
                imgui.text(' ')
                imgui.same_line(viz.label_w)
                _, self.snap = imgui.checkbox('Snap to pixel grid', self.snap)
                imgui_utils.tooltip('Round the translation to whole output pixels and the angle to whole degrees')
                imgui.same_line()
                _, self.untransform = imgui.checkbox('Untransform', self.untransform)
                imgui_utils.tooltip('Resample the output back so it lines up with the untransformed image '
                                    '(an equivariant network then shows a still image)')
                imgui.same_line()
                if imgui_utils.button('Reset##opts', enabled=self.snap or self.untransform):
                    self.snap = self.untransform = False
                imgui_utils.tooltip('No snapping, no untransform')
                viz.rect('untransform')
            if not has_transform:
                imgui.text_disabled('(StyleGAN2 has no input transform)')
        x, y, angle = self._snapped(int(viz.network.get('resolution', 0)))
        viz.set_args(translate_x=float(x), translate_y=float(y), rotate=float(angle),
                     untransform=bool(self.untransform))
