"""The GPU parity suite's rule for filtered_lrelu (``tests/ops/test_cuda_parity.py``, run by the GPU report's
parity section), checked on the CPU where its tests skip: the float64 reference is filtered_lrelu, flipped branch
decisions are excused exactly where the pre-activation lies within rounding of a branch point and nowhere else,
and an honest float16 implementation (the PyTorch path in float16) meets the rule, which it would not without
the allowance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ops.filtered_lrelu import filtered_lrelu
from tests.ops import oracle
from tests.ops.test_cuda_parity import (
    TOL,
    assert_within,
    check_filtered_lrelu,
    filtered_lrelu_cases,
    filtered_lrelu_reference,
    upsample_adjoint,
)

CASES = list(filtered_lrelu_cases(5, "cpu", 40))  # the parity suite's cases, on the CPU


def _grads(case, dtype, i):
    """filtered_lrelu's PyTorch path in ``dtype`` on the case's inputs rounded to ``dtype``: x, b, dy, y, dx, db."""
    x = case.x.to(dtype).requires_grad_(True)
    b = case.b.to(dtype).requires_grad_(True)
    params = case.params()
    if dtype == torch.float64:
        params.update(fu=_double(case.fu), fd=_double(case.fd))
    y = filtered_lrelu(x, b=b, **params, impl="torch")
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(i)).to(dtype)
    dx, db = torch.autograd.grad(y, (x, b), dy)
    return x, b, dy, y.detach(), dx, db


def _double(f: torch.Tensor | None) -> torch.Tensor | None:
    return None if f is None else f.double()


def _flipped(f: torch.Tensor | None, flip: bool) -> torch.Tensor | None:
    """The filter the oracle (which has no flip_filter) needs to give flip_filter's result."""
    return f if f is None or not flip else f.flip(list(range(f.ndim)))


def test_the_reference_is_filtered_lrelu():
    """Forward against the naive numpy oracle (written from the definitions), gradients against autograd of the
    PyTorch path, all in float64."""
    checked = 0
    for i, case in enumerate(CASES):
        x, b, dy, y, dx, db = _grads(case, torch.float64, i)
        ref = filtered_lrelu_reference(case, x, b, dy, torch.float64)
        assert_within(ref.y, y, 1e-12, what=case.describe())
        assert_within(ref.dx, dx, 1e-12, what=case.describe())
        assert_within(ref.db, db, 1e-12, what=case.describe())
        if x.numel() * case.up**2 <= 20000:
            expected = oracle.filtered_lrelu_ref(x.detach().numpy(), _flipped(case.fu, case.flip),
                                                 _flipped(case.fd, case.flip), b.detach().numpy(), case.up,
                                                 case.down, case.padding, case.gain, case.slope, case.clamp)
            assert_within(ref.y, torch.from_numpy(np.ascontiguousarray(expected)), 1e-12, what=case.describe())
            checked += 1
    assert checked >= 10


def _planted(ref, case, x_shape, delta):
    """The x and b gradients a path would give that took other branches: the reference's plus the effect of
    ``delta`` (a change of the activation's derivative on the upsampled grid)."""
    dx = ref.dx + upsample_adjoint(delta * ref.ga, x_shape, case, None if case.fu is None else case.fu.double())
    return dx, dx.sum(dim=(0, 2, 3))


@pytest.mark.parametrize("index", [4, 18])  # slope 0 with a clamp; slope 0.2 with a clamp (all three branches)
def test_flips_near_a_branch_point_are_excused_and_no_others(index):
    case = CASES[index]
    x, b, dy, *_ = _grads(case, torch.float16, index)
    ref = filtered_lrelu_reference(case, x, b, dy, torch.float16)
    near = ref.jump > 0
    assert int(near.sum()) > 10  # the case has positions near a branch point
    sign = torch.where(torch.rand(ref.v.shape, generator=torch.Generator().manual_seed(0)) < 0.5, -1.0, 1.0)
    # Every near position takes the other branch at once (the largest jump there, either way): excused.
    dx, db = _planted(ref, case, x.shape, ref.jump * sign.double())
    assert float((dx - ref.dx).abs().max()) > 0.1 * float(ref.dx.abs().max())  # a change the tolerance would not hide
    assert_within(dx, ref.dx, 1e-9, ref.allowance_dx, "near")
    assert_within(db, ref.db, 1e-9, ref.allowance_db, "near")
    # One position that is not near a branch point, where x feeds it: not excused, at the real tolerance too.
    weight = torch.where(near, 0.0, ref.ga.abs())
    p = int(weight.flatten().argmax())
    delta = torch.zeros(ref.v.numel(), dtype=torch.float64)
    delta[p] = case.gain
    dx, db = _planted(ref, case, x.shape, delta.reshape(ref.v.shape))
    with pytest.raises(AssertionError, match="beyond the allowance"):
        assert_within(dx, ref.dx, 4 * TOL[torch.float16], ref.allowance_dx, "far")


def test_the_pytorch_path_in_float16_meets_the_rule_and_needs_the_allowance():
    """The PyTorch path rounds every stage to float16, so it flips branch decisions near branch points too: it
    passes the suite's rule in every case, and in several of them only because of the allowance."""
    needed = 0
    for i, case in enumerate(CASES):
        x, b, dy, y, dx, db = _grads(case, torch.float16, i)
        check_filtered_lrelu(case, y, dx, db, x, b, dy, torch.float16)
        ref = filtered_lrelu_reference(case, x, b, dy, torch.float16)
        try:
            assert_within(dx, ref.dx, 4 * TOL[torch.float16])
        except AssertionError:
            needed += 1
    assert needed >= 5


def test_assert_within_names_the_excess_and_the_plain_error():
    expected = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert_within(expected + 0.019, expected, 0.01, torch.full((3,), 0.0))  # 0.019 / 2 < 0.01
    with pytest.raises(AssertionError, match=r"relative error 0\.015 > 0\.01 .* plain relative error 0\.02\b"):
        assert_within(expected + torch.tensor([0.0, 0.04, 0.0]), expected, 0.01, torch.tensor([0.0, 0.01, 0.0]),
                      "planted")
    assert_within(expected + torch.tensor([0.0, 0.04, 0.0]), expected, 0.01, torch.tensor([0.0, 0.03, 0.0]))
