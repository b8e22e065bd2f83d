"""GL-free renderer: `Renderer().render(RenderArgs) -> RenderResult`.

Loads networks (`network_cache`), maps seeds to w (`latents`), runs the synthesis network, with forward
hooks only when a layer is viewed (`synthesis`), and builds the image or a layer's channels and its FFT
(`views`); the average power spectrum, the equivariance readout and the texture-sticking images come from
`analyses`. The input transform of a render is set only for its synthesis (`networks.stylegan3.
input_transform`), so nothing carries over from one render to the next. Used by the async renderer thread,
the headless tool and the tests; it never raises: failures come back as `RenderResult.error`.

The synthesis output (or captured layer) is cached by every RenderArgs field except the display-only and
analysis ones (`VIEW_ONLY_FIELDS`), so FFT range / beta, dB, normalise, channels and untransform never run
the generator again; `view_from_cache` re-views a shown result from that cache on the caller's thread (the GUI's,
no round trip through the render thread) when only `DISPLAY_FIELDS` changed.

With `compare_pkls`, each of those networks is rendered after the first with the same arguments (each pane exactly
as that network alone: the same code path, its own latent and synthesis caches) and the panes are composed into
one image (`viz.core.compare`); the FFT and the analyses are of the first pane. A compared network that fails
leaves a grey pane and a note, never an error of the render.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np
import torch

from analysis.aliasing import layer_limits
from analysis.directions import DirectionResolver
from analysis.latent_files import load_latent, load_noise_maps
from networks.conventions import to_uint8_rgb
from networks.errors import UserError
from networks.stylegan2 import noise_buffers
from networks.stylegan3 import input_transform
from ops.resample import linear_transform
from viz.core.analysis_cache import PCA_PROGRESS, AnalysisCache, AnalysisControl
from viz.core.compare import NOTE_PREFIX, check_compare, compose_panes, failure_note, pane_name
from viz.core.latents import compute_ws, latent_file_key
from viz.core.network_cache import PRECISIONS, LoadedNetwork, NetworkCache, autocast
from viz.core.overlays import draw_legend, draw_limit_circles, limit_circles, shown_limits
from viz.core.render_types import RenderArgs, RenderResult, error_text, window_name
from viz.core.synthesis import OUTPUT_LAYER, given_noise, list_layers, run_synthesis
from viz.core.views import enlarge, fft_view, untransform_image, with_colorbar

__all__ = ['Renderer', 'input_linear', 'without_analyses', 'VIEW_ONLY_FIELDS', 'DISPLAY_FIELDS', 'synthesis_key',
           'same_synthesis_and_analyses']

# RenderArgs fields that change only how a synthesis result is shown (or which analyses run, or which other
# networks are shown beside it), never the synthesis itself. Every other field, including any added later, is
# part of the synthesis cache key.
VIEW_ONLY_FIELDS = frozenset({
    'sel_channels', 'base_channel', 'img_scale_db', 'img_normalize', 'untransform',
    'fft_show', 'fft_all', 'fft_range_db', 'fft_beta', 'fft_limits',
    'spectrum_seeds', 'spectrum_dataset', 'spectrum_layer', 'spectrum_definition', 'spectrum_noise_mode',
    'eq_readout', 'eq_transforms', 'sticking', 'sticking_radius', 'sticking_num', 'sticking_frames',
    'aliasing', 'aliasing_seeds', 'layer_eq', 'layer_eq_samples',
    'compare_pkls',
})

# The view-only fields that no analysis depends on either (`analyses.analysis_keys` reads none of them): a change
# of these alone is re-viewed from the cached synthesis (`Renderer.view_from_cache`), and does not cancel an
# analysis that is running.
DISPLAY_FIELDS = frozenset({
    'sel_channels', 'base_channel', 'img_scale_db', 'img_normalize', 'untransform',
    'fft_show', 'fft_all', 'fft_range_db', 'fft_beta', 'fft_limits',
})


def same_synthesis_and_analyses(a: RenderArgs, b: RenderArgs) -> bool:
    """Whether `a` and `b` differ in `DISPLAY_FIELDS` alone (same synthesis, same analyses)."""
    return all(getattr(a, f.name) == getattr(b, f.name) for f in dataclasses.fields(a) if f.name not in DISPLAY_FIELDS)


def synthesis_key(args: RenderArgs, layer: str | None) -> tuple:
    """What the synthesis output of `args` depends on: every field but the view-only ones, with the layer as shown."""
    return tuple((f.name, layer if f.name == 'layer_name' else getattr(args, f.name))
                 for f in dataclasses.fields(args) if f.name not in VIEW_ONLY_FIELDS)

log = logging.getLogger(__name__)


class Renderer:
    """Renders `RenderArgs` into `RenderResult`; keeps networks and expensive analyses cached."""

    def __init__(self, max_networks: int = 4, log_failures: bool = True,
                 name_option: Callable[[str], str] = window_name) -> None:
        # log_failures: log each failed render (with a traceback for what is not a user error). Headless mode
        # prints every error itself as one line, so it logs them only with --debug.
        # name_option: how an error's hint names a setting (see error_text): the window's control by default.
        self.log_failures = log_failures
        self.name_option = name_option
        self.networks = NetworkCache(max_networks)
        self.analyses = AnalysisCache(name_option=name_option)
        self._ws_cache: tuple[tuple, torch.Tensor, np.ndarray] | None = None
        self.directions = DirectionResolver()
        self._synthesis_cache: tuple[tuple, dict] | None = None  # (synthesis_key, outputs): the newest only
        # The compared networks' panes, by pickle: {'ws': the _ws_cache entry, 'synthesis': the _synthesis_cache
        # entry} of each (the first pane's stay in the two fields above, which view_from_cache reads).
        self._pane_caches: dict[str, dict[str, tuple]] = {}
        self._noise_cache: tuple[tuple, dict[str, torch.Tensor]] | None = None  # a latent file's noise maps
        self.synthesis_runs = 0  # generator runs for views (tests, benchmarks)

    def analyses_pending(self, args: RenderArgs) -> bool:
        """Whether `args` asks for an analysis that is not cached yet (a slow render)."""
        return self.analyses.pending(args)

    @contextlib.contextmanager
    def _pca_progress(self, control: AnalysisControl | None):
        """A PCA computed the first time for a network (seconds to a minute on a CPU) reports its progress to
        `control` while the latents are computed, so the window shows it instead of a bare "rendering"."""
        self.directions.progress = (None if control is None else
                                    lambda done, total: control.report(PCA_PROGRESS, done, total))
        try:
            yield
        finally:
            if control is not None and control.progress is not None and control.progress[0] == PCA_PROGRESS:
                control.clear()
            self.directions.progress = None

    def _ws(self, net: LoadedNetwork, args: RenderArgs, dev: torch.device,
            pane: dict | None = None) -> tuple[torch.Tensor, np.ndarray]:
        """(ws, untruncated w+) of `args`; `pane`: a compared network's cache entry (None: the first pane's)."""
        if args.latent and args.latent_file:
            raise UserError('set either an explicit latent vector or a latent file, not both')
        # A latent file is keyed by its modification time too: re-running a projection updates the view.
        file_key = latent_file_key(args.latent_file)
        key = (args.pkl, args.device, args.precision, args.w0_seeds, args.stylemix_seed, args.stylemix_idx,
               args.trunc_psi, args.trunc_cutoff, args.latent, file_key, args.class_idx, args.directions)
        cached = self._ws_cache if pane is None else pane.get('ws')
        if cached is not None and cached[0] == key:
            return cached[1:]
        latent = args.latent or (load_latent(args.latent_file) if args.latent_file else None)
        def latent_ws(psi: float) -> torch.Tensor:
            return compute_ws(net.G, args.w0_seeds, args.stylemix_seed, args.stylemix_idx, psi, args.trunc_cutoff,
                              dev, latent=latent, class_idx=args.class_idx)

        ws = latent_ws(args.trunc_psi)
        base = ws if args.trunc_psi == 1 else latent_ws(1.0)  # untruncated, for keyframes
        ws = self.directions.edit(net.G, ws, args.directions)
        entry = (key, ws, base[0].cpu().numpy())
        if pane is None:
            self._ws_cache = entry
        else:
            pane['ws'] = entry
        return entry[1:]

    # --- the entry point --------------------------------------------------------------------------------------
    def render(self, args: RenderArgs, control: AnalysisControl | None = None) -> RenderResult:
        """Render `args`; `control` lets another thread cancel its analyses and read their progress."""
        res = RenderResult(args=args)
        t0 = time.perf_counter()
        try:
            with torch.no_grad():  # not inference_mode: networks built here must stay usable by the analyses
                self._render(args, res, control)
        except Exception as exc:  # noqa: BLE001 - the renderer never raises: errors are shown as text
            res.error = error_text(exc, self.name_option)
            if self.log_failures:
                log.warning('render failed: %s', res.error,
                            exc_info=not isinstance(exc, (UserError, ValueError, OSError)))
        res.timings['total'] = time.perf_counter() - t0
        return res

    def _render(self, args: RenderArgs, res: RenderResult, control: AnalysisControl | None) -> None:
        check_compare(args.compare_pkls)  # before any network loads: too many is refused whole
        t = time.perf_counter()
        net = self.networks.get(args.pkl, args.device, args.precision)
        res.network = dict(net.info, precision=args.precision)
        res.timings['load'] = time.perf_counter() - t
        G, dev = net.G, torch.device(args.device)

        if net.layers is None:
            net.layers = list_layers(G, dev)
        res.layers = net.layers
        layer_names = [layer.name for layer in net.layers]
        layer = None if args.layer_name == OUTPUT_LAYER else args.layer_name
        messages = []
        if layer is not None and layer not in layer_names:
            messages.append(f'no layer "{layer}" in this network; showing the output')
            layer = None

        t = time.perf_counter()
        with self._pca_progress(control):
            ws, res.latent = self._ws(net, args, dev)
        res.ws = ws[0].to(torch.float32).cpu().numpy()
        res.timings['mapping'] = time.perf_counter() - t

        t = time.perf_counter()
        linear = input_linear(args)
        if linear is not None and net.info['has_transform']:
            messages.append('scale / shear / mirror: outside what the network was trained to be equivariant to')
        out = self._synthesis(net, args, ws, layer, dev, linear, self._latent_noise(net, args, messages))
        res.timings['synthesis'] = time.perf_counter() - t

        res.timings['at_synthesis_done'] = time.perf_counter()
        res.limits = shown_limits(self._limits(net), layer, int(out['x'].shape[-1]))

        t = time.perf_counter()
        self._view(args, out, layer, net.info['has_transform'], linear, res)
        res.timings['view'] = time.perf_counter() - t
        if args.compare_pkls:
            t = time.perf_counter()
            self._compare(args, res, messages, control)
            res.timings['compare'] = time.perf_counter() - t
        else:
            self._pane_caches.clear()
        res.timings['at_view_done'] = time.perf_counter()

        self.analyses.run(G, net.info['has_transform'], args, ws, layer, res, messages, control)
        res.messages = tuple(messages)

    def _compare(self, args: RenderArgs, res: RenderResult, messages: list[str],
                 control: AnalysisControl | None = None) -> None:
        """Render each of `args.compare_pkls` as it renders alone with `args`, and compose them with the first pane
        (res.image) into res.image, their places in res.panes. A network that fails is a grey pane and a note."""
        for pkl in set(self._pane_caches) - set(args.compare_pkls):
            del self._pane_caches[pkl]  # networks no longer compared: their tensors go
        images, names = [res.image], [pane_name(args.pkl)]
        infos = [dict(pkl=args.pkl, error=None, network=res.network)]
        for pkl in args.compare_pkls:
            name = pane_name(pkl)
            pane_args = dataclasses.replace(args, pkl=pkl, compare_pkls=(), fft_show=False)
            pane_res, notes = RenderResult(args=pane_args), []
            try:
                self._render_pane(pane_args, pane_res, notes, self._pane_caches.setdefault(pkl, {}), control)
            except Exception as exc:  # noqa: BLE001 - a compared network failing leaves the other panes
                error = error_text(exc, self.name_option)
                if self.log_failures:
                    log.warning('compared network %s failed: %s', name, error,
                                exc_info=not isinstance(exc, (UserError, ValueError, OSError)))
                self._pane_caches.pop(pkl, None)
                images.append(None)
                infos.append(dict(pkl=pkl, error=error, network=pane_res.network))
                messages.append(failure_note(name, error))
            else:
                images.append(pane_res.image)
                infos.append(dict(pkl=pkl, error=None, network=pane_res.network))
                messages.extend(f'{NOTE_PREFIX}{name}: {note}' for note in notes)
            names.append(name)
        res.image, boxes, notes = compose_panes(images, names)
        res.panes = tuple(dict(name=name, **info, **box) for name, info, box in zip(names, infos, boxes))
        messages.extend(notes)
        asked = [what for what, on in (('FFT', args.fft_show), ('spectrum', args.spectrum_seeds > 0),
                                       ('EQ readout', args.eq_readout), ('sticking', args.sticking)) if on]
        if asked:
            messages.append(f'{NOTE_PREFIX}{", ".join(asked)} of the first pane ({names[0]}) only')

    def _render_pane(self, args: RenderArgs, res: RenderResult, messages: list[str], pane: dict,
                     control: AnalysisControl | None = None) -> None:
        """res.image of a compared network: `_render`'s steps without the analyses, on the pane's own caches."""
        net = self.networks.get(args.pkl, args.device, args.precision)
        res.network = dict(net.info, precision=args.precision)
        G, dev = net.G, torch.device(args.device)
        if net.layers is None:
            net.layers = list_layers(G, dev)
        layer = None if args.layer_name == OUTPUT_LAYER else args.layer_name
        if layer is not None and layer not in {ly.name for ly in net.layers}:
            messages.append(f'no layer "{layer}" in this network; showing the output')
            layer = None
        with self._pca_progress(control):
            ws, _latent = self._ws(net, args, dev, pane)
        linear = input_linear(args)
        if linear is not None and net.info['has_transform']:
            messages.append('scale / shear / mirror: outside what the network was trained to be equivariant to')
        out = self._synthesis(net, args, ws, layer, dev, linear, self._latent_noise(net, args, messages), pane)
        self._view(args, out, layer, net.info['has_transform'], linear, res)

    @staticmethod
    def _view(args: RenderArgs, out: dict, layer: str | None, has_transform: bool, linear: np.ndarray | None,
              res: RenderResult) -> None:
        """res.image, res.fft and res.stats of the synthesis output `out` as the display fields of `args` ask."""
        untransform = layer is None and args.untransform and has_transform and bool(
            args.translate_x or args.translate_y or args.rotate or linear is not None)
        if untransform:
            # NVlabs' band-limited operator; the stats and the FFT below are of the untransformed image.
            if 'untransformed' not in out:
                out['untransformed'] = untransform_image(out['x'], args.translate_x, args.translate_y, args.rotate,
                                                       linear)
            x = out['untransformed']
        else:
            x = out['x']
        num_channels = x.shape[0]
        base = int(min(max(args.base_channel, 0), num_channels - 1))
        if args.sel_channels >= 3 and num_channels >= 3:
            base = min(base, num_channels - 3)
            sel = x[base:base + 3]
        else:
            sel = x[base:base + 1]
        view = sel
        if args.img_normalize:
            view = view / view.abs().amax(dim=(1, 2), keepdim=True).clamp(min=1e-8)
        if args.img_scale_db:
            view = view * (10 ** (args.img_scale_db / 20))
        # the layer's own values, and those of the picture: the shown channels after normalising and the dB gain
        # (before the uint8 clamp), so the second line moves with the display settings as the picture does
        res.stats = dict(mean=float(x.mean()), std=float(x.std()) if x.numel() > 1 else 0.0,
                         max=float(x.abs().max()), sel_mean=float(view.mean()),
                         sel_std=float(view.std()) if view.numel() > 1 else 0.0, sel_max=float(view.abs().max()),
                         base_channel=base, num_channels=num_channels, untransformed=untransform)
        res.image = to_uint8_rgb(view)
        res.fft = None
        if args.fft_show:
            _db, rgb = fft_view(x if args.fft_all else sel, beta=args.fft_beta, range_db=args.fft_range_db)
            if args.fft_limits and res.limits:
                # drawn on the square as enlarged for the colour bar (which then enlarges it no more), so the
                # circles stay thin
                circles = limit_circles(res.limits)
                rgb = draw_legend(draw_limit_circles(enlarge(rgb), circles, rgb.shape[0]), circles)
            res.fft = with_colorbar(rgb, -args.fft_range_db, args.fft_range_db, 'dB')

    def view_from_cache(self, args: RenderArgs, shown: RenderResult) -> RenderResult | None:
        """`shown` (a finished render) re-viewed with the display fields of `args`, from the cached synthesis,
        without the generator; None unless `args` differs from `shown.args` in `DISPLAY_FIELDS` alone and that
        synthesis is still the cached one. Safe to call from another thread than `render`'s: it only reads the
        cache entry (replaced whole, never changed in place, except for the untransformed image it may add)."""
        base = shown.args
        if (base is None or shown.error or shown.image is None or not shown.network or args.compare_pkls
                or not same_synthesis_and_analyses(args, base)):
            return None  # compared panes: the render thread re-views them all (from their caches)
        has_transform = bool(shown.network.get('has_transform'))
        layer = None if base.layer_name == OUTPUT_LAYER else base.layer_name
        if layer is not None and layer not in {ly.name for ly in shown.layers}:
            layer = None  # as `_render`: a layer this network lacks shows the output
        linear = input_linear(args)
        untransform = layer is None and args.untransform and has_transform and bool(
            args.translate_x or args.translate_y or args.rotate or linear is not None)
        cache = self._synthesis_cache  # one read: the render thread may replace it meanwhile
        key = synthesis_key(args, layer) + (latent_file_key(args.latent_file),)
        if cache is None or cache[0] != key or (untransform and 'untransformed' not in cache[1]):
            return None  # the untransformed image is built by the render thread (its first build is slow)
        t = time.perf_counter()
        res = dataclasses.replace(shown, args=args, timings={})
        with torch.no_grad():
            self._view(args, cache[1], layer, has_transform, linear, res)
        res.timings['view'] = res.timings['total'] = time.perf_counter() - t
        res.timings['synthesis'] = 0.0
        return res

    @staticmethod
    def _limits(net: LoadedNetwork) -> list[dict]:
        """The network's layer limits, read once (none for a network that is neither StyleGAN2 nor StyleGAN3)."""
        if net.limits is None:
            try:
                net.limits = layer_limits(net.G)
            except UserError:
                net.limits = []
        return net.limits

    def _latent_noise(self, net: LoadedNetwork, args: RenderArgs, messages: list[str]) -> dict[str, torch.Tensor]:
        """The StyleGAN2 noise maps a projection saved beside its w (``noise/<buffer>`` in projected_w.npz), for a
        latent file shown with noise mode 'const' on a network that has noise inputs; else none. With them the
        view is exactly the projection's final image (w alone is not: the maps were optimised too)."""
        if not args.latent_file or args.noise_mode != 'const':
            return {}
        key = latent_file_key(args.latent_file)  # the file's maps, whichever pane shows them
        if self._noise_cache is None or self._noise_cache[0] != key:
            self._noise_cache = (key, load_noise_maps(args.latent_file))
        maps = self._noise_cache[1]
        if maps and not noise_buffers(net.G):
            messages.append('the latent file\'s noise maps are not used: this network has no noise inputs')
            return {}
        return maps

    def _synthesis(self, net: LoadedNetwork, args: RenderArgs, ws: torch.Tensor, layer: str | None,
                   dev: torch.device, linear: np.ndarray | None = None,
                   noise: dict[str, torch.Tensor] | None = None, pane: dict | None = None) -> dict:
        """{'x': [C, H, W] float32 output or layer} of `args`, from the cache when only view fields changed;
        `pane`: a compared network's cache entry (None: the first pane's)."""
        # the latent file's modification time too (as the ws cache): a re-run projection must show
        key = synthesis_key(args, layer) + (latent_file_key(args.latent_file),)
        cached = self._synthesis_cache if pane is None else pane.get('synthesis')
        if cached is not None and cached[0] == key:
            return cached[1]
        # drop the old tensors before making new ones (large layers)
        if pane is None:
            self._synthesis_cache = None
        else:
            pane.pop('synthesis', None)
        with input_transform(net.G, (args.translate_x, args.translate_y), args.rotate, linear), \
                autocast(dev, PRECISIONS[args.precision]), given_noise(net.G, noise or {}):
            out = run_synthesis(net.G, ws, noise_mode=args.noise_mode, noise_seed=args.noise_seed,
                                capture_layer=layer)
        self.synthesis_runs += 1
        if isinstance(out, tuple):
            out = out[0]
        entry = {'x': out[0].detach().to(torch.float32)}
        if pane is None:
            self._synthesis_cache = (key, entry)
        else:
            pane['synthesis'] = (key, entry)
        return entry


def input_linear(args: RenderArgs):
    """The 2x2 scale / shear / mirror map of the input the args ask for, or None (the trained transforms only)."""
    try:
        return linear_transform(args.input_scale, (args.shear_x, args.shear_y), (args.mirror_x, args.mirror_y))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def without_analyses(args: RenderArgs) -> RenderArgs:
    """The same view with the slow analyses switched off (shown first while they compute)."""
    return dataclasses.replace(args, spectrum_seeds=0, eq_readout=False, sticking=False, aliasing=False, layer_eq='')
