"""Headless mode: views rendered to files; the entry point falls back to it without a display."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image

from viz.core.headless import run_headless
from viz.core.render_types import RenderArgs
from viz.core.session import load_session, save_session

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_headless_views_from_session(pkl_dir, tmp_path, capsys):
    session = tmp_path / 'session.json'
    save_session(str(session), RenderArgs(pkl=str(pkl_dir / 'tiny_sg3.pkl'), w0_seeds=((5, 1.0),), spectrum_seeds=2,
                                          sticking_num=2, sticking_frames=4),
                 views=['image', 'fft', 'layers', 'spectrum', 'sticking'])
    args, views = load_session(str(session))
    assert views == ['image', 'fft', 'layers', 'spectrum', 'sticking'] and args.w0_seeds == ((5, 1.0),)
    out = tmp_path / 'out'
    assert run_headless(out_dir=str(out), session=str(session)) == 0
    printed = capsys.readouterr().out
    for name in ('image.png', 'fft.png', 'layers.png', 'spectrum.png', 'spectrum_slices.png',
                 'sticking_average.png', 'sticking_streak.png'):
        assert (out / name).exists() and f'wrote {out / name}' in printed
    img = np.asarray(PIL.Image.open(out / 'image.png'))
    assert img.shape == (32, 32, 3) and img.std() > 1
    fft = np.asarray(PIL.Image.open(out / 'fft.png'))
    assert fft.shape[0] == 32 and fft.shape[1] > 64  # the image, its FFT and the FFT's colour bar
    info = json.loads((out / 'render_info.json').read_text())
    assert info['errors'] == [] and info['network']['resolution'] == 32


def test_headless_bad_pickle_is_one_clear_error(pkl_dir, tmp_path, capsys):
    assert run_headless(pkls=[str(pkl_dir / 'truncated.pkl')], out_dir=str(tmp_path), views='image') == 1
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('error:')]
    assert len(lines) == 1


def test_no_display_falls_back_to_headless(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
    env['OMP_NUM_THREADS'] = '1'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'visualizer.py'), '--capture-dir', str(tmp_path),
                           '--views', 'image'], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'No display' in proc.stdout and 'UNTRAINED' in proc.stdout
    img = np.asarray(PIL.Image.open(tmp_path / 'image.png'))
    assert img.shape == (128, 128, 3)
