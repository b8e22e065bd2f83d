"""StyleGAN2 generator (skip architecture, noise inputs) and discriminator (resnet, minibatch std, conditioning).

Names and semantics follow NVlabs' ``networks_stylegan2.py`` (also used by StyleGAN2-ADA and StyleGAN3's
``stylegan2`` config) so their state dicts load by name. Everything runs in float32.

NVlabs-compatibility keywords, accepted so their pickles and configs load, and ignored: ``use_fp16``,
``fp16_channels_last`` (blocks), ``num_fp16_res`` (synthesis network, discriminator: it only sets the blocks'
``use_fp16``) and the ``force_fp32`` argument of the blocks' and epilogue's ``forward``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from ops import upfirdn2d
from ops.bias_act import activation_funcs, bias_act
from ops.conv2d_resample import conv2d_resample

from .layers import FullyConnectedLayer, MappingNetwork
from .persistence import persistent_class


def modulated_conv2d(
    x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None, demodulate=True,
    flip_weight=True, fused_modconv=True,
):
    """StyleGAN2 modulated convolution; ``fused_modconv`` runs it as one grouped convolution."""
    batch_size = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if styles.shape != (batch_size, in_channels) or x.shape[1] != in_channels:
        raise ValueError(f"modulated_conv2d: x {tuple(x.shape)}, w {tuple(weight.shape)}, "
                         f"styles {tuple(styles.shape)} disagree")
    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch_size, 1, -1, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch_size, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch_size, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(batch_size, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding,
                        groups=batch_size, flip_weight=flip_weight)
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


class Conv2dLayer(nn.Module):
    """Equalised-lr convolution with optional FIR resampling, bias, activation and clamp."""

    def __init__(
        self, in_channels, out_channels, kernel_size, bias=True, activation="linear", up=1, down=1,
        resample_filter=(1, 3, 3, 1), conv_clamp=None, channels_last=False, trainable=True,
    ):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation = activation
        self.up, self.down = up, down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size**2))
        self.act_gain = activation_funcs[activation].def_gain
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        bias_t = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(bias_t) if bias_t is not None else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_t)

    def forward(self, x, gain=1):
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=(self.up == 1))
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=act_gain, clamp=act_clamp)

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, activation={self.activation}, "
                f"up={self.up}, down={self.down}")


class SynthesisLayer(nn.Module):
    def __init__(
        self, in_channels, out_channels, w_dim, resolution, kernel_size=3, up=1, use_noise=True,
        activation="lrelu", resample_filter=(1, 3, 3, 1), conv_clamp=None, channels_last=False,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = activation_funcs[activation].def_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode="random", fused_modconv=True, gain=1, noise_generator=None):
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            shape = [x.shape[0], 1, self.resolution, self.resolution]
            noise = torch.randn(shape, device=x.device, generator=noise_generator) * self.noise_strength
        if self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused_modconv=fused_modconv)
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=act_gain, clamp=act_clamp)

    def extra_repr(self):
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, w_dim={self.w_dim}, "
                f"resolution={self.resolution}, up={self.up}, activation={self.activation}")


class ToRGBLayer(nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, channels_last=False):
        super().__init__()
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size**2))

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network; ``use_fp16``, ``fp16_channels_last`` and ``force_fp32`` are
    NVlabs-compatibility arguments, accepted and ignored (float32 throughout)."""

    def __init__(
        self, in_channels, out_channels, w_dim, resolution, img_channels, is_last, architecture="skip",
        resample_filter=(1, 3, 3, 1), conv_clamp=256, use_fp16=False, fp16_channels_last=False,
        fused_modconv_default=True, **layer_kwargs,
    ):
        super().__init__()
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}")
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, architecture
        self.use_fp16 = use_fp16
        self.fused_modconv_default = fused_modconv_default
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        if in_channels != 0:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x, img, ws, force_fp32=False, fused_modconv=None, update_emas=False, **layer_kwargs):
        w_iter = iter(ws.unbind(dim=1))
        if fused_modconv is None:
            fused_modconv = self.fused_modconv_default
        if fused_modconv == "inference_only":
            fused_modconv = not self.training
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        elif x is None or x.shape[1:] != (self.in_channels, self.resolution // 2, self.resolution // 2):
            raise ValueError(f"b{self.resolution}: unexpected input {None if x is None else tuple(x.shape)}")
        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, gain=np.sqrt(0.5), **layer_kwargs)
            x = y + x
        else:
            x = self.conv0(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
            x = self.conv1(x, next(w_iter), fused_modconv=fused_modconv, **layer_kwargs)
        if img is not None:
            img = upfirdn2d.upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = img + y if img is not None else y
        return x, img

    def extra_repr(self):
        return f"resolution={self.resolution}, architecture={self.architecture}"


@persistent_class
class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_fp16_res=4,
                 **block_kwargs):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.num_fp16_res = num_fp16_res
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        channels_dict = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_dict[res // 2] if res > 4 else 0
            out_channels = channels_dict[res]
            is_last = res == self.img_resolution
            block = SynthesisBlock(in_channels, out_channels, w_dim=w_dim, resolution=res, img_channels=img_channels,
                                   is_last=is_last, use_fp16=(res >= fp16_resolution), **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(self, ws, **block_kwargs):
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"synthesis: ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        block_ws = []
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws.append(ws.narrow(1, w_idx, block.num_conv + block.num_torgb))  # ToRGB shares the next w
            w_idx += block.num_conv
        x = img = None
        for res, cur_ws in zip(self.block_resolutions, block_ws):
            x, img = getattr(self, f"b{res}")(x, img, cur_ws, **block_kwargs)
        return img

    def extra_repr(self):
        return f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}"


@persistent_class
class Generator(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs=None,
                 synthesis_kwargs=None, **more_synthesis_kwargs):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        synthesis_kwargs = {**(synthesis_kwargs or {}), **more_synthesis_kwargs}  # StyleGAN2-ADA nests them
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                      **(mapping_kwargs or {}))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, update_emas=update_emas, **synthesis_kwargs)


class DiscriminatorBlock(nn.Module):
    """One resolution of the discriminator; ``use_fp16``, ``fp16_channels_last`` and ``force_fp32`` are
    NVlabs-compatibility arguments, accepted and ignored (float32 throughout)."""

    def __init__(
        self, in_channels, tmp_channels, out_channels, resolution, img_channels, first_layer_idx,
        architecture="resnet", activation="lrelu", resample_filter=(1, 3, 3, 1), conv_clamp=None, use_fp16=False,
        fp16_channels_last=False, freeze_layers=0,
    ):
        super().__init__()
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}")
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.first_layer_idx, self.architecture, self.use_fp16 = first_layer_idx, architecture, use_fp16
        self.register_buffer("resample_filter", upfirdn2d.setup_filter(list(resample_filter)))
        self.num_layers = 0

        def trainable_next():
            trainable = first_layer_idx + self.num_layers >= freeze_layers
            self.num_layers += 1
            return trainable

        common = dict(conv_clamp=conv_clamp)
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, kernel_size=1, activation=activation,
                                       trainable=trainable_next(), **common)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation=activation,
                                 trainable=trainable_next(), **common)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, kernel_size=3, activation=activation, down=2,
                                 trainable=trainable_next(), resample_filter=resample_filter, **common)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2,
                                    trainable=trainable_next(), resample_filter=resample_filter)

    def forward(self, x, img, force_fp32=False):
        if (x if x is not None else img) is None:
            raise ValueError(f"b{self.resolution}: no input")
        if self.in_channels == 0 or self.architecture == "skip":
            if img is None or img.shape[1:] != (self.img_channels, self.resolution, self.resolution):
                raise ValueError(f"D: expected images [N, {self.img_channels}, {self.resolution}, {self.resolution}], "
                                 f"got {None if img is None else tuple(img.shape)}")
            y = self.fromrgb(img.to(torch.float32))
            x = x + y if x is not None else y
            img = upfirdn2d.downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x)
            x = self.conv1(x, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x)
            x = self.conv1(x)
        return x, img


class MinibatchStdLayer(nn.Module):
    """Appends the standard deviation across groups of ``group_size`` samples as extra feature maps."""

    def __init__(self, group_size, num_channels=1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x):
        N, C, H, W = x.shape
        G = min(self.group_size, N) if self.group_size is not None else N
        if N % G != 0:
            raise ValueError(f"minibatch std: batch {N} is not divisible by the group size {G}")
        F = self.num_channels
        c = C // F
        y = x.reshape(G, -1, F, c, H, W)  # [G, n, F, c, H, W]: group members are strided over the batch
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])  # [n, F]
        y = y.reshape(-1, F, 1, 1).repeat(G, 1, H, W)
        return torch.cat([x, y], dim=1)

    def extra_repr(self):
        return f"group_size={self.group_size}, num_channels={self.num_channels}"


class DiscriminatorEpilogue(nn.Module):
    def __init__(self, in_channels, cmap_dim, resolution, img_channels, architecture="resnet", mbstd_group_size=4,
                 mbstd_num_channels=1, activation="lrelu", conv_clamp=None):
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.img_channels, self.architecture = img_channels, architecture
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, in_channels, kernel_size=1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * (resolution**2), in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x, img, cmap, force_fp32=False):
        if self.architecture == "skip":
            x = x + self.fromrgb(img.to(torch.float32))
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


@persistent_class
class Discriminator(nn.Module):
    def __init__(self, c_dim, img_resolution, img_channels, architecture="resnet", channel_base=32768,
                 channel_max=512, num_fp16_res=4, conv_clamp=256, cmap_dim=None, block_kwargs=None,
                 mapping_kwargs=None, epilogue_kwargs=None):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(self.img_resolution_log2, 2, -1)]
        channels_dict = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        if cmap_dim is None:
            cmap_dim = channels_dict[4]
        if c_dim == 0:
            cmap_dim = 0
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        cur_layer_idx = 0
        for res in self.block_resolutions:
            in_channels = channels_dict[res] if res < img_resolution else 0
            block = DiscriminatorBlock(in_channels, channels_dict[res], channels_dict[res // 2], resolution=res,
                                       first_layer_idx=cur_layer_idx, use_fp16=(res >= fp16_resolution),
                                       **(block_kwargs or {}), **common)
            setattr(self, f"b{res}", block)
            cur_layer_idx += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(z_dim=0, c_dim=c_dim, w_dim=cmap_dim, num_ws=None, w_avg_beta=None,
                                          **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels_dict[4], cmap_dim=cmap_dim, resolution=4,
                                        **(epilogue_kwargs or {}), **common)

    def forward(self, img, c=None, update_emas=False, **block_kwargs):
        if img.ndim != 4 or img.shape[1:] != (self.img_channels, self.img_resolution, self.img_resolution):
            raise ValueError(f"D: expected images [N, {self.img_channels}, {self.img_resolution}, "
                             f"{self.img_resolution}], got {tuple(img.shape)}")
        x = None
        for res in self.block_resolutions:
            x, img = getattr(self, f"b{res}")(x, img, **block_kwargs)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, img, cmap)


def noise_buffers(G: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The StyleGAN2 ``noise_const`` buffers of ``G.synthesis`` by name (none in StyleGAN3, or without a synthesis
    network)."""
    synthesis = getattr(G, 'synthesis', None)
    if synthesis is None:
        return {}
    return {name: buf for name, buf in synthesis.named_buffers() if name.endswith('noise_const')}


@contextlib.contextmanager
def replaced_noise_buffers(G: torch.nn.Module, values: dict[str, torch.Tensor]) -> Iterator[None]:
    """Within the block, the named buffers of ``G.synthesis`` (its ``noise_const`` maps) are ``values``, as given:
    the caller matches their device, dtype and shape. ``G``'s own tensors are back afterwards, whatever happens in
    the block."""
    saved = []
    try:
        for name, value in values.items():
            owner_name, _, attr = name.rpartition('.')
            owner = G.synthesis.get_submodule(owner_name) if owner_name else G.synthesis
            saved.append((owner, attr, owner._buffers[attr]))
            owner._buffers[attr] = value
        yield
    finally:
        for owner, attr, buf in reversed(saved):
            owner._buffers[attr] = buf


NOISE_STREAM = 0x6E6F697365  # tells noise_seed's SeedSequence apart from any other use of the same numbers


def has_noise_inputs(G: torch.nn.Module) -> bool:
    """Whether ``G`` has noise inputs (StyleGAN2's ``noise_const`` buffers; StyleGAN3 has none)."""
    return bool(noise_buffers(G))


def noise_seed(*key: int) -> int:
    """The seed of one image's fresh noise: 32 bits of a SeedSequence of ``key`` (an image's seed, or a
    measurement's seed and the image's index). A SeedSequence, not the number itself: torch's Mersenne Twister
    seeded with the seed would repeat the stream its latent is drawn from."""
    return int(np.random.SeedSequence([*(int(k) % 2**32 for k in key), NOISE_STREAM]).generate_state(1)[0])


def noise_maps(G: torch.nn.Module, key: int | tuple[int, ...]) -> dict[str, torch.Tensor]:
    """The fresh noise of the image of ``key`` (see :func:`noise_seed`): {noise buffer name: float32 CPU map of its
    shape}, standard normal, drawn in buffer order by a CPU torch.Generator seeded with ``noise_seed(*key)``."""
    gen = torch.Generator().manual_seed(noise_seed(*(key if isinstance(key, tuple) else (key,))))
    return {name: torch.randn(tuple(buf.shape), generator=gen) for name, buf in noise_buffers(G).items()}


@contextlib.contextmanager
def per_image_noise(G: torch.nn.Module, keys: list) -> Iterator[None]:
    """Within the block, ``G(..., noise_mode='const')`` on a batch of the images of ``keys`` adds to each image its
    own :func:`noise_maps` (each ``noise_const`` buffer holds them as [N, 1, H, W]), so an image's noise does not
    depend on the batch it is drawn in; ``G``'s own buffers are back afterwards. Nothing changes for a network
    without noise inputs."""
    buffers = noise_buffers(G)
    if not buffers:
        yield
        return
    per_image = [noise_maps(G, k) for k in keys]
    stacked = {name: torch.stack([m[name] for m in per_image])[:, None].to(buf.device, buf.dtype)
               for name, buf in buffers.items()}
    with replaced_noise_buffers(G, stacked):
        yield
