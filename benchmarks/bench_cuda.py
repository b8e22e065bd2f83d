"""Fused CUDA kernels vs the PyTorch path on the GPU (ratios from one run). Needs CUDA; exits 0 with a note
elsewhere.

    python -m benchmarks.bench_cuda [--res 1024] [--repeats 10] [--skip-generator]

1. filtered_lrelu at the size of every SG3-T layer (batch 1): ms and peak memory, fused vs PyTorch path.
2. Whole generator forward, SG3-T and SG3-R, batch 1 and 8: images/s with kernels vs without.
Timing: torch.cuda.synchronize() around perf_counter, best of --repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from ops import backend


def _best(fn, repeats):
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_mib(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def bench_layers(G, repeats):
    from ops.filtered_lrelu import filtered_lrelu

    print(f"{'layer':>14} {'up':>3} {'down':>4} {'fused ms':>9} {'torch ms':>9} {'speed-up':>8} {'MiB f/t':>13}")
    tot = {"cuda": 0.0, "torch": 0.0}
    for name in G.synthesis.layer_names:
        L = getattr(G.synthesis, name)
        k = L.conv_kernel - 1
        x = torch.randn(1, L.out_channels, int(L.in_size[1]) + k, int(L.in_size[0]) + k, device="cuda")
        kw = dict(fu=L.up_filter, fd=L.down_filter, b=L.bias, up=L.up_factor, down=L.down_factor, padding=L.padding,
                  gain=1 if L.is_torgb else math.sqrt(2), slope=1 if L.is_torgb else 0.2, clamp=L.conv_clamp)
        ms, mem = {}, {}
        for impl in ("cuda", "torch"):
            ms[impl] = _best(lambda impl=impl, x=x, kw=kw: filtered_lrelu(x, **kw, impl=impl), repeats) * 1e3
            mem[impl] = _peak_mib(lambda impl=impl, x=x, kw=kw: filtered_lrelu(x, **kw, impl=impl))
            tot[impl] += ms[impl]
        print(f"{name:>14} {L.up_factor:>3} {L.down_factor:>4} {ms['cuda']:9.3f} {ms['torch']:9.3f} "
              f"{ms['torch'] / ms['cuda']:7.1f}x {mem['cuda']:6.0f}/{mem['torch']:<6.0f}")
    print(f"{'total':>14} {'':>3} {'':>4} {tot['cuda']:9.3f} {tot['torch']:9.3f} {tot['torch'] / tot['cuda']:7.1f}x")


def bench_generators(res, repeats):
    from networks.stylegan3 import Generator

    for cfg, kw in (("stylegan3-t", {}), ("stylegan3-r", dict(conv_kernel=1, use_radial_filters=True,
                                                                channel_base=65536, channel_max=1024))):
        G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3, **kw).cuda().eval()
        for batch in (1, 8):
            z = torch.randn(batch, 512, device="cuda")
            rate = {}
            for impl in ("cuda", "torch"):
                backend.set_default_impl(impl)
                with torch.no_grad():
                    rate[impl] = batch / _best(lambda G=G, z=z: G(z, None, noise_mode="const"), repeats)
            backend.set_default_impl("auto")
            print(f"{cfg}-{res} batch {batch}: {rate['cuda']:.2f} img/s with kernels, {rate['torch']:.2f} without "
                  f"({rate['cuda'] / rate['torch']:.1f}x)")
        del G
        torch.cuda.empty_cache()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip-generator", action="store_true")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_cuda: skipped, needs a CUDA device")
        return 0
    from networks.stylegan3 import Generator
    from ops.cuda import build

    status = build.warm_up_async()
    print(f"building kernels: {status.wait()}")
    if status.status != "ready":
        return 1
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=args.res, img_channels=3).cuda()
    bench_layers(G, args.repeats)
    del G
    if not args.skip_generator:
        bench_generators(args.res, args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
