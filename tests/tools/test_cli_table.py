"""Every command line x {missing path, wrong-kind path, unwritable output, nonsense numbers}: one ``error:`` line.

Each case must exit with status 1 and print exactly one line on stderr, starting with ``error:`` and naming the
problem, with no traceback. Most cases run in-process through the tool's ``main(argv)`` (fast); a few run the real
entry points (``python -m tools.X``, ``python visualizer.py``) in subprocesses.

Unwritable outputs are paths below a regular file: tests may run as root, whom ``chmod`` does not stop.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def f(tmp_path_factory) -> dict:
    """Paths of every kind the table needs, made once: one tiny pickle, its truncation, wrong kinds, sessions."""
    import torch

    import networks
    from networks import stylegan3

    root = tmp_path_factory.mktemp('cli_table')
    torch.manual_seed(0)
    G = stylegan3.Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=16, img_channels=3, channel_base=64,
                            channel_max=4)
    paths = {'root': str(root), 'pkl': str(root / 'g.pkl'), 'missing': str(root / 'missing.pkl'),
             'folder': str(root / 'folder'), 'text': str(root / 'notes.txt'), 'blocker': str(root / 'blocker'),
             'truncated': str(root / 'truncated.pkl'), 'empty': str(root / 'empty.pkl'),
             'other_npz': str(root / 'other.npz'), 'spectrum': str(root / 'spectrum.npz'), 'out': str(root / 'out')}
    networks.save_network_pkl(paths['pkl'], dict(G_ema=G.eval()))
    data = open(paths['pkl'], 'rb').read()
    open(paths['truncated'], 'wb').write(data[:len(data) // 2])
    open(paths['empty'], 'wb').close()
    os.mkdir(paths['folder'])
    open(paths['text'], 'w').write('not a pickle\n')
    open(paths['blocker'], 'w').write('a regular file: nothing can be created below it, not even by root\n')
    np.savez(paths['other_npz'], weights=np.zeros(3))
    np.savez(paths['spectrum'], spectrum=np.ones((8, 8)), image_size=4, padding=2, num=1, source='x', mean=0.0,
             std=1.0, beta=8.0)

    def session(name: str, args: dict, **extra) -> str:
        path = str(root / f'{name}.json')
        with open(path, 'w') as fh:
            json.dump(dict(version=1, args=args, **extra), fh)
        return path

    paths['s_huge'] = session('huge', dict(spectrum_seeds=1e9))
    paths['s_huge_int'] = session('huge_int', dict(spectrum_seeds=10**9))
    paths['s_nonsense'] = session('nonsense', dict(colour_of_sky='blue'))
    paths['s_type'] = session('type', dict(trunc_psi='abc'))
    paths['s_nan'] = session('nan', dict(rotate=float('nan')))
    paths['s_seeds'] = session('seeds', dict(w0_seeds=[[-5, 1.0]]))
    paths['s_latent'] = session('latent', dict(latent=[0.0, 'x']))
    paths['s_direction'] = session('direction', dict(directions=[['pca', 0, 1.0, 'sideways']]))
    paths['s_views'] = session('views', dict(pkl='<default>'), views=['image', 'bogus'])
    paths['s_top'] = session('top', dict(pkl='<default>'), extra_field=1)
    return paths


def _gen_images(f, **kw):
    base = {'--network': f['pkl'], '--seeds': '0', '--outdir': f['out']}
    return _argv(base, kw)


def _argv(base: dict, changes: dict, positional: list | None = None) -> list[str]:
    merged = {**base, **{k.replace('_', '-') if k.startswith('--') else k: v for k, v in changes.items()}}
    out = list(positional or [])
    for key, value in merged.items():
        if value is not None:
            out += [key, value]
    return out


# (tool, argv builder taking the paths, text the error line must contain)
CASES = [
    # gen_images
    ('gen_images', lambda f: _gen_images(f, **{'--network': f['missing']}), 'does not exist'),
    ('gen_images', lambda f: _gen_images(f, **{'--network': f['folder']}), 'is a folder'),
    ('gen_images', lambda f: _gen_images(f, **{'--network': f['text']}), 'not a network pickle'),
    ('gen_images', lambda f: _gen_images(f, **{'--network': f['empty']}), 'is empty'),
    ('gen_images', lambda f: _gen_images(f, **{'--network': f['truncated']}), 'truncated or corrupt'),
    ('gen_images', lambda f: _gen_images(f, **{'--outdir': f['blocker']}), 'not a folder'),
    ('gen_images', lambda f: _gen_images(f, **{'--outdir': f['blocker'] + '/sub'}), 'not a folder'),
    ('gen_images', lambda f: _gen_images(f, **{'--seeds': '-5'}), 'bad seeds'),
    ('gen_images', lambda f: _gen_images(f, **{'--seeds': '0-9999999'}), 'more than'),
    ('gen_images', lambda f: _gen_images(f, **{'--trunc': 'nan'}), 'not a finite number'),
    ('gen_images', lambda f: _gen_images(f, **{'--translate': 'inf,0'}), 'not a finite number'),
    ('gen_images', lambda f: _gen_images(f, **{'--device': 'bogus'}), 'not a device'),
    ('gen_images', lambda f: _gen_images(f, **{'--class': '-1'}), 'must be >= 0'),
    ('gen_images', lambda f: _gen_images(f, **{'--direction': 'pca:0=x'}), 'not a number'),
    ('gen_images', lambda f: _gen_images(f, **{'--direction': 'pca:0=1@sideways'}), 'layers'),
    ('gen_images', lambda f: _gen_images(f, **{'--direction': 'pca:0=1@7-2'}), 'after the last'),
    ('gen_images', lambda f: _gen_images(f, **{'--direction': f['missing'] + '=1'}), 'not "pca"'),
    ('gen_images', lambda f: _gen_images(f, **{'--direction': f['other_npz'] + '=1'}), "the network's w"),
    ('gen_images', lambda f: _gen_images(f, **{'--direction': f['text'] + '=1'}), 'not a .npy / .npz'),
    ('gen_images', lambda f: _gen_images(f, **{'--cache-dir': f['blocker']}), 'not a folder'),
    # gen_video
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.mp4', '--fps', '0'], 'must be in 1..'),
    ('gen_video', lambda f: ['--network', f['missing'], '--output', f['out'] + '/v.mp4'], 'does not exist'),
    ('gen_video', lambda f: ['--network', f['folder'], '--output', f['out'] + '/v.mp4'], 'is a folder'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['blocker'] + '/v.mp4'], 'not a folder'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['folder']], 'must end in .mp4 or .gif'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--grid', '0x2'], '1..64'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--scale', '0'], '1..16'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--seeds', '-5'], 'bad seeds'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--w-frames', '0'], '1..'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--trunc', 'inf'],
     'not a finite number'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--sweep', 'x,z'], 'subset'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--class', '-1'], '>= 0'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--direction', 'pca=nan'],
     'finite'),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--direction',
                             f['other_npz'] + ':5=1'], "the network's w"),
    ('gen_video', lambda f: ['--network', f['pkl'], '--output', f['out'] + '/v.gif', '--cache-dir',
                             f['blocker'] + '/sub'], 'not a folder'),
    # avg_spectra
    ('avg_spectra', lambda f: ['heatmap', f['text'], '--png', f['out'] + '/h.png'], 'not a .npz archive'),
    ('avg_spectra', lambda f: ['heatmap', f['other_npz'], '--png', f['out'] + '/h.png'], 'no spectrum'),
    ('avg_spectra', lambda f: ['heatmap', f['pkl'], '--png', f['out'] + '/h.png'], 'is not a .npy array'),
    ('avg_spectra', lambda f: ['heatmap', f['missing'], '--png', f['out'] + '/h.png'], 'does not exist'),
    ('avg_spectra', lambda f: ['heatmap', f['folder'], '--png', f['out'] + '/h.png'], 'is a folder'),
    ('avg_spectra', lambda f: ['heatmap', f['spectrum'], '--png', f['blocker'] + '/h.png'], 'not a folder'),
    ('avg_spectra', lambda f: ['heatmap', f['spectrum'], '--png', f['out'] + '/h.png', '--sigma', 'nan'], 'finite'),
    ('avg_spectra', lambda f: ['slices', f['spectrum'], f['other_npz'], '--png', f['out'] + '/s.png'], 'no spectrum'),
    ('avg_spectra', lambda f: ['calc', '--source', f['missing'], '--dest', f['out'] + '/x.npz'], 'does not exist'),
    ('avg_spectra', lambda f: ['calc', '--source', f['pkl'], '--dest', f['blocker'] + '/x.npz'], 'not a folder'),
    ('avg_spectra', lambda f: ['calc', '--source', f['pkl'], '--dest', f['out'] + '/x.npz', '--std', '0'], 'in ['),
    ('avg_spectra', lambda f: ['calc', '--source', f['pkl'], '--dest', f['out'] + '/x.npz', '--padding', '0'], '1..'),
    ('avg_spectra', lambda f: ['stats', '--source', f['pkl'], '--num', '0'], 'must be in 1..'),
    ('avg_spectra', lambda f: ['stats', '--source', f['pkl'], '--trunc', 'nan'], 'not a finite number'),
    # sticking
    ('sticking', lambda f: ['--network', f['missing']], 'does not exist'),
    ('sticking', lambda f: ['--network', f['text']], 'not a network pickle'),
    ('sticking', lambda f: ['--network', f['pkl'], '--outdir', f['blocker'] + '/sub'], 'not a folder'),
    ('sticking', lambda f: ['--network', f['pkl'], '--num', '0', '--outdir', f['out']], 'must be in 1..'),
    ('sticking', lambda f: ['--network', f['pkl'], '--radius', 'nan', '--outdir', f['out']], 'not a finite number'),
    ('sticking', lambda f: ['--network', f['pkl'], '--seed', '-1', '--outdir', f['out']], 'must be in 0..'),
    # aliasing
    ('aliasing', lambda f: ['--network', f['missing'], '--outdir', f['out']], 'does not exist'),
    ('aliasing', lambda f: ['--network', f['text'], '--outdir', f['out']], 'not a network pickle'),
    ('aliasing', lambda f: ['--network', f['truncated'], '--outdir', f['out']], 'truncated or corrupt'),
    ('aliasing', lambda f: ['--network', f['pkl'], '--outdir', f['blocker'] + '/sub'], 'not a folder'),
    ('aliasing', lambda f: ['--network', f['pkl'], '--seeds', 'x', '--outdir', f['out']], 'seeds'),
    ('aliasing', lambda f: ['--network', f['pkl'], '--trunc', 'nan', '--outdir', f['out']], 'trunc'),
    ('aliasing', lambda f: ['--network', f['pkl'], '--translate', '1', '--outdir', f['out']], 'translate'),
    # layer_eq
    ('layer_eq', lambda f: ['--network', f['missing'], '--outdir', f['out']], 'does not exist'),
    ('layer_eq', lambda f: ['--network', f['text'], '--outdir', f['out']], 'not a network pickle'),
    ('layer_eq', lambda f: ['--network', f['truncated'], '--outdir', f['out']], 'truncated or corrupt'),
    ('layer_eq', lambda f: ['--network', f['pkl'], '--outdir', f['blocker'] + '/sub'], 'not a folder'),
    ('layer_eq', lambda f: ['--network', f['pkl'], '--num-samples', '0', '--outdir', f['out']], 'must be in 1..'),
    ('layer_eq', lambda f: ['--network', f['pkl'], '--kind', 'eqz', '--outdir', f['out']], 'invalid choice'),
    ('layer_eq', lambda f: ['--network', f['pkl'], '--region', 'edge', '--outdir', f['out']], 'invalid choice'),
    # train (parse-time checks: no dataset is opened)
    ('train', lambda f: _train(f, **{'--gamma': 'nan'}), 'not a finite number'),
    ('train', lambda f: _train(f, **{'--batch-gpu': '0'}), 'must be in 1..'),
    ('train', lambda f: _train(f, **{'--resume': f['missing']}), 'does not exist'),
    ('train', lambda f: _train(f, **{'--resume': f['truncated']}), 'cannot resume'),
    ('train', lambda f: _train(f, **{'--resume': f['pkl']}), 'not a training snapshot'),
    ('train', lambda f: _train(f, **{'--resume': f['folder']}), 'is a folder'),
    ('train', lambda f: _train(f, **{'--resume': f['text']}), 'not a network pickle'),
    ('train', lambda f: _train(f, **{'--outdir': f['blocker']}), 'not a folder'),
    ('train', lambda f: _train(f, **{'--outdir': f['blocker'] + '/runs'}), 'not a folder'),
    ('train', lambda f: _train(f, **{'--data': f['missing']}), 'Dataset not found'),
    ('train', lambda f: _train(f, **{'--gpus': '0'}), 'must be in 1..'),
    ('train', lambda f: _train(f, **{'--kimg': '-1'}), 'must be in'),
    ('train', lambda f: _train(f, **{'--p': '1.5'}), 'must be in [0, 1]'),
    ('train', lambda f: _train(f, **{'--glr': 'inf'}), 'not a finite number'),
    ('train', lambda f: _train(f, **{'--device': 'bogus'}), 'not a device'),
    # dataset_tool
    ('dataset_tool', lambda f: _dataset(f, **{'--count': '0'}), 'must be in 1..'),
    ('dataset_tool', lambda f: _dataset(f, **{'--source': f['missing']}), 'does not exist'),
    ('dataset_tool', lambda f: _dataset(f, **{'--dest': f['blocker'] + '/d.zip'}), 'not a folder'),
    ('dataset_tool', lambda f: _dataset(f, **{'--dest': f['blocker']}), 'not a folder'),
    ('dataset_tool', lambda f: _dataset(f, **{'--resolution': '0x16'}), '1..8192'),
    ('dataset_tool', lambda f: _dataset(f, **{'--resolution': 'big'}), 'expected WxH'),
    ('dataset_tool', lambda f: _dataset(f, **{'--max-images': '0'}), 'must be >= 1'),
    # calc_metrics
    ('calc_metrics', lambda f: _metrics(f, **{'--num-samples': '0'}), 'must be in 1..'),
    ('calc_metrics', lambda f: _metrics(f, **{'--network': f['missing']}), 'does not exist'),
    ('calc_metrics', lambda f: _metrics(f, **{'--network': f['folder']}), 'is a folder'),
    ('calc_metrics', lambda f: _metrics(f, **{'--network': f['text']}), 'not a network pickle'),
    ('calc_metrics', lambda f: _metrics(f, **{'--network': f['truncated']}), 'truncated or corrupt'),
    ('calc_metrics', lambda f: _metrics(f, **{'--detector': f['missing']}), 'does not exist'),
    ('calc_metrics', lambda f: _metrics(f, **{'--data': f['missing']}), 'does not exist'),
    ('calc_metrics', lambda f: _metrics(f, **{'--run-dir': f['blocker'] + '/sub'}), 'not a folder'),
    ('calc_metrics', lambda f: _metrics(f, **{'--metrics': 'fid50k_full,nonsense'}), 'unknown metric'),
    ('calc_metrics', lambda f: _metrics(f, **{'--gpus': '2'}), 'must be in 1..1'),
    ('calc_metrics', lambda f: _metrics(f, **{'--batch': '0'}), 'must be in 1..'),
    # train_slice
    ('train_slice', lambda f: _slice(f, **{'--minutes': '0'}), 'must be in [0.01, 10080]'),
    ('train_slice', lambda f: _slice(f, **{'--minutes': 'nan'}), 'not a finite'),
    ('train_slice', lambda f: _slice(f, **{'--save-every': '-1'}), 'must be in [0.01, 10080]'),
    ('train_slice', lambda f: _slice(f, **{'--state': f['blocker']}), 'not a folder'),
    ('train_slice', lambda f: _slice(f, **{'--save-to': f['blocker'] + '/sub'}), 'not a folder'),
    ('train_slice', lambda f: _slice(f, **{'--data': f['missing']}), 'does not exist'),
    ('train_slice', lambda f: _slice(f, **{'--device': 'bogus'}), 'not a device'),
    ('train_slice', lambda f: _slice(f, **{'--state': f['folder']}), 'no training state in'),
    ('train_slice', lambda f: ['--state', f['folder']], '--minutes: required'),
    ('train_slice', lambda f: _slice(f) + ['--adopt', f['folder']], 'no training state in'),
    ('train_slice', lambda f: _slice(f) + ['--init', '--cfg', 'stylegan3-t', '--data', f['folder'], '--gpus', '1',
                                          '--batch', '4', '--gamma', 'nan'], '--init'),
    # export_default
    ('export_default', lambda f: _export(f, **{'--state': f['missing']}), 'does not exist'),
    ('export_default', lambda f: _export(f), 'no training state in'),
    ('export_default', lambda f: _export(f) + ['--snapshot', f['pkl']], 'not allowed with argument'),
    ('export_default', lambda f: _export(f, **{'--key': 'sg4'}), 'invalid choice'),
    ('export_default', lambda f: _export(f, **{'--data': f['missing']}), 'does not exist'),
    ('export_default', lambda f: _export(f, **{'--dest': f['blocker'] + '/sub'}), 'not a folder'),
    ('export_default', lambda f: _export(f, **{'--eq-samples': '0'}), 'must be in 1..'),
    ('export_default', lambda f: _export(f, **{'--device': 'bogus'}), 'not a device'),
    # project
    ('project', lambda f: _project(f, **{'--network': f['missing']}), 'does not exist'),
    ('project', lambda f: _project(f, **{'--network': f['text']}), 'not a network pickle'),
    ('project', lambda f: _project(f, **{'--target': f['missing']}), 'does not exist'),
    ('project', lambda f: _project(f, **{'--target': f['text']}), 'is not a readable image'),
    ('project', lambda f: _project(f, **{'--target': f['folder']}), 'is a folder'),
    ('project', lambda f: _project(f, **{'--outdir': f['blocker']}), 'not a folder'),
    ('project', lambda f: _project(f, **{'--steps': '0'}), 'must be in 1..'),
    ('project', lambda f: _project(f, **{'--lr': 'nan'}), 'not a finite'),
    ('project', lambda f: _project(f, **{'--space': 'z'}), 'invalid choice'),
    ('project', lambda f: _project(f, **{'--device': 'bogus'}), 'not a device'),
    # visualizer.py --headless (and its session files)
    ('visualizer', lambda f: ['--headless', f['missing']], 'does not exist'),
    ('visualizer', lambda f: ['--headless', f['folder']], 'is a folder'),
    ('visualizer', lambda f: ['--headless', f['text']], 'not a network pickle'),
    ('visualizer', lambda f: ['--headless', '--capture-dir', f['blocker'] + '/sub'], 'not a folder'),
    ('visualizer', lambda f: ['--headless', '--seed', '-1'], 'must be in 0..'),
    ('visualizer', lambda f: ['--headless', '--views', 'image,bogus'], 'subset'),
    ('visualizer', lambda f: ['--headless', '--device', 'bogus'], 'not a device'),
    ('visualizer', lambda f: ['--headless', '--session', f['missing']], 'does not exist'),
    ('visualizer', lambda f: ['--headless', '--session', f['text']], 'not valid JSON'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_huge']], 'args.spectrum_seeds'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_huge_int']], 'args.spectrum_seeds'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_nonsense']], 'args.colour_of_sky'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_type']], 'args.trunc_psi'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_nan']], 'args.rotate'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_seeds']], 'args.w0_seeds'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_views']], 'views'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_latent']], 'args.latent'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_direction']], 'args.directions'),
    ('visualizer', lambda f: ['--headless', '--session', f['s_top']], 'extra_field'),
]


def _train(f, **kw):
    return _argv({'--outdir': f['out'], '--cfg': 'stylegan3-t', '--data': f['folder'], '--gpus': '1',
                  '--batch': '4', '--gamma': '1', '--workers': '0', '--device': 'cpu'}, kw)


def _project(f, **kw):
    return _argv({'--network': f['pkl'], '--target': f['spectrum'], '--outdir': f['out'], '--steps': '1'}, kw)


def _slice(f, **kw):
    return _argv({'--state': f['out'] + '/state', '--minutes': '1', '--device': 'cpu'}, kw)


def _export(f, **kw):
    return _argv({'--key': 'sg3t', '--state': f['folder'], '--data': f['folder'], '--dest': f['out'] + '/dest',
                  '--docs': f['out'] + '/docs', '--device': 'cpu'}, kw)


def _dataset(f, **kw):
    return _argv({'--source': 'builtin:photos', '--dest': f['out'] + '/d.zip', '--resolution': '16x16'}, kw)


def _metrics(f, **kw):
    return _argv({'--network': f['pkl'], '--metrics': 'eqt50k_int'}, kw) + ['--no-report']


def _module(tool: str):
    if tool == 'visualizer' and ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    return importlib.import_module(tool if tool == 'visualizer' else f'tools.{tool}')


def _check_one_error_line(status: int, err: str, needle: str, what: str) -> None:
    assert status == 1, f'{what}: exit status {status}, stderr {err!r}'
    assert 'Traceback' not in err, f'{what}: {err}'
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), f'{what}: stderr {err!r}'
    assert needle in lines[0], f'{what}: {needle!r} not in {lines[0]!r}'


def test_every_tool_is_in_the_table():
    tools = {name[:-3] for name in os.listdir(os.path.join(ROOT, 'tools'))
             if name.endswith('.py') and name not in ('__init__.py', 'cli.py', 'threads.py')}
    assert tools | {'visualizer'} == {case[0] for case in CASES}


@pytest.mark.parametrize('tool, build, needle', CASES,
                         ids=[f'{c[0]}-{i}' for i, c in enumerate(CASES)])
def test_bad_input_is_one_error_line(f, capsys, tool, build, needle):
    argv = build(f)
    status = _module(tool).main(argv)
    err = capsys.readouterr().err
    _check_one_error_line(status, err, needle, f'{tool} {" ".join(argv)}')
    assert not os.path.exists(f['out']), 'a refused command must not create its output folder'


def test_bad_input_through_the_real_entry_points(f):
    """`python -m tools.X` / `python visualizer.py`: the real processes exit 1 with one line (run in parallel)."""
    cases = [
        (['-m', 'tools.gen_images', *_gen_images(f, **{'--seeds': '-5'})], 'bad seeds'),
        (['-m', 'tools.gen_video', '--network', f['pkl'], '--output', f['out'] + '/v.mp4', '--fps', '0'], '1..240'),
        (['-m', 'tools.train', *_train(f, **{'--resume': f['truncated']})], 'cannot resume'),
        (['-m', 'tools.avg_spectra', 'heatmap', f['other_npz'], '--png', f['out'] + '/h.png'], 'no spectrum'),
        (['-m', 'tools.calc_metrics', *_metrics(f, **{'--network': f['truncated']})], 'truncated or corrupt'),
        ([os.path.join(ROOT, 'visualizer.py'), '--headless', '--session', f['s_huge']], 'args.spectrum_seeds'),
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1')
    procs = [(subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True), argv, needle) for argv, needle in cases]
    for proc, argv, needle in procs:
        out, err = proc.communicate(timeout=300)
        _check_one_error_line(proc.returncode, err, needle, ' '.join(argv))
    assert not os.path.exists(f['out'])


def test_debug_shows_the_traceback(f, capsys):
    """--debug keeps the traceback for bug reports: the same bad input raises instead of printing one line."""
    from tools import gen_images
    from tools.cli import UsageError
    with pytest.raises(UsageError, match='bad seeds'):
        gen_images.main(_gen_images(f, **{'--seeds': '-5'}) + ['--debug'])


def test_good_session_and_sane_maximum_are_accepted(f, tmp_path):
    """The checks refuse only what is wrong: the documented maximum and a saved session still load."""
    from viz.core.render_types import RenderArgs
    from viz.core.session import MAX_SPECTRUM_SEEDS, SessionError, load_session, save_session

    path = str(tmp_path / 's.json')
    args = RenderArgs(spectrum_seeds=MAX_SPECTRUM_SEEDS, w0_seeds=((3, 0.5), (4, 0.5)), trunc_cutoff=2,
                      layer_name='L3', stylemix_idx=(0, 1))
    save_session(path, args, views=['image', 'spectrum'])
    assert load_session(path) == (args, ['image', 'spectrum'])
    with open(path) as fh:
        data = json.load(fh)
    data['args']['spectrum_seeds'] = MAX_SPECTRUM_SEEDS + 1
    with open(path, 'w') as fh:
        json.dump(data, fh)
    with pytest.raises(SessionError, match='args.spectrum_seeds'):
        load_session(path)


@pytest.mark.parametrize('exc, needle', [(PermissionError(13, 'Permission denied', '/x/y'), 'Permission denied (/x/y)'),
                                         (OSError(28, 'No space left on device', '/x/z'), 'No space left on device')])
def test_path_and_disk_errors_in_a_tool_body_are_one_line(capsys, exc, needle):
    from tools import cli

    def body():
        raise exc
    assert cli.run(body) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and needle in err and err.count('\n') == 1
    with pytest.raises(OSError):   # any other OS error is not the user's: it keeps its traceback
        cli.run(lambda: (_ for _ in ()).throw(OSError(5, 'Input/output error')))


def test_device_auto_becomes_a_real_device():
    import torch

    from tools import cli
    assert cli.device('auto') == ('cuda' if torch.cuda.is_available() else 'cpu')
