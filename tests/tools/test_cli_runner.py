"""The shared CLI runner: user errors are one line and exit 1; bugs keep their traceback."""

import os

import pytest

from networks.errors import PickleError, UserError
from tools import cli


def _parser():
    parser = cli.ArgumentParser(prog='t')
    parser.add_argument('--n', type=cli.positive_int, default=1)
    parser.add_argument('--x', type=cli.finite_float, default=0.0)
    return parser


@pytest.mark.parametrize('argv, needle', [(['--n', '0'], "'0' must be >= 1"), (['--x', 'nan'], 'not a finite'),
                                          (['--bogus'], 'unrecognized arguments'), (['--n', 'abc'], 'not an integer')])
def test_bad_arguments_are_one_error_line(capsys, argv, needle):
    assert cli.main_entry(_parser(), lambda opts: None, argv) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and needle in err and err.count('\n') == 1 and 'Traceback' not in err


def test_user_error_from_body_is_one_line_and_bug_is_not_hidden(capsys):
    def body(opts):
        raise PickleError('x.pkl: truncated\nsecond line')
    assert cli.main_entry(_parser(), body, []) == 1
    assert capsys.readouterr().err == 'error: x.pkl: truncated second line\n'
    with pytest.raises(ZeroDivisionError):
        cli.main_entry(_parser(), lambda opts: 1 / 0, [])


def test_error_lines_escape_what_came_from_files(capsys):
    # A class name from a pickle (terminal title and screen-clear sequences, a lone surrogate), a path likewise.
    def body(opts):
        raise UserError('x.pkl: G_ema is a \x1b]0;owned\x07\x1b[2J\ud800')
    assert cli.main_entry(_parser(), body, []) == 1
    assert capsys.readouterr().err == 'error: x.pkl: G_ema is a \\x1b]0;owned\\x07\\x1b[2J\\ud800\n'

    def denied(opts):
        raise PermissionError(13, 'Permission denied', 'out\x1b[2J\udcff.png')
    assert cli.main_entry(_parser(), denied, []) == 1
    assert capsys.readouterr().err == 'error: Permission denied (out\\x1b[2J\\udcff.png)\n'


def test_debug_reraises_user_errors():
    def body(opts):
        raise UserError('boom')
    with pytest.raises(UserError):
        cli.main_entry(_parser(), body, ['--debug'])


def test_body_gets_parsed_options():
    seen = []
    assert cli.main_entry(_parser(), lambda opts: seen.append((opts.n, opts.x)), ['--n', '3', '--x', '-1.5']) == 0
    assert seen == [(3, -1.5)]


def test_paths(tmp_path):
    import argparse
    f = tmp_path / 'f.txt'
    f.write_text('x')
    assert cli.existing_file(str(f)) == str(f)
    with pytest.raises(argparse.ArgumentTypeError):
        cli.existing_file(str(tmp_path / 'missing'))
    with pytest.raises(argparse.ArgumentTypeError):
        cli.output_dir(str(f))              # a file, not a folder
    with pytest.raises(argparse.ArgumentTypeError):
        cli.output_dir(str(f / 'sub'))      # below a file
    assert cli.output_dir(str(tmp_path / 'new' / 'deeper')) == str(tmp_path / 'new' / 'deeper')
    with pytest.raises(argparse.ArgumentTypeError):
        cli.device('bogus')
    assert cli.device('cpu') == 'cpu'


def test_render_ranges_are_the_session_files_ranges():
    # One range for a value whether it comes from a command line or a saved session.
    from viz.core.session import LIMITS

    assert LIMITS['trunc_psi'] == (-cli.MAX_PSI, cli.MAX_PSI)
    assert LIMITS['rotate'] == (-cli.MAX_DEGREES, cli.MAX_DEGREES)
    assert LIMITS['translate_x'] == LIMITS['translate_y'] == (-cli.MAX_TRANSLATE, cli.MAX_TRANSLATE)


@pytest.mark.parametrize('parse, good, bad', [
    (cli.psi, ['1', '-0.7', '100', '-100'], ['1e30', '100.5', 'nan', 'inf', 'abc']),
    (cli.degrees, ['0', '-720', '1e6'], ['1e300', '1e6.1', '-inf', 'nan']),
    (cli.translation, ['0.125', '-1e4'], ['1e308', '10001', 'nan']),
    (cli.translation_vec2, ['0.1,-0.2', '1e4,0'], ['1e308,0', '0,-1e5', '1,2,3', 'nan,0', '']),
    (cli.loss_weight, ['0', '0.1', '1e4'], ['-1', '1e308', '1e5', 'inf']),
])
def test_absurd_magnitudes_are_refused(parse, good, bad):
    import argparse
    for text in good:
        parse(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_huge_numbers_are_one_short_line(capsys):
    huge = '9' * 5000   # beyond Python's int-string limit: int() raises ValueError
    assert cli.main_entry(_parser(), lambda opts: None, ['--n', huge]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'far out of range (5000 digits)' in err and len(err) < 200, err
    assert cli.main_entry(_parser(), lambda opts: None, ['--x', huge]) == 1   # float(): inf
    err = capsys.readouterr().err
    assert 'not a finite number' in err and len(err) < 200


def test_fifos_and_devices_are_refused_without_waiting(tmp_path):
    import argparse
    import time
    fifo = tmp_path / 'fifo'
    os.mkfifo(fifo)
    t0 = time.time()
    for check, path, needle in ((cli.existing_file, fifo, 'a FIFO'), (cli.network_pkl, fifo, 'a FIFO'),
                                (cli.existing_path, fifo, 'a FIFO'), (cli.output_file, fifo, 'a FIFO'),
                                (cli.existing_file, '/dev/zero', 'a character device'),
                                (cli.existing_path, '/dev/zero', 'a character device')):
        with pytest.raises(argparse.ArgumentTypeError, match=needle):
            check(str(path))
    assert time.time() - t0 < 2


def test_writability_is_tried_for_real_and_leaves_nothing(tmp_path):
    import argparse
    # /proc: os.access says root may write there, but no file can be created
    for check, path in ((cli.output_dir, '/proc/x'), (cli.output_file, '/proc/x.gif')):
        with pytest.raises(argparse.ArgumentTypeError, match='not writable'):
            check(path)
    assert cli.output_file(str(tmp_path / 'sub' / 'v.gif')) and cli.output_dir(str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_the_cli_names_the_flag_of_an_errors_option(capsys):
    """Library errors name no flag; the runner adds the one their `option` names, and nothing without one."""
    from networks.conventions import ClassRequired

    def body():
        raise ClassRequired('this network is conditional (3 classes): give a class (0..2)')

    assert cli.run(body) == 1
    assert capsys.readouterr().err == 'error: this network is conditional (3 classes): give a class (0..2) (--class)\n'
    assert cli.run(lambda: (_ for _ in ()).throw(UserError('plain'))) == 1
    assert capsys.readouterr().err == 'error: plain\n'
