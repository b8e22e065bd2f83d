"""python -m tools.calc_metrics on tiny networks: EQ metrics, FID with a tiny detector, clear errors."""

import json

import pytest
import torch

from tests.tiny_networks import write_tiny_networks
from tests.training.metrics.fakes import (
    TinyDetector,
    torchscript_bytes,
    write_image_folder,
    write_nvlabs_persistent_pkl,
)
from tools import calc_metrics

pytestmark = pytest.mark.filterwarnings('ignore:`torch.jit:DeprecationWarning')


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('calc')
    nets = write_tiny_networks(root)
    torch.manual_seed(0)
    detector = root / 'inception-tiny.pkl'
    write_nvlabs_persistent_pkl(detector, dict(torchscript=torchscript_bytes(TinyDetector())))
    data16 = write_image_folder(root / 'data16', num=8, resolution=16)
    data32 = write_image_folder(root / 'data32', num=4, resolution=32)
    return dict(nets=nets, detector=str(detector), data16=data16, data32=data32, root=root)


def test_eq_and_fid_metrics_with_jsonl(setup, tmp_path, capsys):
    run_dir = tmp_path / 'run'
    metrics = 'eqt50k_int,eqt50k_frac,eqr50k,fid50k_full'
    rc = calc_metrics.main(['--metrics', metrics, '--network', setup['nets']['sg3r'],
                            '--data', setup['data16'], '--num-samples', '4', '--batch', '4',
                            '--detector', setup['detector'], '--trust-detector', '--cache-dir', str(tmp_path / 'cache'),
                            '--run-dir', str(run_dir), '--device', 'cpu'])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    results = {k: v for line in lines for k, v in line['results'].items()}
    assert set(results) == {'eqt50k_int', 'eqt50k_frac', 'eqr50k', 'fid50k_full'}
    assert results['eqt50k_int'] > 30 and results['eqr50k'] > 20  # config R, untrained: still fairly equivariant
    assert sorted(p.name for p in run_dir.iterdir()) == ['metric-eqr50k.jsonl', 'metric-eqt50k_frac.jsonl',
                                                         'metric-eqt50k_int.jsonl', 'metric-fid50k_full.jsonl']


@pytest.mark.parametrize('args, message', [
    (['--metrics', 'eqt50k_int', '--network', '{sg2}'], 'input transform'),
    (['--metrics', 'fid50k_full', '--network', '{sg3}', '--data', '{data16}'], '--detector'),
    (['--metrics', 'fid50k_full', '--network', '{sg3}', '--data', '{data16}', '--detector', '{root}/no.pkl'],
     "no.pkl' does not exist"),
    (['--metrics', 'fid50k_full', '--network', '{sg3}', '--data', '{data16}', '--detector', '{data16}/img00000.png'],
     'not a detector pickle'),
    (['--metrics', 'kid50k_full', '--network', '{sg3}', '--data', '{data32}', '--detector', '{detector}',
      '--trust-detector'], 'resolution 32'),
    (['--metrics', 'fid50k_full', '--network', '{sg3}', '--data', '{data16}', '--detector', '{detector}'],
     'TorchScript is code'),
    (['--metrics', 'fid1k', '--network', '{sg3}'], 'unknown metric'),
])
def test_bad_input_gives_one_clear_line(setup, capsys, args, message):
    fields = dict(setup['nets'], data16=setup['data16'], data32=setup['data32'], detector=setup['detector'],
                  root=setup['root'])
    argv = [a.format(**fields) for a in args] + ['--num-samples', '2', '--no-report']
    assert calc_metrics.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith('error:')
