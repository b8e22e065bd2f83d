"""The settings file (recent pickles): where it lives, that it round-trips, that a bad one is ignored with a note."""

from __future__ import annotations

import json
import os
import sys

import pytest

from viz.core import settings as st


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv('XDG_CONFIG_HOME', str(tmp_path / 'cfg'))
    return tmp_path / 'cfg'


def test_path_follows_xdg_config_home_and_ignores_a_relative_one(config_home, monkeypatch):
    assert st.settings_path() == os.path.join(str(config_home), st.APP_NAME, 'settings.json')
    monkeypatch.setenv('XDG_CONFIG_HOME', 'relative/dir')  # the XDG spec: relative values are invalid
    if sys.platform.startswith('linux'):
        assert st.config_dir() == os.path.join(os.path.expanduser('~'), '.config', st.APP_NAME)


def test_round_trip_and_missing_file(config_home):
    settings, note = st.load_settings()
    assert settings.recent == [] and note is None  # no file yet: nothing to say
    recent: list[str] = []
    for i in range(st.MAX_RECENT + 5):
        recent = st.add_recent(recent, f'/nets/{i}.pkl')
    recent = st.add_recent(recent, '/nets/3.pkl')  # again: moves to the front, not duplicated
    assert recent[0] == '/nets/3.pkl' and len(recent) == st.MAX_RECENT and len(set(recent)) == len(recent)
    assert recent[1] == f'/nets/{st.MAX_RECENT + 4}.pkl'
    assert st.save_settings(st.Settings(recent=recent)) is None
    assert os.path.isfile(config_home / st.APP_NAME / 'settings.json')
    loaded, note = st.load_settings()
    assert loaded.recent == recent and note is None


@pytest.mark.parametrize('content', [
    b'{not json', b'\xff\xfe\x00garbage', b'[1, 2, 3]', b'{"version": 99, "recent": []}',
    b'{"version": 1, "recent": "a string"}', b'{"version": 1, "recent": [1, 2]}', b'{"version": 1, "recent": [""]}',
    b'[' * 100_000, b'{"version": 1' + b'0' * 5000 + b'}',
], ids=lambda content: repr(content[:40]))
def test_corrupt_file_is_ignored_with_a_note(config_home, content):
    path = config_home / st.APP_NAME / 'settings.json'
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    settings, note = st.load_settings()
    assert settings.recent == []
    assert note and 'ignored the settings file' in note and str(path) in note


def test_a_fifo_or_a_device_is_ignored_with_a_note_without_waiting(config_home):
    path = config_home / st.APP_NAME / 'settings.json'
    path.parent.mkdir(parents=True)
    os.mkfifo(path)   # nobody writes: opening it for reading would wait for ever
    settings, note = st.load_settings()
    assert settings.recent == [] and 'a FIFO, not a regular file' in note
    os.unlink(path)
    os.symlink('/dev/zero', path)
    settings, note = st.load_settings()
    assert settings.recent == [] and 'a character device' in note


def test_unwritable_config_dir_gives_a_note(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('a file where the directory should be')
    note = st.save_settings(st.Settings(recent=['/a.pkl']), str(blocker / 'sub' / 'settings.json'))
    assert note and 'cannot save the settings file' in note


def test_saved_file_is_plain_json(config_home):
    st.save_settings(st.Settings(recent=['/x/ä.pkl']))
    data = json.loads((config_home / st.APP_NAME / 'settings.json').read_text(encoding='utf-8'))
    assert data == {'version': 1, 'recent': ['/x/ä.pkl']}
