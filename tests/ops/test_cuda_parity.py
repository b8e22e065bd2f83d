"""GPU parity of the fused CUDA kernels with the PyTorch path (``make test-gpu`` = ``pytest -m cuda``).

Skipped without CUDA. Every comparison runs with TF32 off (matmul and cuDNN), no cuDNN autotuning and cuDNN's
deterministic algorithms (``exact_float32``), so that float32 means float32 on both paths and no tolerance has to
absorb TF32's 10-bit mantissa or which algorithm an autotuner picked for each path.

The inputs are rounded to the tested dtype first, and every path and reference gets those same values.
Tolerances, relative to the largest reference magnitude: float32 <= 1e-5 forward, 4e-5 gradients; float16
<= 1e-2 forward, 4e-2 gradients (bias_act, upfirdn2d: against the float32 PyTorch path).

filtered_lrelu is compared with a float64 reference (``filtered_lrelu_reference``: bias, upsampling, leaky ReLU
with gain and clamp, downsampling, composed from the PyTorch path's upfirdn2d in float64), with one allowance
beyond the tolerance: where the pre-activation lies within rounding of a branch point of the activation (0, and
+-clamp / gain on either slope), the tested path may take the other branch, which changes the activation's
derivative there wholesale (by gain * |1 - slope| at 0, by gain or gain * slope at a clamp). "Within rounding"
is |v - t| <= 8 u (S + |t|), u the dtype's unit roundoff and S the sum of the absolute terms that make up v (the
usual bound of a sum's rounding error, with room for the bias add and two rounded stages). A gradient element may
then differ from the reference by the tolerance plus the sum, over those near-branch positions that feed it (the
upsampling filter's taps), of |tap| * the jump there * |the upstream gradient there|; nothing else is excused.
The forward pass needs no allowance (the activation is continuous). ``tests/benchmarks/test_parity_criterion.py``
checks this rule on the CPU: the reference against the PyTorch path, flips planted near and far from a branch
point, and the PyTorch path's own float16 results.

Strict: a plugin that hands a call to the PyTorch path raises (``ALIASFREE_OPS_STRICT=1``) and any recorded
fallback fails the test, so no case can compare the PyTorch path with itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from ops import backend, plugin
from ops.bias_act import activation_funcs, bias_act
from ops.cuda import build
from ops.filtered_lrelu import filtered_lrelu
from ops.upfirdn2d import upfirdn2d

__all__ = ["FilteredLreluCase", "FilteredLreluReference", "assert_within", "check_filtered_lrelu",
           "filtered_lrelu_cases", "filtered_lrelu_reference"]

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
TOL = {torch.float32: 1e-5, torch.float16: 1e-2}
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.float32: 2.0**-24, torch.float64: 2.0**-53}
BRANCH_MARGIN = 8  # unit roundoffs of the terms' absolute sum: how far from a branch point a decision may flip


@pytest.fixture(scope="module", autouse=True)
def exact_float32():
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
             torch.backends.cudnn.deterministic)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    yield
    (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark,
     torch.backends.cudnn.deterministic) = saved


@pytest.fixture(scope="module", autouse=True)
def kernels_built(exact_float32):
    for op in build.OPS:
        if build.KERNELS[op].get() is None:  # includes the self-check on this GPU
            pytest.fail(f"the {op} kernels are not usable: {build.KERNELS[op].status_text()}")


@pytest.fixture(autouse=True)
def no_fallback(monkeypatch):
    monkeypatch.setenv("ALIASFREE_OPS_STRICT", "1")
    before = len(plugin.fallbacks)
    yield
    assert plugin.fallbacks[before:] == [], "a fused kernel fell back to the PyTorch path"


def assert_rel_close(actual, expected, tol, what=""):
    expected = expected.float()
    scale = expected.abs().max().clamp_min(1e-6)
    err = (actual.float() - expected).abs().max() / scale
    assert err <= tol, f"{what}: relative error {err:.3g} > {tol}"


def assert_within(actual: torch.Tensor, expected: torch.Tensor, tol: float, allowance: torch.Tensor | None = None,
                  what: str = "") -> None:
    """|actual - expected| <= tol * max|expected| + allowance, elementwise (``allowance``: what flipped branch
    decisions may change there; none by default). The message gives the worst excess relative to max|expected|
    and the plain relative error."""
    expected = expected.double()
    err = (actual.double() - expected).abs()
    scale = float(expected.abs().max().clamp_min(1e-12))
    excess = err if allowance is None else err - allowance.double()
    worst = float(excess.max()) / scale
    if worst > tol:
        excused = 0 if allowance is None else int((allowance > 0).sum())
        raise AssertionError(f"{what}: relative error {worst:.3g} > {tol} beyond the allowance for flipped branch "
                             f"decisions ({excused} elements have one; plain relative error "
                             f"{float(err.max()) / scale:.3g})")


def _run_both(fn, inputs, dtype, memory_format):
    """Forward and input gradients of fn with impl='cuda' (dtype) and impl='torch' (float32 reference), both on
    the inputs rounded to dtype."""
    results = []
    inputs = [t.to(dtype) for t in inputs]
    for impl, dt in (("cuda", dtype), ("torch", torch.float32)):
        xs = [t.to(dt).contiguous(memory_format=memory_format if t.ndim == 4 else torch.contiguous_format)
              .detach().requires_grad_(True) for t in inputs]
        y = fn(*xs, impl=impl)
        dy = torch.randn(y.shape, generator=torch.Generator(device="cuda").manual_seed(1), device="cuda").to(dtype)
        grads = torch.autograd.grad(y, xs, dy.to(dt))
        results.append((y, grads))
    return results


def _filter(rng, taps, two_d, device="cuda"):
    f = rng.standard_normal((taps, taps) if two_d else (taps,)) + 1.0
    return torch.tensor(f / f.sum(), dtype=torch.float32, device=device)


# ----------------------------------------------------------------------------------------------------------
# filtered_lrelu: the float64 reference and the allowance for flipped branch decisions


@dataclass
class FilteredLreluCase:
    """One call of filtered_lrelu: float32 inputs and its parameters."""

    x: torch.Tensor
    b: torch.Tensor
    fu: torch.Tensor | None
    fd: torch.Tensor | None
    up: int
    down: int
    padding: list[int]
    gain: float
    slope: float
    clamp: float | None
    flip: bool

    def params(self) -> dict:
        return dict(fu=self.fu, fd=self.fd, up=self.up, down=self.down, padding=self.padding, gain=self.gain,
                    slope=self.slope, clamp=self.clamp, flip_filter=self.flip)

    def describe(self) -> str:
        return (f"up {self.up} down {self.down} pad {self.padding} gain {self.gain:.2f} slope {self.slope} "
                f"clamp {self.clamp} x {tuple(self.x.shape)}")


def filtered_lrelu_cases(seed: int, device: str, count: int) -> Iterator[FilteredLreluCase]:
    """``count`` random valid cases: factors 1/2/4, filters of 1-4 taps per factor (1-D or 2-D, or none),
    paddings -2..11, gains, slopes 0/0.2/0.5/1, clamps or none, flipped filters; the values come from a CPU
    generator, so that a seed gives the same cases on every device."""
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < count:
        up, down = (int(v) for v in rng.choice([1, 2, 4], size=2))
        two_d = bool(rng.random() < 0.3)
        fu = _filter(rng, int(rng.integers(1, 5)) * up, two_d, device) if rng.random() < 0.9 else None
        fd = _filter(rng, int(rng.integers(1, 5)) * down, two_d, device) if rng.random() < 0.9 else None
        pad = [int(p) for p in rng.integers(-2, 12, size=4)]
        gain, slope = float(rng.uniform(0.5, 2)), float(rng.choice([0.2, 0.0, 0.5, 1.0]))
        clamp = None if rng.random() < 0.4 else float(rng.uniform(0.2, 3))
        flip = bool(rng.random() < 0.3)
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(3, 40)), int(rng.integers(3, 40)))
        x = torch.randn(shape, generator=gen).to(device)
        b = torch.randn(shape[1], generator=gen).to(device)
        case = FilteredLreluCase(x, b, fu, fd, up, down, pad, gain, slope, clamp, flip)
        try:
            filtered_lrelu(x, b=b, **case.params(), impl="torch")
        except ValueError:
            continue
        done += 1
        yield case


@dataclass
class FilteredLreluReference:
    """filtered_lrelu in float64 and what flipped branch decisions may change (module docstring)."""

    y: torch.Tensor
    dx: torch.Tensor
    db: torch.Tensor
    v: torch.Tensor  # the pre-activation (upsampled grid)
    ga: torch.Tensor  # the upstream gradient at the activation's output (upsampled grid)
    jump: torch.Tensor  # the activation's largest change of derivative near a branch point there, 0 elsewhere
    allowance_dx: torch.Tensor
    allowance_db: torch.Tensor


def upsample(x: torch.Tensor, case: FilteredLreluCase, f: torch.Tensor | None) -> torch.Tensor:
    """filtered_lrelu's first stage with filter ``f``: upsampling by ``case.up`` with its padding."""
    return upfirdn2d(x, f, case.up, 1, case.padding, case.flip, case.up**2, impl="torch")


def upsample_adjoint(t: torch.Tensor, x_shape, case: FilteredLreluCase, f: torch.Tensor | None) -> torch.Tensor:
    """The adjoint of ``upsample`` with filter ``f`` applied to ``t`` (the gradient of the linear map)."""
    probe = torch.zeros(x_shape, dtype=t.dtype, device=t.device, requires_grad=True)
    with torch.enable_grad():
        (out,) = torch.autograd.grad(upsample(probe, case, f), probe, t)
    return out


def filtered_lrelu_reference(case: FilteredLreluCase, x: torch.Tensor, b: torch.Tensor, dy: torch.Tensor,
                             dtype: torch.dtype) -> FilteredLreluReference:
    """The reference for a path computing in ``dtype`` on the inputs ``x``, ``b`` (already ``dtype`` values)
    with upstream gradient ``dy``."""
    f64 = dict(dtype=torch.float64)
    fu = None if case.fu is None else case.fu.to(**f64)
    fd = None if case.fd is None else case.fd.to(**f64)
    x64 = x.detach().to(**f64).requires_grad_(True)
    b64 = b.detach().to(**f64).requires_grad_(True)
    xb = x64 + b64.reshape(1, -1, 1, 1)
    v = upsample(xb, case, fu)
    a = torch.where(v >= 0, v, v * case.slope) * case.gain
    if case.clamp is not None:
        a = a.clamp(-case.clamp, case.clamp)
    y = upfirdn2d(a, fd, 1, case.down, 0, case.flip, 1, impl="torch")
    dx, db, ga = torch.autograd.grad(y, (x64, b64, a), dy.to(**f64))
    with torch.no_grad():
        terms = upsample(xb.abs(), case, None if fu is None else fu.abs())  # S: the absolute sum behind each v
        u = UNIT_ROUNDOFF[dtype]
        branches = [(0.0, case.gain * abs(1 - case.slope))]
        if case.clamp is not None:
            branches.append((case.clamp / case.gain, case.gain))
            if case.slope > 0:
                branches.append((-case.clamp / (case.gain * case.slope), case.gain * case.slope))
        jump = torch.zeros_like(v)
        for t, size in branches:
            near = (v - t).abs() <= BRANCH_MARGIN * u * (terms + abs(t))
            jump = torch.where(near, torch.maximum(jump, torch.full_like(v, size)), jump)
        allowance_dx = upsample_adjoint(jump * ga.abs(), x.shape, case, None if fu is None else fu.abs())
    return FilteredLreluReference(y.detach(), dx, db, v.detach(), ga, jump, allowance_dx,
                                  allowance_dx.sum(dim=(0, 2, 3)))


def check_filtered_lrelu(case: FilteredLreluCase, y, dx, db, x, b, dy, dtype: torch.dtype) -> None:
    """``y``, ``dx``, ``db`` of a path computing in ``dtype`` against the float64 reference (module docstring)."""
    ref = filtered_lrelu_reference(case, x, b, dy, dtype)
    what = case.describe()
    assert_within(y, ref.y, TOL[dtype], what=f"{what} forward")
    assert_within(dx, ref.dx, 4 * TOL[dtype], ref.allowance_dx, f"{what} gradient of x")
    assert_within(db, ref.db, 4 * TOL[dtype], ref.allowance_db, f"{what} gradient of b")


# ----------------------------------------------------------------------------------------------------------
# The tests


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("act", sorted(activation_funcs))
def test_bias_act_parity(act, memory_format, dtype):
    for clamp in (None, 0.5):
        x = torch.randn(3, 8, 9, 7, device="cuda")
        b = torch.randn(8, device="cuda")
        (y, g), (y_ref, g_ref) = _run_both(
            lambda x, b, impl, clamp=clamp: bias_act(x, b, 1, act, None, None, clamp, impl=impl),
            [x, b], dtype, memory_format)
        assert y.dtype == dtype and y.is_contiguous(memory_format=memory_format)
        assert_rel_close(y, y_ref, TOL[dtype], f"{act} forward")
        for a, r in zip(g, g_ref, strict=True):
            assert_rel_close(a, r, TOL[dtype] * 4, f"{act} gradient")


def test_bias_act_double_backward_parity():
    x0 = torch.randn(2, 5, 6, 6, device="cuda")
    for act in activation_funcs:
        res = []
        for impl in ("cuda", "torch"):
            x = x0.clone().requires_grad_(True)
            y = bias_act(x, None, act=act, clamp=0.8, impl=impl)
            (g,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
            (gg,) = torch.autograd.grad(g.sum(), x)
            res.append(gg)
        assert_rel_close(res[0], res[1], 1e-4, f"{act} double backward")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_upfirdn2d_parity_random_cases(memory_format, dtype):
    rng = np.random.default_rng(11)
    done = 0
    while done < 40:
        upx, upy, downx, downy = (int(v) for v in rng.choice([1, 2, 4], size=4))
        f = _filter(rng, int(rng.integers(1, 13)), bool(rng.random() < 0.5))
        pad = [int(p) for p in rng.integers(-3, 9, size=4)]
        flip, gain = bool(rng.random() < 0.5), float(rng.uniform(0.5, 4))
        x = torch.randn(2, int(rng.integers(1, 6)), int(rng.integers(2, 20)), int(rng.integers(2, 20)), device="cuda")
        try:
            upfirdn2d(x, f, (upx, upy), (downx, downy), pad, flip, gain, impl="torch")
        except ValueError:
            continue
        (y, (g,)), (y_ref, (g_ref,)) = _run_both(
            lambda x, impl, f=f, upx=upx, upy=upy, downx=downx, downy=downy, pad=pad, flip=flip, gain=gain:
            upfirdn2d(x, f, (upx, upy), (downx, downy), pad, flip, gain, impl=impl), [x], dtype, memory_format)
        what = f"up {upx, upy} down {downx, downy} f {tuple(f.shape)} pad {pad} flip {flip}"
        assert_rel_close(y, y_ref, TOL[dtype], what)
        assert_rel_close(g, g_ref, TOL[dtype], what + " gradient")
        done += 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_filtered_lrelu_parity_random_cases(memory_format, dtype):
    """The fused kernels in ``dtype`` against the float64 reference on the same ``dtype`` inputs (module
    docstring: the tolerances, and the allowance for branch decisions within rounding of a branch point)."""
    for i, case in enumerate(filtered_lrelu_cases(5, "cuda", 40)):
        x = case.x.to(dtype).contiguous(memory_format=memory_format).requires_grad_(True)
        b = case.b.to(dtype).requires_grad_(True)
        y = filtered_lrelu(x, b=b, **case.params(), impl="cuda")
        assert y.dtype == dtype and (y.is_contiguous(memory_format=memory_format) or x.shape[1] == 1)
        dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(i)).to(device="cuda", dtype=dtype)
        dx, db = torch.autograd.grad(y, (x, b), dy)
        check_filtered_lrelu(case, y, dx, db, x, b, dy, dtype)


def test_filtered_lrelu_parity_at_stylegan3_t_sizes():
    """Layers of a 256x256 SG3-T (sizes, 12-tap windowed sinc up/down, padding 10): a few planes each."""
    from networks.stylegan3 import Generator

    G = Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=256, img_channels=3, channel_base=2048,
                  channel_max=32).cuda()
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        k = layer.conv_kernel - 1  # the modulated conv's output feeds filtered_lrelu
        x = torch.randn(2, layer.out_channels, int(layer.in_size[1]) + k, int(layer.in_size[0]) + k, device="cuda")
        kw = dict(fu=layer.up_filter, fd=layer.down_filter, b=layer.bias, up=layer.up_factor, down=layer.down_factor,
                  padding=layer.padding, gain=math.sqrt(2) if not layer.is_torgb else 1,
                  slope=0.2 if not layer.is_torgb else 1, clamp=layer.conv_clamp)
        y = filtered_lrelu(x, **kw, impl="cuda")
        assert_rel_close(y, filtered_lrelu(x, **kw, impl="torch"), 1e-5, name)


@pytest.mark.parametrize("kind", ["sg3-t", "sg3-r", "sg2"])
def test_whole_generator_parity(kind):
    if kind == "sg2":
        from networks.stylegan2 import Generator

        G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=64, img_channels=3, channel_base=1024, channel_max=64)
    else:
        from networks.stylegan3 import Generator

        kw = dict(conv_kernel=1, use_radial_filters=True, channel_base=2048) if kind == "sg3-r" else {}
        G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=64, img_channels=3, channel_max=64,
                      **{"channel_base": 1024, **kw})
    G = G.cuda().eval()
    z = torch.randn(4, 32, device="cuda")
    out = {}
    for impl in ("cuda", "torch"):
        backend.set_default_impl(impl)
        try:
            out[impl] = G(z, None, noise_mode="const")
        finally:
            backend.set_default_impl("auto")
    assert_rel_close(out["cuda"], out["torch"], 1e-4, kind)
