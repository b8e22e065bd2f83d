"""Every command line in tools/ runs through the one runner in tools/cli.py and answers bad flags with one line."""

import importlib
import os
import subprocess
import sys

import pytest

from tools import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = ('gen_images', 'gen_video', 'avg_spectra', 'sticking', 'train', 'dataset_tool', 'calc_metrics', 'train_slice',
         'project', 'export_default', 'layer_eq', 'aliasing')


def test_the_list_covers_every_tool():
    found = {f[:-3] for f in os.listdir(os.path.join(ROOT, 'tools')) if f.endswith('.py')}
    assert found - {'__init__', 'cli', 'threads'} == set(TOOLS)


@pytest.mark.parametrize('name', TOOLS)
def test_tool_uses_the_shared_parser_and_runner(name, capsys):
    module = importlib.import_module(f'tools.{name}')
    assert isinstance(module.build_parser(), cli.ArgumentParser)
    assert module.main(['--no-such-flag']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and 'Traceback' not in err, err


@pytest.mark.slow
def test_python_dash_m_entry_point_exit_status():
    """The module runs as `python -m tools.X` (its __main__ block turns main's status into the exit code)."""
    proc = subprocess.run([sys.executable, '-m', 'tools.sticking', '--network'], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith('error: ') and 'Traceback' not in proc.stderr
    proc = subprocess.run([sys.executable, '-m', 'tools.dataset_tool', '--help'], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and '--source' in proc.stdout
