"""3x3 convolutions of the generators, by Winograd's F(2x2, 3x3) on the CPU where that is faster.

:func:`conv2d` is ``torch.nn.functional.conv2d`` (stride 1, symmetric padding) with one difference: a float32
call on the CPU that needs no gradient, with a 3x3 kernel and enough channels and pixels, runs the Winograd
convolution of ``ops/cpu/winograd.cpp`` (built into the fused CPU op's module, ``ops/cpu/build.py``).
:func:`modulated` is StyleGAN3's modulated convolution in that form. F(2x2, 3x3) needs 16 multiplications
per 2x2 outputs and channel pair instead of 36. On a 2-core CPU it took 0.5-0.95x the time of PyTorch's
(oneDNN) direct convolution per SG3-T-256 layer, 0.63x over the layers that use it at batch 1 and 0.55x at
batch 4 (``python -m benchmarks.bench_conv3x3``). Its float32 rounding error is about 1.5x a direct
convolution's (both against float64; F(2x2, 3x3)'s transforms only add, subtract and halve), so images
differ from the direct path's by float32 rounding only.

Everything else (gradients, float64, float16, CUDA, 1x1 kernels, few channels or pixels, ``impl='torch'`` or
``ALIASFREE_OPS_IMPL=torch``, ``ALIASFREE_CPU_OPS=0``, a failed build or self-check) is the plain call. The
convolution is the :class:`ops.plugin.Plugin` :data:`WINOGRAD`: it requires the fused CPU module and its own
self-check against ``F.conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import backend, plugin
from .cpu import build as _cpu_build  # the lazily built CPU module holds the convolution

# Below these sizes the transforms and the smaller matrix products cost about what the saved multiplications
# save, or more (measured per layer size against F.conv2d: benchmarks/bench_conv3x3.py).
MIN_CHANNELS = 128  # input and output channels (per group)
MIN_WORK = 1 << 18  # min(channels) x 2x2 output tiles of all images: 512 channels from 46x46 outputs at batch 1
#                     (from 23x23 at batch 4), 128 channels from 91x91 at batch 1
PROFILER_NAME = "aliasfree::winograd_conv3x3"  # how the profiler names a call (benchmarks count it as convolution)
TILE_BLOCK = 256  # tiles per task: the task's buffers (16 x channels x tiles) stay in the cache levels


def _run(module, x, w, pad: int, per_image: bool, in_scale=None, out_scale=None) -> torch.Tensor:
    """The C++ call on x [N, C, H, W] (module docstring of winograd.cpp); empty scales are ones."""
    empty = torch.empty(0, dtype=x.dtype)
    n, h, wd = x.shape[0], x.shape[2], x.shape[3]
    y = torch.empty([n, w.shape[0] // (n if per_image else 1), h + 2 * pad - 2, wd + 2 * pad - 2], dtype=x.dtype)
    with torch.profiler.record_function(PROFILER_NAME):
        module.winograd_conv3x3(x.contiguous(), w.contiguous(),
                                empty if in_scale is None else in_scale.to(x.dtype).contiguous(),
                                empty if out_scale is None else out_scale.to(x.dtype).contiguous(),
                                pad, per_image, TILE_BLOCK, y)
    return y


def _self_check(module) -> str | None:
    """None when the Winograd convolution reproduces F.conv2d on small float64 and float32 cases."""
    g = torch.Generator().manual_seed(0)
    for dtype, tol in ((torch.float64, 1e-11), (torch.float32, 1e-4)):
        for n, c, o, h, w, pad, per_image in ((2, 5, 7, 9, 11, 2, True), (2, 3, 4, 6, 5, 1, False)):
            x = torch.randn(n, c, h, w, generator=g, dtype=dtype)
            wt = torch.randn(o * (n if per_image else 1), c, 3, 3, generator=g, dtype=dtype)
            a, d = torch.rand(n, c, generator=g, dtype=dtype), torch.rand(n, o, generator=g, dtype=dtype)
            if per_image:
                ref = F.conv2d((x * a[:, :, None, None]).reshape(1, n * c, h, w), wt, padding=pad, groups=n)
                ref = ref.reshape(n, o, h + 2 * pad - 2, w + 2 * pad - 2)
            else:
                ref = F.conv2d(x * a[:, :, None, None], wt, padding=pad)
            err = float((_run(module, x, wt, pad, per_image, a, d) - ref * d[:, :, None, None]).abs().max())
            if not err <= tol:
                return f"max |Winograd - conv2d| = {err:.3g} ({dtype})"
    return None


def _load(module):
    if not hasattr(module, "winograd_conv3x3"):
        raise plugin.Unavailable("the fused CPU module has no winograd_conv3x3")
    return module


WINOGRAD = plugin.Plugin("cpu/winograd_conv3x3", _load, lambda module: _self_check(module),
                         label="Winograd CPU convolution", device="cpu", fallback="conv2d",
                         requires=_cpu_build.FUSED)
backend.register_cpu_plugin("conv3x3", WINOGRAD.get)


def _symmetric_padding(padding) -> int | None:
    if isinstance(padding, int):
        return padding
    if isinstance(padding, (list, tuple)) and len(padding) == 2 and padding[0] == padding[1]:
        return int(padding[0])
    return None


def _eligible(x: torch.Tensor, w: torch.Tensor, pad: int | None, in_channels: int, out_channels: int,
              images: int, impl: str) -> bool:
    if x.device.type != "cpu" or x.dtype != torch.float32 or w.dtype != torch.float32 or x.ndim != 4:
        return False
    if tuple(w.shape[2:]) != (3, 3) or pad is None or not 0 <= pad <= 2:
        return False
    if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
        return False
    tiles = images * ((x.shape[2] + 2 * pad - 1) // 2) * ((x.shape[3] + 2 * pad - 1) // 2)
    if min(in_channels, out_channels) < MIN_CHANNELS or min(in_channels, out_channels) * tiles < MIN_WORK:
        return False
    try:
        return backend.resolve_impl("conv3x3", x, impl) == "cpu"
    except ValueError:  # e.g. a global default of 'cuda' with a CPU tensor: the plain convolution decides
        return False


def winograd_eligible(x: torch.Tensor, w: torch.Tensor, padding, groups: int = 1, impl: str = "auto") -> bool:
    """Whether :func:`conv2d` takes the Winograd path for this call when the module is available."""
    if groups > 1 and x.shape[0] != 1:
        return False
    images = x.shape[0] * groups  # a grouped call (one image) holds one image's worth of channels per group
    return _eligible(x, w, _symmetric_padding(padding), x.shape[1] // groups, w.shape[0] // groups, images, impl)


def conv2d(x: torch.Tensor, w: torch.Tensor, padding=0, groups: int = 1, impl: str = "auto") -> torch.Tensor:
    """``F.conv2d(x, w, padding=padding, groups=groups)``; Winograd on the CPU when eligible (module docstring).

    Groups are taken only with one image (NVlabs' grouped modulated convolution: one weight set per image).
    """
    if winograd_eligible(x, w, padding, groups, impl):
        module = WINOGRAD.get()
        if module is not None:
            n, c, h, wd = x.shape
            y = _run(module, x.reshape(n * groups, c // groups, h, wd), w, _symmetric_padding(padding), groups > 1)
            return y.reshape(n, -1, *y.shape[2:])
    return F.conv2d(x, w, padding=padding, groups=groups)


def modulated(x: torch.Tensor, w: torch.Tensor, in_scale: torch.Tensor, out_scale: torch.Tensor | None,
              padding: int, impl: str = "auto") -> torch.Tensor | None:
    """``conv2d(x * in_scale[n, c], w) * out_scale[n, o]`` with w [O, C, 3, 3] shared by the images, by Winograd,
    or None when this call is not eligible (the caller then forms it its own way).

    A modulated convolution whose coefficients factor as s[n, i] d[n, o] (StyleGAN's modulation times
    demodulation): the weights are transformed once for every image instead of once per image, and the
    scales are applied while the tiles are transformed, so no per-image weight tensor is made.
    """
    if not _eligible(x, w, _symmetric_padding(padding), x.shape[1], w.shape[0], x.shape[0], impl):
        return None
    if torch.is_grad_enabled() and (in_scale.requires_grad or (out_scale is not None and out_scale.requires_grad)):
        return None
    module = WINOGRAD.get()
    return None if module is None else _run(module, x, w, int(padding), False, in_scale, out_scale)
