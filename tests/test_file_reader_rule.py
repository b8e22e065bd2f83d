"""Files are read through the bounded readers: a walk over the source (everything but tests/, benchmarks/, virtual
environments and the NVlabs checkout) fails on

- any ``np.load`` / ``numpy.load`` / ``json.load`` / ``json.loads`` call (under any alias, or imported by name)
  outside networks/file_io.py and the allowlist ``ALLOWED``;
- any file opened for reading, outside the reader modules and the allowlist ``ALLOWED_OPENS``: the builtin
  ``open(...)`` and ``io.open(...)`` whose mode is absent or reads without writing (``'r'``, ``'rb'``, ``'rt'``;
  not ``'r+'``, ``'w'``, ``'a'``, ``'x'``; a mode that is not a literal counts as reading), ``pathlib``'s
  ``.read_bytes()`` / ``.read_text()``, and ``.open()`` called with nothing but a mode (``Path(p).open('rb')``;
  ``zip.open(name)`` names a member and is not a path's ``open``).

What a reader module gives instead: regular files only (no FIFO, device or symlink to one), a byte cap checked
before reading, one error class. Checked by parsing each file with ``ast``."""

from __future__ import annotations

import ast
import os

import pytest

from tests.test_import_rules import ROOT, python_files

READERS = ('networks/file_io.py',)
EXEMPT = ('tests/', 'benchmarks/')   # tests look at what the code wrote; benchmarks read their own outputs

# path -> (at most this many calls, why they are not file_io's). An entry may shrink when its file moves to
# file_io; a new call anywhere else fails the test.
ALLOWED = {
    # The build lock, written by this project's own build processes beside the extension it guards; read for its
    # pid and host, and any error (also a hostile file) only means "judge the lock by its age".
    'ops/plugin.py': (1, 'build lock written by the project itself'),
    # VIZ_TEST_COMMANDS: JSON lines the GUI tests append to drive the app; read only when the tests set it.
    'viz/gui/app.py': (1, 'test-command lines written by the GUI tests'),
    # Training states: parses the bytes networks.file_io.open_regular/read_fd returned (no symlinks, no FIFOs, byte
    # cap) with the plain parser, so that an integer too large for any field reaches the manifest's schema, which
    # names the field; the parser's own errors are caught.
    'training/slice.py': (1, 'state.json, read by the bounded reader'),
}

# The modules that open files for reading on behalf of everything else.
OPEN_READERS = ('networks/file_io.py', 'networks/image_io.py')

# path -> (at most this many read opens, why they need no bounded reader): files of the operating system or files
# the project itself wrote; never a path a user names.
ALLOWED_OPENS = {
    # /proc/self/status, for the umask (reading the umask otherwise means changing it for a moment).
    'networks/atomic_io.py': (1, '/proc/self/status'),
    # The extension's own source files, hashed to name the build (read_bytes), and the build lock, written by this
    # project's build processes beside the extension (read_text; any content only means "judge the lock by age").
    'ops/cuda/build.py': (1, "the project's own sources"),
    'ops/plugin.py': (1, 'the build lock, written by the project itself'),
    # /proc/cpuinfo (read_text) and the project's own C++ sources, hashed to name the build (read_bytes).
    'ops/cpu/build.py': (2, "/proc/cpuinfo and the project's own sources"),
    # The project's own default-network files it is about to replace (read back to restore them if a later write
    # fails), and the pickle it has just written itself into its temporary folder, in the same run.
    'tools/export_default.py': (2, 'files it replaces or has just written'),
    # VIZ_TEST_COMMANDS: JSON lines the GUI tests append to drive the app; read only when the tests set it.
    'viz/gui/app.py': (1, 'test-command lines written by the GUI tests'),
}

_MODULES = {'json': ('load', 'loads'), 'numpy': ('load',), 'io': ()}
_WRITE_MODE = set('wax+')
_MODE_LETTERS = set('rwxabt+U')


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> module for ``import json``, ``import numpy as np``, ``import numpy.lib as x`` (-> numpy)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split('.')[0]
                if top in _MODULES and (alias.asname is None or alias.name == top):
                    names[alias.asname or top] = top
    return names


def _mode(node: ast.Call, position: int) -> ast.expr | None:
    for keyword in node.keywords:
        if keyword.arg == 'mode':
            return keyword.value
    return node.args[position] if len(node.args) > position else None


def _reads(mode: ast.expr | None) -> bool:
    """Whether an open with this mode argument reads without writing (a mode that is not a literal: assume so)."""
    if mode is None:
        return True
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return not (_WRITE_MODE & set(mode.value))
    return True


def _is_mode_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(node.value) and \
        set(node.value) <= _MODE_LETTERS


def _read_open(node: ast.Call, aliases: dict[str, str], io_open_names: set[str]) -> str | None:
    """What the call opens a file for reading with, or None."""
    func = node.func
    if isinstance(func, ast.Name) and (func.id == 'open' or func.id in io_open_names):
        return f'{func.id}()' if _reads(_mode(node, 1)) else None
    if not isinstance(func, ast.Attribute):
        return None
    if isinstance(func.value, ast.Name) and aliases.get(func.value.id) == 'io':
        return 'io.open()' if func.attr == 'open' and _reads(_mode(node, 1)) else None
    if func.attr == 'read_text' or (func.attr == 'read_bytes' and not node.args and not node.keywords):
        return f'.{func.attr}()'
    # pathlib's open: only a mode, if anything (a zip's, tar's or image's open names what to open first)
    path_open_keywords = ('mode', 'buffering', 'encoding', 'errors', 'newline')
    if func.attr == 'open' and (not node.args or (len(node.args) == 1 and _is_mode_literal(node.args[0]))) \
            and all(keyword.arg in path_open_keywords for keyword in node.keywords) and _reads(_mode(node, 0)):
        return '.open()'
    return None


def file_reads(source: str, relpath: str, opens: bool = False) -> list[str]:
    """'path:line: what' for every np.load / json.load / json.loads in ``source``; with ``opens``, for every file
    opened for reading instead (see the module)."""
    tree = ast.parse(source, relpath)
    aliases = _aliases(tree)
    io_open_names = {alias.asname or alias.name for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module == 'io' and not node.level
                     for alias in node.names if alias.name == 'open'}
    found = []
    for node in ast.walk(tree):
        what = None
        if opens:
            if isinstance(node, ast.Call):
                what = _read_open(node, aliases, io_open_names)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
                    func.attr in _MODULES.get(aliases.get(func.value.id, ''), ()):
                what = f'{aliases[func.value.id]}.{func.attr}'
            elif (isinstance(func, ast.Name) and func.id == 'getattr' and len(node.args) >= 2
                  and isinstance(node.args[0], ast.Name) and isinstance(node.args[1], ast.Constant)
                  and node.args[1].value in _MODULES.get(aliases.get(node.args[0].id, ''), ())):
                what = f'getattr({aliases[node.args[0].id]}, {node.args[1].value!r})'
        elif isinstance(node, ast.ImportFrom) and node.module in _MODULES and not node.level:
            for alias in node.names:
                if alias.name in _MODULES[node.module]:
                    what = f'from {node.module} import {alias.name}'
        if what:
            found.append(f'{relpath}:{node.lineno}: {what}')
    return found


def scan(root: str, opens: bool = False) -> list[str]:
    out = []
    for path in python_files(root):
        if path.startswith(EXEMPT):
            continue
        with open(os.path.join(root, path), encoding='utf-8') as f:
            out.extend(file_reads(f.read(), path, opens))
    return out


def outside(found: list[str], readers: tuple[str, ...] = READERS,
            allowed: dict[str, tuple[int, str]] = ALLOWED) -> list[str]:
    """The calls that are neither in a reader module nor within the allowlist's count for their file."""
    by_path: dict[str, list[str]] = {}
    for entry in found:
        by_path.setdefault(entry.split(':', 1)[0], []).append(entry)
    bad = []
    for path, entries in sorted(by_path.items()):
        if path in readers:
            continue
        if len(entries) > allowed.get(path, (0, ''))[0]:
            bad.extend(entries)
    return bad


def test_only_the_readers_load_json_and_numpy_files():
    bad = outside(scan(ROOT))
    assert bad == [], 'read JSON / .npy / .npz files with networks.file_io (read_json, parse_json, read_npz, ' \
                      'read_npy, read_arrays):\n' + '\n'.join(bad)


def test_the_walk_sees_the_callers_and_the_allowlist_names_real_files():
    files = python_files(ROOT)
    for path in (*READERS, *ALLOWED, 'viz/core/session.py', 'networks/pretrained/__init__.py',
                 'analysis/spectra.py', 'viz/core/latents.py', 'tools/avg_spectra.py'):
        assert path in files, path
    found = scan(ROOT)
    # the walk does read the sources: it finds the reader's own call
    assert any(f.startswith('networks/file_io.py:') and f.endswith('json.loads') for f in found), found


@pytest.mark.parametrize('source', [
    'import numpy as np\nnp.load(path)\n',
    'import numpy\nwith numpy.load(path) as data:\n    pass\n',
    'import json\njson.load(f)\n',
    'import json\njson.loads(text)\n',
    'import json as j\nj.loads(text)\n',
    'def f(p):\n    import numpy as N\n    return N.load(p, allow_pickle=False)\n',
    'from numpy import load\n',
    'from json import loads as parse\n',
    "import json\nreader = getattr(json, 'load')\n",
])
def test_the_walk_flags_each_way_of_reading(tmp_path, source):
    (tmp_path / 'viz').mkdir()
    (tmp_path / 'viz' / 'bad.py').write_text(source)
    for exempt in ('tests', 'benchmarks'):
        (tmp_path / exempt).mkdir()
        (tmp_path / exempt / 'test_ok.py').write_text(source)
    found = scan(str(tmp_path))
    assert found and all(f.startswith('viz/bad.py:') for f in found), found
    assert outside(found) == found


def test_the_walk_leaves_other_calls_alone(tmp_path):
    (tmp_path / 'viz').mkdir()
    (tmp_path / 'viz' / 'ok.py').write_text(
        'import json\nimport numpy as np\nimport pickle\nfrom networks.file_io import read_json\n'
        'json.dumps({})\nnp.save(p, a)\nnp.savez(p, a=a)\nread_json(p, max_bytes=1)\nmodel.load(p)\n'
        'yaml.load(s)\ntorch.load(p)\n')
    assert scan(str(tmp_path)) == []


def test_the_allowlist_is_a_count_per_file(tmp_path):
    (tmp_path / 'training').mkdir()
    (tmp_path / 'training' / 'slice.py').write_text('import json\njson.loads(a)\njson.loads(b)\n')
    found = scan(str(tmp_path))
    assert len(found) == 2 and len(outside(found)) == 2   # one is allowed there; a second is not
    (tmp_path / 'training' / 'slice.py').write_text('import json\njson.loads(a)\n')
    assert outside(scan(str(tmp_path))) == []


# ------------------------------------------------------------------------------------------------------------
# Files opened for reading

def test_only_the_readers_open_files_for_reading():
    bad = outside(scan(ROOT, opens=True), OPEN_READERS, ALLOWED_OPENS)
    assert bad == [], 'read files with networks.file_io (read_bytes, open_regular + read_fd, read_json, ...) or ' \
                      'networks.image_io; a file the project wrote itself goes into ALLOWED_OPENS with why:\n' + \
                      '\n'.join(bad)


def test_the_open_allowlist_is_exact():
    """Every allowed file exists and holds exactly as many read opens as allowed: a count that is too high would
    let a new open in unnoticed."""
    files = python_files(ROOT)
    found = scan(ROOT, opens=True)
    for path, (count, why) in ALLOWED_OPENS.items():
        assert path in files and why, path
        assert sum(f.startswith(path + ':') for f in found) == count, (path, [f for f in found if path in f])
    for path in OPEN_READERS:
        assert path in files, path
    # The places that once opened user files themselves are walked, and open nothing now.
    for path in ('training/dataset.py', 'training/metrics/frechet.py', 'training/metrics/detector.py',
                 'tools/cli.py', 'training/slice.py'):
        assert path in files and not any(f.startswith(path + ':') for f in found), path


@pytest.mark.parametrize('source', [
    "with open(path, 'rb') as f:\n    data = f.read()\n",
    'with open(path) as f:\n    text = f.read()\n',
    "f = open(path, 'rt', encoding='utf-8')\n",
    "f = open(path, mode='r')\n",
    'f = open(path, mode)\n',                                   # a mode that is not a literal
    "import io\nf = io.open(path, 'rb')\n",
    "import io as x\nf = x.open(path)\n",
    "from io import open as io_open\nf = io_open(path, 'rb')\n",
    'from pathlib import Path\ndata = Path(p).read_bytes()\n',
    "text = path.read_text(encoding='utf-8')\n",
    "from pathlib import Path\nwith Path(p).open('rb') as f:\n    pass\n",
    'with path.open() as f:\n    pass\n',
    "with path.open(mode='rb', buffering=0) as f:\n    pass\n",
    'def f(p):\n    return open(p, "rb").read()\n',
])
def test_the_walk_flags_each_way_of_opening_for_reading(tmp_path, source):
    (tmp_path / 'training').mkdir()
    (tmp_path / 'training' / 'bad.py').write_text(source)
    for exempt in ('tests', 'benchmarks'):
        (tmp_path / exempt).mkdir()
        (tmp_path / exempt / 'test_ok.py').write_text(source)
    found = scan(str(tmp_path), opens=True)
    assert len(found) == 1 and found[0].startswith('training/bad.py:'), found
    assert outside(found, OPEN_READERS, ALLOWED_OPENS) == found
    assert scan(str(tmp_path)) == []        # and the JSON / NumPy walk is a different list


def test_the_walk_leaves_writes_and_other_opens_alone(tmp_path):
    (tmp_path / 'viz').mkdir()
    (tmp_path / 'viz' / 'ok.py').write_text(
        "open(p, 'wb')\nopen(p, 'w')\nopen(p, 'a')\nopen(p, 'ab')\nopen(p, 'xb')\nopen(p, 'r+b')\n"
        "open(p, mode='w', encoding='utf-8')\nimport io\nio.open(p, 'w')\nPath(p).open('w')\n"
        "path.write_bytes(b'')\npath.write_text('')\nimport os\nos.fdopen(fd, 'rb')\n"
        "zf.open(name)\nzf.open('dataset.json')\nzf.open(name, 'r')\nImage.open(p)\ntarfile.open(p)\n"
        "webbrowser.open(url)\nread_bytes(p, max_bytes=1)\nfile_io.read_bytes(p, max_bytes=1)\n")
    assert scan(str(tmp_path), opens=True) == []


def test_the_open_allowlist_is_a_count_per_file(tmp_path):
    (tmp_path / 'networks').mkdir()
    status = "with open('/proc/self/status') as f:\n    pass\n"
    (tmp_path / 'networks' / 'atomic_io.py').write_text(status)
    assert outside(scan(str(tmp_path), opens=True), OPEN_READERS, ALLOWED_OPENS) == []
    (tmp_path / 'networks' / 'atomic_io.py').write_text(status + "data = open(user_path, 'rb').read()\n")
    assert len(outside(scan(str(tmp_path), opens=True), OPEN_READERS, ALLOWED_OPENS)) == 2
    (tmp_path / 'networks' / 'file_io.py').write_text("open(p, 'rb')\n")          # the reader itself may
    assert outside(scan(str(tmp_path), opens=True), OPEN_READERS, ALLOWED_OPENS) == \
        [f for f in scan(str(tmp_path), opens=True) if f.startswith('networks/atomic_io.py')]
