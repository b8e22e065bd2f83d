"""A training state folder is data: nothing in state.json can select code outside the closed class table, every
field is checked against a schema, and each hostile state is one `error:` line that writes nothing."""

import hashlib
import io
import json
import math
import os
import shutil
import time

import pytest
import torch

from tools.train_slice import main
from training import options as options_mod
from training.slice import MANIFEST, read_state


def _slice(state, *args):
    return main(['--state', str(state), '--device', 'cpu', *args])


def _digest(folder):
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() if (folder / name).is_file() else 'x'
            for name in sorted(os.listdir(folder))}


@pytest.fixture(scope='module')
def state0(tmp_path_factory, photos16, tiny_net_args):
    """A state after one tiny slice (stylegan3-t, ADA on: augment options present)."""
    state = tmp_path_factory.mktemp('data-state') / 'state'
    net = tiny_net_args[:tiny_net_args.index('--device')]
    assert _slice(state, '--minutes', '5', '--kimg', '0.008', '--init', '--cfg', 'stylegan3-t', '--data', photos16,
                  '--gpus', '1', '--batch', '4', '--gamma', '1', '--tick', '0.004', *net) == 0
    return state


def _edit_manifest(edit):
    def damage(state):
        manifest = json.loads((state / MANIFEST).read_text())
        edit(manifest)
        (state / MANIFEST).write_text(json.dumps(manifest))
    return damage


def _reseal(edit_payload):
    """Change the payload and write it back with valid sizes and checksums (a careful attacker)."""
    def damage(state):
        manifest = json.loads((state / MANIFEST).read_text())
        data = b''.join((state / p['file']).read_bytes() for p in manifest['parts'])
        payload = torch.load(io.BytesIO(data), weights_only=True)
        edit_payload(payload)
        buf = io.BytesIO()
        torch.save(payload, buf)
        for p in manifest['parts']:
            (state / p['file']).unlink()
        name = manifest['parts'][0]['file']
        (state / name).write_bytes(buf.getvalue())
        manifest['parts'] = [dict(file=name, bytes=len(buf.getvalue()),
                                  sha256=hashlib.sha256(buf.getvalue()).hexdigest())]
        (state / MANIFEST).write_text(json.dumps(manifest))
    return damage


def _refused(tmp_path, state0, capsys, name, damage, marker=None):
    state = tmp_path / name
    shutil.copytree(state0, state)
    damage(state)
    before = _digest(state)
    t0 = time.time()
    rc = _slice(state, '--minutes', '0.2')
    elapsed = time.time() - t0
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert rc == 1 and len(lines) == 1 and lines[0].startswith('error: '), (name, out.err[-2000:])
    assert 'Traceback' not in out.err and elapsed < 10
    assert _digest(state) == before and not os.path.exists(f'{state}-run'), name
    if marker is not None:
        assert not os.path.exists(marker), f'{name}: the state ran code'
    return lines[0]


def test_options_cannot_name_code(tmp_path, state0, capsys, monkeypatch):
    marker = tmp_path / 'MARKER'
    monkeypatch.chdir(tmp_path)
    attacks = {
        'augment-os-system': lambda m: m['options'].update(
            augment_kwargs={'class_name': 'os.system', 'command': f'touch {marker}'}, augment_p=0.5),
        'dataset-os-system': lambda m: m['options']['training_set_kwargs'].update(
            class_name='os.system', command=f'touch {marker}'),
        'G-logging': lambda m: m['options']['G_kwargs'].update(
            class_name='logging.basicConfig', filename=str(marker)),
        'D-training-module': lambda m: m['options']['D_kwargs'].update(class_name='training.launch.exit_now'),
    }
    for name, edit in attacks.items():
        line = _refused(tmp_path, state0, capsys, name, _edit_manifest(edit), marker)
        assert 'is not one of' in line, line


def test_export_default_refuses_code_in_a_state(tmp_path, state0, photos16, capsys):
    from tools.export_default import main as export_main
    marker = tmp_path / 'MARKER'
    state = tmp_path / 'state'
    shutil.copytree(state0, state)
    _edit_manifest(lambda m: m['options']['G_kwargs'].update(class_name='logging.basicConfig',
                                                              filename=str(marker)))(state)
    rc = export_main(['--key', 'sg3t', '--state', str(state), '--data', photos16, '--dest', str(tmp_path / 'out'),
                      '--docs', str(tmp_path / 'docs')])
    err = capsys.readouterr().err
    assert rc == 1 and 'is not one of' in err and 'Traceback' not in err and not marker.exists()
    assert not (tmp_path / 'out').exists()


FIELD_CASES = {
    'kimg-missing': (_edit_manifest(lambda m: m.pop('kimg')), 'kimg'),
    'kimg-string': (_edit_manifest(lambda m: m.update(kimg='8')), 'kimg'),
    'history-int': (_edit_manifest(lambda m: m.update(history=7)), 'history'),
    'history-entry-nan': (_edit_manifest(lambda m: m['history'][0].update(seconds=math.nan)), 'history'),
    'options-empty': (_edit_manifest(lambda m: m.update(options={})), 'options lack'),
    'options-unknown-key': (_edit_manifest(lambda m: m['options'].update(evil=1)), 'unknown options'),
    'batch-string': (_edit_manifest(lambda m: m['options'].update(batch_size='32')), 'batch_size'),
    'batch-zero': (_edit_manifest(lambda m: m['options'].update(batch_size=0)), 'batch_size'),
    'batch-not-multiple': (_edit_manifest(lambda m: m['options'].update(batch_size=6)), 'not a multiple'),
    'lr-string': (_edit_manifest(lambda m: m['options']['G_opt_kwargs'].update(lr='0.002')), 'lr'),
    'workers-1000': (_edit_manifest(lambda m: m['options']['data_loader_kwargs'].update(num_workers=1000)),
                     'num_workers'),
    'augment-p-string': (_edit_manifest(lambda m: m['options'].update(augment_p='0.5')), 'augment_p'),
    'total-kimg-nan': (_edit_manifest(lambda m: m['options'].update(total_kimg=math.nan)), 'total_kimg'),
    'total-kimg-huge-int': (_edit_manifest(lambda m: m['options'].update(total_kimg=10**400)), 'total_kimg'),
    'cur-nimg-1e30': (_edit_manifest(lambda m: m.update(cur_nimg=10**30, kimg=1e27)), 'cur_nimg'),
    'cur-nimg-float': (_edit_manifest(lambda m: m.update(cur_nimg=1e30, kimg=1e27)), 'cur_nimg'),
    'kimg-huge-int': (_edit_manifest(lambda m: m.update(kimg=10**400)), 'kimg'),
    'generation-negative': (_edit_manifest(lambda m: m.update(generation=-3)), 'generation'),
    'huge-channels': (_edit_manifest(lambda m: m['options']['G_kwargs'].update(channel_max=4096,
                                                                              channel_base=1 << 20)),
                      'do not match the options'),
    'channels-out-of-range': (_edit_manifest(lambda m: m['options']['G_kwargs'].update(channel_max=10**9)),
                              'out of range'),
    'dims-missing': (_edit_manifest(lambda m: m.pop('network_dims')), 'network_dims'),
    'loss-unknown': (_edit_manifest(lambda m: m['options']['loss_kwargs'].update(device='cuda:7')),
                     'unknown options'),
    'metric-unknown': (_edit_manifest(lambda m: m['options'].update(metrics=['os.system'])), 'not a metric'),
    'rng-garbage': (_reseal(lambda p: p['training_state'].update(rng_states=[dict(cpu=torch.zeros(5056,
                                                                                             dtype=torch.uint8))])),
                    'generator state'),
    'rng-not-tensor': (_reseal(lambda p: p['training_state'].update(rng_states=['x'])), 'rng_states'),
    'cur-nimg-payload-huge': (_reseal(lambda p: p['training_state'].update(cur_nimg=10**30)), 'cur_nimg'),
    'payload-disagrees': (_reseal(lambda p: p['training_state'].update(cur_nimg=4)), 'disagree'),
    'augment-p-payload': (_reseal(lambda p: p.update(augment_p='x')), 'augment_p'),
    'pl-mean-nan': (_reseal(lambda p: p['training_state'].update(pl_mean=torch.tensor(math.nan))), 'pl_mean'),
}


@pytest.mark.parametrize('case', sorted(FIELD_CASES))
def test_hostile_fields_are_one_line_and_nothing_is_written(tmp_path, state0, capsys, case):
    damage, expected = FIELD_CASES[case]
    line = _refused(tmp_path, state0, capsys, case, damage)
    assert expected in line, line


def test_5000_digit_integer_is_one_line(tmp_path, state0, capsys):
    def damage(state):
        text = (state / MANIFEST).read_text()
        (state / MANIFEST).write_text(text.replace('"generation": ', '"generation": ' + '9' * 5000 + ', "g": ', 1))
    assert 'cannot be read' in _refused(tmp_path, state0, capsys, 'digits', damage)


def test_manifest_that_is_not_a_regular_file(tmp_path, state0, capsys):
    def symlink(state):
        (state / MANIFEST).unlink()
        os.symlink('/dev/zero', state / MANIFEST)
    assert 'symbolic link' in _refused(tmp_path, state0, capsys, 'symlink', symlink)

    def fifo(state):
        (state / MANIFEST).unlink()
        os.mkfifo(state / MANIFEST)
    assert 'not a regular file' in _refused(tmp_path, state0, capsys, 'fifo', fifo)     # and did not block on it

    def part_symlink(state):
        manifest = json.loads((state / MANIFEST).read_text())
        part = state / manifest['parts'][0]['file']
        target = state.parent / 'elsewhere.bin'
        part.rename(target)
        os.symlink(target, part)
    assert 'symbolic link' in _refused(tmp_path, state0, capsys, 'part-symlink', part_symlink)


def test_generation_at_the_limit_renumbers_and_stays_readable(tmp_path, state0):
    state = tmp_path / 'state'
    shutil.copytree(state0, state)
    _edit_manifest(lambda m: m.update(generation=999_999))(state)
    assert _slice(state, '--minutes', '5', '--kimg', '0.012') == 0
    manifest, _payload = read_state(state)
    assert manifest['generation'] == 1 and manifest['kimg'] == 0.012


def test_closed_table_and_validator_accept_what_train_writes(state0):
    manifest, _payload = read_state(state0)
    assert manifest['options']['G_kwargs']['class_name'] == 'networks.stylegan3.Generator'
    assert manifest['network_dims'] == dict(c_dim=0, img_channels=3)
    for key in options_mod.CLASSES:
        assert isinstance(options_mod.class_for(key), type)
    with pytest.raises(options_mod.OptionsError):
        options_mod.construct('os.system', command='true')
    with pytest.raises(options_mod.OptionsError):
        options_mod.class_for('networks.stylegan3.Generator', 'D_kwargs')    # a key outside its role


def test_metric_dataset_options_use_the_closed_table(tmp_path, photos16):
    from training.metrics import feature_stats
    from training.metrics.errors import MetricError
    marker = tmp_path / 'MARKER'
    for class_name in ('os.system', 'training.launch.exit_now'):
        with pytest.raises(MetricError, match='is not one of'):
            feature_stats.open_dataset(dict(class_name=class_name, path=photos16, command=f'touch {marker}'))
    assert not marker.exists()
    assert len(feature_stats.open_dataset(dict(path=photos16))) == 96


def test_fuzzed_manifests_are_refused_or_read_never_an_escape(tmp_path, state0):
    # 500 seeded mutations of a valid state.json (bytes flipped, inserted, deleted; numbers and keys swapped for
    # hostile values): read_state either reads the state or raises SliceStateError, quickly, and never runs code.
    import random

    from training.slice import SliceStateError
    rng = random.Random(0)
    original = (state0 / MANIFEST).read_bytes()
    hostile = [b'1e400', b'-1', b'NaN', b'9' * 5000, b'"os.system"', b'[' * 5000, b'{}', b'null', b'true', b'""']
    state = tmp_path / 'state'
    shutil.copytree(state0, state)
    outcomes = {'read': 0, 'refused': 0}
    for _ in range(500):
        data = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            kind, at = rng.randrange(4), rng.randrange(len(data))
            if kind == 0:
                data[at] = rng.randrange(256)
            elif kind == 1:
                data[at:at] = bytes([rng.randrange(256)])
            elif kind == 2:
                del data[at:at + rng.randint(1, 8)]
            else:
                # a value after a key: replace up to the next comma or bracket by a hostile token
                colon = data.find(b': ', at)
                if colon >= 0:
                    end = min([i for i in (data.find(b',', colon), data.find(b'}', colon)) if i >= 0] or [colon + 2])
                    data[colon + 2:end] = rng.choice(hostile)
        (state / MANIFEST).write_bytes(bytes(data))
        t0 = time.time()
        try:
            read_state(state)
            outcomes['read'] += 1
        except SliceStateError:
            outcomes['refused'] += 1
        assert time.time() - t0 < 2
    assert outcomes['refused'] > 250 and sum(outcomes.values()) == 500


def test_networks_too_large_for_a_state_are_refused_before_they_are_built(tmp_path, photos16, capsys):
    # 2 billion values would take 8 GB to build; counted on the meta device, they are refused in seconds.
    for extra in (['--estimate'], []):
        state = tmp_path / f'huge{len(extra)}'
        t0 = time.time()
        rc = main(['--state', str(state), '--minutes', '1', '--device', 'cpu', *extra, '--init', '--cfg',
                   'stylegan3-t', '--data', photos16, '--gpus', '1', '--batch', '4', '--gamma', '1', '--cbase',
                   '1048576', '--cmax', '4096'])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 1 and len(err) == 1 and 'even with float16 weights' in err[0] and time.time() - t0 < 30
        assert not state.exists()


# --- A snapshot pickle's training state (tools.train --resume) goes through the same checks. ---

@pytest.fixture(scope='module')
def snapshot0(tmp_path_factory, photos16, tiny_net_args):
    """A network snapshot of tools.train (stylegan2, two ticks of 4 images) with its training_state."""
    from tools.train import main as train_main
    out = tmp_path_factory.mktemp('snapshot-run')
    assert train_main(['--outdir', str(out), '--cfg', 'stylegan2', '--data', photos16, '--gpus', '1', '--batch', '4',
                       '--gamma', '1', '--kimg', '0.008', '--tick', '0.004', '--snap', '1', '--aug', 'noaug',
                       *tiny_net_args]) == 0
    (snapshot,) = sorted(out.glob('*/network-snapshot-000000.pkl'))[-1:]
    return snapshot


def _other_shape(opt):
    index, entry = next(iter(opt['state'].items()))
    opt['state'][index] = dict(entry, exp_avg_sq=torch.zeros(entry['exp_avg_sq'].numel() + 1))


SNAPSHOT_DAMAGE = {
    'state-not-dict': (lambda s: 'x', 'lacks counters'),
    'cur-nimg-string': (lambda s: dict(s, cur_nimg='12'), 'cur_nimg is not a count'),
    'cur-nimg-huge': (lambda s: dict(s, cur_nimg=10**30), 'cur_nimg is not a count'),
    'batch-idx-negative': (lambda s: dict(s, batch_idx=-1), 'batch_idx is not a count'),
    'pl-mean-nan': (lambda s: dict(s, pl_mean=torch.tensor(math.nan)), 'pl_mean'),
    'rng-empty': (lambda s: dict(s, rng_states=[]), 'rng_states'),
    'rng-garbage': (lambda s: dict(s, rng_states=[dict(cpu=torch.zeros(5056, dtype=torch.uint8))]), 'rng_states'),
    'rng-wrong-size': (lambda s: dict(s, rng_states=[dict(cpu=torch.zeros(7, dtype=torch.uint8))]), 'rng_states'),
    'opt-not-adam': (lambda s: dict(s, G_opt=dict(state={0: dict(momentum_buffer=torch.zeros(1))},
                                                  param_groups=[])), 'not Adam moments'),
    'opt-other-count': (lambda s: dict(s, D_opt=dict(s['D_opt'], param_groups=[dict(s['D_opt']['param_groups'][0],
                                                                                    params=[0])])),
                        'made for other parameters'),
    'opt-other-shape': (lambda s: (_other_shape(s['G_opt']), s)[1], 'made for other networks'),
    'ada-garbage': (lambda s: dict(s, ada_stats=[{'Loss/signs/real': ['x', 1, 2]}]), 'ada_stats'),
    'ada-inf': (lambda s: dict(s, ada_stats=[{'Loss/signs/real': [1, math.inf, 2]}]), 'ada_stats'),
    'cpu-seconds-nan': (lambda s: dict(s, cpu_seconds=math.nan), 'cpu_seconds'),
}


@pytest.mark.parametrize('case', sorted(SNAPSHOT_DAMAGE))
def test_damaged_snapshot_training_state_is_one_line(case, tmp_path, snapshot0, photos16, tiny_net_args, capsys):
    """Before, each of these reached the loop as it was: a string count raised ValueError, a garbage RNG state
    RuntimeError, moments of another shape a size error at the first optimizer step."""
    import networks
    from tools.train import main as train_main
    damage, expected = SNAPSHOT_DAMAGE[case]
    data = networks.load_network_pkl(str(snapshot0))
    data['training_state'] = damage(copy_state(data['training_state']))
    bad = tmp_path / 'bad.pkl'
    networks.save_network_pkl(str(bad), data)
    capsys.readouterr()
    t0 = time.time()
    rc = train_main(['--outdir', str(tmp_path / 'out'), '--cfg', 'stylegan2', '--data', photos16, '--gpus', '1',
                     '--batch', '4', '--gamma', '1', '--kimg', '0.012', '--tick', '0.004', '--aug', 'noaug',
                     '--resume', str(bad), *tiny_net_args])
    captured = capsys.readouterr()
    assert rc == 1 and time.time() - t0 < 30
    (line,) = captured.err.strip().splitlines()
    assert line.startswith('error: ') and expected in line, line
    assert 'Traceback' not in captured.out + captured.err
    assert not list((tmp_path / 'out').glob('*/network-snapshot-*.pkl'))


def copy_state(state):
    """A deep copy of a training state (tensors cloned), so damage never reaches the fixture."""
    import copy
    return copy.deepcopy(state)
