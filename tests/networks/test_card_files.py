"""Default-network cards are read by networks.file_io.read_json: an integer beyond float range, a 5000-digit
integer, a FIFO or a device in place of a card is one UserError line from read_card, and available() (which the
visualizer calls at start-up) skips that card with one logged line and never raises."""

from __future__ import annotations

import json
import logging
import os
import random
import time

import pytest

from networks import pretrained
from networks.errors import UserError
from tests.hostile_json import mutate_json
from tests.networks.hostile_images import measure
from tests.networks.pretrained_fixture import card_for

FUZZ_SEED = 20260523


def _folder(tmp_path, sg3t: bytes | None = None) -> str:
    """A folder with valid cards for every key (and stand-in pickles); ``sg3t`` replaces sg3t.json's bytes."""
    for key in pretrained.CARD_KEYS:
        (tmp_path / f'{key}.json').write_text(json.dumps(card_for(key)))
        (tmp_path / f'{key}.pkl').write_bytes(b'not loaded by available()')
    if sg3t is not None:
        (tmp_path / 'sg3t.json').write_bytes(sg3t)
    return str(tmp_path)


def _skips_sg3t(root: str, caplog) -> str:
    caplog.clear()
    found = []
    with caplog.at_level(logging.WARNING, logger='networks.pretrained'):
        seconds, _rss, error, finished = measure(lambda: found.append(pretrained.available(root)), timeout=10)
    assert finished and seconds < 2, f'available() still running after {seconds:.1f} s'
    assert error is None, repr(error)
    assert [c['key'] for c in found.pop()] == ['sg3r', 'sg2']
    lines = [r.getMessage() for r in caplog.records if r.name == 'networks.pretrained']
    assert len(lines) == 1 and 'sg3t' in lines[0] and '\n' not in lines[0], lines
    return lines[0]


def _card_text(where: tuple, token: str) -> bytes:
    card = card_for('sg3t')
    node = card
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = '@@TOKEN@@'
    return json.dumps(card).replace('"@@TOKEN@@"', token).encode()


@pytest.mark.parametrize('where,token,why', [
    (('training', 'kimg'), '1' + '0' * 400, 'beyond float range'),
    (('reference', 'psi'), '-1' + '0' * 400, 'beyond float range'),
    (('dataset', 'count'), '7' * 5000, 'an integer of 5000 digits'),
    (('reference', 'seed'), '7' * 5000, 'an integer of 5000 digits'),
    (('metrics', 'swd'), '1e400', 'the number 1e400 is beyond float range'),
], ids=['kimg-10**400', 'psi-negative', 'count-5000-digits', 'seed-5000-digits', 'swd-1e400'])
def test_numbers_beyond_float_range_are_skipped_by_available(tmp_path, caplog, where, token, why):
    """10**400 escaped available() as OverflowError (from math.isfinite), a 5000-digit int as ValueError."""
    root = _folder(tmp_path, _card_text(where, token))
    with pytest.raises(UserError, match=why):
        pretrained.read_card('sg3t', root)
    assert why in _skips_sg3t(root, caplog)


def test_validate_card_names_a_big_integer_without_raising_anything_else():
    for value in (10**400, -10**5000):
        card = card_for('sg3t')
        card['training']['kimg'] = value
        with pytest.raises(UserError, match='"training.kimg" must be finite') as info:
            pretrained.validate_card(card)
        assert len(str(info.value)) < 200


def test_a_card_that_is_a_fifo_does_not_hang(tmp_path, caplog):
    root = _folder(tmp_path)
    os.unlink(tmp_path / 'sg3t.json')
    os.mkfifo(tmp_path / 'sg3t.json')   # nobody writes: opening it for reading would wait for ever
    assert 'a FIFO, not a regular file' in _skips_sg3t(root, caplog)


def test_a_card_that_is_a_device_is_refused(tmp_path, caplog):
    root = _folder(tmp_path)
    os.unlink(tmp_path / 'sg3t.json')
    os.symlink('/dev/zero', tmp_path / 'sg3t.json')
    assert 'a character device' in _skips_sg3t(root, caplog)


def test_a_deep_card_is_refused_before_the_parser_recurses(tmp_path, caplog):
    root = _folder(tmp_path, b'{"key": ' + b'[' * 1_000_000)
    assert 'nested too deeply' in _skips_sg3t(root, caplog)


def test_fuzz_cards(tmp_path):
    """500 seeded mutations of a valid card: read_card returns a card or raises UserError, nothing else;
    available() never raises; each within 2 s; the whole run within 1 GB of RSS."""
    root = _folder(tmp_path)
    text = json.dumps(card_for('sg3t'), indent=1)
    rng = random.Random(FUZZ_SEED)
    escapes, slow, counts = [], [], {'read': 0, 'refused': 0}

    def run():
        for i in range(500):
            (tmp_path / 'sg3t.json').write_bytes(mutate_json(text, rng))
            start = time.perf_counter()
            try:
                pretrained.read_card('sg3t', root)
                counts['read'] += 1
            except UserError as err:
                assert '\n' not in str(err)
                counts['refused'] += 1
            except BaseException as err:  # noqa: BLE001 - counted, reported below
                escapes.append((i, 'read_card', repr(err)[:300]))
            try:
                keys = [c['key'] for c in pretrained.available(root)]
                assert keys[-2:] == ['sg3r', 'sg2']
            except BaseException as err:  # noqa: BLE001 - counted, reported below
                escapes.append((i, 'available', repr(err)[:300]))
            if time.perf_counter() - start > 2.0:
                slow.append(i)

    logging.getLogger('networks.pretrained').disabled = True   # 500 'skipped' lines
    try:
        seconds, rss, error, finished = measure(run, timeout=300)
    finally:
        logging.getLogger('networks.pretrained').disabled = False
    assert finished and error is None, error
    assert escapes == [] and slow == [], (escapes[:5], slow[:5])
    assert rss < 1 << 30, rss
    assert counts['refused'] > 100 and counts['read'] > 10, counts
