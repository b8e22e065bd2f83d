"""The renderer's slow analyses (average spectrum, EQ readout, per-layer aliasing and equivariance, texture
sticking): cached, cancellable, with progress.

Each analysis runs after the plain view has been shown, in the renderer thread. An `AnalysisControl` is
checked between samples and inside every synthesis layer, so a newer request (or the GUI's cancel button)
stops it within one sample; it also carries the "k of N" progress the GUI shows. Results AND failures are
cached by what they depend on (a dataset by its path, mtime and size): a failing analysis (e.g. a dataset
path that is not a dataset) is reported once per key and not rerun on every render; its inputs are validated
before any sample is generated. The average spectrum keeps the samples it has computed when it is cancelled,
and resumes from there.

Each runs with the network's input transform at identity (`networks.stylegan3.input_transform`), whatever
the render that asked for it shows: their cache keys hold no transform. One exception: the aliasing of the shown
latent (`aliasing_seeds` 0) is of the shown input transform too, which its key holds (how the energy beyond each
layer's limits changes as the input moves is what it is for).

The per-layer analyses (`analysis.aliasing`, `analysis.layer_eq`) give one row per layer; for one latent, the
aliasing costs one forward pass with hooks and the layer EQ one pass per transform plus one; their N-seed averages
report progress and stop on Cancel like the spectrum.

The average spectrum is `analysis.spectra`'s (NVlabs' definition by default, 'whitened' on request; a
StyleGAN2 network's noise as `RenderArgs.spectrum_noise_mode` says, by default the definition's), shown as
NVlabs' absolute-dB heatmap with slices to the Nyquist edge (0 degrees) and the corner (45 degrees).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from analysis import spectra
from networks.errors import UserError
from networks.stylegan3 import input_transform, input_transform_of
from ops.resample import linear_transform
from viz.core.latents import generate_batch, latent_file_key
from viz.core.render_types import RenderArgs, RenderResult, error_text, window_name
from viz.core.synthesis import OUTPUT_LAYER
from viz.core.views import colorbar_image, colormap

__all__ = ['AnalysisCancelled', 'AnalysisControl', 'AnalysisCache', 'analysis_keys', 'spectrum_analysis',
           'eq_readout', 'aliasing_rows', 'layer_eq_rows', 'sticking_views', 'SPECTRUM_RANGE_DB', 'SPECTRUM_BETA',
           'SPECTRUM_INTERP']

# NVlabs' avg_spectra settings: Kaiser beta 8, 4x zero padding, heatmap smoothing 1.25 px, -40..20 dB.
SPECTRUM_BETA = 8.0
SPECTRUM_INTERP = 4
SPECTRUM_SMOOTH = 1.25
SPECTRUM_RANGE_DB = (-40.0, 20.0)
DATASET_BATCH = 8  # dataset images per cancel check
_NOISE_LINES = {'random': "StyleGAN2 noise: fresh per image (NVlabs'), seeded by the image seed",
                'const': "StyleGAN2 noise: constant (the network's fixed maps in every image; not NVlabs')"}


class AnalysisCancelled(Exception):
    """A newer request or the cancel button stopped an analysis (between samples or inside one)."""


# What the renderer reports while it computes a network's PCA directions the first time (not an analysis: no
# Cancel, but seconds to a minute on a CPU that the window should explain).
PCA_PROGRESS = 'PCA of this network'


class AnalysisControl:
    """Cancel check and progress of the running analysis, shared by the renderer thread and the GUI thread."""

    def __init__(self, should_cancel: Callable[[], bool] | None = None) -> None:
        self._should_cancel = should_cancel
        self._lock = threading.Lock()
        self._progress: tuple[str, int, int] | None = None
        self.stopped = False  # check() has raised: an analysis was stopped

    def check(self) -> None:
        """Raise AnalysisCancelled if the analysis should stop."""
        if self._should_cancel is not None and self._should_cancel():
            self.stopped = True
            raise AnalysisCancelled

    def report(self, what: str, done: int, total: int) -> None:
        with self._lock:
            self._progress = (what, int(done), int(total))

    def clear(self) -> None:
        with self._lock:
            self._progress = None

    @property
    def progress(self) -> tuple[str, int, int] | None:
        """(analysis, samples done, samples in all) of the running analysis, or None."""
        with self._lock:
            return self._progress


@contextlib.contextmanager
def _watched(G: torch.nn.Module, control: AnalysisControl, what: str, total: int, offset: int = 0,
             count_calls: bool = True):
    """Check `control` before every top-level synthesis layer (a cancel lands within one sample) and, with
    `count_calls`, report one sample done per image a synthesis call returns."""
    done = [offset]

    def check(_module, _inputs):
        control.check()

    def count(_module, _inputs, output):
        done[0] += int(output.shape[0]) if isinstance(output, torch.Tensor) else 1
        control.report(what, min(done[0], total), total)

    handles = [child.register_forward_pre_hook(check) for child in G.synthesis.children()]
    if count_calls:
        handles.append(G.synthesis.register_forward_hook(count))
    control.report(what, offset, total)
    try:
        yield done
    finally:
        for h in handles:
            h.remove()


def dataset_key(path: str) -> tuple:
    """A spectrum dataset as a cache key: its path with its modification time and size, so a failure cached
    for a bad file is retried once the file at the same path is fixed (or replaced) - no restart needed."""
    if not path:
        return (path,)
    try:
        st = os.stat(path)
    except OSError:
        return (path, None, None)  # missing: the failure stands until the path exists
    return (path, st.st_mtime_ns, st.st_size)


def analysis_keys(args: RenderArgs, layer: str | None) -> dict[str, tuple]:
    """Cache keys of the analyses `args` asks for (each depends only on what changes its result)."""
    layer = None if layer == OUTPUT_LAYER else layer  # NVlabs' `output` entry is the image itself
    netkey = (args.pkl, args.device, args.precision)
    keys = {}
    if args.spectrum_seeds > 0:
        keys['spectrum'] = ('spectrum', netkey, args.spectrum_seeds, layer if args.spectrum_layer else None,
                            args.trunc_psi, args.spectrum_definition, args.spectrum_noise_mode,
                            dataset_key(args.spectrum_dataset))
    if args.eq_readout:
        # everything the latent depends on (the readout is of the shown w)
        keys['eq'] = ('eq', netkey, args.w0_seeds, args.stylemix_seed, args.stylemix_idx, args.trunc_psi,
                      args.trunc_cutoff, args.eq_transforms, args.latent, latent_file_key(args.latent_file),
                      args.class_idx, args.directions)
    # the shown latent: everything it depends on
    latent = (args.w0_seeds, args.stylemix_seed, args.stylemix_idx, args.trunc_psi, args.trunc_cutoff, args.latent,
              latent_file_key(args.latent_file), args.class_idx, args.directions)
    if args.aliasing:
        # one latent: the shown one under the shown input transform; N seeds: seeds 0..N-1 at the identity
        keys['aliasing'] = (('aliasing', netkey, latent, args.translate_x, args.translate_y, args.rotate,
                             args.input_scale, args.shear_x, args.shear_y, args.mirror_x, args.mirror_y)
                            if args.aliasing_seeds <= 0 else
                            ('aliasing', netkey, args.aliasing_seeds, args.trunc_psi, args.class_idx))
    if args.layer_eq:
        keys['layer_eq'] = (('layer_eq', netkey, args.layer_eq, latent, args.eq_transforms)
                            if args.layer_eq_samples <= 0 else
                            ('layer_eq', netkey, args.layer_eq, args.layer_eq_samples))
    if args.sticking:
        seed = args.w0_seeds[0][0] if args.w0_seeds else 0
        keys['sticking'] = ('sticking', netkey, seed, args.trunc_psi, args.sticking_radius, args.sticking_num,
                            args.sticking_frames, args.class_idx)
    return keys


class AnalysisCache:
    """The last `size` analysis results and failures by key, the spectrum's partial work, and the code that
    fills `RenderResult`'s analysis fields."""

    def __init__(self, size: int = 16, name_option: Callable[[str], str] = window_name) -> None:
        self.name_option = name_option  # how an error's hint names a setting (see error_text)
        self._values: OrderedDict[tuple, object] = OrderedDict()
        self._failures: OrderedDict[tuple, str] = OrderedDict()
        self._partial: dict[tuple, dict] = {}  # spectrum work kept across a cancel (one key at a time)
        self._size = size

    def __contains__(self, key: tuple) -> bool:
        return key in self._values or key in self._failures

    def failure(self, key: tuple) -> str | None:
        return self._failures.get(key)

    def _store(self, table: OrderedDict, key: tuple, value) -> None:
        table[key] = value
        while len(table) > self._size:
            table.popitem(last=False)

    def get(self, key: tuple, compute):
        """The cached value of `key`, or `compute()` stored under it (exceptions propagate, not cached here)."""
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = compute()
        self._store(self._values, key, value)
        return value

    def pending(self, args: RenderArgs) -> bool:
        """Whether `args` asks for an analysis that is neither cached nor known to fail (a slow render)."""
        return any(k not in self for k in analysis_keys(args, args.layer_name).values())

    def _attempt(self, what: str, name: str, key: tuple, compute, res: RenderResult, messages: list[str]):
        """The cached or computed value, or None with an error (cached, so it is not retried) or a note (cancel)."""
        failed = self._failures.get(key)
        if failed is not None:
            res.analysis_errors[name] = failed
            messages.append(failed)
            return None
        try:
            return self.get(key, compute)
        except AnalysisCancelled:
            messages.append(f'{what} cancelled')
            return None
        except ImportError as exc:
            text = f'{what} unavailable: {exc}'
        except Exception as exc:  # noqa: BLE001 - an analysis failing must not fail the render
            text = f'{what} failed: {error_text(exc, self.name_option)}'
        self._store(self._failures, key, text)
        res.analysis_errors[name] = text
        messages.append(text)
        return None

    def run(self, G: torch.nn.Module, has_transform: bool, args: RenderArgs, ws: torch.Tensor, layer: str | None,
            res: RenderResult, messages: list[str], control: AnalysisControl | None = None) -> None:
        """Fill res.spectrum / res.eq / res.sticking as `args` asks; a failing analysis becomes an error text."""
        control = control or AnalysisControl()
        dev = torch.device(args.device)
        keys = analysis_keys(args, layer)
        try:
            if 'spectrum' in keys:
                t = time.perf_counter()
                key = keys['spectrum']
                spec_layer = layer if args.spectrum_layer else None
                res.spectrum = self._attempt('spectrum', 'spectrum', key, lambda: spectrum_analysis(
                    G, args.spectrum_seeds, dev, layer=spec_layer, psi=args.trunc_psi,
                    definition=args.spectrum_definition, dataset=args.spectrum_dataset or None, control=control,
                    state=self._partial_state(key), noise_mode=args.spectrum_noise_mode), res, messages)
                if key in self:
                    self._partial.pop(key, None)
                res.timings['spectrum'] = time.perf_counter() - t
            if 'eq' in keys:
                t = time.perf_counter()
                if not has_transform:
                    _no_transform(res, messages, 'eq', 'EQ readout')
                else:
                    res.eq = self._attempt('EQ readout', 'eq', keys['eq'],
                                           lambda: eq_readout(G, ws, args.eq_transforms, control), res, messages)
                res.timings['eq'] = time.perf_counter() - t
            if 'aliasing' in keys:
                t = time.perf_counter()
                res.aliasing = self._attempt('aliasing', 'aliasing', keys['aliasing'],
                                             lambda: aliasing_rows(G, args, ws, control), res, messages)
                res.timings['aliasing'] = time.perf_counter() - t
            if 'layer_eq' in keys:
                t = time.perf_counter()
                if not has_transform:
                    _no_transform(res, messages, 'layer_eq', 'per-layer EQ')
                else:
                    res.layer_eq = self._attempt('layer EQ', 'layer_eq', keys['layer_eq'],
                                                 lambda: layer_eq_rows(G, args, ws, control), res, messages)
                res.timings['layer_eq'] = time.perf_counter() - t
            if 'sticking' in keys:
                t = time.perf_counter()
                seed = args.w0_seeds[0][0] if args.w0_seeds else 0
                res.sticking = self._attempt('texture-sticking view', 'sticking', keys['sticking'],
                                             lambda: sticking_views(G, seed, args.sticking_radius,
                                                                    args.sticking_num, args.sticking_frames,
                                                                    args.trunc_psi, args.class_idx, control),
                                             res, messages)
                res.timings['sticking'] = time.perf_counter() - t
        finally:
            control.clear()

    def _partial_state(self, key: tuple) -> dict:
        """The spectrum's saved work for `key` (work for any other key is dropped: one in progress at a time)."""
        state = self._partial.get(key)
        if state is None:
            self._partial = {key: {}}
            state = self._partial[key]
        return state


def _no_transform(res: RenderResult, messages: list[str], name: str, what: str) -> None:
    """An equivariance analysis asked of a network without an input transform (StyleGAN2): its one line."""
    text = f'{what} needs a StyleGAN3 network (no input transform in this one)'
    res.analysis_errors[name] = text
    messages.append(text)


def _dataset_part(path: str, num: int, resolution: int, definition: str, control: AnalysisControl,
                  total: int) -> dict:
    """Open and check the dataset (before any seed is generated), then its spectrum over NVlabs' seeded subset."""
    if path.lower().endswith('.pkl'):
        raise UserError(f'spectrum dataset {path!r} is a network pickle; give a folder or zip of images')
    kind, ds = spectra.open_source(path, 'cpu', num=num, seed=0)
    first = np.asarray(ds[0][0]) if len(ds) else None
    if first is None:
        raise UserError(f'no images in {path!r}')
    if first.shape[-1] != resolution:
        raise UserError(f'cannot compare the dataset ({first.shape[-1]}px) with a {resolution}px spectrum')
    batches: list[torch.Tensor] = []
    for start in range(0, len(ds), DATASET_BATCH):
        control.check()
        batch = np.stack([ds[i][0] for i in range(start, min(start + DATASET_BATCH, len(ds)))])
        batches.append(torch.from_numpy(batch).float())
        control.report('spectrum', start + len(batch), total)
    mean, std = spectra.source_stats(iter(batches))
    spec, size, count = spectra.average_spectrum(iter(batches), mean, std, definition, SPECTRUM_BETA,
                                                 SPECTRUM_INTERP)
    return dict(spectrum=spec, image_size=size, definition=definition, source=path, num=count, seed=0,
                mean=mean, std=std, noise_mode='none')


def _layer_spectrum(G: torch.nn.Module, num: int, device: torch.device, layer: str, psi: float, definition: str,
                    noise_mode: str, control: AnalysisControl, state: dict, offset: int, total: int) -> dict:
    """Average spectrum of one layer's float activations over seeds 0..num-1, standardised by their own mean/std;
    a StyleGAN2 network's noise as `spectra.source_images` draws it for `noise_mode`.

    Accumulated per seed (a layer of many channels does not fit in memory N times): with A = FFT(x w) and
    W = FFT(w) the power of (x - m) w is |A|^2 - 2 m Re(A conj W) + m^2 |W|^2, so sums of |A|^2 and A (each
    averaged over channels) give the spectrum for the mean m known only at the end. 'whitened' removes each
    image's per-channel mean first, which also removes m.
    """
    from ops.spectrum import kaiser_window_2d

    acc = state.setdefault('layer', dict(done=0, s2=None, s1=None, total=0.0, total_sq=0.0, count=0, size=None))
    with _watched(G, control, 'spectrum', total, offset + acc['done'], count_calls=False):
        while acc['done'] < num:
            control.check()
            seed = acc['done']
            with spectra.per_image_noise(G, [seed]) if noise_mode == 'random' else contextlib.nullcontext():
                x = generate_batch(G, [seed], device, psi=psi, layer=layer).to('cpu', torch.float64)
            acc['total'] += float(x.sum())
            acc['total_sq'] += float(x.square().sum())
            acc['count'] += x.numel()
            h, w = x.shape[-2:]
            if definition == 'whitened':
                x = x - x.mean(dim=(2, 3), keepdim=True)
            window = kaiser_window_2d(h, w, SPECTRUM_BETA)
            a = torch.fft.fft2(x * window, s=[h * SPECTRUM_INTERP, w * SPECTRUM_INTERP])
            s2 = (a.real.square() + a.imag.square()).mean(dim=1).sum(dim=0)
            s1 = a.mean(dim=1).sum(dim=0)
            acc['s2'] = s2 if acc['s2'] is None else acc['s2'] + s2
            acc['s1'] = s1 if acc['s1'] is None else acc['s1'] + s1
            acc['size'] = w
            acc['done'] += 1
            control.report('spectrum', offset + acc['done'], total)
    mean = acc['total'] / acc['count']
    std = float(np.sqrt(max(acc['total_sq'] / acc['count'] - mean * mean, 0.0)))
    if not std > 0:
        raise UserError(f'layer {layer} is constant over these seeds: no spectrum')
    power = acc['s2']
    if definition != 'whitened':
        size = acc['size']
        wf = torch.fft.fft2(kaiser_window_2d(size, size, SPECTRUM_BETA), s=list(acc['s2'].shape))
        power = power - 2 * mean * (acc['s1'] * wf.conj()).real + num * mean * mean * (wf.real.square()
                                                                                     + wf.imag.square())
    spec = (power / num / (std * std)).clamp(min=0).numpy()
    return dict(spectrum=spec, image_size=int(acc['size']), definition=definition, source=f'layer {layer}', num=num,
                seed=0, mean=mean, std=std, noise_mode=spectra.recorded_noise_mode(G, noise_mode))


def _output_spectrum(G: torch.nn.Module, num: int, device: torch.device, psi: float, definition: str,
                     noise_mode: str, mean: float | None, std: float | None, control: AnalysisControl, state: dict,
                     offset: int, total: int) -> dict:
    """`spectra.network_spectrum(G, num, batch_size=1, ...)`, one seed at a time, resumable after a cancel.

    The same library steps in the same order (source_images, source_stats, average_spectrum), so the result is
    the library's to the bit; images are kept as uint8 for NVlabs' definition (they are uint8 values).
    """
    images: list[torch.Tensor] = state.setdefault('images', [])
    with _watched(G, control, 'spectrum', total, offset + len(images), count_calls=False):
        while len(images) < num:
            control.check()
            batch = next(spectra.source_images('network', G, 1, batch_size=1, seed=len(images), psi=psi,
                                               device=device, definition=definition, noise_mode=noise_mode)).cpu()
            images.append(batch.to(torch.uint8) if definition == 'nvlabs' else batch)
            control.report('spectrum', offset + len(images), total)
    stacked = torch.cat([im.float() for im in images])
    if mean is None or std is None:
        mean, std = spectra.source_stats(iter([stacked]))
    spec, size, count = spectra.average_spectrum(iter([stacked]), mean, std, definition, SPECTRUM_BETA,
                                                 SPECTRUM_INTERP)
    return dict(spectrum=spec, image_size=size, definition=definition, source='network', num=count, seed=0,
                mean=float(mean), std=float(std), psi=float(psi), noise_mode=spectra.recorded_noise_mode(G, noise_mode))


def _view_dict(data: dict, prefix: str = '') -> dict:
    """What the panel draws of one spectrum: NVlabs' absolute-dB heatmap, colour-mapped, and its slices."""
    view = spectra.spectrum_view(data, SPECTRUM_SMOOTH)
    lo, hi = SPECTRUM_RANGE_DB
    out = dict(db=view['hmap'].astype(np.float32), image=colormap((view['hmap'] - lo) / (hi - lo)),
               freqs=np.asarray(view['freqs0'], np.float64), deg0=np.asarray(view['deg0'], np.float64),
               freqs45=np.asarray(view['freqs45'], np.float64), deg45=np.asarray(view['deg45'], np.float64),
               extent=float(view['freqs'][-1]), data=data)
    return {prefix + k: v for k, v in out.items()}


def spectrum_analysis(G: torch.nn.Module, num_seeds: int, device: torch.device, layer: str | None = None,
                      psi: float = 1.0, definition: str = spectra.DEFAULT_DEFINITION, dataset: str | None = None,
                      control: AnalysisControl | None = None, state: dict | None = None,
                      noise_mode: str | None = None) -> dict:
    """The GUI's spectrum panel: the average spectrum of the output (or `layer`) over seeds 0..num_seeds-1.

    The output's is `spectra.network_spectrum` (NVlabs' definition by default: uint8 output, dataset mean / std
    when a dataset is given, else the images' own; `noise_mode` None: the definition's). A dataset is opened and
    checked first, then its seeded subset of `num_seeds` images is averaged, and both spectra are checked
    comparable (`check_comparable`). Returns dict(db (absolute dB heatmap), image (colour-mapped), colorbar,
    freqs / deg0 (0 degrees, to N/2), freqs45 / deg45 (to the corner), extent, definition, label, noise_mode
    ('none' without noise inputs), noise (a line saying which noise a StyleGAN2 network had, else ''),
    num_seeds, layer, range_db, data, [dataset_* the same of the dataset, dataset_size]).
    """
    if definition not in spectra.DEFINITIONS:
        raise UserError(f'unknown spectrum definition {definition!r}; choose from {", ".join(spectra.DEFINITIONS)}')
    noise_mode = spectra.resolve_noise_mode(definition, noise_mode)
    control = control or AnalysisControl()
    state = {} if state is None else state
    resolution = int(G.img_resolution)
    if layer is not None:
        from viz.core.synthesis import list_layers

        shapes = {info.name: info.shape for info in list_layers(G, device)}
        if layer not in shapes:
            raise UserError(f'no layer "{layer}"')
        resolution = int(shapes[layer][3])
    total = num_seeds + (num_seeds if dataset else 0)
    dset = None
    if dataset:
        dset = state.get('dataset')
        if dset is None:
            dset = state['dataset'] = _dataset_part(dataset, num_seeds, resolution, definition, control, total)
    offset = dset['num'] if dset else 0
    total = num_seeds + offset
    with input_transform(G):  # the untransformed network (the cache key holds no transform)
        if layer is None:
            data = _output_spectrum(G, num_seeds, device, psi, definition, noise_mode, dset['mean'] if dset else None,
                                    dset['std'] if dset else None, control, state, offset, total)
        else:
            data = _layer_spectrum(G, num_seeds, device, layer, psi, definition, noise_mode, control, state, offset,
                                   total)
    result = _view_dict(data)
    if dset is not None:
        spectra.check_comparable([data, dset], ['the network', dataset])
        result.update(_view_dict(dset, 'dataset_'))
        result['dataset_size'] = dset['num']
    lo, hi = SPECTRUM_RANGE_DB
    label = spectra.definition_label(definition)
    if layer is not None:
        label += ', float activations'
    result.update(num_seeds=data['num'], layer=layer, definition=definition, label=label, range_db=(lo, hi),
                  colorbar=colorbar_image(max(result['image'].shape[0], 256), lo, hi, 'dB'),
                  noise_mode=data['noise_mode'], noise=_NOISE_LINES.get(data['noise_mode'], ''))
    return result


def eq_readout(G: torch.nn.Module, ws: torch.Tensor, num_transforms: int,
               control: AnalysisControl | None = None) -> dict:
    """EQ-T (integer, fractional) and EQ-R in dB for one latent (analysis helper's function)."""
    from training.metrics.equivariance import equivariance_readout

    control = control or AnalysisControl()
    with torch.no_grad(), input_transform(G), _watched(G, control, 'EQ readout', 1 + 3 * num_transforms):
        out = equivariance_readout(G, ws.clone(), num_transforms=num_transforms, seed=0)
    return {k: float(v) for k, v in out.items()}


def aliasing_rows(G: torch.nn.Module, args: RenderArgs, ws: torch.Tensor,
                  control: AnalysisControl | None = None) -> list[dict]:
    """Per-layer aliasing (`analysis.aliasing`): of the shown latent `ws` under the shown input transform, from one
    forward pass with hooks; or, with `args.aliasing_seeds` N > 0, averaged over seeds 0..N-1 (progress, cancel)."""
    from analysis import aliasing

    control = control or AnalysisControl()
    if args.aliasing_seeds > 0:
        return aliasing.aliasing_average(G, range(args.aliasing_seeds), psi=args.trunc_psi, class_idx=args.class_idx,
                                         control=control)
    transform = None
    if input_transform_of(G) is not None:  # the shown transform: translation, rotation, scale / shear / mirror
        try:
            linear = linear_transform(args.input_scale, (args.shear_x, args.shear_y), (args.mirror_x, args.mirror_y))
        except ValueError as exc:
            raise UserError(str(exc)) from None
        transform = dict(translate=(args.translate_x, args.translate_y), angle_degrees=args.rotate, linear=linear)
    return aliasing.aliasing_table(G, ws.clone(), transform, check=control.check)


def layer_eq_rows(G: torch.nn.Module, args: RenderArgs, ws: torch.Tensor,
                  control: AnalysisControl | None = None) -> list[dict]:
    """Per-layer equivariance (`analysis.layer_eq`) of kind `args.layer_eq`: of the shown latent under the EQ
    readout's own transforms (so its output entry is the readout's number); or, with `args.layer_eq_samples` N > 0,
    over N samples drawn as the EQ metric draws them (its output entry is the metric's)."""
    from analysis import layer_eq

    control = control or AnalysisControl()
    if args.layer_eq_samples > 0:
        return layer_eq.layer_equivariance_average(G, args.layer_eq, args.layer_eq_samples, seed=0, control=control)
    return layer_eq.layer_equivariance_readout(G, ws.clone(), args.layer_eq, args.eq_transforms, seed=0,
                                               control=control)


def sticking_views(G: torch.nn.Module, seed: int, radius: float, num: int, frames: int, psi: float,
                   class_idx: int | None = None, control: AnalysisControl | None = None) -> dict:
    """Texture-sticking images (paper Fig. 1): `analysis.sticking.sticking_views`, the command line's definition,
    with cancel checks and progress."""
    from analysis.sticking import sticking_views as views

    control = control or AnalysisControl()
    with _watched(G, control, 'sticking', num + frames):
        return views(G, seed, radius, num, frames, psi, class_idx)
