"""Tests for fairlit.information against hand values and independent references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import mutual_info_score

from fairlit.information import (
    GroupStatistics,
    binary_entropy,
    contingency_mutual_information,
    factorized_mutual_information,
    factorized_mutual_information_from_statistics,
    group_statistics,
    joint_mutual_information,
    pack_codes,
    plugin_mutual_information,
)

MI_FUNCTIONS = [factorized_mutual_information, joint_mutual_information]


def h2(p: float) -> float:
    """Binary entropy in bits, written out by hand."""
    return -sum(q * math.log2(q) for q in (p, 1 - p) if q > 0)


def brute_force_joint_mi(probs: np.ndarray, s: np.ndarray, base: float = 2.0) -> float:
    """I(T; S) by explicit enumeration of every code, independent of the library."""
    n, m = probs.shape

    def entropy(dist: list[float]) -> float:
        return -sum(p * math.log(p, base) for p in dist if p > 0)

    codes = list(itertools.product([0, 1], repeat=m))
    per_row = np.array(
        [
            [np.prod([p if t else 1 - p for p, t in zip(row, c, strict=True)]) for c in codes]
            for row in probs
        ]
    )  # [N, 2^m]
    mi = entropy(per_row.mean(0).tolist())
    for g in np.unique(s):
        rows = per_row[s == g]
        mi -= len(rows) / n * entropy(rows.mean(0).tolist())
    return mi


def random_case(seed: int, n: int, m: int, groups: int):
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.0, 1.0, size=(n, m))
    # Unbalanced groups, every group present at least once.
    weights = rng.dirichlet(np.ones(groups) * 0.7)
    s = np.concatenate([np.arange(groups), rng.choice(groups, size=n - groups, p=weights)])
    return probs, s


# --- binary entropy ---------------------------------------------------------------------------


def test_binary_entropy_hand_values():
    p = torch.tensor([0.0, 0.5, 1.0, 0.25], dtype=torch.float64)
    expected = [0.0, 1.0, 0.0, 0.25 * 2 + 0.75 * math.log2(4 / 3)]
    assert binary_entropy(p).tolist() == pytest.approx(expected, abs=1e-12)
    assert binary_entropy(p)[[0, 2]].tolist() == [0.0, 0.0]  # exactly zero, not O(eps)
    nats = binary_entropy(torch.tensor([0.5], dtype=torch.float64), base=math.e)
    assert float(nats) == pytest.approx(math.log(2), abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_binary_entropy_matches_scipy(dtype):
    p = np.linspace(1e-4, 1 - 1e-4, 101)
    expected = [scipy_entropy([q, 1 - q], base=2) for q in p]
    got = binary_entropy(torch.tensor(p, dtype=dtype)).tolist()
    assert got == pytest.approx(expected, abs=1e-5 if dtype == torch.float32 else 1e-12)
    assert float(binary_entropy(torch.tensor(0.3), base=10.0)) == pytest.approx(
        scipy_entropy([0.3, 0.7], base=10), abs=1e-6
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_binary_entropy_gradient_finite_at_edges(dtype):
    p = torch.tensor([0.0, 1.0, 0.3], dtype=dtype, requires_grad=True)
    binary_entropy(p).sum().backward()
    assert torch.isfinite(p.grad).all()
    assert float(p.grad[0]) > 0 > float(p.grad[1])  # entropy rises moving away from 0 or 1
    assert float(p.grad[2]) == pytest.approx(math.log2(0.7 / 0.3), rel=1e-5)


def test_binary_entropy_gradcheck():
    p = torch.tensor([0.05, 0.3, 0.5, 0.9], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(binary_entropy, (p,))


# --- factorized MI ----------------------------------------------------------------------------


def hand_fixture() -> tuple[torch.Tensor, torch.Tensor]:
    s = torch.tensor([0] * 4 + [1] * 6)
    per_group = torch.tensor([0.5, 0.8], dtype=torch.float64)
    probs = per_group[s][:, None].expand(10, 5).clone()
    return probs, s


def test_factorized_hand_value():
    probs, s = hand_fixture()
    expected = 5 * (h2(0.68) - 0.4 * h2(0.5) - 0.6 * h2(0.8))
    assert expected == pytest.approx(0.3561230, abs=1e-6)
    assert float(factorized_mutual_information(probs, s)) == pytest.approx(0.3561230, abs=1e-6)
    nats = factorized_mutual_information(probs, s, base=math.e)
    assert float(nats) == pytest.approx(expected * math.log(2), abs=1e-9)


def test_group_statistics_values_and_statistics_version():
    probs, s = hand_fixture()
    stats = group_statistics(probs, s)
    assert isinstance(stats, GroupStatistics)
    assert stats.group_size.dtype == probs.dtype
    assert stats.group_size.tolist() == [4.0, 6.0]
    expected = torch.tensor([[2.0] * 5, [4.8] * 5], dtype=torch.float64)
    torch.testing.assert_close(stats.prob_sum, expected)
    from_stats = factorized_mutual_information_from_statistics(*stats)
    assert float(from_stats) == pytest.approx(0.3561230, abs=1e-6)  # the hand value above


def test_statistics_are_additive_over_batches():
    probs, s = random_case(0, 40, 6, 3)
    probs, s = torch.tensor(probs), torch.tensor(s)
    whole = group_statistics(probs, s, num_groups=3)
    a, b = group_statistics(probs[:17], s[:17], 3), group_statistics(probs[17:], s[17:], 3)
    torch.testing.assert_close(a.group_size + b.group_size, whole.group_size)
    torch.testing.assert_close(a.prob_sum + b.prob_sum, whole.prob_sum)
    merged = factorized_mutual_information_from_statistics(
        a.group_size + b.group_size, a.prob_sum + b.prob_sum
    )
    torch.testing.assert_close(merged, factorized_mutual_information(probs, s))


# --- joint MI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("m", range(1, 9))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joint_matches_brute_force(m, seed):
    groups = 2 + seed % 3
    probs, s = random_case(seed * 10 + m, 13 + seed, m, groups)
    expected = brute_force_joint_mi(probs, s)
    got = joint_mutual_information(torch.tensor(probs), torch.tensor(s))
    assert float(got) == pytest.approx(expected, abs=1e-9)
    chunked = joint_mutual_information(torch.tensor(probs), torch.tensor(s), chunk_size=3)
    assert float(chunked) == pytest.approx(expected, abs=1e-9)
    nats = joint_mutual_information(torch.tensor(probs), torch.tensor(s), base=math.e)
    assert float(nats) == pytest.approx(brute_force_joint_mi(probs, s, base=math.e), abs=1e-9)


def test_joint_equals_factorized_for_one_neuron():
    probs, s = random_case(7, 30, 1, 3)
    probs, s = torch.tensor(probs), torch.tensor(s)
    joint = joint_mutual_information(probs, s)
    assert float(joint) == pytest.approx(float(factorized_mutual_information(probs, s)), abs=1e-12)


def xor_case(dtype=torch.float64, saturation=1e-6):
    s = torch.tensor([0, 0, 1, 1])
    z = torch.tensor([0, 1, 0, 1])
    bits = torch.stack([s ^ z, z], dim=1).to(dtype)
    return bits * (1 - 2 * saturation) + saturation, s


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("saturation", [0.0, 1e-6])
def test_xor_joint_sees_what_factorized_misses(dtype, saturation):
    probs, s = xor_case(dtype, saturation)
    assert float(factorized_mutual_information(probs, s)) < 1e-3
    assert float(joint_mutual_information(probs, s)) > 0.95


@pytest.mark.parametrize("seed", range(5))
def test_joint_at_most_factorized_when_conditionally_independent(seed):
    # probs depending only on the group make the neurons independent given S, so
    # I(T; S) = H(T) - sum_j H(T_j | S) <= sum_j [H(T_j) - H(T_j | S)] = I_fact.
    rng = np.random.default_rng(seed)
    groups, m = 3, 5
    group_probs = rng.uniform(0.0, 1.0, size=(groups, m))
    s = torch.tensor(rng.choice(groups, size=20))
    probs = torch.tensor(group_probs)[s]
    joint = float(joint_mutual_information(probs, s, num_groups=groups))
    factorized = float(factorized_mutual_information(probs, s, num_groups=groups))
    assert joint <= factorized + 1e-9
    assert joint == pytest.approx(brute_force_joint_mi(probs.numpy(), s.numpy()), abs=1e-9)


@pytest.mark.parametrize("fn", MI_FUNCTIONS)
def test_gradcheck(fn):
    generator = torch.Generator().manual_seed(0)
    probs = 0.05 + 0.9 * torch.rand(7, 3, dtype=torch.float64, generator=generator)
    s = torch.tensor([0, 0, 1, 1, 1, 2, 2])
    assert torch.autograd.gradcheck(lambda p: fn(p, s, num_groups=4), (probs.requires_grad_(),))


# --- degenerate inputs never give NaN ---------------------------------------------------------


def degenerate_cases():
    generator = torch.Generator().manual_seed(1)
    mixed = torch.rand(6, 3, generator=generator)
    return {
        "absent_group": (mixed, torch.tensor([0, 1, 0, 1, 1, 0]), 3),
        "exact_zero_one": (
            torch.tensor([[0.0, 1.0, 0.0]] * 3 + [[1.0, 1.0, 0.0]] * 3),
            torch.tensor([0, 0, 0, 1, 1, 1]),
            None,
        ),
        "one_row": (mixed[:1], torch.tensor([1]), 2),
        "single_group": (mixed, torch.zeros(6, dtype=torch.int64), None),
    }


@pytest.mark.parametrize("fn", MI_FUNCTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", ["absent_group", "exact_zero_one", "one_row", "single_group"])
def test_degenerate_inputs_finite(fn, dtype, case):
    probs, s, num_groups = degenerate_cases()[case]
    probs = probs.to(dtype).requires_grad_()
    mi = fn(probs, s, num_groups=num_groups)
    mi.backward()
    mi = mi.detach()
    assert torch.isfinite(mi) and torch.isfinite(probs.grad).all()
    assert float(mi) >= -1e-5
    if case in ("one_row", "single_group"):
        assert float(mi) == pytest.approx(0.0, abs=1e-5)
    if case == "absent_group":
        present_only = fn(probs.detach(), s, num_groups=2)
        assert float(mi) == pytest.approx(float(present_only), abs=1e-6)


@pytest.mark.parametrize("fn", MI_FUNCTIONS)
def test_empty_batch_is_zero(fn):
    probs = torch.zeros(0, 3, requires_grad=True)
    mi = fn(probs, torch.zeros(0, dtype=torch.int64), num_groups=2).detach()
    assert float(mi) == 0.0
    empty = factorized_mutual_information_from_statistics(torch.zeros(2), torch.zeros(2, 3))
    assert float(empty) == 0.0


# --- plug-in MI -------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 3, 8, 20])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plugin_matches_sklearn(m, seed):
    rng = np.random.default_rng(seed)
    n = 300
    s = rng.integers(0, 3, size=n)
    # Bias the codes toward s so the MI is far from zero.
    codes = (rng.uniform(size=(n, m)) < 0.3 + 0.2 * s[:, None]).astype(np.float32)
    labels = [int("".join(str(int(b)) for b in row[::-1]), 2) for row in codes]
    expected = mutual_info_score(labels, s) / math.log(2)
    packed = pack_codes(torch.tensor(codes))
    assert packed.dtype == torch.int64 and packed.tolist() == labels
    got = plugin_mutual_information(torch.tensor(codes), torch.tensor(s))
    assert float(got) == pytest.approx(expected, abs=1e-10)


def test_plugin_wider_than_62_bits():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2, size=(50, 70))
    codes[:, 1:] = codes[:, :1]  # few distinct codes, so the MI is not trivially maximal
    s = rng.integers(0, 2, size=50)
    labels = ["".join(map(str, row)) for row in codes]
    expected = mutual_info_score(labels, s) / math.log(2)
    assert float(plugin_mutual_information(torch.tensor(codes), torch.tensor(s))) == (
        pytest.approx(expected, abs=1e-10)
    )


def test_pack_codes_bit_order_and_bool():
    codes = torch.tensor([[True, False, False], [False, False, True], [True, True, True]])
    assert pack_codes(codes).tolist() == [1, 4, 7]
    assert pack_codes(torch.tensor([[0.4, 0.6]])).tolist() == [2]


def test_contingency_hand_values():
    assert float(contingency_mutual_information(torch.tensor([[5, 0], [0, 5]]))) == 1.0
    assert float(contingency_mutual_information(torch.tensor([[3, 3], [2, 2]]))) == pytest.approx(
        0.0, abs=1e-12
    )
    # A zero row and a zero column change nothing; an all-zero table gives 0.
    padded = torch.tensor([[5, 0, 0], [0, 0, 0], [0, 5, 0]])
    assert float(contingency_mutual_information(padded)) == 1.0
    assert float(contingency_mutual_information(torch.zeros(2, 2))) == 0.0
    # P = [[1/2, 1/4], [0, 1/4]], written out cell by cell.
    expected = 0.5 * math.log2(0.5 / (0.75 * 0.5)) + 0.25 * math.log2(0.25 / (0.75 * 0.5))
    expected += 0.25 * math.log2(0.25 / (0.25 * 0.5))
    got = contingency_mutual_information(torch.tensor([[2, 1], [0, 1]]))
    assert float(got) == pytest.approx(expected, abs=1e-12)


# --- errors -----------------------------------------------------------------------------------


def test_joint_refuses_too_many_bits():
    with pytest.raises(ValueError, match=r"m=5.*max_bits=4.*2\^5.*factorized"):
        joint_mutual_information(torch.rand(3, 5), torch.tensor([0, 1, 0]), max_bits=4)


@pytest.mark.parametrize("fn", [*MI_FUNCTIONS, plugin_mutual_information, group_statistics])
def test_shape_errors(fn):
    with pytest.raises(ValueError, match="same number of rows"):
        fn(torch.rand(4, 2), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="must be 2-D"):
        fn(torch.rand(4), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="groups must be 1-D"):
        fn(torch.rand(4, 2), torch.tensor([[0, 1, 0, 1]]))
    with pytest.raises(ValueError, match="integer"):
        fn(torch.rand(4, 2), torch.tensor([0.0, 1.0, 0.0, 1.0]))


@pytest.mark.parametrize("fn", [*MI_FUNCTIONS, plugin_mutual_information, group_statistics])
def test_group_index_out_of_range(fn):
    with pytest.raises(ValueError, match=r"groups must lie in \[0, num_groups=2\)"):
        fn(torch.rand(3, 2), torch.tensor([0, 1, 2]), num_groups=2)
    with pytest.raises(ValueError, match="groups must lie in"):
        fn(torch.rand(3, 2), torch.tensor([0, -1, 1]))


def test_other_errors():
    with pytest.raises(ValueError, match="62"):
        pack_codes(torch.zeros(2, 63))
    with pytest.raises(ValueError, match="count must be"):
        factorized_mutual_information_from_statistics(torch.ones(3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="nonnegative"):
        contingency_mutual_information(torch.tensor([[1, -1]]))
    with pytest.raises(ValueError, match="base"):
        binary_entropy(torch.tensor(0.5), base=1.0)
