"""The CUDA kernels' index arithmetic, ported line by line to Python and checked on CPU.

Without a GPU the kernels cannot run here, so ``EmulatedExt`` executes the bodies of ``upfirdn2d_kernel`` and
``fused_kernel`` (ops/cuda/*.cu) block by block and thread-loop by thread-loop with the same integer math (C
truncating division, floor_div, pos_mod, tile sizes and shared-memory strides from the host code, the packed
mask), in float64. Driving the real plugin classes with it checks the tiling, the polyphase tap selection, the
padding and cropping, the adjoint passes and the mask against the PyTorch path. Keep it in sync with the .cu.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch

from ops.cuda import functions
from ops.filtered_lrelu import filtered_lrelu
from ops.upfirdn2d import upfirdn2d


def c_div(a: int, b: int) -> int:  # C's truncating division
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def c_mod(a: int, b: int) -> int:
    return a - c_div(a, b) * b


def floor_div(a: int, b: int) -> int:  # common.cuh
    q = c_div(a, b)
    return q - 1 if (c_mod(a, b) != 0 and ((a < 0) != (b < 0))) else q


def pos_mod(a: int, b: int) -> int:  # common.cuh
    r = c_mod(a, b)
    return r + b if r < 0 else r


class EmulatedExt:
    def __init__(self, tiles=((4, 4), (3, 2)), smem_limit=None):
        self.tiles = tiles
        self.smem_limit = smem_limit  # bytes; None picks the first tile

    def upfirdn2d(self, x, f, upx, upy, downx, downy, px0, px1, py0, py1):
        xn = x.detach().double().numpy()
        fn = f.double().numpy()
        N, C, H, W = xn.shape
        fh, fw = fn.shape
        outW = c_div(W * upx + px0 + px1 - fw + downx, downx)
        outH = c_div(H * upy + py0 + py1 - fh + downy, downy)
        y = np.zeros((N, C, outH, outW))
        for n in range(N):
            for c in range(C):
                for oy in range(outH):
                    for ox in range(outW):
                        rx, ry = ox * downx - px0, oy * downy - py0
                        kx0, ky0 = pos_mod(-rx, upx), pos_mod(-ry, upy)
                        acc = 0.0
                        for ky in range(ky0, fh, upy):
                            iy = c_div(ry + ky, upy)
                            if iy < 0 or iy >= H:
                                continue
                            for kx in range(kx0, fw, upx):
                                ix = c_div(rx + kx, upx)
                                if ix < 0 or ix >= W:
                                    continue
                                acc += xn[n, c, iy, ix] * fn[ky, kx]
                        y[n, c, oy, ox] = acc
        return torch.from_numpy(y).to(x.dtype)

    def fused(self, x, b, f1, f2, sep1, sep2, mask, up, down, p1x, p1y, p2x, p2y, midW, midH, outW, outH, gain,
              slope, clamp, mode, write_mask):
        xn = x.detach().double().numpy()
        bn = b.detach().double().numpy() if b.numel() else None
        F1, F2 = f1.double().numpy(), f2.double().numpy()
        N, C, H, W = xn.shape
        f1w, f2w = F1.shape[1], F2.shape[1]
        f1h, f2h = (f1w if sep1 else F1.shape[0]), (f2w if sep2 else F2.shape[0])
        nf1, nf2 = (f1h + f1w if sep1 else f1h * f1w), (f2h + f2w if sep2 else f2h * f2w)
        sf1, sf2 = F1.reshape(-1), F2.reshape(-1)  # the kernel's flat shared-memory copies
        words = mask.numpy().view(np.uint32).astype(np.int64) if mask.numel() else None

        def tile_dims(tw, th):  # set_tile()
            midTW, midTH = (tw - 1) * down + f2w, (th - 1) * down + f2h
            return midTW, midTH, c_div(midTW + f1w - 2, up) + 2, c_div(midTH + f1h - 2, up) + 2

        for tw, th in self.tiles:
            midTW, midTH, inTW, inTH = tile_dims(tw, th)
            extra = (inTH * midTW if sep1 else 0) + (midTH * tw if sep2 else 0)
            if self.smem_limit is None or 4 * (nf1 + nf2 + inTH * inTW + midTH * midTW + extra) <= self.smem_limit:
                break
        else:
            raise RuntimeError(functions.UNSUPPORTED + "filters too large for shared memory")
        y = np.full((N, C, outH, outW), np.nan)
        for by in range(c_div(outH + th - 1, th)):
            for bx in range(c_div(outW + tw - 1, tw)):
                ox0, oy0 = bx * tw, by * th
                mx0, my0 = ox0 * down - p2x, oy0 * down - p2y
                ix0, iy0 = floor_div(mx0 - p1x + up - 1, up), floor_div(my0 - p1y + up - 1, up)
                for plane in range(N * C):
                    n, c = c_div(plane, C), plane % C
                    bias = bn[c] if bn is not None else 0.0
                    sin = np.full(inTH * inTW, np.nan)
                    for i in range(inTH * inTW):
                        ix, iy = ix0 + i % inTW, iy0 + c_div(i, inTW)
                        sin[i] = xn[n, c, iy, ix] + bias if (0 <= ix < W and 0 <= iy < H) else 0.0
                    if sep1:
                        sh1 = np.full(inTH * midTW, np.nan)
                        for i in range(inTH * midTW):
                            tx, r = i % midTW, c_div(i, midTW)
                            rx = mx0 + tx - p1x
                            v = 0.0
                            for kx in range(pos_mod(-rx, up), f1w, up):
                                k = r * inTW - ix0 + c_div(rx + kx, up)
                                assert r * inTW <= k < (r + 1) * inTW, "input tile overrun (x pass)"
                                v += sin[k] * sf1[kx]
                            sh1[i] = v
                    smid = np.full(midTH * midTW, np.nan)
                    for i in range(midTH * midTW):
                        tx, ty = i % midTW, c_div(i, midTW)
                        mx, my = mx0 + tx, my0 + ty
                        v = 0.0
                        if 0 <= mx < midW and 0 <= my < midH:
                            rx, ry = mx - p1x, my - p1y
                            kx0, ky0 = pos_mod(-rx, up), pos_mod(-ry, up)
                            if sep1:
                                for ky in range(ky0, f1h, up):
                                    k = (c_div(ry + ky, up) - iy0) * midTW + tx
                                    assert 0 <= k < inTH * midTW, "row buffer overrun"
                                    v += sh1[k] * sf1[f1w + ky]
                            else:
                                for ky in range(ky0, f1h, up):
                                    row = (c_div(ry + ky, up) - iy0) * inTW - ix0
                                    for kx in range(kx0, f1w, up):
                                        k = row + c_div(rx + kx, up)
                                        assert 0 <= k - (row + ix0) < inTW and 0 <= k < inTH * inTW, "tile overrun"
                                        v += sin[k] * sf1[ky * f1w + kx]
                            midx = (plane * midH + my) * midW + mx
                            if mode == 0:
                                code = 0
                                if not v > 0:
                                    v, code = v * slope, 1
                                v *= gain
                                if clamp >= 0 and abs(v) > clamp:
                                    v, code = math.copysign(clamp, v), 2
                                if write_mask and code:
                                    words[midx >> 4] |= code << ((midx & 15) * 2)
                            else:
                                code = (words[midx >> 4] >> ((midx & 15) * 2)) & 3
                                v *= gain if code == 0 else (gain * slope if code == 1 else 0.0)
                        smid[i] = v
                    if sep2:
                        sh2 = np.full(midTH * tw, np.nan)
                        for i in range(midTH * tw):
                            t, r = i % tw, c_div(i, tw)
                            sh2[i] = sum(smid[r * midTW + t * down + kx] * sf2[kx] for kx in range(f2w))
                    for i in range(th * tw):
                        ox, oy = ox0 + i % tw, oy0 + c_div(i, tw)
                        if ox >= outW or oy >= outH:
                            continue
                        acc = 0.0
                        if sep2:
                            hbase = (oy - oy0) * down * tw + (ox - ox0)
                            for ky in range(f2h):
                                acc += sh2[hbase + ky * tw] * sf2[f2w + ky]
                        else:
                            base = (oy - oy0) * down * midTW + (ox - ox0) * down
                            for ky in range(f2h):
                                for kx in range(f2w):
                                    acc += smid[base + ky * midTW + kx] * sf2[ky * f2w + kx]
                        assert not math.isnan(acc), "read an unwritten shared-memory value"
                        y[n, c, oy, ox] = acc
        if write_mask and mode == 0:
            mask.copy_(torch.from_numpy(words.astype(np.uint32).view(np.int32)))
        assert not np.isnan(y).any(), "output sample not written"
        return torch.from_numpy(y).to(x.dtype)


def _filter(rng, taps, two_d):
    f = np.round((rng.standard_normal((taps, taps) if two_d else (taps,)) + 1.0) * 64) / 64
    return torch.tensor(f)


def test_upfirdn2d_kernel_index_math():
    plugin = functions.Upfirdn2dPlugin(EmulatedExt())
    rng = np.random.default_rng(3)
    done = 0
    while done < 25:
        up = tuple(int(v) for v in rng.choice([1, 2, 4], size=2))
        down = tuple(int(v) for v in rng.choice([1, 2, 4], size=2))
        f = _filter(rng, int(rng.integers(1, 8)), bool(rng.random() < 0.5))
        pad = tuple(int(p) for p in rng.integers(-3, 7, size=4))
        flip = bool(rng.random() < 0.5)
        x = torch.randn(1, 2, int(rng.integers(2, 7)), int(rng.integers(2, 7)), dtype=torch.float64)
        try:
            expected = upfirdn2d(x, f, up, down, pad, flip, 4.0, impl="torch")
        except ValueError:
            continue
        x.requires_grad_(True)
        y = plugin.upfirdn2d(x, f, up, down, pad, flip, 4.0)
        torch.testing.assert_close(y, expected)
        dy = torch.randn_like(y)
        x_ref = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(y, x, dy)
        y_ref = upfirdn2d(x_ref, f, up, down, pad, flip, 4.0, impl="torch")
        # (The PyTorch path returns a constant when no tap meets a sample; its gradient is then zero.)
        g_ref = torch.autograd.grad(y_ref, x_ref, dy)[0] if y_ref.requires_grad else torch.zeros_like(x)
        torch.testing.assert_close(g, g_ref)
        done += 1


@pytest.mark.parametrize("seed", range(8))
def test_fused_filtered_lrelu_kernel_index_math(seed):
    rng = np.random.default_rng(100 + seed)
    while True:
        up, down = (int(v) for v in rng.choice([1, 2, 4], size=2))
        two_d = bool(rng.random() < 0.4)
        fu = _filter(rng, int(rng.integers(1, 3)) * up, two_d) if rng.random() < 0.9 else None
        fd = _filter(rng, int(rng.integers(1, 3)) * down, two_d) if rng.random() < 0.9 else None
        pad = tuple(int(p) for p in rng.integers(-2, 6, size=4))
        h, w = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        fuw, fdw = (1 if fu is None else fu.shape[0]), (1 if fd is None else fd.shape[0])
        if min(w * up + pad[0] + pad[1], h * up + pad[2] + pad[3]) - fuw - fdw + 2 >= 1:
            break
    gain, slope = float(rng.uniform(0.5, 2)), float(rng.choice([0.25, 0.0, 1.0]))
    clamp = None if rng.random() < 0.4 else float(rng.uniform(0.3, 2))
    flip = bool(rng.random() < 0.5)
    tiles = [((4, 4),), ((3, 2),), ((1, 1),), ((8, 8),)][seed % 4]
    plugin = functions.FilteredLreluPlugin(EmulatedExt(tiles))
    x = torch.randn(1, 2, h, w, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    y = plugin.filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip)
    y_ref = filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip, impl="torch")
    torch.testing.assert_close(y, y_ref)
    dy = torch.randn_like(y)
    for a, r in zip(torch.autograd.grad(y, (x, b), dy), torch.autograd.grad(y_ref, (x, b), dy), strict=True):
        torch.testing.assert_close(a, r)


def test_tile_shrinks_to_fit_shared_memory_or_falls_back(monkeypatch, caplog):
    from ops import plugin as ops_plugin

    monkeypatch.setattr(ops_plugin, "_said", set())
    f = torch.ones(8, dtype=torch.float64) / 8
    x = torch.randn(1, 1, 6, 6, dtype=torch.float64)
    ref = filtered_lrelu(x, f, f, None, 2, 2, 7, impl="torch")
    # A 2x2 output tile: 8+8 taps per filter, 10x10 input and mid tiles, 10x10 and 10x2 row buffers.
    ext = EmulatedExt(tiles=((16, 16), (2, 2)), smem_limit=4 * (16 + 16 + 10 * 10 + 10 * 10 + 10 * 10 + 10 * 2))
    plugin = functions.FilteredLreluPlugin(ext)
    torch.testing.assert_close(plugin.filtered_lrelu(x, f, f, None, 2, 2, (7, 7, 7, 7), math.sqrt(2), 0.2, None,
                                                     False), ref)
    ext.smem_limit = 100
    with caplog.at_level(logging.WARNING, logger="aliasfree.ops"):
        y = plugin.filtered_lrelu(x, f, f, None, 2, 2, (7, 7, 7, 7), math.sqrt(2), 0.2, None, False)
    assert any("filters too large for shared memory" in r.getMessage() for r in caplog.records)
    torch.testing.assert_close(y, ref)
