"""Aliasing per layer: the limits against the paper's schedule and the layers' attributes (StyleGAN3-T and -R, ours
and NVlabs' pickles, StyleGAN2), the band fractions of maps with known spectra, and the table's one forward pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analysis.aliasing import (
    BANDS,
    aliasing_average,
    aliasing_table,
    band_fractions,
    layer_limits,
    table_csv,
    table_json,
)
from networks.conventions import ClassError, seed_latent
from networks.errors import UserError
from tests.tiny_networks import tiny_generator

RES = 32


@pytest.fixture(scope='module')
def nets():
    torch.set_num_threads(1)
    return {kind: tiny_generator(kind, RES, channel_base=256, channel_max=16, seed=0)
            for kind in ('sg3', 'sg3r', 'sg2')}


# --- the limits ------------------------------------------------------------------------------------------------
def paper_schedule(res: int, num_layers: int = 14, num_critical: int = 2, margin: int = 10) -> list[dict]:
    """The StyleGAN3 schedule of /work/shared/DESIGN.md, written out here: (s, fc, filter stopband edge, size)."""
    out = []
    for i in range(num_layers + 1):
        e = min(i / (num_layers - num_critical), 1.0)
        fc = 2 * (res / 2 / 2) ** e
        ft = 2 ** 2.1 * (res / 2 * 2 ** 0.3 / 2 ** 2.1) ** e
        s = 2.0 ** math.ceil(math.log2(min(2 * ft, res)))
        half_width = max(ft, s / 2) - fc
        size = res if i >= num_layers - 1 else s + 2 * margin
        out.append(dict(s=s, fc=fc, edge=fc + half_width, size=size))
    return out


@pytest.mark.parametrize('kind', ['sg3', 'sg3r'])
def test_stylegan3_limits_are_the_paper_schedule_and_the_layer_attributes(nets, kind):
    from viz.core.synthesis import list_layers

    G = nets[kind]
    rows = layer_limits(G)
    paper = paper_schedule(RES)
    assert [r['name'] for r in rows] == ['input', *G.synthesis.layer_names]
    listed = [info.name for info in list_layers(G, torch.device('cpu'))]
    assert [r['name'] for r in rows] == [n for n in listed if n != 'output']   # the layer view's names
    # the input: the schedule's first entry
    assert rows[0]['kind'] == 'input' and rows[0]['in_sampling_rate'] is None
    assert rows[0]['out_sampling_rate'] == paper[0]['s'] and rows[0]['out_cutoff'] == pytest.approx(paper[0]['fc'])
    assert rows[0]['out_stopband'] == pytest.approx(paper[0]['edge'])
    for i, row in enumerate(rows[1:]):
        prev, cur = paper[max(i - 1, 0)], paper[i]
        assert row['in_sampling_rate'] == prev['s'] and row['out_sampling_rate'] == cur['s']
        assert row['in_cutoff'] == pytest.approx(prev['fc']) and row['out_cutoff'] == pytest.approx(cur['fc'])
        assert row['in_stopband'] == pytest.approx(prev['edge']) and row['out_stopband'] == pytest.approx(cur['edge'])
        assert row['in_half_rate'] == prev['s'] / 2 and row['out_half_rate'] == cur['s'] / 2
        assert row['size'] == cur['size'] and row['margin'] == (cur['size'] - cur['s']) / 2
        # and the same values read straight off the module
        layer = getattr(G.synthesis, row['name'])
        assert row['out_cutoff'] == layer.out_cutoff and row['in_cutoff'] == layer.in_cutoff
        assert row['out_stopband'] == layer.out_cutoff + layer.out_half_width
        assert row['in_stopband'] == layer.in_cutoff + layer.in_half_width
        assert (row['in_sampling_rate'], row['out_sampling_rate']) == (layer.in_sampling_rate,
                                                                       layer.out_sampling_rate)
        assert row['size'] == layer.out_size[0] and row['channels'] == layer.out_channels
        assert row['critically_sampled'] == layer.is_critically_sampled
        assert row['kind'] == ('torgb' if layer.is_torgb else 'layer')
    margins = [r['margin'] for r in rows]
    assert margins == [G.synthesis.margin_size] * (len(rows) - 2) + [0, 0]   # the last layer and ToRGB have none
    assert [r['next_half_rate'] for r in rows] == [r['out_half_rate'] for r in rows[1:]] + [RES / 2]
    assert {r['out_sampling_rate'] for r in rows} == {16.0, 32.0}   # both rates occur at 32 px


def test_nvlabs_pickle_gives_the_same_limits(nets, tmp_path):
    from networks import load_generator
    from tests.networks.nvlabs_fake import dump_nvlabs_pickle

    for kind in ('sg3', 'sg3r'):
        path = tmp_path / f'{kind}-nvlabs.pkl'
        dump_nvlabs_pickle(path, nets[kind])
        loaded = load_generator(path)
        assert layer_limits(loaded) == layer_limits(nets[kind])
        ws = loaded.mapping(seed_latent(loaded, 3), None)
        assert aliasing_table(loaded, ws) == aliasing_table(nets[kind], ws)


def test_stylegan2_has_sampling_rates_only(nets):
    rows = layer_limits(nets['sg2'])
    names = ['b4.conv1', 'b4.torgb']
    for res in (8, 16, 32):
        names += [f'b{res}.conv0', f'b{res}.conv1', f'b{res}.torgb']
    assert [r['name'] for r in rows] == names
    for row in rows:
        res = int(row['name'][1:].split('.')[0])
        assert row['out_sampling_rate'] == res and row['out_half_rate'] == res / 2 and row['margin'] == 0
        assert row['in_sampling_rate'] == (res / 2 if row['name'].endswith('conv0') else res)
        for key in ('in_cutoff', 'in_stopband', 'out_cutoff', 'out_stopband', 'critically_sampled'):
            assert row[key] is None
    assert rows[0]['next_half_rate'] == 2 and rows[1]['next_half_rate'] == 4 and rows[-1]['next_half_rate'] == 16
    table = aliasing_table(nets['sg2'], nets['sg2'].mapping(seed_latent(nets['sg2'], 0), None))
    for row in table:
        assert row['above_cutoff'] is None and row['above_stopband'] is None and 0 <= row['aliases'] <= 1
    # a torgb feeds an upsampling (its next layer runs at twice its rate): nothing it holds can fold there
    assert all(r['aliases'] == 0 for r in table if r['name'].endswith('torgb') and r is not table[-1])


def test_not_a_synthesis_network_is_refused():
    class Other(torch.nn.Module):
        synthesis = torch.nn.Identity()

    with pytest.raises(UserError, match='StyleGAN2 or StyleGAN3'):
        layer_limits(Other())


# --- band fractions of known spectra -------------------------------------------------------------------------
N = 64


def cosines(tones, size=N, channels=1, margin=0, s=None, phase=0.4):
    """[channels, size + 2 margin, ...] sum of a * cos(2 pi (fx x + fy y) / s + phase) for (a, fx, fy) in tones
    (f in cycles per `s` px, default `size`), over x, y of the central size x size px; the margin is loud noise."""
    s = size if s is None else s
    grid = torch.arange(size + 2 * margin, dtype=torch.float64) - margin
    y, x = torch.meshgrid(grid, grid, indexing='ij')
    out = torch.zeros([channels, size + 2 * margin, size + 2 * margin], dtype=torch.float64)
    for c in range(channels):
        for a, fx, fy in tones:
            out[c] += a * torch.cos(2 * math.pi * (fx * x + fy * y) / s + phase * (c + 1))
    if margin:
        noise = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 100
        inside = torch.zeros_like(out, dtype=torch.bool)
        inside[:, margin:-margin, margin:-margin] = True
        out = torch.where(inside, out, noise)
    return out


def test_energy_only_below_a_frequency_gives_nothing_above_it():
    """Integer frequencies in the disc |f| <= 6 on a 64 px crop inside a margin of loud noise: without window or
    padding (the tones are periodic on the crop) nothing lies above 6, to float32 rounding; with the default
    Kaiser window and padding, nothing beyond its main lobe (3 cycles)."""
    gen = torch.Generator().manual_seed(0)
    tones = []
    for fx in range(-6, 7):
        for fy in range(0, 7):
            if 0 < fx * fx + fy * fy <= 36:
                tones.append((float(torch.rand([], generator=gen)), fx, fy))
    x = cosines(tones, channels=3, margin=8)
    exact = band_fractions(x, N, 6.0, 6.0, 6.0, margin=8, beta=0.0, padding=1)
    assert all(v < 1e-12 for v in exact.values()), exact   # float32 rounding
    below = band_fractions(x, N, 5.99, 5.99, 5.99, margin=8, beta=0.0, padding=1)
    assert all(v > 0.01 for v in below.values()), below   # the disc's rim is there
    windowed = band_fractions(x, N, 9.0, 12.0, 20.0, margin=8)
    assert all(v < 1e-6 for v in windowed.values()), windowed
    uncropped = band_fractions(x, N, 9.0, 12.0, 20.0, margin=0)
    assert uncropped['aliases'] > 0.1   # the noise of the margin is left out only by the crop


def test_fractions_of_two_tones_are_their_share_of_the_energy():
    """a cos(f1) + b cos(f2), f1 below the limit and f2 above: the fraction above is b^2 / (a^2 + b^2) (Parseval;
    periodic tones, no window)."""
    a, b = 3.0, 0.5
    x = cosines([(a, 4, 0), (b, 0, 17)], channels=2)
    got = band_fractions(x, N, 10.0, 16.5, 17.5, beta=0.0, padding=1)
    share = b * b / (a * a + b * b)
    assert got['above_cutoff'] == pytest.approx(share, rel=1e-6)
    assert got['above_stopband'] == pytest.approx(share, rel=1e-6)
    assert got['aliases'] < 1e-12


def test_the_measure_is_ops_spectrum_definition():
    """The fractions from `ops.spectrum.power_spectrum_sum` (full complex FFT in float64) of the same crop, summed
    here over a radial grid of the whole plane: the real FFT in float32 and the channel chunks change nothing."""
    from ops.spectrum import power_spectrum_sum

    gen = torch.Generator().manual_seed(3)
    x = torch.randn([2, 70, 30, 30], generator=gen).cumsum(dim=2).cumsum(dim=3)   # red spectrum, 70 channels
    margin, s, padding = 5, 20, 2
    spec = power_spectrum_sum(x[..., margin:-margin, margin:-margin].double(), beta=8.0, padding=padding)
    f = torch.fft.fftfreq(s * padding, dtype=torch.float64) * s
    radius = (f[:, None].square() + f[None, :].square()).sqrt()
    got = band_fractions(x, s, 3.0, 6.5, 9.0, margin=margin, padding=padding)
    for key, limit in zip(BANDS, (3.0, 6.5, 9.0)):
        assert got[key] == pytest.approx(float(spec[radius > limit].sum() / spec.sum()), rel=1e-4), key
    assert 1e-6 < got['aliases'] < got['above_stopband'] < got['above_cutoff'] < 0.5


@pytest.mark.parametrize('fx, fy, expected', [
    (5, 0, (0, 0, 0)),       # below fc
    (15, 0, (1, 0, 0)),      # between fc and ft
    (0, 23, (1, 1, 0)),      # between ft and the next s/2
    (29, 0, (1, 1, 1)),      # beyond the next s/2
    (20, 20, (1, 1, 1)),     # each axis below 26, radially 28.3: beyond it (the measure is radial)
    (12.5, -3.5, (1, 0, 0)),  # not on a bin: 13.0 cycles
])
def test_a_tone_lands_in_its_band(fx, fy, expected):
    """fc 10, ft 20, next s/2 26 cycles per image width; the default window and padding; every tone at least 3
    cycles (the window's main lobe) from a band edge."""
    got = band_fractions(cosines([(1.0, fx, fy)]), N, 10.0, 20.0, 26.0)
    for key, want in zip(BANDS, expected):
        assert abs(got[key] - want) < 1e-3, (key, got)


def test_default_padding_gives_small_maps_fine_bins():
    from analysis.aliasing import auto_padding

    assert [auto_padding(n, n) for n in (1, 4, 16, 30, 64, 128, 1024)] == [8, 8, 8, 5, 2, 1, 1]
    assert auto_padding(64, 16) == 8   # the short side decides
    x = torch.randn([3, 20, 20], generator=torch.Generator().manual_seed(0))
    assert band_fractions(x, 16, 3.0, 5.0, 7.0, margin=2) == band_fractions(x, 16, 3.0, 5.0, 7.0, margin=2,
                                                                            padding=8)
    assert band_fractions(x, 16, 3.0, 5.0, 7.0, margin=2) != band_fractions(x, 16, 3.0, 5.0, 7.0, margin=2,
                                                                            padding=2)


def test_frequencies_are_in_cycles_per_image_width():
    """The same 64 px of a tone of 20 cycles per 64 px, read as two image widths (s = 32): 10 cycles per width."""
    x = cosines([(1.0, 20, 0)])
    assert band_fractions(x, 64, 15.0, None, None)['above_cutoff'] > 0.999
    as_two_widths = band_fractions(x, 32, 15.0, None, None)
    assert as_two_widths['above_cutoff'] < 1e-5 and as_two_widths['above_stopband'] is None
    assert band_fractions(x, 32, 7.0, None, None)['above_cutoff'] > 0.999


def test_constant_and_hostile_maps():
    flat = band_fractions(torch.full([2, 16, 16], 3.0), 16, 2.0, 4.0, None)
    assert math.isnan(flat['above_cutoff']) and math.isnan(flat['above_stopband']) and flat['aliases'] is None
    with pytest.raises(ValueError, match='margin'):
        band_fractions(torch.zeros([1, 16, 16]), 16, 2.0, 4.0, 8.0, margin=8)
    with pytest.raises(ValueError, match='feature map'):
        band_fractions(torch.zeros([16, 16]), 16, 2.0, 4.0, 8.0)
    batch = cosines([(1.0, 15, 0)]).expand(3, 1, N, N)   # [N, C, H, W]: the images pool their energy
    assert band_fractions(batch, N, 10.0, 20.0, 26.0)['above_cutoff'] > 0.999


# --- the table: one hooked pass ----------------------------------------------------------------------------------
def _count_calls(module: torch.nn.Module) -> tuple[list, object]:
    calls = []
    return calls, module.register_forward_pre_hook(lambda _m, _i: calls.append(1))


@pytest.mark.parametrize('kind', ['sg3', 'sg3r', 'sg2'])
def test_table_is_one_forward_pass_and_measures_each_layer_output(nets, kind):
    from viz.core.synthesis import run_synthesis

    G = nets[kind]
    ws = G.mapping(seed_latent(G, 1), None)
    calls, handle = _count_calls(G.synthesis)
    mapping_calls, mapping_handle = _count_calls(G.mapping)
    try:
        table = aliasing_table(G, ws)
    finally:
        handle.remove()
        mapping_handle.remove()
    assert len(calls) == 1 and not mapping_calls
    assert [{k: r[k] for k in r if k not in BANDS} for r in table] == layer_limits(G)
    for row in (table[1], table[len(table) // 2], table[-1]):   # the hooked value is the layer output's
        captured = run_synthesis(G, ws, capture_layer=row['name'])
        again = band_fractions(captured, row['out_sampling_rate'], row['out_cutoff'], row['out_stopband'],
                               row['next_half_rate'], row['margin'])
        assert {k: row[k] for k in BANDS} == again
    assert not any(m._forward_hooks for m in G.synthesis.modules())   # every hook removed


def test_table_applies_the_transform_for_its_pass_only(nets):
    from ops.resample import user_transform

    G = nets['sg3']
    ws = G.mapping(seed_latent(G, 2), None)
    seen = []
    handle = G.synthesis.input.register_forward_pre_hook(
        lambda _m, _i: seen.append(G.synthesis.input.transform.clone()))
    try:
        moved = aliasing_table(G, ws, dict(translate=(0.125, -0.25), angle_degrees=30.0))
        still = aliasing_table(G, ws)
    finally:
        handle.remove()
    expected = torch.from_numpy(np.linalg.inv(user_transform((0.125, -0.25), 30.0))).float()
    torch.testing.assert_close(seen[0], expected)
    torch.testing.assert_close(seen[1], torch.eye(3))
    torch.testing.assert_close(G.synthesis.input.transform, torch.eye(3))
    assert [r['above_cutoff'] for r in moved] != [r['above_cutoff'] for r in still]
    with pytest.raises(UserError, match='no input transform'):
        aliasing_table(nets['sg2'], nets['sg2'].mapping(seed_latent(nets['sg2'], 0), None),
                       dict(angle_degrees=10.0))
    aliasing_table(nets['sg2'], nets['sg2'].mapping(seed_latent(nets['sg2'], 0), None),
                   dict(translate=(0, 0), angle_degrees=0.0))   # the identity is no transform: accepted


# --- the average over seeds --------------------------------------------------------------------------------------
def test_average_is_the_mean_of_the_seeds_tables_with_progress(nets):
    G = nets['sg3r']
    progress = []
    average = aliasing_average(G, [4, 5, 6], psi=0.7, control=lambda done, total: progress.append((done, total)))
    assert progress == [(0, 3), (1, 3), (2, 3), (3, 3)]
    tables = [aliasing_table(G, G.mapping(seed_latent(G, s), None, truncation_psi=0.7)) for s in (4, 5, 6)]
    for i, row in enumerate(average):
        for key in BANDS:
            assert row[key] == pytest.approx(np.mean([t[i][key] for t in tables]), rel=1e-9)
    assert average[0]['name'] == 'input'


class _Control:
    """The renderer's kind of control: check() raises once `stop_after` checks have passed."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after, self.checks, self.reports = stop_after, 0, []

    def check(self) -> None:
        self.checks += 1
        if self.stop_after is not None and self.checks > self.stop_after:
            raise KeyboardInterrupt('stopped')

    def report(self, what: str, done: int, total: int) -> None:
        self.reports.append((what, done, total))


def test_average_reports_and_stops_within_a_layer(nets):
    G = nets['sg3']
    control = _Control()
    aliasing_average(G, [0, 1], control=control)
    layers = len(layer_limits(G))
    assert control.reports == [('aliasing', 0, 2), ('aliasing', 1, 2), ('aliasing', 2, 2)]
    assert control.checks == 2 * (1 + layers)   # before each seed and each layer
    stopping = _Control(stop_after=1 + layers + 3)   # in the second seed's third layer
    with pytest.raises(KeyboardInterrupt):
        aliasing_average(G, [0, 1], control=stopping)
    assert stopping.reports == [('aliasing', 0, 2), ('aliasing', 1, 2)]
    assert not any(m._forward_hooks for m in G.synthesis.modules())
    torch.testing.assert_close(G.synthesis.input.transform, torch.eye(3))


def test_average_refuses_what_it_cannot_do(nets):
    with pytest.raises(UserError, match='no seeds'):
        aliasing_average(nets['sg3'], [])
    with pytest.raises(ClassError, match='unconditional'):
        aliasing_average(nets['sg3'], [0], class_idx=1)
    with pytest.raises(TypeError, match='control'):
        aliasing_average(nets['sg3'], [0], control=3)


def test_files_hold_the_table(nets):
    import csv
    import io
    import json

    G = nets['sg3']
    rows = aliasing_table(G, G.mapping(seed_latent(G, 0), None))
    rows[1]['above_cutoff'] = math.nan   # a flat layer: null in JSON, not NaN (which JSON has not)
    record = json.loads(table_json(rows, network='x.pkl', seeds=[0]))
    assert record['network'] == 'x.pkl' and 'Kaiser' in record['definition']
    assert record['layers'][1]['above_cutoff'] is None and record['layers'][2] == rows[2]
    lines = list(csv.DictReader(io.StringIO(table_csv(rows))))
    assert [line['name'] for line in lines] == [r['name'] for r in rows]
    assert float(lines[3]['aliases']) == rows[3]['aliases'] and lines[0]['in_cutoff'] == ''


def test_chart_draws_every_positive_fraction_above_its_floor(nets):
    import matplotlib.pyplot as plt

    from analysis.aliasing import aliasing_figure

    rows = [dict(name='a', above_cutoff=0.5, above_stopband=3e-9, aliases=0.0),
            dict(name='b', above_cutoff=math.nan, above_stopband=2e-3, aliases=1e-20)]
    fig = aliasing_figure(rows, 'title')
    try:
        ax = fig.axes[0]
        assert ax.get_ylim() == pytest.approx((1e-12, 1.0))   # 1e-20 is below the lowest floor
        heights = [patch.get_height() for patch in ax.patches]
        assert heights == [0.5, 0.0, 3e-9, 2e-3, 0.0, 1e-12]   # band by band; 0 and NaN: no bar
        assert [t.get_text() for t in ax.get_legend().get_texts()][2].endswith('(aliases)')
    finally:
        plt.close(fig)
    sg2 = aliasing_table(nets['sg2'], nets['sg2'].mapping(seed_latent(nets['sg2'], 0), None))
    fig = aliasing_figure(sg2)
    try:   # StyleGAN2: only the aliases, one bar per layer
        assert len(fig.axes[0].patches) == len(sg2) and len(fig.axes[0].get_legend().get_texts()) == 1
    finally:
        plt.close(fig)
