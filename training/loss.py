"""The StyleGAN2/StyleGAN3 training loss (Karras et al. 2020, 2021; NVlabs defaults).

Non-saturating logistic loss for G and D, lazy R1 on reals (gamma / 2 * |grad_x D(x)|^2), path-length
regularization and style mixing for StyleGAN2, and for StyleGAN3-R a Gaussian blur of every image D sees whose
sigma fades linearly from `blur_init_sigma` to 0 over `blur_fade_kimg`.

Phases: 'Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg', 'Dboth'. The training loop calls
`accumulate_gradients(phase, ...)` and steps the optimiser; `gain` is the regularization interval for the lazy
phases so that their expected contribution matches regularizing every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ops import upfirdn2d


def blur_sigma_at(cur_nimg: int, blur_init_sigma: float, blur_fade_kimg: float) -> float:
    """The StyleGAN3-R discriminator blur: sigma fades linearly to 0 over `blur_fade_kimg`."""
    if blur_fade_kimg <= 0:
        return 0.0
    return max(1 - cur_nimg / (blur_fade_kimg * 1e3), 0) * blur_init_sigma


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with taps out to 3 sigma; sigma = 0 returns the images unchanged."""
    radius = int(np.ceil(sigma * 3))
    if radius <= 0:
        return images
    taps = torch.arange(-radius, radius + 1, device=images.device, dtype=torch.float32)
    f = torch.exp(-(taps / sigma).square() / 2)
    return upfirdn2d.filter2d(images, f / f.sum())


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """|grad_x sum(D(x))|^2 per image, kept differentiable (create_graph) so the penalty can be minimised."""
    (grads,) = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real_images], create_graph=True,
                                   only_inputs=True)
    return grads.square().sum(dim=[1, 2, 3])


class StyleGAN2Loss:
    """Loss for all three configs; what differs is set by the constructor arguments (see tools.train)."""

    def __init__(self, device: torch.device, G: torch.nn.Module, D: torch.nn.Module,
                 augment_pipe: torch.nn.Module | None = None, r1_gamma: float = 10, style_mixing_prob: float = 0,
                 pl_weight: float = 0, pl_batch_shrink: int = 2, pl_decay: float = 0.01,
                 blur_init_sigma: float = 0, blur_fade_kimg: float = 0,
                 report: Callable[[str, torch.Tensor], None] | None = None):
        self.device = device
        self.G = G
        self.D = D
        self.augment_pipe = augment_pipe
        self.r1_gamma = r1_gamma
        self.style_mixing_prob = style_mixing_prob
        self.pl_weight = pl_weight
        self.pl_batch_shrink = pl_batch_shrink
        self.pl_decay = pl_decay
        self.pl_mean = torch.zeros([], device=device)
        self.blur_init_sigma = blur_init_sigma
        self.blur_fade_kimg = blur_fade_kimg
        self.report = report or (lambda name, value: None)

    def run_G(self, z: torch.Tensor, c: torch.Tensor, update_emas: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self.G.mapping(z, c, update_emas=update_emas)
        if self.style_mixing_prob > 0:
            # Style mixing: from a random layer on, the ws come from a second latent.
            with torch.autograd.profiler.record_function('style_mixing'):
                num_ws = ws.shape[1]
                cutoff = torch.empty([], dtype=torch.int64, device=ws.device).random_(1, num_ws)
                cutoff = torch.where(torch.rand([], device=ws.device) < self.style_mixing_prob, cutoff,
                                     torch.full_like(cutoff, num_ws))
                mixed = self.G.mapping(torch.randn_like(z), c, update_emas=False)
                layer = torch.arange(num_ws, device=ws.device)[None, :, None]
                ws = torch.where(layer < cutoff, ws, mixed)
        img = self.G.synthesis(ws, update_emas=update_emas)
        return img, ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor, blur_sigma: float = 0,
              update_emas: bool = False) -> torch.Tensor:
        img = gaussian_blur(img, blur_sigma)
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c, update_emas=update_emas)

    def accumulate_gradients(self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor, gen_z: torch.Tensor,
                             gen_c: torch.Tensor, gain: float, cur_nimg: int) -> None:
        assert phase in ('Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg', 'Dboth')
        if self.pl_weight == 0:
            phase = {'Greg': 'none', 'Gboth': 'Gmain'}.get(phase, phase)
        if self.r1_gamma == 0:
            phase = {'Dreg': 'none', 'Dboth': 'Dmain'}.get(phase, phase)
        blur_sigma = blur_sigma_at(cur_nimg, self.blur_init_sigma, self.blur_fade_kimg)

        # G: make D call the fakes real.
        if phase in ('Gmain', 'Gboth'):
            gen_img, _ws = self.run_G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img, gen_c, blur_sigma=blur_sigma)
            loss_g = F.softplus(-gen_logits)
            self.report('Loss/scores/fake', gen_logits)
            self.report('Loss/signs/fake', gen_logits.sign())
            self.report('Loss/G/loss', loss_g)
            loss_g.mean().mul(gain).backward()

        # G: path-length regularization on a smaller batch.
        if phase in ('Greg', 'Gboth'):
            batch_size = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
            gen_img, gen_ws = self.run_G(gen_z[:batch_size], gen_c[:batch_size])
            pl_noise = torch.randn_like(gen_img) / math.sqrt(gen_img.shape[2] * gen_img.shape[3])
            (pl_grads,) = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws],
                                              create_graph=True, only_inputs=True)
            pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
            pl_mean = self.pl_mean.lerp(pl_lengths.mean(), self.pl_decay)
            self.pl_mean.copy_(pl_mean.detach())
            pl_penalty = (pl_lengths - pl_mean).square()
            self.report('Loss/pl_penalty', pl_penalty)
            loss_gpl = pl_penalty * self.pl_weight
            self.report('Loss/G/reg', loss_gpl)
            loss_gpl.mean().mul(gain).backward()

        # D: make it call the fakes fake.
        if phase in ('Dmain', 'Dboth'):
            gen_img, _ws = self.run_G(gen_z, gen_c, update_emas=True)
            gen_logits = self.run_D(gen_img, gen_c, blur_sigma=blur_sigma, update_emas=True)
            loss_dgen = F.softplus(gen_logits)
            self.report('Loss/scores/fake', gen_logits)
            self.report('Loss/signs/fake', gen_logits.sign())
            loss_dgen.mean().mul(gain).backward()

        # D: reals, with the R1 penalty on the lazy steps.
        if phase in ('Dmain', 'Dreg', 'Dboth'):
            do_r1 = phase in ('Dreg', 'Dboth')
            real_img_tmp = real_img.detach().requires_grad_(do_r1)
            real_logits = self.run_D(real_img_tmp, real_c, blur_sigma=blur_sigma)
            loss = torch.zeros_like(real_logits)
            if phase in ('Dmain', 'Dboth'):
                self.report('Loss/scores/real', real_logits)
                self.report('Loss/signs/real', real_logits.sign())
                loss_dreal = F.softplus(-real_logits)
                self.report('Loss/D/loss', loss_dgen + loss_dreal)
                loss = loss + loss_dreal
            if do_r1:
                penalty = r1_penalty(real_logits, real_img_tmp)
                loss_r1 = penalty[:, None] * (self.r1_gamma / 2)
                self.report('Loss/r1_penalty', penalty)
                self.report('Loss/D/reg', loss_r1)
                loss = loss + loss_r1
            loss.mean().mul(gain).backward()
