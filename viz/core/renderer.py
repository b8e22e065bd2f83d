"""GL-free renderer: `Renderer().render(RenderArgs) -> RenderResult`.

Loads networks (cached per pickle, device and precision), maps seeds to w, runs the synthesis network
(with forward hooks only when a layer is viewed), and builds every view the visualizer shows: the image
or a layer's channels, its FFT, the average power spectrum over many seeds, the equivariance readout and
the texture-sticking images. Used by the async renderer thread, the headless tool and the tests; it
never raises: failures come back as `RenderResult.error`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from networks import stylegan3
from networks.errors import UserError
from ops.resample import user_transform
from viz.core.render_types import DEFAULT_PKL, LayerInfo, RenderArgs, RenderResult

log = logging.getLogger(__name__)

_PRECISIONS = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


def _autocast(dev: torch.device, dtype: torch.dtype):
    """Mixed precision for bfloat16 / float16 requests; a no-op context for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=dev.type, dtype=dtype)


class _CaptureDone(Exception):
    """Raised by a forward hook to stop synthesis once the requested layer has been captured."""


@dataclass
class _Network:
    G: torch.nn.Module
    info: dict
    layers: tuple[LayerInfo, ...] | None = None


# ----------------------------------------------------------------------------------------------------------
# Small pure functions (tested on their own).

def make_transform(translate_x: float, translate_y: float, angle_deg: float) -> np.ndarray:
    """3x3 user transform (rotation by `angle_deg`, then translation in image widths), NVlabs convention."""
    return user_transform((translate_x, translate_y), angle_deg)


def seed_to_zc(seed: int, z_dim: int, c_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The latent z (and a random one-hot class c for conditional networks) of a seed."""
    rnd = np.random.RandomState(int(seed) % (2**32))
    z = rnd.randn(z_dim)
    c = np.zeros(c_dim, dtype=np.float32)
    if c_dim > 0:
        c[rnd.randint(c_dim)] = 1
    return z, c


def to_uint8_image(x: torch.Tensor) -> np.ndarray:
    """[C, H, W] float in about [-1, 1] -> uint8 HxWx3 (one channel is shown as grey)."""
    x = x.detach().to(torch.float32).cpu()
    img = (x * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 2:
        img = np.concatenate([img, np.zeros_like(img[:, :, :1])], axis=2)
    return np.ascontiguousarray(img[:, :, :3])


_CMAP_CACHE: dict[str, np.ndarray] = {}


def colormap(values: np.ndarray, name: str = 'turbo') -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB through a matplotlib colour map (LUT of 256 entries)."""
    lut = _CMAP_CACHE.get(name)
    if lut is None:
        import matplotlib

        lut = (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)
        _CMAP_CACHE[name] = lut
    idx = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)) * 255 + 0.5, 0, 255).astype(np.intp)
    return lut[idx]


def fft_view(sig: torch.Tensor, beta: float = 8.0, range_db: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """Log power spectrum of [C, H, W] (channels averaged), DC centred, relative to its mean, in dB.

    Returns (db float32 [H, W], uint8 RGB [H, W, 3] with -range_db..+range_db mapped to the colour map).
    """
    from ops.spectrum import power_spectrum

    spec = power_spectrum(sig[None].detach().to(torch.float32), beta=beta, padding=1)
    spec = spec / spec.mean().clamp(min=1e-30)
    db = (10 * torch.log10(spec.clamp(min=1e-30))).numpy().astype(np.float32)
    rgb = colormap((db / max(range_db, 1e-3) + 1) / 2)
    return db, rgb


def untransform_image(img: torch.Tensor, translate_x: float, translate_y: float, angle_deg: float) -> torch.Tensor:
    """Resample the output of a transformed input back onto the untransformed frame ([C, H, W], zeros outside).

    The transformed image is T(p) = I(M^-1 p); sampling it at M p gives I(p). Bicubic interpolation: exact at
    whole-pixel shifts. Coordinates: image widths, y down, origin at the centre (as the StyleGAN3 input grid).
    """
    m = torch.as_tensor(make_transform(translate_x, translate_y, angle_deg), dtype=torch.float32)
    theta = m[:2].clone()
    theta[:, 2] *= 2  # image widths -> normalised [-1, 1] coordinates
    grid = torch.nn.functional.affine_grid(theta[None], [1, *img.shape], align_corners=False)
    out = torch.nn.functional.grid_sample(img[None].to(torch.float32), grid.to(img.device), mode='bicubic',
                                          padding_mode='zeros', align_corners=False)
    return out[0]


def error_text(exc: BaseException) -> str:
    """One clear line for the GUI and the log."""
    if isinstance(exc, FileNotFoundError):
        return f'file not found: {exc.filename or exc}'
    if isinstance(exc, torch.OutOfMemoryError):
        return 'out of memory: the network (or the requested view) does not fit on this device'
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
    if name in ('PickleError', 'ValueError', 'RendererError'):
        return text or name
    return f'{name}: {text}' if text else name


class RendererError(UserError, ValueError):
    """A bad request (unknown device, unknown layer, ...), shown to the user as text."""


def check_device(device: str) -> torch.device:
    """torch.device for `device`, or RendererError saying why it cannot be used here."""
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise RendererError(f'unknown device "{device}"') from exc
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise RendererError(f'CUDA is not available here (torch {torch.__version__}'
                            f'{", built without CUDA" if torch.version.cuda is None else ""}); use --device cpu')
    if dev.type == 'mps' and not (hasattr(torch.backends, 'mps') and torch.backends.mps.is_available()):
        raise RendererError('MPS is not available here; use --device cpu')
    if dev.type not in ('cpu', 'cuda', 'mps'):
        raise RendererError(f'unsupported device "{device}" (cpu, cuda or mps)')
    return dev


# ----------------------------------------------------------------------------------------------------------

class Renderer:
    """Renders `RenderArgs` into `RenderResult`; keeps networks and expensive analyses cached."""

    def __init__(self, max_networks: int = 4) -> None:
        self._networks: OrderedDict[tuple, _Network] = OrderedDict()
        self._max_networks = max_networks
        self._analysis_cache: OrderedDict[tuple, object] = OrderedDict()
        self._ws_cache: tuple[tuple, torch.Tensor] | None = None

    # --- networks ---------------------------------------------------------------------------------------------
    def get_network(self, pkl: str, device: str = 'cpu', precision: str = 'float32') -> _Network:
        """The float32 network (reduced precisions run it under autocast)."""
        if precision not in _PRECISIONS:
            raise RendererError(f'unknown precision "{precision}" ({", ".join(_PRECISIONS)})')
        key = (pkl, device)
        net = self._networks.get(key)
        if net is not None:
            self._networks.move_to_end(key)
            return net
        dev = check_device(device)
        net = self._load(pkl, dev)
        self._store(key, net)
        return net

    def _store(self, key: tuple, net: _Network) -> None:
        self._networks[key] = net
        while len(self._networks) > self._max_networks:
            self._networks.popitem(last=False)

    @staticmethod
    def _load(pkl: str, dev: torch.device) -> _Network:
        if pkl == DEFAULT_PKL:
            from viz.core.default_network import DEFAULT_NETWORK_NAME, build_default_generator

            G = build_default_generator(dev)
            name, untrained = DEFAULT_NETWORK_NAME, True
        else:
            import networks

            if not os.path.exists(pkl):
                raise FileNotFoundError(2, 'No such file', pkl)
            if os.path.isdir(pkl):
                raise RendererError(f'{pkl} is a directory, not a network pickle')
            data = networks.load_network_pkl(pkl, device=dev)
            G = data.get('G_ema', data.get('G')) if isinstance(data, dict) else None
            if not isinstance(G, torch.nn.Module) or not hasattr(G, 'synthesis') or not hasattr(G, 'mapping'):
                raise RendererError(f'{os.path.basename(pkl)} holds no generator (expected a G_ema or G network)')
            name, untrained = os.path.basename(pkl), False
        kind = 'StyleGAN3' if hasattr(G.synthesis, 'input') else 'StyleGAN2'
        has_transform = hasattr(G.synthesis, 'input') and hasattr(G.synthesis.input, 'transform')
        info = dict(name=name, pkl=pkl, kind=kind, untrained=untrained, device=str(dev), precision='float32',
                    resolution=int(G.img_resolution), num_ws=int(G.num_ws), z_dim=int(G.z_dim),
                    c_dim=int(G.c_dim), w_dim=int(G.w_dim), has_noise=(kind == 'StyleGAN2'),
                    has_transform=has_transform,
                    num_params=int(sum(p.numel() for p in G.parameters())))
        return _Network(G=G.eval().requires_grad_(False), info=info)

    # --- latents ----------------------------------------------------------------------------------------------
    def _ws(self, net: _Network, args: RenderArgs, dev: torch.device) -> torch.Tensor:
        key = (args.pkl, args.device, args.precision, args.w0_seeds, args.stylemix_seed, args.stylemix_idx,
               args.trunc_psi, args.trunc_cutoff)
        if self._ws_cache is not None and self._ws_cache[0] == key:
            return self._ws_cache[1]
        ws = compute_ws(net.G, args.w0_seeds, args.stylemix_seed, args.stylemix_idx, args.trunc_psi,
                        args.trunc_cutoff, dev)
        self._ws_cache = (key, ws)
        return ws

    # --- the entry point --------------------------------------------------------------------------------------
    def render(self, args: RenderArgs) -> RenderResult:
        res = RenderResult(args=args)
        t0 = time.perf_counter()
        try:
            with torch.no_grad():  # not inference_mode: networks built here must stay usable by the analyses
                self._render(args, res)
        except Exception as exc:  # noqa: BLE001 - the renderer never raises: errors are shown as text
            res.error = error_text(exc)
            log.warning('render failed: %s', res.error, exc_info=not isinstance(exc, (ValueError, OSError)))
        res.timings['total'] = time.perf_counter() - t0
        return res

    def _render(self, args: RenderArgs, res: RenderResult) -> None:
        t = time.perf_counter()
        net = self.get_network(args.pkl, args.device, args.precision)
        res.network = dict(net.info, precision=args.precision)
        res.timings['load'] = time.perf_counter() - t
        G, dev = net.G, torch.device(args.device)
        dtype = _PRECISIONS[args.precision]

        if net.layers is None:
            net.layers = list_layers(G, dev)
        res.layers = net.layers
        layer_names = [layer.name for layer in net.layers]
        layer = args.layer_name
        messages = []
        if layer is not None and layer not in layer_names:
            messages.append(f'no layer "{layer}" in this network; showing the output')
            layer = None

        set_input_transform(G, args.translate_x, args.translate_y, args.rotate)
        t = time.perf_counter()
        ws = self._ws(net, args, dev)
        res.timings['mapping'] = time.perf_counter() - t

        t = time.perf_counter()
        with _autocast(dev, dtype):
            out = run_synthesis(G, ws, noise_mode=args.noise_mode, noise_seed=args.noise_seed,
                                capture_layer=layer)
        res.timings['synthesis'] = time.perf_counter() - t
        if isinstance(out, tuple):
            out = out[0]
        x = out[0].to(torch.float32)  # [C, H, W]

        t = time.perf_counter()
        num_channels = x.shape[0]
        base = int(min(max(args.base_channel, 0), num_channels - 1))
        if args.sel_channels >= 3 and num_channels >= 3:
            base = min(base, num_channels - 3)
            sel = x[base:base + 3]
        else:
            sel = x[base:base + 1]
        res.stats = dict(mean=float(x.mean()), std=float(x.std()) if x.numel() > 1 else 0.0,
                         max=float(x.abs().max()), sel_mean=float(sel.mean()),
                         sel_std=float(sel.std()) if sel.numel() > 1 else 0.0, sel_max=float(sel.abs().max()),
                         base_channel=base, num_channels=num_channels)
        view = sel
        if args.img_normalize:
            view = view / view.abs().amax(dim=(1, 2), keepdim=True).clamp(min=1e-8)
        if args.img_scale_db:
            view = view * (10 ** (args.img_scale_db / 20))
        if layer is None and args.untransform and net.info['has_transform'] and (
                args.translate_x or args.translate_y or args.rotate):
            view = untransform_image(view, args.translate_x, args.translate_y, args.rotate)
        res.image = to_uint8_image(view)
        if args.fft_show:
            _db, res.fft = fft_view(x if args.fft_all else sel, beta=args.fft_beta, range_db=args.fft_range_db)
        res.timings['view'] = time.perf_counter() - t

        self._analyses(net, args, ws, layer, res, messages)
        set_input_transform(G, args.translate_x, args.translate_y, args.rotate)
        res.messages = tuple(messages)

    # --- analyses ---------------------------------------------------------------------------------------------
    def _cached(self, key: tuple, compute):
        if key in self._analysis_cache:
            self._analysis_cache.move_to_end(key)
            return self._analysis_cache[key]
        value = compute()
        self._analysis_cache[key] = value
        while len(self._analysis_cache) > 16:
            self._analysis_cache.popitem(last=False)
        return value

    @staticmethod
    def _analysis_keys(args: RenderArgs, layer: str | None) -> dict[str, tuple]:
        """Cache keys of the analyses `args` asks for (each depends only on what changes its result)."""
        netkey = (args.pkl, args.device, args.precision)
        keys = {}
        if args.spectrum_seeds > 0:
            keys['spectrum'] = ('spectrum', netkey, args.spectrum_seeds, layer if args.spectrum_layer else None,
                                args.trunc_psi, args.trunc_cutoff, args.noise_mode, args.fft_beta,
                                args.spectrum_dataset)
        if args.eq_readout:
            keys['eq'] = ('eq', netkey, args.w0_seeds, args.stylemix_seed, args.stylemix_idx, args.trunc_psi,
                          args.trunc_cutoff, args.eq_transforms)
        if args.sticking:
            seed = args.w0_seeds[0][0] if args.w0_seeds else 0
            keys['sticking'] = ('sticking', netkey, seed, args.trunc_psi, args.sticking_radius, args.sticking_num,
                                args.sticking_frames)
        return keys

    def analyses_pending(self, args: RenderArgs) -> bool:
        """Whether `args` asks for an analysis that is not cached yet (a slow render)."""
        return any(k not in self._analysis_cache for k in self._analysis_keys(args, args.layer_name).values())

    def _analyses(self, net: _Network, args: RenderArgs, ws: torch.Tensor, layer: str | None,
                  res: RenderResult, messages: list[str]) -> None:
        G, dev = net.G, torch.device(args.device)
        keys = self._analysis_keys(args, layer)
        if 'spectrum' in keys:
            t = time.perf_counter()
            spec_layer = layer if args.spectrum_layer else None
            try:
                res.spectrum = self._cached(keys['spectrum'], lambda: mean_spectrum_db_view(
                    G, args.spectrum_seeds, dev, layer=spec_layer, psi=args.trunc_psi, cutoff=args.trunc_cutoff,
                    beta=args.fft_beta, dataset=args.spectrum_dataset or None))
            except ImportError as exc:
                messages.append(f'spectrum panel unavailable: {exc}')
            except Exception as exc:  # noqa: BLE001
                messages.append(f'spectrum failed: {error_text(exc)}')
            res.timings['spectrum'] = time.perf_counter() - t
        if 'eq' in keys:
            t = time.perf_counter()
            if not net.info['has_transform']:
                messages.append('EQ readout needs a StyleGAN3 network (no input transform in this one)')
            else:
                try:
                    res.eq = self._cached(keys['eq'], lambda: eq_readout(G, ws, args.eq_transforms))
                except ImportError as exc:
                    messages.append(f'EQ readout unavailable: {exc}')
                except Exception as exc:  # noqa: BLE001
                    messages.append(f'EQ readout failed: {error_text(exc)}')
            res.timings['eq'] = time.perf_counter() - t
        if 'sticking' in keys:
            t = time.perf_counter()
            seed = args.w0_seeds[0][0] if args.w0_seeds else 0
            try:
                res.sticking = self._cached(keys['sticking'], lambda: sticking_views(
                    G, seed, dev, args.sticking_radius, args.sticking_num, args.sticking_frames, args.trunc_psi))
            except ImportError as exc:
                messages.append(f'texture-sticking view unavailable: {exc}')
            except Exception as exc:  # noqa: BLE001
                messages.append(f'texture-sticking view failed: {error_text(exc)}')
            res.timings['sticking'] = time.perf_counter() - t


# ----------------------------------------------------------------------------------------------------------
# Network helpers (plain functions, so the headless tool and the tests can use them too).

def set_input_transform(G: torch.nn.Module, translate_x: float, translate_y: float, angle_deg: float) -> None:
    """Write the inverse of the user transform into `G.synthesis.input.transform` (no-op for StyleGAN2)."""
    stylegan3.set_input_transform(G, (translate_x, translate_y), angle_deg)


def compute_ws(G: torch.nn.Module, w0_seeds, stylemix_seed: int, stylemix_idx, psi: float, cutoff: int | None,
               device: torch.device) -> torch.Tensor:
    """ws [1, num_ws, w_dim]: weighted blend of the seeds' w (relative to w_avg) plus style mixing."""
    seeds = [int(s) for s, _w in w0_seeds] or [0]
    all_seeds = list(dict.fromkeys(seeds + [int(stylemix_seed)]))
    zs, cs = zip(*(seed_to_zc(s, G.z_dim, G.c_dim) for s in all_seeds))
    z = torch.as_tensor(np.stack(zs), dtype=torch.float32, device=device)
    c = torch.as_tensor(np.stack(cs), dtype=torch.float32, device=device)
    dtype = next(G.mapping.parameters()).dtype
    w_avg = G.mapping.w_avg.to(torch.float32)
    all_ws = G.mapping(z.to(dtype), c.to(dtype), truncation_psi=psi, truncation_cutoff=cutoff).to(torch.float32)
    all_ws = dict(zip(all_seeds, all_ws - w_avg))
    weights = list(w0_seeds) or [(0, 1.0)]
    w = torch.stack([all_ws[int(s)] * float(wt) for s, wt in weights]).sum(dim=0, keepdim=True)
    idx = [i for i in stylemix_idx if 0 <= i < G.num_ws]
    if idx:
        w[:, idx] = all_ws[int(stylemix_seed)][None, idx]
    return w + w_avg


def run_synthesis(G: torch.nn.Module, ws: torch.Tensor, noise_mode: str = 'const', noise_seed: int = 0,
                  capture_layer: str | None = None) -> torch.Tensor:
    """G.synthesis(ws); with `capture_layer`, the output of that submodule (synthesis stops there)."""
    captured: list = []
    handle = None
    if capture_layer is not None:
        base, _, index = capture_layer.partition(':')
        module = dict(G.synthesis.named_modules()).get(base)
        if module is None:
            raise RendererError(f'no layer "{capture_layer}"')

        def hook(_module, _inputs, output):
            if isinstance(output, (tuple, list)):
                output = output[int(index or 0)]
            captured.append(output)
            raise _CaptureDone

        handle = module.register_forward_hook(hook)
    try:
        with torch.random.fork_rng(devices=[] if ws.device.type == 'cpu' else [ws.device]):
            torch.manual_seed(noise_seed)
            try:
                out = G.synthesis(ws, noise_mode=noise_mode)
            except _CaptureDone:
                out = captured[0]
    finally:
        if handle is not None:
            handle.remove()
    return out


def list_layers(G: torch.nn.Module, device: torch.device) -> tuple[LayerInfo, ...]:
    """(name, shape, dtype) of every 4-D activation in the synthesis network, in execution order.

    Tuple outputs (StyleGAN2 blocks return x and img) are listed as "name:0", "name:1".
    """
    found: list[LayerInfo] = []
    seen: set[str] = set()
    handles = []

    def make_hook(name):
        def hook(_module, _inputs, output):
            outs = [(name, output)] if isinstance(output, torch.Tensor) else [
                (f'{name}:{i}', o) for i, o in enumerate(output) if isinstance(o, torch.Tensor)] \
                if isinstance(output, (tuple, list)) else []
            for n, o in outs:
                if o.ndim == 4 and n not in seen:
                    seen.add(n)
                    found.append(LayerInfo(name=n, shape=tuple(int(s) for s in o.shape), dtype=str(o.dtype)
                                           .replace('torch.', '')))
        return hook

    for name, module in G.synthesis.named_modules():
        if name:
            handles.append(module.register_forward_hook(make_hook(name)))
    try:
        ws = G.mapping.w_avg.to(device, torch.float32)[None, None].repeat(1, G.num_ws, 1)
        run_synthesis(G, ws)
    finally:
        for h in handles:
            h.remove()
    return tuple(found)


def without_analyses(args: RenderArgs) -> RenderArgs:
    """The same view with the slow analyses switched off (shown first while they compute)."""
    return dataclasses.replace(args, spectrum_seeds=0, eq_readout=False, sticking=False)


def generate_batch(G: torch.nn.Module, seeds, device: torch.device, psi: float = 1.0, cutoff: int | None = None,
                   layer: str | None = None, noise_mode: str = 'const') -> torch.Tensor:
    """Images (or one layer's activations) for a list of seeds, float32 [N, C, H, W]."""
    zs, cs = zip(*(seed_to_zc(s, G.z_dim, G.c_dim) for s in seeds))
    dtype = next(G.mapping.parameters()).dtype
    z = torch.as_tensor(np.stack(zs), device=device).to(dtype)
    c = torch.as_tensor(np.stack(cs), device=device).to(dtype)
    ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
    out = run_synthesis(G, ws, noise_mode=noise_mode, capture_layer=layer)
    if isinstance(out, tuple):
        out = out[0]
    return out.to(torch.float32)


def mean_spectrum_db_view(G: torch.nn.Module, num_seeds: int, device: torch.device, layer: str | None = None,
                          psi: float = 1.0, cutoff: int | None = None, beta: float = 8.0, dataset: str | None = None,
                          batch: int = 1, range_db: float = 80.0) -> dict:
    """The GUI's spectrum view: mean 2-D power spectrum of the output (or `layer`) over seeds 0..num_seeds-1.

    Images are taken as they are (about [-1, 1], not standardised), and the result is a display dict in dB
    (image, slices, and the same of a dataset when given), unlike the linear spectrum of
    viz.analysis.spectra.average_standardized_spectrum.
    """
    from ops.spectrum import power_spectrum, power_spectrum_sum, spectrum_slices, spectrum_to_db

    set_input_transform(G, 0, 0, 0)  # the untransformed network (the cache key holds no transform)
    total, count = None, 0
    for start in range(0, num_seeds, batch):
        seeds = list(range(start, min(start + batch, num_seeds)))
        imgs = generate_batch(G, seeds, device, psi=psi, cutoff=cutoff, layer=layer)
        part = power_spectrum_sum(imgs, beta=beta)
        total = part if total is None else total + part
        count += len(seeds)
    spec = torch.fft.fftshift(total / count)
    result = _spectrum_dict(spec, spectrum_to_db, spectrum_slices, range_db)
    result['num_seeds'] = count
    result['layer'] = layer
    if dataset:
        from training.dataset import ImageFolderDataset

        ds = ImageFolderDataset(dataset, max_size=num_seeds)
        imgs = torch.stack([torch.as_tensor(ds[i][0]) for i in range(len(ds))]).to(torch.float32) / 127.5 - 1
        dspec = power_spectrum(imgs, beta=beta)
        d = _spectrum_dict(dspec, spectrum_to_db, spectrum_slices, range_db)
        result.update(dataset_db=d['db'], dataset_deg0=d['deg0'], dataset_deg45=d['deg45'],
                      dataset_freqs=d['freqs'], dataset_image=d['image'], dataset_size=len(ds))
    return result


def _spectrum_dict(spec, spectrum_to_db, spectrum_slices, range_db: float) -> dict:
    db = spectrum_to_db(spec).astype(np.float32)
    slices = spectrum_slices(spec)
    top = float(db.max())
    image = colormap((db - (top - range_db)) / range_db)
    return dict(db=db, image=image, freqs=np.asarray(slices['freqs'], np.float64),
                deg0=spectrum_to_db(slices['deg0']).astype(np.float64),
                deg45=spectrum_to_db(slices['deg45']).astype(np.float64))


def eq_readout(G: torch.nn.Module, ws: torch.Tensor, num_transforms: int) -> dict:
    """EQ-T (integer, fractional) and EQ-R in dB for one latent (analysis helper's function)."""
    from training.metrics.equivariance import equivariance_readout

    set_input_transform(G, 0, 0, 0)
    with torch.no_grad():
        out = equivariance_readout(G, ws.clone(), num_transforms=num_transforms, seed=0)
    return {k: float(v) for k, v in out.items()}


def sticking_views(G: torch.nn.Module, seed: int, device: torch.device, radius: float, num: int, frames: int,
                   psi: float) -> dict:
    """Texture-sticking images (paper Fig. 1): neighbourhood average and slice streak (viz.analysis.sticking)."""
    from viz.analysis.sticking import neighbourhood_average, slice_streak

    set_input_transform(G, 0, 0, 0)
    z0 = torch.as_tensor(seed_to_zc(seed, G.z_dim, G.c_dim)[0], dtype=torch.float32, device=device)
    z1 = torch.as_tensor(seed_to_zc(seed + 1, G.z_dim, G.c_dim)[0], dtype=torch.float32, device=device)
    with torch.no_grad():
        # Batch 1: on the CPU the pure-PyTorch generator costs more per image in larger batches.
        avg = neighbourhood_average(G, z0, radius=radius, num=num, psi=psi, batch_size=1)
        streak = slice_streak(G, z0, z1, num_frames=frames, psi=psi, batch_size=1)
    return dict(average=to_uint8_image(avg), streak=to_uint8_image(streak))
