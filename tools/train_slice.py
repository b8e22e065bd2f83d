"""One resumable training slice: resume from a state folder, train for some minutes, write the state back.

    python -m tools.train_slice --state states/sg3t --minutes 12 --init --cfg stylegan3-t \\
        --data data/photos-64.zip --gpus 1 --batch 32 --gamma 0.125 --cbase 16384 --cmax 256 --mirror 1
    python -m tools.train_slice --state states/sg3t --minutes 12          # every later slice
    python -m tools.train_slice --state states/sg3r --adopt returned/sg3r  # a slice saved elsewhere (--save-to)

`--init` takes the rest of the command line as tools.train options (without --outdir) and creates the
state; later slices read every option from the state. The state is saved every --save-every minutes and at the
end, each file <= 16 MiB and <= 64 MiB in all (see training.slice); logs, stats.jsonl and image grids go to
<state>-run/ (with --save-to: beside that folder). A missing or corrupt state is one error line and nothing is
written.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence

from tools.cli import (
    ArgumentParser,
    UsageError,
    device,
    existing_dir,
    existing_path,
    float_range,
    int_range,
    main_entry,
    output_dir,
)

__all__ = ['build_parser', 'main']


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog='python -m tools.train_slice', description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--state', type=output_dir, required=True,
                        help='state folder (created by --init, then resumed)')
    parser.add_argument('--minutes', type=float_range(0.01, 7 * 24 * 60),
                        help='wall-clock budget of this slice, start-up and final save included (required unless '
                        '--adopt)')
    parser.add_argument('--cpu-minutes', type=float_range(0.01, 7 * 24 * 60),
                        help='also stop once this process has used this much CPU time (all its threads), so that '
                        'slices compared on a shared machine do equal work; use with --workers 0 at --init')
    parser.add_argument('--max-mib', type=float_range(0.5, 64),
                        help='cap the state at this many MiB (less precise storage until it fits; remembered by '
                        'later slices) [default: 64, or what the state was given]')
    parser.add_argument('--save-every', type=float_range(0.01, 7 * 24 * 60), default=3.0,
                        help='minutes between saves inside the slice (a killed slice loses at most this)')
    parser.add_argument('--kimg', type=float_range(1e-6, 1e9), help='stop at this total kimg (default: the state\'s)')
    parser.add_argument('--save-to', type=output_dir,
                        help='write the state here instead of back into --state (which is then only read), '
                        'e.g. the folder a time-limited GPU machine hands back')
    parser.add_argument('--metrics', help='comma-separated metrics to measure after every save from now on, or none '
                        '(default: the state\'s)')
    parser.add_argument('--metrics-samples', type=int_range(1, 10_000_000),
                        help='samples per metric (default: the state\'s)')
    parser.add_argument('--glr', type=float_range(1e-7, 1.0),
                        help='G learning rate from this slice on, e.g. a lower late phase (default: the state\'s)')
    parser.add_argument('--dlr', type=float_range(1e-7, 1.0), help='D learning rate from this slice on (default: the '
                        'state\'s)')
    parser.add_argument('--ema-kimg', type=float_range(0.0, 1e6),
                        help='half-life of G_ema in kimg from this slice on (default: the state\'s)')
    parser.add_argument('--data', type=existing_path, help='dataset path, if it moved since --init')
    parser.add_argument('--run-dir', type=output_dir, help='where logs and image grids go [default: <state>-run]')
    parser.add_argument('--device', type=device, default='auto', help='auto, cpu, cuda, cuda:N')
    parser.add_argument('--estimate', action='store_true',
                        help='with --init: print the size and precision the state would have, and exit')
    parser.add_argument('--adopt', type=existing_dir, metavar='DIR',
                        help='instead of training: make the state a slice saved in DIR (--save-to, e.g. what a GPU '
                        'machine handed back) the state of --state, which it must continue, and append DIR-run/\'s '
                        'logs to the state\'s')
    parser.add_argument('--init', nargs=argparse.REMAINDER,
                        help='start a new state: the remaining arguments are tools.train options')
    return parser


def _init_config(train_argv: Sequence[str], state_dir: str, device_type: str):
    """The training configuration that `--init` names, parsed and checked exactly as `tools.train` does."""
    from tools.train import build_config, build_parser
    argv = list(train_argv)
    if '--outdir' not in argv:
        argv = ['--outdir', os.path.dirname(os.path.abspath(state_dir)), *argv]
    try:
        opts = build_parser().parse_args(argv)
    except UsageError as err:
        raise UsageError(f'--init: {err}') from None
    return build_config(opts, device_type)


def _body(opts: argparse.Namespace) -> None:
    import torch

    from training.slice import SliceStateError, adopt_state, estimate_state, run_slice
    if opts.adopt is not None:
        if opts.init is not None or opts.estimate:
            raise UsageError('--adopt: takes a state saved elsewhere; it does not combine with --init or --estimate')
        print(json.dumps(adopt_state(opts.state, opts.adopt, run_dir=opts.run_dir)))
        return
    if opts.minutes is None:
        raise UsageError('--minutes: required (the slice\'s wall-clock budget)')
    metrics = None
    if opts.metrics is not None:
        from training import metrics as metric_registry
        metrics = [m for m in opts.metrics.split(',') if m and m.lower() != 'none']
        bad = [m for m in metrics if not metric_registry.is_valid_metric(m)]
        if bad:
            raise UsageError(f'--metrics: unknown {bad}; valid: {", ".join(metric_registry.list_valid_metrics())}')
    dev = opts.device if opts.device != 'auto' else ('cuda' if torch.cuda.is_available() else 'cpu')
    def make_init_cfg():
        return _init_config(opts.init, opts.state, torch.device(dev).type)
    if opts.estimate:
        if opts.init is None:
            raise SliceStateError('--estimate needs --init and the training options')
        print(json.dumps(estimate_state(make_init_cfg(), opts.max_mib)))
        return
    summary = run_slice(opts.state, minutes=opts.minutes, save_every_minutes=opts.save_every,
                        make_init_cfg=None if opts.init is None else make_init_cfg, data=opts.data,
                        total_kimg=opts.kimg, device=dev,
                        run_dir=opts.run_dir, handle_sigterm=True, save_to=opts.save_to,
                        command=shlex.join(['python', '-m', 'tools.train_slice', *opts.argv]),
                        cpu_minutes=opts.cpu_minutes, max_state_mib=opts.max_mib, metrics=metrics,
                        metrics_samples=opts.metrics_samples, glr=opts.glr, dlr=opts.dlr,
                        ema_kimg=opts.ema_kimg)
    print(json.dumps(summary))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def body(opts: argparse.Namespace) -> None:
        opts.argv = argv          # recorded in the state's history: the card of a shipped network names it
        _body(opts)
    return main_entry(build_parser(), body, argv)


if __name__ == '__main__':
    sys.exit(main())
