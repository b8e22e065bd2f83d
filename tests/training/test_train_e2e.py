"""End-to-end: a tiny run per config writes what it should, its snapshots open in the loader and the
visualizer's renderer, and resuming from a snapshot continues exactly like the uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import networks
from tools.train import build_config, build_parser, main
from training.training_loop import training_loop


def _only_run_dir(outdir):
    (name,) = os.listdir(outdir)
    return os.path.join(outdir, name)


@pytest.mark.parametrize('cfg, kimg, extra', [
    ('stylegan2', 0.024, ['--cond', '1', '--mirror', '1', '--freezed', '2']),
    ('stylegan3-t', 0.012, ['--aug', 'fixed', '--p', '0.5', '--metrics', 'eqt50k_int', '--metrics-samples', '2']),
    ('stylegan3-r', 0.008, ['--aug', 'noaug']),
])
def test_tiny_run_per_config(tmp_path, photos16, tiny_net_args, cfg, kimg, extra, monkeypatch):
    # Training turns TF32 off as NVlabs does (cuDNN's default is on): a GPU would otherwise round every product.
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', True)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', True)
    rc = main(['--outdir', str(tmp_path), '--cfg', cfg, '--data', photos16, '--gpus', '1', '--batch', '4',
               '--gamma', '1', '--kimg', str(kimg), '--tick', '0.008', '--snap', '1', *tiny_net_args, *extra])
    assert rc == 0
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    run_dir = _only_run_dir(tmp_path)
    for name in ('training_options.json', 'log.txt', 'reals.png', 'fakes_init.png', 'stats.jsonl',
                 'network-snapshot-000000.pkl'):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    assert not [f for f in os.listdir(run_dir) if f.endswith('.tmp')]
    options = json.load(open(os.path.join(run_dir, 'training_options.json')))
    assert options['batch_size'] == 4 and options['training_set_kwargs']['resolution'] == 16
    records = [json.loads(line) for line in open(os.path.join(run_dir, 'stats.jsonl'))]
    assert records and all('Loss/G/loss' in r and 'Timing/sec_per_kimg' in r for r in records)
    assert 'sec/kimg' in open(os.path.join(run_dir, 'log.txt')).read()
    if '--metrics' in extra:
        metric = json.loads(open(os.path.join(run_dir, 'metric-eqt50k_int.jsonl')).readline())
        assert metric['snapshot_pkl'].endswith('network-snapshot-000000.pkl') and 'eqt50k_int' in metric['results']

    snapshot = os.path.join(run_dir, 'network-snapshot-000000.pkl')
    data = networks.load_network_pkl(snapshot)
    assert {'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs', 'training_state'} <= set(data)
    assert data['training_state']['cur_nimg'] == round(kimg * 1000)
    G = data['G_ema']
    assert G.img_resolution == 16 and G.c_dim == (7 if '--cond' in extra else 0)
    assert (data['augment_pipe'] is None) == ('noaug' in extra)
    with torch.no_grad():
        img = G(torch.randn([2, G.z_dim]), torch.eye(max(G.c_dim, 1))[:2, :G.c_dim])
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()

    from viz.core.render_types import RenderArgs
    from viz.core.renderer import Renderer
    result = Renderer().render(RenderArgs(pkl=snapshot))
    assert result.error is None, result.error
    assert result.image.shape[:2] == (16, 16)


def _config(outdir, data, tiny_net_args, kimg, resume=None, seed=0):
    argv = ['--outdir', str(outdir), '--cfg', 'stylegan2', '--data', data, '--gpus', '1', '--batch', '4',
            '--gamma', '1', '--kimg', str(kimg), '--tick', '0.016', '--snap', '1', '--seed', str(seed),
            *tiny_net_args]
    if resume:
        argv += ['--resume', resume]
    cfg = build_config(build_parser().parse_args(argv), 'cpu')
    cfg.ada_kimg = 0.1               # let ADA's p move visibly within a few steps
    return cfg


def _run(cfg):
    steps = []
    result = training_loop(cfg, log=lambda *_: None, step_callback=lambda s: steps.append(
        dict(nimg=s['cur_nimg'], losses=s['losses'], p=s['augment_p'])))
    return steps, result


def test_resume_continues_exactly(tmp_path, photos16, tiny_net_args):
    # StyleGAN2 exercises every lazy phase: R1 at step 0 and 16, path length every 4 steps, style mixing, ADA.
    full_steps, full = _run(_config(tmp_path / 'full', photos16, tiny_net_args, kimg=0.032))
    half_steps, half = _run(_config(tmp_path / 'half', photos16, tiny_net_args, kimg=0.016))
    assert [s['losses'] for s in half_steps] == [s['losses'] for s in full_steps[:4]]
    resumed_steps, resumed = _run(_config(tmp_path / 'resumed', photos16, tiny_net_args, kimg=0.032,
                                          resume=half['snapshot_pkl']))
    assert [s['nimg'] for s in resumed_steps] == [20, 24, 28, 32]
    assert 'Loss/pl_penalty' in resumed_steps[0]['losses']         # batch_idx 4: a path-length step
    for a, b in zip(resumed_steps, full_steps[4:]):
        assert a['losses'] == b['losses'] and a['p'] == b['p']
    assert full_steps[-1]['p'] != 0                                 # ADA moved, and moved the same way

    end_full = networks.load_network_pkl(full['snapshot_pkl'])
    end_resumed = networks.load_network_pkl(resumed['snapshot_pkl'])
    for key in ('G', 'D', 'G_ema'):
        for (name, t1), (_, t2) in zip(end_full[key].state_dict().items(), end_resumed[key].state_dict().items()):
            assert torch.equal(t1, t2), f'{key}.{name}'
    s1, s2 = end_full['training_state'], end_resumed['training_state']
    assert s1['cur_nimg'] == s2['cur_nimg'] == 32 and s1['batch_idx'] == s2['batch_idx'] == 8
    assert torch.equal(s1['G_opt']['state'][0]['exp_avg_sq'], s2['G_opt']['state'][0]['exp_avg_sq'])


def test_resume_from_weights_only(tmp_path, photos16, tiny_net_args):
    # A pickle with networks but no training state (e.g. NVlabs'): weights are taken, counters start at 0.
    _steps, first = _run(_config(tmp_path / 'first', photos16, tiny_net_args, kimg=0.004))
    data = networks.load_network_pkl(first['snapshot_pkl'])
    weights_only = str(tmp_path / 'weights-only.pkl')
    networks.save_network_pkl(weights_only, dict(G=data['G'], D=data['D'], G_ema=data['G_ema']))
    cfg = _config(tmp_path / 'second', photos16, tiny_net_args, kimg=0.004, resume=weights_only, seed=1)
    cfg.network_snapshot_ticks = cfg.image_snapshot_ticks = None
    seen = {}

    def check(step):
        if not seen:
            seen['nimg'] = step['cur_nimg']
            seen['mapping'] = [(n, p.detach().clone()) for n, p in step['G_ema'].named_parameters()]
    training_loop(cfg, log=lambda *_: None, step_callback=check)
    assert seen['nimg'] == 4
    start = dict(data['G_ema'].named_parameters())
    # After one step G_ema is still next to the loaded weights, not at this run's own (seed 1) initialisation.
    assert all(torch.allclose(p, start[n], atol=0.05) for n, p in seen['mapping'])
    torch.manual_seed(1)
    fresh = type(data['G'])(**data['G'].init_kwargs)
    fresh_params = dict(fresh.named_parameters())
    assert not all(torch.allclose(p, fresh_params[n], atol=0.05) for n, p in seen['mapping'])


def test_killed_run_resumes_from_last_snapshot(tmp_path, photos16, tiny_net_args):
    # SIGKILL in the middle of training: the snapshots on disk are whole, and the run resumes from the last one.
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    argv = ['--cfg', 'stylegan2', '--data', photos16, '--gpus', '1', '--batch', '4', '--gamma', '1',
            '--tick', '0.004', '--snap', '1', *tiny_net_args]
    proc = subprocess.Popen([sys.executable, '-m', 'tools.train', '--outdir', str(tmp_path / 'a'), '--kimg', '100',
                             *argv], cwd=repo, env=dict(os.environ, OMP_NUM_THREADS='1'),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            runs = os.listdir(tmp_path / 'a') if os.path.isdir(tmp_path / 'a') else []
            if runs and 'fakes000000.png' in os.listdir(tmp_path / 'a' / runs[0]):   # a few ticks in
                break
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_dir = _only_run_dir(tmp_path / 'a')
    snapshot = os.path.join(run_dir, 'network-snapshot-000000.pkl')
    state = networks.load_network_pkl(snapshot)['training_state']
    assert state['cur_nimg'] >= 4
    rc = main(['--outdir', str(tmp_path / 'b'), '--kimg', str((state['cur_nimg'] + 4) / 1000), '--resume', snapshot,
               *argv])
    assert rc == 0
    resumed = networks.load_network_pkl(os.path.join(_only_run_dir(tmp_path / 'b'), 'network-snapshot-000000.pkl'))
    assert resumed['training_state']['cur_nimg'] == state['cur_nimg'] + 4


def test_gpus_flag_spawns_gloo_processes_on_cpu(tmp_path, photos16, tiny_net_args):
    rc = main(['--outdir', str(tmp_path), '--cfg', 'stylegan2', '--data', photos16, '--gpus', '2', '--batch', '4',
               '--gamma', '1', '--kimg', '0.008', '--tick', '0.004', '--snap', '1', *tiny_net_args])
    assert rc == 0
    run_dir = _only_run_dir(tmp_path)
    assert networks.load_network_pkl(os.path.join(run_dir, 'network-snapshot-000000.pkl'))['training_state'][
        'num_gpus'] == 2
    assert 'Number of processes: 2' not in open(os.path.join(run_dir, 'log.txt')).read()   # options print only
    assert open(os.path.join(run_dir, 'log.txt')).read().count('Exiting') == 1               # rank 0 writes
