"""The layering rules of the repository, checked by parsing every import statement with `ast`.

The layers, bottom to top: ops/ and networks/ (the user-error base, file and image I/O, the seed and uint8
conventions live in networks/), then training/, then analysis/ (spectra, sticking, projection, directions,
image and video frames), then viz/core/ (render arguments, renderer, sessions, headless), then the GUI layer
(viz/gui/, gui_utils/, visualizer.py). Nothing imports a layer above its own:

- ops/ and networks/ import nothing from training/, analysis/, viz/, gui_utils/, tools/ or visualizer.py.
- training/ imports nothing from analysis/, viz/, gui_utils/, tools/ or visualizer.py.
- analysis/ imports nothing from viz/, gui_utils/, tools/ or visualizer.py (and no GUI library).
- viz/core/ (headless rendering included) never imports the GUI layer.
- Only the GUI layer (and the GUI benchmark that drives it) imports imgui, imgui_bundle, glfw or OpenGL.
- tools/ (the command lines) is imported only by tools/ itself, visualizer.py, tests/ and benchmarks/
  (the training benchmark builds its configuration exactly as `python -m tools.train` does).

Imports inside functions count too: a lazy import still ties the layers together.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# nvlabs: the git-ignored NVlabs checkout that benchmarks compare against (never our code)
SKIP_DIRS = {'.venv', '.git', 'shared', 'renders', 'runs', '__pycache__', 'node_modules', 'nvlabs'}
GUI_LIBS = ('imgui', 'imgui_bundle', 'glfw', 'OpenGL')
GUI_LAYER = ('viz/gui/', 'gui_utils/', 'visualizer.py', 'benchmarks/bench_gui.py')


@dataclass(frozen=True)
class Rule:
    name: str
    applies_to: tuple[str, ...]          # path prefixes (relative, '/'-separated) the rule covers; () = all
    exempt: tuple[str, ...]              # path prefixes it does not cover
    forbidden: tuple[str, ...]           # module prefixes those files may not import


RULES = (
    Rule('ops/networks stay below the application', ('ops/', 'networks/'), (),
         ('training', 'analysis', 'viz', 'gui_utils', 'tools', 'visualizer')),
    Rule('only the GUI layer imports GUI libraries', (), GUI_LAYER, GUI_LIBS),
    Rule('training never imports analysis, viz or tools', ('training/',), (),
         ('analysis', 'viz', 'gui_utils', 'tools', 'visualizer')),
    Rule('analysis never imports viz or tools', ('analysis/',), (),
         ('viz', 'gui_utils', 'tools', 'visualizer', *GUI_LIBS)),
    Rule('viz core never imports the GUI layer', ('viz/core/',), (),
         ('viz.gui', 'gui_utils', 'visualizer', *GUI_LIBS)),
    Rule('only tools, visualizer.py, tests and benchmarks import tools', (),
         ('tools/', 'visualizer.py', 'tests/', 'benchmarks/'), ('tools',)),
)


def python_files(root: str) -> list[str]:
    """Every .py file under root (relative, '/'-separated), skipping virtual environments and outputs."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith('.'))
        for name in sorted(filenames):
            if name.endswith('.py'):
                out.append(os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, '/'))
    return out


def imported_modules(source: str, relpath: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative imports resolved."""
    package = relpath[:-3].split('/')[:-1]  # the file's package, e.g. ['viz', 'core']
    found = []
    for node in ast.walk(ast.parse(source, relpath)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
                module = '.'.join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ''
            found.append((node.lineno, module))
            # `from viz import gui` imports the module viz.gui: check the names as submodules too
            found.extend((node.lineno, f'{module}.{alias.name}') for alias in node.names if alias.name != '*')
    return found


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p) for p in prefixes)


def _is_module(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def violations(root: str, rules: tuple[Rule, ...] = RULES) -> list[str]:
    """'path:line: module (rule)' for every import that breaks a rule."""
    out = []
    for path in python_files(root):
        with open(os.path.join(root, path), encoding='utf-8') as f:
            source = f.read()
        for rule in rules:
            if (rule.applies_to and not _under(path, rule.applies_to)) or _under(path, rule.exempt):
                continue
            for line, module in imported_modules(source, path):
                if _is_module(module, rule.forbidden):
                    out.append(f'{path}:{line}: {module} ({rule.name})')
    return sorted(set(out))


def test_repository_follows_the_import_rules():
    assert violations(ROOT) == []


def test_the_rules_see_every_package():
    """A checker that reads no files passes everything: make sure it reads the layers it guards."""
    files = python_files(ROOT)
    for prefix in ('ops/', 'networks/', 'training/', 'analysis/', 'viz/core/', 'viz/gui/', 'tools/'):
        assert any(f.startswith(prefix) for f in files), prefix
    assert not any(f.startswith('.venv/') for f in files)


def _write(root, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


CLEAN_TREE = {
    'ops/a.py': 'import torch\nfrom ops import b\n',
    'networks/n.py': 'from ops.a import x\n',
    'training/t.py': 'import networks\nfrom training import u\n',
    'analysis/s.py': 'from networks.conventions import seed_to_zc\nfrom ops import spectrum\nfrom training import t\n',
    'viz/core/r.py': 'from viz.core.render_types import RenderArgs\nfrom analysis import s\nimport numpy\n',
    'viz/gui/app.py': 'from imgui_bundle import imgui\nimport glfw\nfrom viz.core import r\n',
    'gui_utils/w.py': 'import OpenGL.GL as gl\n',
    'tools/cli.py': 'from tools import x\nfrom analysis import spectra\n',
    'visualizer.py': 'from tools import cli\nfrom viz.gui.app import App\n',
    'tests/test_x.py': 'from tools import cli\n',
    '.venv/lib/imgui_user.py': 'import imgui\nimport tools\n',   # skipped: not ours
}


def test_checker_accepts_a_clean_tree(tmp_path):
    _write(tmp_path, CLEAN_TREE)
    assert violations(str(tmp_path)) == []


@pytest.mark.parametrize('path, source, rule', [
    ('ops/bad.py', 'from training.loss import x\n', 'ops/networks stay below'),
    ('networks/bad.py', 'def f():\n    import viz.core.renderer\n', 'ops/networks stay below'),  # lazy import
    ('networks/bad2.py', 'import gui_utils.window as w\n', 'ops/networks stay below'),
    ('ops/bad3.py', 'from tools.cli import UsageError\n', 'ops/networks stay below'),
    ('networks/up.py', 'from analysis.spectra import x\n', 'ops/networks stay below'),
    ('ops/up.py', 'import visualizer\n', 'ops/networks stay below'),
    ('viz/core/headless.py', 'from viz.gui.widgets import capture_widget\n', 'never imports the GUI layer'),
    ('viz/core/headless2.py', 'from ..gui.widgets.capture_widget import side_by_side\n', 'never imports the GUI'),
    ('viz/core/v.py', 'import visualizer\n', 'never imports the GUI layer'),
    ('analysis/x.py', 'from imgui_bundle import implot\n', 'only the GUI layer imports GUI'),
    ('analysis/x2.py', 'from viz.core.latents import compute_ws\n', 'analysis never imports viz'),
    ('analysis/x3.py', 'def f():\n    from viz.core import renderer\n', 'analysis never imports viz'),  # lazy
    ('analysis/x4.py', 'from viz import core\n', 'analysis never imports viz'),
    ('analysis/x5.py', 'from gui_utils import window\n', 'analysis never imports viz'),
    ('analysis/deep/x6.py', 'from ...viz.core import session\n', 'analysis never imports viz'),  # relative
    ('training/x.py', 'import OpenGL.GL\n', 'only the GUI layer imports GUI'),
    ('tests/test_y.py', 'import glfw\n', 'only the GUI layer imports GUI'),
    ('training/bad.py', 'from viz import core\n', 'training never imports'),
    ('training/bad2.py', 'from analysis import spectra\n', 'training never imports'),
    ('training/metrics/bad.py', 'from tools.cli import UsageError\n', 'training never imports'),
    ('analysis/y.py', 'from tools import cli\n', 'only tools, visualizer.py'),
    ('networks/z.py', 'import imgui\n', 'only the GUI layer imports GUI'),
])
def test_checker_reports_each_broken_rule(tmp_path, path, source, rule):
    _write(tmp_path, {**CLEAN_TREE, path: source})
    found = violations(str(tmp_path))
    assert found and all(f.startswith(path + ':') for f in found), found
    assert any(rule in f for f in found), found


def test_relative_imports_are_resolved():
    assert (2, 'viz.gui.widgets') in imported_modules('\nfrom ..gui import widgets\n', 'viz/core/headless.py')
    assert (1, 'viz.core.renderer') in imported_modules('from .renderer import R\n', 'viz/core/headless.py')
    assert (1, 'viz.core') in imported_modules('from . import renderer\n', 'viz/core/headless.py')
