"""Layers: list with size / channels / dtype; RGB or one channel, base channel, dB, normalise, stats, FFT."""

from __future__ import annotations

from imgui_bundle import imgui

from gui_utils import imgui_utils


class LayerWidget:
    def __init__(self, viz) -> None:
        self.viz = viz
        self.layer: str | None = None  # None = output image
        self.rgb = True
        self.base_channel = 0
        self.db = 0.0
        self.normalize = False
        self.fft_show = False
        self.fft_all = True
        self.fft_range_db = 50.0
        self.fft_beta = 8.0
        self.fft_limits = False
        self.list_height_rows = 10

    def select(self, name: str | None) -> None:
        self.layer = name
        self.base_channel = 0

    def step_channel(self, delta: int, num_channels: int) -> None:
        """Channel -/+: the next base channel, clamped to the layer's channels."""
        self.base_channel = int(min(max(self.base_channel + delta, 0), max(num_channels - 1, 0)))

    def load_args(self, args) -> None:
        self.layer = args.layer_name
        self.rgb = args.sel_channels >= 3
        self.base_channel = int(args.base_channel)
        self.db, self.normalize = float(args.img_scale_db), bool(args.img_normalize)
        self.fft_show, self.fft_all = bool(args.fft_show), bool(args.fft_all)
        self.fft_range_db, self.fft_beta = float(args.fft_range_db), float(args.fft_beta)
        self.fft_limits = bool(args.fft_limits)

    def __call__(self, show: bool = True) -> None:
        viz = self.viz
        result = viz.result
        layers = list(result.layers) if result is not None else []
        if show:
            row_h = imgui.get_text_line_height_with_spacing()
            # the list scrolls by itself: for the layout count it is one control, not one per row
            counting, imgui_utils.controls_drawn = imgui_utils.controls_drawn, None
            if imgui.begin_child('##layers', imgui.ImVec2(0, row_h * self.list_height_rows + viz.spacing * 2),
                                 imgui.ChildFlags_.borders):
                if imgui.begin_table('##layer_table', 4, imgui.TableFlags_.row_bg):
                    imgui.table_setup_column('Name')
                    imgui.table_setup_column('Size')
                    imgui.table_setup_column('Ch')
                    imgui.table_setup_column('Dtype')
                    imgui.table_headers_row()
                    # NVlabs' list: every layer, then `output` (the image; selecting it is layer None).
                    rows = [(None if ly.name == 'output' else ly.name, ly.name, f'{ly.shape[3]}x{ly.shape[2]}',
                             str(ly.shape[1]), ly.dtype) for ly in layers] or [(None, 'output', '', '', '')]
                    for key, name, size, ch, dtype in rows:
                        imgui.table_next_row()
                        imgui.table_next_column()
                        clicked, _ = imgui.selectable(f'{name}###row_{name}', self.layer == key,
                                                      imgui.SelectableFlags_.span_all_columns)
                        imgui_utils.tooltip('Show the network output' if key is None else
                                            f'Show layer {name} (size W x H, channels, dtype)')
                        viz.rect(f'layer:{name}')
                        if clicked:
                            self.select(key)
                        for text in (size, ch, dtype):
                            imgui.table_next_column()
                            imgui.text(text)
                    imgui.end_table()
            imgui.end_child()
            imgui_utils.controls_drawn = counting
            if counting is not None:
                counting.append(imgui_utils.item_rect())
            num_channels = 3
            if result is not None and result.stats:
                num_channels = int(result.stats.get('num_channels', 3))
            imgui.text('Channels')
            imgui.same_line(viz.label_w)
            if imgui.radio_button('RGB', self.rgb):
                self.rgb = True
            imgui_utils.tooltip('Three channels from the base channel on, as red, green, blue')
            imgui.same_line()
            if imgui.radio_button('Single', not self.rgb):
                self.rgb = False
            imgui_utils.tooltip('One channel (the base channel) as grey')
            viz.rect('single_channel')
            imgui.same_line()
            with imgui_utils.item_width(viz.font_size * 6):
                _, self.base_channel = imgui.slider_int('##base', self.base_channel, 0, max(num_channels - 1, 0),
                                                        format='Base %d')
            imgui_utils.tooltip(f'First channel shown (0..{max(num_channels - 1, 0)}); Ctrl+click to type it')
            imgui.same_line()
            if imgui_utils.button('-##channel', viz.font_size * 1.6, enabled=self.base_channel > 0):
                self.step_channel(-1, num_channels)
            imgui_utils.tooltip('Previous channel')
            viz.rect('channel_minus')
            imgui.same_line()
            if imgui_utils.button('+##channel', viz.font_size * 1.6, enabled=self.base_channel < num_channels - 1):
                self.step_channel(1, num_channels)
            imgui_utils.tooltip('Next channel')
            viz.rect('channel_plus')
            imgui.same_line()
            if imgui_utils.button('Reset##channel', enabled=not self.rgb or self.base_channel != 0):
                self.rgb, self.base_channel = True, 0
            imgui_utils.tooltip('RGB from channel 0')
            imgui.text('Scale')
            imgui.same_line(viz.label_w)
            with imgui_utils.item_width(viz.font_size * 8):
                _, self.db = imgui.slider_float('##db', self.db, -40, 40, format='%+.1f dB')
            imgui_utils.tooltip('Brightness gain of the shown values, in dB (20 dB = x10)')
            imgui.same_line()
            _, self.normalize = imgui.checkbox('Normalize', self.normalize)
            imgui_utils.tooltip('Divide each shown channel by its largest magnitude')
            imgui.same_line()
            if imgui_utils.button('Reset##scale', enabled=(self.db, self.normalize) != (0.0, False)):
                self.db, self.normalize = 0.0, False
            imgui_utils.tooltip('0 dB, not normalised')
            if result is not None and result.stats:
                s = result.stats
                imgui.text('Stats')
                imgui.same_line(viz.label_w)
                imgui.text(f'mean {s["mean"]:+.3f}  std {s["std"]:.3f}  max {s["max"]:.3f}  (layer)')
                imgui.text(' ')
                imgui.same_line(viz.label_w)
                imgui.text(f'mean {s["sel_mean"]:+.3f}  std {s["sel_std"]:.3f}  max {s["sel_max"]:.3f}  (shown)')
                imgui_utils.tooltip('First line: the whole layer. Second: the channels shown, after normalising and '
                                    'the dB gain, before the picture clips them to its range')
            imgui.text('FFT')
            imgui.same_line(viz.label_w)
            _, self.fft_show = imgui.checkbox('Show##fft', self.fft_show)
            imgui_utils.tooltip('Show the 2-D power spectrum of the shown image or layer beside it')
            viz.rect('fft_show')
            imgui.same_line()
            _, self.fft_all = imgui.checkbox('All channels', self.fft_all)
            imgui_utils.tooltip('Average the spectrum over every channel of the layer (off: only the shown ones)')
            imgui.same_line()
            changed, self.fft_limits = imgui.checkbox('Limits##fftlimits', self.fft_limits)
            if changed and self.fft_limits:
                self.fft_show = True  # the circles are drawn on the FFT
            imgui_utils.tooltip('Draw the layer\'s own frequency limits on its FFT: cutoff fc (magenta), stopband ft '
                                '(yellow) and s/2 (white) of its output, solid, and of its input, dashed. StyleGAN2: '
                                's/2 only')
            viz.rect('fft_limits')
            imgui.same_line()
            if imgui_utils.button('Reset##fft_flags', enabled=self.fft_show or not self.fft_all or self.fft_limits):
                self.fft_show, self.fft_all, self.fft_limits = False, True, False
            imgui_utils.tooltip('No FFT; all channels and no limits when shown')
            imgui.text(' ')
            imgui.same_line(viz.label_w)
            with imgui_utils.grayed_out(not self.fft_show), imgui_utils.item_width(viz.font_size * 8):
                _, self.fft_range_db = imgui.slider_float('##fftrange', self.fft_range_db, 0.1, 100,
                                                          format='Range +-%.1f dB')
                imgui_utils.tooltip('Dynamic range of the colour map, in dB below the peak')
                imgui.same_line()
                _, self.fft_beta = imgui.slider_float('##fftbeta', self.fft_beta, 0, 50, format='Kaiser beta %.1f')
                imgui_utils.tooltip('Kaiser window shape before the FFT (0: none; larger: less leakage, wider peaks)')
                imgui.same_line()
                if imgui_utils.button('Reset##fft', enabled=(self.fft_range_db, self.fft_beta) != (50.0, 8.0)):
                    self.fft_range_db, self.fft_beta = 50.0, 8.0
                imgui_utils.tooltip('Range 50 dB, beta 8')
        viz.set_args(layer_name=self.layer, sel_channels=3 if self.rgb else 1, base_channel=int(self.base_channel),
                     img_scale_db=float(self.db), img_normalize=bool(self.normalize), fft_show=bool(self.fft_show),
                     fft_all=bool(self.fft_all), fft_range_db=float(self.fft_range_db), fft_beta=float(self.fft_beta),
                     fft_limits=bool(self.fft_limits))
