"""python -m tools.layer_eq on tiny NVlabs-format StyleGAN3-T and -R pickles: the files it writes, its output row
against tools.calc_metrics on the same samples, and bad input in one line with nothing written."""

from __future__ import annotations

import csv
import json
import math
import os

import PIL.Image
import pytest
import torch

from tests.networks.nvlabs_fake import dump_nvlabs_pickle
from tests.tiny_networks import tiny_generator
from tools import calc_metrics, layer_eq


@pytest.fixture(scope='module')
def pkls(tmp_path_factory) -> dict:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('layer_eq')
    paths = {}
    for kind in ('sg3', 'sg3r', 'sg2'):
        paths[kind] = str(root / f'{kind}.pkl')
        dump_nvlabs_pickle(paths[kind], tiny_generator(kind, 16, channel_base=256, channel_max=16, seed=0))
    return paths


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in err, err
    return lines[0]


def test_writes_csv_json_png_and_its_output_row_is_calc_metrics(pkls, tmp_path, capsys):
    out = str(tmp_path / 'out')
    argv = ['--network', pkls['sg3'], '--network', pkls['sg3r'], '--kind', 'eqr', '--num-samples', '3', '--seed',
            '5', '--batch', '2', '--outdir', out]
    assert layer_eq.main(argv) == 0
    printed = capsys.readouterr().out
    assert 'sg3 EQ-R: output' in printed and 'sg3r EQ-R: output' in printed
    assert sorted(os.listdir(out)) == ['layer_eq.csv', 'layer_eq.json', 'layer_eq.png']  # no temporary files

    record = json.load(open(os.path.join(out, 'layer_eq.json')))
    assert (record['num_samples'], record['seed'], record['batch'], record['region']) == (3, 5, 2, 'image')
    assert [(r['label'], r['kind'], r['metric']) for r in record['results']] == [('sg3', 'eqr', 'eqr50k'),
                                                                                ('sg3r', 'eqr', 'eqr50k')]
    with open(os.path.join(out, 'layer_eq.csv'), newline='') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 17 and rows[0]['layer'] == 'input' and rows[16]['layer'] == 'output'
    for result in record['results']:
        layers = result['layers']
        assert len(layers) == 17 and layers[-1]['name'] == 'output' and layers[-1]['num_samples'] == 3
        assert all(math.isfinite(float(r['psnr_db'])) for r in layers)
        csv_rows = [r for r in rows if r['network'] == result['network']]
        assert [r['layer'] for r in csv_rows] == [r['name'] for r in layers]
        assert [float(r['psnr_db']) for r in csv_rows] == pytest.approx([r['psnr_db'] for r in layers], abs=1e-6)

        assert calc_metrics.main(['--network', result['network'], '--metrics', 'eqr50k', '--num-samples', '3',
                                  '--seed', '5', '--batch', '2', '--device', 'cpu', '--no-report']) == 0
        metric = json.loads(capsys.readouterr().out.strip().splitlines()[-1])['results']['eqr50k']
        assert abs(layers[-1]['psnr_db'] - metric) < 1e-3
    # The paper's claim on these tiny networks: R keeps rotation equivariance through the layers, T does not.
    t_layers, r_layers = (result['layers'] for result in record['results'])
    assert all(r['psnr_db'] > t['psnr_db'] + 10 for t, r in zip(t_layers[1:], r_layers[1:]))

    with PIL.Image.open(os.path.join(out, 'layer_eq.png')) as img:
        assert img.format == 'PNG' and img.size[0] > 400


def test_all_kinds_and_the_whole_map(pkls, tmp_path, capsys):
    out = str(tmp_path / 'out')
    assert layer_eq.main(['--network', pkls['sg3'], '--num-samples', '1', '--region', 'map', '--outdir', out]) == 0
    record = json.load(open(os.path.join(out, 'layer_eq.json')))
    assert [r['kind'] for r in record['results']] == ['eqt_int', 'eqt_frac', 'eqr'] and record['region'] == 'map'
    assert 'whole map' in record['definition']


@pytest.mark.parametrize('case, needle', [('missing', 'does not exist'), ('sg2', 'has no'), ('sg3+sg2', 'has no')])
def test_bad_input_is_one_line_and_writes_nothing(pkls, tmp_path, capsys, case, needle):
    out = tmp_path / 'out'
    paths = {'missing': [str(tmp_path / 'nothing.pkl')], 'sg2': [pkls['sg2']],
             'sg3+sg2': [pkls['sg3'], pkls['sg2']]}[case]
    argv = [a for p in paths for a in ('--network', p)] + ['--num-samples', '1', '--outdir', str(out)]
    assert layer_eq.main(argv) == 1
    line = _one_error_line(capsys)
    assert needle in line
    if case != 'missing':
        assert 'input transform' in line and pkls['sg2'] in line
    assert not out.exists()
