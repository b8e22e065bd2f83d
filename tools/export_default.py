"""Turn a training state (or snapshot) into a shipped default network: pickle, card, reference image, docs images.

    python -m tools.export_default --key sg3t --state states/sg3t --data data/photos-64.zip \\
        --dataset-name builtin:photos --dataset-command "python -m tools.dataset_tool ..."
    python -m tools.export_default --key sg2 --snapshot runs/00000/network-snapshot-000200.pkl --data ...
    python -m tools.export_default --key sg2 --state states/sg2 --data ... --inspect runs/sg2-now.pkl   # look only

Writes, for KEY in sg3t | sg3r | sg2 (layout of networks/pretrained):
  <dest>/KEY.pkl        G_ema only, our pickle format; float16 storage with --fp16, or when float32 would
                        exceed 25 MB (the card's notes say which);
  <dest>/KEY.json       the card: dataset, training commands, kimg, seconds, hardware and slices (from the
                        state's history), metrics, reference, images;
  <dest>/KEY-ref.png    seed 0, psi 1, noise const, rendered by the shipped (reloaded) pickle;
  <docs>/pretrained-KEY-grid.png   32 seeds, psi 1 (a StyleGAN2's noise drawn per image), beside the first 32
                                   images of --data;
  <docs>/pretrained-KEY-swd.png    SWD against kimg and against CPU-hours, from the run's metric-swd.jsonl
                                   (paired with stats.jsonl), plus the SWD measured here; the real-vs-real
                                   floor and the campaign's goal (3x the floor) drawn on both.
Metrics are measured on the shipped network: SWD against --data (training.metrics' detector-free SWD,
--swd-images images, per level), beside the same architecture untrained and the real-vs-real floor (two disjoint
sets of --swd-images reals), EQ-T, EQ-T frac and EQ-R (training.metrics' equivariance, --eq-samples samples;
StyleGAN2 has no input transform: null, see the README). The card's `campaign` block says whether the network is
trained (its SWD is at least 4x below the untrained network's at every level) and whether the goal is met (SWD
within 3x of the floor); a network that is not trained is refused unless --allow-untrained (tests). Everything is
computed before anything is written; each file is then replaced atomically, and a failure while writing restores
the files that were there before.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from networks.errors import UserError
from networks.file_io import FileReadError, parse_json, read_bytes
from networks.image_write import image_grid, png_bytes
from tools import cli
from tools.cli import ArgumentParser, main_entry

__all__ = ['CARDS', 'MAX_PICKLE_BYTES', 'build_parser', 'main', 'cfg_of', 'swd_curve_points', 'export']

# key -> (cfg, title)
CARDS = {'sg3t': ('stylegan3-t', 'StyleGAN3-T'), 'sg3r': ('stylegan3-r', 'StyleGAN3-R'),
         'sg2': ('stylegan2', 'StyleGAN2')}
MAX_PICKLE_BYTES = 25 * 10**6
REFERENCE_SEED = 0
REFERENCE_PSI = 1.0
# Max |shipped render - reference PNG| in [0, 1] units of the 8-bit range: PNG rounding is 0.5/255; the rest is
# room for another CPU or library version (5/255 = 0.0196).
REFERENCE_TOLERANCE = 0.02
GRID_SEEDS = 32
GRID_COLUMNS = 8
CARD_FORMAT = 1
EQ_NAMES = ('eqt50k_int', 'eqt50k_frac', 'eqr50k')
MAX_LOG_BYTES = 256 << 20  # a stats.jsonl line per tick is ~2 KB: 100k ticks
SG2_EQ_NOTE = ('StyleGAN2 has no input transform, so EQ-T and EQ-R are not measured for it (null); '
               'see docs/training.md, "Recipe"')


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog='python -m tools.export_default', description=__doc__.split('\n')[0],
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('--key', required=True, choices=sorted(CARDS), help='which default network')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--state', type=cli.existing_dir, help='a tools.train_slice state folder')
    source.add_argument('--snapshot', type=cli.existing_file, help='a training snapshot (network-snapshot-*.pkl)')
    parser.add_argument('--data', type=cli.existing_path, required=True,
                        help='the training dataset (zip or folder): SWD reference, resolution check')
    parser.add_argument('--run-dir', type=cli.existing_dir, action='append', default=None,
                        help='run folder(s) with metric-swd.jsonl and stats.jsonl, repeatable '
                        '[default: <state>-run, or the snapshot\'s folder]')
    parser.add_argument('--dest', type=cli.output_dir, default=None, help='[default: networks/pretrained]')
    parser.add_argument('--docs', type=cli.output_dir, default=None, help='[default: docs]')
    parser.add_argument('--eq-samples', type=cli.int_range(1, 10_000_000), default=1000,
                        help='samples per equivariance metric')
    parser.add_argument('--swd-images', type=cli.int_range(2, 10_000_000), default=4096,
                        help='images per side for SWD (capped at the dataset size; the floor needs twice as many)')
    parser.add_argument('--allow-untrained', action='store_true',
                        help='export even when the SWD has not fallen 4x at every level (tests only)')
    parser.add_argument('--fp16', action='store_true', help='store float16 weights even when float32 fits 25 MB')
    parser.add_argument('--inspect', metavar='PKL', type=cli.output_file, default=None,
                        help='only write the G_ema pickle of --state / --snapshot to PKL, to look at a network in '
                        'training (texture sticking, the window): nothing is measured, nothing ships')
    parser.add_argument('--dataset-name', default=None, help='card dataset.name [default: the file name of --data]')
    parser.add_argument('--dataset-command', default='not recorded', help='card dataset.command')
    parser.add_argument('--train-command', default=None,
                        help='card training.command [default: the commands recorded in the state\'s history]')
    parser.add_argument('--hardware', default=None,
                        help='card training.hardware [default: the devices recorded in the state\'s history]')
    parser.add_argument('--batch', type=cli.int_range(1, 4096), default=16, help='metric batch size (speed only)')
    parser.add_argument('--device', type=cli.device, default='auto', help='auto, cpu, cuda, cuda:N')
    return parser


# ----------------------------------------------------------------------------------------------------------
# Reading the trained network and what the run recorded about it


def cfg_of(G: torch.nn.Module) -> str:
    """'stylegan2', 'stylegan3-t' or 'stylegan3-r': the tools.train --cfg that builds this generator."""
    module = type(G).__module__
    if module.endswith('stylegan2'):
        return 'stylegan2'
    kwargs = getattr(G, 'init_kwargs', {}) or {}
    # tools.train's stylegan3-r sets conv_kernel=1 and radial filters; -t keeps the 3x3 default.
    return 'stylegan3-r' if kwargs.get('conv_kernel') == 1 or kwargs.get('use_radial_filters') else 'stylegan3-t'


def _from_state(state_dir: str, data: str) -> tuple[torch.nn.Module, dict, dict]:
    """(G_ema float32, training_set_kwargs, facts for the card's training block) of a slice state."""
    from training.metrics import feature_stats
    from training.slice import SliceStateError, read_state
    from training.training_loop import construct_class_by_name
    loaded = read_state(state_dir)
    if loaded is None:
        raise SliceStateError(f'no training state in {state_dir} (no state.json)')
    manifest, payload = loaded
    options = manifest['options']
    tsk = dict(options.get('training_set_kwargs') or {})
    G_kwargs = options.get('G_kwargs')
    if not isinstance(G_kwargs, dict) or 'resolution' not in tsk:
        raise SliceStateError(f'training state {state_dir}: its options lack G_kwargs or the dataset resolution')
    dataset = feature_stats.open_dataset(dict(tsk, path=data), resolution=int(tsk['resolution']))
    G = construct_class_by_name(**G_kwargs, c_dim=dataset.label_dim, img_resolution=dataset.resolution,
                                img_channels=dataset.num_channels)
    tensors = payload['G_ema']
    missing = sorted(set(dict(G.named_parameters()) | dict(G.named_buffers())) - set(tensors))
    try:
        G.load_state_dict(tensors, strict=False)
    except RuntimeError as e:
        raise SliceStateError(f'training state {state_dir}: G_ema does not fit its own options: '
                              f'{str(e).splitlines()[0]}') from None
    if missing:
        raise SliceStateError(f'training state {state_dir}: G_ema lacks {missing[:3]}')
    history = [h for h in manifest.get('history', []) if isinstance(h, dict)]
    commands = []
    for h in history:
        if isinstance(h.get('command'), str) and h['command'] not in commands:
            commands.append(h['command'])
    devices = []
    for h in history:
        name = 'CPU' if h.get('device') == 'cpu' else str(h.get('device', 'unknown'))
        if name not in devices:
            devices.append(name)
    facts = dict(command='\n'.join(commands) or 'not recorded', kimg=float(manifest['kimg']),
                 seconds=float(sum(float(h.get('seconds', 0.0)) for h in history)),
                 hardware=', '.join(f'1x {d}' for d in devices) or 'not recorded', slices=len(history),
                 cpu_seconds=float(sum(float(h.get('cpu_seconds', 0.0)) for h in history)))
    return G.eval().requires_grad_(False), dict(tsk, path=data), facts


def _from_snapshot(path: str, data: str, run_dirs: list[str]) -> tuple[torch.nn.Module, dict, dict]:
    """(G_ema, training_set_kwargs, training facts) of a tools.train snapshot; seconds from its stats.jsonl."""
    from networks import load_network_pkl
    loaded = load_network_pkl(path)
    G = loaded.get('G_ema') or loaded.get('G')
    if not isinstance(G, torch.nn.Module) or not hasattr(G, 'synthesis'):
        raise UserError(f'{path}: holds no generator')
    state = loaded.get('training_state') if isinstance(loaded.get('training_state'), dict) else {}
    if isinstance(state.get('cur_nimg'), int):
        kimg = state['cur_nimg'] / 1000
    else:
        digits = ''.join(ch for ch in Path(path).stem if ch.isdigit())
        if not digits:
            raise UserError(f'{path}: no training state and no kimg in its name; cannot fill the card')
        kimg = float(int(digits))
    tsk = loaded.get('training_set_kwargs') if isinstance(loaded.get('training_set_kwargs'), dict) else {}
    tsk = dict(tsk or dict(class_name='training.dataset.ImageFolderDataset'), path=data)
    seconds = 0.0
    for stats in _read_jsonl_all(run_dirs, 'stats.jsonl'):
        if float(stats.get('Progress/kimg', math.inf)) <= kimg + 1e-9:
            seconds += float(stats.get('Timing/sec_per_tick', 0.0)) + float(stats.get('Timing/maintenance_sec', 0.0))
    return G.eval().requires_grad_(False), tsk, dict(command='not recorded', kimg=float(kimg),
                                                     seconds=seconds, hardware='not recorded', slices=1)


def _read_jsonl(path: Path) -> list[dict]:
    records = []
    if not path.is_file():
        return records
    data = read_bytes(path, max_bytes=MAX_LOG_BYTES, what='training log')
    for number, line in enumerate(data.decode('utf-8', 'replace').splitlines(), start=1):
        try:
            record = parse_json(line, name=f'{path} line {number}', what='training log')
        except FileReadError:
            continue            # a line cut by a killed run: the others still count
        if isinstance(record, dict):
            records.append(record)
    return records


def _read_jsonl_all(run_dirs: list[str], name: str) -> list[dict]:
    return [r for d in run_dirs for r in _read_jsonl(Path(d) / name)]


def swd_curve_points(run_dirs: Sequence[str], noise_mode: str | None = None
                     ) -> list[tuple[float, float, float | None]]:
    """(kimg, swd, CPU-hours or None) per SWD measurement logged in the run folders, sorted by kimg; only the
    lines whose recorded `noise_mode` is `noise_mode` (None: lines without one: networks without noise inputs,
    and a StyleGAN2's measurements from before its noise was drawn per image, which used its fixed noise map).

    The training loop writes a tick's stats.jsonl line (with Progress/kimg and, since the CPU clock was added,
    Timing/cpu_sec_total: the training's CPU seconds over all slices), then the snapshot, then the metrics of
    that snapshot; a metric line therefore belongs to the last stats line written before it. Each folder is
    paired on its own (folders may come from machines with different clocks); a kimg measured twice keeps the
    later line.
    """
    points: dict[float, tuple[float, float | None]] = {}
    for folder in run_dirs:
        ticks = sorted(((float(r['timestamp']), float(r['Progress/kimg']), _cpu_hours(r))
                        for r in _read_jsonl(Path(folder) / 'stats.jsonl')
                        if isinstance(r.get('timestamp'), int | float)
                        and isinstance(r.get('Progress/kimg'), int | float)), key=lambda t: t[:2])
        metrics = sorted(((float(r['timestamp']), r) for r in _read_jsonl(Path(folder) / 'metric-swd.jsonl')
                          if isinstance(r.get('timestamp'), int | float) and r.get('noise_mode') == noise_mode),
                         key=lambda t: t[0])
        for stamp, record in metrics:
            value = (record.get('results') or {}).get('swd')
            before = [(kimg, hours) for t, kimg, hours in ticks if t <= stamp]
            if before and isinstance(value, int | float) and math.isfinite(value):
                points[round(before[-1][0], 6)] = (float(value), before[-1][1])
    return [(kimg, swd, hours) for kimg, (swd, hours) in sorted(points.items())]


def _cpu_hours(record: dict) -> float | None:
    value = record.get('Timing/cpu_sec_total')
    return float(value) / 3600 if isinstance(value, int | float) and math.isfinite(value) and value >= 0 else None


# ----------------------------------------------------------------------------------------------------------
# Images


def _render(G: torch.nn.Module, seeds: list[int], device, fresh_noise: bool = False) -> list[np.ndarray]:
    """One image per seed at psi 1; `fresh_noise`: a StyleGAN2's noise inputs drawn per image (`noise_maps` of the
    seed), as the SWD measures it, instead of its fixed noise map."""
    from analysis.generate import generate_images
    from networks.stylegan2 import per_image_noise
    if not fresh_noise:
        return [img for _seed, img in generate_images(G, seeds, REFERENCE_PSI, None, 'const', device=device)]
    images = []
    for seed in seeds:
        with per_image_noise(G, [seed]):
            images += [img for _seed, img in generate_images(G, [seed], REFERENCE_PSI, None, 'const', device=device)]
    return images


def _swd_plot(title: str, points: list[tuple[float, float, float | None]], final: tuple[float, float, float | None],
              final_images: int, logged_images: str, floor: float | None,
              fixed_noise: list[tuple[float, float, float | None]] = ()) -> bytes:
    """SWD against kimg (left) and against CPU-hours (right, the points that recorded it), with the floor and the
    campaign's goal (3x the floor) as horizontal lines; `fixed_noise`, a StyleGAN2's logged points measured on its
    fixed noise map (an older definition), drawn apart."""
    import matplotlib
    matplotlib.use('Agg', force=True)     # no display: the figure only becomes a PNG
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100, sharey=True)
    for ax, index, label in ((axes[0], 0, 'kimg'), (axes[1], 2, 'CPU-hours (training process)')):
        older = [p for p in fixed_noise if p[index] is not None]
        if older:
            ax.plot([p[index] for p in older], [p[1] for p in older], 'x:', color='tab:gray',
                    label=f'training log, fixed noise map ({logged_images})')
        shown = [p for p in points if p[index] is not None]
        if shown:
            kind = ', noise per image' if fixed_noise else ''
            ax.plot([p[index] for p in shown], [p[1] for p in shown], 'o-',
                    label=f'training log{kind} ({logged_images})')
        if final[index] is not None:
            ax.plot([final[index]], [final[1]], '*', markersize=12, label=f'export ({final_images} images)')
        if floor is not None:
            ax.axhline(floor, color='gray', linestyle='--', label=f'real vs real floor ({final_images} images)')
            ax.axhline(3 * floor, color='green', linestyle=':', label='goal: 3x the floor')
        ax.set_xlabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel('SWD x 1e3 (mean over levels)')
    axes[0].legend(fontsize=8)
    fig.suptitle(f'{title}: SWD against the dataset')
    fig.tight_layout()
    from analysis.spectrum_plots import png_bytes

    return png_bytes(fig)


# ----------------------------------------------------------------------------------------------------------
# Writing


def _commit(files: list[tuple[Path, bytes]]) -> None:
    """Replace each file atomically, in order; if one fails, put back what every earlier one replaced."""
    from networks.atomic_io import atomic_write
    previous = [(path, path.read_bytes() if path.is_file() else None) for path, _ in files]
    done = []
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f, data=data: f.write(data))
            done.append(path)
    except BaseException:
        for path, old in previous:
            if path not in done:
                continue
            try:
                if old is None:
                    path.unlink()
                else:
                    atomic_write(path, lambda f, old=old: f.write(old))
            except OSError:
                pass            # the original error is the one to report
        raise


def _relative(path: Path, dest: Path) -> str:
    """The card's form of an image path: relative to the repository root when the image is inside it (a shipped
    network), else relative to the folder that holds both the card (`dest`) and the image, so that the card
    validates (`networks.pretrained` accepts relative paths without '..' only) wherever the export was written."""
    path = path.resolve()
    root = Path(__file__).resolve().parent.parent
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        base = Path(os.path.commonpath([str(dest.resolve()), str(path.parent)]))
        return path.relative_to(base).as_posix()


def export(opts: argparse.Namespace, log=print) -> dict:
    """Measure, render and write the shipped network of `opts.key`; returns the card."""
    from networks import load_generator, save_network_pkl
    from networks.stylegan2 import has_noise_inputs
    from training import metrics
    from training.metrics import feature_stats

    key = opts.key
    cfg, title = CARDS[key]
    device = torch.device(opts.device if opts.device != 'auto' else ('cuda' if torch.cuda.is_available() else 'cpu'))
    root = Path(__file__).resolve().parent.parent
    dest = Path(opts.dest) if opts.dest else root / 'networks' / 'pretrained'
    docs = Path(opts.docs) if opts.docs else root / 'docs'
    if opts.state:
        run_dirs = opts.run_dir or [d for d in [f'{os.path.normpath(opts.state)}-run'] if os.path.isdir(d)]
        G, tsk, facts = _from_state(opts.state, opts.data)
    else:
        run_dirs = opts.run_dir or [os.path.dirname(os.path.abspath(opts.snapshot))]
        G, tsk, facts = _from_snapshot(opts.snapshot, opts.data, run_dirs)
    found = cfg_of(G)
    if found != cfg:
        raise UserError(f'--key {key} is {cfg}, but the network is {found}; use --key '
                        f'{next(k for k, v in CARDS.items() if v[0] == found)}')
    # The dataset as stored: --mirror's x-flipped copies are training augmentation, not more data to compare with.
    tsk = dict(tsk, xflip=False)
    dataset = feature_stats.open_dataset(tsk, resolution=G.img_resolution, num_channels=G.img_channels)

    # The shipped pickle first: every figure below is measured on what users will load.
    with tempfile.TemporaryDirectory() as tmp:
        tmp_pkl = os.path.join(tmp, f'{key}.pkl')
        half = bool(opts.fp16)
        save_network_pkl(tmp_pkl, {'G_ema': G}, half=half)
        storage = 'float16 (asked with --fp16)' if half else 'float32'
        if not half and os.path.getsize(tmp_pkl) > MAX_PICKLE_BYTES:
            full = os.path.getsize(tmp_pkl)
            half = True
            save_network_pkl(tmp_pkl, {'G_ema': G}, half=True)
            storage = f'float16 (float32 would be {full / 1e6:.1f} MB > {MAX_PICKLE_BYTES / 1e6:.0f} MB)'
        pkl_bytes = Path(tmp_pkl).read_bytes()
        if len(pkl_bytes) > MAX_PICKLE_BYTES:
            raise UserError(f'{key}: G_ema needs {len(pkl_bytes) / 1e6:.1f} MB even in float16, more than '
                            f'{MAX_PICKLE_BYTES / 1e6:.0f} MB; train a smaller network (--cbase, --cmax)')
        shipped = load_generator(tmp_pkl, device)
    log(f'{key}: {facts["kimg"]:.3f} kimg, pickle {len(pkl_bytes) / 1e6:.2f} MB, {storage} storage')

    results: dict = {}
    swd_levels = metrics.calc_metric('swd', shipped, dataset_kwargs=tsk, device=device, num_samples=opts.swd_images,
                                     batch_size=opts.batch)['results']
    swd = swd_levels['swd']
    swd_images = min(opts.swd_images, len(dataset))
    campaign = _campaign(shipped, tsk, swd_levels, swd_images, len(dataset), opts, device)
    log(f'  swd {swd:.3f} ({swd_images} images); untrained {campaign["swd_untrained"]["swd"]:.3f}; floor '
        f'{campaign["swd_floor"] if campaign["swd_floor"] is None else round(campaign["swd_floor"], 3)}; trained: '
        f'{campaign["trained"]}, goal met: {campaign["goal_met"]}')
    if not campaign['trained'] and not opts.allow_untrained:
        raise UserError(f'{key} is not trained yet: its SWD has not fallen 4x from the untrained network\'s at every '
                        f'level ({_levels_text(swd_levels)} against {_levels_text(campaign["swd_untrained"])}); '
                        'train on, or pass --allow-untrained')
    for name in EQ_NAMES:
        if cfg == 'stylegan2':
            results[name] = None
            continue
        results[name] = metrics.calc_metric(name, shipped, device=device, num_samples=opts.eq_samples,
                                            batch_size=opts.batch)['results'][name]
        log(f'  {name} {results[name]:.2f} dB ({opts.eq_samples} samples)')

    reference = _render(shipped, [REFERENCE_SEED], device)[0]
    noise = has_noise_inputs(shipped)
    fakes = image_grid(_render(shipped, list(range(GRID_SEEDS)), device, fresh_noise=noise), GRID_COLUMNS)
    reals = image_grid([np.asarray(dataset[i][0]).transpose(1, 2, 0) for i in range(min(GRID_SEEDS, len(dataset)))],
                  GRID_COLUMNS)
    grid = _side_by_side(fakes, reals)
    points = swd_curve_points(run_dirs, 'random' if noise else None)
    fixed_noise = swd_curve_points(run_dirs) if noise else []
    logged = 'metric-swd.jsonl'
    hours = facts.get('cpu_seconds')
    curve = _swd_plot(title, points, (facts['kimg'], swd, None if hours is None else hours / 3600), swd_images,
                      logged, campaign['swd_floor'], fixed_noise)

    notes = [f'{storage} storage', f'SWD: detector-free, x1e3, mean over pyramid levels, {swd_images} images '
             f'per side; the curve has {len(points)} logged point(s)']
    if noise:
        notes.append(f'SWD and the grid draw the noise inputs per image, as NVlabs\' metrics do (the reference PNG '
                     f'uses the fixed noise map); {len(fixed_noise)} earlier logged point(s) measured the fixed noise '
                     'map and are drawn apart')
    if cfg == 'stylegan2':
        notes.append(SG2_EQ_NOTE)
    grid_path, curve_path = docs / f'pretrained-{key}-grid.png', docs / f'pretrained-{key}-swd.png'
    card = {
        'key': key, 'title': title, 'cfg': cfg, 'resolution': int(G.img_resolution), 'file': f'{key}.pkl',
        'dataset': {'name': opts.dataset_name or os.path.basename(os.path.normpath(opts.data)),
                    'command': opts.dataset_command, 'count': len(dataset), 'resolution': int(dataset.resolution)},
        'training': {'command': opts.train_command or facts['command'], 'kimg': round(facts['kimg'], 3),
                     'seconds': round(facts['seconds'], 1), 'hardware': opts.hardware or facts['hardware'],
                     'cpu_seconds': None if facts.get('cpu_seconds') is None else round(facts['cpu_seconds'], 1),
                     'slices': int(facts['slices'])},
        'metrics': {'swd': _finite_or_none(swd), **{n: _finite_or_none(results[n]) for n in EQ_NAMES},
                    'eq_samples': int(opts.eq_samples), 'swd_images': int(swd_images), 'notes': '; '.join(notes)},
        'campaign': campaign,
        'reference': {'seed': REFERENCE_SEED, 'psi': REFERENCE_PSI, 'png': f'{key}-ref.png',
                      'max_abs_tolerance': REFERENCE_TOLERANCE},
        'images': {'grid': _relative(grid_path, dest), 'swd_curve': _relative(curve_path, dest)},
        'created': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
        'format': CARD_FORMAT,
    }
    card_bytes = (json.dumps(card, indent=1, allow_nan=False) + '\n').encode()
    # The card goes last: a reader that sees it finds the pickle and reference it describes.
    _commit([(grid_path, png_bytes(grid)), (curve_path, curve), (dest / f'{key}.pkl', pkl_bytes),
             (dest / f'{key}-ref.png', png_bytes(reference)), (dest / f'{key}.json', card_bytes)])
    log(f'wrote {dest / key}.pkl, .json, -ref.png; {grid_path}; {curve_path}')
    return card


def _campaign(G, tsk: dict, swd_levels: dict, swd_images: int, dataset_len: int, opts, device) -> dict:
    """The gate and the goal of the training campaign, measured with the export's images: SWD per level of the
    shipped network, of the same architecture untrained (seed 0), and of two disjoint sets of reals."""
    from training import metrics
    from training.metrics.swd import compute_swd_floor
    torch.manual_seed(0)
    fresh = type(G)(**G.init_kwargs)          # every persistent network records its constructor arguments
    untrained = metrics.calc_metric('swd', fresh.eval().to(device), dataset_kwargs=tsk, device=device,
                                    num_samples=swd_images, batch_size=opts.batch)['results']
    floor = None
    if 2 * swd_images <= dataset_len:
        floor = compute_swd_floor(tsk, G.img_resolution, swd_images, batch_size=opts.batch)['swd']
    levels = [k for k in swd_levels if k != 'swd']
    gains = {k: untrained[k] / max(swd_levels[k], 1e-12) for k in levels}
    return {
        'swd_levels': {k: round(float(v), 4) for k, v in swd_levels.items()},
        'swd_untrained': {k: round(float(v), 4) for k, v in untrained.items()},
        'swd_floor': None if floor is None else round(float(floor), 4),
        'swd_over_floor': None if floor is None else round(float(swd_levels['swd'] / floor), 4),
        'trained': bool(min(gains.values()) >= 4),
        'goal_met': bool(min(gains.values()) >= 4 and floor is not None and swd_levels['swd'] <= 3 * floor),
        'gate': 'trained: SWD at least 4x below the untrained network at every level; goal: trained, and SWD '
                'within 3x of the real-vs-real floor (same number of images)',
    }


def _levels_text(levels: dict) -> str:
    return ' / '.join(f'{levels[k]:.1f}' for k in sorted((k for k in levels if k != 'swd'), key=lambda k: -int(k[3:])))


def _side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 8) -> np.ndarray:
    """Two uint8 HWC grids next to each other on white, top-aligned."""
    h = max(left.shape[0], right.shape[0])
    out = np.full([h, left.shape[1] + gap + right.shape[1], left.shape[2]], 255, dtype=np.uint8)
    out[:left.shape[0], :left.shape[1]] = left
    out[:right.shape[0], left.shape[1] + gap:] = right
    return out


def _finite_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    # An exactly equivariant network has infinite PSNR; JSON has no infinity, and the card's numbers are finite.
    return round(value, 4) if math.isfinite(value) else None


def inspect_pickle(opts: argparse.Namespace, log=print) -> Path:
    """Write the G_ema of `opts.state` / `opts.snapshot` to `opts.inspect` (float32, atomically), with no gate
    and no card: a network in training is looked at, not shipped, so the default networks' folder is refused."""
    from networks import save_network_pkl

    out = Path(opts.inspect).resolve()
    shipped = (Path(__file__).resolve().parent.parent / 'networks' / 'pretrained').resolve()
    if out.parent == shipped:
        raise UserError(f'--inspect {opts.inspect}: that is the shipped networks\' folder; export without --inspect '
                        'to ship a network')
    if opts.state:
        G, _tsk, facts = _from_state(opts.state, opts.data)
    else:
        G, _tsk, facts = _from_snapshot(opts.snapshot, opts.data, opts.run_dir or [])
    cfg = CARDS[opts.key][0]
    if cfg_of(G) != cfg:
        raise UserError(f'--key {opts.key} is {cfg}, but the network is {cfg_of(G)}')
    save_network_pkl(out, {'G_ema': G})
    log(f'wrote {opts.inspect}: G_ema of {opts.state or opts.snapshot} at {facts["kimg"]:g} kimg (not measured, '
        'not shipped)')
    return out


def _body(opts: argparse.Namespace) -> None:
    if opts.inspect:
        inspect_pickle(opts)
    else:
        export(opts)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status 0, or 1 with one ``error:`` line for bad input."""
    return main_entry(build_parser(), _body, argv)


if __name__ == '__main__':
    sys.exit(main())
