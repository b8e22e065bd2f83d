"""networks.pretrained: the shipped default networks' cards (hostile ones refused by field), the 32 MB pickle limit,
the safe loader, and the check that each shipped network is trained and as its card says: each shipped pickle renders
its reference PNG within the card's tolerance and differs from a freshly initialised network. The check runs on every
shipped network and, always, on a fixture folder of tiny networks, with negative cases that must fail it."""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle

import numpy as np
import pytest
import torch

from networks import pretrained
from networks.errors import UserError
from tests.networks.pretrained_fixture import card_for, tiny_for, write_default_folder


@pytest.fixture(scope='module')
def shipped_like(tmp_path_factory):
    """(folder, {key: card}) of all three keys, written once for the module (the tests copy what they change)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp('pretrained')
    return str(root), write_default_folder(root)


def _copy_folder(src: str, dst) -> str:
    import shutil

    shutil.copytree(src, str(dst), dirs_exist_ok=True)
    return str(dst)


# --- the shipped networks: each renders its reference and is trained --------------------------------------------
@pytest.mark.parametrize('card', pretrained.available(), ids=lambda c: c['key'])
def test_each_shipped_network_matches_its_reference_and_is_trained(card):
    report = pretrained.check_network(card)
    assert report['problems'] == [], report


def test_the_package_folder_holds_only_valid_cards():
    """A card that ships must be valid: available() would silently skip a broken one, this test does not."""
    for key in pretrained.CARD_KEYS:
        if os.path.exists(os.path.join(pretrained.folder(), f'{key}.json')):
            card = pretrained.read_card(key)
            assert os.path.getsize(pretrained.pickle_path(card)) <= 25 * 10**6  # the cap per shipped pickle
            assert os.path.isfile(pretrained.reference_path(card))


# --- the same check on a fixture ---------------------------------------------------------------------------
def test_check_passes_on_a_folder_made_like_the_shipped_one(shipped_like):
    root, cards = shipped_like
    assert [c['key'] for c in pretrained.available(root)] == list(pretrained.CARD_KEYS)
    for key, card in cards.items():
        report = pretrained.check_network(pretrained.read_card(key, root), root)
        assert report['problems'] == [], (key, report)
        assert report['max_abs'] <= card['reference']['max_abs_tolerance']
        assert report['fresh_mean_abs'] >= pretrained.MIN_FRESH_DIFFERENCE


def test_check_fails_on_a_wrong_reference(shipped_like, tmp_path):
    import PIL.Image

    root = _copy_folder(shipped_like[0], tmp_path)
    card = pretrained.read_card('sg3t', root)
    ref_path = pretrained.reference_path(card, root)
    ref = np.asarray(PIL.Image.open(ref_path).convert('RGB')).copy()
    # one pixel off by 8 levels (0.031 > the 0.02 tolerance): the guard must see a single changed pixel
    ref[3, 5, 1] = (int(ref[3, 5, 1]) + 8) % 256
    PIL.Image.fromarray(ref).save(ref_path)
    report = pretrained.check_network(card, root)
    assert len(report['problems']) == 1 and 'differs from sg3t-ref.png' in report['problems'][0], report
    assert report['max_abs'] == pytest.approx(8 / 255)

    # another network's reference (same size): fails by far more
    other = pretrained.read_card('sg3r', root)
    os.replace(pretrained.reference_path(other, root), ref_path)
    report = pretrained.check_network(card, root)
    assert report['problems'] and report['max_abs'] > 0.2, report


def test_check_fails_on_a_reference_of_another_size(shipped_like, tmp_path):
    import PIL.Image

    root = _copy_folder(shipped_like[0], tmp_path)
    card = pretrained.read_card('sg2', root)
    PIL.Image.new('RGB', (32, 32)).save(pretrained.reference_path(card, root))
    report = pretrained.check_network(card, root)
    assert report['problems'] and 'the network renders 16x16' in report['problems'][0]


def test_load_reference_reads_only_a_png_within_its_limits(tmp_path, monkeypatch):
    import PIL.Image

    from tests.networks.hostile_images import LOOP_PROGRAM, eps, install_fake_ghostscript, png_claiming

    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    PIL.Image.fromarray(rgb).save(tmp_path / 'ref.png')
    np.testing.assert_array_equal(pretrained.load_reference(str(tmp_path / 'ref.png')), rgb)
    marker = tmp_path / 'marker'
    log = install_fake_ghostscript(monkeypatch, tmp_path, str(marker))
    PIL.Image.fromarray(rgb).save(tmp_path / 'jpeg.png', 'JPEG')
    (tmp_path / 'ps.png').write_bytes(eps(f'({marker}) (w) file closefile {LOOP_PROGRAM}'))
    (tmp_path / 'big.png').write_bytes(png_claiming(4097, 4096))
    for name, reason in [('jpeg.png', 'not a PNG image'), ('ps.png', 'PostScript'),
                         ('big.png', 'more than the 16777216 allowed')]:
        with pytest.raises(UserError, match='cannot read the reference image') as info:
            pretrained.load_reference(str(tmp_path / name))
        assert reason in str(info.value) and '\n' not in str(info.value)
    assert not marker.exists() and not os.path.exists(log)


def test_check_fails_when_the_network_is_a_fresh_initialisation(tmp_path):
    """Ship a network drawn exactly as the check draws its fresh one: the reference matches (it was made from
    it), but the network is "untrained", which the check must say."""
    fresh_seed = 777
    write_default_folder(tmp_path, keys=('sg3t',), seeds={'sg3t': fresh_seed})
    card = pretrained.read_card('sg3t', str(tmp_path))
    report = pretrained.check_network(card, str(tmp_path), fresh_seed=fresh_seed)
    assert report['max_abs'] <= 0.02
    assert len(report['problems']) == 1 and 'freshly initialised' in report['problems'][0], report
    # and with another fresh seed the same folder passes: the check is about the weights, not the folder
    assert pretrained.check_network(card, str(tmp_path), fresh_seed=fresh_seed + 1)['problems'] == []


def test_render_reference_draws_z_of_the_seed_and_applies_psi():
    G = tiny_for('sg3t')
    a = pretrained.render_reference(G, 5, 1.0)
    assert a.dtype == np.uint8 and a.shape == (16, 16, 3)
    z = torch.from_numpy(np.random.RandomState(5).randn(1, G.z_dim)).float()
    with torch.no_grad():
        manual = G(z, torch.zeros(1, 0), truncation_psi=1.0, noise_mode='const')[0].permute(1, 2, 0)
    manual = np.clip(np.rint(manual.numpy() * 127.5 + 128 - 0.5), 0, 255)  # torch's to(uint8) truncates
    assert np.abs(a.astype(int) - manual.astype(int)).max() <= 1
    assert not np.array_equal(a, pretrained.render_reference(G, 6, 1.0))
    assert not np.array_equal(a, pretrained.render_reference(G, 5, 0.5))


def test_card_label_says_what_and_how_trained():
    assert pretrained.card_label(card_for('sg3t')) == 'StyleGAN3-T 16x16, builtin:photos, trained 123 kimg'
    card = card_for('sg3t')
    card['campaign'] = {'swd_over_floor': 8.24, 'goal_met': False}
    assert pretrained.card_label(card) == ('StyleGAN3-T 16x16, builtin:photos, trained 123 kimg '
                                           '(SWD 8.2x the real-vs-real floor; goal 3x)')
    for bad in ('8', float('nan'), True, -1, None, [1]):  # a card is hostile input: odd values say nothing
        card['campaign'] = {'swd_over_floor': bad, 'goal_met': 'yes'}
        assert pretrained.card_label(card) == 'StyleGAN3-T 16x16, builtin:photos, trained 123 kimg'
    card['campaign'] = {'swd_over_floor': 2.5, 'goal_met': True}  # the goal met: no longer 'trained N'
    assert pretrained.card_label(card) == 'StyleGAN3-T 16x16, builtin:photos, 123 kimg'


# --- hostile cards ------------------------------------------------------------------------------------------
def _set(card: dict, path: str, value) -> dict:
    card = copy.deepcopy(card)
    *parents, last = path.split('.')
    node = card
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return card


BAD_CARDS = [
    ('training', KeyError, 'training'),
    ('training.kimg', KeyError, 'training.kimg'),
    ('training.kimg', 'a lot', 'training.kimg'),
    ('training.kimg', True, 'training.kimg'),
    ('training.kimg', float('nan'), 'training.kimg'),
    ('training.seconds', float('inf'), 'training.seconds'),
    ('training.kimg', -1, 'training.kimg'),
    ('metrics.swd', float('nan'), 'metrics.swd'),
    ('metrics.eqt50k_frac', '40 dB', 'metrics.eqt50k_frac'),
    ('metrics.notes', None, 'metrics.notes'),
    ('resolution', 64.5, 'resolution'),
    ('dataset', ['builtin:photos'], 'dataset'),
    ('dataset.count', '10000', 'dataset.count'),
    ('file', '../evil.pkl', 'file'),
    ('file', '/etc/evil.pkl', 'file'),
    ('file', 'sub/sg3t.pkl', 'file'),
    ('file', 'sub\\sg3t.pkl', 'file'),
    ('file', '..', 'file'),
    ('file', 'sg3t.json', 'file'),
    ('file', '', 'file'),
    ('reference.png', '../../x.png', 'reference.png'),
    ('reference.seed', -1, 'reference.seed'),
    ('reference.seed', 1.5, 'reference.seed'),
    ('reference.max_abs_tolerance', 0, 'reference.max_abs_tolerance'),
    ('reference.max_abs_tolerance', 0.5, 'reference.max_abs_tolerance'),
    ('images.grid', '../../../etc/passwd', 'images.grid'),
    ('images.swd_curve', '/tmp/x.png', 'images.swd_curve'),
    ('key', 'sg3r', 'key'),
    ('key', 'ffhq', 'key'),
    ('cfg', 'stylegan4', 'cfg'),
    ('format', 2, 'format'),
    ('title', 7, 'title'),
    ('created', KeyError, 'created'),
]


@pytest.mark.parametrize('path,value,field', BAD_CARDS, ids=[f'{p}={v!r}' for p, v, _f in BAD_CARDS])
def test_a_bad_card_is_refused_naming_the_field_and_skipped_by_available(shipped_like, tmp_path, caplog,
                                                                        path, value, field):
    root = _copy_folder(shipped_like[0], tmp_path)
    with open(os.path.join(root, 'sg3t.json'), 'w') as f:  # NaN and Infinity written as JSON's extensions
        json.dump(_set(card_for('sg3t'), path, value), f)
    with pytest.raises(UserError, match=f'"{field}"'):
        pretrained.read_card('sg3t', root)
    with caplog.at_level(logging.WARNING, logger='networks.pretrained'):
        keys = [c['key'] for c in pretrained.available(root)]
    assert keys == ['sg3r', 'sg2']  # the others still listed
    lines = [r.getMessage() for r in caplog.records if r.name == 'networks.pretrained']
    assert len(lines) == 1 and 'sg3t' in lines[0] and '\n' not in lines[0]


@pytest.mark.parametrize('text,why', [
    (b'{"key": "sg3t", ', 'not valid JSON'),
    (b'[1, 2]', 'must be a JSON object'),
    (b'\xff\xfe{}', 'not UTF-8'),
    (b'[' * 100000 + b']' * 100000, 'nested too deeply'),
], ids=['truncated', 'list', 'not-utf8', 'deep'])
def test_a_card_that_is_not_a_json_object_is_refused(tmp_path, text, why):
    (tmp_path / 'sg3t.json').write_bytes(text)
    with pytest.raises(UserError, match=why):
        pretrained.read_card('sg3t', str(tmp_path))
    assert pretrained.available(str(tmp_path)) == []


def test_a_huge_card_is_refused_before_it_is_read(tmp_path):
    with open(tmp_path / 'sg3t.json', 'wb') as f:
        f.truncate(pretrained.MAX_CARD_BYTES + 1)  # sparse: no disk used
    with pytest.raises(UserError, match=f'more than the {pretrained.MAX_CARD_BYTES} allowed'):
        pretrained.read_card('sg3t', str(tmp_path))


def test_unknown_key_and_missing_card(tmp_path):
    with pytest.raises(UserError, match='unknown default network "../sg3t"'):
        pretrained.read_card('../sg3t', str(tmp_path))
    with pytest.raises(UserError, match='no card for default network "sg2"'):
        pretrained.read_card('sg2', str(tmp_path))
    assert pretrained.available(str(tmp_path)) == []


def test_a_card_without_its_pickle_is_not_available(shipped_like, tmp_path):
    root = _copy_folder(shipped_like[0], tmp_path)
    os.remove(os.path.join(root, 'sg3r.pkl'))
    assert [c['key'] for c in pretrained.available(root)] == ['sg3t', 'sg2']


def test_an_oversized_pickle_is_refused_before_it_is_read(shipped_like, tmp_path, monkeypatch, caplog):
    import networks.loading

    root = _copy_folder(shipped_like[0], tmp_path)
    with open(os.path.join(root, 'sg3t.pkl'), 'r+b') as f:
        f.truncate(pretrained.MAX_PICKLE_BYTES + 1)

    def must_not_read(*args, **kwargs):
        raise AssertionError('the loader was called on an oversized pickle')

    monkeypatch.setattr(networks.loading, 'load_generator', must_not_read)
    card = pretrained.read_card('sg3t', root)
    with pytest.raises(UserError, match='more than the 32 MiB'):
        pretrained.load_card_generator(card, root)
    with caplog.at_level(logging.WARNING, logger='networks.pretrained'):
        assert [c['key'] for c in pretrained.available(root)] == ['sg3r', 'sg2']
    assert any('32 MiB' in r.getMessage() for r in caplog.records)


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_pickles_load_only_through_the_safe_loader(shipped_like, tmp_path):
    root = _copy_folder(shipped_like[0], tmp_path)
    with open(os.path.join(root, 'sg3t.pkl'), 'wb') as f:
        pickle.dump({'G_ema': _Evil()}, f)
    card = pretrained.read_card('sg3t', root)
    with pytest.raises(UserError):  # PickleError: refused, nothing executed
        pretrained.load_card_generator(card, root)


def test_pickle_path_refuses_a_hand_built_card_with_a_path(tmp_path):
    with pytest.raises(UserError, match='"file"'):
        pretrained.pickle_path(dict(card_for('sg3t'), file='../../x.pkl'), str(tmp_path))


def test_validate_card_accepts_extra_fields_and_nulls():
    card = card_for('sg2')
    card['future_field'] = {'anything': 1}
    card['metrics'].update(swd=None, eqt50k_int=None, eqt50k_frac=None, eqr50k=None)
    assert pretrained.validate_card(json.loads(json.dumps(card)), 'sg2')['key'] == 'sg2'
