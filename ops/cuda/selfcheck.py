"""Self-check of a freshly built kernel plugin on the GPU it will run on, before ``impl='auto'`` trusts it.

A kernel that compiles is not yet a kernel that computes the right thing on this card (a new architecture, a
compiler bug, a miscompiled template). So, once per op and process, :func:`self_check` runs the plugin on tiny
random inputs and compares its forward pass and input gradients with the PyTorch path on the same device:
float32 within :data:`TOLERANCE` relative to the largest reference magnitude, float16 forward within
:data:`TOLERANCE_HALF` of the float32 reference. A few milliseconds. The inputs come from a private generator,
so the check never moves the user's random state, and it runs with autocast off and gradients on whatever
context the first op call came from (``torch.no_grad``, inference mode, autocast).

The result is a one-line error (which case, which quantity, how far off) or None when the plugin passed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

TOLERANCE = 1e-4  # looser than the 1e-5 parity target: this catches wrong kernels, not rounding
TOLERANCE_HALF = 2e-2


def _rand(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).float()


def _lowpass(gen: torch.Generator, taps: int) -> torch.Tensor:
    """A random 1-D filter with unit DC gain (like the networks' filters, but not symmetric: flips matter)."""
    f = torch.rand(taps, generator=gen, dtype=torch.float64).float() + 0.5
    return f / f.sum()


def _cases(op: str, gen: torch.Generator) -> list[tuple[str, Callable, Callable, list[torch.Tensor]]]:
    """(name, plugin call, reference call, inputs) for ``op``; the calls take (impl_object, *inputs)."""
    from ..bias_act import bias_act
    from ..filtered_lrelu import filtered_lrelu
    from ..upfirdn2d import upfirdn2d

    if op == "bias_act":
        def ba(act, clamp):
            return (lambda p, x, b: p.bias_act(x, b, 1, act, 0.2, math.sqrt(2), clamp),
                    lambda x, b: bias_act(x, b, 1, act, 0.2, math.sqrt(2), clamp, impl="torch"))

        return [(f"bias_act {act} clamp {clamp}", *ba(act, clamp), [_rand(gen, 2, 5, 6, 7), _rand(gen, 5)])
                for act, clamp in (("lrelu", 0.9), ("tanh", None))]
    if op == "upfirdn2d":
        f1, f2 = _lowpass(gen, 4), _lowpass(gen, 3)[:, None] * _lowpass(gen, 5)[None, :]
        return [
            ("upfirdn2d up 2, separable 4-tap filter",
             lambda p, x: p.upfirdn2d(x, f1, (2, 2), (1, 1), (2, 1, 2, 1), False, 4.0),
             lambda x: upfirdn2d(x, f1, 2, 1, (2, 1, 2, 1), False, 4.0, impl="torch"), [_rand(gen, 2, 3, 9, 8)]),
            ("upfirdn2d down 2, 3x5 filter, flipped",
             lambda p, x: p.upfirdn2d(x, f2, (1, 1), (2, 2), (1, 2, 2, 1), True, 1.0),
             lambda x: upfirdn2d(x, f2, 1, 2, (1, 2, 2, 1), True, 1.0, impl="torch"), [_rand(gen, 2, 3, 11, 10)]),
        ]
    if op == "filtered_lrelu":
        fu, fd = _lowpass(gen, 12), _lowpass(gen, 12)
        fr = _lowpass(gen, 12)[:, None] * _lowpass(gen, 12)[None, :]  # a 2-D down filter, as SG3-R's radial ones
        pad = (11, 10, 11, 10)  # an SG3-T layer's geometry: 12-tap filters, up 2, down 2

        def fl(fd_, clamp):
            return (lambda p, x, b: p.filtered_lrelu(x, fu, fd_, b, 2, 2, pad, math.sqrt(2), 0.2, clamp, False),
                    lambda x, b: filtered_lrelu(x, fu, fd_, b, 2, 2, pad, math.sqrt(2), 0.2, clamp, impl="torch"))

        return [("filtered_lrelu up 2 down 2, separable filters, clamp 1", *fl(fd, 1.0),
                 [_rand(gen, 2, 4, 10, 9), _rand(gen, 4)]),
                ("filtered_lrelu up 2 down 2, 2-D down filter", *fl(fr, None),
                 [_rand(gen, 1, 3, 8, 11), _rand(gen, 3)])]
    raise ValueError(f"self_check: unknown op {op!r}")


def _rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    expected = expected.float()
    scale = expected.abs().max().clamp_min(1e-6)
    err = (actual.float() - expected).abs().max() / scale
    return float(err) if torch.isfinite(err) else math.inf


def _check_case(plugin, run_plugin, run_ref, inputs, device) -> str | None:
    gen = torch.Generator().manual_seed(1)
    results = []
    for use_plugin in (True, False):
        xs = [t.to(device).requires_grad_(True) for t in inputs]
        y = run_plugin(plugin, *xs) if use_plugin else run_ref(*xs)
        dy = _rand(gen, *y.shape).to(device) if use_plugin else results[0][2]
        grads = torch.autograd.grad(y, xs, dy)
        results.append((y.detach(), [g.detach() for g in grads], dy))
    (y, grads, _), (y_ref, grads_ref, _) = results
    if y.shape != y_ref.shape:
        return f"output shape {tuple(y.shape)}, expected {tuple(y_ref.shape)}"
    err = _rel_err(y, y_ref)
    if err > TOLERANCE:
        return f"forward relative error {err:.3g} > {TOLERANCE:g}"
    for i, (g, g_ref) in enumerate(zip(grads, grads_ref, strict=True)):
        err = _rel_err(g, g_ref)
        if err > TOLERANCE:
            return f"gradient of input {i} relative error {err:.3g} > {TOLERANCE:g}"
    # float16: the kernels' half instantiations, against the float32 reference on the same rounded inputs.
    halves = [t.to(device).half() for t in inputs]
    with torch.no_grad():
        y16 = run_plugin(plugin, *halves)
        ref16 = run_ref(*[h.float() for h in halves])
    if y16.dtype != torch.float16:
        return f"float16 input gave a {y16.dtype} output"
    err = _rel_err(y16, ref16)
    if err > TOLERANCE_HALF:
        return f"float16 forward relative error {err:.3g} > {TOLERANCE_HALF:g}"
    return None


def self_check(op: str, plugin: object, device: torch.device | str) -> str | None:
    """None when ``plugin`` computes ``op`` like the PyTorch path on ``device``, else a one-line reason."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode(False), torch.enable_grad(), torch.autocast(device.type, enabled=False):
        for name, run_plugin, run_ref, inputs in _cases(op, gen):
            try:
                problem = _check_case(plugin, run_plugin, run_ref, inputs, device)
            except Exception as e:  # noqa: BLE001 -- a kernel that raises (bad launch, no image for this GPU) fails
                problem = f"raised {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
            if problem:
                return f"{name}: {problem}"
    return None
