"""Closed-form checks of the loss and the training-loop arithmetic: R1, blur schedule, lazy regularization,
G_ema and the ADA adjustment."""

import argparse
import math

import pytest
import torch

from tools.cli import UsageError
from tools.train import build_config, build_parser
from training.loss import StyleGAN2Loss, blur_sigma_at, gaussian_blur
from training.stats import StatsCollector
from training.training_loop import ada_adjust, ema_beta, lazy_regularization_params, update_ema


class QuadraticD(torch.nn.Module):
    """D(x) = sum(w * x^2): its input gradient 2 w x is known in closed form."""

    def __init__(self, shape):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(0)))

    def forward(self, img, c, update_emas=False):
        return (self.w * img.square()).sum(dim=[1, 2, 3])[:, None]


def test_r1_penalty_closed_form():
    gamma, gain = 3.0, 16
    D = QuadraticD([3, 4, 4])
    x = torch.randn([5, 3, 4, 4], generator=torch.Generator().manual_seed(1))
    reported = {}
    loss = StyleGAN2Loss(torch.device('cpu'), G=None, D=D, r1_gamma=gamma,
                         report=lambda name, value: reported.setdefault(name, value.detach()))
    loss.accumulate_gradients('Dreg', x, torch.zeros([5, 0]), None, None, gain=gain, cur_nimg=0)

    grad_norm_sq = (2 * D.w.detach() * x).square().sum(dim=[1, 2, 3])      # |grad_x D(x)|^2, by hand
    assert torch.allclose(reported['Loss/r1_penalty'], grad_norm_sq, rtol=1e-5)
    assert torch.allclose(reported['Loss/D/reg'].flatten(), gamma / 2 * grad_norm_sq, rtol=1e-5)
    # d/dw of gain * mean_i gamma/2 * sum(4 w^2 x_i^2) = gain * gamma/2 * mean_i 8 w x_i^2
    expected = gain * gamma / 2 * (8 * D.w.detach() * x.square()).mean(dim=0)
    assert torch.allclose(D.w.grad, expected, rtol=1e-5)


def test_blur_sigma_schedule():
    assert blur_sigma_at(0, 10, 200) == 10
    assert math.isclose(blur_sigma_at(50_000, 10, 200), 7.5)
    assert math.isclose(blur_sigma_at(150_000, 10, 200), 2.5)
    assert blur_sigma_at(200_000, 10, 200) == 0 and blur_sigma_at(10**7, 10, 200) == 0
    assert blur_sigma_at(0, 10, 0) == 0
    x = torch.randn([2, 3, 16, 16])
    assert torch.equal(gaussian_blur(x, 0), x)
    flat = torch.full([1, 3, 16, 16], 0.25)
    assert torch.allclose(gaussian_blur(flat, 2.0)[:, :, 6:10, 6:10], flat[:, :, 6:10, 6:10])
    assert gaussian_blur(x, 2.0).std() < 0.5 * x.std()


def _opts(cfg, batch=64, extra=()):
    return build_parser().parse_args(['--outdir', '/nonexistent', '--cfg', cfg, '--data', 'x', '--gpus', '1',
                                      '--batch', str(batch), '--gamma', '2', *extra])


def test_config_semantics(monkeypatch, photos16):
    cfg_r = build_config(_opts('stylegan3-r', extra=['--data', photos16]), 'cpu')
    assert cfg_r.loss_kwargs['blur_init_sigma'] == 10 and cfg_r.loss_kwargs['blur_fade_kimg'] == 64 * 200 / 32
    assert cfg_r.G_kwargs['conv_kernel'] == 1 and cfg_r.G_kwargs['use_radial_filters']
    assert cfg_r.G_kwargs['channel_base'] == 2 * 32768
    assert math.isclose(cfg_r.G_kwargs['magnitude_ema_beta'], 0.5 ** (64 / 20000))
    assert cfg_r.ema_kimg == 64 * 10 / 32 and cfg_r.ema_rampup == 0.05
    assert cfg_r.D_reg_interval == 16 and cfg_r.G_reg_interval is None
    assert cfg_r.ada_target == 0.6 and cfg_r.augment_kwargs['xflip'] == 1 and cfg_r.G_opt_kwargs['lr'] == 0.0025
    cfg_2 = build_config(_opts('stylegan2', extra=['--data', photos16, '--aug', 'fixed', '--p', '0.3']), 'cpu')
    assert cfg_2.loss_kwargs['pl_weight'] == 2 and cfg_2.loss_kwargs['style_mixing_prob'] == 0.9
    assert cfg_2.G_reg_interval == 4 and cfg_2.G_kwargs['mapping_kwargs']['num_layers'] == 8
    assert cfg_2.augment_p == 0.3 and cfg_2.ada_target is None and cfg_2.G_opt_kwargs['lr'] == 0.002
    assert cfg_2.G_kwargs['num_fp16_res'] == 0          # CPU: always float32
    assert isinstance(_opts('stylegan3-t'), argparse.Namespace)
    assert 'blur_init_sigma' not in cfg_2.loss_kwargs


def test_blur_options(photos16):
    """--blur-sigma/--blur-kimg override config R's blur, switch it off with 0, and give it to other configs."""
    def loss_kwargs(cfg, *extra):
        return build_config(_opts(cfg, batch=8, extra=['--data', photos16, *extra]), 'cpu').loss_kwargs
    assert loss_kwargs('stylegan3-r')['blur_init_sigma'] == 10 and loss_kwargs('stylegan3-r')['blur_fade_kimg'] == 50
    small = loss_kwargs('stylegan3-r', '--blur-sigma', '2.5', '--blur-kimg', '20')
    assert small['blur_init_sigma'] == 2.5 and small['blur_fade_kimg'] == 20
    assert loss_kwargs('stylegan3-r', '--blur-sigma', '1')['blur_fade_kimg'] == 50
    assert 'blur_init_sigma' not in loss_kwargs('stylegan3-r', '--blur-sigma', '0')
    assert 'blur_init_sigma' not in loss_kwargs('stylegan3-t', '--blur-kimg', '20')
    t_blur = loss_kwargs('stylegan3-t', '--blur-sigma', '3')
    assert t_blur['blur_init_sigma'] == 3 and t_blur['blur_fade_kimg'] == 50
    with pytest.raises(UsageError, match='--blur-sigma'):
        _opts('stylegan3-r', extra=['--blur-sigma', '-1'])
    with pytest.raises(UsageError, match='multiple of --mbstd-group'):
        build_config(_opts('stylegan2', batch=6, extra=['--data', photos16]), 'cpu')
    with pytest.raises(UsageError, match='Dataset not found'):
        build_config(_opts('stylegan2', extra=['--data', photos16 + '.missing']), 'cpu')


def test_lazy_regularization_correction():
    lr, betas = lazy_regularization_params(0.002, (0, 0.99), 16)
    assert math.isclose(lr, 0.002 * 16 / 17) and betas[0] == 0 and math.isclose(betas[1], 0.99 ** (16 / 17))
    lr, betas = lazy_regularization_params(0.0025, [0, 0.99], 4)
    assert math.isclose(lr, 0.0025 * 0.8) and math.isclose(betas[1], 0.99 ** 0.8)
    assert lazy_regularization_params(0.002, (0, 0.99), None) == (0.002, (0.0, 0.99))


def test_ema_closed_form():
    beta = ema_beta(batch_size=32, ema_kimg=10, cur_nimg=10**6, ema_rampup=None)
    assert math.isclose(beta, 0.5 ** (32 / 10_000))
    assert math.isclose(beta ** (10_000 / 32), 0.5)                         # half-life of 10 kimg
    assert math.isclose(ema_beta(32, 10, cur_nimg=1000, ema_rampup=0.05), 0.5 ** (32 / 50))   # ramp-up
    assert math.isclose(ema_beta(32, 10, cur_nimg=10**6, ema_rampup=0.05), beta)
    G, G_ema = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    G.register_buffer('w_avg', torch.ones(2))
    G_ema.register_buffer('w_avg', torch.zeros(2))
    before = G_ema.weight.detach().clone()
    update_ema(G_ema, G, 0.9)
    assert torch.allclose(G_ema.weight, G.weight + 0.9 * (before - G.weight))
    assert torch.equal(G_ema.w_avg, G.w_avg)


@pytest.mark.parametrize('sign, direction', [(1.0, 1), (-1.0, -1)])
def test_ada_p_follows_overfitting(sign, direction):
    # D calls (almost) every real image real: overfitting, p must rise; calls them fake: p must fall.
    stats = StatsCollector(names=('Loss/signs/real',))
    for _ in range(4):
        logits = torch.full([8, 1], 3.0 * sign)
        logits[0] = -sign
        stats.report('Loss/signs/real', logits.sign())
        stats.report('Loss/G/loss', logits)                   # ignored by this collector
    r_t = stats.reduce()['Loss/signs/real']['mean']
    assert math.isclose(r_t, sign * 0.75)
    p0 = 0.3
    p1 = ada_adjust(p0, r_t, target=0.6, batch_size=32, ada_interval=4, ada_kimg=500)
    assert math.isclose(p1 - p0, direction * 32 * 4 / 500_000)
    assert ada_adjust(0.0, -1.0, 0.6, 32, 4, 500) == 0.0      # never below 0
