"""Average power spectra of a dataset or a network, saved as npz, plotted as heatmaps and slices.

Two definitions (`DEFINITIONS`), recorded in every file and shown in every plot title and CLI line:

- 'nvlabs' (the default): NVlabs' avg_spectra. Generator output is quantised to uint8 as a saved image
  would be, images are standardised by the dataset mean / std, nothing else is removed; the file layout
  (unshifted `spectrum`, `image_size`) is NVlabs', so their heatmap / slices read our files and we read theirs.
- 'whitened': float generator output (not quantised) and each image's per-channel mean removed before the
  window: the spectrum of the image content without its DC offset. Not comparable with NVlabs' figures.

Window, padding (NVlabs' `interp`) and averaging are the same for both (`ops.spectrum`). A `--num` subset
of a dataset is NVlabs' seeded random subset (training.dataset's `max_size` / `random_seed`); network
images come from seeds seed, seed+1, ... as in NVlabs (numpy RandomState(seed): z, then a random class).

Noise inputs (StyleGAN2 only; `NOISE_MODES`, the default follows the definition, `DEFAULT_NOISE_MODES`):

- 'random' (the 'nvlabs' default): fresh noise in every image, as NVlabs' `G(z, c)` draws it. NVlabs leaves
  it unseeded; here the image of seed s gets its own maps (`noise_maps`): one standard-normal map per noise
  input, in the order of `G.synthesis.named_buffers()`, drawn on the CPU by a torch.Generator seeded with
  `noise_seed(s)`, from a SeedSequence of s (seeded with s itself, torch's Mersenne Twister would repeat the
  stream z is drawn from). So the same command gives the same spectrum, and an image has the same noise
  whatever the batch size or device.
- 'const' (the 'whitened' default): every image adds the network's fixed `noise_const` maps. Their
  spectrum is then in every image alike, a bias that more images do not average away.

Files record it as `noise_mode`: 'random' or 'const' for a network with noise inputs, 'none' for a source
without (a dataset, a StyleGAN3 network: both modes give the same images). Files of different noise modes
are refused together, as are files of different definitions ('none' goes with either).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import numpy as np
import torch

from analysis import spectrum_plots
from networks.conventions import class_count, seed_to_zc
from networks.errors import UserError
from networks.file_io import read_npz
from networks.stylegan2 import has_noise_inputs, noise_maps, noise_seed, per_image_noise
from ops import spectrum

__all__ = ['DEFINITIONS', 'DEFAULT_DEFINITION', 'open_source', 'source_images', 'source_stats', 'average_spectrum',
           'network_spectrum', 'dataset_spectrum', 'save_spectrum', 'load_spectrum', 'check_comparable',
           'definition_label', 'spectrum_view', 'plot_heatmap', 'plot_slices', 'slices_label', 'NOISE_MODES',
           'DEFAULT_NOISE_MODES', 'resolve_noise_mode', 'has_noise', 'recorded_noise_mode', 'noise_label', 'noise_seed',
           'noise_maps',
           'per_image_noise', 'spectrum_label', 'MAX_SPECTRUM_BYTES']

# Bytes of a spectrum file and of its arrays uncompressed: a float64 spectrum of 8192^2 (1024 px at --interp 8,
# or 2048 px at the default 4) with room for the other fields. A larger spectrum is written but not read back.
MAX_SPECTRUM_BYTES = (512 << 20) + (1 << 20)

DEFINITIONS = {
    'nvlabs': "NVlabs' definition (uint8 output, no per-image mean removed)",
    'whitened': 'whitened per image (float output, per-image mean removed; not NVlabs\' definition)',
}
DEFAULT_DEFINITION = 'nvlabs'
NETWORK_DEFAULT_NUM = 10000  # NVlabs requires --num for networks; datasets default to all their images
NOISE_MODES = ('random', 'const')
DEFAULT_NOISE_MODES = {'nvlabs': 'random', 'whitened': 'const'}
_RECORDED_NOISE_MODES = (*NOISE_MODES, 'none')  # 'none': the source has no noise inputs
_FORMAT_VERSION = 3  # 3: noise_mode recorded


def _check_definition(definition: str) -> str:
    if definition not in DEFINITIONS:
        raise UserError(f'unknown spectrum definition {definition!r}; choose from {", ".join(DEFINITIONS)}')
    return definition


def definition_label(definition: str) -> str:
    """Short human label of a definition for plot titles and CLI lines."""
    return 'NVlabs definition' if definition == 'nvlabs' else 'WHITENED per image'


def resolve_noise_mode(definition: str, noise_mode: str | None = None) -> str:
    """`noise_mode`, checked, or the definition's default when None ('nvlabs': 'random', 'whitened': 'const')."""
    _check_definition(definition)
    if noise_mode is None:
        return DEFAULT_NOISE_MODES[definition]
    if noise_mode not in NOISE_MODES:
        raise UserError(f'unknown noise mode {noise_mode!r}; choose from {", ".join(NOISE_MODES)}')
    return noise_mode


has_noise = has_noise_inputs   # whether G has noise inputs (StyleGAN2's noise_const buffers; StyleGAN3 has none)


def recorded_noise_mode(G: torch.nn.Module, noise_mode: str) -> str:
    """What a file records of a network's spectrum: `noise_mode`, or 'none' for a network without noise inputs."""
    return noise_mode if has_noise(G) else 'none'


def noise_label(noise_mode: str) -> str:
    """Short human label of a recorded noise mode ('' for 'none')."""
    return {'random': 'fresh noise per image', 'const': 'constant noise'}.get(noise_mode, '')


def open_source(path: str, device: str | torch.device = 'cpu', num: int | None = None, seed: int = 0):
    """('dataset', dataset) for a folder / zip of images, ('network', G) for a pickle.

    A dataset with more than `num` images is cut to NVlabs' seeded random subset of `num` (sorted).
    """
    from networks import load_generator
    if path.lower().endswith('.pkl'):
        return 'network', load_generator(path, device)
    from training.dataset import ImageFolderDataset
    return 'dataset', ImageFolderDataset(path, max_size=num, random_seed=seed)


def _seed_latent_and_label(G: torch.nn.Module, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """NVlabs' avg_spectra draw for one seed (z, then a random class), as [1, z_dim] and [1, c_dim] tensors."""
    z, c = seed_to_zc(seed, G.z_dim, class_count(G))
    return torch.from_numpy(z[None]).float(), torch.from_numpy(c[None])


@torch.no_grad()
def source_images(kind: str, source, num: int | None, batch_size: int = 16, seed: int = 0, psi: float = 1.0,
                  device: str | torch.device = 'cpu', definition: str = DEFAULT_DEFINITION,
                  noise_mode: str | None = None) -> Iterator[torch.Tensor]:
    """float32 [N, C, H, W] batches in uint8 units (0..255).

    A dataset yields all its images (open it with `open_source(..., num, seed)` for a subset). A network
    yields `num` images of seeds seed.. seed+num-1: quantised to uint8 values for 'nvlabs', floats for
    'whitened'; with `noise_mode` (default: the definition's) 'random' each image has its own noise
    (`noise_maps` of its seed), with 'const' the network's fixed maps.
    """
    noise_mode = resolve_noise_mode(definition, noise_mode)
    if kind == 'dataset':
        total = len(source)
        for start in range(0, total, batch_size):
            batch = np.stack([source[i][0] for i in range(start, min(start + batch_size, total))])
            yield torch.from_numpy(batch).float()
        return
    G = source
    num = NETWORK_DEFAULT_NUM if num is None else num
    for start in range(0, num, batch_size):
        seeds = [seed + i for i in range(start, min(start + batch_size, num))]
        pairs = [_seed_latent_and_label(G, s) for s in seeds]
        z = torch.cat([p[0] for p in pairs]).to(device)
        c = torch.cat([p[1] for p in pairs]).to(device)
        with per_image_noise(G, seeds) if noise_mode == 'random' else contextlib.nullcontext():
            img = G(z, c, truncation_psi=psi, noise_mode='const')
        if definition == 'nvlabs':
            yield spectrum.quantize_uint8(img).float()
        else:
            yield (img.float() * 127.5 + 128).clamp(0, 255)


def source_stats(batches: Iterator[torch.Tensor]) -> tuple[float, float]:
    """Mean and std over all pixels (float64 sums on the CPU)."""
    total, total_sq, count = 0.0, 0.0, 0
    for x in batches:
        x = x.to('cpu', torch.float64)
        total += float(x.sum())
        total_sq += float(x.square().sum())
        count += x.numel()
    if count == 0:
        raise UserError('no images in the source')
    mean = total / count
    return mean, float(np.sqrt(max(total_sq / count - mean * mean, 0.0)))


def average_spectrum(batches: Iterator[torch.Tensor], mean: float, std: float, definition: str = DEFAULT_DEFINITION,
                     beta: float = 8.0, interp: int = 4,
                     progress: Callable[[int], object] | None = None) -> tuple[np.ndarray, int, int]:
    """(UNshifted float64 spectrum [N*interp]^2, image size N, image count) of (x - mean) / std.

    Linear power, NVlabs' layout (DC at [0, 0]); 'whitened' also removes each image's per-channel mean.
    """
    _check_definition(definition)
    if not std > 0:
        raise UserError(f'std must be positive, got {std}', option='std')
    total, count, size = None, 0, 0
    for x in batches:
        part = spectrum.power_spectrum_sum(x - mean, beta=beta, padding=interp, scale=1.0 / std,
                                           subtract_mean=(definition == 'whitened'))
        total = part if total is None else total + part
        count += x.shape[0]
        size = x.shape[-1]
        if progress is not None:
            progress(x.shape[0])
    if total is None:
        raise UserError('no images in the source')
    spec = (total / count).numpy()
    if not np.isfinite(spec).all():  # a spectrum file that every reader would refuse is not written
        raise UserError(f'the spectrum is not finite (power overflowed): mean {mean:g} / std {std:g} do not '
                        'fit these images; use the values `stats` prints', option=('mean', 'std'))
    return spec, size, count


def network_spectrum(G: torch.nn.Module, num: int, seed: int = 0, definition: str = DEFAULT_DEFINITION,
                     mean: float | None = None, std: float | None = None, psi: float = 1.0, batch_size: int = 16,
                     device: str | torch.device = 'cpu', beta: float = 8.0, interp: int = 4,
                     noise_mode: str | None = None) -> dict:
    """Average spectrum of the output of `G` over seeds seed..seed+num-1, as `load_spectrum` returns a file.

    For the visualizer's spectrum panel: pass the dataset's --mean/--std when known (NVlabs standardises
    every source by the dataset's); without them the images' own statistics are used. The input transform
    is left as it is: set the identity first for the untransformed network. `noise_mode`: see source_images.
    """
    noise_mode = resolve_noise_mode(definition, noise_mode)
    images = torch.cat(list(source_images('network', G, num, batch_size, seed, psi, device, definition,
                                          noise_mode))).cpu()
    if mean is None or std is None:
        own_mean, own_std = source_stats(iter([images]))
        mean = own_mean if mean is None else mean
        std = own_std if std is None else std
    spec, size, count = average_spectrum(iter([images]), mean, std, definition, beta, interp)
    return dict(spectrum=spec, image_size=size, definition=definition, source='network', num=count, seed=seed,
                mean=float(mean), std=float(std), beta=float(beta), interp=int(interp), psi=float(psi),
                noise_mode=recorded_noise_mode(G, noise_mode))


def dataset_spectrum(path: str, num: int | None = None, seed: int = 0, definition: str = DEFAULT_DEFINITION,
                     mean: float | None = None, std: float | None = None, beta: float = 8.0, interp: int = 4,
                     batch_size: int = 64) -> dict:
    """Average spectrum of a dataset (NVlabs' seeded subset of `num`), as `load_spectrum` returns a file.

    Without `mean` / `std` the subset's own statistics are used (a second pass over the images).
    """
    kind, source = open_source(path, 'cpu', num, seed)
    if mean is None or std is None:
        own_mean, own_std = source_stats(source_images(kind, source, None, batch_size))
        mean = own_mean if mean is None else mean
        std = own_std if std is None else std
    spec, size, count = average_spectrum(source_images(kind, source, None, batch_size), mean, std, definition, beta,
                                         interp)
    return dict(spectrum=spec, image_size=size, definition=definition, source=path, num=count, seed=seed,
                mean=float(mean), std=float(std), beta=float(beta), interp=int(interp), noise_mode='none')


def save_spectrum(path: str, spec: np.ndarray, image_size: int, interp: int, num: int, source: str, mean: float,
                  std: float, beta: float, definition: str = DEFAULT_DEFINITION, seed: int = 0,
                  psi: float = 1.0, noise_mode: str = 'none') -> None:
    """NVlabs' npz keys (`spectrum` unshifted, `image_size`) plus how it was computed; `noise_mode` as
    `recorded_noise_mode` gives it ('none' for a dataset)."""
    _check_definition(definition)
    _check_recorded_noise_mode(noise_mode)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez(path, spectrum=spec, image_size=image_size, definition=definition, source=source, num=num, seed=seed,
             mean=mean, std=std, beta=beta, interp=interp, psi=psi, noise_mode=noise_mode,
             format_version=_FORMAT_VERSION)


def _check_recorded_noise_mode(noise_mode: str) -> str:
    if noise_mode not in _RECORDED_NOISE_MODES:
        raise UserError(f'unknown noise mode {noise_mode!r}; choose from {", ".join(_RECORDED_NOISE_MODES)}')
    return noise_mode


def _legacy_noise_mode(source: str) -> str:
    """The noise of a file of ours from before the noise mode was recorded: every network image then had the
    network's constant noise ('const'); a dataset has none ('none')."""
    return 'const' if source.lower().endswith('.pkl') else 'none'


def load_spectrum(path: str) -> dict:
    """A spectrum file as a dict with at least spectrum (UNshifted), image_size, definition, source, num, seed,
    interp, noise_mode. Reads our files, NVlabs' avg_spectra files (definition 'nvlabs', noise mode 'random':
    NVlabs' networks draw fresh noise) and our older whitened files (shifted, with `padding`; definition
    'whitened').

    Our files from before the noise mode was recorded (no `noise_mode`) load as 'const', as their network
    images were made, unless their source is not a network pickle (a dataset: 'none')."""
    if not os.path.exists(path):
        raise UserError(f'spectrum file not found: {path!r}', hint_command='tools.avg_spectra calc ...')
    raw = read_npz(path, max_bytes=MAX_SPECTRUM_BYTES, what='spectrum file')
    if 'spectrum' not in raw or 'image_size' not in raw:
        raise UserError(f'{path!r} is not a spectrum npz (no spectrum / image_size)')
    spec = raw['spectrum']
    if spec.ndim != 2 or spec.shape[0] != spec.shape[1] or spec.shape[0] < 2 or spec.dtype.kind != 'f' \
            or not np.isfinite(spec).all():
        raise UserError(f'{path!r}: `spectrum` is not a square, finite 2-D float array')
    out = dict(raw)
    try:
        out['image_size'] = _positive_int(raw['image_size'], 'image_size')
        if 'definition' in raw:
            out['definition'] = _scalar_text(raw['definition'], 'definition')
            _check_definition(out['definition'])
            out['source'] = _scalar_text(raw['source'], 'source')
            out['num'], out['seed'] = _scalar_int(raw['num'], 'num'), _scalar_int(raw['seed'], 'seed')
            out['interp'] = _positive_int(raw['interp'], 'interp')
            out['noise_mode'] = (_scalar_text(raw['noise_mode'], 'noise_mode') if 'noise_mode' in raw
                                 else _legacy_noise_mode(out['source']))
            if out['noise_mode'] not in _RECORDED_NOISE_MODES:
                raise ValueError(f"unknown noise_mode {out['noise_mode']!r}")
        elif 'padding' in raw:  # our files before the definition was recorded: whitened, fftshifted
            source = _scalar_text(raw['source'], 'source') if 'source' in raw else ''
            out.update(definition='whitened', spectrum=np.fft.ifftshift(spec),
                       interp=_positive_int(raw['padding'], 'padding'), source=source,
                       num=_scalar_int(raw['num'], 'num') if 'num' in raw else -1, seed=-1,
                       noise_mode=_legacy_noise_mode(source))
        else:  # NVlabs' avg_spectra.py writes only these two keys
            out.update(definition='nvlabs', source='(NVlabs avg_spectra file)', num=-1, seed=-1,
                       interp=max(1, spec.shape[0] // out['image_size']), noise_mode='random')
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f'{path!r} is not a spectrum npz: {err}') from None
    return out


def _scalar_int(value: np.ndarray, name: str) -> int:
    """A 0-d integer array (or a float one holding a whole number) as an int; ``num=inf`` or NaN is refused."""
    kind = np.asarray(value).dtype.kind
    if np.ndim(value) != 0 or kind not in 'iuf' or (kind == 'f' and not float(value).is_integer()):
        raise ValueError(f'`{name}` is not an integer')
    return int(value)


def _scalar_text(value: np.ndarray, name: str) -> str:
    """A 0-d string array as a str of at most 4096 characters."""
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in 'US' or np.asarray(value).dtype.itemsize > 4 * 4096:
        raise ValueError(f'`{name}` is not a short text')
    text = value.item()
    return text.decode('utf-8', 'replace') if isinstance(text, bytes) else str(text)


def _positive_int(value: np.ndarray, name: str) -> int:
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in 'iu' or int(value) < 1:
        raise ValueError(f'`{name}` is not a positive integer')
    return int(value)


def check_comparable(datas: list[dict], paths: list[str]) -> None:
    """UserError (one line) unless all spectra share definition, noise mode (where they have noise inputs) and
    resolution."""
    first = datas[0]
    for data, path in zip(datas[1:], paths[1:]):
        if data['definition'] != first['definition']:
            raise UserError(f'cannot compare spectra of different definitions: {paths[0]} is '
                           f'{first["definition"]!r}, {path} is {data["definition"]!r}; recompute one',
                            option='definition', value=first['definition'])
        if data['image_size'] != first['image_size'] or data['spectrum'].shape != first['spectrum'].shape:
            raise UserError(f'cannot compare spectra of different resolutions: {paths[0]} is {first["image_size"]}px '
                           f'(spectrum {first["spectrum"].shape[0]}), {path} is {data["image_size"]}px '
                           f'(spectrum {data["spectrum"].shape[0]})')
    noisy = [(data.get('noise_mode', 'none'), path) for data, path in zip(datas, paths)]
    noisy = [(mode, path) for mode, path in noisy if mode != 'none']  # a source without noise goes with any
    for mode, path in noisy[1:]:
        if mode != noisy[0][0]:
            raise UserError(f'cannot compare spectra of different noise modes: {noisy[0][1]} is {noisy[0][0]!r}, '
                           f'{path} is {mode!r}; recompute one', option='noise_mode',
                           value=noisy[0][0])


def spectrum_label(definition: str, noise_mode: str) -> str:
    """The definition's label, and the noise mode's where the source has noise inputs (for titles, CLI lines)."""
    return ', '.join(part for part in (definition_label(definition), noise_label(noise_mode)) if part)


def spectrum_view(data: dict, smooth: float = 1.25) -> dict:
    """What a plot shows: dict(hmap [S+1]^2 absolute dB, freqs, freqs0, deg0, freqs45, deg45, definition, label
    (the definition's, and the noise mode's for a source with noise inputs))."""
    hmap = spectrum.heatmap_db(data['spectrum'], data['image_size'], smooth)
    view = dict(hmap=hmap, freqs=spectrum.heatmap_freqs(hmap.shape[0], data['image_size']),
                definition=data['definition'],
                label=spectrum_label(data['definition'], data.get('noise_mode', 'none')))
    view.update(spectrum.corner_slices(hmap, data['image_size']))
    return view


def _label(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def plot_heatmap(npz_path: str, png_path: str, smooth: float = 1.25, vmin: float = -40.0, vmax: float = 20.0) -> str:
    """NVlabs' heatmap of a spectrum file (`spectrum_plots.plot_heatmap`): absolute dB, filled contours every 5 dB
    from vmin to vmax, smoothed by `smooth` pixels."""
    if not vmax > vmin:
        raise UserError(f'the heatmap range needs vmin < vmax, got {vmin} .. {vmax}')
    view = spectrum_view(load_spectrum(npz_path), smooth)
    title = f'{_label(npz_path)}: average power spectrum (dB, {view["label"]})'
    return spectrum_plots.plot_heatmap(view, png_path, title, vmin, vmax)


def plot_slices(npz_paths: list[str], png_path: str, smooth: float = 0.0) -> str:
    """0-degree (to N/2) and 45-degree (to the corner) slices of several spectrum files in absolute dB, side by
    side (`spectrum_plots.plot_slices`). Files of different definitions, noise modes or resolutions are refused
    (UserError)."""
    datas = [load_spectrum(p) for p in npz_paths]
    check_comparable(datas, npz_paths)
    return spectrum_plots.plot_slices([(_label(p), spectrum_view(d, smooth)) for p, d in zip(npz_paths, datas)],
                                      slices_label(datas), png_path)


def slices_label(datas: list[dict]) -> str:
    """The definition and, where one of the sources has noise inputs, its noise mode, for comparable spectra."""
    noise = next((d['noise_mode'] for d in datas if d.get('noise_mode', 'none') != 'none'), 'none')
    return spectrum_label(datas[0]['definition'], noise)
