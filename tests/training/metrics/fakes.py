"""Tiny stand-in generators with known equivariance, shared by the metrics and tool tests."""

from __future__ import annotations

import math

import torch


class _Mapping(torch.nn.Module):
    def __init__(self, z_dim: int, w_dim: int, num_ws: int):
        super().__init__()
        self.num_ws = num_ws
        self.weight = torch.nn.Parameter(torch.randn(w_dim, z_dim) / math.sqrt(z_dim))
        self.register_buffer('w_avg', torch.zeros(w_dim))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        w = torch.tanh(z @ self.weight.t())
        w = self.w_avg.lerp(w, truncation_psi)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)


class _FourierInput(torch.nn.Module):
    """Band-limited Fourier features sampled at pixel centres of an image spanning [-1/2, 1/2]^2."""

    def __init__(self, w_dim: int, channels: int, size: int, bandlimit: float, with_transform: bool = True):
        super().__init__()
        self.size = size
        radius = torch.rand(channels).sqrt() * bandlimit
        angle = torch.rand(channels) * 2 * math.pi
        self.register_buffer('freqs', torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1))
        self.register_buffer('phases', torch.rand(channels))
        self.phase_mod = torch.nn.Parameter(torch.randn(w_dim, channels) * 0.3)
        if with_transform:
            self.register_buffer('transform', torch.eye(3))
        self.follow_transform = with_transform

    def forward(self, w):
        coords = (torch.arange(self.size, dtype=torch.float32, device=w.device) + 0.5) / self.size - 0.5
        gy, gx = torch.meshgrid(coords, coords, indexing='ij')
        p = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1)  # [H, W, 3]
        if self.follow_transform:
            p = p @ self.transform.t()  # the feature at p is the untransformed feature at transform @ p
        arg = torch.einsum('hwk,ck->chw', p[..., :2], self.freqs)
        phase = self.phases + w @ self.phase_mod  # [N, C]
        return torch.sin(2 * math.pi * (arg.unsqueeze(0) + phase[:, :, None, None]))


class _Synthesis(torch.nn.Module):
    def __init__(self, w_dim, img_resolution, img_channels, num_features, bandlimit, with_transform, follow):
        super().__init__()
        self.input = _FourierInput(w_dim, num_features, img_resolution, bandlimit, with_transform)
        self.input.follow_transform = follow
        self.mix = torch.nn.Parameter(torch.randn(img_channels, num_features) / math.sqrt(num_features))

    def forward(self, ws, noise_mode='const', update_emas=False):
        x = self.input(ws[:, 0])
        return torch.einsum('oc,nchw->nohw', self.mix, x) * 0.5


class FourierGenerator(torch.nn.Module):
    """A 'generator' whose image is an exact band-limited function of the transformed input plane.

    follow_transform=False makes the image ignore the transform (worst case), with_transform=False
    removes the buffer (like StyleGAN2).
    """

    def __init__(self, z_dim=8, w_dim=8, img_resolution=32, img_channels=3, num_features=16, bandlimit=3.0,
                 follow_transform=True, with_transform=True, c_dim=0, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        self.img_resolution, self.img_channels, self.num_ws = img_resolution, img_channels, 2
        self.mapping = _Mapping(z_dim, w_dim, self.num_ws)
        self.synthesis = _Synthesis(w_dim, img_resolution, img_channels, num_features, bandlimit,
                                    with_transform, follow_transform and with_transform)
        self.eval().requires_grad_(False)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False, noise_mode='const'):
        return self.synthesis(self.mapping(z, c, truncation_psi=truncation_psi), noise_mode=noise_mode)


def band_limited_pattern(size: int, mat: torch.Tensor | None = None, num: int = 12, max_freq: float = 6.0,
                         seed: int = 0) -> torch.Tensor:
    """[1, 1, size, size] sum of cosines (frequencies below max_freq cycles/image) seen through z(p) = x(mat^-1 p)."""
    gen = torch.Generator().manual_seed(seed)
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) / size - 0.5
    gy, gx = torch.meshgrid(coords, coords, indexing='ij')
    if mat is not None:
        inv = torch.linalg.inv(torch.as_tensor(mat, dtype=torch.float64))
        gx, gy = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2], inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
    out = torch.zeros(size, size, dtype=torch.float64)
    for _ in range(num):
        f = (torch.rand(2, generator=gen, dtype=torch.float64) * 2 - 1) * max_freq
        phase = torch.rand(1, generator=gen, dtype=torch.float64)
        out += torch.cos(2 * math.pi * (f[0] * gx + f[1] * gy + phase))
    return (out / math.sqrt(num)).float()[None, None]


class TinyDetector(torch.nn.Module):
    """A randomly initialised stand-in for the Inception detector, with NVlabs' calling convention."""

    def __init__(self, dim: int = 8):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, dim, 3)
        self.fc = torch.nn.Linear(dim, 4)

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = torch.nn.functional.interpolate(img.float() / 255, size=(24, 24), mode='bilinear', align_corners=False)
        feats = torch.relu(self.conv(x)).mean(dim=[2, 3]) * 4
        if return_features:
            return feats
        return torch.softmax(self.fc(feats), dim=1)


def torchscript_bytes(module: torch.nn.Module) -> bytes:
    import io
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buf)
    return buf.getvalue()


def write_nvlabs_persistent_pkl(path, state: dict, class_name: str = 'InceptionV3Detector',
                                module_src: str = '# source\n') -> None:
    """A pickle in NVlabs' persistence layout: torch_utils.persistence._reconstruct_persistent_obj(meta)."""
    import pickle

    from tests.networks.nvlabs_fake import _Persistent, fake_nvlabs_modules
    meta = dict(type='class', version=6, module_src=module_src, class_name=class_name, state=state)
    with fake_nvlabs_modules(), open(path, 'wb') as f:
        pickle.dump(_Persistent(meta), f, protocol=4)


def write_image_folder(path, num: int, resolution: int, channels: int = 3, seed: int = 0, pattern=None) -> str:
    """A folder of PNGs (random smooth images, or pattern(i) -> uint8 HWC)."""
    import os

    import numpy as np
    import PIL.Image
    os.makedirs(path, exist_ok=True)
    rng = np.random.RandomState(seed)
    for i in range(num):
        if pattern is not None:
            img = pattern(i)
        else:
            img = rng.randint(0, 256, [resolution // 4, resolution // 4, channels]).astype(np.uint8)
            img = np.asarray(PIL.Image.fromarray(img.squeeze()).resize((resolution, resolution), PIL.Image.BILINEAR))
        PIL.Image.fromarray(img.squeeze()).save(os.path.join(path, f'img{i:05d}.png'))
    return str(path)
