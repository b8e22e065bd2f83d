"""Equivariance per layer: known answers on a stand-in generator made of pure integer shifts, the output entry
against the EQ metric on tiny StyleGAN3-T / -R networks, the layer list against the visualizer's, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analysis.layer_eq import OUTPUT, layer_equivariance, layer_equivariance_average
from networks.errors import UserError
from tests.tiny_networks import tiny_generator
from training.metrics.equivariance import compute_equivariance

METRICS = {'eqt_int': 'eqt50k_int', 'eqt_frac': 'eqt50k_frac', 'eqr': 'eqr50k'}


# --- a stand-in generator whose every map is a window of a fixed pattern, moved by whole layer pixels ----------
class _Mapping(torch.nn.Module):
    def __init__(self, z_dim: int, w_dim: int, num_ws: int) -> None:
        super().__init__()
        self.num_ws = num_ws
        self.weight = torch.nn.Parameter(torch.randn([w_dim, z_dim], generator=torch.Generator().manual_seed(1)))
        self.register_buffer('w_avg', torch.zeros(w_dim))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        return (z @ self.weight.t()).unsqueeze(1).repeat(1, self.num_ws, 1)


class _Window(torch.nn.Module):
    """A [C, size, size] window of a fixed random pattern, moved by `scale` * t * sampling_rate pixels rounded
    (scale 1: exactly equivariant wherever that is a whole number), times a gain the latent sets. With
    `noisy_edge` n, the outermost n pixels of the map are fresh noise on every call (as boundary effects are)."""

    REACH = 16  # the pattern's room for shifts, in pixels each way

    def __init__(self, sampling_rate: int, size: int, seed: int, scale: float = 1.0, noisy_edge: int = 0):
        super().__init__()
        self.sampling_rate, self.size, self.scale, self.noisy_edge = sampling_rate, size, scale, noisy_edge
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer('pattern', torch.randn([4, size + 2 * self.REACH, size + 2 * self.REACH], generator=gen))

    def window(self, t: tuple[float, float]) -> torch.Tensor:
        kx, ky = (round(self.scale * v * self.sampling_rate) for v in t)
        r, n = self.REACH, self.size
        return self.pattern[:, r - ky:r - ky + n, r - kx:r - kx + n]

    def forward(self, w: torch.Tensor, t: tuple[float, float]) -> torch.Tensor:
        x = self.window(t).unsqueeze(0) * (1 + w[:, :1, None, None].abs())
        if self.noisy_edge:
            n = self.noisy_edge
            keep = torch.zeros_like(x)
            keep[..., n:self.size - n, n:self.size - n] = 1
            x = x * keep + torch.randn_like(x) * (1 - keep)
        return x


class _Input(_Window):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer('transform', torch.eye(3))  # the inverse of the user's transform, as StyleGAN3's


class _Synthesis(torch.nn.Module):
    def __init__(self, l0_scale: float, noisy_edge: int) -> None:
        super().__init__()
        self.input = _Input(8, 16, seed=10)                      # rate 8, margin 4
        self.L0 = _Window(16, 24, seed=11, scale=l0_scale, noisy_edge=noisy_edge)  # rate 16, margin 4
        self.L1 = _Window(16, 16, seed=12)                       # rate 16 = the output's, no margin

    def forward(self, ws, noise_mode='const', **_kwargs):
        t = (-float(self.input.transform[0, 2]), -float(self.input.transform[1, 2]))
        self.input(ws[:, 0], t)
        self.L0(ws[:, 1], t)
        return self.L1(ws[:, 2], t) * 0.5


class ShiftGenerator(torch.nn.Module):
    def __init__(self, l0_scale: float = 1.0, noisy_edge: int = 0) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.img_resolution, self.img_channels, self.num_ws = 4, 0, 4, 16, 4, 3
        self.mapping = _Mapping(4, 4, 3)
        self.synthesis = _Synthesis(l0_scale, noisy_edge)
        self.requires_grad_(False)


def _ws(G, seed=0):
    z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(seed))
    return G.mapping(z, torch.zeros([1, G.c_dim]))


def test_exact_integer_shifts_are_at_the_float_ceiling():
    G = ShiftGenerator()
    rows = layer_equivariance(G, _ws(G), 'eqt_int', (0.25, -0.125))  # 2 / -1 px at rate 8, 4 / -2 px at 16
    assert [r['name'] for r in rows] == ['input', 'L0', 'L1', OUTPUT]
    assert [r['sampling_rate'] for r in rows] == [8, 16, 16, 16] and [r['size'] for r in rows] == [16, 24, 16, 16]
    for r in rows:
        assert r['psnr_db'] == math.inf and r['sq_err'] == 0 and r['count'] > 0 and r['operator'] == 'integer', r
    torch.testing.assert_close(G.synthesis.input.transform, torch.eye(3), rtol=0, atol=0)  # restored


def test_half_a_layer_pixel_gets_the_fractional_operator():
    """1/16 of the image is one pixel at rate 16 but half a pixel at rate 8: no exact integer shift there."""
    G = ShiftGenerator()
    rows = {r['name']: r for r in layer_equivariance(G, _ws(G), 'eqt_int', (1 / 16, 0.0))}
    assert rows['input']['operator'] == 'fractional' and math.isfinite(rows['input']['psnr_db'])
    assert all(rows[n]['operator'] == 'integer' and rows[n]['psnr_db'] == math.inf for n in ('L0', 'L1', OUTPUT))


def test_a_layer_moving_by_the_wrong_amount_gets_the_known_psnr():
    """L0 moves its content 1.5 times too far: its PSNR, recomputed here by slicing, is what the definition says."""
    G = ShiftGenerator(l0_scale=1.5)
    ws = _ws(G, 3)
    t = (0.25, -0.125)
    rows = {r['name']: r for r in layer_equivariance(G, ws, 'eqt_int', t)}
    assert rows['input']['psnr_db'] == math.inf and rows[OUTPUT]['psnr_db'] == math.inf

    gain = float(1 + ws[0, 1, 0].abs())
    layer = G.synthesis.L0
    orig = layer.window((0.0, 0.0)).double().numpy() * gain     # [C, 24, 24]
    moved = layer.window(t).double().numpy() * gain             # content moved by (6, -3) px instead of (4, -2)
    kx, ky = 4, -2
    ref = np.zeros_like(orig)
    ref[:, max(ky, 0):24 + min(ky, 0), max(kx, 0):24 + min(kx, 0)] = \
        orig[:, max(-ky, 0):24 + min(-ky, 0), max(-kx, 0):24 + min(-kx, 0)]
    mask = np.zeros_like(orig)
    mask[:, max(ky, 4):min(24 + ky, 20), max(kx, 4):min(24 + kx, 20)] = 1  # source inside, central 16 px
    count = mask.sum()
    mse = ((ref - moved) ** 2 * mask).sum() / count
    ms_layer = (ref ** 2 * mask).sum() / count

    out = G.synthesis.L1.window((0.0, 0.0)).double().numpy() * float(1 + ws[0, 2, 0].abs()) * 0.5
    ox, oy = 4, -2
    out_ref = out[:, max(-oy, 0):16 + min(-oy, 0), max(-ox, 0):16 + min(-ox, 0)]  # the valid part of the shift
    ms_out = (out_ref ** 2).mean()
    expected = 20 * math.log10(2) - 10 * math.log10(mse * ms_out / ms_layer)
    assert rows['L0']['count'] == count
    assert rows['L0']['psnr_db'] == pytest.approx(expected, abs=1e-4)
    assert rows['L0']['psnr_db'] < 30


def test_the_margin_is_left_out_unless_asked_for():
    """A layer whose outer 2 pixels are noise (its margin is 4) is exact over the part that covers the image after
    a shift of 2 pixels, and not over the whole map."""
    G = ShiftGenerator(noisy_edge=2)
    ws = _ws(G)
    central = {r['name']: r for r in layer_equivariance(G, ws, 'eqt_int', (0.125, 0.0))}
    whole = {r['name']: r for r in layer_equivariance(G, ws, 'eqt_int', (0.125, 0.0), crop_margin=False)}
    assert central['L0']['psnr_db'] == math.inf and central['L0']['count'] == 4 * 16 * 16
    assert whole['L0']['psnr_db'] < 20 and whole['L0']['count'] == 4 * 24 * 22
    assert whole[OUTPUT] == central[OUTPUT]


# --- tiny StyleGAN3 networks ---------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def nets():
    torch.set_num_threads(1)
    return {kind: tiny_generator(kind, 32, seed=0) for kind in ('sg3', 'sg3r')}


@pytest.mark.parametrize('net', ['sg3', 'sg3r'])
@pytest.mark.parametrize('kind', ['eqt_int', 'eqt_frac', 'eqr'])
def test_output_entry_equals_the_metric(nets, net, kind):
    G = nets[net]
    drawn, metric_drawn = [], []
    rows = layer_equivariance_average(G, kind, num_samples=5, seed=7, batch_size=2, transforms_out=drawn)
    metric = compute_equivariance(G, METRICS[kind], 5, 2, seed=7, transforms_out=metric_drawn)
    assert drawn == metric_drawn and len(drawn) == 5
    assert rows[-1]['name'] == OUTPUT and rows[-1]['num_samples'] == 5
    assert abs(rows[-1]['psnr_db'] - metric) < 1e-3
    # The last layer is the output before its fixed scale of 0.25: the normalised PSNR does not see the scale.
    assert rows[-2]['psnr_db'] == pytest.approx(rows[-1]['psnr_db'], abs=1e-6)
    assert rows[-2]['sq_ref'] == pytest.approx(16 * rows[-1]['sq_ref'], rel=1e-5)


@pytest.mark.parametrize('net', ['sg3', 'sg3r'])
def test_live_curve_output_equals_the_eq_readout(nets, net):
    """The window's live curve uses the EQ readout's transforms for the shown latent: its output entry is the
    readout's number for each kind, and every layer is scored on the same draws."""
    from analysis.layer_eq import layer_equivariance_readout, readout_transforms
    from training.metrics.equivariance import equivariance_readout

    G = nets[net]
    ws = G.mapping(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(3)), None)
    readout = equivariance_readout(G, ws, num_transforms=3, seed=0)
    for kind in ('eqt_int', 'eqt_frac', 'eqr'):
        rows = layer_equivariance_readout(G, ws, kind, num_transforms=3, seed=0)
        assert rows[-1]['name'] == OUTPUT and rows[-1]['num_transforms'] == 3
        assert abs(rows[-1]['psnr_db'] - readout[kind]) < 1e-3, (kind, rows[-1]['psnr_db'], readout[kind])
        # the sums are those of one layer_equivariance per drawn transform
        params = readout_transforms(kind, 3, int(G.img_resolution), seed=0)
        single = [layer_equivariance(G, ws, kind, p) for p in params]
        for i, row in enumerate(rows):
            assert row['sq_err'] == pytest.approx(sum(s[i]['sq_err'] for s in single), rel=1e-9)
            assert row['count'] == sum(s[i]['count'] for s in single)
    # the three kinds draw different transforms (a later kind's come after the earlier kinds' draws)
    assert readout_transforms('eqt_int', 3, 32) != readout_transforms('eqt_frac', 3, 32)


def test_names_shapes_and_rates_are_the_networks(nets):
    from viz.core.synthesis import list_layers

    G = nets['sg3']
    rows = layer_equivariance(G, _ws(G), 'eqr', 0.3)
    layers = list_layers(G, torch.device('cpu'))
    assert [r['name'] for r in rows] == [layer.name for layer in layers]
    assert [tuple(r['shape']) for r in rows] == [layer.shape[1:] for layer in layers]
    s = G.synthesis
    # The input samples at the first layer's rate and size; layer i at sampling_rates[i] and sizes[i].
    assert [r['sampling_rate'] for r in rows] == [s.sampling_rates[0], *s.sampling_rates, G.img_resolution]
    assert [r['size'] for r in rows] == [s.sizes[0], *s.sizes, G.img_resolution]


def test_rotation_is_kept_through_the_layers_by_r_and_not_by_t(nets):
    """The paper's claim, on tiny untrained networks: T loses rotation equivariance from the first layer on,
    R keeps it through every layer."""
    curves = {net: layer_equivariance_average(nets[net], 'eqr', num_samples=3, seed=1, batch_size=3)
              for net in ('sg3', 'sg3r')}
    for t_row, r_row in zip(curves['sg3'][1:], curves['sg3r'][1:]):
        assert r_row['psnr_db'] > t_row['psnr_db'] + 15, (t_row, r_row)


def test_control_is_checked_and_told_the_progress(nets):
    G = nets['sg3']

    class Stop(Exception):
        pass

    class Control:
        def __init__(self, stop_after=None):
            self.checks, self.reports, self.stop_after = 0, [], stop_after

        def check(self):
            self.checks += 1
            if self.stop_after is not None and self.checks > self.stop_after:
                raise Stop

        def report(self, what, done, total):
            self.reports.append((what, done, total))

    control = Control()
    layer_equivariance_average(G, 'eqt_frac', num_samples=3, batch_size=2, control=control)
    assert control.reports[0] == ('layer EQ', 0, 3) and control.reports[-1] == ('layer EQ', 3, 3)
    assert control.checks >= 5 * 16  # inside every layer of the 2 batched and 3 transformed passes
    G.synthesis.input.transform.copy_(torch.tensor([[1.0, 0, 0.1], [0, 1, 0], [0, 0, 1]]))
    before = G.synthesis.input.transform.clone()
    with pytest.raises(Stop):
        layer_equivariance_average(G, 'eqr', num_samples=3, control=Control(stop_after=20))
    assert torch.equal(G.synthesis.input.transform, before)  # the user's transform is back after a cancel
    G.synthesis.input.transform.copy_(torch.eye(3))


def test_stylegan2_and_bad_arguments_are_one_line_user_errors(nets):
    G2 = tiny_generator('sg2', 16, seed=0)
    for call in (lambda: layer_equivariance(G2, _ws(G2), 'eqt_int', (0.1, 0)),
                 lambda: layer_equivariance_average(G2, 'eqr', 2)):
        with pytest.raises(UserError, match='has none') as err:
            call()
        assert 'input transform' in str(err.value) and '\n' not in str(err.value)
    G = nets['sg3']
    for call, needle in ((lambda: layer_equivariance(G, _ws(G), 'eqx', 0.1), 'unknown equivariance kind'),
                         (lambda: layer_equivariance(G, _ws(G), 'eqr', (1, 2)), 'angle in radians'),
                         (lambda: layer_equivariance(G, _ws(G), 'eqt_frac', 0.1), '(tx, ty)'),
                         (lambda: layer_equivariance(G, _ws(G), 'eqt_frac', (math.nan, 0)), 'finite'),
                         (lambda: layer_equivariance(G, torch.cat([_ws(G)] * 2), 'eqr', 0.1), 'one latent'),
                         (lambda: layer_equivariance_average(G, 'eqr', 0), 'at least 1')):
        with pytest.raises(UserError, match=None) as err:
            call()
        assert needle in str(err.value) and '\n' not in str(err.value)


def test_chart_draws_every_curve_and_puts_no_error_on_the_top_edge():
    from analysis.layer_eq import layer_eq_figure, layer_eq_png

    G = ShiftGenerator(l0_scale=1.5)
    exact = layer_equivariance(ShiftGenerator(), _ws(G), 'eqt_int', (0.25, 0.0))   # all +inf
    wrong = layer_equivariance(G, _ws(G), 'eqt_int', (0.25, 0.0))                  # L0 finite
    fig = layer_eq_figure([('exact', 'eqt_int', exact), ('wrong', 'eqt_int', wrong)], 'title')
    try:
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ['exact: EQ-T', 'wrong: EQ-T']
        top = ax.get_ylim()[1]
        markers = [line for line in ax.get_lines() if line.get_marker() == '^']
        assert len(markers) == 2 and all(max(line.get_ydata()) < top for line in markers)
        assert [t.get_text() for t in ax.get_xticklabels()] == ['input', 'L0', 'L1', OUTPUT]
    finally:
        import matplotlib.pyplot as plt
        plt.close(fig)
    assert layer_eq_png([('exact', 'eqt_int', exact)]).startswith(b'\x89PNG\r\n\x1a\n')
