"""Equivariance per layer of a StyleGAN3 generator: where in the network translation or rotation equivariance is
kept and where it is lost (the alias-free paper's argument, layer by layer).

For one latent and one input transform T (a translation in image widths, whole output pixels or fractional, or a
rotation), the synthesis runs twice with a forward hook on every layer: once with the identity input transform,
once with T (through ``G.synthesis.input.transform``, as the EQ metrics move the input). Every layer's feature
map from the first run is then moved by T in that layer's own coordinates and compared with the same layer's map
from the second run:

- Coordinates. A StyleGAN3 layer samples a continuous signal at ``sampling_rate`` samples per image width, on a
  grid centred on the image, and its map carries a margin around the central ``sampling_rate`` pixels (``size =
  sampling_rate + 2 * margin``; the last two layers have none). A translation by t image widths is therefore a
  shift of t * sampling_rate layer pixels; the ``ops.resample`` operators take shifts in units of the map's own
  width, so they are given t * sampling_rate / width. A rotation turns every map about its centre by the same
  angle.
- Operators: those of the EQ metrics (``training.metrics.equivariance``). EQ-T (integer): the exact integer
  shift where t * sampling_rate is a whole number of layer pixels; where it is not (a translation of whole output
  pixels is a fraction of a pixel in a coarser layer) there is no exact integer shift, and the layer gets the
  metric's fractional operator (separable Lanczos-3) instead; each entry's ``operator`` says which it got. EQ-T
  frac: the fractional operator everywhere. EQ-R: the band-limited rotation of the untransformed map against the
  matching pseudo-rotation (the same band limit, nothing moved) of the transformed map.
- Region: the pixels where the operators' results are complete (their masks, as in the metrics), within the
  central ``sampling_rate`` pixels of the map, the part that covers the image. The margin exists to take the
  boundary effects of the convolutions and filters (the zero padding at the map's edge) away from that part, so it
  is not expected to be equivariant; ``crop_margin=False`` compares the whole map instead.
- Score: a PSNR in dB. Feature maps do not span [-1, 1] like the image, so each layer's squared error is taken
  relative to the layer's own signal and put on the output's scale:

      PSNR_l = 20 log10(2) - 10 log10(mse_l * ms_out / ms_l),

  with mse_l the layer's mean squared error over its region, ms_l the mean square of the layer's reference (the
  moved untransformed map) over the same region, and ms_out that of the output's reference over the output's
  region. mse_l / ms_l is the layer's error relative to its signal, which a change of scale (a layer's gain, the
  output scale of 0.25 between the last layer and the output) leaves alone; times ms_out it is the PSNR the
  output would have with that relative error. For the output itself the factor is 1, and the ``output`` entry is
  computed exactly as the metric computes it (same operators, masks and PSNR with I_max = 2), so it equals the
  metric on the same samples. The mean square includes each map's mean (the PSNR of the image does not remove it
  either).

:func:`layer_equivariance_average` draws every sample's latent, label and transform from
``training.metrics.equivariance.sample_generator(seed, i)`` in the metric's order and batches as the metric does,
sums squared errors, counts and reference energies over the samples and then takes the PSNR, as the metric does:
its ``output`` entry equals ``compute_equivariance(G, metric, N, batch_size, seed=seed)``.

Cost: two synthesis passes per sample (the untransformed one batched), every layer's untransformed maps held
while the transformed pass runs, and one resampling per layer (the rotation's 4x upsampling is the dearest).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from networks.errors import UserError
from networks.stylegan3 import input_transform
from ops import resample
from training.metrics import feature_stats
from training.metrics.equivariance import (
    EQ_METRICS,
    input_transform_buffer,
    psnr_from_sums,
    random_angle,
    random_translation,
    sample_generator,
)

__all__ = ['KINDS', 'KIND_LABELS', 'METRIC_OF_KIND', 'OUTPUT', 'Control', 'check_generator', 'draw_transform',
           'layer_equivariance', 'layer_equivariance_average', 'layer_equivariance_readout', 'readout_transforms',
           'normalised_psnr', 'layer_eq_figure', 'layer_eq_png']

KINDS = ('eqt_int', 'eqt_frac', 'eqr')
KIND_LABELS = {'eqt_int': 'EQ-T', 'eqt_frac': 'EQ-T frac', 'eqr': 'EQ-R'}
METRIC_OF_KIND = {kind: metric for metric, kind in EQ_METRICS.items()}
OUTPUT = 'output'  # the synthesis output's entry, named as in the visualizer's layer list
_WHOLE_PIXEL_TOLERANCE = 1e-6  # |t * sampling_rate - round(.)| below this is a whole number of layer pixels


class Control(Protocol):
    """What the averaging accepts to be cancelled and to report progress (the renderer's AnalysisControl is one):
    ``check()`` raises to stop; ``report(what, done, total)`` says how far it is."""

    def check(self) -> None: ...

    def report(self, what: str, done: int, total: int) -> None: ...


def check_generator(G: torch.nn.Module) -> torch.Tensor:
    """The generator's 3x3 input-transform buffer; a one-line :class:`UserError` for a network without one (the EQ
    metrics' own check, in this analysis's words)."""
    return input_transform_buffer(G, 'per-layer equivariance needs')


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UserError(f'unknown equivariance kind {kind!r}; choose from {", ".join(KINDS)}')


def draw_transform(kind: str, gen: torch.Generator, resolution: int) -> tuple[float, float] | float:
    """The transform the EQ metric of `kind` draws from `gen` (its own drawing code, so that sample i gets the
    transform ``compute_equivariance`` gives it): (tx, ty) in image widths, or an angle in radians."""
    _check_kind(kind)
    if kind == 'eqr':
        return random_angle(gen)
    return random_translation(gen, resolution, integer=(kind == 'eqt_int'))


def _device_of(G: torch.nn.Module) -> torch.device:
    for tensor in G.parameters():
        return tensor.device
    return torch.device('cpu')


def _sampling_rates(G: torch.nn.Module) -> dict[str, float]:
    """Each synthesis submodule's output sampling rate (samples per image width), where it declares one."""
    rates = {}
    for name, module in G.synthesis.named_modules():
        rate = getattr(module, 'out_sampling_rate', None)
        rate = getattr(module, 'sampling_rate', None) if rate is None else rate
        if name and isinstance(rate, (int, float, np.integer, np.floating)):
            rates[name] = float(rate)
    return rates


def _capture(G: torch.nn.Module, on_map: Callable[[str, torch.Tensor], None],
             control: Control | None) -> list:
    """Forward hooks on every synthesis submodule calling ``on_map(name, map)`` for each 4-D output the first time
    it appears, in execution order, named as the visualizer's layer list names them (a tuple output's items
    "name:0", "name:1"). Returns the handles to remove."""
    seen: set[str] = set()

    def make_hook(name):
        def hook(_module, _inputs, output):
            if control is not None:
                control.check()
            if isinstance(output, torch.Tensor):
                outs = [(name, output)]
            elif isinstance(output, (tuple, list)):
                outs = [(f'{name}:{i}', o) for i, o in enumerate(output) if isinstance(o, torch.Tensor)]
            else:
                outs = []
            for n, o in outs:
                if o.ndim == 4 and n not in seen:
                    seen.add(n)
                    on_map(n, o.detach())
        return hook

    return [module.register_forward_hook(make_hook(name)) for name, module in G.synthesis.named_modules() if name]


def _sums(values: Sequence[torch.Tensor]) -> list[float]:
    """Per-image float32 partial sums on the device, the rest in float64 on the CPU (as the metric sums)."""
    return [v.flatten(1).sum(dim=1).to('cpu', torch.float64).sum().item() for v in values]


def _central_box(x: torch.Tensor, sampling_rate: float) -> torch.Tensor:
    """1 on the central `sampling_rate` pixels of the map (the part that covers the image), 0 on its margin."""
    H, W = x.shape[-2:]
    box = torch.zeros_like(x)
    s = int(round(sampling_rate))
    y0, x0 = max((H - s) // 2, 0), max((W - s) // 2, 0)
    box[..., y0:y0 + s, x0:x0 + s] = 1
    return box


def _terms(orig: torch.Tensor, moved: torch.Tensor, kind: str, param, sampling_rate: float,
           crop_margin: bool, is_output: bool) -> tuple[float, float, float, str]:
    """(sum of squared errors, valid count, sum of squares of the reference, operator) of one map.

    The output (``is_output``) goes through exactly the metric's calls, shifts in image widths as drawn.
    """
    if kind in ('eqt_int', 'eqt_frac'):
        tx, ty = param
        H, W = orig.shape[-2:]
        px, py = tx * sampling_rate, ty * sampling_rate  # the shift in layer pixels
        whole = all(abs(v - round(v)) < _WHOLE_PIXEL_TOLERANCE for v in (px, py))
        integer = kind == 'eqt_int' and (whole or is_output)
        apply = resample.apply_integer_translation if integer else resample.apply_fractional_translation
        ref, mask = apply(orig, tx, ty) if is_output else apply(orig, px / W, py / H)
        img = moved
        operator = 'integer' if integer else 'fractional'
    else:
        ref, ref_mask = resample.apply_fractional_rotation(orig, param)
        img, pseudo_mask = resample.apply_fractional_pseudo_rotation(moved, param)
        mask = ref_mask * pseudo_mask
        operator = 'rotation'
    if crop_margin and not is_output:
        mask = mask * _central_box(orig, sampling_rate)
    sq_err, count, sq_ref = _sums([(ref - img).square() * mask, mask, ref.square() * mask])
    return sq_err, count, sq_ref, operator


def normalised_psnr(sq_err: float, count: float, sq_ref: float, out_sq_ref: float, out_count: float) -> float:
    """PSNR_l = 20 log10(2) - 10 log10(mse_l * ms_out / ms_l) from sums (the module's definition).

    NaN where it is undefined (no valid pixel, or an output that is zero over its region); +inf for no error,
    -inf for an error on a layer whose reference is zero.
    """
    if count <= 0 or out_count <= 0 or not out_sq_ref > 0:
        return float('nan')
    if sq_err <= 0:
        return float('inf')
    if not sq_ref > 0:
        return float('-inf')
    return psnr_from_sums(sq_err * (out_sq_ref / out_count) / (sq_ref / count), count)


def _entries(names: list[str], info: dict, sums: dict[str, np.ndarray], operators: dict[str, str]) -> list[dict]:
    """The result rows: sums and the PSNR of each map, the output's exactly as the metric's."""
    _, out_count, out_ref = sums[OUTPUT]
    rows = []
    for name in names:
        sq_err, count, sq_ref = (float(v) for v in sums[name])
        psnr = psnr_from_sums(sq_err, count) if name == OUTPUT else \
            normalised_psnr(sq_err, count, sq_ref, out_ref, out_count)
        rows.append(dict(name=name, sampling_rate=info[name][0], size=info[name][1][-1], shape=info[name][1],
                         psnr_db=psnr, sq_err=sq_err, count=count, sq_ref=sq_ref, operator=operators[name]))
    return rows


@torch.no_grad()
def _identity_run(G: torch.nn.Module, ws: torch.Tensor, control: Control | None):
    """The untransformed maps of a batch of latents: (names, {name: (rate, shape)}, {name: maps}, output)."""
    rates = _sampling_rates(G)
    names: list[str] = []
    info: dict[str, tuple[float, tuple[int, ...]]] = {}
    originals: dict[str, torch.Tensor] = {}

    def keep(name, x):
        names.append(name)
        info[name] = (rates.get(name, float(x.shape[-1])), tuple(int(s) for s in x.shape[1:]))
        originals[name] = x.to(torch.float32, copy=True)

    handles = _capture(G, keep, control)
    try:
        orig = G.synthesis(ws, noise_mode='const').float()
    finally:
        for h in handles:
            h.remove()
    info[OUTPUT] = (float(G.img_resolution), tuple(int(s) for s in orig.shape[1:]))
    return names + [OUTPUT], info, originals, orig


@torch.no_grad()
def _transformed_run(G: torch.nn.Module, transform: torch.Tensor, ws: torch.Tensor, names: list[str], info: dict,
                     originals: dict[str, torch.Tensor], orig: torch.Tensor, j: int, kind: str, param,
                     crop_margin: bool, control: Control | None) -> tuple[dict, dict]:
    """Sample j of the batch under the transform: ({name: [sq_err, count, sq_ref]}, {name: operator}).

    The transform goes into the buffer as the metric puts it there; every map is compared as soon as its layer
    has run, so only the untransformed maps are held."""
    sums: dict[str, np.ndarray] = {}
    operators: dict[str, str] = {}

    def compare(name, x):
        if name not in originals:
            raise RuntimeError(f'layer {name} appeared only in the transformed run')
        *values, operators[name] = _terms(originals[name][j:j + 1], x.to(torch.float32), kind, param,
                                          info[name][0], crop_margin, is_output=False)
        sums[name] = np.array(values)

    if kind == 'eqr':
        transform.copy_(resample.rotation_matrix(-param).to(transform))
    else:
        mat = torch.eye(3, device=transform.device, dtype=transform.dtype)
        mat[0, 2], mat[1, 2] = -param[0], -param[1]  # the inverse of translating by (tx, ty)
        transform.copy_(mat)
    handles = _capture(G, compare, control)
    try:
        img = G.synthesis(ws[j:j + 1], noise_mode='const').float()
    finally:
        for h in handles:
            h.remove()
    missing = [name for name in names if name != OUTPUT and name not in sums]
    if missing:
        raise RuntimeError(f'layers {missing} did not run with the transformed input')
    *values, operators[OUTPUT] = _terms(orig[j:j + 1], img, kind, param, info[OUTPUT][0], crop_margin,
                                        is_output=True)
    sums[OUTPUT] = np.array(values)
    return sums, operators


def _as_param(kind: str, transform_param, resolution: int):
    """(tx, ty) floats, whole output pixels for EQ-T as the metric draws them; or a float angle in radians."""
    _check_kind(kind)
    if kind == 'eqr':
        try:
            angle = float(transform_param)
        except (TypeError, ValueError):
            raise UserError(f'a rotation is an angle in radians, got {transform_param!r}') from None
        if not math.isfinite(angle):
            raise UserError(f'rotation angle must be finite, got {transform_param!r}')
        return angle
    try:
        tx, ty = (float(v) for v in transform_param)
    except (TypeError, ValueError):
        raise UserError(f'a translation is (tx, ty) in image widths, got {transform_param!r}') from None
    if not (math.isfinite(tx) and math.isfinite(ty)):
        raise UserError(f'translation must be finite, got ({tx}, {ty})')
    if kind == 'eqt_int':
        tx, ty = (round(v * resolution) / resolution for v in (tx, ty))
    return tx, ty


def layer_equivariance(G: torch.nn.Module, ws: torch.Tensor, kind: str, transform_param,
                       crop_margin: bool = True, control: Control | None = None) -> list[dict]:
    """Per-layer equivariance of one latent `ws` [1, num_ws, w_dim] under one transform (the module's definition).

    `kind` 'eqt_int' | 'eqt_frac' take `transform_param` = (tx, ty) in image widths ('eqt_int' rounds it to whole
    output pixels, as EQ-T draws it); 'eqr' takes an angle in radians. Returns one dict per map in execution order
    ('input', the layers, last 'output'): name, sampling_rate, size (map width), shape [C, H, W], psnr_db, and the
    sums it came from: sq_err, count (valid values), sq_ref (squares of the reference over them); operator
    ('integer' | 'fractional' | 'rotation'). The input transform is left as it was.
    """
    check_generator(G)
    param = _as_param(kind, transform_param, int(G.img_resolution))
    if ws.ndim != 3 or ws.shape[0] != 1:
        raise UserError(f'ws must be one latent [1, num_ws, w_dim], got {list(ws.shape)}')
    with torch.no_grad(), input_transform(G) as transform:  # identity for the first run, restored on exit
        names, info, originals, orig = _identity_run(G, ws, control)
        sums, operators = _transformed_run(G, transform, ws, names, info, originals, orig, 0, kind, param,
                                           crop_margin, control)
    return _entries(names, info, sums, operators)


def layer_equivariance_average(G: torch.nn.Module, kind: str, num_samples: int, seed: int = 0,
                               batch_size: int = 4, crop_margin: bool = True, control: Control | None = None,
                               dataset=None, transforms_out: list | None = None) -> list[dict]:
    """:func:`layer_equivariance` over `num_samples` samples, sums first, then the PSNR (as the metric averages).

    Sample i draws its latent, label and transform from ``sample_generator(seed, i)`` in the order
    ``compute_equivariance`` draws them, and runs batched as it does (the mapping and the untransformed maps by
    `batch_size`, each transformed sample alone), so the 'output' entry equals ``compute_equivariance(G, metric,
    num_samples, batch_size, seed=seed)`` for the metric of `kind`; another batch size changes results by float32
    rounding only. `control`, when given, is checked inside every layer and reported after every sample
    (``report('layer EQ', done, num_samples)``); `transforms_out`, a list, receives each sample's transform. Each
    entry carries ``num_samples``; an entry's operator lists every operator its samples got ('fractional+integer').
    """
    check_generator(G)
    _check_kind(kind)
    if num_samples < 1:
        raise UserError(f'num_samples must be at least 1, got {num_samples}')
    if batch_size < 1:
        raise UserError(f'batch_size must be at least 1, got {batch_size}')
    device = _device_of(G)
    resolution = int(G.img_resolution)
    names: list[str] | None = None
    info: dict = {}
    totals: dict[str, np.ndarray] = {}
    operators: dict[str, set[str]] = {}
    if control is not None:
        control.report('layer EQ', 0, num_samples)
    with torch.no_grad(), input_transform(G) as transform:  # restored on exit
        for start in range(0, num_samples, batch_size):
            if control is not None:
                control.check()
            gens = [sample_generator(seed, i) for i in range(start, min(start + batch_size, num_samples))]
            # The metric's per-sample order: latent, label, then (below) the transform.
            z = torch.cat([torch.randn([1, G.z_dim], generator=g) for g in gens]).to(device)
            c = torch.cat([feature_stats.random_labels(G, 1, g, dataset) for g in gens]).to(device)
            ws = G.mapping(z, c)
            transform.copy_(torch.eye(3))
            batch_names, info, originals, orig = _identity_run(G, ws, control)
            if names is None:
                names = batch_names
            elif batch_names != names:
                raise RuntimeError('the layer list changed between batches')
            for j, g in enumerate(gens):
                param = draw_transform(kind, g, resolution)
                if transforms_out is not None:
                    transforms_out.append(param)
                sums, ops = _transformed_run(G, transform, ws, names, info, originals, orig, j, kind, param,
                                             crop_margin, control)
                for name in names:
                    totals[name] = totals.get(name, 0) + sums[name]
                    operators.setdefault(name, set()).add(ops[name])
                if control is not None:
                    control.report('layer EQ', start + j + 1, num_samples)
            del originals
    rows = _entries(names, info, totals, {name: '+'.join(sorted(ops)) for name, ops in operators.items()})
    for row in rows:
        row['num_samples'] = num_samples
    return rows


def readout_transforms(kind: str, num_transforms: int, resolution: int, seed: int = 0) -> list:
    """The transforms of `kind` that the window's EQ readout (``training.metrics.equivariance.equivariance_readout``)
    uses for one latent: it draws `num_transforms` of each kind in the order EQ-T, EQ-T frac, EQ-R from one
    generator seeded with `seed`, so the draws of a later kind come after those of the earlier ones."""
    _check_kind(kind)
    gen = torch.Generator().manual_seed(int(seed))
    for each in KINDS:
        params = [draw_transform(each, gen, resolution) for _ in range(int(num_transforms))]
        if each == kind:
            return params
    raise AssertionError('unreachable')


def layer_equivariance_readout(G: torch.nn.Module, ws: torch.Tensor, kind: str, num_transforms: int = 4,
                               seed: int = 0, crop_margin: bool = True,
                               control: Control | None = None) -> list[dict]:
    """The live curve: :func:`layer_equivariance` of one latent `ws` under the `num_transforms` transforms of
    `kind` that the EQ readout draws (:func:`readout_transforms`), sums first, then the PSNR. Its 'output' entry
    is the readout's value for `kind` on the same latent: both sum the same squared errors over the same
    transforms. One untransformed pass and one pass per transform; `control` is checked inside every layer and
    told the progress after each transform (``report('layer EQ', done, num_transforms)``)."""
    check_generator(G)
    if num_transforms < 1:
        raise UserError(f'num_transforms must be at least 1, got {num_transforms}')
    if ws.ndim != 3 or ws.shape[0] != 1:
        raise UserError(f'ws must be one latent [1, num_ws, w_dim], got {list(ws.shape)}')
    params = readout_transforms(kind, num_transforms, int(G.img_resolution), seed)
    totals: dict[str, np.ndarray] = {}
    operators: dict[str, set[str]] = {}
    if control is not None:
        control.report('layer EQ', 0, len(params))
    with torch.no_grad(), input_transform(G) as transform:  # identity for the first run, restored on exit
        names, info, originals, orig = _identity_run(G, ws, control)
        for done, param in enumerate(params, 1):
            sums, ops = _transformed_run(G, transform, ws, names, info, originals, orig, 0, kind, param,
                                         crop_margin, control)
            for name in names:
                totals[name] = totals.get(name, 0) + sums[name]
                operators.setdefault(name, set()).add(ops[name])
            if control is not None:
                control.report('layer EQ', done, len(params))
    rows = _entries(names, info, totals, {name: '+'.join(sorted(ops)) for name, ops in operators.items()})
    for row in rows:
        row['num_transforms'] = len(params)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# The chart: PSNR over the layers, one line per (network, kind).

def _short(name: str) -> str:
    """'L3_52_512' -> 'L3': networks of another width name the same layer differently."""
    return name.split('_')[0] if name.startswith('L') and '_' in name else name


def layer_eq_figure(curves: Sequence[tuple[str, str, list[dict]]], title: str = ''):
    """Matplotlib figure of (label, kind, rows) curves: PSNR (dB) over the maps in execution order. Points at +inf
    (no error at all) are drawn as triangles on the top edge. The caller closes the figure."""
    import matplotlib

    from analysis.spectrum_plots import wrap_title
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10.5, 4.6), dpi=100)
    finite = [r['psnr_db'] for _, _, rows in curves for r in rows if math.isfinite(r['psnr_db'])]
    top = (max(finite) + 10) if finite else 100.0
    styles = {'eqt_int': ('-', 'o'), 'eqt_frac': ('--', 's'), 'eqr': (':', 'D')}
    colours = {}
    longest: list[dict] = []
    any_inf = False
    for label, kind, rows in curves:
        colour = colours.setdefault(label, f'C{len(colours) % 10}')
        line, marker = styles.get(kind, ('-', 'o'))
        x = np.arange(len(rows))
        y = np.array([r['psnr_db'] for r in rows], dtype=np.float64)
        ax.plot(x, np.where(np.isfinite(y), y, np.nan), linestyle=line, marker=marker, markersize=3.5,
                color=colour, linewidth=1.2, label=f'{label}: {KIND_LABELS.get(kind, kind)}')
        inf = np.isposinf(y)
        if inf.any():
            any_inf = True
            ax.plot(x[inf], np.full(int(inf.sum()), top), linestyle='none', marker='^', color=colour)
        if len(rows) > len(longest):
            longest = rows
    ax.set_xticks(np.arange(len(longest)))
    ax.set_xticklabels([_short(r['name']) for r in longest], rotation=60, fontsize=8)
    ax.set_xlabel('layer (execution order)')
    ax.set_ylabel('PSNR (dB), normalised to the output scale')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1.0), borderaxespad=0)  # beside the curves
    if any_inf:
        ax.set_ylim(top=top + 5)
        ax.annotate('\u25b2 = no error (+inf dB)', xy=(0.99, 0.02), xycoords='axes fraction', ha='right',
                    fontsize=7)
    if title:
        ax.set_title(wrap_title(title, 8, 9), fontsize=9)
    fig.tight_layout()
    return fig


def layer_eq_png(curves: Sequence[tuple[str, str, list[dict]]], title: str = '') -> bytes:
    """:func:`layer_eq_figure` as PNG bytes (the caller writes them, atomically)."""
    from analysis.spectrum_plots import png_bytes

    return png_bytes(layer_eq_figure(curves, title))
