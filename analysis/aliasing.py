"""Aliasing per layer: each synthesis layer's frequency limits, read from the network, and the share of its
feature map's energy that lies beyond them (the alias-free paper's argument, Sec. 3, measured layer by layer).

Frequencies are in cycles per image width, as in the paper; a sampling rate `s` is in samples per image width.
A StyleGAN3 layer's map is `size` px wide of which the central `s` px are the image area ([-1/2, 1/2] in the
layer's coordinates, the area every later layer maps onto the output image); the rest, `margin` px on each side
(10 by default, none in the last two layers and the ToRGB layer), is there so that the borders' padding effects
stay out of the image area.

:func:`layer_limits` gives one row per layer, in execution order, with its own attributes:

- StyleGAN3 (the input, then layers L0 .. ToRGB): the sampling rate `s` (`in_sampling_rate` /
  `out_sampling_rate`), the cutoff `fc` (`in_cutoff` / `out_cutoff`; the input's `bandwidth`) and the stopband
  edge of the layer's low-pass filters, `ft = fc + half_width` (`in_stopband` / `out_stopband`). The schedule
  widens each filter's transition band up to s/2 where the sampling rate allows, so `ft` is max(designed
  stopband, s/2): s/2 except in the last layers, whose rate is capped at the output resolution. `*_half_rate`
  is s/2.
- StyleGAN2 (blocks b4 .. bN: `conv0`, `conv1`, `torgb`): only the sampling rate (the block's resolution;
  `conv0` reads its input at half of it) and s/2; its layers have no designed cutoff or stopband (None).
- `next_half_rate`: s/2 of the next layer in execution order (the last layer: its own, the output image's).

:func:`band_fractions` measures a map's energy, :func:`aliasing_table` every layer's for one latent (one forward
pass with hooks), :func:`aliasing_average` the mean over seeds. The measure, for the layer's output:

1. the region: the image area, the central `s` x `s` px (the margin is cropped: `margin` px on each side);
2. each channel's mean over that region is removed, and the region is multiplied by the separable symmetric
   Kaiser window of NVlabs' spectra (beta 8, `ops.spectrum.kaiser_window_2d`) and zero-padded to a whole
   multiple of its size before the FFT, as `ops.spectrum.power_spectrum_sum` does: by default the smallest with
   at least `MIN_BINS` (128) bins per axis, at most 8 times, so that a band edge of a small map falls between fine
   bins (a 16 px map is padded 8 times, one of 128 px or more not at all; fractions then agree with those of 4
   times finer bins to a few percent, above the window's floor);
3. the power |FFT|^2 is summed over channels (and images), and each bin gets its radial frequency
   |f| = sqrt(fx^2 + fy^2) in cycles per image width;
4. three fractions of the total: `above_cutoff`, the energy at |f| > fc; `above_stopband`, at |f| > ft (the
   stopband, which the layer's filter should have emptied: what is left there is aliasing folded back or
   filter leakage); `aliases`, at |f| > the next layer's s/2: frequencies that a grid of the next layer's
   sampling rate holds only in some orientations (the corners of its square band), so that they fold when the
   content is rotated. Radial, not per axis: StyleGAN3-T's separable filters pass those corners, StyleGAN3-R's
   radially symmetric ones do not, which is the paper's explanation of why only R is equivariant to rotation.
   A map of the same rate as the next layer's can hold nothing beyond its s/2 per axis, so the per-axis measure
   would always give 0 there.

The window sets the resolution: it spreads a pure tone over about +-3 cycles per image width (its main lobe
over one image width), so fractions of bands narrower than that (the first layers of a full network, where fc
is 2 and s/2 is 8) carry that much leakage from below. A map with no energy in its region (a constant) gives
NaN fractions; an average over seeds leaves those out.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from networks import stylegan2, stylegan3
from networks.conventions import ClassError, class_count, class_label, seed_latent
from networks.errors import UserError
from networks.stylegan3 import input_transform, input_transform_of
from ops.spectrum import kaiser_window_2d

__all__ = ['BANDS', 'BAND_LABELS', 'LIMIT_KEYS', 'DEFAULT_BETA', 'MIN_BINS', 'PROGRESS_LABEL', 'definition',
           'auto_padding', 'layer_limits', 'band_fractions', 'aliasing_table', 'aliasing_average', 'table_csv',
           'table_json', 'aliasing_figure', 'figure_png']

DEFAULT_BETA = 8.0      # NVlabs' spectrum window
MIN_BINS = 128          # default zero padding: at least this many FFT bins per axis (a whole multiple of the map)
MAX_AUTO_PADDING = 8    # ... but no more than this factor (a 4 px map of 512 channels is not worth 128^2 bins)
PROGRESS_LABEL = 'aliasing'
BANDS = ('above_cutoff', 'above_stopband', 'aliases')
BAND_LABELS = {'above_cutoff': '|f| > fc (above the cutoff)',
               'above_stopband': '|f| > ft (in the stopband)',
               'aliases': "|f| > next layer's s/2 (aliases)"}
LIMIT_KEYS = ('name', 'kind', 'in_sampling_rate', 'in_cutoff', 'in_stopband', 'in_half_rate', 'out_sampling_rate',
              'out_cutoff', 'out_stopband', 'out_half_rate', 'next_half_rate', 'size', 'margin', 'channels',
              'critically_sampled')

Transform = Mapping[str, Any]   # keyword arguments of networks.stylegan3.input_transform


def definition(beta: float = DEFAULT_BETA, padding: int | None = None) -> str:
    """One line that says what the fractions are, for files and titles."""
    padded = f'x{padding}' if padding else f'to at least {MIN_BINS} bins per axis (at most x{MAX_AUTO_PADDING})'
    return ('energy fractions of each layer output over its image area (margin cropped), per-channel mean removed, '
            f'Kaiser window (beta {beta:g}), FFT zero-padded {padded}, power summed over channels, radial frequency '
            'in cycles per image width: above_cutoff |f| > fc, above_stopband |f| > ft = fc + half_width, '
            "aliases |f| > the next layer's s/2")


def auto_padding(height: int, width: int) -> int:
    """The default zero padding of a `height` x `width` map: the smallest whole factor that gives it at least
    `MIN_BINS` bins per axis, at most `MAX_AUTO_PADDING` (1 for maps of `MIN_BINS` px or more)."""
    return min(max(1, math.ceil(MIN_BINS / max(min(int(height), int(width)), 1))), MAX_AUTO_PADDING)


# ------------------------------------------------------------------------------------------------------------
# The limits, from the network's own attributes

def _kind(G: torch.nn.Module) -> str:
    synthesis = getattr(G, 'synthesis', None)
    if isinstance(synthesis, stylegan3.SynthesisNetwork):
        return 'stylegan3'
    if isinstance(synthesis, stylegan2.SynthesisNetwork):
        return 'stylegan2'
    raise UserError(f'aliasing per layer needs a StyleGAN2 or StyleGAN3 generator; {type(G).__name__} has '
                    f'a {type(synthesis).__name__} synthesis network')


def _row(name: str, kind: str, in_rate: float | None, in_cutoff: float | None, in_stopband: float | None,
         out_rate: float, out_cutoff: float | None, out_stopband: float | None, size: int, margin: int,
         channels: int, critically_sampled: bool | None) -> dict:
    def number(value):
        return None if value is None else float(value)

    return dict(name=name, kind=kind, in_sampling_rate=number(in_rate), in_cutoff=number(in_cutoff),
                in_stopband=number(in_stopband), in_half_rate=None if in_rate is None else float(in_rate) / 2,
                out_sampling_rate=float(out_rate), out_cutoff=number(out_cutoff), out_stopband=number(out_stopband),
                out_half_rate=float(out_rate) / 2, next_half_rate=None, size=int(size), margin=int(margin),
                channels=int(channels), critically_sampled=critically_sampled)


def _margin(size: int, sampling_rate: float) -> int:
    """Pixels on each side of the central `sampling_rate` px (the image area) of a map `size` px wide; an odd
    difference leaves the extra pixel on the far side, as a crop of `sampling_rate` px from `margin` does."""
    return max(int(size) - int(round(float(sampling_rate))), 0) // 2


def _stylegan3_limits(synthesis: torch.nn.Module) -> list[dict]:
    inp = synthesis.input
    first = getattr(synthesis, synthesis.layer_names[0])
    rows = [_row('input', 'input', None, None, None, inp.sampling_rate, inp.bandwidth,
                 first.in_cutoff + first.in_half_width, int(inp.size[0]), _margin(inp.size[0], inp.sampling_rate),
                 inp.channels, None)]
    for name in synthesis.layer_names:
        layer = getattr(synthesis, name)
        rows.append(_row(name, 'torgb' if layer.is_torgb else 'layer', layer.in_sampling_rate, layer.in_cutoff,
                         layer.in_cutoff + layer.in_half_width, layer.out_sampling_rate, layer.out_cutoff,
                         layer.out_cutoff + layer.out_half_width, int(layer.out_size[0]),
                         _margin(layer.out_size[0], layer.out_sampling_rate), layer.out_channels,
                         bool(layer.is_critically_sampled)))
    return rows


def _stylegan2_limits(synthesis: torch.nn.Module) -> list[dict]:
    rows = []
    for res in synthesis.block_resolutions:
        block = getattr(synthesis, f'b{res}')
        for part in ('conv0', 'conv1', 'torgb'):   # the order a block runs them in
            layer = getattr(block, part, None)
            if layer is None:
                continue
            in_rate = res // 2 if part == 'conv0' else res
            rows.append(_row(f'b{res}.{part}', 'torgb' if part == 'torgb' else 'layer', in_rate, None, None, res,
                             None, None, res, 0, layer.out_channels, None))
    return rows


def layer_limits(G: torch.nn.Module) -> list[dict]:
    """One row per synthesis layer in execution order, named as in `G.synthesis.named_modules()` (StyleGAN3:
    'input', 'L0_36_512', ...; StyleGAN2: 'b4.conv1', 'b4.torgb', 'b8.conv0', ...), with the keys of `LIMIT_KEYS`:
    kind ('input' | 'layer' | 'torgb'), in_/out_ sampling_rate, cutoff, stopband (fc + half_width) and half_rate
    (s/2) in cycles per image width (None where the network has none), next_half_rate, size (px), margin (px on
    each side of the image area), channels and critically_sampled (StyleGAN3 layers; else None)."""
    synthesis = G.synthesis
    rows = _stylegan3_limits(synthesis) if _kind(G) == 'stylegan3' else _stylegan2_limits(synthesis)
    for row, after in zip(rows, rows[1:] + rows[-1:]):
        row['next_half_rate'] = after['out_half_rate']
    return rows


# ------------------------------------------------------------------------------------------------------------
# The measure

CHUNK_BYTES = 64 << 20   # spectra computed at once: bounds the memory of a wide or large layer (most fit whole)


@functools.lru_cache(maxsize=64)
def _band_weights(height: int, width: int, sampling_rate: float, limits: tuple[float | None, ...]) -> torch.Tensor:
    """[1 + len(limits), height * (width // 2 + 1)] float64 weights of the bins of a real FFT of a map sampled at
    `sampling_rate` samples per image width: row 0 counts the bins each stored one stands for (2 for the columns
    whose mirror image, -fx, the real FFT leaves out), row 1 + i the same where |f| > limits[i] (zeros for None).
    |f| is radial, in cycles per image width (bin k of n: k / n cycles per sample)."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64).reshape(-1, 1) * sampling_rate
    fx = torch.fft.rfftfreq(width, dtype=torch.float64).reshape(1, -1) * sampling_rate
    count = torch.full([height, fx.shape[1]], 2.0, dtype=torch.float64)
    count[:, 0] = 1.0
    if width % 2 == 0:
        count[:, -1] = 1.0   # the Nyquist column is its own mirror image
    radius = (fx.square() + fy.square()).sqrt()
    rows = [count] + [count * (radius > limit) if limit is not None else torch.zeros_like(count) for limit in limits]
    return torch.stack(rows).reshape(len(rows), -1)


def _power(region: torch.Tensor, beta: float, padding: int) -> torch.Tensor:
    """Power spectrum of `region` [N, C, H, W] summed over images and channels, as `ops.spectrum.power_spectrum_sum`
    defines it (each channel's mean removed, its Kaiser window, zero-padded FFT), as the left half of a real FFT:
    float64 CPU [H * padding, W * padding // 2 + 1]. Computed in float32 on the map's device, as many maps at a time
    as `CHUNK_BYTES` of spectra hold (few operations: each costs a thread hand-over on a busy CPU)."""
    height, width = region.shape[-2:]
    size = (height * padding, width * padding)
    maps = region.reshape(-1, height, width)
    chunk = max(1, CHUNK_BYTES // (size[0] * (size[1] // 2 + 1) * 8))
    window = kaiser_window_2d(height, width, beta, torch.float32, region.device)
    total = None
    for start in range(0, maps.shape[0], chunk):
        x = maps[start:start + chunk].to(torch.float32)
        x = (x - x.mean(dim=(1, 2), keepdim=True)) * window
        spec = torch.view_as_real(torch.fft.rfft2(x, s=size))
        part = torch.linalg.vector_norm(spec, dim=(0, 3)).square()
        total = part if total is None else total + part
    return total.to('cpu', torch.float64)


def band_fractions(x: torch.Tensor, sampling_rate: float, cutoff: float | None, stopband: float | None,
                   next_half_rate: float | None, margin: int = 0, *, beta: float = DEFAULT_BETA,
                   padding: int | None = None) -> dict[str, float | None]:
    """Fractions of the energy of a feature map `x` ([C, H, W] or [N, C, H, W]) beyond three frequencies.

    The region is `x` without `margin` px on each side (for a layer's output: its image area, the central
    `sampling_rate` px); each channel's mean over it is removed, the Kaiser window (`beta`) applied, the FFT
    zero-padded `padding` times (None: `auto_padding`) and its power summed over channels and images (the definition of
    `ops.spectrum.power_spectrum_sum`). A bin's frequency is its radial |f| in cycles per image width
    (`sampling_rate` px per width). Returns dict(above_cutoff: |f| > cutoff, above_stopband: |f| > stopband,
    aliases: |f| > next_half_rate), each of the total; None where its frequency is None; NaN for all when the
    region holds no energy (a constant map).
    """
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f'expected a feature map [C, H, W] or [N, C, H, W], got shape {tuple(x.shape)}')
    margin = int(margin)
    height, width = int(x.shape[-2]) - 2 * margin, int(x.shape[-1]) - 2 * margin
    if margin < 0 or height < 1 or width < 1:
        raise ValueError(f'margin {margin} leaves nothing of a {x.shape[-2]}x{x.shape[-1]} map')
    padding = auto_padding(height, width) if padding is None else int(padding)
    if padding < 1:
        raise ValueError(f'padding must be at least 1, got {padding}')
    limits = tuple(None if f is None else float(f) for f in (cutoff, stopband, next_half_rate))
    spec = _power(x.detach()[..., margin:margin + height, margin:margin + width], float(beta), padding)
    total, *beyond = (_band_weights(height * padding, width * padding, float(sampling_rate), limits)
                      @ spec.flatten()).tolist()
    return {key: None if limit is None else part / total if total > 0 else math.nan
            for key, limit, part in zip(BANDS, limits, beyond)}


def _device_of(G: torch.nn.Module) -> torch.device:
    for tensor in G.parameters():
        return tensor.device
    return torch.device('cpu')


def _check_transform(G: torch.nn.Module, transform: Transform | None) -> Transform:
    """`transform` as keyword arguments of `input_transform` (None: the identity); a transform asked of a
    network without an input transform (StyleGAN2) is refused, since it would change nothing."""
    transform = dict(transform or {})
    unknown = set(transform) - {'translate', 'angle_degrees', 'linear'}
    if unknown:
        raise ValueError(f'unknown input transform keys {sorted(unknown)}: translate, angle_degrees, linear')
    identity = (tuple(float(t) for t in transform.get('translate', (0.0, 0.0))) == (0.0, 0.0)
                and float(transform.get('angle_degrees', 0.0)) == 0.0
                and (transform.get('linear') is None or np.array_equal(np.asarray(transform['linear']), np.eye(2))))
    if not identity and input_transform_of(G) is None:
        raise UserError('translate/rotate: this network has no input transform (StyleGAN2); '
                        'only StyleGAN3 networks can be moved', option=('translate', 'rotate'))
    return transform


@torch.no_grad()
def aliasing_table(G: torch.nn.Module, ws: torch.Tensor, transform: Transform | None = None, *,
                   beta: float = DEFAULT_BETA, padding: int | None = None,
                   check: Callable[[], object] | None = None) -> list[dict]:
    """:func:`layer_limits` with the :func:`band_fractions` of every layer's output for `ws` ([N, num_ws, w_dim];
    N > 1 pools the images' energy), from one `G.synthesis(ws, noise_mode='const')` with a forward hook on each
    layer. `transform`: keyword arguments of `networks.stylegan3.input_transform` (translate in image widths,
    angle_degrees, linear) applied for this pass and restored after; None: the identity. `check` is called before
    each layer's measure (it may raise to stop the pass)."""
    transform = _check_transform(G, transform)
    rows = layer_limits(G)
    modules = dict(G.synthesis.named_modules())
    handles = []

    def measure(row: dict) -> Callable:
        def hook(_module, _inputs, output):
            if check is not None:
                check()
            row.update(band_fractions(output, row['out_sampling_rate'], row['out_cutoff'], row['out_stopband'],
                                      row['next_half_rate'], row['margin'], beta=beta, padding=padding))
        return hook

    try:
        for row in rows:
            handles.append(modules[row['name']].register_forward_hook(measure(row)))
        with input_transform(G, **transform):
            G.synthesis(ws.to(_device_of(G)), noise_mode='const')
    finally:
        for handle in handles:
            handle.remove()
    return rows


def _control(control) -> tuple[Callable[[], object], Callable[[int, int], object]]:
    """(check, progress(done, total)) of `control`: None; an object with check() and report(what, done, total)
    (as the renderer's analysis control); or a plain callable progress(done, total)."""
    if control is None:
        return (lambda: None), (lambda done, total: None)
    if callable(getattr(control, 'check', None)) and callable(getattr(control, 'report', None)):
        return control.check, (lambda done, total: control.report(PROGRESS_LABEL, done, total))
    if callable(control):
        return (lambda: None), control
    raise TypeError(f'control must be None, a callable progress(done, total) or have check() and report(); '
                    f'got {type(control).__name__}')


@torch.no_grad()
def aliasing_average(G: torch.nn.Module, seeds: Sequence[int], psi: float = 1.0, transform: Transform | None = None,
                     class_idx: int | None = None, control=None, *, beta: float = DEFAULT_BETA,
                     padding: int | None = None) -> list[dict]:
    """:func:`aliasing_table` averaged over `seeds`: one pass per seed (its z, `networks.conventions.seed_latent`;
    its class, `class_label`: `class_idx`, else the seed's own for a conditional network; truncation `psi`), and
    each fraction the mean over the seeds where it is finite. `control`: None, a callable progress(done, total),
    or an object with check() (called before each seed and each layer; raise there to stop) and
    report(what, done, total) (called with `PROGRESS_LABEL` before the first seed and after each)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise UserError('no seeds to average over', option='seeds')
    if class_idx is not None and not class_count(G):
        raise ClassError(f'class {class_idx} given, but the network is unconditional (it has no classes)')
    transform = _check_transform(G, transform)
    check, progress = _control(control)
    device = _device_of(G)
    sums: list[dict[str, list[float]]] | None = None
    rows: list[dict] = []
    progress(0, len(seeds))
    for done, seed in enumerate(seeds, 1):
        check()
        ws = G.mapping(seed_latent(G, seed).to(device), class_label(G, class_idx, seed).to(device),
                       truncation_psi=psi)
        rows = aliasing_table(G, ws, transform, beta=beta, padding=padding, check=check)
        if sums is None:
            sums = [{key: [] for key in BANDS} for _ in rows]
        for row, values in zip(rows, sums):
            for key in BANDS:
                if row[key] is not None and math.isfinite(row[key]):
                    values[key].append(row[key])
        progress(done, len(seeds))
    for row, values in zip(rows, sums):
        for key in BANDS:
            if row[key] is not None:
                row[key] = float(np.mean(values[key])) if values[key] else math.nan
    return rows


# ------------------------------------------------------------------------------------------------------------
# Files and the chart

def table_csv(rows: Sequence[Mapping]) -> str:
    """The table as CSV: `LIMIT_KEYS` then `BANDS`, one line per layer; None is an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    keys = (*LIMIT_KEYS, *BANDS)
    writer.writerow(keys)
    for row in rows:
        writer.writerow(['' if row.get(k) is None else repr(row[k]) if isinstance(row[k], float) else row[k]
                         for k in keys])
    return out.getvalue()


def table_json(rows: Sequence[Mapping], **meta) -> str:
    """The table as JSON: dict(definition, **meta, layers=rows); NaN becomes null (JSON has no NaN)."""
    def clean(value):
        return None if isinstance(value, float) and not math.isfinite(value) else value

    layers = [{k: clean(v) for k, v in row.items()} for row in rows]
    record = dict(definition=definition(meta.get('beta', DEFAULT_BETA), meta.get('padding')), **meta, layers=layers)
    return json.dumps(record, indent=2, allow_nan=False)


LOWEST_FLOOR = 1e-12   # the chart's log scale reaches down to the smallest fraction above 0, but not below this


def _floor(rows: Sequence[Mapping], bands: Sequence[str]) -> float:
    """The chart's lowest fraction: the power of ten at or below the smallest positive one (at least
    `LOWEST_FLOOR`; 1e-6 where there is none)."""
    positive = [row[key] for row in rows for key in bands
                if row.get(key) is not None and math.isfinite(row[key]) and row[key] > 0]
    if not positive:
        return 1e-6
    return max(10.0 ** math.floor(math.log10(min(positive))), LOWEST_FLOOR)


def aliasing_figure(rows: Sequence[Mapping], title: str = ''):
    """Grouped bars (log scale, from the smallest positive fraction's power of ten to 1) of the three fractions per
    layer, in execution order; a 0 (or NaN) has no bar, and a band with no frequency (StyleGAN2's cutoff and
    stopband) is left out. The caller closes the figure."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from analysis.spectrum_plots import wrap_title

    bands = [key for key in BANDS if any(row.get(key) is not None for row in rows)]
    floor = _floor(rows, bands)
    width = 0.8 / max(len(bands), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(rows) + 2), 4.4), dpi=80)
    xs = np.arange(len(rows))
    for i, key in enumerate(bands):
        values = [row.get(key) for row in rows]
        heights = [max(v, floor) if v is not None and math.isfinite(v) and v > 0 else 0.0 for v in values]
        ax.bar(xs + (i - (len(bands) - 1) / 2) * width, heights, width, label=BAND_LABELS[key])
    ax.set_yscale('log')
    ax.set_ylim(floor, 1.0)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_xticks(xs)
    ax.set_xticklabels([row['name'] for row in rows], rotation=60, ha='right', fontsize=8)
    ax.set_ylabel('fraction of the energy')
    ax.grid(axis='y', alpha=0.3)
    ax.legend(loc='lower center', bbox_to_anchor=(0.5, 1.0), ncol=len(bands), fontsize=8, frameon=False)
    if title:
        fig.suptitle(wrap_title(title, fig.get_size_inches()[0], 9), fontsize=9)
    fig.tight_layout()
    return fig


def figure_png(rows: Sequence[Mapping], title: str = '') -> bytes:
    """:func:`aliasing_figure` as PNG bytes (for an atomic write)."""
    from analysis.spectrum_plots import png_bytes

    return png_bytes(aliasing_figure(rows, title))
