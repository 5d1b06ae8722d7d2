import inspect
import math

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from fairlit.information import factorized_mutual_information, joint_mutual_information
from fairlit.nn import EncoderOutput, FullPrecisionEncoder, HybridBinaryEncoder
from fairlit.regularizers import (
    AdversarialRegularizer,
    MutualInformationRegularizer,
    NoRegularizer,
    Regularizer,
    gradient_reversal,
)


def _out(probs: torch.Tensor) -> EncoderOutput:
    return EncoderOutput(code=torch.bernoulli(probs.detach()), probs=probs)


# ------------------------------------------------------------------------ contract


@pytest.mark.parametrize(
    "cls", [Regularizer, MutualInformationRegularizer, AdversarialRegularizer, NoRegularizer]
)
def test_first_two_init_parameters(cls):
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in params[:2]] == ["in_features", "num_groups"]
    assert all(p.annotation in (int, "int") for p in params[:2])
    assert all(p.default is not inspect.Parameter.empty for p in params[2:])
    for p in params:
        assert not isinstance(p.default, nn.Module | torch.Tensor)
    reg = cls(4, 3)  # what the model's factory call does
    assert (reg.in_features, reg.num_groups) == (4, 3)


def test_base_forward_is_abstract():
    with pytest.raises(NotImplementedError):
        Regularizer(2, 2)(EncoderOutput(torch.zeros(1, 2), None), torch.zeros(1, dtype=torch.long))


def test_size_validation():
    with pytest.raises(ValueError, match="in_features"):
        MutualInformationRegularizer(0, 2)
    with pytest.raises(ValueError, match="num_groups"):
        MutualInformationRegularizer(3, 0)
    with pytest.raises(ValueError, match="num_groups"):
        AdversarialRegularizer(3, 1)
    with pytest.raises(ValueError, match="estimator"):
        MutualInformationRegularizer(3, 2, estimator="plugin")
    with pytest.raises(ValueError, match="base"):
        MutualInformationRegularizer(3, 2, base=1.0)
    with pytest.raises(ValueError, match="reversal_strength"):
        AdversarialRegularizer(3, 2, reversal_strength=-1.0)


# -------------------------------------------------------------- mutual information


@pytest.mark.parametrize("base", [2.0, math.e])
def test_mi_matches_information_functions(base):
    torch.manual_seed(0)
    probs = torch.rand(40, 5, dtype=torch.float64)
    s = torch.randint(0, 3, (40,))
    fact = MutualInformationRegularizer(5, 3, estimator="factorized", base=base)(_out(probs), s)
    joint = MutualInformationRegularizer(5, 3, estimator="joint", base=base)(_out(probs), s)
    assert fact.shape == () and joint.shape == ()
    torch.testing.assert_close(fact, factorized_mutual_information(probs, s, 3, base=base))
    torch.testing.assert_close(joint, joint_mutual_information(probs, s, 3, base=base))
    assert not torch.allclose(fact, joint)


def test_mi_xor_joint_sees_what_factorized_misses():
    # T1 = S xor Z, T2 = Z: no single neuron carries S, the pair does.
    s = torch.tensor([0, 0, 1, 1])
    z = torch.tensor([0, 1, 0, 1])
    probs = torch.stack([(s ^ z).double(), z.double()], 1)
    fact = MutualInformationRegularizer(2, 2, "factorized")(_out(probs), s)
    joint = MutualInformationRegularizer(2, 2, "joint")(_out(probs), s)
    assert float(fact) == pytest.approx(0.0, abs=1e-9)
    assert float(joint) == pytest.approx(1.0, abs=1e-6)


def test_mi_requires_probs():
    reg = MutualInformationRegularizer(4, 2)
    out = FullPrecisionEncoder(3, 4)(torch.randn(5, 3))
    with pytest.raises(ValueError, match="probs=None"):
        reg(out, torch.zeros(5, dtype=torch.long))


def test_mi_shape_checks():
    reg = MutualInformationRegularizer(4, 2)
    with pytest.raises(ValueError, match=r"\[B, 4\]"):
        reg(_out(torch.rand(5, 3)), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="`groups`"):
        reg(_out(torch.rand(5, 4)), torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        reg(_out(torch.rand(5, 4)), torch.zeros(5))


def test_joint_width_checked_at_init():
    with pytest.raises(ValueError, match="max_bits=20"):  # the largest device default
        MutualInformationRegularizer(21, 2, estimator="joint")
    # 17 neurons pass at init (a GPU takes 20) but not on a CPU, whose default is 16.
    wide = MutualInformationRegularizer(17, 2, estimator="joint")
    with pytest.raises(ValueError, match="m=17 exceeds max_bits=16"):
        wide(_out(torch.rand(4, 17)), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="max_bits"):
        MutualInformationRegularizer(9, 2, estimator="joint", max_bits=8)
    MutualInformationRegularizer(17, 2, estimator="factorized")
    MutualInformationRegularizer(8, 2, estimator="joint", max_bits=8)


@pytest.mark.parametrize("estimator", ["factorized", "joint"])
def test_mi_gradients_finite_saturated_and_missing_group(estimator):
    # Groups 0 and 1 only (num_groups=3), probabilities exactly 0 and 1 after the sigmoid.
    logits = torch.tensor(
        [[50.0, -50.0, 0.1], [50.0, 50.0, -0.3], [-50.0, -50.0, 0.2], [-50.0, 50.0, 2.0]],
        requires_grad=True,
    )
    probs = torch.sigmoid(6.0 * logits)
    assert probs.detach().eq(1).any() and probs.detach().eq(0).any()
    s = torch.tensor([0, 0, 1, 1])
    penalty = MutualInformationRegularizer(3, 3, estimator=estimator)(_out(probs), s)
    assert torch.isfinite(penalty)
    penalty.backward()
    assert torch.isfinite(logits.grad).all()
    # Leaf probabilities at exactly 0 and 1, a single row in one group.
    leaf = torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.0, 0.5]], requires_grad=True)
    penalty = MutualInformationRegularizer(2, 3, estimator=estimator)(
        _out(leaf), torch.tensor([0, 0, 2])
    )
    penalty.backward()
    assert torch.isfinite(penalty) and torch.isfinite(leaf.grad).all()


@pytest.mark.parametrize("estimator", ["factorized", "joint"])
def test_mi_penalty_trains_encoder_toward_invariance(estimator):
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    s = (x[:, 0] > 0).long()
    enc = HybridBinaryEncoder(3, 4, hidden_features=[8])
    reg = MutualInformationRegularizer(4, 2, estimator=estimator)
    opt = torch.optim.Adam(enc.parameters(), lr=0.05)
    start = float(reg(enc(x), s).detach())
    for _ in range(30):
        opt.zero_grad()
        reg(enc(x), s).backward()
        opt.step()
    assert float(reg(enc(x), s).detach()) < 0.5 * start


# ------------------------------------------------------------------------ adversarial


def test_gradient_reversal_function():
    x = torch.randn(3, 2, requires_grad=True)
    y = gradient_reversal(x, 2.5)
    assert torch.equal(y, x)
    (y * torch.arange(6.0).view(3, 2)).sum().backward()
    torch.testing.assert_close(x.grad, -2.5 * torch.arange(6.0).view(3, 2))


@pytest.mark.parametrize("strength", [1.0, 0.3])
def test_adversarial_gradient_reversal(strength):
    torch.manual_seed(0)
    reg = AdversarialRegularizer(4, 3, hidden_features=[5], reversal_strength=strength).double()
    s = torch.tensor([0, 1, 2, 1, 0, 2])
    code = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    penalty = reg(EncoderOutput(code, None), s)
    penalty.backward()
    adv_grads = [p.grad.clone() for p in reg.parameters()]

    # Reference: the same adversary's cross-entropy with no reversal.
    reg.zero_grad()
    code_ref = code.detach().clone().requires_grad_(True)
    reference = F.cross_entropy(reg.adversary(code_ref), s)
    reference.backward()
    torch.testing.assert_close(penalty, reference)
    torch.testing.assert_close(code.grad, -strength * code_ref.grad)  # encoder side flipped
    assert code.grad.abs().sum() > 0
    for got, ref in zip(adv_grads, (p.grad for p in reg.parameters()), strict=True):
        torch.testing.assert_close(got, ref)  # adversary: ordinary gradients


def test_adversarial_parameters_are_submodules_and_work_with_any_encoder():
    torch.manual_seed(0)
    reg = AdversarialRegularizer(6, 2, hidden_features=[8])
    assert sum(p.numel() for p in reg.parameters()) == 6 * 8 + 8 + 8 * 2 + 2
    s = torch.tensor([0, 1, 0, 1])
    for enc in (HybridBinaryEncoder(3, 6), FullPrecisionEncoder(3, 6)):
        penalty = reg(enc(torch.randn(4, 3)), s)
        assert penalty.shape == () and penalty > 0
        penalty.backward()
        assert all(p.grad is not None for p in enc.parameters())
    with pytest.raises(ValueError, match="num_groups"):
        reg(EncoderOutput(torch.randn(4, 6), None), torch.tensor([0, 1, 2, 1]))


def test_adversarial_empty_batch_is_zero():
    reg = AdversarialRegularizer(3, 2)
    penalty = reg(EncoderOutput(torch.zeros(0, 3), None), torch.zeros(0, dtype=torch.long))
    assert float(penalty) == 0.0


# ----------------------------------------------------------------------------- none


def test_no_regularizer():
    code = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    penalty = NoRegularizer(3, 2)(EncoderOutput(code, None), torch.zeros(5, dtype=torch.long))
    assert penalty.shape == () and float(penalty.detach()) == 0.0
    assert penalty.dtype == torch.float64 and penalty.device == code.device
    assert penalty.requires_grad
    penalty.backward()
    assert torch.equal(code.grad, torch.zeros_like(code))
    assert list(NoRegularizer(3, 2).parameters()) == []


# ----------------------------------------------------------------------------- DDP

_SIZES = (7, 5)  # unequal halves exercise the padding of the joint all-gather
_NUM_GROUPS = 3


def _ddp_fixture():
    gen = torch.Generator().manual_seed(1234)
    n = sum(_SIZES)
    x = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    # Rank 1 has no row of group 2.
    s = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 1, 0])
    lin = nn.Linear(3, 4).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(4, 3, generator=gen, dtype=torch.float64))
        lin.bias.copy_(torch.randn(4, generator=gen, dtype=torch.float64))
    return x, s, lin


def _penalty_and_grads(x, s, lin, estimator):
    lin.zero_grad()
    probs = torch.sigmoid(lin(x))
    reg = MutualInformationRegularizer(4, _NUM_GROUPS, estimator=estimator)
    penalty = reg(EncoderOutput(torch.bernoulli(probs.detach()), probs), s)
    penalty.backward()
    return penalty.detach(), [p.grad.clone() for p in lin.parameters()]


def _ddp_rank(rank, world_size):
    """One rank's penalties and (all-reduced) gradients, on its own rows of the fixture."""
    x, s, lin = _ddp_fixture()
    start = sum(_SIZES[:rank])
    rows = slice(start, start + _SIZES[rank])
    results = {}
    for estimator in ("factorized", "joint"):
        penalty, grads = _penalty_and_grads(x[rows], s[rows], lin, estimator)
        for g in grads:  # what DDP does to parameter gradients
            dist.all_reduce(g)
            g /= world_size
        results[estimator] = (penalty, grads)
    # sync_dist=False is each rank's own batch, also in training mode.
    local = MutualInformationRegularizer(4, _NUM_GROUPS, sync_dist=False)
    results["unsynced"] = local(_out(torch.sigmoid(lin(x[rows])).detach()), s[rows])
    # Evaluation mode makes no collective: rank 1 calls once more than rank 0, as when
    # unpadded evaluation shards hold different numbers of batches (this hung before).
    reg = MutualInformationRegularizer(4, _NUM_GROUPS).eval()
    probs = torch.sigmoid(lin(x[rows])).detach()
    results["eval"] = [reg(_out(probs), s[rows]) for _ in range(1 + rank)]
    return results


@pytest.mark.comparison
@pytest.mark.ddp
def test_ddp_global_batch_is_exact(gloo_ranks):
    world_size = len(_SIZES)
    saved_by_rank = gloo_ranks(_ddp_rank, world_size=world_size)
    x, s, lin = _ddp_fixture()
    for estimator in ("factorized", "joint"):
        penalty, grads = _penalty_and_grads(x, s, lin, estimator)
        assert penalty > 0.01  # a non-trivial reference
        for rank in range(world_size):
            got_penalty, got_grads = saved_by_rank[rank][estimator]
            torch.testing.assert_close(got_penalty, penalty, rtol=0, atol=1e-6)
            for got, ref in zip(got_grads, grads, strict=True):
                assert ref.abs().max() > 1e-3
                torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)
    for rank in range(world_size):
        start = sum(_SIZES[:rank])
        rows = slice(start, start + _SIZES[rank])
        local = factorized_mutual_information(torch.sigmoid(lin(x[rows])), s[rows], _NUM_GROUPS)
        saved = saved_by_rank[rank]
        torch.testing.assert_close(saved["unsynced"], local.detach(), rtol=0, atol=1e-9)
        got = saved["eval"]
        assert len(got) == 1 + rank
        for value in got:
            torch.testing.assert_close(value, local.detach(), rtol=0, atol=1e-9)
