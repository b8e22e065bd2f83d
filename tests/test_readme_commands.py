"""The README is the front door: its commands run as written, and everything it and docs/ name exists.

Runnable blocks: a fenced code block is runnable when the line right before its opening fence is the HTML
comment `<!-- runnable -->` (invisible on the rendered page). Each runnable block runs, in README order, as one
`bash -e` script in a scratch folder that links to the repository's own files, so the commands' outputs
(`runs/...`) never land in the checkout. They run with the environment's python first on PATH, as after
`make setup` and `. .venv/bin/activate`. Mark only commands that finish in a few seconds on a loaded 2-core
machine: all runnable blocks together must stay well under 30 s.

The other checks are static: README length, the modules that `python -m X` lines name, every `--flag` of a
`tools` command in a fenced block against that tool's real parser, the Layout section against the packages on
disk, and every relative link (and its #anchor) of README.md and docs/*.md.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
DOCS = sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))
MAX_README_LINES = 250
RUNNABLE_MARK = '<!-- runnable -->'
BLOCK_TIMEOUT_S = 120
# Not linked into the scratch folder: outputs the commands may write, and the repository's metadata.
NOT_LINKED = {'.git', 'runs', 'renders', 'data', '__pycache__', '.pytest_cache', '.ruff_cache'}
# Folders that are not Python packages of the project, so the Layout need not list their subfolders.
NOT_PACKAGES = {'tests', 'docs', 'states', 'runs', 'renders', 'data', 'nvlabs', 'shared', 'pilot', 'node_modules',
                '__pycache__'}
FENCE = re.compile(r'^(\s*)(```|~~~)(.*)$')


def read(path: str) -> str:
    with open(path, encoding='utf-8') as f:
        return f.read()


def fenced_blocks(text: str) -> list[tuple[str, str, bool]]:
    """(info string, body, runnable) of every fenced code block, in order."""
    blocks = []
    lines = text.split('\n')
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(2), m.group(3).strip()
        runnable = i > 0 and lines[i - 1].strip() == RUNNABLE_MARK
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        blocks.append((info, '\n'.join(body), runnable))
        i += 1
    return blocks


def without_code(text: str) -> str:
    """The text with fenced blocks and inline code removed (links inside code are not links)."""
    out, in_fence = [], False
    for line in text.split('\n'):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            out.append(re.sub(r'`[^`]*`', '', line))
    return '\n'.join(out)


def shell_commands(block: str) -> list[list[str]]:
    """The commands of a shell block as token lists: continuation lines joined, comments dropped."""
    joined = re.sub(r'\\\n', ' ', block)
    commands = []
    for line in joined.split('\n'):
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:  # not shell (e.g. Python in a code block)
            continue
        if tokens:
            commands.append(tokens)
    return commands


def markdown_files() -> list[str]:
    return [README, *DOCS]


# --- README size and runnable blocks ----------------------------------------------------------------------------

def test_readme_is_a_front_door_of_at_most_250_lines():
    n = len(read(README).splitlines())
    assert n <= MAX_README_LINES, f'README.md has {n} lines; details belong in docs/'


def runnable_blocks() -> list[str]:
    return [body for _info, body, runnable in fenced_blocks(read(README)) if runnable]


def test_the_runnable_marker_is_recognised():
    text = 'a\n<!-- runnable -->\n```sh\necho 1\n```\n```sh\necho 2\n```\n'
    assert [(body, runnable) for _i, body, runnable in fenced_blocks(text)] == [('echo 1', True), ('echo 2', False)]


def test_runnable_readme_commands_run_as_written(tmp_path):
    blocks = runnable_blocks()
    assert blocks, f'README.md marks no block runnable ({RUNNABLE_MARK} before the fence)'
    for name in os.listdir(ROOT):
        if name not in NOT_LINKED:
            os.symlink(os.path.join(ROOT, name), tmp_path / name)
    env = dict(os.environ)
    env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    env.pop('PYTHONPATH', None)  # only what the scratch folder links, as in a fresh clone
    env['ALIASFREE_CPU_OPS'] = '0'  # its first build takes minutes; tests/ops checks it gives the same numbers
    env['PYTHONDONTWRITEBYTECODE'] = '1'
    for block in blocks:
        proc = subprocess.run(['bash', '-e', '-o', 'pipefail', '-c', block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
        assert proc.returncode == 0, f'README block failed (rc {proc.returncode}):\n{block}\n{proc.stderr[-3000:]}'


# --- what the commands name ---------------------------------------------------------------------------------------

def module_commands(text: str) -> set[str]:
    """Every module run as `python -m X` or `-m X` (torchrun) anywhere in the text; placeholders such as
    `tools.X` (a part in capitals) are not modules."""
    found = re.findall(r'(?<![\w-])-m\s+([A-Za-z_][\w.]*\w)', text)
    return {m for m in found if not any(part.isupper() for part in m.split('.'))}


def module_exists(module: str) -> bool:
    path = os.path.join(ROOT, *module.split('.'))
    return os.path.isfile(path + '.py') or os.path.isfile(os.path.join(path, '__main__.py'))


@pytest.mark.parametrize('md', markdown_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_every_python_m_module_exists(md):
    modules = {m for m in module_commands(read(md)) if m.split('.')[0] in {'tools', 'benchmarks', 'ops'}}
    if md == README:
        assert any(m.startswith('tools.') for m in modules)
    missing = sorted(m for m in modules if not module_exists(m))
    assert not missing, f'{os.path.relpath(md, ROOT)} runs modules that do not exist: {missing}'


def test_module_check_fails_for_a_missing_tool():
    assert module_commands('python -m tools.nope --x 1; torchrun -n 2 -m tools.train; python -m tools.X.') == {
        'tools.nope', 'tools.train'}
    assert not module_exists('tools.nope') and module_exists('tools.train') and module_exists('ops.cpu')


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def unknown_flags(tokens: list[str]) -> tuple[str, list[str]] | None:
    """(tool, flags its parser does not know) for a command running `-m tools.X` or visualizer.py, else None."""
    if '-m' in tokens and tokens.index('-m') + 1 < len(tokens) and tokens[tokens.index('-m') + 1].startswith('tools.'):
        start = tokens.index('-m') + 1
        tool = tokens[start]
        parser = importlib.import_module(tool).build_parser()
    elif len(tokens) > 1 and re.search(r'python3?$', tokens[0]) and tokens[1].endswith('visualizer.py'):
        start = 1
        tool = 'visualizer.py'
        sys.path.insert(0, ROOT)
        try:
            parser = importlib.import_module('visualizer').build_parser()
        finally:
            sys.path.remove(ROOT)
    else:
        return None
    args = tokens[start + 1:]
    known = option_strings(parser)
    positionals = [a for a in args if not a.startswith('-')]
    sub = subparser(parser, positionals[0]) if positionals else None
    if sub is not None:
        known |= option_strings(sub)
    if '--init' in args:  # train_slice --init: the rest of the line are tools.train options
        known |= option_strings(importlib.import_module('tools.train').build_parser())
    bad = [a.split('=')[0] for a in args if a.startswith('--') and a.split('=')[0] not in known]
    return tool, bad


@pytest.mark.parametrize('md', markdown_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_every_flag_of_a_documented_command_exists(md):
    problems = []
    for info, body, _runnable in fenced_blocks(read(md)):
        if info.split()[:1] not in (['sh'], ['bash'], ['shell'], ['console']):
            continue
        for tokens in shell_commands(body):
            found = unknown_flags(tokens)
            if found and found[1]:
                problems.append(f'{found[0]}: {found[1]}')
    assert not problems, f'{os.path.relpath(md, ROOT)} uses flags the tools do not have: {problems}'


def test_flag_check_catches_a_wrong_flag():
    assert unknown_flags(shlex.split('python -m tools.gen_images --network a.pkl --sedes 1')) == (
        'tools.gen_images', ['--sedes'])
    assert unknown_flags(shlex.split('python -m tools.avg_spectra heatmap x.npz --png y.png --smooth 2')) == (
        'tools.avg_spectra', [])
    assert unknown_flags(shlex.split('python -m tools.avg_spectra stats --source x --png y.png'))[1] == ['--png']
    assert unknown_flags(shlex.split('python visualizer.py --headless --view image')) == ('visualizer.py', ['--view'])
    assert unknown_flags(shlex.split('visualizer.py   the GUI entry point (also --headless)')) is None


# --- Layout -------------------------------------------------------------------------------------------------------

def layout_paths(text: str) -> list[str]:
    """The first word of every line of the first code block under '## Layout'."""
    section = text.split('\n## Layout', 1)
    assert len(section) == 2, 'README.md has no "## Layout" section'
    body = fenced_blocks(section[1].split('\n## ', 1)[0])
    assert body, 'the Layout section has no code block'
    return [line.split()[0] for line in body[0][1].split('\n') if line.strip()]


def project_packages(root: str) -> set[str]:
    """Every folder with an __init__.py (outside tests and outputs) as 'a/b/', and the top-level entry scripts."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith('.') and d not in NOT_PACKAGES]
        rel = os.path.relpath(dirpath, root).replace(os.sep, '/')
        if rel != '.' and '__init__.py' in filenames:
            found.add(rel + '/')
    for name in os.listdir(root):
        if name.endswith('.py') and "__name__ == '__main__'" in read(os.path.join(root, name)):
            found.add(name)
    return found


def test_layout_names_only_paths_that_exist():
    missing = [p for p in layout_paths(read(README)) if not os.path.exists(os.path.join(ROOT, p))]
    assert not missing, f'the README Layout names paths that do not exist: {missing}'


def test_layout_lists_every_package():
    listed = set(layout_paths(read(README)))
    unlisted = sorted(project_packages(ROOT) - listed)
    assert not unlisted, f'the README Layout leaves out: {unlisted}'


def test_layout_check_sees_a_new_package(tmp_path):
    (tmp_path / 'pkg' / 'sub').mkdir(parents=True)
    (tmp_path / 'pkg' / '__init__.py').write_text('')
    (tmp_path / 'pkg' / 'sub' / '__init__.py').write_text('')
    (tmp_path / 'tests' / 't').mkdir(parents=True)
    (tmp_path / 'tests' / 't' / '__init__.py').write_text('')
    (tmp_path / 'app.py').write_text("if __name__ == '__main__':\n    pass\n")
    assert project_packages(str(tmp_path)) == {'pkg/', 'pkg/sub/', 'app.py'}
    assert layout_paths('x\n## Layout\n\n```\npkg/   the package\n  pkg/sub/  its part\n```\n## Next\n') == [
        'pkg/', 'pkg/sub/']


# --- links --------------------------------------------------------------------------------------------------------

def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in without_code(text).split('\n'):
        m = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if m:
            anchors.add(re.sub(r'[^\w\- ]', '', m.group(1).lower()).replace(' ', '-'))
    return anchors


def local_links(text: str) -> list[str]:
    prose = without_code(text)
    links = re.findall(r'\]\(([^)\s]+)(?:\s+"[^"]*")?\)', prose) + re.findall(r'<img[^>]*\ssrc="([^"]+)"', prose)
    return [link for link in links if not re.match(r'^[a-z][a-z0-9+.-]*:', link)]


@pytest.mark.parametrize('md', markdown_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_relative_links_resolve(md):
    broken = []
    for link in local_links(read(md)):
        path, _, anchor = link.partition('#')
        target = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
        if not os.path.exists(target):
            broken.append(link)
        elif anchor and target.endswith('.md') and anchor not in heading_anchors(read(target)):
            broken.append(link)
    assert not broken, f'{os.path.relpath(md, ROOT)} has broken links: {broken}'


def test_link_check_reads_links_and_anchors():
    text = ('# Top\n## Detectors (FID, KID)\nsee [a](docs/a.md#x), ![i](img.png), <img src="b.png" width="4">,\n'
            '[web](https://example.org), `[code](no.md)`\n```\n[block](no.md)\n```\n')
    assert local_links(text) == ['docs/a.md#x', 'img.png', 'b.png']
    assert heading_anchors(text) == {'top', 'detectors-fid-kid'}
