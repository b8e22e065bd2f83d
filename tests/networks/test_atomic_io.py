"""networks.atomic_io: whole files or none, the user's umask, one-line errors on a full disk, stale temporaries
removed only when no writer holds them."""

import errno
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from networks import UserError
from networks.atomic_io import TEMP_NAME_PATTERN, AtomicWriteError, atomic_write, remove_stale_temp_files


def _temps(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith('.tmp'))


def test_writes_whole_file_with_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / 'a.bin', lambda f: f.write(b'x' * 1000))
    finally:
        os.umask(old)
    path = tmp_path / 'a.bin'
    assert path.read_bytes() == b'x' * 1000
    assert (path.stat().st_mode & 0o777) == 0o640         # 0666 & ~027; mkstemp alone gives 0600
    os.umask(0o002)
    try:
        atomic_write(path, lambda f: f.write(b'y'))
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o664 and path.read_bytes() == b'y'
    assert _temps(tmp_path) == []


def _enospc_after(limit):
    def write_fn(f):
        f.write(b'a' * limit)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return write_fn


def test_disk_full_is_one_line_and_old_file_survives(tmp_path):
    path = tmp_path / 'snap.pkl'
    atomic_write(path, lambda f: f.write(b'old snapshot'))
    with pytest.raises(AtomicWriteError) as info:
        atomic_write(path, _enospc_after(3 * 2**20))
    err = info.value
    assert isinstance(err, UserError) and isinstance(err, OSError) and err.errno == errno.ENOSPC
    message = str(err)
    assert '\n' not in message
    assert str(path) in message and 'No space left on device' in message
    assert '3.0 MiB' in message and 'free in' in message and 'previous file is unchanged' in message
    assert err.__cause__ is None and err.__suppress_context__       # no chained second traceback
    assert path.read_bytes() == b'old snapshot'
    assert _temps(tmp_path) == []


def test_torch_save_failure_inside_runtime_error_is_found(tmp_path, monkeypatch):
    # torch.save turns a failing file.write into RuntimeError("... unexpected pos ...") with the OSError as context.
    path = tmp_path / 'net.pt'
    calls = []

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            calls.append(len(data))
            if sum(calls) > 2000:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.f.write(data)

        def flush(self):
            self.f.flush()

    with pytest.raises(AtomicWriteError, match='No space left'):
        atomic_write(path, lambda f: torch.save({'w': torch.zeros(10000)}, FullDisk(f)))
    assert not path.exists() and _temps(tmp_path) == []
    with pytest.raises(AtomicWriteError, match='nothing was written'):
        atomic_write(path, _enospc_after(10))


def test_unwritable_folder_and_bugs(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_bytes(b'')
    with pytest.raises(AtomicWriteError, match='cannot write'):
        atomic_write(blocker / 'sub' / 'x.pkl', lambda f: f.write(b'1'))
    # A bug in write_fn is not a user error: it keeps its type and traceback, and the temporary file goes.
    with pytest.raises(ZeroDivisionError):
        atomic_write(tmp_path / 'y.pkl', lambda f: (f.write(b'partial'), 1 / 0))
    assert _temps(tmp_path) == [] and not (tmp_path / 'y.pkl').exists()


def test_remove_stale_temp_files_only_ours_and_only_dead(tmp_path):
    # Leftovers of a writer killed mid-write: made by a real atomic_write in a child that is SIGKILLed.
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = textwrap.dedent(f'''
        import os, signal
        from networks.atomic_io import atomic_write
        def die(f):
            f.write(b'half a snapshot')
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_write({str(tmp_path / 'network-snapshot-000004.pkl')!r}, die)
    ''')
    proc = subprocess.run([sys.executable, '-c', script], cwd=repo, capture_output=True)
    assert proc.returncode == -9
    (leftover,) = _temps(tmp_path)
    assert TEMP_NAME_PATTERN.match(leftover) and leftover.startswith('.network-snapshot-000004.pkl.')
    # Files that merely look similar are the user's, and a folder named like ours is not touched either.
    keep = ['notes.tmp', '.x.tmp', '.snap.pkl.ABCDEFGH.tmp', 'snap.pkl.abcdefgh.tmp', '.snap.pkl.abc.tmp']
    for name in keep:
        (tmp_path / name).write_bytes(b'user data')
    (tmp_path / '.dir.pkl.abcdefgh.tmp').mkdir()
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / '.deep.pkl.abcdefgh.tmp').write_bytes(b'')   # not recursive
    assert remove_stale_temp_files(tmp_path) == [leftover]
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ['.dir.pkl.abcdefgh.tmp', 'sub'])
    assert remove_stale_temp_files(tmp_path / 'missing') == []


@pytest.mark.skipif(sys.platform == 'win32', reason='flock')
def test_live_writer_is_left_alone(tmp_path):
    # A write in progress (lock held) survives a cleaner running meanwhile, and completes.
    seen = {}

    def write_fn(f):
        f.write(b'in progress')
        seen['removed'] = remove_stale_temp_files(tmp_path)
        seen['temps'] = _temps(tmp_path)
        f.write(b' done')
    atomic_write(tmp_path / 'live.pkl', write_fn)
    assert seen['removed'] == [] and len(seen['temps']) == 1
    assert (tmp_path / 'live.pkl').read_bytes() == b'in progress done'


def _killed_write(tmp_path, name: str) -> str:
    """The temporary file a writer SIGKILLed in the middle of atomic_write(tmp_path / name) leaves behind."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = textwrap.dedent(f'''
        import os, signal
        from networks.atomic_io import atomic_write
        def die(f):
            f.write(b'half a file')
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        atomic_write({str(tmp_path / name)!r}, die)
    ''')
    before = set(_temps(tmp_path))
    proc = subprocess.run([sys.executable, '-c', script], cwd=repo, capture_output=True)
    assert proc.returncode == -9
    (leftover,) = set(_temps(tmp_path)) - before
    assert leftover.startswith(f'.{name}.')
    return leftover


@pytest.mark.skipif(sys.platform == 'win32', reason='flock')
def test_the_next_write_of_a_name_removes_its_stale_temporaries(tmp_path):
    ours = [_killed_write(tmp_path, 'state.json'), _killed_write(tmp_path, 'state.json')]
    other = _killed_write(tmp_path, 'part-000001-00.bin')       # another name: left to remove_stale_temp_files
    lookalikes = ['.state.json.ABCDEFGH.tmp', '.state.json.abcdefg.tmp', 'state.json.abcdefgh.tmp',
                  '.state.json.abcdefgh.tmp.bak', '.x.state.json.abcdefgh.tmp']
    for name in lookalikes:
        (tmp_path / name).write_bytes(b'user data')
    (tmp_path / '.state.json.dirdirdi.tmp').mkdir()
    assert set(ours) < set(_temps(tmp_path))
    seen = {}

    def write_fn(f):
        # A write of the same name in progress meanwhile: its temporary file is locked and survives.
        atomic_write(tmp_path / 'state.json', lambda g: g.write(b'inner'))
        seen['temps'] = _temps(tmp_path)
        f.write(b'outer')
    atomic_write(tmp_path / 'state.json', write_fn)
    live = [t for t in seen['temps'] if t.startswith('.state.json.') and t not in ours + lookalikes
            and t != '.state.json.dirdirdi.tmp']
    assert len(live) == 1 and not set(ours) & set(seen['temps'])     # the inner write removed the stale two
    assert (tmp_path / 'state.json').read_bytes() == b'outer'
    assert sorted(os.listdir(tmp_path)) == sorted([other, 'state.json', '.state.json.dirdirdi.tmp', *lookalikes])
    # '.x.state.json.abcdefgh.tmp' is a temporary file of the name 'x.state.json': not the state.json write's own
    assert remove_stale_temp_files(tmp_path) == sorted([other, '.x.state.json.abcdefgh.tmp'])
