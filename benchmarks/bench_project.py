"""Projection speed on the CPU: steps/s, and time per step over one G forward + backward (the floor).

    python -m benchmarks.bench_project [--res 32] [--steps 10] [--threads N] [--full] [--warmup 3] [--d-every 1 4]

By default a small StyleGAN3-T and StyleGAN2 (channel_base 512, channel_max 32, w_dim 16, so that the run takes
under a minute on two shared cores); with ``--full`` the papers' capacity (z/w 512, channel_base 32768, channel_max
512: ``--full --res 256`` is SG3-T-256 and SG2-256, seconds per step on a CPU, so cap ``--steps``). Measured in
one run:
  floor     one synthesis forward + backward to ws (what any gradient step must pay)
  pixels    one projection step with the multi-scale pixel loss (SG2: plus noise maps and their regulariser)
  +D k=K    the same with the discriminator-feature term (a D of the same size, built here), evaluated every K
            steps at K times its weight (``project(d_every=K)``; K=1: every step). Its step time is the mean over
            K consecutive steps (one cycle, exactly one of them with D), the median over the cycles of the run: a
            lazy term's cost is never hidden by timing only the steps without it.
Ratios are medians over the floor's median (``benchmarks/timing.py``; the floor is timed after its warm-up both
before and after the steps, so that its samples span the same minutes). The machine is shared: absolute figures
vary with its load, which is printed with the machine and commit.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from analysis.projection import project
from networks.stylegan2 import Discriminator
from networks.stylegan2 import Generator as G2
from networks.stylegan3 import Generator as G3

from . import timing


def _capacity(full: bool) -> dict:
    """Channel base / max and z, w widths: the papers' (``full``) or a small network's."""
    return dict(channel_base=32768, channel_max=512, dim=512) if full else dict(channel_base=512, channel_max=32,
                                                                                dim=16)


def _networks(res: int, full: bool = False) -> dict[str, torch.nn.Module]:
    cap = _capacity(full)
    common = dict(z_dim=cap['dim'], c_dim=0, w_dim=cap['dim'], img_resolution=res, img_channels=3,
                  channel_base=cap['channel_base'], channel_max=cap['channel_max'])
    torch.manual_seed(0)
    # SG2 first: on a busy machine its row arrives long before SG3-T-256's
    return {'SG2': G2(**common).eval().requires_grad_(False),
            'SG3-T': G3(**common, output_scale=2.0).eval().requires_grad_(False)}


def _floor(G: torch.nn.Module, repeats: int, warmup: int = 3) -> list[float]:
    """Seconds of one synthesis forward + backward to ws, ``repeats`` samples after ``warmup`` untimed passes."""
    with torch.no_grad():  # a real w (all-zero ws would time a degenerate case)
        ws = G.mapping(torch.randn(1, G.z_dim), None).requires_grad_(True)
    # warm-up: the first calls are several times slower here
    stats = timing.measure(lambda: G.synthesis(ws, noise_mode='const').square().mean().backward(), repeats,
                           warmup, env=False)
    return list(stats.samples)


def _step_time(G: torch.nn.Module, target: torch.Tensor, steps: int, D: torch.nn.Module | None,
               d_every: int = 1) -> float:
    """Seconds per step: the median mean over ``d_every`` consecutive steps (``steps`` is raised to one more than
    that, so that there is one whole cycle after the first step)."""
    stamps: list[float] = []
    project(G, target, num_steps=max(steps, d_every + 1), D=D, d_every=d_every, w_avg_samples=1000,
            callback=lambda s: stamps.append(time.perf_counter()))
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]  # per-step times, without the w_avg sampling and setup
    # Any d_every consecutive steps hold exactly one D evaluation (steps 0, k, 2k, ...).
    return timing.summarize(sum(gaps[i:i + d_every]) / d_every for i in range(len(gaps) - d_every + 1)).median


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--res', type=int, default=32)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: leave as is)')
    parser.add_argument('--full', action='store_true', help="the papers' capacity (channel_base 32768, w 512)")
    parser.add_argument('--d-every', type=int, nargs='+', default=[4], metavar='K',
                        help='D-feature term every K steps (one +D column per K; 1: every step)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed G forward+backward passes before the floor')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    cap = _capacity(args.full)
    for name, G in _networks(args.res, args.full).items():
        torch.manual_seed(1)
        D = Discriminator(c_dim=0, img_resolution=args.res, img_channels=3, channel_base=cap['channel_base'],
                          channel_max=cap['channel_max']).eval()
        with torch.no_grad():
            target = G(torch.randn(1, G.z_dim), None, noise_mode='const')
        env = timing.environment()
        floor_samples = _floor(G, args.steps, args.warmup)
        pixels = _step_time(G, target, args.steps, None)
        with_d = {k: _step_time(G, target, args.steps, D, k) for k in args.d_every}
        # again after the steps (no warm-up needed now): the median of both spans the minutes the steps ran in
        floor = timing.summarize(floor_samples + _floor(G, args.steps, 0)).median
        env['load_after'] = timing.environment()['load']
        print(f'{name}-{args.res}: floor {floor:.3f} s, step {pixels:.3f} s, '
              + ', '.join(f'+D k={k} {t:.3f} s' for k, t in with_d.items()) + f'; {timing.describe(env)}',
              flush=True)
        rows.append(dict(net=name, res=args.res, env=env, floor_ms=floor * 1e3, step_ms=pixels * 1e3,
                         steps_per_s=1 / pixels,
                         ratio=pixels / floor, d={k: dict(step_ms=t * 1e3, steps_per_s=1 / t, ratio=t / floor)
                                                  for k, t in with_d.items()}))
    d_head = ''.join(f' step, +D k={k} | steps/s | ratio |' for k in args.d_every)
    print('| net | floor (G fwd+bwd) | step, pixels | steps/s | ratio |' + d_head)
    print('| --- ' * (5 + 3 * len(args.d_every)) + '|')
    for r in rows:
        d_cols = ''.join(f" {d['step_ms']:.1f} ms | {d['steps_per_s']:.2f} | {d['ratio']:.2f} |"
                         for d in r['d'].values())
        print(f"| {r['net']}-{r['res']} | {r['floor_ms']:.1f} ms | {r['step_ms']:.1f} ms | {r['steps_per_s']:.2f} | "
              f"{r['ratio']:.2f} |" + d_cols)
    print(json.dumps(rows))


if __name__ == '__main__':
    main()
