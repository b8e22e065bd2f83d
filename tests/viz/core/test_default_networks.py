"""The visualizer's default network: the trained SG3-T when its card and pickle are there, else the
built-in untrained one; labels that say what a trained default is; headless renders of every shipped default.
The pickle widget's "Default networks" list: tests/viz/gui/test_default_networks_widget.py.

The shipped folder (networks/pretrained) is replaced by a fixture folder of tiny networks (its module-level
location is patched), so these tests run whether or not trained networks ship."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import PIL.Image
import pytest
import torch

from networks import pretrained
from viz.core.render_types import DEFAULT_PKL


@pytest.fixture
def only(pretrained_folder, monkeypatch, tmp_path):
    """A function that ships only the given keys (a copy of the fixture folder without the others)."""
    def ship(*keys):
        for key in keys:
            for name in (f'{key}.json', f'{key}.pkl', f'{key}-ref.png'):
                shutil.copy(os.path.join(pretrained_folder, name), tmp_path / name)
        monkeypatch.setattr(pretrained, '_PACKAGE_DIR', str(tmp_path))
        return str(tmp_path)
    return ship


# --- which network opens -------------------------------------------------------------------------------------
def test_default_is_the_trained_sg3t_when_it_ships(shipped, only):
    from viz.core.default_network import default_pkl

    assert default_pkl() == os.path.join(shipped, 'sg3t.pkl')
    only('sg3r', 'sg2')  # no SG3-T: the others do not stand in for it
    assert default_pkl() == DEFAULT_PKL


def test_default_is_the_untrained_one_when_nothing_ships(only):
    from viz.core.default_network import default_entries, default_pkl

    only()
    assert default_pkl() == DEFAULT_PKL
    (label, pkl), = default_entries()
    assert pkl == DEFAULT_PKL and label.startswith('untrained')


def test_the_gui_opens_the_trained_default_only_when_nothing_else_is_asked_for(shipped, only):
    import visualizer

    sg3t = os.path.join(shipped, 'sg3t.pkl')
    assert visualizer.startup_pkls([], None) == [sg3t]
    assert visualizer.startup_pkls(['/nets/mine.pkl'], None) == ['/nets/mine.pkl']
    assert visualizer.startup_pkls([], 'session.json') == []  # the session names its own network
    only()
    assert visualizer.startup_pkls([], None) == []  # the app stays on the built-in untrained network


def test_default_entries_list_every_shipped_network_then_the_untrained_one(shipped):
    from viz.core.default_network import DEFAULT_NETWORK_NAME, default_entries

    entries = default_entries()
    assert [p for _label, p in entries] == [os.path.join(shipped, f'{k}.pkl') for k in pretrained.CARD_KEYS] + \
        [DEFAULT_PKL]
    assert [label for label, _p in entries] == ['StyleGAN3-T 16x16, builtin:photos, trained 123 kimg',
                                                'StyleGAN3-R 16x16, builtin:photos, trained 123 kimg',
                                                'StyleGAN2 16x16, builtin:photos, trained 123 kimg',
                                                DEFAULT_NETWORK_NAME]


# --- labels -----------------------------------------------------------------------------------------------
def test_a_shipped_network_is_labelled_by_its_card_and_never_untrained(shipped, tmp_path):
    from viz.core.headless import network_label
    from viz.core.network_cache import load

    net = load(os.path.join(shipped, 'sg3t.pkl'), torch.device('cpu'))
    assert net.info['name'] == 'StyleGAN3-T 16x16, builtin:photos, trained 123 kimg'
    assert net.info['untrained'] is False and net.info['default_key'] == 'sg3t'
    assert network_label(net.info) == 'StyleGAN3-T 16x16, builtin:photos, trained 123 kimg'
    # the same bytes elsewhere are just a pickle: the label comes from the card, not from the weights
    copy = tmp_path / 'copy.pkl'
    shutil.copy(os.path.join(shipped, 'sg3t.pkl'), copy)
    other = load(str(copy), torch.device('cpu'))
    assert other.info['name'] == 'copy.pkl' and other.info['default_key'] is None
    builtin = load(DEFAULT_PKL, torch.device('cpu'))
    assert builtin.info['untrained'] is True and 'untrained' in network_label(builtin.info).lower()


# --- headless `make run` -------------------------------------------------------------------------------------
def test_headless_renders_every_shipped_default_with_the_key_in_the_file_names(shipped, tmp_path, capsys):
    from viz.core.headless import run_headless

    assert run_headless(out_dir=str(tmp_path), views='image') == 0
    out = capsys.readouterr().out
    assert 'UNTRAINED' not in out and 'untrained' not in out
    images = {}
    for key in pretrained.CARD_KEYS:
        images[key] = np.asarray(PIL.Image.open(tmp_path / f'{key}_image.png'))
        assert images[key].shape == (16, 16, 3)
        info = json.loads((tmp_path / f'{key}_render_info.json').read_text())
        assert info['label'] == pretrained.card_label(pretrained.read_card(key)) and info['errors'] == []
        # the PNG is the network's seed-0 image (the reference is seed 0, psi 1: the same render)
        ref = np.asarray(PIL.Image.open(os.path.join(shipped, f'{key}-ref.png')).convert('RGB')).astype(int)
        assert np.abs(images[key].astype(int) - ref).max() <= 2, key
    assert not os.path.exists(tmp_path / 'image.png')
    assert not np.array_equal(images['sg3t'], images['sg2'])


def test_headless_renders_the_untrained_one_when_nothing_ships(only, tmp_path, capsys):
    from viz.core.headless import run_headless

    only()
    assert run_headless(out_dir=str(tmp_path), views='image') == 0
    out = capsys.readouterr().out
    assert 'UNTRAINED' in out and os.path.exists(tmp_path / 'image.png')
    assert sorted(os.listdir(tmp_path)) == ['image.png', 'render_info.json']


def test_a_named_pickle_renders_only_that_one(shipped, tmp_path, capsys):
    from viz.core.headless import run_headless

    assert run_headless(pkls=[os.path.join(shipped, 'sg2.pkl')], out_dir=str(tmp_path), views='image') == 0
    assert sorted(os.listdir(tmp_path)) == ['image.png', 'render_info.json']
    assert 'network: StyleGAN2 16x16, builtin:photos, trained 123 kimg' in capsys.readouterr().out
