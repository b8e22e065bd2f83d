"""Projecting a target image into W or W+ of a StyleGAN3 (T, R) or StyleGAN2 generator.

The optimisation follows the published StyleGAN2 projector in its facts (Karras et al. 2020, Sec. 5 / Appendix
D): start from the average w, optimise with Adam under a learning rate that ramps up and cosine-ramps down, add
decaying Gaussian noise to w early on so the search explores, and for StyleGAN2 optimise the per-layer noise maps
too, with a regulariser that keeps them white (no autocorrelation at any scale) and a renormalisation to zero mean
and unit variance after each step. StyleGAN3 has no noise inputs, so for it only w is optimised.

The loss here is a multi-scale pixel MSE plus, when a discriminator is given, a perceptual distance on its block
features (LPIPS-like: unit-normalised over channels, squared difference, spatial mean, summed over blocks).
The D term is evaluated lazily, as StyleGAN2 evaluates its regularisers (Karras et al. 2020, Sec. 3.1, "lazy
regularization"): only every ``d_every``-th step (steps 0, k, 2k, ...), with its weight multiplied by ``d_every`` so
that its gradient summed over the steps is the same as every step at ``d_weight``. D forward + backward to the image
costs about one G forward + backward at 256 px; paid every step, it alone nearly doubles a step's time.

:func:`project` works on a private copy of the generator, never on the caller's; :func:`render_projection` turns
the saved result (ws and, for StyleGAN2, the noise maps) back into exactly the final image.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from analysis.latent_files import MAX_LATENT_ARRAYS, MAX_LATENT_FILE
from networks.conventions import class_count
from networks.errors import UserError
from networks.file_io import read_npz

__all__ = ['ProjectionError', 'ProjectionStep', 'ProjectionResult', 'load_target', 'load_discriminator',
           'discriminator_of', 'project', 'render_projection',
           'noise_maps', 'noise_regulariser', 'lpips_vgg16', 'psnr', 'save_projection', 'load_projection']


class ProjectionError(UserError, ValueError):
    """Bad input to a projection (target file, space, conditional network without a class)."""


@dataclass
class ProjectionStep:
    """What the per-step callback sees; ``image`` is this step's reconstruction in [-1, 1], [1, C, H, W]."""

    step: int
    num_steps: int
    loss: float
    ws: torch.Tensor
    image: torch.Tensor


@dataclass
class ProjectionResult:
    """``ws`` [num_ws, w_dim] (W: all rows equal), ``noise`` the StyleGAN2 noise maps by buffer name (empty for
    StyleGAN3), ``image`` the final reconstruction [1, C, H, W] rendered from exactly these, ``losses`` one per
    step taken; ``stopped`` is True when the callback ended it early."""

    ws: torch.Tensor
    noise: dict[str, torch.Tensor]
    image: torch.Tensor
    losses: list[float] = field(default_factory=list)
    space: str = 'w+'
    stopped: bool = False


# ------------------------------------------------------------------------------------------------------------
# Target images

MAX_TARGET_PIXELS = 64 * 1024 * 1024   # 8192 x 8192: any photograph; a target is resized to the network's size

def load_target(path: str, resolution: int, channels: int = 3) -> tuple[torch.Tensor, str | None]:
    """The image at ``path`` as [1, channels, resolution, resolution] in [-1, 1], and a note when it was resized.

    A non-square image is centre-cropped to a square first (the generator's images are square). The file is read
    with :func:`networks.image_io.read_image` (PNG, JPEG, WebP, BMP, PPM or TIFF of at most
    :data:`MAX_TARGET_PIXELS`); anything else raises :class:`ProjectionError`.
    """
    import PIL.Image

    from networks.image_io import ImageReadError, read_image

    try:
        img = read_image(path, mode='L' if channels == 1 else 'RGB', max_pixels=MAX_TARGET_PIXELS)
    except ImageReadError as err:
        raise ProjectionError(f'{path!r} is not a readable image ({err.reason})') from None
    note = None
    w, h = img.size
    if (w, h) != (resolution, resolution):
        note = f'target {os.path.basename(path)} is {w}x{h}; '
        if w != h:
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
            note += f'centre-cropped to {side}x{side} and '
        img = img.resize((resolution, resolution), PIL.Image.LANCZOS)
        note += f'resized to {resolution}x{resolution} (the network\'s resolution)'
    arr = np.asarray(img, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    tensor = torch.from_numpy(arr).permute(2, 0, 1)[None] / 127.5 - 1
    if channels not in (1, 3):
        raise ProjectionError(f'cannot project into a network with {channels} image channels')
    return tensor.contiguous(), note


def load_discriminator(path: str, device: torch.device | str = 'cpu') -> torch.nn.Module | None:
    """The snapshot's own D from ``path``, read with the project's safe pickle loader, in eval mode without grads;
    None when the pickle has no D, or one without the StyleGAN2 blocks that :func:`project` reads features from."""
    import networks

    try:
        data = networks.load_network_pkl(path, device=device)
    except (ValueError, OSError) as err:  # networks.PickleError is a ValueError
        raise ProjectionError(f'cannot load network {path!r}: {err}') from err
    return discriminator_of(data)


def discriminator_of(data: object) -> torch.nn.Module | None:
    """The D of a loaded snapshot dict, in eval mode without grads; None when there is none, or one without the
    StyleGAN2 blocks that :func:`project` reads features from."""
    D = data.get('D') if isinstance(data, dict) else None
    if not isinstance(D, torch.nn.Module) or not hasattr(D, 'block_resolutions'):
        return None
    return D.eval().requires_grad_(False)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1], with peak-to-peak range I_max = 2: 10 log10(4 / MSE)."""
    mse = float(torch.mean((a.double() - b.double()) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


# ------------------------------------------------------------------------------------------------------------
# Noise maps (StyleGAN2)

def noise_maps(G: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The ``noise_const`` buffers of a generator by name (empty for StyleGAN3, which has no noise inputs)."""
    return {name: buf for name, buf in G.synthesis.named_buffers() if name.endswith('noise_const')}


def _set_noise(G: torch.nn.Module, maps: dict[str, torch.Tensor]) -> None:
    """Replace the named ``noise_const`` buffers (on a private copy of G) with the given tensors."""
    for name, value in maps.items():
        owner_name, _, attr = name.rpartition('.')
        owner = G.synthesis.get_submodule(owner_name) if owner_name else G.synthesis
        setattr(owner, attr, value)  # assigning a tensor to a buffer name keeps it a buffer


def noise_regulariser(maps: list[torch.Tensor]) -> torch.Tensor:
    """Sum over maps and scales (halving down to 8x8) of the squared lag-1 autocorrelations along x and y.

    Zero for white noise in expectation (up to sampling), large for smooth maps: it stops the noise maps from
    carrying image content, which would make the projection meaningless in W.
    """
    reg = maps[0].new_zeros([])
    for noise in maps:
        x = noise[None, None]
        while True:
            reg = reg + (x * torch.roll(x, shifts=1, dims=3)).mean() ** 2
            reg = reg + (x * torch.roll(x, shifts=1, dims=2)).mean() ** 2
            if x.shape[2] <= 8:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    return reg


# ------------------------------------------------------------------------------------------------------------
# Losses

def _pixel_loss(img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE at full resolution and at each 2x box-downsampled scale down to 8x8 (coarse scales steer early)."""
    loss = F.mse_loss(img, target)
    while img.shape[2] > 8:
        img, target = F.avg_pool2d(img, 2), F.avg_pool2d(target, 2)
        loss = loss + F.mse_loss(img, target)
    return loss


def _d_features(D: torch.nn.Module, img: torch.Tensor) -> list[torch.Tensor]:
    """Activations after each discriminator block (StyleGAN2 D, used by StyleGAN3 pickles too)."""
    feats = []
    x = None
    for res in D.block_resolutions:
        x, img = getattr(D, f'b{res}')(x, img)
        feats.append(x)
    return feats


def _feature_distance(feats: list[torch.Tensor], target_feats: list[torch.Tensor]) -> torch.Tensor:
    dist = torch.zeros([], device=feats[0].device)
    for f, t in zip(feats, target_feats):
        f = f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-8)
        t = t / (t.square().sum(dim=1, keepdim=True).sqrt() + 1e-8)
        dist = dist + (f - t).square().sum(dim=1).mean()
    return dist


# ------------------------------------------------------------------------------------------------------------
# Projection

def _mapped_stats(G: torch.nn.Module, c: torch.Tensor | None, samples: int, gen: torch.Generator,
                  device: torch.device) -> tuple[torch.Tensor, float]:
    """Mean w and its RMS distance from the mean, from ``samples`` random z through the mapping network."""
    z = torch.randn([samples, G.z_dim], generator=gen).to(device)
    cc = None if c is None else c.to(device).expand(samples, -1)
    with torch.no_grad():
        w = G.mapping(z, cc)[:, :1, :].double()  # [N, 1, w_dim]; all num_ws copies are equal
    w_avg = w.mean(dim=0, keepdim=True)
    w_std = float((w - w_avg).square().sum() / samples) ** 0.5
    return w_avg.float(), w_std


def project(G: torch.nn.Module, target: torch.Tensor, *, space: str = 'w+', num_steps: int = 1000,
            c: torch.Tensor | None = None, D: torch.nn.Module | None = None, d_weight: float = 0.1,
            d_every: int = 4, perceptual: Callable[[torch.Tensor], torch.Tensor] | None = None,
            perceptual_weight: float = 1.0,
            learning_rate: float = 0.1, initial_noise_factor: float = 0.05, noise_ramp_length: float = 0.75,
            lr_rampdown_length: float = 0.25, lr_rampup_length: float = 0.05, noise_reg_weight: float = 1e5,
            w_avg_samples: int = 10000, seed: int = 0, device: torch.device | str = 'cpu',
            callback: Callable[[ProjectionStep], bool | None] | None = None) -> ProjectionResult:
    """Find ws (and StyleGAN2 noise maps) whose image matches ``target`` ([1, C, H, W] in [-1, 1]).

    ``space`` 'w' optimises one w shared by all layers, 'w+' one per layer (both start at the average w).
    ``callback(step)`` is called after every step; returning False stops early (the result then holds the
    latest ws, ``stopped=True``). ``D`` (a StyleGAN2 discriminator, e.g. the snapshot's own) adds the feature
    distance weighted by ``d_weight``, evaluated lazily: on every ``d_every``-th step (from step 0) with weight
    ``d_weight * d_every`` (``d_every=1``: every step); ``perceptual`` (images in [-1, 1] -> features [N, F], e.g.
    :func:`lpips_vgg16`) adds ``perceptual_weight`` times the squared feature distance.
    ``seed`` fixes the w_avg sample, the initial noise maps and the w noise. ``losses`` (and the callback's
    ``loss``) count the D term at ``d_weight`` as of its latest evaluation, so that they compare across steps.
    """
    if space not in ('w', 'w+'):
        raise ProjectionError(f'space must be w or w+, got {space!r}')
    if num_steps < 1:
        raise ProjectionError(f'num_steps must be >= 1, got {num_steps}')
    if int(d_every) != d_every or d_every < 1:
        raise ProjectionError(f'd_every must be an integer >= 1, got {d_every}')
    d_every = int(d_every)
    device = torch.device(device)
    res, channels = G.img_resolution, G.img_channels
    if target.ndim == 3:
        target = target[None]
    if tuple(target.shape) != (1, channels, res, res):
        raise ProjectionError(f'target must be [1, {channels}, {res}, {res}], got {tuple(target.shape)}')
    c_dim = class_count(G)
    if c_dim and c is None:
        raise ProjectionError(f'this network is conditional ({c_dim} classes): give a class')
    if c is not None and not c_dim:
        c = None
    # A private copy: the noise maps are replaced by optimised tensors, and the caller's G (maybe rendering in
    # another thread) must not see that.
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)
    if D is not None:
        D = copy.deepcopy(D).eval().requires_grad_(False).to(device)
    target = target.to(device, torch.float32)
    gen = torch.Generator().manual_seed(int(seed))

    w_avg, w_std = _mapped_stats(G, c, w_avg_samples, gen, device)
    num_ws = G.num_ws if space == 'w+' else 1
    w_opt = w_avg.repeat(1, num_ws, 1).clone().requires_grad_(True)  # [1, num_ws or 1, w_dim]

    names = list(noise_maps(G))
    noise = {name: torch.randn(buf.shape, generator=gen).to(device).requires_grad_(True)
             for name, buf in noise_maps(G).items()}
    _set_noise(G, noise)
    optimizer = torch.optim.Adam([w_opt, *noise.values()], betas=(0.9, 0.999), lr=learning_rate)

    target_perc = None
    if perceptual is not None:
        with torch.no_grad():
            target_perc = perceptual(target)
    target_feats = None
    if D is not None:
        with torch.no_grad():
            target_feats = _d_features(D, target)

    def synth(ws: torch.Tensor) -> torch.Tensor:
        return G.synthesis(ws.expand(1, G.num_ws, -1) if ws.shape[1] == 1 else ws, noise_mode='const')

    losses: list[float] = []
    stopped = False
    d_term = 0.0  # the D term at d_weight, as of its latest evaluation (step 0 evaluates it)
    for step in range(num_steps):
        # Schedules from the StyleGAN2 projector: w noise decays quadratically to 0 over the first 75% of the
        # steps; the learning rate ramps up over the first 5% and cosine-ramps down over the last 25%.
        t = step / num_steps
        w_noise_scale = w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp_length) ** 2
        lr_ramp = min(1.0, (1.0 - t) / lr_rampdown_length)
        lr_ramp = 0.5 - 0.5 * math.cos(lr_ramp * math.pi)
        lr_ramp = lr_ramp * min(1.0, t / lr_rampup_length)
        for group in optimizer.param_groups:
            group['lr'] = learning_rate * lr_ramp

        w_noise = torch.randn(w_opt.shape, generator=gen).to(device) * w_noise_scale
        img = synth(w_opt + w_noise)
        loss = _pixel_loss(img, target)
        if target_perc is not None:
            loss = loss + perceptual_weight * (perceptual(img) - target_perc).square().sum()
        if noise:
            loss = loss + noise_reg_weight * noise_regulariser(list(noise.values()))
        reported = float(loss.detach())
        if target_feats is not None and step % d_every == 0:
            d_dist = _feature_distance(_d_features(D, img), target_feats)
            d_term = float(d_dist.detach()) * d_weight
            loss = loss + (d_weight * d_every) * d_dist
        if target_feats is not None:
            reported += d_term
        if not (math.isfinite(reported) and bool(torch.isfinite(loss.detach()))):
            # NaN or an overflow: every later step would be NaN too, and the result a NaN latent
            raise ProjectionError(f'the projection diverged at step {step + 1} (the loss is not a finite number); '
                                  'use a smaller learning rate or D weight')
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(reported)

        with torch.no_grad():  # keep the noise maps at zero mean, unit variance (as the StyleGAN2 projector)
            for buf in noise.values():
                buf -= buf.mean()
                buf *= buf.square().mean().rsqrt()

        if callback is not None:
            ws_now = w_opt.detach().expand(1, G.num_ws, -1)[0].clone()
            if callback(ProjectionStep(step + 1, num_steps, losses[-1], ws_now, img.detach())) is False:
                stopped = True
                break

    ws = w_opt.detach().expand(1, G.num_ws, -1)[0].clone()
    final_noise = {name: noise[name].detach().clone() for name in names}
    image = render_projection(G, ws, final_noise, device=device)
    return ProjectionResult(ws=ws.cpu(), noise={k: v.cpu() for k, v in final_noise.items()}, image=image.cpu(),
                            losses=losses, space=space, stopped=stopped)


def lpips_vgg16(module: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """LPIPS features of NVlabs' TorchScript ``vgg16.pt`` (load it with ``training.metrics.detector.load_detector``
    and ``trust=True``): images in [-1, 1] -> [0, 255], larger than 256 area-downsampled to 256, grey repeated to
    RGB, then ``module(x, resize_images=False, return_lpips=True)``, as the StyleGAN2 projector calls it."""

    def features(img: torch.Tensor) -> torch.Tensor:
        x = (img + 1) * 127.5
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if x.shape[2] > 256:
            x = F.interpolate(x, size=(256, 256), mode='area')
        return module(x, resize_images=False, return_lpips=True)

    return features


@torch.no_grad()
def render_projection(G: torch.nn.Module, ws: torch.Tensor, noise: dict[str, torch.Tensor] | None = None,
                      device: torch.device | str = 'cpu') -> torch.Tensor:
    """The image [1, C, H, W] of ``ws`` [num_ws, w_dim] (and StyleGAN2 ``noise`` maps), on a copy of G."""
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)
    if ws.ndim == 2:
        ws = ws[None]
    if tuple(ws.shape[1:]) != (G.num_ws, G.w_dim):
        raise ProjectionError(f'ws must be [{G.num_ws}, {G.w_dim}] for this network, got {tuple(ws.shape[1:])}')
    if noise:
        have = noise_maps(G)
        unknown = sorted(set(noise) - set(have))
        if unknown:
            raise ProjectionError(f'noise maps {unknown[:3]} do not belong to this network')
        _set_noise(G, {k: v.detach().to(device, torch.float32) for k, v in noise.items()})
    return G.synthesis(ws.to(device, torch.float32), noise_mode='const')


def save_projection(path: str, result: ProjectionResult) -> None:
    """``w`` [num_ws, w_dim] float32 (NVlabs' projected_w.npz key), ``space``, and ``noise/<name>`` maps."""
    arrays = {'w': result.ws.numpy().astype(np.float32), 'space': np.array(result.space)}
    arrays.update({f'noise/{k}': v.numpy().astype(np.float32) for k, v in result.noise.items()})
    np.savez(path, **arrays)


def load_projection(path: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(ws [num_ws, w_dim], noise maps) from a file written by :func:`save_projection`; no pickles are read."""
    data = read_npz(path, max_bytes=MAX_LATENT_FILE, max_array_bytes=MAX_LATENT_ARRAYS, what='projection file')
    try:
        ws = torch.from_numpy(np.array(data['w'], dtype=np.float32))
        noise = {k[len('noise/'):]: torch.from_numpy(np.array(v, dtype=np.float32))
                 for k, v in data.items() if k.startswith('noise/')}
    except (ValueError, KeyError) as err:   # no `w`, or text where numbers belong
        raise ProjectionError(f'{path!r} is not a projected_w.npz ({err})') from None
    if ws.ndim == 3 and ws.shape[0] == 1:
        ws = ws[0]
    return ws, noise
