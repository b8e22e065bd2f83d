"""python -m tools.gen_images and python -m tools.sticking on tiny networks."""

import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from tests.tiny_networks import write_tiny_networks
from tools import gen_images, sticking


@pytest.fixture(scope='module')
def nets(tmp_path_factory):
    return write_tiny_networks(tmp_path_factory.mktemp('nets'))


def test_gen_images_writes_pngs_and_moves_the_input(nets, tmp_path):
    out = tmp_path / 'out'
    assert gen_images.main(['--network', nets['sg3'], '--seeds', '0-2', '--outdir', str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ['seed0000.png', 'seed0001.png', 'seed0002.png']
    still = np.asarray(PIL.Image.open(out / 'seed0000.png'))
    assert still.shape == (16, 16, 3)
    moved_dir = tmp_path / 'moved'
    assert gen_images.main(['--network', nets['sg3'], '--seeds', '0', '--translate', '0.25,0', '--rotate', '10',
                            '--trunc', '0.7', '--outdir', str(moved_dir)]) == 0
    moved = np.asarray(PIL.Image.open(moved_dir / 'seed0000.png'))
    assert np.abs(moved.astype(int) - still.astype(int)).mean() > 1


def test_gen_images_stylegan2_noise_modes_and_bad_input(nets, tmp_path, capsys):
    assert gen_images.main(['--network', nets['sg2'], '--seeds', '3', '--noise-mode', 'random',
                            '--outdir', str(tmp_path)]) == 0
    assert (tmp_path / 'seed0003.png').exists()
    assert gen_images.main(['--network', str(tmp_path / 'missing.pkl'), '--seeds', '0', '--outdir', str(tmp_path)]) == 1
    assert gen_images.main(['--network', nets['sg3'], '--seeds', 'a-b', '--outdir', str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "missing.pkl' does not exist" in err and 'bad seeds' in err and 'Traceback' not in err


def test_random_noise_is_each_seeds_own(nets):
    """--noise-mode random draws a seed's images the same on every run and in any batch order, with noise that is
    neither the fixed map nor none, and other noise for another seed."""
    import torch

    from analysis.generate import generate_images
    from networks import load_generator
    from networks.stylegan2 import noise_maps, replaced_noise_buffers

    G = load_generator(nets['sg2'])
    with torch.no_grad():  # a fresh network's noise strengths are zero: the noise would change nothing
        for name, p in G.synthesis.named_parameters():
            if name.endswith('noise_strength'):
                p.fill_(0.5)
    torch_state = torch.random.get_rng_state()

    def images(seeds, mode):
        return {seed: img.astype(int) for seed, img in generate_images(G, seeds, noise_mode=mode)}

    first, again = images([3, 5], 'random'), images([5, 3], 'random')
    assert all(np.array_equal(first[s], again[s]) for s in (3, 5))
    assert (torch.random.get_rng_state() == torch_state).all()  # the global stream is left alone
    for mode in ('const', 'none'):
        assert np.abs(images([3], mode)[3] - first[3]).mean() > 0.5, mode
    # Seed 5's noise on seed 3's latent: the latent is the same, the image is not.
    with replaced_noise_buffers(G, noise_maps(G, 5)):
        swapped = images([3], 'const')[3]
    assert np.abs(swapped - first[3]).mean() > 0.5


def test_what_a_network_cannot_do_is_refused_not_ignored(nets, tmp_path, capsys):
    """A StyleGAN2 network has no input transform and an unconditional one no classes: asking for either would
    give the same images as not asking, so it is refused when called (before any image), not silently ignored."""
    from analysis.generate import generate_images
    from networks import load_generator
    from networks.errors import UserError

    G = load_generator(nets['sg2'])
    for kwargs in (dict(translate=(0.25, 0.0)), dict(rotate=10.0), dict(class_idx=0)):
        with pytest.raises(UserError, match='no input transform' if 'class_idx' not in kwargs else 'unconditional'):
            generate_images(G, [0, 1], **kwargs)
    assert [seed for seed, _img in generate_images(G, [0, 1])] == [0, 1]
    out = tmp_path / 'out'
    for extra in (['--rotate', '10'], ['--translate', '0.1,0'], ['--class', '0']):
        assert gen_images.main(['--network', nets['sg2'], '--seeds', '0', *extra, '--outdir', str(out)]) == 1
        err = capsys.readouterr().err
        assert err.startswith('error: ') and '--' in err and err.count('\n') == 1, err
        assert not out.exists()


def test_gen_images_conditional_network_needs_a_class(tmp_path, capsys):
    cond = write_tiny_networks(tmp_path, c_dim=3)['sg3']
    assert gen_images.main(['--network', cond, '--seeds', '0', '--outdir', str(tmp_path / 'a')]) == 1
    assert gen_images.main(['--network', cond, '--seeds', '0', '--class', '5', '--outdir', str(tmp_path / 'a')]) == 1
    err = capsys.readouterr().err
    assert 'conditional' in err and '(--class)' in err and 'out of range' in err
    assert gen_images.main(['--network', cond, '--seeds', '0', '--class', '2', '--outdir', str(tmp_path / 'b')]) == 0
    assert (tmp_path / 'b' / 'seed0000.png').exists()


def test_sticking_cli_sg2_vs_sg3(nets, tmp_path):
    """One row per network in --network order (image, neighbourhood average, streak, 4 white pixels apart), each
    part the PNG written beside it and the analysis' own sticking_figure of that network, pixel for pixel."""
    from analysis.sticking import sticking_figure
    from networks import load_generator

    assert sticking.main(['--network', nets['sg2'], '--network', nets['sg3'], '--num', '4', '--frames', '6',
                          '--outdir', str(tmp_path)]) == 0
    fig = np.asarray(PIL.Image.open(tmp_path / 'sticking.png'))
    assert fig.shape == (2 * 16 + 4, 16 + 4 + 16 + 4 + 6, 3)  # one row per network
    white = np.ones(fig.shape[:2], dtype=bool)
    for row, kind in enumerate(('sg2', 'sg3')):
        expected = sticking_figure(load_generator(nets[kind]), seed=0, radius=0.2, num=4, num_frames=6)
        y, x = row * (16 + 4), 0
        for part in ('central', 'average', 'streak'):
            written = np.asarray(PIL.Image.open(tmp_path / f'{kind}-{part}.png'))
            np.testing.assert_array_equal(written, expected[part])
            h, w = written.shape[:2]
            np.testing.assert_array_equal(fig[y:y + h, x:x + w], written)
            white[y:y + h, x:x + w] = False
            x += w + 4
    assert (fig[white] == 255).all()  # the gaps
    assert expected['streak'].shape == (16, 6, 3)


def test_python_m_entry_point_reports_one_line(tmp_path):
    proc = subprocess.run([sys.executable, '-m', 'tools.gen_images', '--network', str(tmp_path / 'nope.pkl'),
                           '--seeds', '0', '--outdir', str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith('error:') and len(proc.stderr.strip().splitlines()) == 1
