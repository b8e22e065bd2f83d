"""Errors raised by the libraries name no command-line flag and no command: the same error reaches a command line,
which adds the flag (`--noise-mode`) or the `python -m` command from the error's structured hint, and the window,
which names its own control. A message literal such as "pass --bad-images skip" would read wrong in one of them.

Checked by parsing every library module with `ast`: the positional arguments of each `raise X(...)` and of each
call of a class named `...Error` (an error built to be raised later) may not hold '--' followed by a letter, nor
'python -m' (string literals, f-string parts, concatenations). Keyword arguments (`hint_command=`, `value=`) are
the structured hint and may.
"""

from __future__ import annotations

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARIES = ('analysis', 'networks', 'training', 'viz/core', 'ops')
CLI_WORDING = re.compile(r'--[A-Za-z]|python -m')


def cli_wording(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string in an error's positional arguments that speaks to the command line."""
    tree = ast.parse(source)
    raised = {id(node.exc) for node in ast.walk(tree) if isinstance(node, ast.Raise)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, 'attr', '')
        if id(node) not in raised and not callee.endswith('Error'):
            continue
        for arg in node.args:
            for part in ast.walk(arg):
                if isinstance(part, ast.Constant) and isinstance(part.value, str) and CLI_WORDING.search(part.value):
                    found.append((node.lineno, part.value))
    return found


def _library_files():
    for top in LIBRARIES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            for name in files:
                if name.endswith('.py'):
                    yield os.path.join(folder, name)


def test_no_library_error_speaks_to_the_command_line():
    files = list(_library_files())
    assert len(files) > 50  # the walk found the libraries
    bad = []
    for path in files:
        with open(path, encoding='utf-8') as f:
            bad += [f'{os.path.relpath(path, ROOT)}:{line}: {text!r}' for line, text in cli_wording(f.read())]
    assert not bad, 'library errors with command-line wording:\n' + '\n'.join(bad)


@pytest.mark.parametrize('source', [
    "raise UserError('bad --noise-mode x')",
    "raise UserError(f'--std must be positive, got {std}')",
    "raise DatasetError(f'not a zip ({e}); make one with: ' 'python -m tools.dataset_tool') from None",
    "raise UserError('a ' + 'use --device cpu')",
    "def f():\n    if x:\n        raise MetricError('pass --data PATH')",
    "def corrupt(d):\n    return StateError(f'{d} is corrupt: start again with --init')",   # raised elsewhere
    "raise errors.UsageError('see python -m tools.train')",
])
def test_the_check_finds_command_line_wording(source):
    assert cli_wording(source)


@pytest.mark.parametrize('source', [
    "raise UserError('bad noise mode x', option='noise_mode')",
    "raise UserError('make one', hint_command='tools.dataset_tool --source ... --dest NEW.zip')",
    "raise UserError(f'file not found: {path}')",
    "raise UserError('a range such as 1-4')",             # a single dash is not a flag
    "raise UserError('file --- too short')",              # nor are dashes before a non-letter
    "x = '--not-raised'",
    "log(f'left out (--bad-images skip)')",               # a log line is not an error
    "raise",
])
def test_the_check_leaves_structured_hints_alone(source):
    assert cli_wording(source) == []
