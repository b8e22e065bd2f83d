"""tools.export_default on tiny states made by tools.train_slice: the card follows the shared schema, the pickle
reloads and renders its reference PNG, float16 halves it, SWD is logged per save across slices and drawn
against kimg, and bad input is one error line that leaves the shipped files as they were."""

import hashlib
import json
import math
import os

import numpy as np
import PIL.Image
import pytest
import torch

from analysis.generate import generate_images
from networks import load_generator, save_network_pkl
from networks.stylegan2 import per_image_noise
from tools import export_default
from tools.export_default import main, swd_curve_points
from tools.train_slice import main as slice_main
from training.dataset_convert import convert_dataset
from training.slice import read_state

_TINY = ['--gpus', '1', '--batch', '4', '--gamma', '1', '--tick', '0.004', '--cbase', '256', '--cmax', '16',
         '--z-dim', '16', '--w-dim', '16', '--map-depth', '2', '--mbstd-group', '2', '--workers', '0']
_FAST = ['--eq-samples', '4', '--swd-images', '32', '--device', 'cpu', '--batch', '8', '--allow-untrained']


@pytest.fixture(scope='module', autouse=True)
def _pytorch_ops():
    # The fused CPU op only changes speed; its first call in a process can wait minutes for a shared build.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('ALIASFREE_CPU_OPS', '0')
        yield


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp('export_data')
    paths = {}
    for res, count in ((16, 96), (32, 8)):
        paths[res] = str(folder / f'photos{res}.zip')
        convert_dataset('builtin:photos', paths[res], resolution=f'{res}x{res}', count=count, seed=1,
                        progress=False, log=lambda *_: None)
    return paths


@pytest.fixture(scope='module')
def sg2_state(tmp_path_factory, data):
    """Two slices of stylegan2 with --metrics swd: saves at 0.004 (tick 0), 0.008 and 0.016 kimg."""
    state = tmp_path_factory.mktemp('export_sg2') / 'state'
    # --mirror 1: the card counts the 96 stored images, not the 192 that x-flips make for training.
    assert slice_main(['--state', str(state), '--device', 'cpu', '--minutes', '5', '--kimg', '0.008', '--init',
                       '--cfg', 'stylegan2', '--data', data[16], *_TINY, '--mirror', '1', '--metrics', 'swd',
                       '--metrics-samples', '16']) == 0
    assert slice_main(['--state', str(state), '--device', 'cpu', '--minutes', '5', '--kimg', '0.016']) == 0
    return state


@pytest.fixture(scope='module')
def sg3t_state(tmp_path_factory, data):
    state = tmp_path_factory.mktemp('export_sg3t') / 'state'
    assert slice_main(['--state', str(state), '--device', 'cpu', '--minutes', '5', '--kimg', '0.004', '--init',
                       '--cfg', 'stylegan3-t', '--data', data[16], *_TINY]) == 0
    return state


@pytest.fixture(scope='module')
def sg2_export(tmp_path_factory, sg2_state, data):
    out = tmp_path_factory.mktemp('export_out')
    assert main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--dest', str(out / 'dest'),
                 '--docs', str(out / 'docs'), '--dataset-name', 'builtin:photos',
                 '--dataset-command', 'python -m tools.dataset_tool --source builtin:photos', *_FAST]) == 0
    return out


# ----------------------------------------------------------------------------------------------------------
# The card schema of the shared contract (h15): checked here independently of any reader.

def _check_card(card: dict, key: str) -> None:
    def number(value, where, nullable=False):
        if value is None and nullable:
            return
        assert isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value), where

    assert set(card) == {'key', 'title', 'cfg', 'resolution', 'file', 'dataset', 'training', 'metrics',
                         'campaign', 'reference', 'images', 'created', 'format'}
    assert card['key'] == key and card['file'] == f'{key}.pkl' and card['format'] == 1
    assert card['cfg'] == {'sg3t': 'stylegan3-t', 'sg3r': 'stylegan3-r', 'sg2': 'stylegan2'}[key]
    assert isinstance(card['title'], str) and isinstance(card['resolution'], int)
    assert set(card['dataset']) == {'name', 'command', 'count', 'resolution'}
    assert isinstance(card['dataset']['count'], int) and card['dataset']['resolution'] == card['resolution']
    assert set(card['training']) == {'command', 'kimg', 'seconds', 'hardware', 'slices', 'cpu_seconds'}
    number(card['training']['kimg'], 'kimg')
    number(card['training']['seconds'], 'seconds')
    assert isinstance(card['training']['slices'], int) and isinstance(card['training']['hardware'], str)
    assert set(card['metrics']) == {'swd', 'eqt50k_int', 'eqt50k_frac', 'eqr50k', 'eq_samples', 'swd_images',
                                    'notes'}
    for name in ('swd', 'eqt50k_int', 'eqt50k_frac', 'eqr50k'):
        number(card['metrics'][name], name, nullable=True)
    assert isinstance(card['metrics']['eq_samples'], int) and isinstance(card['metrics']['swd_images'], int)
    assert set(card['reference']) == {'seed', 'psi', 'png', 'max_abs_tolerance'}
    assert card['reference']['png'] == f'{key}-ref.png' and '/' not in card['reference']['png']
    assert set(card['images']) == {'grid', 'swd_curve'}
    assert card['images']['grid'].endswith(f'pretrained-{key}-grid.png')
    assert card['images']['swd_curve'].endswith(f'pretrained-{key}-swd.png')
    json.dumps(card, allow_nan=False)


def _digests(*folders):
    return {os.path.join(f, n): hashlib.sha256(open(os.path.join(f, n), 'rb').read()).hexdigest()
            for f in folders for n in sorted(os.listdir(f))}


def _render_seed0(G) -> np.ndarray:
    return next(iter(generate_images(G, [0], 1.0, None, 'const')))[1]


def _png(path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path).convert('RGB'))


# ----------------------------------------------------------------------------------------------------------


def test_swd_is_logged_per_save_across_slices(sg2_state):
    # train_slice --metrics swd appends to <state>-run across slices; each line pairs with its save's kimg.
    run = f'{sg2_state}-run'
    lines = open(os.path.join(run, 'metric-swd.jsonl')).read().splitlines()
    assert len(lines) == 3
    # A StyleGAN2's SWD draws its noise per image, and the line says so.
    assert all(json.loads(line)['noise_mode'] == 'random' for line in lines)
    assert swd_curve_points([run]) == []
    points = swd_curve_points([run], 'random')
    assert [p[0] for p in points] == [0.004, 0.008, 0.016]
    assert [p[1] for p in points] == [json.loads(line)['results']['swd'] for line in lines]
    hours = [p[2] for p in points]          # the training's CPU clock, carried across slices
    assert all(h is not None and h > 0 for h in hours) and hours == sorted(hours)


def test_swd_curve_pairs_by_time_per_folder(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    a.mkdir()
    b.mkdir()
    (a / 'stats.jsonl').write_text('\n'.join(json.dumps(r) for r in [
        {'timestamp': 10.0, 'Progress/kimg': 4.0}, {'timestamp': 20.0, 'Progress/kimg': 8.0}]) + '\n{"cut')
    (a / 'metric-swd.jsonl').write_text('\n'.join(json.dumps(r) for r in [
        {'timestamp': 5.0, 'results': {'swd': 1.0}},        # before any tick: no kimg, dropped
        {'timestamp': 21.0, 'results': {'swd': 7.0}},
        {'timestamp': 12.0, 'results': {'swd': 9.0}}]))
    # Another machine, another clock: its timestamps are smaller but pair within their folder.
    (b / 'stats.jsonl').write_text(json.dumps({'timestamp': 1.0, 'Progress/kimg': 12.0}))
    (b / 'metric-swd.jsonl').write_text(json.dumps({'timestamp': 2.0, 'results': {'swd': 3.0}}) + '\n'
                                        + json.dumps({'timestamp': 3.0, 'results': {'swd': float('nan')}}))
    assert swd_curve_points([str(a), str(b)]) == [(4.0, 9.0, None), (8.0, 7.0, None), (12.0, 3.0, None)]
    (b / 'stats.jsonl').write_text(json.dumps({'timestamp': 1.0, 'Progress/kimg': 12.0, 'Timing/cpu_sec_total': 5400}))
    assert swd_curve_points([str(b)]) == [(12.0, 3.0, 1.5)]


def test_swd_curve_keeps_the_fixed_noise_lines_apart(tmp_path):
    (tmp_path / 'stats.jsonl').write_text('\n'.join(json.dumps({'timestamp': t, 'Progress/kimg': k})
                                                    for t, k in [(10.0, 4.0), (20.0, 8.0), (30.0, 12.0)]))
    (tmp_path / 'metric-swd.jsonl').write_text('\n'.join(json.dumps(r) for r in [
        {'timestamp': 11.0, 'results': {'swd': 90.0}},                          # logged before per-image noise
        {'timestamp': 21.0, 'results': {'swd': 40.0}, 'noise_mode': 'random'},
        {'timestamp': 31.0, 'results': {'swd': 35.0}, 'noise_mode': 'random'}]))
    assert swd_curve_points([str(tmp_path)]) == [(4.0, 90.0, None)]
    assert swd_curve_points([str(tmp_path)], 'random') == [(8.0, 40.0, None), (12.0, 35.0, None)]


def test_hostile_log_lines_are_skipped_like_a_cut_line(tmp_path):
    (tmp_path / 'stats.jsonl').write_bytes('\n'.join([
        json.dumps({'timestamp': 10.0, 'Progress/kimg': 4.0}), '{"timestamp": 1' + '0' * 400 + '}',
        '{"timestamp": ' + '7' * 5000 + '}', '[' * 100_000]).encode() + b'\n\xff\xfe')
    (tmp_path / 'metric-swd.jsonl').write_text(json.dumps({'timestamp': 12.0, 'results': {'swd': 9.0}}))
    assert swd_curve_points([str(tmp_path)]) == [(4.0, 9.0, None)]


def test_export_writes_a_valid_card_and_a_pickle_that_renders_its_reference(sg2_export, sg2_state, data):
    dest, docs = sg2_export / 'dest', sg2_export / 'docs'
    assert sorted(os.listdir(dest)) == ['sg2-ref.png', 'sg2.json', 'sg2.pkl']
    assert sorted(os.listdir(docs)) == ['pretrained-sg2-grid.png', 'pretrained-sg2-swd.png']
    card = json.loads((dest / 'sg2.json').read_text())
    _check_card(card, 'sg2')
    try:
        from networks.pretrained import read_card  # the viz side's reader, once merged
    except ImportError:
        read_card = None
    if read_card is not None:
        assert read_card('sg2', folder=str(dest))['key'] == 'sg2'
    manifest, payload = read_state(sg2_state)
    history = manifest['history']
    assert card['training']['kimg'] == 0.016 and card['training']['slices'] == 2
    assert card['training']['seconds'] == pytest.approx(sum(h['seconds'] for h in history), abs=0.1)
    assert card['training']['hardware'] == '1x CPU'
    first, later = card['training']['command'].split('\n')
    assert '--init --cfg stylegan2' in first and '--init' not in later and '--kimg 0.016' in later
    assert card['dataset'] == {'name': 'builtin:photos', 'command': 'python -m tools.dataset_tool --source '
                               'builtin:photos', 'count': 96, 'resolution': 16}
    assert card['metrics']['eqt50k_int'] is None and card['metrics']['eqr50k'] is None
    assert 'no input transform' in card['metrics']['notes'] and 'float32 storage' in card['metrics']['notes']
    assert 'noise inputs per image' in card['metrics']['notes']
    assert card['metrics']['swd_images'] == 32 and card['metrics']['swd'] > 0

    # The pickle is G_ema of the state, exactly (float32 storage), and renders the reference PNG.
    G = load_generator(dest / 'sg2.pkl')
    for name, tensor in payload['G_ema'].items():
        assert torch.equal(G.state_dict()[name], tensor), name
    image = _render_seed0(G)
    reference = _png(dest / 'sg2-ref.png')
    assert reference.shape == (16, 16, 3)
    assert np.abs(image.astype(float) - reference).max() / 255 <= card['reference']['max_abs_tolerance']
    # ... and is not a fresh network of the same architecture.
    torch.manual_seed(123)
    fresh = type(G)(**G.init_kwargs).eval()
    assert np.abs(_render_seed0(fresh).astype(float) - reference).max() / 255 > 0.05

    grid = _png(docs / 'pretrained-sg2-grid.png')
    assert grid.shape == (4 * 16, 2 * 8 * 16 + 8, 3)       # fakes beside reals
    with per_image_noise(G, [0]):                           # seed 0 is the first cell, its noise drawn for it
        assert np.array_equal(grid[:16, :16], _render_seed0(G))
    assert _png(docs / 'pretrained-sg2-swd.png').shape[0] > 100


def test_fp16_storage_halves_the_pickle(tmp_path, sg2_export, sg2_state, data):
    assert main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--dest', str(tmp_path / 'd'),
                 '--docs', str(tmp_path / 'docs'), '--fp16', *_FAST]) == 0
    full = os.path.getsize(sg2_export / 'dest' / 'sg2.pkl')
    half = os.path.getsize(tmp_path / 'd' / 'sg2.pkl')
    # The weights take half the bytes; torch.save pads each tensor's record to 64 bytes, which tiny nets feel.
    _manifest, payload = read_state(sg2_state)
    floats = [t for t in payload['G_ema'].values() if t.is_floating_point()]
    weight_bytes = sum(t.numel() * 4 for t in floats)
    assert abs((full - half) - weight_bytes / 2) <= 64 * len(floats)
    card = json.loads((tmp_path / 'd' / 'sg2.json').read_text())
    assert 'float16 (asked with --fp16)' in card['metrics']['notes']
    G = load_generator(tmp_path / 'd' / 'sg2.pkl')
    for name, tensor in payload['G_ema'].items():
        if tensor.is_floating_point():
            assert torch.equal(G.state_dict()[name], tensor.half().float()), name
    # The reference is what the float16 network renders, not the float32 one.
    assert np.abs(_render_seed0(G).astype(float) - _png(tmp_path / 'd' / 'sg2-ref.png')).max() <= 1


def test_float16_when_float32_exceeds_the_limit_and_error_when_both_do(tmp_path, monkeypatch, sg2_export,
                                                                       sg2_state, data, capsys):
    full = os.path.getsize(sg2_export / 'dest' / 'sg2.pkl')
    monkeypatch.setattr(export_default, 'MAX_PICKLE_BYTES', full - 1)
    assert main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--dest', str(tmp_path / 'd'),
                 '--docs', str(tmp_path / 'docs'), *_FAST]) == 0
    assert os.path.getsize(tmp_path / 'd' / 'sg2.pkl') < full * 0.7      # float16 (see above for the ratio)
    assert 'float32 would be' in json.loads((tmp_path / 'd' / 'sg2.json').read_text())['metrics']['notes']
    monkeypatch.setattr(export_default, 'MAX_PICKLE_BYTES', 1000)
    capsys.readouterr()
    assert main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--dest', str(tmp_path / 'e'),
                 '--docs', str(tmp_path / 'docs2'), *_FAST]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: sg2: G_ema needs') and err.count('\n') == 1
    assert not (tmp_path / 'e').exists() or not os.listdir(tmp_path / 'e')


def test_sg3t_export_measures_equivariance(tmp_path, sg3t_state, data):
    assert main(['--key', 'sg3t', '--state', str(sg3t_state), '--data', data[16], '--dest', str(tmp_path / 'd'),
                 '--docs', str(tmp_path / 'docs'), *_FAST]) == 0
    card = json.loads((tmp_path / 'd' / 'sg3t.json').read_text())
    _check_card(card, 'sg3t')
    assert card['training']['kimg'] == 0.004 and card['metrics']['eq_samples'] == 4
    # Recomputed independently of the tool through the registry, on the shipped pickle: same draws, same dB.
    from training import metrics
    G = load_generator(tmp_path / 'd' / 'sg3t.pkl')
    for name in ('eqt50k_int', 'eqt50k_frac', 'eqr50k'):
        value = metrics.calc_metric(name, G, num_samples=4, batch_size=3)['results'][name]
        assert card['metrics'][name] == pytest.approx(value, abs=1e-3), name
    # No training log of SWD in this state: the curve holds the export's point only, and says so.
    assert 'the curve has 0 logged point(s)' in card['metrics']['notes']


def test_snapshot_source(tmp_path, sg2_state, data):
    shipped = tmp_path / 'ship'
    assert main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--dest', str(shipped),
                 '--docs', str(tmp_path / 'docs'), *_FAST]) == 0
    net = load_generator(shipped / 'sg2.pkl')
    snap = tmp_path / 'run' / 'network-snapshot-000016.pkl'
    snap.parent.mkdir()
    save_network_pkl(snap, {'G_ema': net, 'training_state': {'cur_nimg': 16}})
    assert main(['--key', 'sg2', '--snapshot', str(snap), '--data', data[16], '--dest', str(tmp_path / 'd'),
                 '--docs', str(tmp_path / 'docs'), '--hardware', '1x test CPU', '--train-command', 'python x',
                 *_FAST]) == 0
    card = json.loads((tmp_path / 'd' / 'sg2.json').read_text())
    _check_card(card, 'sg2')
    assert card['training']['kimg'] == 0.016 and card['training']['hardware'] == '1x test CPU'
    assert card['training']['command'] == 'python x'
    assert (tmp_path / 'd' / 'sg2.pkl').read_bytes() == (shipped / 'sg2.pkl').read_bytes()


def test_inspect_writes_only_the_generator_of_a_network_in_training(tmp_path, sg2_state, data, capsys):
    # A network below the gate can be looked at (texture sticking, the window) without shipping anything.
    out = tmp_path / 'look' / 'sg2-now.pkl'
    assert main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--inspect', str(out),
                 '--dest', str(tmp_path / 'd'), '--docs', str(tmp_path / 'docs')]) == 0
    assert 'not shipped' in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == ['look'] and os.listdir(out.parent) == ['sg2-now.pkl']
    net = load_generator(out)
    _manifest, payload = read_state(sg2_state)
    state = net.state_dict()
    assert set(state) == set(payload['G_ema'])
    assert all(torch.equal(state[k], payload['G_ema'][k].to(state[k].dtype)) for k in state)
    shipped = os.path.join(os.path.dirname(export_default.__file__), '..', 'networks', 'pretrained', 'x.pkl')
    _one_error(capsys, main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--inspect', shipped]))
    assert not os.path.exists(shipped)
    err = _one_error(capsys, main(['--key', 'sg3t', '--state', str(sg2_state), '--data', data[16], '--inspect',
                                   str(tmp_path / 'x.pkl')]))
    assert 'stylegan2' in err and not (tmp_path / 'x.pkl').exists()


def _one_error(capsys, status):
    err = capsys.readouterr().err
    assert status == 1 and err.startswith('error: ') and err.count('\n') == 1, err
    return err


def test_bad_input_is_one_line_and_leaves_shipped_files(tmp_path, sg2_export, sg2_state, data, capsys):
    dest, docs = str(sg2_export / 'dest'), str(sg2_export / 'docs')
    before = _digests(dest, docs)
    common = ['--dest', dest, '--docs', docs, *_FAST]
    capsys.readouterr()
    err = _one_error(capsys, main(['--key', 'sg3r', '--state', str(sg2_state), '--data', data[16], *common]))
    assert 'stylegan2' in err and '--key sg2' in err
    err = _one_error(capsys, main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[32], *common]))
    assert 'resolution' in err
    _one_error(capsys, main(['--key', 'sg2', '--state', str(tmp_path / 'none'), '--data', data[16], *common]))
    _one_error(capsys, main(['--key', 'sgx', '--state', str(sg2_state), '--data', data[16], *common]))
    _one_error(capsys, main(['--key', 'sg2', '--state', str(sg2_state), '--snapshot', str(dest) + '/sg2.pkl',
                             '--data', data[16], *common]))
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert 'no training state' in _one_error(capsys, main(['--key', 'sg2', '--state', str(empty), '--data',
                                                           data[16], *common]))
    # A corrupt state: one flipped byte in a part.
    corrupt = tmp_path / 'corrupt'
    corrupt.mkdir()
    for name in os.listdir(sg2_state):
        corrupt.joinpath(name).write_bytes(sg2_state.joinpath(name).read_bytes())
    part = sorted(p for p in os.listdir(corrupt) if p.startswith('part-'))[0]
    raw = bytearray(corrupt.joinpath(part).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    corrupt.joinpath(part).write_bytes(bytes(raw))
    assert 'corrupt' in _one_error(capsys, main(['--key', 'sg2', '--state', str(corrupt), '--data', data[16],
                                                 *common]))
    assert _digests(dest, docs) == before


def test_a_failed_write_restores_the_previous_files(tmp_path, monkeypatch, sg2_export, sg2_state, data, capsys):
    import networks.atomic_io as atomic_io
    dest, docs = tmp_path / 'dest', tmp_path / 'docs'
    for src, dst in ((sg2_export / 'dest', dest), (sg2_export / 'docs', docs)):
        dst.mkdir()
        for name in os.listdir(src):
            dst.joinpath(name).write_bytes(src.joinpath(name).read_bytes())
    before = _digests(str(dest), str(docs))
    real = atomic_io.atomic_write

    def failing(path, write_fn):
        if str(path).endswith('.json'):          # the card is written last: everything else was replaced
            raise atomic_io.AtomicWriteError(f'cannot write {path}: no space left on device')
        return real(path, write_fn)

    monkeypatch.setattr(atomic_io, 'atomic_write', failing)
    capsys.readouterr()
    # --fp16 makes the new pickle differ from the old one, so a restore is visible.
    status = main(['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--dest', str(dest),
                   '--docs', str(docs), '--fp16', *_FAST])
    assert 'no space left' in _one_error(capsys, status)
    assert _digests(str(dest), str(docs)) == before


def test_the_campaign_gate_and_goal_are_measured_and_an_untrained_network_is_refused(sg2_export, sg2_state, data,
                                                                                      tmp_path, capsys):
    card = json.loads((sg2_export / 'dest' / 'sg2.json').read_text())
    campaign = card['campaign']
    levels = [k for k in campaign['swd_levels'] if k != 'swd']
    assert levels == ['swd16'] and set(campaign['swd_untrained']) == set(campaign['swd_levels'])
    assert campaign['swd_levels']['swd'] == pytest.approx(card['metrics']['swd'], abs=1e-3)
    # 96 images hold two disjoint sets of 32: the floor is measured, and reals are closer to reals than fakes.
    assert 0 < campaign['swd_floor'] < campaign['swd_levels']['swd']
    assert campaign['swd_over_floor'] == pytest.approx(campaign['swd_levels']['swd'] / campaign['swd_floor'],
                                                       rel=1e-3)
    gains = [campaign['swd_untrained'][k] / campaign['swd_levels'][k] for k in levels]
    assert campaign['trained'] is (min(gains) >= 4) and campaign['trained'] is False    # a few steps of training
    assert campaign['goal_met'] is False
    # The docs grid holds the fakes beside as many reals: 2 grids of 8 x 4 images of 16 px and an 8 px gap.
    grid = _png(sg2_export / 'docs' / 'pretrained-sg2-grid.png')
    assert grid.shape == (4 * 16, 2 * 8 * 16 + 8, 3)
    from training.metrics import feature_stats
    dataset = feature_stats.open_dataset(dict(path=data[16]))
    assert np.array_equal(grid[:16, 8 * 16 + 8:8 * 16 + 8 + 16], np.asarray(dataset[0][0]).transpose(1, 2, 0))
    # Without --allow-untrained the same state is refused with one line, and nothing is written.
    dest = tmp_path / 'dest'
    args = ['--key', 'sg2', '--state', str(sg2_state), '--data', data[16], '--dest', str(dest), '--docs',
            str(tmp_path / 'docs'), *[a for a in _FAST if a != '--allow-untrained']]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'is not trained yet' in err[0] and not dest.exists()
