"""CPU rehearsal of the resumable training slice (tools/train_slice.py over training.slice) at tiny sizes:
slices accumulate kimg and continue exactly like one run, the clock stops and saves, limits hold, and a
missing or corrupt state is one line that leaves the last good state untouched."""

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from networks.atomic_io import AtomicWriteError
from tools.train_slice import main
from training import slice as slice_mod
from training.slice import MANIFEST, SliceStateError, encode_payload, read_state, serialize_payload, write_state


def _init_args(data, tiny_net_args):
    # tiny_net_args ends in '--device cpu': a tools.train option the slice sets itself, so it is dropped.
    net = tiny_net_args[:tiny_net_args.index('--device')]
    return ['--init', '--cfg', 'stylegan2', '--data', data, '--gpus', '1', '--batch', '4', '--gamma', '1',
            '--tick', '0.004', *net]


def _slice(state, *args):
    return main(['--state', str(state), '--device', 'cpu', *args])


def _tree_digest(folder):
    return {name: hashlib.sha256(open(os.path.join(folder, name), 'rb').read()).hexdigest()
            for name in sorted(os.listdir(folder))}


@pytest.fixture(scope='module')
def good_state(tmp_path_factory, photos16, tiny_net_args):
    """A state after one slice of 0.008 kimg (two steps of 4 images)."""
    state = tmp_path_factory.mktemp('slices') / 'state'
    assert _slice(state, '--minutes', '5', '--kimg', '0.008', *_init_args(photos16, tiny_net_args)) == 0
    return state


def test_slices_accumulate_and_continue_exactly(tmp_path, good_state, photos16, tiny_net_args):
    state = tmp_path / 'state'
    first_manifest, first = read_state(good_state)
    assert first_manifest['kimg'] == 0.008 and first_manifest['storage']['level'] == 0
    before = _tree_digest(good_state)
    # --save-to: the committed state is only read; the new one goes where a time-limited machine hands files back.
    assert _slice(good_state, '--save-to', str(state), '--minutes', '5', '--kimg', '0.016') == 0
    assert _tree_digest(good_state) == before
    manifest, second = read_state(state)
    assert manifest['kimg'] == 0.016 and second['training_state']['cur_nimg'] == 16
    assert [(h['slice'], h['start_kimg'], h['end_kimg']) for h in manifest['history']] == [(1, 0, 0.008),
                                                                                         (2, 0.008, 0.016)]
    for name in ('G', 'D', 'G_ema'):
        assert any(not torch.equal(first[name][k], second[name][k]) for k in first[name]), name
    # Only this generation's parts remain, each within the limits.
    parts = sorted(f for f in os.listdir(state) if f.startswith('part-'))
    assert parts == [p['file'] for p in manifest['parts']]
    assert all(os.path.getsize(state / p) <= 16 * 2**20 for p in parts)

    # Two slices give exactly what one slice over the same images gives (optimizer moments, RNG, ADA, counters).
    whole = tmp_path / 'whole'
    assert _slice(whole, '--minutes', '5', '--kimg', '0.016', *_init_args(photos16, tiny_net_args)) == 0
    _manifest, one = read_state(whole)
    for name in ('G', 'D', 'G_ema'):
        for key, tensor in one[name].items():
            assert torch.equal(tensor, second[name][key]), f'{name}.{key}'
    log = open(f'{state}-run/log.txt').read()
    assert 'Slice 2 of' in log and 'state saved: kimg 0.016' in log


def test_saves_inside_the_slice_and_sigterm_saves_and_stops(tmp_path, good_state):
    # A slot's time limit: the slice has saved every 0.04 minutes (2.4 s), and SIGTERM makes it save and exit 0.
    state = tmp_path / 'state'
    shutil.copytree(good_state, state)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, '-m', 'tools.train_slice', '--state', str(state), '--device', 'cpu',
                             '--minutes', '5', '--save-every', '0.04', '--kimg', '1000'], cwd=repo,
                            env=dict(os.environ, OMP_NUM_THREADS='1'), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    log_path = f'{state}-run/log.txt'
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            if os.path.exists(log_path) and open(log_path).read().count('state saved') >= 2:
                break
            time.sleep(0.2)
        saved_kimg = read_state(state)[0]['kimg']
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()[-500:]
    log = open(log_path).read()
    assert log.count('state saved') >= 3 and log.rstrip().endswith('Exiting...')
    assert read_state(state)[0]['kimg'] > saved_kimg > 0.008


def test_slow_metrics_do_not_make_every_step_a_save(tmp_path, photos16, tiny_net_args, monkeypatch):
    # The save interval counts from the end of a save's metrics. A measurement longer than the interval (SWD took
    # 95 s against a 60 s interval on a GPU) must not make every following step a save. The clock jumps 1,000 s
    # in each measurement, so the check is exact: saves at tick 0 and at the end, none between.
    from training import training_loop
    offset = [0.0]
    real_time = time.time
    monkeypatch.setattr(training_loop.time, 'time', lambda: real_time() + offset[0])
    measured = []

    def slow_metrics(*_args, **_kwargs):
        measured.append(1)
        offset[0] += 1000.0
    monkeypatch.setattr(training_loop, '_run_metrics', slow_metrics)
    state = tmp_path / 'state'
    # A new state saves at tick 0; each tick is one step of 4 images, so 6 steps would be 6 saves with the fault.
    assert _slice(state, '--minutes', '600', '--save-every', '10', '--kimg', '0.024', '--metrics', 'swd',
                  *_init_args(photos16, tiny_net_args)) == 0
    log = open(f'{state}-run/log.txt').read()
    assert log.count('state saved') == 2 and len(measured) == 2, log[-1500:]
    assert read_state(state)[0]['kimg'] == 0.024


def test_make_gpu_slice_keeps_what_a_slot_hands_back(tmp_path, photos16, tiny_net_args):
    # The GPU slot's one command, rehearsed on the CPU: a slot hands back at most 8 files, two folders down.
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = tmp_path / 'out'
    out.mkdir()
    init = ' '.join([*_init_args(photos16, tiny_net_args), '--kimg', '0.008'])
    make = ['make', '-s', '-C', repo, 'gpu-slice', f'PY={sys.executable}', 'NET=t', f'STATES={tmp_path}/states',
            f'DATA={photos16}', 'MINUTES=5', f'INIT={init}']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('OUT', None)
    unset = subprocess.run(make, env=env, capture_output=True, text=True, timeout=60)
    assert unset.returncode != 0 and 'error: OUT is not set' in unset.stdout + unset.stderr
    done = subprocess.run(make, env=dict(env, OUT=str(out)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]
    files = sorted(str(p.relative_to(out)) for p in out.rglob('*') if p.is_file())
    assert len(files) <= 8 and all(f.count('/') <= 1 for f in files), files
    assert {'t/state.json', 't-run/log.txt', 't-run/stats.jsonl'} <= set(files)
    assert len([f for f in files if f.endswith('.png')]) <= 1
    assert read_state(out / 't')[0]['kimg'] == 0.008
    assert not os.listdir(tmp_path / 'states' / 't')          # the committed state is only read
    adopt = ['make', '-s', '-C', repo, 'gpu-adopt', f'PY={sys.executable}', 'NET=t', f'STATES={tmp_path}/states']
    unset = subprocess.run(adopt, env=env, capture_output=True, text=True, timeout=60)
    assert unset.returncode != 0 and 'error: FROM is not set' in unset.stdout + unset.stderr
    done = subprocess.run([*adopt, f'FROM={out}'], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-1000:]
    assert read_state(tmp_path / 'states' / 't')[0]['kimg'] == 0.008
    assert open(tmp_path / 'states' / 't-run' / 'stats.jsonl').read() == open(out / 't-run' / 'stats.jsonl').read()


def _fail_manifest_writes(monkeypatch):
    """A full disk when state.json is written (the parts before it are written); returns the real atomic_write."""
    real_write = slice_mod.atomic_write

    def full_disk_at_manifest(path, write_fn):
        if str(path).endswith(MANIFEST):
            raise AtomicWriteError(f'cannot write {path}: No space left on device')
        return real_write(path, write_fn)
    monkeypatch.setattr(slice_mod, 'atomic_write', full_disk_at_manifest)
    return real_write


def _returned_slice(tmp_path, good_state):
    """A committed state (a copy of good_state with its logs) and a later slice of it saved elsewhere."""
    state, returned = tmp_path / 'states' / 'state', tmp_path / 'out' / 'state'
    shutil.copytree(good_state, state)
    shutil.copytree(f'{good_state}-run', f'{state}-run')
    assert _slice(state, '--save-to', str(returned), '--minutes', '5', '--kimg', '0.016') == 0
    return state, returned


def test_adopt_makes_a_returned_slice_the_state_and_appends_its_logs(tmp_path, good_state, capsys):
    state, returned = _returned_slice(tmp_path, good_state)
    old_manifest = read_state(state)[0]
    old_stats = open(f'{state}-run/stats.jsonl').read()
    returned_stats = open(f'{returned}-run/stats.jsonl').read()
    capsys.readouterr()
    assert _slice(state, '--adopt', str(returned)) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary['changed'] and summary['from_kimg'] == 0.008 and summary['kimg'] == 0.016
    assert 'stats.jsonl' in summary['logs_appended'] and 'log.txt' in summary['logs_appended']
    manifest, payload = read_state(state)
    returned_manifest, returned_payload = read_state(returned)
    assert manifest['kimg'] == 0.016 and manifest['history'] == returned_manifest['history']
    assert manifest['generation'] > max(old_manifest['generation'], returned_manifest['generation'])
    assert sorted(os.listdir(state)) == sorted([MANIFEST] + [p['file'] for p in manifest['parts']])
    for name in ('G', 'D', 'G_ema'):
        assert all(torch.equal(v, returned_payload[name][k]) for k, v in payload[name].items())
    assert open(f'{state}-run/stats.jsonl').read() == old_stats + returned_stats
    # Adopting again changes nothing (the state is the same, the logs are already there).
    before = _tree_digest(state), _tree_digest(f'{state}-run')
    assert _slice(state, '--adopt', str(returned)) == 0
    assert not json.loads(capsys.readouterr().out.strip().splitlines()[-1])['changed']
    assert (_tree_digest(state), _tree_digest(f'{state}-run')) == before
    # The adopted state resumes.
    assert _slice(state, '--minutes', '5', '--kimg', '0.020') == 0 and read_state(state)[0]['kimg'] == 0.020


def test_adopt_refuses_what_does_not_continue_the_state_and_leaves_it(tmp_path, good_state, capsys):
    state, returned = _returned_slice(tmp_path, good_state)
    assert _slice(state, '--minutes', '5', '--kimg', '0.012') == 0        # the state moved on meanwhile
    before = _tree_digest(state), _tree_digest(f'{state}-run')
    capsys.readouterr()
    assert _slice(state, '--adopt', str(returned)) == 1
    err = capsys.readouterr().err
    assert err.count('error:') == 1 and 'does not continue' in err and 'Traceback' not in err
    assert (_tree_digest(state), _tree_digest(f'{state}-run')) == before
    # A corrupt returned state, or a folder without one, is one line and changes nothing either.
    fresh, corrupt = _returned_slice(tmp_path / 'b', good_state)
    part = corrupt / read_state(corrupt)[0]['parts'][0]['file']
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    for source in (corrupt, tmp_path / 'b' / 'out'):
        before = _tree_digest(fresh), _tree_digest(f'{fresh}-run')
        assert _slice(fresh, '--adopt', str(source)) == 1
        assert capsys.readouterr().err.count('error:') == 1
        assert (_tree_digest(fresh), _tree_digest(f'{fresh}-run')) == before
    assert _slice(fresh, '--adopt', str(fresh)) == 1                       # the state folder itself
    assert 'itself' in capsys.readouterr().err


def test_adopt_starts_a_state_and_an_interrupted_adoption_keeps_the_old_one(tmp_path, good_state, monkeypatch):
    state, returned = _returned_slice(tmp_path, good_state)
    new = tmp_path / 'states' / 'from-a-slot'                     # a network begun on a GPU: nothing here yet
    assert _slice(new, '--adopt', str(returned)) == 0
    assert read_state(new)[0]['kimg'] == 0.016 and os.path.exists(f'{new}-run/stats.jsonl')
    before = _tree_digest(state)
    real_write = _fail_manifest_writes(monkeypatch)
    assert _slice(state, '--adopt', str(returned)) == 1
    assert _tree_digest(state) == before                           # old state current, no copied part left
    monkeypatch.setattr(slice_mod, 'atomic_write', real_write)
    assert _slice(state, '--adopt', str(returned)) == 0                   # the retry completes it
    assert read_state(state)[0]['kimg'] == 0.016
    assert open(f'{state}-run/stats.jsonl').read().count('\n') == open(f'{returned}-run/stats.jsonl').read().count(
        '\n') + open(f'{good_state}-run/stats.jsonl').read().count('\n')     # the logs appended once


def test_clock_leaves_time_for_the_last_save(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(slice_mod.time, 'time', lambda: now[0])
    clock = slice_mod._Clock(deadline=100.0, first_save_estimate_s=2.0)
    stops = []
    for t in (0, 30, 32, 34, 40, 50, 80, 88, 89, 90):   # warm-up step of 30 s is not counted; later steps 2-30 s
        now[0] = t
        stops.append(clock.should_stop())
    # Reserve: 1.5 x save (3 s) + 2 x the longest recent step (30 s from t=50 to 80) = 63 s.
    assert stops == [False, False, False, False, False, False, True, True, True, True]
    clock.saved(10.0)
    now[0] = 95.0
    assert clock.should_stop()
    clock = slice_mod._Clock(deadline=100.0)
    clock.stop_requested = True                              # SIGTERM
    assert clock.should_stop()


def test_corrupt_or_missing_state_is_one_line_and_untouched(tmp_path, good_state, capsys):
    def damaged(name, damage):
        state = tmp_path / name
        shutil.copytree(good_state, state)
        damage(state)
        before = _tree_digest(state)
        assert _slice(state, '--minutes', '1') == 1
        err = capsys.readouterr().err
        (line,) = err.strip().splitlines()
        assert line.startswith('error: ') and 'Traceback' not in err
        assert _tree_digest(state) == before and not os.path.exists(f'{state}-run')
        return line

    def part_of(state):
        return state / json.loads((state / MANIFEST).read_text())['parts'][0]['file']

    def flip(state):
        data = bytearray(part_of(state).read_bytes())
        data[len(data) // 2] ^= 1
        part_of(state).write_bytes(bytes(data))
    assert 'does not match its SHA-256' in damaged('flip', flip)
    assert 'is missing' in damaged('gone', lambda s: part_of(s).unlink())
    assert 'has 10 bytes' in damaged('short', lambda s: part_of(s).write_bytes(b'0123456789'))
    assert 'cannot be read' in damaged('json', lambda s: (s / MANIFEST).write_text('{"format": "aliasfree-'))

    def traversal(state):
        manifest = json.loads((state / MANIFEST).read_text())
        manifest['parts'][0]['file'] = '../../etc/passwd'
        (state / MANIFEST).write_text(json.dumps(manifest))
    assert 'part entry is malformed' in damaged('traversal', traversal)

    def resealed(state):   # valid checksums over a payload that is not a state: still refused
        import io
        buf = io.BytesIO()
        torch.save({'G': 'not tensors'}, buf)
        part_of(state).write_bytes(buf.getvalue())
        manifest = json.loads((state / MANIFEST).read_text())
        manifest['parts'][0].update(bytes=len(buf.getvalue()), sha256=hashlib.sha256(buf.getvalue()).hexdigest())
        (state / MANIFEST).write_text(json.dumps(manifest))
    assert 'G is not a dict of tensors' in damaged('resealed', resealed)

    assert 'no training state in' in damaged('empty', lambda s: [p.unlink() for p in s.iterdir()])
    state = tmp_path / 'existing'
    shutil.copytree(good_state, state)
    before = _tree_digest(state)
    assert _slice(state, '--minutes', '1', '--init', '--cfg', 'stylegan2', '--data', 'x', '--gpus', '1',
                  '--batch', '4', '--gamma', '1') == 1
    line = capsys.readouterr().err.strip()
    assert 'already holds a training state' in line and _tree_digest(state) == before


def test_failed_save_keeps_the_old_state_and_leftovers_are_cleaned(tmp_path, good_state, monkeypatch):
    state = tmp_path / 'state'
    shutil.copytree(good_state, state)
    manifest, payload = read_state(state)
    before = _tree_digest(state)
    _fail_manifest_writes(monkeypatch)
    snapshot = _snapshot_of(payload)
    with pytest.raises(AtomicWriteError):
        write_state(state, snapshot, manifest['options'], [])
    assert _tree_digest(state) == before                # new parts removed again, old ones and state.json kept
    monkeypatch.undo()
    # A save killed between its parts and state.json leaves parts of the next generation and a temporary file.
    (state / 'part-999999-00.bin').write_bytes(b'orphan')
    (state / '.part-000003-00.bin.abcd1234.tmp').write_bytes(b'half')
    assert _slice(state, '--minutes', '5', '--kimg', '0.012') == 0
    names = os.listdir(state)
    assert 'part-999999-00.bin' not in names and not [n for n in names if n.endswith('.tmp')]
    assert read_state(state)[0]['kimg'] == 0.012


class _Net(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n))
        self.register_buffer('count', torch.arange(3))


def _snapshot_of(payload):
    """A training-loop-like snapshot (live modules) from a loaded payload."""
    nets = {}
    for name in ('G', 'D', 'G_ema'):
        module = torch.nn.Module()
        for key, tensor in payload[name].items():
            holder = module
            *path, leaf = key.split('.')
            for part in path:
                if not hasattr(holder, part):
                    holder.add_module(part, torch.nn.Module())
                holder = getattr(holder, part)
            holder.register_buffer(leaf, tensor.clone())
        nets[name] = module
    pipe = None if payload['augment_p'] is None else type('Pipe', (), {'p': torch.tensor(payload['augment_p'])})()
    return dict(nets, augment_pipe=pipe, training_state=payload['training_state'])


def _adam_snapshot(n=20000, steps=3, betas=(0.0, 0.99)):
    torch.manual_seed(0)
    G, D = _Net(n), _Net(n // 2)
    opts = {}
    for name, net in (('G_opt', G), ('D_opt', D)):
        opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=betas)
        for _ in range(steps):
            opt.zero_grad()
            (net.weight.square().sum() * torch.rand(())).backward()
            opt.step()
        opts[name] = opt.state_dict()
    state = dict(cur_nimg=40, cur_tick=2, batch_idx=10, G_opt=opts['G_opt'], D_opt=opts['D_opt'],
                 pl_mean=torch.tensor(0.5), rng_states=[dict(cpu=torch.get_rng_state())])
    return dict(G=G, D=D, G_ema=_Net(n), augment_pipe=None, training_state=state)


def test_storage_levels_and_part_limits(tmp_path):
    snapshot = _adam_snapshot()
    weights = (20000 + 10000 + 20000) * 4
    moments = (20000 + 10000) * 4                  # exp_avg_sq only: exp_avg is not stored with beta1 = 0
    margin = 20_000                                # torch.save's own bytes (~10 kB here), below every step
    cases = [(weights + moments + margin, 0), (weights + moments // 2 + margin, 1),
             (weights - 40_000 + moments // 2 + margin, 2), (weights // 2 + moments // 2 + margin, 3),
             (weights // 2 + margin, 4)]
    for limit, level in cases:
        data, chosen = serialize_payload(snapshot, max_bytes=limit)
        assert chosen == level and len(data) <= limit, (limit, chosen)
    with pytest.raises(SliceStateError, match='even with float16 weights and no optimizer moments'):
        serialize_payload(snapshot, max_bytes=weights // 2 - 1000)

    manifest = write_state(tmp_path / 's', snapshot, options={'batch_size': 4}, history=[],
                           max_part_bytes=30_000, max_total_bytes=weights // 2 + moments // 2 + margin)
    assert manifest['storage']['level'] == 3 and len(manifest['parts']) >= 4
    assert all(os.path.getsize(tmp_path / 's' / p['file']) <= 30_000 for p in manifest['parts'])
    payload = slice_mod.read_payload(tmp_path / 's', manifest)     # not a network: no architecture to check
    original = snapshot['G'].weight.detach()
    restored = payload['G']['weight']
    assert restored.dtype == torch.float32 and not torch.equal(restored, original)
    assert torch.allclose(restored, original, rtol=2**-10, atol=1e-7)              # float16 rounding
    assert torch.equal(payload['G']['count'], torch.arange(3))                     # integers stay exact
    v = snapshot['training_state']['G_opt']['state'][0]['exp_avg_sq']
    assert torch.allclose(payload['training_state']['G_opt']['state'][0]['exp_avg_sq'], v, rtol=2**-7)


def test_dropping_exp_avg_is_exact_when_beta1_is_zero():
    # The claim behind not storing Adam's first moments: with beta1 = 0 the next step does not depend on them.
    snapshot = _adam_snapshot(n=1000)
    stored = encode_payload(snapshot, 0)['training_state']['G_opt']
    assert 'exp_avg' not in stored['state'][0] and 'exp_avg_sq' in stored['state'][0]
    results = []
    for state_dict in (snapshot['training_state']['G_opt'], slice_mod._decode_optimizer(stored)):
        net = _Net(1000)
        with torch.no_grad():
            net.weight.copy_(snapshot['G'].weight)
        opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.0, 0.99))
        opt.load_state_dict(state_dict)
        net.weight.grad = torch.linspace(-1, 1, 1000)
        opt.step()
        results.append(net.weight.detach().clone())
    assert torch.equal(results[0], results[1])
    # With beta1 > 0 they matter, and are kept.
    kept = encode_payload(_adam_snapshot(n=1000, betas=(0.9, 0.99)), 0)['training_state']['G_opt']
    assert 'exp_avg' in kept['state'][0]


def test_disk_full_error_is_a_user_error(tmp_path, monkeypatch):
    # The one-line error of atomic_io reaches the slice's caller unchanged (tools.cli prints it as one line).
    snapshot = _adam_snapshot(n=100)

    def enospc(path, write_fn):
        raise AtomicWriteError(f'cannot write {path}: {os.strerror(errno.ENOSPC)}')
    monkeypatch.setattr(slice_mod, 'atomic_write', enospc)
    with pytest.raises(AtomicWriteError, match='No space left'):
        write_state(tmp_path / 's', snapshot, {}, [])
    assert not [f for f in os.listdir(tmp_path / 's')]


def test_estimate_matches_the_state_a_slice_writes(good_state, photos16, tiny_net_args, capsys):
    assert _slice(good_state.parent / 'unused', '--minutes', '1', '--estimate',
                  *_init_args(photos16, tiny_net_args)) == 0
    estimate = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = json.loads((good_state / MANIFEST).read_text())
    assert estimate['storage'] == manifest['storage']
    assert abs(estimate['state_mib'] - manifest['payload_bytes'] / 2**20) < 0.05 * estimate['state_mib']
    assert not (good_state.parent / 'unused').exists()


def test_compact_state_is_remembered_and_resumes(tmp_path, good_state, photos16, tiny_net_args, capsys):
    state = tmp_path / 'state'
    shutil.copytree(good_state, state)
    full = json.loads((state / MANIFEST).read_text())
    assert full['storage']['level'] == 0
    limit = slice_mod._MANIFEST_RESERVE + int(full['payload_bytes'] * 0.7)    # forces less precise storage
    capsys.readouterr()
    assert _slice(tmp_path / 'unused', '--minutes', '1', '--max-mib', f'{limit / 2**20:.6f}', '--estimate',
                  *_init_args(photos16, tiny_net_args)) == 0
    estimate = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert _slice(state, '--minutes', '5', '--kimg', '0.012', '--max-mib', f'{limit / 2**20:.6f}') == 0
    compact = json.loads((state / MANIFEST).read_text())
    assert compact['storage']['level'] >= 1 and compact['max_state_bytes'] <= limit
    assert estimate['storage'] == compact['storage']      # --estimate applies the cap as the slice does
    assert sum(p['bytes'] for p in compact['parts']) <= limit - slice_mod._MANIFEST_RESERVE
    assert _slice(state, '--minutes', '5', '--kimg', '0.016') == 0          # no --max-mib: the state's own
    again = json.loads((state / MANIFEST).read_text())
    assert again['kimg'] == 0.016 and again['storage'] == compact['storage']
    assert again['max_state_bytes'] == compact['max_state_bytes']


def test_cpu_minutes_stop_the_slice_and_cpu_time_is_counted(tmp_path, good_state):
    state = tmp_path / 'state'
    shutil.copytree(good_state, state)
    before = json.loads((state / MANIFEST).read_text())['cpu_seconds']
    assert _slice(state, '--minutes', '10', '--kimg', '1000', '--cpu-minutes', '0.05') == 0
    manifest = json.loads((state / MANIFEST).read_text())
    last = manifest['history'][-1]
    assert 0.008 < manifest['kimg'] < 1000 and last['cpu_seconds'] >= 3 and last['seconds'] < 120
    assert manifest['cpu_seconds'] >= before + 2        # the training's own CPU clock goes on across slices
    stats = [json.loads(line) for line in open(f'{state}-run/stats.jsonl')]
    totals = [s['Timing/cpu_sec_total'] for s in stats]
    # One clock: the state's count is read at the save, after the last stats line and the final image grid.
    assert totals == sorted(totals) and -0.1 <= manifest['cpu_seconds'] - totals[-1] < 3   # rounded to 0.1 s


def test_metrics_can_be_changed_for_later_slices(tmp_path, good_state, capsys):
    state = tmp_path / 'state'
    shutil.copytree(good_state, state)
    assert _slice(state, '--minutes', '5', '--kimg', '0.012', '--metrics', 'swd', '--metrics-samples', '16') == 0
    manifest = json.loads((state / MANIFEST).read_text())
    assert manifest['options']['metrics'] == ['swd'] and manifest['options']['metrics_num_samples'] == 16
    lines = [json.loads(line) for line in open(f'{state}-run/metric-swd.jsonl')]
    assert len(lines) == 1 and lines[0]['results']['swd'] > 0
    assert _slice(state, '--minutes', '5', '--kimg', '0.016') == 0      # remembered
    assert len(open(f'{state}-run/metric-swd.jsonl').readlines()) == 2
    capsys.readouterr()
    assert _slice(state, '--minutes', '5', '--metrics', 'os.system') == 1
    assert 'unknown' in capsys.readouterr().err


def test_learning_rates_and_ema_can_change_for_a_late_phase(tmp_path, good_state, capsys):
    state = tmp_path / 'state'
    shutil.copytree(good_state, state)
    before = json.loads((state / MANIFEST).read_text())['options']
    assert before['G_opt_kwargs']['lr'] != 0.0005 and before['ema_kimg'] != 7.5
    assert _slice(state, '--minutes', '5', '--kimg', '0.012', '--glr', '0.0005', '--dlr', '0.00025',
                  '--ema-kimg', '7.5') == 0
    manifest, payload = read_state(state)
    options = manifest['options']
    assert (options['G_opt_kwargs']['lr'], options['D_opt_kwargs']['lr'], options['ema_kimg']) == (0.0005, 0.00025,
                                                                                                  7.5)
    assert options['G_opt_kwargs']['betas'] == before['G_opt_kwargs']['betas']
    # The optimizers ran at the new rates: lazy regularization scales each by interval / (interval + 1).
    g_ratio = options['G_reg_interval'] / (options['G_reg_interval'] + 1)
    d_ratio = options['D_reg_interval'] / (options['D_reg_interval'] + 1)
    assert payload['training_state']['G_opt']['param_groups'][0]['lr'] == pytest.approx(0.0005 * g_ratio)
    assert payload['training_state']['D_opt']['param_groups'][0]['lr'] == pytest.approx(0.00025 * d_ratio)
    assert payload['training_state']['G_opt']['state'], 'Adam moments kept across the change'
    log = open(f'{state}-run/log.txt').read()
    assert 'glr 0.002 -> 0.0005' in log and 'ema_kimg' in log
    assert _slice(state, '--minutes', '5', '--kimg', '0.016') == 0      # remembered by later slices
    assert json.loads((state / MANIFEST).read_text())['options']['G_opt_kwargs']['lr'] == 0.0005
    capsys.readouterr()
    assert _slice(state, '--minutes', '5', '--glr', '-1') == 1
    assert capsys.readouterr().err.count('error:') == 1


def test_a_second_slice_of_a_locked_state_is_refused_and_the_lock_dies_with_its_holder(tmp_path, good_state,
                                                                                         photos16, tiny_net_args,
                                                                                         capsys):
    """Two slices of one state would both train from its kimg and overwrite each other's saves. While a process
    holds the folder's lock (here a child that takes the same flock a slice takes), a slice is refused with one
    line and the state stays untouched; once that holder is killed the kernel drops the lock and a slice runs."""
    state = tmp_path / 'state'
    shutil.copytree(good_state, state)
    before = _tree_digest(state)
    holder = subprocess.Popen([sys.executable, '-c', 'import fcntl, os, sys, time\n'
                               'fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n'
                               'fcntl.flock(fd, fcntl.LOCK_EX)\nprint("held", flush=True)\ntime.sleep(60)',
                               str(state)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        t0 = time.time()
        assert _slice(state, '--minutes', '1', '--kimg', '0.012') == 1
        assert time.time() - t0 < 5            # refused at once, not after waiting for the lock
        err = capsys.readouterr().err
        (line,) = err.strip().splitlines()
        assert line.startswith('error: ') and 'in use by another slice' in line and 'Traceback' not in err
        assert _tree_digest(state) == before
        # Saving into a locked folder is refused as well, and leaves the state it would read untouched.
        other = tmp_path / 'other'
        shutil.copytree(good_state, other)
        assert _slice(other, '--minutes', '1', '--kimg', '0.012', '--save-to', str(state)) == 1
        assert 'in use by another slice' in capsys.readouterr().err
        assert _tree_digest(other) == _tree_digest(good_state) and _tree_digest(state) == before
    finally:
        holder.kill()
        holder.wait()
    capsys.readouterr()
    assert _slice(state, '--minutes', '5', '--kimg', '0.012') == 0
    assert read_state(state)[0]['kimg'] == pytest.approx(0.012)


def test_a_failed_init_leaves_no_folder_behind(tmp_path, photos16, tiny_net_args, capsys):
    """--init creates (and locks) its folder before building the networks; a refusal removes it again."""
    state = tmp_path / 'new' / 'deeper' / 'state'
    args = _init_args(photos16, tiny_net_args)
    args[args.index('--gpus') + 1] = '2'
    assert _slice(state, '--minutes', '1', *args) == 1
    assert 'a slice runs one process' in capsys.readouterr().err
    assert os.listdir(tmp_path) == []           # neither the folder nor the parents it created
