"""The ADA augmentation pipe: identity at p = 0, exact whole-pixel moves, bounded output, R1-ready gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import networks
from tests.autograd_nodes import node_names
from training.augment import AUGPIPE_SPECS, AugmentPipe


def _images(n=16, channels=3, size=16, seed=0):
    return torch.rand([n, channels, size, size], generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize('channels', [1, 3])
def test_identity_at_p0(channels):
    x = _images(channels=channels)
    pipe = AugmentPipe(**AUGPIPE_SPECS['bgc'])
    assert float(pipe.p) == 0
    assert torch.equal(pipe(x), x)


def test_full_pipe_finite_and_in_range():
    torch.manual_seed(0)
    x = _images(n=64)
    for spec, bound in [('blit', 1.0), ('geom', 1.3), ('color', 8.0), ('bgc', 8.0)]:
        pipe = AugmentPipe(**AUGPIPE_SPECS[spec])
        pipe.p.fill_(1.0)
        y = pipe(x)
        assert y.shape == x.shape and torch.isfinite(y).all(), spec
        # Whole-pixel moves copy pixels; resampling overshoots a little (windowed sinc); colour transforms
        # scale contrast and saturation log-normally, so their range is wider but bounded.
        assert y.abs().max() <= bound + 1e-5, (spec, float(y.abs().max()))
        assert not torch.equal(y, x)
    gray = AugmentPipe(**AUGPIPE_SPECS['bgc'])
    gray.p.fill_(0.5)
    assert torch.isfinite(gray(_images(channels=1))).all()


def test_whole_pixel_moves_are_exact():
    torch.manual_seed(1)
    x = _images(n=12)
    pipe = AugmentPipe(xflip=1, rotate90=1)
    pipe.p.fill_(1.0)
    y = pipe(x)
    for i in range(len(x)):
        candidates = [torch.rot90(img, k, (1, 2)) for img in (x[i], x[i].flip(2)) for k in range(4)]
        assert any(torch.equal(y[i], c) for c in candidates)

    pipe = AugmentPipe(xint=1, xint_max=0.25)
    pipe.p.fill_(1.0)
    y = pipe(x)
    padded = F.pad(x, [4] * 4, mode='reflect')
    for i in range(len(x)):
        shifts = [(dx, dy) for dx in range(-4, 5) for dy in range(-4, 5)
                  if torch.equal(y[i], padded[i, :, 4 - dy:20 - dy, 4 - dx:20 - dx])]
        assert shifts, f'image {i} is not a reflect-padded integer shift'


def test_probability_scales_with_p():
    torch.manual_seed(2)
    x = _images(n=400, size=8)
    pipe = AugmentPipe(xflip=1)
    for p in (0.2, 0.6):
        pipe.p.fill_(p)
        y = pipe(x)
        changed = (y != x).flatten(1).any(dim=1).float().mean().item()
        assert abs(changed - p / 2) < 0.07    # a chosen image flips with probability 1/2


def test_second_order_gradients_for_r1():
    torch.manual_seed(3)
    pipe = AugmentPipe(**AUGPIPE_SPECS['bgc'])
    pipe.p.fill_(0.8)
    x = _images(n=4).requires_grad_(True)
    (grad,) = torch.autograd.grad(pipe(x).square().sum(), x, create_graph=True)
    # PyTorch's CUDA grid_sample backward has no derivative: R1 on a GPU needs the pipe to avoid differentiating it.
    assert not any('GridSampler2DBackward' in n for n in node_names(grad))
    grad.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_saved_and_loaded_with_p(tmp_path):
    pipe = AugmentPipe(**AUGPIPE_SPECS['bgc'])
    pipe.p.fill_(0.375)
    from networks.stylegan2 import Generator
    G = Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
                  num_fp16_res=0, mapping_kwargs=dict(num_layers=1))
    networks.save_network_pkl(tmp_path / 'a.pkl', dict(G_ema=G, augment_pipe=pipe))
    loaded = networks.load_network_pkl(tmp_path / 'a.pkl')['augment_pipe']
    assert isinstance(loaded, AugmentPipe) and float(loaded.p) == 0.375
    assert loaded.init_kwargs == pipe.init_kwargs and np.isclose(loaded.hue, 1.0)
