"""Headless mode: views rendered to files; the entry point falls back to it without a display."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

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
    layers = np.asarray(PIL.Image.open(out / 'layers.png').convert('RGB'))
    assert layers.shape[0] % (128 + 16) == 0  # rows of 128 px tiles, each with a 16 px name strip under it
    assert (layers[128:144, :128].max(axis=2) > 150).sum() > 20  # the first tile's name is written
    fft = np.asarray(PIL.Image.open(out / 'fft.png'))
    # the image (enlarged by a whole factor) beside its FFT and the colour bar, drawn at its own size (>= 256 rows)
    # so that its labels stay readable
    image = np.asarray(PIL.Image.open(out / 'image.png'))
    factor = fft.shape[0] // image.shape[0]
    assert fft.shape[0] >= 256 and fft.shape[0] == factor * image.shape[0]
    np.testing.assert_array_equal(fft[:, :factor * image.shape[1]][::factor, ::factor], image)
    spectrum_png = np.asarray(PIL.Image.open(out / 'spectrum.png').convert('RGB'))
    bare = 32 * 4  # the 32 px network's spectrum, zero-padded 4x: the bare heatmap is 128 bins wide
    assert spectrum_png.shape[1] > bare * 2  # axes and a colour bar around it
    assert colour_bar_span(spectrum_png, _lut('Blues')) > 150  # a colour bar shows (nearly) the whole map
    info = json.loads((out / 'render_info.json').read_text())
    assert info['errors'] == [] and info['network']['resolution'] == 32


def test_headless_bad_pickle_is_one_clear_error(pkl_dir, tmp_path, capsys):
    out = tmp_path / 'out'
    assert run_headless(pkls=[str(pkl_dir / 'truncated.pkl')], out_dir=str(out), views='image') == 1
    captured = capsys.readouterr()
    # one line on stderr, as every tool's error: no logged warning (or traceback) before it, nothing written
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('error:') and 'truncated' in lines[0], captured.err
    assert 'error' not in captured.out and not out.exists()


def test_headless_errors_name_the_command_line_flag(tmp_path, capsys):
    """The headless tool is a command line: an error's hint names the flag, not the window's control."""
    assert run_headless(out_dir=str(tmp_path / 'out'), device='mps', views='image') == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines and all(line.endswith('MPS is not available here; use the CPU (--device cpu)') for line in lines)


def test_headless_escapes_names_from_the_pickle(tmp_path, capsys):
    from tests.networks import hostile as h

    evil = tmp_path / 'evil.pkl'  # G_ema of a class named with terminal escapes and a lone surrogate
    evil.write_bytes(h.asm(h.EMPTY_DICT, h.V('G_ema'), h.persistent('\x1b]0;owned\x07\x1b[2J\ud800', h.V({})),
                           h.SETITEM))
    assert run_headless(pkls=[str(evil)], out_dir=str(tmp_path / 'out'), views='image') == 1
    out = capsys.readouterr().err
    out.encode('utf-8')
    assert '\x1b' not in out and '\\x1b]0;owned\\x07\\x1b[2J\\ud800' in out
    assert len([ln for ln in out.splitlines() if ln.startswith('error:')]) == 1


def test_no_display_falls_back_to_headless(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
    env['OMP_NUM_THREADS'] = '1'
    proc = subprocess.run([sys.executable, os.path.join(ROOT, 'visualizer.py'), '--capture-dir', str(tmp_path),
                           '--views', 'image'], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'No display' in proc.stdout
    from networks import pretrained

    cards = pretrained.available()
    labels = [line for line in proc.stdout.splitlines() if line.startswith('network:')]
    if cards:  # the shipped default networks, each named by its card, files named by its key
        assert 'untrained' not in proc.stdout.lower()
        assert labels == [f'network: {pretrained.card_label(c)}' for c in cards]
        for card in cards:
            img = np.asarray(PIL.Image.open(tmp_path / f'{card["key"]}_image.png'))
            assert img.shape == (card['resolution'], card['resolution'], 3)
    else:  # nothing ships yet: the built-in untrained network, said once
        assert 'UNTRAINED' in proc.stdout and len(labels) == 1
        assert labels[0].lower().count('untrained') == 1, labels
        img = np.asarray(PIL.Image.open(tmp_path / 'image.png'))
        assert img.shape == (128, 128, 3)


def _lut(name: str) -> np.ndarray:
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).astype(int)


def colour_bar_span(png: np.ndarray, lut: np.ndarray) -> int:
    """The longest vertical run, in the right third of `png`, of pixels on the colour map going down from its
    top to its bottom: how many of the map's 256 levels a colour bar there shows (0 if none)."""
    best = 0
    h, w = png.shape[:2]
    for x in range(2 * w // 3, w):
        col = png[:, x, :3].astype(int)
        dist = np.abs(col[:, None, :] - lut[None, :, :]).sum(axis=2)
        idx, ok = dist.argmin(axis=1), dist.min(axis=1) <= 12
        start = None
        for y in range(h + 1):
            if y < h and ok[y] and (start is None or idx[y] <= idx[y - 1]):
                start = y if start is None else start
                continue
            if start is not None and y - start > 50:
                best = max(best, int(idx[start] - idx[y - 1]))
            start = y if (y < h and ok[y]) else None
    return best


def _view(size: int = 17, cycles: float = 8.0) -> dict:
    """A view as analysis.spectra.spectrum_view gives one: hmap (absolute dB) over freqs, and the two slices."""
    freqs = np.linspace(-cycles, cycles, size)
    hmap = -5.0 * np.hypot(*np.meshgrid(freqs, freqs))
    f45 = np.linspace(0, cycles * np.sqrt(2), size // 2 + 1)
    return dict(hmap=hmap, freqs=freqs, freqs0=freqs[size // 2:], deg0=hmap[size // 2, size // 2:],
                freqs45=f45, deg45=-5.0 * f45)


def test_heatmap_figure_axes_and_colour_bar():
    from analysis.spectrum_plots import heatmap_figure

    fig = heatmap_figure(_view(), title='t')
    try:
        ax, bar = fig.axes
        assert 'cycles / image' in ax.get_xlabel() and 'cycles / image' in ax.get_ylabel()
        assert ax.get_xlim() == pytest.approx((-8, 8)) and ax.get_title() == 't'
        np.testing.assert_array_equal(ax.collections[0].levels, np.arange(-40, 21, 5))  # NVlabs: every 5 dB
        assert 'dB' in bar.get_ylabel()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_slices_title_is_not_cut_off(tmp_path):
    from analysis.spectrum_plots import plot_slices

    title = '/a/very/long/path/to/some/network-snapshot-' + 'x' * 200 + '.pkl (StyleGAN3 1024px), 16 seeds'
    path = plot_slices([('network', _view())], 'NVlabs definition', str(tmp_path / 's.png'), title)
    png = np.asarray(PIL.Image.open(path).convert('L')).astype(int)
    border = np.concatenate([png[:3].ravel(), png[-3:].ravel(), png[:, :3].ravel(), png[:, -3:].ravel()])
    assert (border > 245).all(), 'something is drawn across the edge of the figure'
    rows_with_text = np.nonzero((png[:, png.shape[1] // 4:3 * png.shape[1] // 4] < 128).any(axis=1))[0]
    assert rows_with_text.min() < 40  # the title is there, on top


def test_a_failed_plot_leaves_the_old_file(tmp_path, monkeypatch):
    # The figure is rendered whole before the file is touched, then written atomically.
    from matplotlib.figure import Figure

    from analysis.spectrum_plots import plot_slices

    path = tmp_path / 's.png'
    path.write_bytes(b'old')

    def fail(_fig, target, **_kwargs):          # half a PNG, then the disk is full
        if hasattr(target, 'write'):
            target.write(b'partial')
        else:
            open(target, 'wb').write(b'partial')
        raise OSError('disk full')
    monkeypatch.setattr(Figure, 'savefig', fail)
    with pytest.raises(OSError, match='disk full'):
        plot_slices([('network', _view())], 'NVlabs definition', str(path))
    assert path.read_bytes() == b'old' and sorted(os.listdir(tmp_path)) == ['s.png']


def test_untrained_is_said_once():
    from viz.core.headless import network_label

    default = network_label(dict(name='untrained StyleGAN3-T 128x128 (built in memory)', untrained=True,
                                 kind='StyleGAN3', resolution=128))
    assert default.startswith('UNTRAINED ') and default.lower().count('untrained') == 1
    assert network_label(dict(name='fresh.pkl', untrained=True, kind='StyleGAN2', resolution=64)) == \
        'UNTRAINED fresh.pkl (StyleGAN2 64px)'
    assert 'untrained' not in network_label(dict(name='ffhq.pkl', untrained=False, kind='StyleGAN3',
                                                 resolution=1024)).lower()


def test_layer_tiles_carry_their_names():
    from viz.core.tiles import named_tile_grid

    rng = np.random.default_rng(0)
    tiles = [rng.integers(0, 255, (40, 50, 3), dtype=np.uint8) for _ in range(5)]
    names = ['input', 'L0_36_512', 'L1_36_512', 'input', 'L10_148_14']
    grid = named_tile_grid(tiles, names, columns=3, caption_height=16)
    assert grid.shape == (2 * (40 + 16), 3 * 50, 3)
    captions = []
    for i, tile in enumerate(tiles):
        r, c = divmod(i, 3)
        y0, x0 = r * 56, c * 50
        assert np.array_equal(grid[y0:y0 + 40, x0:x0 + 50], tile)  # the tile itself untouched
        caption = grid[y0 + 40:y0 + 56, x0:x0 + 50].max(axis=2)
        assert (caption > 150).sum() > 15, f'no text under tile {i}'
        captions.append(caption)
    assert np.array_equal(captions[0], captions[3])  # same name, same caption
    assert not np.array_equal(captions[1], captions[2])  # names that differ in one character differ
    lit_columns = [int((c > 100).any(axis=0).sum()) for c in captions]
    assert lit_columns[0] < lit_columns[1]  # 'input' is shorter than 'L0_36_512'
    assert not grid[56 + 40:, 100:].any()  # the empty sixth cell stays black


def test_slices_45_degrees_run_on_their_own_frequencies():
    """The 45-degree slice goes to the corner (sqrt(2) N / 2): drawn on the 0-degree axis it would be squeezed."""
    import matplotlib.pyplot as plt

    from analysis.spectrum_plots import slices_figure

    view = _view()
    fig = slices_figure([('network', view)], 'label')
    try:
        ax0, ax45 = fig.axes[:2]
        assert ax0.lines[0].get_xdata().max() == pytest.approx(8)
        assert ax45.lines[0].get_xdata().max() == pytest.approx(8 * np.sqrt(2))
        np.testing.assert_allclose(ax45.lines[0].get_ydata(), view['deg45'])
    finally:
        plt.close(fig)


def test_headless_spectrum_draws_what_the_command_line_draws(pkl_dir, tmp_path, monkeypatch):
    """One plot stack: the headless spectrum view and `tools.avg_spectra heatmap / slices` on the same network and
    seeds draw the same contours and the same curves (only the titles differ)."""
    from analysis import spectrum_plots
    from tools import avg_spectra
    from viz.core import headless

    figures = []
    monkeypatch.setattr(spectrum_plots, '_save', lambda fig, path: figures.append(fig) or path)
    pkl = str(pkl_dir / 'tiny_sg3.pkl')
    written, errors = headless.render_views(RenderArgs(pkl=pkl, spectrum_seeds=3), ['spectrum'], str(tmp_path),
                                            say=lambda _text: None)
    assert errors == [] and len(written) == 3
    npz = str(tmp_path / 'spec.npz')
    assert avg_spectra.main(['calc', '--source', pkl, '--num', '3', '--batch', '1', '--dest', npz]) == 0
    assert avg_spectra.main(['heatmap', npz, '--png', str(tmp_path / 'h.png')]) == 0
    assert avg_spectra.main(['slices', npz, '--png', str(tmp_path / 's.png')]) == 0
    (gui_heat, gui_slices, cli_heat, cli_slices) = figures
    try:
        for gui, cli in ((gui_heat, cli_heat), (gui_slices, cli_slices)):
            assert len(gui.axes) == len(cli.axes) == 2
            for ga, ca in zip(gui.axes, cli.axes):
                assert [a.get_xlabel() for a in (ga, ca)] == [ca.get_xlabel()] * 2
                assert len(ga.lines) == len(ca.lines) and len(ga.collections) == len(ca.collections)
                for gl, cl in zip(ga.lines, ca.lines):
                    np.testing.assert_array_equal(gl.get_xydata(), cl.get_xydata())
                for gc, cc in zip(ga.collections, ca.collections):
                    np.testing.assert_array_equal(getattr(gc, 'levels', None), getattr(cc, 'levels', None))
                    for gp, cp in zip(gc.get_paths(), cc.get_paths()):
                        np.testing.assert_array_equal(gp.vertices, cp.vertices)
        assert len(gui_slices.axes[0].lines) == 1 and len(gui_heat.axes[0].collections) == 2
    finally:
        import matplotlib.pyplot as plt

        for fig in figures:
            plt.close(fig)


def test_headless_spectrum_titles_name_the_definition_and_noise(pkl_dir, tmp_path, monkeypatch):
    from viz.core import headless

    titles = []
    from analysis import spectrum_plots

    monkeypatch.setattr(spectrum_plots, 'plot_heatmap', lambda view, path, title, *a: titles.append(title) or path)
    monkeypatch.setattr(spectrum_plots, 'plot_slices', lambda curves, label, path, title: titles.append(title) or path)
    for name, definition in (('tiny_sg2.pkl', 'nvlabs'), ('tiny_sg3.pkl', 'whitened')):
        args = RenderArgs(pkl=str(pkl_dir / name), spectrum_seeds=2, spectrum_definition=definition)
        written, errors = headless.render_views(args, ['spectrum'], str(tmp_path / name), say=lambda _text: None)
        assert errors == [] and len(written) == 3
    assert len(titles) == 4
    titles = [t.replace('\n', ' ') for t in titles]  # the heatmap's title is wrapped to its width
    for title in titles[:2]:  # StyleGAN2: NVlabs' definition and its fresh noise
        assert title.endswith(', 2 seeds, NVlabs definition, fresh noise per image'), title
    for title in titles[2:]:  # StyleGAN3: no noise inputs to name
        assert title.endswith(', 2 seeds, WHITENED per image'), title


def test_a_failed_render_is_one_line_and_its_traceback_only_with_debug(tmp_path, capsys, caplog, monkeypatch):
    """Headless prints each error itself: the renderer's log of the failure (a WARNING, with a traceback for an
    exception that is not a user error) would come before it, so it is only logged with --debug."""
    import logging

    from viz.core.renderer import Renderer

    def broken(self, args, res, control):
        raise RuntimeError('boom inside torch')
    monkeypatch.setattr(Renderer, '_render', broken)
    out = tmp_path / 'out'
    with caplog.at_level(logging.INFO):
        assert run_headless(pkls=[str(tmp_path / 'g.pkl')], out_dir=str(out), views='image') == 1
    captured = capsys.readouterr()
    assert captured.err == 'error: RuntimeError: boom inside torch\n' and not caplog.records
    assert not out.exists()
    with caplog.at_level(logging.INFO):
        assert run_headless(pkls=[str(tmp_path / 'g.pkl')], out_dir=str(out), views='image', debug=True) == 1
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError]
    assert capsys.readouterr().err == 'error: RuntimeError: boom inside torch\n'


def test_leaving_waits_for_the_ops_build_or_skips_the_teardown(monkeypatch):
    """The visualizer's exit: a finished (or absent) ops warm-up returns the status normally; one still inside
    torch's extension loader after the wait leaves with os._exit, never tearing the interpreter down under it."""
    import visualizer

    class Warm:
        def __init__(self, finishes):
            self.finishes, self.waited = finishes, None

        def done(self):
            return self.waited is not None and self.finishes

        def wait(self, timeout=None):
            self.waited = timeout

    exits = []
    monkeypatch.setattr(visualizer.os, '_exit', lambda status: exits.append(status))
    assert visualizer._leave(3, None) == 3 and not exits
    quick = Warm(finishes=True)
    assert visualizer._leave(0, quick) == 0 and quick.waited == 5.0 and not exits
    stuck = Warm(finishes=False)
    visualizer._leave(1, stuck)
    assert exits == [1] and stuck.waited == 5.0
