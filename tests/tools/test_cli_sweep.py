"""Every command line against at least 20 bad argument sets: nonsense numbers (nan, inf, 1e308, -1, 0, integers of
5000 digits, words), paths that are missing, folders, FIFOs, devices or files of the wrong kind, outputs that cannot
be written, and options that contradict each other or the network.

Each must exit non-zero with exactly one ``error:`` line on stderr, no traceback anywhere, and leave nothing behind:
no output file or folder, no temporary file, nothing new anywhere in the test folder (also the working directory,
where relative defaults such as renders/ would land). The tools run in-process through their ``main(argv)``: every
case here is refused before a network renders, so the module stays cheap.

Unwritable outputs are /proc (where ``os.access`` says yes to root, the tests' usual user) and paths below a
regular file.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HUGE = '9' * 5000       # beyond Python's int-string limit (4300 digits)
MIN_CASES = 20


@pytest.fixture(scope='module')
def p(tmp_path_factory) -> dict:
    """The paths every case needs, made once (the tools must not change any of them)."""
    import PIL.Image
    import torch

    import networks
    from tests.tiny_networks import tiny_generator

    root = tmp_path_factory.mktemp('cli_sweep')
    work = root / 'work'
    work.mkdir()
    paths = {name: str(root / name) for name in (
        'sg3.pkl', 'sg2.pkl', 'nog.pkl', 'truncated.pkl', 'empty.pkl', 'text.txt', 'text.png', 'folder', 'fifo',
        'blocker', 'target.png', 'other.npz', 'spectrum.npz', 'inf_spectrum.npz', 'missing')}
    paths.update(root=str(root), work=str(work), out=str(work / 'out'), devzero='/dev/zero', proc='/proc/x',
                 loop=str(root / 'loop'))
    torch.manual_seed(0)
    for kind in ('sg3', 'sg2'):
        networks.save_network_pkl(paths[f'{kind}.pkl'], dict(G_ema=tiny_generator(kind, 16, channel_base=64,
                                                                                  channel_max=4)))
    networks.save_network_pkl(paths['nog.pkl'], dict(x=torch.zeros(3)))
    data = open(paths['sg3.pkl'], 'rb').read()
    open(paths['truncated.pkl'], 'wb').write(data[:len(data) // 2])
    open(paths['empty.pkl'], 'wb').close()
    for name in ('text.txt', 'text.png'):
        open(paths[name], 'w').write('not a pickle, an image or an array\n')
    open(paths['blocker'], 'w').write('a regular file: nothing can be created below it, not even by root\n')
    os.mkdir(paths['folder'])
    os.mkfifo(paths['fifo'])
    os.symlink(paths['loop'], paths['loop'])  # a symlink to itself
    PIL.Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(paths['target.png'])
    np.savez(paths['other.npz'], weights=np.zeros(3))
    for name, value in (('spectrum.npz', 1.0), ('inf_spectrum.npz', np.inf)):
        np.savez(paths[name], spectrum=np.full((8, 8), value), image_size=4, padding=2, num=1, source='x', mean=0.0,
                 std=1.0, beta=8.0)

    def session(name: str, **args) -> str:
        path = str(root / f'{name}.json')
        with open(path, 'w') as fh:
            json.dump(dict(version=1, args=args), fh)
        return path

    paths['s_huge'] = session('s_huge', spectrum_seeds=1e9)
    paths['s_rotate'] = session('s_rotate', rotate=1e300)
    paths['s_latent'] = session('s_latent', pkl=paths['sg3.pkl'], latent_file=paths['missing'] + '.npz')
    paths['s_cuda'] = session('s_cuda', pkl=paths['sg3.pkl'], device='cuda:99')
    return paths


def _with(base: list[str], *changes: str) -> list[str]:
    """``base`` with each ``--flag value`` of ``changes`` replacing the flag's value there, or appended."""
    argv = list(base)
    it = iter(changes)
    for flag in it:
        value = next(it)
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    return argv


def _network_paths(build) -> list:
    """The bad-pickle cases of any tool: ``build(path)`` gives its argv with ``path`` as the network."""
    return [lambda p, k=k: build(p, p[k]) for k in (
        'missing', 'folder', 'fifo', 'devzero', 'text.txt', 'empty.pkl', 'truncated.pkl', 'loop')]


def _gen_images(p, network=None):
    return ['--network', network or p['sg3.pkl'], '--seeds', '0', '--outdir', p['out']]


def _gen_video(p, network=None):
    return ['--network', network or p['sg3.pkl'], '--seeds', '0-1', '--w-frames', '1', '--output', p['out'] + '/v.gif']


def _project(p, network=None):
    return ['--network', network or p['sg3.pkl'], '--target', p['target.png'], '--outdir', p['out'], '--steps', '1']


def _sticking(p, network=None):
    return ['--network', network or p['sg3.pkl'], '--num', '1', '--frames', '1', '--outdir', p['out']]


def _layer_eq(p, network=None):
    return ['--network', network or p['sg3.pkl'], '--kind', 'eqt_int', '--num-samples', '1', '--outdir', p['out']]


def _aliasing(p, network=None):
    return ['--network', network or p['sg3.pkl'], '--seeds', '0', '--outdir', p['out']]


def _metrics(p, network=None):
    return ['--network', network or p['sg3.pkl'], '--metrics', 'eqt50k_int', '--num-samples', '1', '--run-dir',
            p['out']]


def _train(p):
    return ['--outdir', p['out'], '--cfg', 'stylegan3-t', '--data', p['folder'], '--gpus', '1', '--batch', '4',
            '--gamma', '1', '--workers', '0', '--device', 'cpu']


def _slice(p):
    return ['--state', p['out'] + '/state', '--minutes', '1', '--device', 'cpu']


def _export(p):
    return ['--key', 'sg3t', '--state', p['folder'], '--data', p['folder'], '--dest', p['out'] + '/dest', '--docs',
            p['out'] + '/docs', '--device', 'cpu']


def _dataset(p):
    return ['--source', 'builtin:photos', '--dest', p['out'] + '/d.zip', '--resolution', '16x16', '--count', '2']


def _calc(p):
    return ['calc', '--source', p['sg3.pkl'], '--dest', p['out'] + '/s.npz', '--num', '1']


def _heatmap(p):
    return ['heatmap', p['spectrum.npz'], '--png', p['out'] + '/h.png']


def _headless(p):
    return ['--headless', '--impl', 'torch', '--capture-dir', p['out'], '--views', 'image']


CASES: dict[str, list] = {
    'gen_images': _network_paths(_gen_images) + [
        lambda p: _with(_gen_images(p), '--seeds', 'nan'),
        lambda p: _with(_gen_images(p), '--seeds', HUGE),
        lambda p: _with(_gen_images(p), '--seeds', '-1'),
        lambda p: _with(_gen_images(p), '--trunc', 'nan'),
        lambda p: _with(_gen_images(p), '--trunc', '1e30'),
        lambda p: _with(_gen_images(p), '--trunc', 'abc'),
        lambda p: _with(_gen_images(p), '--rotate', '1e300'),
        lambda p: _with(_gen_images(p), '--rotate', 'inf'),
        lambda p: _with(_gen_images(p), '--translate', '1e308,0'),
        lambda p: _with(_gen_images(p), '--translate', '1,2,3'),
        lambda p: _with(_gen_images(p), '--class', '0'),                # an unconditional network
        lambda p: _with(_gen_images(p), '--class', HUGE),
        lambda p: _with(_gen_images(p, p['sg2.pkl']), '--rotate', '10'),  # StyleGAN2: no input transform
        lambda p: _with(_gen_images(p, p['sg2.pkl']), '--translate', '0.1,0'),
        lambda p: _with(_gen_images(p), '--outdir', p['blocker']),
        lambda p: _with(_gen_images(p), '--outdir', p['proc']),
        lambda p: _with(_gen_images(p), '--noise-mode', 'loud'),
        lambda p: _with(_gen_images(p), '--direction', 'pca:0=1e308'),
        lambda p: _with(_gen_images(p), '--direction', p['fifo'] + '=1'),
        lambda p: _with(_gen_images(p), '--cache-dir', p['proc']),
        lambda p: _with(_gen_images(p), '--device', 'cuda:99'),
    ],
    'gen_video': _network_paths(_gen_video) + [
        lambda p: _with(_gen_video(p), '--output', p['out'] + '/v.avi'),
        lambda p: _with(_gen_video(p), '--output', p['folder']),
        lambda p: _with(_gen_video(p), '--output', '/proc/x.gif'),
        lambda p: _with(_gen_video(p), '--output', p['blocker'] + '/v.mp4'),
        lambda p: _with(_gen_video(p), '--fps', '0'),
        lambda p: _with(_gen_video(p), '--fps', '1e308'),
        lambda p: _with(_gen_video(p), '--fps', '60'),                   # a GIF plays at most 50 fps
        lambda p: _with(_gen_video(p), '--grid', '0x0'),
        lambda p: _with(_gen_video(p), '--grid', HUGE + 'x1'),
        lambda p: _with(_gen_video(p), '--seeds', HUGE),
        lambda p: _with(_gen_video(p), '--trunc', '1e30'),
        lambda p: _with(_gen_video(p), '--rotate-max', '1e300'),
        lambda p: _with(_gen_video(p), '--translate-max', 'nan'),
        lambda p: _with(_gen_video(p), '--class', '0'),                 # an unconditional network
        lambda p: _with(_gen_video(p, p['sg2.pkl']), '--mode', 'eq'),   # StyleGAN2: no input transform
        lambda p: _with(_gen_video(p), '--frames', '-1'),
        lambda p: _with(_gen_video(p), '--num-keyframes', HUGE),
        lambda p: _with(_gen_video(p), '--seeds', '0'),                 # one keyframe cannot loop
        lambda p: _with(_gen_video(p), '--sweep', 'z'),
        lambda p: _with(_gen_video(p), '--shuffle-seed', '-1'),
        lambda p: _with(_gen_video(p), '--scale', '1e3'),
        lambda p: _with(_gen_video(p), '--interp', 'linear'),
        lambda p: _with(_gen_video(p), '--frames', '3'),                # an option of the other mode (eq)
        lambda p: _with(_gen_video(p), '--mode', 'eq', '--grid', '2x1'),  # an option of the other mode (interp)
    ],
    'project': _network_paths(_project) + [
        lambda p: _with(_project(p), '--target', p['missing']),
        lambda p: _with(_project(p), '--target', p['folder']),
        lambda p: _with(_project(p), '--target', p['fifo']),
        lambda p: _with(_project(p), '--target', p['devzero']),
        lambda p: _with(_project(p), '--target', p['text.png']),
        lambda p: _with(_project(p), '--target', p['sg3.pkl']),
        lambda p: _with(_project(p), '--steps', '0'),
        lambda p: _with(_project(p), '--steps', '1e308'),
        lambda p: _with(_project(p), '--lr', 'nan'),
        lambda p: _with(_project(p), '--lr', '0'),
        lambda p: _with(_project(p), '--d-weight', '1e308'),
        lambda p: _with(_project(p), '--d-weight', '-1'),
        lambda p: _with(_project(p), '--d-weight', 'inf'),
        lambda p: _with(_project(p), '--d-every', '0'),
        lambda p: _with(_project(p), '--class', '0'),                   # an unconditional network
        lambda p: _with(_project(p), '--seed', HUGE),
        lambda p: _with(_project(p), '--space', 'z'),
        lambda p: _with(_project(p), '--outdir', p['blocker']),
        lambda p: _with(_project(p), '--outdir', p['proc']),
        lambda p: _with(_project(p), '--vgg16', p['missing']),
        lambda p: _with(_project(p), '--vgg16', p['text.txt']),         # TorchScript without --trust-detector
        lambda p: _with(_project(p), '--d-weight', '2'),                 # the pickle has no D to weigh
        lambda p: _with(_project(p), '--d-every', '2'),
        lambda p: _project(p) + ['--trust-detector'],                   # nothing to trust without --vgg16
    ],
    'sticking': _network_paths(_sticking) + [
        lambda p: _with(_sticking(p), '--seed', '-1'),
        lambda p: _with(_sticking(p), '--seed', str(2**32)),
        lambda p: _with(_sticking(p), '--radius', '0'),
        lambda p: _with(_sticking(p), '--radius', '1e308'),
        lambda p: _with(_sticking(p), '--radius', 'nan'),
        lambda p: _with(_sticking(p), '--num', '0'),
        lambda p: _with(_sticking(p), '--num', HUGE),
        lambda p: _with(_sticking(p), '--frames', '-1'),
        lambda p: _with(_sticking(p), '--trunc', '1e30'),
        lambda p: _with(_sticking(p), '--trunc', 'inf'),
        lambda p: _with(_sticking(p), '--outdir', p['blocker']),
        lambda p: _with(_sticking(p), '--outdir', p['proc']),
        lambda p: _with(_sticking(p), '--device', 'bogus'),
        lambda p: _sticking(p) + ['--network', p['missing']],
        lambda p: _sticking(p) + ['--network', p['truncated.pkl']],      # the second one is bad: nothing written
        lambda p: _sticking(p) + ['--bogus'],
    ],
    'aliasing': _network_paths(_aliasing) + [
        lambda p: _with(_aliasing(p), '--seeds', 'x'),
        lambda p: _with(_aliasing(p), '--seeds', '-1'),
        lambda p: _with(_aliasing(p), '--seeds', '0-' + HUGE),
        lambda p: _with(_aliasing(p), '--trunc', 'nan'),
        lambda p: _with(_aliasing(p), '--trunc', '1e308'),
        lambda p: _with(_aliasing(p), '--class', '-1'),
        lambda p: _with(_aliasing(p), '--class', '3'),                 # an unconditional network
        lambda p: _with(_aliasing(p), '--translate', 'inf,0'),
        lambda p: _with(_aliasing(p), '--translate', '1'),
        lambda p: _with(_aliasing(p), '--rotate', 'nan'),
        lambda p: _with(_aliasing(p), '--outdir', p['blocker']),
        lambda p: _with(_aliasing(p), '--outdir', p['proc']),
        lambda p: _with(_aliasing(p), '--device', 'bogus'),
        lambda p: _aliasing(p, p['sg2.pkl']) + ['--rotate', '10'],   # StyleGAN2: no input transform to rotate
        lambda p: _aliasing(p) + ['--bogus'],
    ],
    'layer_eq': _network_paths(_layer_eq) + [
        lambda p: _with(_layer_eq(p), '--kind', 'eqz'),
        lambda p: _with(_layer_eq(p), '--kind', 'all,eqr'),
        lambda p: _with(_layer_eq(p), '--num-samples', '0'),
        lambda p: _with(_layer_eq(p), '--num-samples', '1e308'),
        lambda p: _with(_layer_eq(p), '--num-samples', HUGE),
        lambda p: _with(_layer_eq(p), '--seed', '-1'),
        lambda p: _with(_layer_eq(p), '--seed', str(2**32)),
        lambda p: _with(_layer_eq(p), '--batch', '0'),
        lambda p: _with(_layer_eq(p), '--batch', 'nan'),
        lambda p: _with(_layer_eq(p), '--region', 'edge'),
        lambda p: _with(_layer_eq(p), '--outdir', p['blocker']),
        lambda p: _with(_layer_eq(p), '--outdir', p['proc']),
        lambda p: _with(_layer_eq(p), '--device', 'bogus'),
        lambda p: _layer_eq(p, p['sg2.pkl']),                          # StyleGAN2: no input transform
        lambda p: _layer_eq(p) + ['--network', p['sg2.pkl']],          # the second one cannot: nothing written
        lambda p: _layer_eq(p) + ['--network', p['missing']],
        lambda p: _layer_eq(p) + ['--bogus'],
    ],
    'calc_metrics': _network_paths(_metrics) + [
        lambda p: _with(_metrics(p), '--metrics', 'fid1k'),
        lambda p: _with(_metrics(p), '--metrics', ','),
        lambda p: _with(_metrics(p), '--num-samples', '0'),
        lambda p: _with(_metrics(p), '--num-samples', '1e308'),
        lambda p: _with(_metrics(p), '--num-samples', HUGE),
        lambda p: _with(_metrics(p), '--batch', '0'),
        lambda p: _with(_metrics(p), '--seed', '-1'),
        lambda p: _with(_metrics(p), '--gpus', '2'),
        lambda p: _with(_metrics(p), '--detector', p['missing']),
        lambda p: _with(_metrics(p), '--detector', p['fifo']),
        lambda p: _with(_metrics(p), '--data', p['missing']),
        lambda p: _with(_metrics(p), '--data', p['fifo']),
        lambda p: _with(_metrics(p), '--run-dir', p['blocker'] + '/sub'),
        lambda p: _with(_metrics(p), '--run-dir', p['proc']),
        lambda p: _with(_metrics(p), '--cache-dir', p['proc']),
        lambda p: _with(_metrics(p), '--device', 'bogus'),
        lambda p: _with(_metrics(p, p['sg2.pkl']), '--metrics', 'eqt50k_int'),  # StyleGAN2: no input transform
        lambda p: _with(_metrics(p), '--metrics', 'fid50k_full'),                # FID needs --data
    ],
    'train': [
        lambda p: _with(_train(p), '--gamma', '1e308'),
        lambda p: _with(_train(p), '--gamma', 'nan'),
        lambda p: _with(_train(p), '--gamma', '-1'),
        lambda p: _with(_train(p), '--batch', '0'),
        lambda p: _with(_train(p), '--batch', HUGE),
        lambda p: _with(_train(p), '--gpus', '0'),
        lambda p: _with(_train(p), '--gpus', '3'),                      # 4 images do not split over 3
        lambda p: _with(_train(p), '--cfg', 'stylegan4'),
        lambda p: _with(_train(p), '--kimg', 'inf'),
        lambda p: _with(_train(p), '--tick', '0'),
        lambda p: _with(_train(p), '--snap', '0'),
        lambda p: _with(_train(p), '--glr', '1e308'),
        lambda p: _with(_train(p), '--dlr', '0'),
        lambda p: _with(_train(p), '--p', '2'),
        lambda p: _with(_train(p), '--target', 'nan'),
        lambda p: _with(_train(p), '--cbase', '0'),
        lambda p: _with(_train(p), '--cmax', '1e9'),
        lambda p: _with(_train(p), '--map-depth', '0'),
        lambda p: _with(_train(p), '--mbstd-group', '0'),
        lambda p: _with(_train(p), '--z-dim', HUGE),
        lambda p: _with(_train(p), '--workers', '1000'),
        lambda p: _with(_train(p), '--cond', 'maybe'),
        lambda p: _with(_train(p), '--resume', p['text.txt']),
        lambda p: _with(_train(p), '--resume', p['fifo']),
        lambda p: _with(_train(p), '--resume', p['sg3.pkl']),           # not a training snapshot
        lambda p: _with(_train(p), '--outdir', p['blocker']),
        lambda p: _with(_train(p), '--outdir', p['proc']),
        lambda p: _with(_train(p), '--data', p['missing']),
        lambda p: _with(_train(p), '--data', p['fifo']),
        lambda p: _with(_train(p), '--data', p['text.txt']),
        lambda p: _with(_train(p), '--data', p['folder']),              # no images
    ],
    'train_slice': [
        lambda p: _with(_slice(p), '--minutes', '0'),
        lambda p: _with(_slice(p), '--minutes', 'nan'),
        lambda p: _with(_slice(p), '--minutes', '1e308'),
        lambda p: _with(_slice(p), '--cpu-minutes', '-1'),
        lambda p: _with(_slice(p), '--max-mib', '0'),
        lambda p: _with(_slice(p), '--max-mib', 'inf'),
        lambda p: _with(_slice(p), '--save-every', '0'),
        lambda p: _with(_slice(p), '--kimg', 'nan'),
        lambda p: _with(_slice(p), '--kimg', '0'),
        lambda p: _with(_slice(p), '--save-to', p['blocker'] + '/sub'),
        lambda p: _with(_slice(p), '--save-to', p['proc']),
        lambda p: _with(_slice(p), '--metrics', 'fid1k'),
        lambda p: _with(_slice(p), '--metrics-samples', HUGE),
        lambda p: _with(_slice(p), '--data', p['missing']),
        lambda p: _with(_slice(p), '--data', p['fifo']),
        lambda p: _with(_slice(p), '--run-dir', p['proc']),
        lambda p: _with(_slice(p), '--device', 'bogus'),
        lambda p: _with(_slice(p), '--state', p['blocker']),
        lambda p: _with(_slice(p), '--state', p['proc']),
        lambda p: _with(_slice(p), '--state', p['folder']),             # no state there, and no --init
        lambda p: _slice(p) + ['--estimate'],                           # --estimate needs --init
        lambda p: ['--state', p['folder']],                              # no --minutes and no --adopt
        lambda p: _slice(p) + ['--adopt', p['missing']],
        lambda p: _slice(p) + ['--adopt', p['blocker']],                 # a file, not a folder
        lambda p: _slice(p) + ['--adopt', p['folder']],                  # no state there
        lambda p: _slice(p) + ['--adopt', p['folder'], '--estimate'],
        lambda p: _slice(p) + ['--init', '--cfg', 'stylegan3-t', '--data', p['folder'], '--gpus', '1', '--batch',
                               '4', '--gamma', 'nan'],
        lambda p: _slice(p) + ['--estimate', '--init', '--cfg', 'stylegan3-t', '--data', p['fifo'], '--gpus', '1',
                               '--batch', '4', '--gamma', '1'],
    ],
    'export_default': [
        lambda p: _with(_export(p), '--key', 'sg4'),
        lambda p: _with(_export(p), '--state', p['missing']),
        lambda p: _with(_export(p), '--state', p['text.txt']),
        lambda p: _with(_export(p), '--state', p['fifo']),
        lambda p: _with(_export(p), '--state', p['folder']),            # no state there
        lambda p: _export(p)[:2] + ['--snapshot', p['missing']] + _export(p)[4:],
        lambda p: _export(p)[:2] + ['--snapshot', p['fifo']] + _export(p)[4:],
        lambda p: _export(p)[:2] + ['--snapshot', p['text.txt']] + _export(p)[4:],
        lambda p: _export(p)[:2] + ['--snapshot', p['truncated.pkl']] + _export(p)[4:],
        lambda p: _export(p) + ['--snapshot', p['sg3.pkl']],           # both sources
        lambda p: _export(p)[:2] + _export(p)[4:],                      # neither
        lambda p: _with(_export(p), '--data', p['missing']),
        lambda p: _with(_export(p), '--data', p['fifo']),
        lambda p: _with(_export(p), '--dest', p['blocker']),
        lambda p: _with(_export(p), '--dest', p['proc']),
        lambda p: _with(_export(p), '--docs', p['blocker'] + '/sub'),
        lambda p: _with(_export(p), '--eq-samples', '0'),
        lambda p: _with(_export(p), '--swd-images', '1'),
        lambda p: _with(_export(p), '--swd-images', HUGE),
        lambda p: _with(_export(p), '--batch', 'nan'),
        lambda p: _with(_export(p), '--device', 'bogus'),
        lambda p: _with(_export(p), '--run-dir', p['missing']),
    ],
    'dataset_tool': [
        lambda p: _with(_dataset(p), '--source', p['missing']),
        lambda p: _with(_dataset(p), '--source', p['fifo']),
        lambda p: _with(_dataset(p), '--source', p['devzero']),
        lambda p: _with(_dataset(p), '--source', p['text.txt']),
        lambda p: _with(_dataset(p), '--source', p['folder']),          # no images
        lambda p: _with(_dataset(p), '--source', 'builtin:nothing'),
        lambda p: _with(_dataset(p), '--dest', p['blocker'] + '/d.zip'),
        lambda p: _with(_dataset(p), '--dest', '/proc/d.zip'),
        lambda p: _with(_dataset(p), '--dest', p['blocker']),
        lambda p: _with(_dataset(p), '--dest', p['fifo']),
        lambda p: _with(_dataset(p), '--resolution', '0x16'),
        lambda p: _with(_dataset(p), '--resolution', '99999x99999'),
        lambda p: _with(_dataset(p), '--resolution', 'nanxnan'),
        lambda p: _with(_dataset(p), '--resolution', HUGE + 'x16'),
        lambda p: _with(_dataset(p), '--transform', 'squash'),
        lambda p: _with(_dataset(p), '--max-images', '0'),
        lambda p: _with(_dataset(p), '--max-images', HUGE),
        lambda p: _with(_dataset(p), '--count', '0'),
        lambda p: _with(_dataset(p), '--count', '1e308'),
        lambda p: _with(_dataset(p), '--seed', '-1'),
        lambda p: _with(_dataset(p), '--seed', str(2**32)),
        lambda p: _with(_dataset(p), '--on-error', 'ignore'),
    ],
    'avg_spectra': [
        lambda p: [],                                                   # no subcommand
        lambda p: _with(_calc(p), '--source', p['missing']),
        lambda p: _with(_calc(p), '--source', p['fifo']),
        lambda p: _with(_calc(p), '--source', p['text.txt']),
        lambda p: _with(_calc(p), '--dest', p['blocker'] + '/s.npz'),
        lambda p: _with(_calc(p), '--dest', '/proc/s.npz'),
        lambda p: _with(_calc(p), '--dest', p['fifo']),
        lambda p: _with(_calc(p), '--std', '1e-300'),
        lambda p: _with(_calc(p), '--std', '0'),
        lambda p: _with(_calc(p), '--std', 'nan'),
        lambda p: _with(_calc(p), '--mean', '1e308'),
        lambda p: _with(_calc(p), '--mean', 'inf'),
        lambda p: _with(_calc(p), '--trunc', '1e30'),
        lambda p: _with(_calc(p), '--num', '0'),
        lambda p: _with(_calc(p), '--num', HUGE),
        lambda p: _with(_calc(p), '--beta', '-1'),
        lambda p: _with(_calc(p), '--padding', '1e308'),
        lambda p: _with(_calc(p), '--definition', 'mine'),
        lambda p: ['stats', '--source', p['sg3.pkl'], '--batch', '0'],
        lambda p: _with(_heatmap(p), 'heatmap', p['text.txt']),
        lambda p: ['heatmap', p['fifo'], '--png', p['out'] + '/h.png'],
        lambda p: ['heatmap', p['inf_spectrum.npz'], '--png', p['out'] + '/h.png'],
        lambda p: _with(_heatmap(p), '--png', '/proc/h.png'),
        lambda p: _with(_heatmap(p), '--sigma', 'inf'),
        lambda p: _with(_heatmap(p), '--range', '0'),
        lambda p: _with(_heatmap(p), '--vmax', 'nan'),
        lambda p: ['slices', p['spectrum.npz'], p['other.npz'], '--png', p['out'] + '/s.png'],
    ],
    'visualizer': [
        lambda p: _headless(p) + [p['missing']],
        lambda p: _headless(p) + [p['folder']],
        lambda p: _headless(p) + [p['fifo']],
        lambda p: _headless(p) + [p['devzero']],
        lambda p: _headless(p) + [p['text.txt']],
        lambda p: _headless(p) + [p['empty.pkl']],
        lambda p: _headless(p) + [p['truncated.pkl']],                  # refused by the loader, when rendered
        lambda p: _headless(p) + [p['nog.pkl']],                        # a pickle without a generator
        lambda p: _headless(p) + ['--session', p['s_latent'], p['sg3.pkl']],  # its latent file is missing
        lambda p: _headless(p) + ['--session', p['s_cuda']],            # a device this machine lacks
        lambda p: _with(_headless(p), '--seed', '-1'),
        lambda p: _with(_headless(p), '--seed', HUGE),
        lambda p: _with(_headless(p), '--views', 'image,bogus'),
        lambda p: _with(_headless(p), '--views', ','),
        lambda p: _with(_headless(p), '--device', 'bogus'),
        lambda p: _with(_headless(p), '--capture-dir', p['blocker']),
        lambda p: _with(_headless(p), '--capture-dir', p['proc']),
        lambda p: _headless(p) + ['--session', p['missing']],
        lambda p: _headless(p) + ['--session', p['fifo']],
        lambda p: _headless(p) + ['--session', p['text.txt']],
        lambda p: _headless(p) + ['--session', p['s_huge']],
        lambda p: _headless(p) + ['--session', p['s_rotate']],
        lambda p: _with(_headless(p), '--browse-dir', p['missing']),
        lambda p: _with(_headless(p), '--max-frames', '0'),
        lambda p: _with(_headless(p), '--impl', 'fast'),
    ],
}

CASE_LIST = [(tool, i, build) for tool, builds in CASES.items() for i, build in enumerate(builds)]


def _module(tool: str):
    if tool == 'visualizer' and ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    return importlib.import_module(tool if tool == 'visualizer' else f'tools.{tool}')


def _tree(root: str) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        found.update(os.path.relpath(os.path.join(folder, name), root) for name in dirs + files)
    return found


def test_every_cli_has_enough_cases():
    tools = {name[:-3] for name in os.listdir(os.path.join(ROOT, 'tools')) if name.endswith('.py')
             and 'def main(' in open(os.path.join(ROOT, 'tools', name)).read()}
    assert set(CASES) == tools | {'visualizer'}
    short = {tool: len(builds) for tool, builds in CASES.items() if len(builds) < MIN_CASES}
    assert not short, f'fewer than {MIN_CASES} bad argument sets: {short}'


@pytest.mark.parametrize('tool, index, build', CASE_LIST, ids=[f'{tool}-{i}' for tool, i, _ in CASE_LIST])
def test_bad_arguments_are_refused_in_one_line(p, capsys, monkeypatch, tool, index, build):
    monkeypatch.chdir(p['work'])                   # relative default outputs (renders/...) would land here
    monkeypatch.setenv('ALIASFREE_CPU_OPS', '0')   # never start building the fused CPU op
    from ops import backend
    monkeypatch.setattr(backend, '_default_impl', backend.get_default_impl())  # visualizer --impl sets it
    argv = build(p)
    before = _tree(p['root'])
    try:
        status = _module(tool).main(argv)
        out, err = capsys.readouterr()
        what = f'{tool} {" ".join(a if len(a) < 60 else a[:20] + "..." for a in argv)}'
        assert status not in (0, None), f'{what}: accepted (status {status}); stdout {out!r}'
        assert 'Traceback' not in out + err, f'{what}: {out}{err}'
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith('error: ') and len(lines[0]) < 1000, \
            f'{what}: stderr {err[-2000:]!r}'
        assert not os.path.exists(p['out']), f'{what}: left {p["out"]} behind'
        assert _tree(p['root']) == before, f'{what}: left {_tree(p["root"]) ^ before}'
    finally:
        if os.path.lexists(p['out']):
            shutil.rmtree(p['out'])
