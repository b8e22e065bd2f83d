"""python -m tools.aliasing on tiny networks: the three files hold the analysis' own average, bad input is one line."""

from __future__ import annotations

import csv
import json

import PIL.Image
import pytest

from tests.tiny_networks import write_tiny_networks
from tools import aliasing as tool


@pytest.fixture(scope='module')
def nets(tmp_path_factory):
    return write_tiny_networks(tmp_path_factory.mktemp('nets'))


def test_writes_csv_json_and_png_of_the_seed_average(nets, tmp_path, capsys):
    from analysis.aliasing import aliasing_average
    from networks import load_generator

    out = tmp_path / 'out'
    assert tool.main(['--network', nets['sg3'], '--seeds', '0-1', '--trunc', '0.8', '--translate', '0.1,0',
                      '--rotate', '15', '--outdir', str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ['aliasing.csv', 'aliasing.json', 'aliasing.png']
    expected = aliasing_average(load_generator(nets['sg3']), [0, 1], 0.8,
                                dict(translate=(0.1, 0.0), angle_degrees=15.0))
    record = json.loads((out / 'aliasing.json').read_text())
    assert record['layers'] == expected
    assert record['seeds'] == [0, 1] and record['rotate'] == 15.0 and record['translate'] == [0.1, 0.0]
    with open(out / 'aliasing.csv', newline='') as f:
        lines = list(csv.DictReader(f))
    assert [line['name'] for line in lines] == [row['name'] for row in expected]
    assert [float(line['above_cutoff']) for line in lines] == [row['above_cutoff'] for row in expected]
    with PIL.Image.open(out / 'aliasing.png') as png:
        assert png.format == 'PNG' and png.width > 400 and png.height > 200
    printed = capsys.readouterr().out
    assert all(row['name'] in printed for row in expected) and 'aliasing.png' in printed


def test_stylegan2_has_only_the_aliases_fraction(nets, tmp_path):
    assert tool.main(['--network', nets['sg2'], '--seeds', '3', '--outdir', str(tmp_path)]) == 0
    layers = json.loads((tmp_path / 'aliasing.json').read_text())['layers']
    assert layers[0]['name'] == 'b4.conv1' and all(row['above_cutoff'] is None for row in layers)
    assert all(0 <= row['aliases'] <= 1 for row in layers)


@pytest.mark.parametrize('case, message', [
    ('missing', "missing.pkl' does not exist"),
    ('sg2-rotate', 'no input transform'),
    ('class', 'unconditional'),
    ('seeds', 'bad seeds'),
])
def test_bad_input_is_one_line_and_writes_nothing(nets, tmp_path, capsys, case, message):
    out = tmp_path / 'out'
    argv = {'missing': ['--network', str(tmp_path / 'missing.pkl')],
            'sg2-rotate': ['--network', nets['sg2'], '--rotate', '10'],
            'class': ['--network', nets['sg3'], '--class', '1'],
            'seeds': ['--network', nets['sg3'], '--seeds', '3-1']}[case]
    assert tool.main([*argv, '--outdir', str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and message in err and err.count('\n') == 1 and 'Traceback' not in err, err
    assert not out.exists()
