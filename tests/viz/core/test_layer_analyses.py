"""The per-layer analyses through the renderer: the FFT's limit circles (a display setting: no render), the aliasing
rows of the shown latent and transform or of N seeds, and the per-layer EQ whose output entry is the EQ readout's."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch


def test_limits_on_the_fft_are_a_display_setting(renderer, sg3):
    from viz.core.overlays import LIMIT_COLOURS

    layer = 'L2_36_32'
    args = dataclasses.replace(sg3, layer_name=layer, fft_show=True)
    plain = renderer.render(args)
    assert plain.error is None and plain.limits['name'] == layer
    runs = renderer.synthesis_runs
    shown = renderer.view_from_cache(dataclasses.replace(args, fft_limits=True), plain)
    assert shown is not None and renderer.synthesis_runs == runs  # re-viewed, the generator did not run
    assert shown.fft.shape == plain.fft.shape and not np.array_equal(shown.fft, plain.fft)
    for key in ('cutoff', 'stopband', 'half_rate'):  # each limit's colour is on the picture
        assert (shown.fft.reshape(-1, 3) == LIMIT_COLOURS[key]).all(axis=1).any(), key
    # the render thread draws the same picture
    full = renderer.render(dataclasses.replace(args, fft_limits=True))
    assert np.array_equal(full.fft, shown.fft)
    # the colour bar (right of the square) is untouched
    square = plain.fft.shape[0]
    assert np.array_equal(full.fft[:, square + 8:], plain.fft[:, square + 8:])


def test_aliasing_rows_are_the_analysis_of_the_shown_latent_and_transform(renderer, sg3):
    from analysis.aliasing import aliasing_average, aliasing_table
    args = dataclasses.replace(sg3, w0_seeds=((5, 1.0),), translate_x=0.1, rotate=20.0, aliasing=True)
    res = renderer.render(args)
    assert res.error is None and res.aliasing is not None, res.messages
    G = renderer.networks.get(args.pkl, 'cpu', 'float32').G
    ws = torch.from_numpy(res.ws)[None]
    want = aliasing_table(G, ws, dict(translate=(0.1, 0.0), angle_degrees=20.0))
    assert [r['name'] for r in res.aliasing] == [r['name'] for r in want]
    for got, ref in zip(res.aliasing, want):
        for band in ('above_cutoff', 'above_stopband', 'aliases'):
            assert got[band] == pytest.approx(ref[band], rel=1e-5, abs=1e-9), (got['name'], band)
    moved = renderer.render(dataclasses.replace(args, translate_x=0.0, rotate=0.0))
    assert any(abs(a['aliases'] - b['aliases']) > 1e-6 for a, b in zip(moved.aliasing, res.aliasing))
    # N seeds: the mean over seeds 0..N-1 (the shown transform does not enter)
    avg = renderer.render(dataclasses.replace(args, aliasing_seeds=3))
    ref = aliasing_average(G, range(3), psi=1.0)
    assert avg.aliasing[-1]['above_cutoff'] == pytest.approx(ref[-1]['above_cutoff'], rel=1e-5)


def test_layer_eq_output_is_the_eq_readouts_number(renderer, sg3):
    args = dataclasses.replace(sg3, w0_seeds=((2, 1.0),), eq_readout=True, eq_transforms=2)
    for kind in ('eqt_int', 'eqt_frac', 'eqr'):
        res = renderer.render(dataclasses.replace(args, layer_eq=kind))
        assert res.error is None and res.layer_eq is not None and res.eq is not None, res.messages
        assert res.layer_eq[-1]['name'] == 'output'
        assert abs(res.layer_eq[-1]['psnr_db'] - res.eq[kind]) < 1e-3, (kind, res.layer_eq[-1], res.eq)
        assert len(res.layer_eq) == len([ly for ly in res.layers if ly.name.startswith(('input', 'L'))]) + 1


def test_layer_eq_average_matches_the_metric(renderer, sg3):
    from training.metrics.equivariance import compute_equivariance

    res = renderer.render(dataclasses.replace(sg3, layer_eq='eqt_frac', layer_eq_samples=3))
    G = renderer.networks.get(sg3.pkl, 'cpu', 'float32').G
    metric = compute_equivariance(G, 'eqt50k_frac', 3, 4, seed=0)
    assert abs(res.layer_eq[-1]['psnr_db'] - metric) < 1e-3


def test_stylegan2_gets_one_line_for_layer_eq_and_half_rates_for_aliasing(renderer, pkl_dir):
    from viz.core.render_types import RenderArgs

    args = RenderArgs(pkl=str(pkl_dir / 'tiny_sg2.pkl'), layer_eq='eqr', aliasing=True, fft_show=True,
                      fft_limits=True)
    res = renderer.render(args)
    assert res.error is None and res.layer_eq is None
    text = res.analysis_errors['layer_eq']
    assert '\n' not in text and 'no input transform' in text
    assert res.aliasing is not None and all(r['out_cutoff'] is None for r in res.aliasing)
    assert res.limits['out_half_rate'] == res.image.shape[1] / 2  # the output: s/2 of its own width


def test_a_cancelled_average_is_not_cached(renderer, sg3):
    from viz.core.analysis_cache import AnalysisControl

    calls = []

    def cancel_after_first():
        calls.append(1)
        return len(calls) > 3

    args = dataclasses.replace(sg3, aliasing=True, aliasing_seeds=7)
    res = renderer.render(args, AnalysisControl(cancel_after_first))
    assert res.aliasing is None and any('cancelled' in m for m in res.messages)
    assert renderer.analyses_pending(args)  # asked again, it computes again
    assert math.isfinite(renderer.render(args).aliasing[0]['above_cutoff'])


def test_headless_views_write_the_chart_the_table_and_the_fft_with_limits(renderer, sg3, tmp_path):
    import json

    from PIL import Image

    from viz.core.headless import render_views

    lines = []
    written, errors = render_views(dataclasses.replace(sg3, layer_name='L1_36_32', eq_transforms=1),
                                   ['aliasing', 'layer_eq'], str(tmp_path), renderer=renderer, say=lines.append)
    assert not errors, errors
    names = sorted(p.rsplit('/', 1)[-1] for p in written)
    assert names == ['aliasing.json', 'aliasing.png', 'fft_limits.png', 'layer_eq.json', 'layer_eq.png',
                     'render_info.json']
    table = json.loads((tmp_path / 'aliasing.json').read_text())
    assert [row['name'] for row in table['layers']][:2] == ['input', 'L0_36_32']
    curves = json.loads((tmp_path / 'layer_eq.json').read_text())['curves']
    assert set(curves) == {'eqt_int', 'eqt_frac', 'eqr'} and curves['eqr'][-1]['name'] == 'output'
    for name in ('aliasing.png', 'layer_eq.png', 'fft_limits.png'):
        assert np.asarray(Image.open(tmp_path / name)).std() > 5, name
    assert sum('per layer: output' in line for line in lines) == 3


def test_aliasing_of_the_shown_latent_takes_scale_shear_and_mirror_too(renderer, sg3):
    from analysis.aliasing import aliasing_table
    from ops.resample import linear_transform

    args = dataclasses.replace(sg3, w0_seeds=((4, 1.0),), aliasing=True, input_scale=1.3, shear_x=0.1,
                               mirror_x=True)
    res = renderer.render(args)
    assert res.error is None and res.aliasing is not None, res.messages
    G = renderer.networks.get(args.pkl, 'cpu', 'float32').G
    ws = torch.from_numpy(res.ws)[None]
    linear = linear_transform(1.3, (0.1, 0.0), (True, False))
    want = aliasing_table(G, ws, dict(translate=(0.0, 0.0), angle_degrees=0.0, linear=linear))
    plain = aliasing_table(G, ws, None)
    assert res.aliasing[3]['above_cutoff'] == pytest.approx(want[3]['above_cutoff'], rel=1e-5)
    assert res.aliasing[3]['above_cutoff'] != pytest.approx(plain[3]['above_cutoff'], rel=1e-3)
