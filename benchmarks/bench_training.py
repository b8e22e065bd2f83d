"""Training speed per config on this machine: s/kimg of the real training loop, and where a step's time goes.

    OMP_NUM_THREADS=2 .venv/bin/python -m benchmarks.bench_training [--res 32] [--batch 8] [--steps 8] \\
        [--cbase 2048] [--cmax 64] [--zdim 64] [--json out.json]

For each of stylegan2, stylegan3-t, stylegan3-r (same reduced capacity, resolution and batch):
1. s/kimg: wall time per thousand images of `training.training_loop` over the last `--steps` - 1 of `--steps` + 2
   steps (timing runs from the end of the third; data loading in the loop's process, no image grids or snapshots
   in the timed span), and the ratio to stylegan2 measured in the same run.
2. (``--grad-ratio``) For G and D of each config: no-grad forward (a) against forward + backward (b) at the
   run's batch, with the fused CPU filtered_lrelu (its own backward), with the fused forward but the old
   recomputing backward, and with the PyTorch path; prints (b)/(a) against the 3.5x target (a training step of
   G should cost at most 3.5 no-grad forwards).
3. Time shares of one step's work, each timed separately with the run's loss: G forward (mapping + synthesis),
   G backward (through synthesis and mapping), D (forward + backward on reals and fakes, and the D pass
   inside the G phase), regularization (R1 every 16 D steps, path length every 4 G steps for StyleGAN2,
   amortized): medians of ``--repeats`` interleaved rounds after a warm-up round (``benchmarks/timing.py``, as
   for 2.). Load average, machine and commit are printed and written to ``--json``.
4. (``--inference-1x1``) G's no-grad forward (the one the D phase runs), its 1x1 modulated convolutions (config R)
   as the batched matrix products ``ops/modconv.py`` runs on the CPU against the grouped convolution they replace.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from tools.train import build_config, build_parser
from training.dataset_convert import convert_dataset
from training.loss import StyleGAN2Loss, blur_sigma_at
from training.training_loop import construct_class_by_name, training_loop

from . import timing

CONFIGS = ('stylegan2', 'stylegan3-t', 'stylegan3-r')


def _config(cfg_name: str, data: str, outdir: str, args) -> object:
    argv = ['--outdir', outdir, '--cfg', cfg_name, '--data', data, '--gpus', '1', '--batch', str(args.batch),
            '--gamma', '1', '--cbase', str(args.cbase), '--cmax', str(args.cmax), '--z-dim', str(args.zdim),
            '--w-dim', str(args.zdim), '--workers', '0', '--kimg', '1000', '--tick', '1000', '--snap', '1000',
            '--aug', 'ada', '--device', 'cpu']
    return build_config(build_parser().parse_args(argv), 'cpu')


def measure_loop(cfg, steps: int) -> float:
    """s/kimg of the training loop itself: steps + 2 steps run, the last steps - 1 of them timed (from the end of
    the third step to the end of the last)."""
    if steps < 2:
        raise ValueError(f'measure_loop needs steps >= 2 (it times steps - 1 of them), got {steps}')
    stamps = []
    cfg.total_kimg = (steps + 2) * cfg.batch_size / 1000
    cfg.image_snapshot_ticks = cfg.network_snapshot_ticks = None
    training_loop(cfg, log=lambda *_: None, step_callback=lambda _s: stamps.append(time.perf_counter()))
    timed = stamps[2:]
    return (timed[-1] - timed[0]) / ((len(timed) - 1) * cfg.batch_size) * 1000


def measure_shares(cfg, repeats: int) -> dict:
    """Seconds per step in G forward, G backward, D and regularization (amortized)."""
    torch.manual_seed(0)
    training_set = construct_class_by_name(**cfg.training_set_kwargs)
    common = dict(c_dim=training_set.label_dim, img_resolution=training_set.resolution,
                  img_channels=training_set.num_channels)
    G = construct_class_by_name(**cfg.G_kwargs, **common).train()
    D = construct_class_by_name(**cfg.D_kwargs, **common).train()
    loss = StyleGAN2Loss(torch.device('cpu'), G=G, D=D, augment_pipe=None, **cfg.loss_kwargs)
    n = cfg.batch_size
    z = torch.randn([n, G.z_dim])
    c = torch.zeros([n, G.c_dim])
    real = torch.rand([n, G.img_channels, G.img_resolution, G.img_resolution]) * 2 - 1
    sigma = blur_sigma_at(0, loss.blur_init_sigma, loss.blur_fade_kimg)

    def g_forward():
        return loss.run_G(z, c)[0]

    @timing.self_timed
    def g_backward_only():
        img = g_forward()
        t0 = time.perf_counter()
        img.backward(torch.randn_like(img))
        return time.perf_counter() - t0

    @timing.self_timed
    def d_only():
        fake = g_forward().detach().requires_grad_(True)
        t0 = time.perf_counter()
        for images in (fake.detach(), real):                    # Dmain: fakes and reals
            loss.run_D(images, c, blur_sigma=sigma).sum().backward()
        loss.run_D(fake, c, blur_sigma=sigma).sum().backward()   # Gmain: D pass back to the fake images
        return time.perf_counter() - t0

    def r1():
        loss.accumulate_gradients('Dreg', real, c, z, c, gain=16, cur_nimg=0)

    def pl():
        loss.accumulate_gradients('Greg', real, c, z, c, gain=4, cur_nimg=0)

    variants = dict(G_forward=g_forward, G_backward=g_backward_only, D=d_only, R1=r1)
    if cfg.G_reg_interval:
        variants['PL'] = pl
    cmp = timing.compare(variants, repeats)   # one warm-up round, then interleaved rounds
    t_gfwd, t_gbwd, t_d = cmp.median('G_forward'), cmp.median('G_backward'), cmp.median('D')
    t_reg = cmp.median('R1') / (cfg.D_reg_interval or 1)
    if cfg.G_reg_interval:
        t_reg += cmp.median('PL') / cfg.G_reg_interval
    # The G forward runs twice per step (G phase and D phase) and its backward once.
    parts = dict(G_forward=2 * t_gfwd, G_backward=t_gbwd, D=t_d, regularization=t_reg)
    total = sum(parts.values())
    return dict(seconds=parts, shares={k: v / total for k, v in parts.items()}, timing=cmp.to_dict())


GRAD_RATIO_TARGET = 3.5
PATHS = ('fused', 'fused-recompute', 'torch')


def _with_path(path: str, fn):
    """Runs fn with filtered_lrelu on one path: the fused op, its forward with the recomputing backward, PyTorch."""
    from unittest import mock

    from ops import backend
    from ops.cpu import fused

    old = backend.get_default_impl()
    backend.set_default_impl('torch' if path == 'torch' else 'auto')
    try:
        if path == 'fused-recompute':  # no mask recorded: the backward recomputes through the PyTorch path
            with mock.patch.object(fused, 'new_mask', lambda *_a, **_k: None):
                return fn()
        return fn()
    finally:
        backend.set_default_impl(old)


def measure_grad_ratio(cfg, repeats: int, paths=PATHS) -> dict:
    """Seconds of no-grad forward and forward + backward of G and D, per filtered_lrelu path."""
    torch.manual_seed(0)
    training_set = construct_class_by_name(**cfg.training_set_kwargs)
    common = dict(c_dim=training_set.label_dim, img_resolution=training_set.resolution,
                  img_channels=training_set.num_channels)
    G = construct_class_by_name(**cfg.G_kwargs, **common).train().requires_grad_(True)
    D = construct_class_by_name(**cfg.D_kwargs, **common).train().requires_grad_(True)
    n = cfg.batch_size
    z = torch.randn([n, G.z_dim])
    c = torch.zeros([n, G.c_dim])
    img = torch.randn([n, G.img_channels, G.img_resolution, G.img_resolution])

    def g_nograd():
        with torch.no_grad():
            G(z, c)

    def g_grad():
        out = G(z, c)
        out.backward(torch.ones_like(out) / out.numel())

    def d_nograd():
        with torch.no_grad():
            D(img, c)

    def d_grad():
        D(img.detach().requires_grad_(True), c).sum().backward()

    result = {}
    for path in paths:
        row = {}
        for net, fwd, both in (('G', g_nograd, g_grad), ('D', d_nograd, d_grad)):
            def run(fwd=fwd, both=both):  # the warm-up round includes the op's build
                return timing.compare(dict(no_grad=fwd, forward_backward=both), repeats)
            cmp = _with_path(path, run)
            row[net] = dict(no_grad=cmp.median('no_grad'), forward_backward=cmp.median('forward_backward'),
                            ratio=cmp.ratio('forward_backward'), load=cmp.env['load'])
        result[path] = row
    return result


def _grouped_bmm(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """torch.bmm(w [N, O, I], x [N, I, P]) computed as the grouped 1x1 convolution it replaces in ops/modconv.py."""
    n, o, i = w.shape
    y = torch.nn.functional.conv2d(x.reshape(1, n * i, -1, 1), w.reshape(n * o, i, 1, 1), groups=n)
    return y.reshape(n, o, -1)


def measure_inference_1x1(cfg, repeats: int) -> dict:
    """Seconds of G's no-grad forward (the D phase's, in training mode) with its 1x1 modulated convolutions as
    batched matrix products (as run) and as the grouped convolution (NVlabs' form), interleaved."""
    from unittest import mock

    from ops import modconv

    torch.manual_seed(0)
    training_set = construct_class_by_name(**cfg.training_set_kwargs)
    G = construct_class_by_name(**cfg.G_kwargs, c_dim=training_set.label_dim, img_resolution=training_set.resolution,
                                img_channels=training_set.num_channels).train()
    z = torch.randn([cfg.batch_size, G.z_dim])
    c = torch.zeros([cfg.batch_size, G.c_dim])

    @torch.no_grad()
    def product():
        G(z, c)

    @torch.no_grad()
    def grouped():
        with mock.patch.object(modconv.torch, 'bmm', _grouped_bmm):
            G(z, c)

    cmp = timing.compare(dict(grouped=grouped, product=product), repeats)
    return dict(grouped=cmp.median('grouped'), product=cmp.median('product'), ratio=cmp.ratio('product', 'grouped'),
                load=cmp.env['load'])


def _print_grad_ratio(cfg_name: str, result: dict) -> None:
    for path, row in result.items():
        for net, r in row.items():
            verdict = 'met' if r['ratio'] <= GRAD_RATIO_TARGET else 'missed'
            print(f'  {cfg_name:12s} {net} {path:16s} no-grad {r["no_grad"] * 1000:8.1f} ms  fwd+bwd '
                  f'{r["forward_backward"] * 1000:8.1f} ms  ratio {r["ratio"]:5.2f}  '
                  f'(target <= {GRAD_RATIO_TARGET}: {verdict})', flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks.bench_training', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--res', type=int, default=32)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--steps', type=int, default=8, help='>= 2: the last steps - 1 of steps + 2 are timed')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--cbase', type=int, default=2048)
    parser.add_argument('--cmax', type=int, default=64)
    parser.add_argument('--zdim', type=int, default=64)
    parser.add_argument('--cfg', default=','.join(CONFIGS), help='comma-separated configs')
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--grad-ratio', action='store_true',
                        help='only the G / D forward+backward vs no-grad forward ratios, per filtered_lrelu path')
    parser.add_argument('--paths', default=','.join(PATHS), help=f'paths for --grad-ratio, of {PATHS}')
    parser.add_argument('--no-shares', action='store_true', help='s/kimg only (skip the time shares)')
    parser.add_argument('--inference-1x1', action='store_true',
                        help="only G's no-grad forward with 1x1 modulated convolutions as batched products vs grouped "
                             "convolutions (config R)")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"--steps must be >= 2 (it times steps - 1 of them), got {args.steps}")

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, 'photos.zip')
        convert_dataset('builtin:photos', data, resolution=f'{args.res}x{args.res}', count=256, seed=0,
                        progress=False, log=lambda *_: None)
        env = timing.environment()
        print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, res {args.res}, batch {args.batch}, '
              f'cbase {args.cbase}, cmax {args.cmax}, z/w {args.zdim}; {timing.describe(env)}')
        for cfg_name in args.cfg.split(','):
            cfg = _config(cfg_name, data, os.path.join(tmp, 'runs'), args)
            if args.inference_1x1:
                r = results[cfg_name] = measure_inference_1x1(cfg, args.repeats)
                print(f'{cfg_name:12s} G no-grad forward: grouped {r["grouped"] * 1000:.1f} ms, batched product '
                      f'{r["product"] * 1000:.1f} ms (x{r["ratio"]:.3f})', flush=True)
                continue
            if args.grad_ratio:
                results[cfg_name] = measure_grad_ratio(cfg, args.repeats, args.paths.split(','))
                _print_grad_ratio(cfg_name, results[cfg_name])
                continue
            sec_per_kimg = measure_loop(cfg, args.steps)
            shares = (dict(seconds={}, shares={}) if args.no_shares else
                      measure_shares(_config(cfg_name, data, os.path.join(tmp, 'runs'), args), args.repeats))
            results[cfg_name] = dict(sec_per_kimg=sec_per_kimg, load=timing.environment()['load'], **shares)
            ratio = (f'  (x{sec_per_kimg / results["stylegan2"]["sec_per_kimg"]:.2f} vs stylegan2)'
                     if 'stylegan2' in results and cfg_name != 'stylegan2' else '')
            share_text = ', '.join(f'{k} {v:.0%}' for k, v in shares['shares'].items())
            print(f'{cfg_name:12s} {sec_per_kimg:8.1f} s/kimg{ratio}  {share_text}', flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(args=vars(args), env=dict(env, load_after=timing.environment()['load']),
                           results=results), f, indent=2)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
