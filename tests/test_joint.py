"""The joint MI kernel (fairlit.joint): equal to brute force and to autograd, gradients too."""

import itertools
import math

import pytest
import torch

from fairlit.information import joint_mutual_information
from fairlit.joint import (
    default_max_bits,
    joint_mutual_information_autograd_nats,
    joint_mutual_information_nats,
)

# Every test here compares the kernel with another computation (brute force, autograd, float64).
pytestmark = pytest.mark.comparison


def _brute_force_nats(probs: torch.Tensor, groups: torch.Tensor, num_groups: int) -> float:
    """I(T; S) of the empirical distribution by listing every code (float64, no shortcuts)."""
    eps = torch.finfo(probs.dtype).eps
    p = probs.clamp(eps, 1 - eps).double()
    n = len(p)
    mi = 0.0
    for code in itertools.product((0.0, 1.0), repeat=p.shape[1]):
        t = torch.tensor(code, dtype=torch.float64)
        likelihood = torch.prod(t * p + (1 - t) * (1 - p), dim=1)
        p_t = float(likelihood.sum()) / n
        for g in range(num_groups):
            member = groups == g
            if not bool(member.any()):
                continue
            p_tg = float(likelihood[member].sum()) / n
            p_g = float(member.sum()) / n
            if p_tg > 0:
                mi += p_tg * math.log(p_tg / (p_t * p_g))
    return mi


CASES = [
    # (rows, bits, groups, an empty group, probabilities exactly 0 and 1)
    (40, 1, 1, False, False),
    (40, 3, 2, False, True),
    (60, 4, 3, True, False),
    (60, 5, 4, True, True),
    (25, 6, 2, False, True),
]


@pytest.mark.parametrize(("n", "m", "groups", "empty", "extreme"), CASES)
def test_kernel_equals_brute_force_and_autograd(n, m, groups, empty, extreme):
    gen = torch.Generator().manual_seed(n * 10 + m)
    probs = torch.rand(n, m, generator=gen, dtype=torch.float64)
    if extreme:
        probs[0] = 0.0
        probs[1] = 1.0
        probs[2, 0] = 1.0
    s = torch.randint(0, groups, (n,), generator=gen)
    num_groups = groups + 1 if empty else groups  # the last group has no row
    kernel = probs.clone().requires_grad_()
    reference = probs.clone().requires_grad_()
    value = joint_mutual_information_nats(kernel, s, num_groups)
    expected = joint_mutual_information_autograd_nats(reference, s, num_groups)
    assert float(value) == pytest.approx(_brute_force_nats(probs, s, num_groups), abs=1e-9)
    assert float(value) == pytest.approx(float(expected), abs=1e-9)
    (grad,) = torch.autograd.grad(value, kernel)
    (grad_ref,) = torch.autograd.grad(expected, reference)
    torch.testing.assert_close(grad, grad_ref, rtol=0, atol=1e-7)
    assert bool(grad.abs().max() > 1e-4) or groups == 1  # a gradient worth comparing


@pytest.mark.parametrize("weighted", [False, True])
def test_kernel_passes_gradcheck(weighted):
    gen = torch.Generator().manual_seed(1)
    probs = torch.rand(30, 5, generator=gen, dtype=torch.float64).clamp(0.05, 0.95)
    probs.requires_grad_()
    s = torch.randint(0, 3, (30,), generator=gen)
    w = torch.rand(30, generator=gen, dtype=torch.float64) if weighted else None
    assert torch.autograd.gradcheck(lambda p: joint_mutual_information_nats(p, s, 3, w), (probs,))


def test_weighted_kernel_equals_the_autograd_reference():
    gen = torch.Generator().manual_seed(2)
    probs = torch.rand(50, 6, generator=gen, dtype=torch.float64).requires_grad_()
    s = torch.randint(0, 3, (50,), generator=gen)
    w = torch.rand(50, generator=gen, dtype=torch.float64)
    w[:5] = 0.0  # rows that count for nothing
    value = joint_mutual_information_nats(probs, s, 3, w)
    expected = joint_mutual_information_autograd_nats(probs, s, 3, w)
    assert float(value) == pytest.approx(float(expected), abs=1e-9)
    (grad,) = torch.autograd.grad(value, probs)
    (grad_ref,) = torch.autograd.grad(expected, probs)
    torch.testing.assert_close(grad, grad_ref, rtol=0, atol=1e-7)
    assert torch.count_nonzero(grad[:5]) == 0  # zero weight, zero gradient


def test_float32_kernel_is_close_to_float64_at_sixteen_bits():
    gen = torch.Generator().manual_seed(3)
    probs = torch.rand(256, 16, generator=gen)
    s = torch.randint(0, 2, (256,), generator=gen)
    single = float(joint_mutual_information(probs, s, 2))
    double = float(joint_mutual_information(probs.double(), s, 2))
    # Each code's probability is a product of 16 factors (relative error <= 16 u, u = 6e-8),
    # each group's mass a sum of 256 of them (<= 256 u), and the entropies' difference loses
    # about log2(H / I) = 3 more bits: a bound near 1e-4. Seen: 7.5e-6 under the default, AVX2
    # and AVX-512 kernels alike.
    assert single == pytest.approx(double, rel=1e-4)


def test_max_bits_guards_by_device():
    assert default_max_bits(torch.device("cpu")) == 16
    assert default_max_bits(torch.device("cuda")) == 20
    with pytest.raises(ValueError, match="m=17 exceeds max_bits=16"):
        joint_mutual_information(torch.rand(4, 17), torch.tensor([0, 1, 0, 1]))
    wide = joint_mutual_information(torch.rand(4, 17), torch.tensor([0, 1, 0, 1]), max_bits=17)
    assert torch.isfinite(wide)
