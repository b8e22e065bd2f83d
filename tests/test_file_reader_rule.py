"""JSON and NumPy files are read through networks.file_io: a walk over the source (everything but tests/,
benchmarks/, virtual environments and the NVlabs checkout) fails on any ``np.load`` / ``numpy.load`` /
``json.load`` / ``json.loads`` call (under any alias, or imported by name) outside the reader module and the
allowlist below. Checked by parsing each file with ``ast``."""

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
    'ops/cuda/build.py': (1, 'build lock written by the project itself'),
    # VIZ_TEST_COMMANDS: JSON lines the GUI tests append to drive the app; read only when the tests set it.
    'viz/gui/app.py': (1, 'test-command lines written by the GUI tests'),
    # Training states: parses the bytes its own regular-file reader returned (no symlinks, no FIFOs, byte cap;
    # `_read_regular`), and catches the parser's errors; the manifest then goes through its schema.
    'training/slice.py': (1, 'state.json, read by its own bounded reader'),
}

_MODULES = {'json': ('load', 'loads'), 'numpy': ('load',)}


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


def file_reads(source: str, relpath: str) -> list[str]:
    """'path:line: what' for every np.load / json.load / json.loads in ``source``."""
    tree = ast.parse(source, relpath)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.Call):
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


def scan(root: str) -> list[str]:
    out = []
    for path in python_files(root):
        if path.startswith(EXEMPT):
            continue
        with open(os.path.join(root, path), encoding='utf-8') as f:
            out.extend(file_reads(f.read(), path))
    return out


def outside(found: list[str]) -> list[str]:
    """The calls that are neither in a reader module nor within the allowlist's count for their file."""
    by_path: dict[str, list[str]] = {}
    for entry in found:
        by_path.setdefault(entry.split(':', 1)[0], []).append(entry)
    bad = []
    for path, entries in sorted(by_path.items()):
        if path in READERS:
            continue
        allowed = ALLOWED.get(path, (0, ''))[0]
        if len(entries) > allowed:
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
