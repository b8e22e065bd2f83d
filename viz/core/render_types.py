"""The typed values exchanged between the GUI and the renderer: `RenderArgs` in, `RenderResult` out.

`RenderArgs` is frozen and hashable: the async renderer compares requests by value, the renderer caches
expensive analyses by (parts of) it, and a session file is its JSON form (`args_to_dict`/`args_from_dict`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.directions import LAYER_PRESETS, LAYER_SPEC, layer_range  # noqa: F401 - re-exported for sessions
from networks.errors import UserError, flag, hint, printable

DEFAULT_PKL = '<default>'  # the project's default network (an untrained StyleGAN3-T built in memory for now)
MAX_COMPARE = 2  # networks shown beside the first one (`RenderArgs.compare_pkls`): three panes at most


@dataclass(frozen=True)
class RenderArgs:
    """Everything a frame depends on. Widgets edit it with `dataclasses.replace`."""

    pkl: str = DEFAULT_PKL
    device: str = 'cpu'
    precision: str = 'float32'  # 'float32' | 'bfloat16' | 'float16'

    # Latent: w = w_avg + sum(weight * (w(seed) - w_avg)); fractional offsets blend neighbouring seeds.
    w0_seeds: tuple[tuple[int, float], ...] = ((0, 1.0),)
    stylemix_seed: int = 0
    stylemix_idx: tuple[int, ...] = ()  # ws indices taken from stylemix_seed
    trunc_psi: float = 1.0
    trunc_cutoff: int | None = None
    noise_mode: str = 'const'  # StyleGAN2 only: 'const' | 'random' | 'none'
    noise_seed: int = 0

    # Exploration. An explicit latent replaces the seeds' blend: `latent` (w [w_dim] or w+ flattened,
    # [num_ws * w_dim]) or else `latent_file` (projected_w.npz / .npy); psi and style mixing still apply.
    latent: tuple[float, ...] = ()
    latent_file: str = ''
    class_idx: int | None = None  # conditional networks: None = each seed draws its class (NVlabs' visualizer)
    # Latent directions (analysis.directions): (source 'pca' or a .npy/.npz path, index, strength, layers
    # 'all' | 'coarse' | 'middle' | 'fine' | 'A-B').
    directions: tuple[tuple[str, int, float, str], ...] = ()

    # Input transform (StyleGAN3 only), in output pixels... of the image: x/y in image widths, angle in degrees.
    translate_x: float = 0.0
    translate_y: float = 0.0
    rotate: float = 0.0
    untransform: bool = False  # resample the output back so it lines up with the untransformed image
    # Beyond what the networks were trained to be equivariant to (ops.resample.linear_transform): applied first.
    input_scale: float = 1.0
    shear_x: float = 0.0
    shear_y: float = 0.0
    mirror_x: bool = False
    mirror_y: bool = False

    # Layer view.
    layer_name: str | None = None  # None = the output image
    sel_channels: int = 3  # 3 = RGB from base_channel.., 1 = one channel as grey
    base_channel: int = 0
    img_scale_db: float = 0.0
    img_normalize: bool = False

    # FFT of the shown image / layer.
    fft_show: bool = False
    fft_all: bool = True  # all channels of the layer (True) or only the shown ones
    fft_range_db: float = 50.0
    fft_beta: float = 8.0
    fft_limits: bool = False  # the shown layer's frequency limits (fc, ft, s/2 of its input and output) drawn on it

    # Analyses (each off when 0 / False).
    spectrum_seeds: int = 0  # average 2-D power spectrum over this many seeds
    spectrum_dataset: str = ''  # optional dataset folder / zip to compare with
    spectrum_layer: bool = False  # of the selected layer instead of the output
    spectrum_definition: str = 'nvlabs'  # NVlabs' avg_spectra (uint8 output) | 'whitened' (analysis.spectra)
    spectrum_noise_mode: str | None = None  # StyleGAN2: 'random' | 'const'; None: the definition's (nvlabs: random)
    eq_readout: bool = False
    eq_transforms: int = 4
    sticking: bool = False
    sticking_radius: float = 0.5
    sticking_num: int = 8
    sticking_frames: int = 32
    # Per layer (analysis.aliasing, analysis.layer_eq). aliasing: each layer's energy beyond its limits, for the
    # shown latent and input transform (aliasing_seeds 0) or averaged over seeds 0..N-1 at the identity transform.
    # layer_eq: '' (off) | 'eqt_int' | 'eqt_frac' | 'eqr': the PSNR of every layer for the shown latent under the EQ
    # readout's eq_transforms transforms (layer_eq_samples 0), or over N samples as the EQ metric draws them.
    aliasing: bool = False
    aliasing_seeds: int = 0
    layer_eq: str = ''
    layer_eq_samples: int = 0

    # Side-by-side comparison: these networks rendered with the same arguments beside `pkl` (at most MAX_COMPARE);
    # the analyses and the FFT are of `pkl`'s pane alone (viz.core.compare).
    compare_pkls: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerInfo:
    name: str
    shape: tuple[int, ...]  # [N, C, H, W]
    dtype: str


@dataclass
class RenderResult:
    """What one render produced; fields the request did not ask for stay None."""

    args: RenderArgs | None = None
    image: np.ndarray | None = None  # uint8 HWC (C = 3), the image or layer view
    fft: np.ndarray | None = None  # uint8 HWC colour-mapped log power spectrum of the view
    layers: tuple[LayerInfo, ...] = ()
    stats: dict[str, float] | None = None  # mean / std / max of the shown tensor
    spectrum: dict[str, Any] | None = None  # db (absolute dB heatmap), image, colorbar, freqs/deg0, freqs45/deg45,
    # definition, label, [dataset_*]: see viz.core.analysis_cache.spectrum_analysis
    eq: dict[str, float] | None = None  # eqt_int, eqt_frac, eqr in dB
    latent: np.ndarray | None = None  # the shown w+ [num_ws, w_dim] before truncation and directions (keyframes)
    ws: np.ndarray | None = None  # the w+ [num_ws, w_dim] synthesised: truncated, directions applied (saved edits)
    sticking: dict[str, np.ndarray] | None = None  # average, streak (uint8 HWC)
    network: dict[str, Any] = field(default_factory=dict)  # name, kind, untrained, resolution, num_ws, ...
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    error: str | None = None
    messages: tuple[str, ...] = ()  # notes that are not errors (e.g. an analysis is unavailable)
    partial: bool = False  # the view without the analyses; the full result follows
    analysis_errors: dict[str, str] = field(default_factory=dict)  # 'spectrum' | 'eq' | 'sticking' -> why it failed
    limits: dict[str, Any] | None = None  # the shown map's frequency limits (viz.core.overlays.shown_limits)
    aliasing: list[dict[str, Any]] | None = None  # one row per layer (analysis.aliasing.aliasing_table's)
    layer_eq: list[dict[str, Any]] | None = None  # one row per layer, last 'output' (analysis.layer_eq)
    panes: tuple[dict[str, Any], ...] = ()  # with compare_pkls: each pane's name, pkl, box in `image`, error, ...
    # (viz.core.compare.compose_panes); empty for a single network


def args_to_dict(args: RenderArgs) -> dict:
    """JSON-ready dict of the render args (tuples become lists)."""
    return dataclasses.asdict(args)


def _tupleize(value):
    if isinstance(value, list):
        return tuple(_tupleize(v) for v in value)
    return value


def args_from_dict(data: dict, base: RenderArgs | None = None) -> RenderArgs:
    """RenderArgs from a (possibly partial) dict; unknown keys raise ValueError with their names."""
    base = base or RenderArgs()
    names = {f.name: f for f in dataclasses.fields(RenderArgs)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f'unknown render settings: {printable(", ".join(str(k)[:40] for k in unknown[:8]))}')
    updates = {}
    for key, value in data.items():
        value = _tupleize(value)
        if key == 'w0_seeds':
            value = tuple((int(s), float(w)) for s, w in value)
        elif key == 'stylemix_idx':
            value = tuple(int(i) for i in value)
        elif key == 'latent':
            value = tuple(float(v) for v in value)
        elif key == 'compare_pkls':
            value = tuple(str(p) for p in value)
        elif key == 'directions':
            value = tuple((str(src), int(idx), float(strength), str(layers)) for src, idx, strength, layers in value)
        updates[key] = value
    return dataclasses.replace(base, **updates)


# The window's names of the settings a user error can be about (`UserError.option`): a failed render shows them
# instead of command-line flags. The rest are named as 'the "noise mode" setting'.
WINDOW_NAMES = {
    'device': 'Performance > Device',
    'class': 'Class',
    'noise_mode': 'Noise',
    'definition': 'spectrum Definition',
    'translate': 'Translate',
    'rotate': 'Rotate',
    'direction': 'Directions',
    'compare': 'Compare',
}


def window_name(option: str) -> str:
    """How the window names the setting `option` (see WINDOW_NAMES)."""
    return WINDOW_NAMES.get(option) or f'the "{option.replace("_", " ")}" setting'


def error_text(exc: BaseException, name_option: Callable[[str], str] = window_name) -> str:
    """The one line a failed render (or analysis) shows in the GUI and the log (printable: no terminal escapes
    or lone surrogates from a file's names reach either). A user error's hint names its settings with
    `name_option`: the window's controls by default (WINDOW_NAMES), a command-line flag for the headless tool
    (`networks.errors.flag`); a command to run is left out, since the window cannot run it."""
    import torch

    if isinstance(exc, FileNotFoundError):
        return f'file not found: {printable(exc.filename or exc)}'
    if isinstance(exc, torch.OutOfMemoryError):
        return 'out of memory: the network (or the requested view) does not fit on this device'
    name = type(exc).__name__
    text = printable(str(exc).strip().splitlines()[0]) if str(exc).strip() else ''
    if isinstance(exc, UserError):
        return printable((text or name) + hint(exc, name_option, with_command=False,
                                           before_value=' ' if name_option is flag else ': '))
    if name == 'ValueError':
        return text or name
    return f'{name}: {text}' if text else name
