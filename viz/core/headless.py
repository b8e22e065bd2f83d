"""Headless rendering: every view the GUI shows, written to files (no display, no OpenGL).

`python visualizer.py --headless [--session FILE] [--views image,layers,...] [--compare PKL [PKL]]` ends up here,
as does the GUI entry point where no window can be opened. With networks to compare (`RenderArgs.compare_pkls`)
every image, FFT, EQ strip and video frame is the composed one (`viz.core.compare`: the networks side by side,
labelled); the layer grid and the analyses are of the first network.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys

import numpy as np

from analysis import spectra, spectrum_plots
from analysis.spectra import noise_label
from networks.errors import UserError, flag, hint, printable
from networks.image_write import save_png
from viz.core.analysis_cache import SPECTRUM_RANGE_DB
from viz.core.compare import NOTE_PREFIX, check_compare, failure_note
from viz.core.render_types import DEFAULT_PKL, RenderArgs, RenderResult, args_to_dict
from viz.core.renderer import Renderer
from viz.core.tiles import named_tile_grid, side_by_side

HEATMAP_SMOOTH = 1.25  # the command line's defaults (tools/avg_spectra.py heatmap / slices --sigma)
SLICES_SMOOTH = 0.0
VIEWS = ('image', 'layers', 'fft', 'spectrum', 'eq', 'sticking', 'aliasing', 'layer_eq', 'video')
DEFAULT_VIEWS = ('image', 'layers', 'fft')


def _resize_nearest(img: np.ndarray, size: int) -> np.ndarray:
    rows = np.arange(size) * img.shape[0] // size
    cols = np.arange(size) * img.shape[1] // size
    return img[rows][:, cols]


def layer_grid(renderer: Renderer, args: RenderArgs, tile: int = 128, columns: int = 6) -> tuple[np.ndarray, list]:
    """One normalised tile per layer (first three channels, or one), in execution order, each named under it."""
    first = renderer.render(dataclasses.replace(args, layer_name=None))
    if first.error:
        raise RuntimeError(first.error)
    tiles, names = [], []
    for layer in first.layers:
        res = renderer.render(dataclasses.replace(args, layer_name=layer.name, img_normalize=True, base_channel=0,
                                                  sel_channels=3 if layer.shape[1] >= 3 else 1, fft_show=False))
        if res.image is not None:
            tiles.append(_resize_nearest(res.image, tile))
            names.append(layer.name)
    return named_tile_grid(tiles, names, columns), names


def network_label(net: dict) -> str:
    """'NAME (KIND RESpx)', with UNTRAINED in front for an untrained network (said once: the default network's
    name already starts with "untrained"); a shipped default network's card label as it is. Printable: the name
    comes from a file name or a card."""
    name = printable(net.get('name', ''))
    if net.get('default_key'):  # a shipped default network: its card's label already says what it is
        return name
    if net.get('untrained'):
        if name.lower().startswith('untrained'):
            name = name[len('untrained'):].lstrip()
        name = f'UNTRAINED {name}'
    return f'{name} ({net.get("kind", "")} {net.get("resolution", "")}px)'


def _spectrum_pngs(spec: dict, label: str, out) -> list[str]:
    """The render's spectrum drawn as `python -m tools.avg_spectra heatmap / slices` draws a spectrum file, from
    the same arrays (`analysis.spectrum_plots`, with the command line's default smoothing and dB range)."""
    how = ', '.join(p for p in (spec['label'], noise_label(spec.get('noise_mode', 'none'))) if p)
    title = f'{label}: mean power spectrum, {spec["num_seeds"]} seeds, {how}'
    datas = [spec['data']] + ([spec['dataset_data']] if 'dataset_data' in spec else [])
    lo, hi = SPECTRUM_RANGE_DB
    heatmap = spectrum_plots.plot_heatmap(spectra.spectrum_view(datas[0], HEATMAP_SMOOTH), out('spectrum.png'),
                                          spectrum_plots.wrap_title(title, 6, 9), lo, hi)
    curves = [(name, spectra.spectrum_view(data, SLICES_SMOOTH)) for name, data in zip(('network', 'dataset'), datas)]
    slices = spectrum_plots.plot_slices(curves, spectra.slices_label(datas), out('spectrum_slices.png'),
                                        f'{label}, {spec["num_seeds"]} seeds, {how}')
    return [heatmap, slices]


def _write_bytes(path: str, data: bytes) -> str:
    with open(path, 'wb') as f:
        f.write(data)
    return path


def _aliasing_files(renderer: Renderer, args: RenderArgs, label: str, out, check) -> list[str]:
    """aliasing.png (the window's bar chart as `python -m tools.aliasing` draws it), aliasing.json, and
    fft_limits.png: the shown image or layer beside its FFT with the layer's frequency limits drawn on it."""
    from analysis.aliasing import figure_png, table_json

    res = renderer.render(dataclasses.replace(args, aliasing=True, fft_show=True, fft_limits=True))
    if not check(res, 'aliasing') or res.aliasing is None:
        return []
    how = 'shown latent' if args.aliasing_seeds <= 0 else f'mean of {args.aliasing_seeds} seeds'
    return [_write_bytes(out('aliasing.png'), figure_png(res.aliasing, f'{label}: {how}')),
            _write_bytes(out('aliasing.json'), table_json(res.aliasing, network=label, seeds=args.aliasing_seeds)
                         .encode()),
            save_png(out('fft_limits.png'), side_by_side(res.image, res.fft, enlarge=True), label)]


def _layer_eq_files(renderer: Renderer, args: RenderArgs, label: str, out, check, say) -> list[str]:
    """layer_eq.png (the PSNR over the layers for EQ-T, EQ-T frac and EQ-R, as `python -m tools.layer_eq` draws
    it) and layer_eq.json, of the shown latent or over `layer_eq_samples` samples."""
    from analysis.layer_eq import KIND_LABELS, KINDS, layer_eq_png

    curves = []
    for kind in KINDS:
        res = renderer.render(dataclasses.replace(args, layer_eq=kind))
        if not check(res, f'layer_eq {kind}') or res.layer_eq is None:
            return []
        curves.append((label, kind, res.layer_eq))
        say(f'{KIND_LABELS[kind]} per layer: output {res.layer_eq[-1]["psnr_db"]:.2f} dB')
    how = 'shown latent' if args.layer_eq_samples <= 0 else f'{args.layer_eq_samples} samples'
    record = dict(network=label, samples=args.layer_eq_samples, eq_transforms=args.eq_transforms,
                  curves={kind: [{k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
                                  for k, v in row.items()} for row in rows] for _l, kind, rows in curves})
    return [_write_bytes(out('layer_eq.png'), layer_eq_png(curves, f'{label}: {how}')),
            _write_bytes(out('layer_eq.json'), json.dumps(record, indent=1, default=list).encode())]


def render_views(args: RenderArgs, views, out_dir: str, renderer: Renderer | None = None,
                 video_frames: int = 48, say=print, prefix: str = '') -> tuple[list[str], list[str]]:
    """Render `views` of `args` into `out_dir`, each file name starting with `prefix`; returns (paths written,
    error lines)."""
    renderer = renderer or Renderer()
    written, errors = [], []
    base = renderer.render(dataclasses.replace(args, fft_show=False, spectrum_seeds=0, eq_readout=False,
                                               sticking=False, aliasing=False, layer_eq=''))
    if base.error:
        return written, [base.error]
    os.makedirs(out_dir, exist_ok=True)  # only once the network renders: a refusal leaves no folder behind
    net = base.network
    label = network_label(net)
    say(f'network: {label}')
    said: set[str] = set()
    for pane in base.panes[1:]:
        say(f'compared with: {printable(pane["name"])}' + (f' ({network_label(pane["network"])})'
                                                          if pane['network'] else ''))
        if pane['error']:
            errors.append(f'compare: {pane["name"]}: {pane["error"]}')
    if base.panes:
        label += ' vs ' + ', '.join(pane['name'] for pane in base.panes[1:])

    def note(message: str) -> None:
        """A comparison's note (panes scaled, analyses of the first pane): said once, not an error."""
        if message not in said:
            said.add(message)
            say(f'note: {message[len(NOTE_PREFIX):]}')

    failures = {failure_note(p['name'], p['error']) for p in base.panes if p['error']}  # errors, said above
    for message in base.messages:
        if message.startswith(NOTE_PREFIX) and message not in failures:
            note(message)

    def out(name: str) -> str:
        return os.path.join(out_dir, prefix + name)

    def check(res: RenderResult, what: str) -> bool:
        if res.error:
            errors.append(f'{what}: {res.error}')
            return False
        for m in res.messages:
            if m.startswith(NOTE_PREFIX):
                if m not in failures:  # a failed pane is reported once, from the first render
                    note(m)
            else:
                errors.append(f'{what}: {m}')
        return True

    for view in views:
        if view not in VIEWS:
            errors.append(f'unknown view "{view}" (one of {", ".join(VIEWS)})')
            continue
        try:
            if view == 'image':
                written.append(save_png(out('image.png'), base.image, label))
            elif view == 'layers':
                if args.compare_pkls:
                    note(f'{NOTE_PREFIX}layers.png is of the first network only')
                grid, names = layer_grid(renderer, dataclasses.replace(args, compare_pkls=()))
                written.append(save_png(out('layers.png'), grid, f'{label}; layers: {" ".join(names)}'))
            elif view == 'fft':
                res = renderer.render(dataclasses.replace(args, fft_show=True))
                if check(res, 'fft'):
                    written.append(save_png(out('fft.png'), side_by_side(res.image, res.fft, enlarge=True), label))
            elif view == 'spectrum':
                res = renderer.render(dataclasses.replace(args, spectrum_seeds=args.spectrum_seeds or 16))
                if check(res, 'spectrum') and res.spectrum is not None:
                    written.extend(_spectrum_pngs(res.spectrum, label, out))
            elif view == 'eq':
                res = renderer.render(dataclasses.replace(args, eq_readout=True))
                if check(res, 'eq') and res.eq is not None:
                    strip = []
                    for tx, ty, rot in ((0, 0, 0), (0.125, 0, 0), (0.0625, 0.03125, 0), (0, 0, 30)):
                        r2 = renderer.render(dataclasses.replace(args, translate_x=tx, translate_y=ty, rotate=rot))
                        if r2.image is not None:
                            strip.append(r2.image)
                    written.append(save_png(out('eq_strip.png'), np.concatenate(strip, axis=1), label))
                    with open(out('eq.json'), 'w') as f:
                        json.dump(dict(network=label, **res.eq), f, indent=2)
                    written.append(out('eq.json'))
                    say('EQ readout: ' + ', '.join(f'{k} {v:.2f} dB' for k, v in res.eq.items()))
            elif view == 'sticking':
                res = renderer.render(dataclasses.replace(args, sticking=True))
                if check(res, 'sticking') and res.sticking is not None:
                    written.append(save_png(out('sticking_average.png'), res.sticking['average'], label))
                    written.append(save_png(out('sticking_streak.png'), res.sticking['streak'], label))
            elif view == 'aliasing':
                written.extend(_aliasing_files(renderer, args, label, out, check))
            elif view == 'layer_eq':
                written.extend(_layer_eq_files(renderer, args, label, out, check, say))
            elif view == 'video':
                from viz.core.video_writer import VideoRecorder

                rec = VideoRecorder(out('video.mp4'), fps=24)
                for i in range(video_frames):
                    t = i / video_frames
                    res = renderer.render(dataclasses.replace(args, translate_x=args.translate_x + 0.25 * t,
                                                              rotate=args.rotate + 30 * math.sin(2 * math.pi * t)))
                    if not check(res, 'video'):
                        break
                    rec.add(res.image)
                written.append(rec.close())
        except Exception as exc:  # noqa: BLE001 - one failing view must not stop the others
            from viz.core.render_types import error_text

            errors.append(f'{view}: {error_text(exc, flag)}')
    with open(out('render_info.json'), 'w') as f:
        panes = [{k: v for k, v in pane.items() if k != 'network'} for pane in base.panes]
        json.dump(dict(network=net, label=label, args=args_to_dict(args), views=list(views), files=written,
                       errors=errors, panes=panes), f, indent=2, default=str)
    written.append(out('render_info.json'))
    return written, errors


def run_headless(pkls: list[str] | None = None, out_dir: str = 'renders', device: str = 'cpu',
                 session: str | None = None, views: str | None = None, seed: int | None = None,
                 debug: bool = False, compare: list[str] | None = None) -> int:
    """CLI body: returns the process exit status (0 = every view written). `compare`: networks rendered beside
    the first (at most two; replaces a session's).

    What was written goes to stdout; each error is one ``error: ...`` line on stderr, as in every tool, and the
    renderer's log of a failure (with its traceback) only appears with ``debug``."""
    args, session_views = RenderArgs(), None
    if session:
        from viz.core.session import load_session

        try:
            args, session_views = load_session(session)
        except (UserError, OSError, ValueError, TypeError) as exc:  # SessionError, FileReadError: one line
            print(f'error: cannot load session {printable(session)}: {printable(exc)}', file=sys.stderr)
            return 2
    if pkls:
        args = dataclasses.replace(args, pkl=pkls[0])
    if compare:
        try:
            args = dataclasses.replace(args, compare_pkls=check_compare(compare))
        except UserError as exc:
            print(f'error: {printable(exc)}{hint(exc, flag, with_command=False)}', file=sys.stderr)
            return 2
    if device and (not session or device != 'cpu'):
        args = dataclasses.replace(args, device=device)
    if seed is not None:
        args = dataclasses.replace(args, w0_seeds=((seed, 1.0),))
    view_list = [v.strip() for v in views.split(',') if v.strip()] if views else list(session_views or DEFAULT_VIEWS)
    # No pickle and no session: every shipped default network, files named by its key (sg3t_image.png, ...);
    # none shipped: the built-in untrained one, files named as before.
    runs, renderer = [(args, '')], Renderer(log_failures=debug, name_option=flag)
    if not pkls and not session:
        from networks import pretrained

        cards = pretrained.available()
        if cards:
            runs = [(dataclasses.replace(args, pkl=pretrained.pickle_path(card)), f'{card["key"]}_')
                    for card in cards]
    all_errors = []
    for run_args, prefix in runs:
        written, errors = render_views(run_args, view_list, out_dir, renderer=renderer, prefix=prefix)
        for path in written:
            print(f'wrote {printable(path)}')
        for err in errors:
            print(f'error: {prefix.rstrip("_") + ": " if prefix else ""}{printable(err)}', file=sys.stderr)
        all_errors += errors
    if args.pkl == DEFAULT_PKL and len(runs) == 1 and not runs[0][1]:
        print('note: the default network is UNTRAINED (random weights, built in memory); pass a pickle to see a '
              'trained one.')
    return 1 if all_errors else 0
