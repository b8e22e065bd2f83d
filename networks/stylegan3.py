"""StyleGAN3 generator, configs T (translation) and R (rotation) (Karras et al. 2021, "Alias-Free GANs").

Parameter and buffer names follow NVlabs' ``networks_stylegan3.py`` exactly so their state dicts load by
name. The layer schedule (cutoffs, stopbands, sampling rates, sizes, channels) is computed in one place,
:class:`SynthesisNetwork`, from the formulas in the paper (Sec. 3.3).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from ops.filtered_lrelu import filtered_lrelu
from ops.modconv import modulated_conv2d
from ops.resample import user_transform

from .filters import design_lowpass_filter
from .layers import FullyConnectedLayer, MappingNetwork
from .persistence import persistent_class


class SynthesisInput(nn.Module):
    """Fourier features in a disc of radius ``bandwidth``, moved by a learned and a user transform."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = np.broadcast_to(np.asarray(size), [2])
        self.sampling_rate = sampling_rate
        self.bandwidth = bandwidth

        freqs = torch.randn([self.channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= bandwidth
        phases = torch.rand([self.channels]) - 0.5

        self.weight = nn.Parameter(torch.randn([self.channels, self.channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))  # inverse of the user's transform
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        transforms = self.transform.unsqueeze(0)  # [1, 3, 3]
        freqs = self.freqs.unsqueeze(0)  # [1, C, 2]
        phases = self.phases.unsqueeze(0)  # [1, C]

        # Learned rotation and translation from w, normalised so that only the angle matters.
        t = self.affine(w)  # (r_c, r_s, t_x, t_y)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        n = w.shape[0]
        eye = torch.eye(3, device=w.device)
        m_r = eye.unsqueeze(0).repeat([n, 1, 1])
        m_r[:, 0, 0] = t[:, 0]
        m_r[:, 0, 1] = -t[:, 1]
        m_r[:, 1, 0] = t[:, 1]
        m_r[:, 1, 1] = t[:, 0]
        m_t = eye.unsqueeze(0).repeat([n, 1, 1])
        m_t[:, 0, 2] = -t[:, 2]
        m_t[:, 1, 2] = -t[:, 3]
        transforms = m_r @ m_t @ transforms

        # Moving the sampling grid by the transform equals moving each feature's phase and frequency.
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # Fade out features near the band edge so that rotations do not alias.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = 0.5 * self.size[0] / self.sampling_rate
        theta[1, 1] = 0.5 * self.size[1] / self.sampling_rate
        grids = torch.nn.functional.affine_grid(
            theta.unsqueeze(0), [1, 1, int(self.size[1]), int(self.size[0])], align_corners=False
        )
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        weight = self.weight / np.sqrt(self.channels)
        x = x @ weight.t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, channels={self.channels}, size={list(self.size)}, "
            f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"
        )


class SynthesisLayer(nn.Module):
    """Modulated conv followed by the filtered leaky ReLU at twice the target sampling rate.

    NVlabs compatibility: ``use_fp16`` is accepted (and stored, so state and kwargs match NVlabs') but ignored,
    as is ``force_fp32`` in :meth:`forward`: every layer runs in float32 (reduced precision is the caller's
    autocast).
    """

    def __init__(
        self,
        w_dim: int,
        is_torgb: bool,
        is_critically_sampled: bool,
        use_fp16: bool,
        in_channels: int,
        out_channels: int,
        in_size: int,
        out_size: int,
        in_sampling_rate: float,
        out_sampling_rate: float,
        in_cutoff: float,
        out_cutoff: float,
        in_half_width: float,
        out_half_width: float,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
        magnitude_ema_beta: float = 0.999,
    ):
        super().__init__()
        self.w_dim = w_dim
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.use_fp16 = use_fp16
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate = in_sampling_rate
        self.out_sampling_rate = out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff = in_cutoff
        self.out_cutoff = out_cutoff
        self.in_half_width = in_half_width
        self.out_half_width = out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta

        self.affine = FullyConnectedLayer(self.w_dim, self.in_channels, bias_init=1)
        k = self.conv_kernel
        self.weight = nn.Parameter(torch.randn([self.out_channels, self.in_channels, k, k]))
        self.bias = nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # Upsampling filter: from the input rate to the temporary rate, cut off at the input cutoff.
        self.up_factor = int(np.rint(self.tmp_sampling_rate / self.in_sampling_rate))
        if self.up_factor * self.in_sampling_rate != self.tmp_sampling_rate:
            raise ValueError("temporary sampling rate must be an integer multiple of the input rate")
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not self.is_torgb else 1
        self.register_buffer(
            "up_filter",
            design_lowpass_filter(
                numtaps=self.up_taps, cutoff=self.in_cutoff, width=self.in_half_width * 2, fs=self.tmp_sampling_rate
            ),
        )
        # Downsampling filter: back to the output rate, cut off at the output cutoff (radial for R).
        self.down_factor = int(np.rint(self.tmp_sampling_rate / self.out_sampling_rate))
        if self.down_factor * self.out_sampling_rate != self.tmp_sampling_rate:
            raise ValueError("temporary sampling rate must be an integer multiple of the output rate")
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not self.is_torgb else 1
        self.down_radial = use_radial_filters and not self.is_critically_sampled
        self.register_buffer(
            "down_filter",
            design_lowpass_filter(
                numtaps=self.down_taps,
                cutoff=self.out_cutoff,
                width=self.out_half_width * 2,
                fs=self.tmp_sampling_rate,
                radial=self.down_radial,
            ),
        )

        # Padding that maps the input size to the output size through conv, upsampling and downsampling.
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total -= (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2  # shift sample centres as in the paper's Appendix
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False,
                update_emas: bool = False) -> torch.Tensor:
        expected = (self.in_channels, int(self.in_size[1]), int(self.in_size[0]))
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"{self.extra_name()}: expected input [N, {expected}], got {tuple(x.shape)}")
        if update_emas:
            with torch.autograd.profiler.record_function("update_magnitude_ema"):
                magnitude_cur = x.detach().to(torch.float32).square().mean()
                self.magnitude_ema.copy_(magnitude_cur.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()

        styles = self.affine(w)
        if self.is_torgb:
            weight_gain = 1 / np.sqrt(self.in_channels * (self.conv_kernel**2))
            styles = styles * weight_gain

        x = modulated_conv2d(
            x=x.to(torch.float32), w=self.weight, s=styles, padding=self.conv_kernel - 1,
            demodulate=(not self.is_torgb), input_gain=input_gain, training=self.training,
        )
        gain = 1 if self.is_torgb else np.sqrt(2)
        slope = 1 if self.is_torgb else 0.2
        x = filtered_lrelu(
            x=x, fu=self.up_filter, fd=self.down_filter, b=self.bias.to(x.dtype), up=self.up_factor,
            down=self.down_factor, padding=self.padding, gain=gain, slope=slope, clamp=self.conv_clamp,
        )
        return x

    def extra_name(self) -> str:
        return f"L_{int(self.out_size[0])}_{self.out_channels}"

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, is_torgb={self.is_torgb}, is_critically_sampled={self.is_critically_sampled}, "
            f"in_sampling_rate={self.in_sampling_rate:g}, out_sampling_rate={self.out_sampling_rate:g}, "
            f"in_cutoff={self.in_cutoff:g}, out_cutoff={self.out_cutoff:g}, in_size={list(self.in_size)}, "
            f"out_size={list(self.out_size)}, in_channels={self.in_channels}, out_channels={self.out_channels}"
        )


@persistent_class
class SynthesisNetwork(nn.Module):
    """The input layer, ``num_layers`` synthesis layers and the ToRGB layer, on the paper's schedule.

    NVlabs compatibility: ``num_fp16_res`` is accepted and only decides each layer's (ignored) ``use_fp16``
    flag; everything runs in float32.
    """

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_layers: int = 14,
        num_critical: int = 2,
        first_cutoff: float = 2,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        margin_size: int = 10,
        output_scale: float = 0.25,
        num_fp16_res: int = 4,
        **layer_kwargs,
    ):
        super().__init__()
        if not 0 <= num_critical < num_layers:     # the cutoff schedule divides by num_layers - num_critical
            raise ValueError(f'num_critical must be at least 0 and below num_layers ({num_layers}), '
                             f'got {num_critical}')
        self.w_dim = w_dim
        self.num_ws = num_layers + 2
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_layers = num_layers
        self.num_critical = num_critical
        self.margin_size = margin_size
        self.output_scale = output_scale
        self.num_fp16_res = num_fp16_res

        # Schedule (paper Sec. 3.3): geometric progression of cutoff and stopband up to the
        # last num_critical layers, which are critically sampled at the output resolution.
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
        sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
        sizes = sampling_rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.cutoffs, self.stopbands, self.sampling_rates = cutoffs, stopbands, sampling_rates
        self.half_widths, self.sizes, self.channels = half_widths, sizes, channels

        self.input = SynthesisInput(
            w_dim=self.w_dim, channels=int(channels[0]), size=int(sizes[0]),
            sampling_rate=sampling_rates[0], bandwidth=cutoffs[0],
        )
        self.layer_names = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=self.w_dim,
                is_torgb=(idx == num_layers),
                is_critically_sampled=(idx >= num_layers - num_critical),
                use_fp16=bool(sampling_rates[idx] * (2**num_fp16_res) > img_resolution),
                in_channels=int(channels[prev]),
                out_channels=int(channels[idx]),
                in_size=int(sizes[prev]),
                out_size=int(sizes[idx]),
                in_sampling_rate=int(sampling_rates[prev]),
                out_sampling_rate=int(sampling_rates[idx]),
                in_cutoff=cutoffs[prev],
                out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev],
                out_half_width=half_widths[idx],
                **layer_kwargs,
            )
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws: torch.Tensor, **layer_kwargs) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"synthesis: ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        layer_kwargs.pop("noise_mode", None)  # StyleGAN3 has no noise inputs
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, **layer_kwargs)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, num_layers={self.num_layers}, num_critical={self.num_critical}, "
            f"margin_size={self.margin_size}"
        )


@persistent_class
class Generator(nn.Module):
    """z, c -> image. ``mapping_kwargs`` go to the 2-layer mapping network, everything else to synthesis.

    NVlabs compatibility: the StyleGAN2-only keywords ``use_fp16``, ``fp16_channels_last`` and
    ``fused_modconv_default`` (found in some NVlabs configs) are accepted and dropped.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict | None = None,
        **synthesis_kwargs,
    ):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        for key in ("use_fp16", "fp16_channels_last", "fused_modconv_default"):  # StyleGAN2-only options
            synthesis_kwargs.pop(key, None)
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        mapping_kwargs = {"num_layers": 2, **(mapping_kwargs or {})}
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)


def input_transform_of(G: nn.Module) -> torch.Tensor | None:
    """The 3x3 input-transform buffer ``G.synthesis.input.transform`` of a StyleGAN3 generator, else None.

    The one test of "does this network have an input transform" (StyleGAN2 networks have none).
    """
    transform = getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None)
    return transform if isinstance(transform, torch.Tensor) else None


def set_input_transform(G: nn.Module, translate: tuple[float, float] = (0.0, 0.0), angle_degrees: float = 0.0,
                        linear: np.ndarray | None = None) -> bool:
    """Moves a StyleGAN3 generator's input: ``linear`` (2x2, optional), rotation by ``angle_degrees``, then
    ``translate`` in image widths.

    Writes the inverse of that user transform (``ops.resample.user_transform``) into
    ``G.synthesis.input.transform``. Returns False, changing nothing, for networks without an input transform
    (StyleGAN2). Prefer :func:`input_transform`, which restores the buffer afterwards.
    """
    transform = input_transform_of(G)
    if transform is None:
        return False
    inverse = np.linalg.inv(user_transform(translate, angle_degrees, linear))
    transform.copy_(torch.from_numpy(inverse).to(transform))
    return True


@contextlib.contextmanager
def input_transform(G: nn.Module, translate: tuple[float, float] = (0.0, 0.0), angle_degrees: float = 0.0,
                    linear: np.ndarray | None = None) -> Iterator[torch.Tensor | None]:
    """``with input_transform(G, translate, angle):`` the input moved as :func:`set_input_transform` does.

    The buffer is a module state shared by every caller of a (cached) network: this restores the value it
    had before on exit, so no transform leaks from one render or analysis into the next. Yields the buffer
    (which the body may overwrite further; it is restored all the same), or None for networks without one,
    which are left untouched.
    """
    transform = input_transform_of(G)
    if transform is None:
        yield None
        return
    saved = transform.detach().clone()
    try:
        set_input_transform(G, translate, angle_degrees, linear)
        yield transform
    finally:
        transform.copy_(saved)
