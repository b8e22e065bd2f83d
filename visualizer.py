"""Alias-free GAN visualizer: `python visualizer.py [PICKLE ...]`.

Opens the GUI (OpenGL 3.3 core + Dear ImGui). With no pickle it opens the default network: the trained
StyleGAN3-T of networks/pretrained/ when it ships, else an untrained StyleGAN3-T built in memory. Where no
window can be opened, or with --headless, it renders the requested views into the capture directory (of
every shipped default network when no pickle is named) and prints what it wrote. With --compare, one or two more
networks are shown beside the first, driven by the same controls, in the window as in the headless files.
"""

from __future__ import annotations

from tools import threads  # noqa: F401 - first: OpenMP wait policy and thread counts before torch loads

# isort: split
import argparse
import logging
import os
import sys

from networks.errors import UserError
from ops import backend as ops_backend
from ops import plugin as ops_plugin
from tools import cli
from viz.core.headless import VIEWS


def _views(text: str) -> str:
    names = [v.strip() for v in text.split(',') if v.strip()]
    bad = [v for v in names if v not in VIEWS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f'{text!r}: expected a comma-separated subset of {",".join(VIEWS)}')
    return text


def _session(text: str) -> str:
    """A session file that loads and passes every check (viz.core.session), so a bad one stops before rendering."""
    from viz.core.session import load_session

    cli.existing_file(text)
    try:
        load_session(text)
    except UserError as err:  # SessionError, or FileReadError for a file that is not a readable JSON file
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def startup_pkls(pkls: list[str], session: str | None) -> list[str]:
    """The pickles the GUI opens: those named, else (without a session, which names its own) the trained default
    network when it ships; an empty list leaves the app on the built-in untrained one."""
    if pkls or session:
        return list(pkls)
    from viz.core.default_network import default_pkl
    from viz.core.render_types import DEFAULT_PKL

    pkl = default_pkl()
    return [] if pkl == DEFAULT_PKL else [pkl]


def build_parser() -> cli.ArgumentParser:
    """The visualizer's flags, checked at parse time like every tool's (tools/cli.py)."""
    p = cli.ArgumentParser(prog='visualizer.py', description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('pkls', metavar='PICKLE', nargs='*', type=cli.network_pkl,
                   help='network pickles (ours or NVlabs\'); the first opens')
    p.add_argument('--capture-dir', type=cli.output_dir, default='renders',
                   help='where captures and headless renders go')
    p.add_argument('--browse-dir', type=cli.existing_dir, default=None, help='runs directory to browse for pickles')
    p.add_argument('--device', type=cli.device, default='cpu', help='cpu | cuda | mps (default cpu)')
    p.add_argument('--headless', action='store_true', help='render views to files instead of opening a window')
    p.add_argument('--session', type=_session, default=None, help='session JSON (saved from the GUI) to start from')
    p.add_argument('--views', type=_views, default=None,
                   help=f'headless views, comma-separated from {",".join(VIEWS)} (default: the session\'s, '
                        'else image,layers,fft)')
    p.add_argument('--seed', type=cli.seed, default=None, help='latent seed (headless)')
    p.add_argument('--compare', nargs='+', type=cli.network_pkl, default=None, metavar='PKL',
                   help='one or two more networks shown beside the first with the same settings (side by side, '
                        'labelled; the analyses are of the first)')
    p.add_argument('--max-frames', type=cli.positive_int, default=None, help=argparse.SUPPRESS)  # tests, benchmarks
    ops_backend.add_impl_argument(p)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parsed flags; a bad one raises tools.cli.UsageError (one line)."""
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 with one ``error:`` line for bad input (or a headless view that failed)."""
    return cli.main_entry(build_parser(), _run, argv)


def _run(opts: argparse.Namespace) -> int:
    if opts.compare:
        from viz.core.compare import check_compare

        check_compare(opts.compare)  # more than two: one error line before any window or render
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    ops_backend.set_default_impl(opts.impl)
    # Builds off the GUI thread; the ops use the PyTorch path until the plugins are ready (a first build of the
    # fused CPU module takes 1-2 min).
    warm = None
    if opts.device.startswith('cuda') and opts.impl != 'torch':
        warm = ops_plugin.warm_up_async('cuda')
    elif opts.device == 'cpu' and opts.impl in ('auto', 'cpu'):
        warm = ops_plugin.warm_up_async('cpu')
    return _leave(_show(opts), warm)


def _leave(status: int, warm) -> int:
    """`status`, once the ops' background build or load has finished. A short headless run can end while that
    thread is still inside torch's extension loader (C++), and tearing the interpreter down under it aborts the
    process now and then ("terminate called without an active exception"); a first build takes minutes, so after
    a few seconds the process leaves without the teardown instead (its files are closed by then)."""
    if warm is not None and not warm.done():
        warm.wait(5.0)
        if not warm.done():
            logging.getLogger('visualizer').info('exiting while the ops build runs on (it resumes next time)')
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    return status


def _show(opts: argparse.Namespace) -> int:
    """The window, or the headless views when there is no display (or --headless)."""
    if not opts.headless:
        from gui_utils.window import NoDisplayError, display_available

        ok, why = display_available()
        if ok:
            try:
                from viz.gui.app import VisualizerApp

                app = VisualizerApp(pkls=startup_pkls(opts.pkls, opts.session), capture_dir=opts.capture_dir,
                                    browse_dir=opts.browse_dir,
                                    device=opts.device, session=opts.session, compare=opts.compare)
            except NoDisplayError as exc:
                ok, why = False, str(exc)
            else:
                if not app.run(max_frames=opts.max_frames):
                    # A long render is still inside torch: leave without tearing its thread down.
                    logging.getLogger('visualizer').info('exiting with a render still in flight')
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(0)
                return 0
        print(f'No display ({why}): rendering headless into {opts.capture_dir}/ instead.', flush=True)
    from viz.core.headless import run_headless

    return run_headless(pkls=opts.pkls, out_dir=opts.capture_dir, device=opts.device, session=opts.session,
                        views=opts.views, seed=opts.seed, debug=opts.debug, compare=opts.compare)


if __name__ == '__main__':
    sys.exit(main())
