"""Information quantities of stochastically quantized (Bernoulli) layers.

Pure, differentiable tensor functions with no Lightning dependency. A layer ``T`` has ``m``
neurons; given an input row ``x_n`` neuron ``j`` fires with probability ``probs[n, j]``,
independently of the other neurons. ``s`` holds each row's group index in ``[0, G)``.
Every quantity is in bits unless ``base`` says otherwise (``base=math.e`` gives nats).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from fairlit.joint import default_max_bits, joint_mutual_information_nats
from fairlit.validation import check_log_base

__all__ = [
    "GroupStatistics",
    "binary_entropy",
    "contingency_mutual_information",
    "factorized_mutual_information",
    "factorized_mutual_information_from_statistics",
    "group_statistics",
    "joint_mutual_information",
    "pack_codes",
    "plugin_mutual_information",
]


def _log_base(base: float) -> float:
    return math.log(check_log_base(base))


def _num_groups(groups: Tensor, num_groups: int | None) -> int:
    """Validate ``groups`` (1-D integer group indices) and return the number of groups."""
    if groups.dim() != 1:
        raise ValueError(f"groups must be 1-D [N], got shape {tuple(groups.shape)}")
    if groups.is_floating_point() or groups.is_complex():
        raise ValueError(f"groups must hold integer group indices, got dtype {groups.dtype}")
    if num_groups is None:
        num_groups = int(groups.max()) + 1 if groups.numel() else 1
    if num_groups < 1:
        raise ValueError(f"num_groups must be >= 1, got {num_groups}")
    # The range check reads groups back to the host; on an accelerator that would stall every
    # training step, so there it is skipped when num_groups is given (the data modules
    # already guarantee the range).
    if (
        groups.numel()
        and groups.device.type == "cpu"
        and (int(groups.min()) < 0 or int(groups.max()) >= num_groups)
    ):
        raise ValueError(
            f"groups must lie in [0, num_groups={num_groups}), got values in "
            f"[{int(groups.min())}, {int(groups.max())}]"
        )
    return num_groups


def _check_rows(name: str, x: Tensor, groups: Tensor) -> None:
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D [N, m], got shape {tuple(x.shape)}")
    if groups.dim() == 1 and groups.shape[0] != x.shape[0]:
        raise ValueError(
            f"{name} and groups must have the same number of rows, got {x.shape[0]} and {groups.shape[0]}"
        )


def binary_entropy(p: Tensor, base: float = 2.0) -> Tensor:
    r"""Elementwise binary entropy of a Bernoulli probability.

    .. math:: h(p) = -p \log p - (1 - p) \log (1 - p)

    The logs see ``p`` clamped to ``[eps, 1 - eps]`` (``eps`` of ``p``'s dtype), so the
    gradient is finite everywhere; ``h`` is exactly 0 at ``p`` in ``{0, 1}``.

    Args:
        p: probabilities in ``[0, 1]``, any shape, floating dtype.
        base: logarithm base (2 gives bits).

    Returns:
        Tensor of ``p``'s shape and dtype.

    >>> h = binary_entropy(torch.tensor([0.5, 1.0, 0.11]))
    >>> [round(v, 4) for v in h.tolist()]
    [1.0, 0.0, 0.4999]
    """
    scale = _log_base(base)
    eps = torch.finfo(p.dtype).eps
    pc = p.clamp(eps, 1 - eps)
    h = -(p * torch.log(pc) + (1 - p) * torch.log1p(-pc))
    # At p in {0, 1} the clamped formula leaves O(eps); subtract that value (not its
    # gradient) so the value is exactly 0 while the finite clamped slope survives.
    at_edge = (p <= 0) | (p >= 1)
    h = h - torch.where(at_edge, h, torch.zeros_like(h)).detach()
    return h / scale


class GroupStatistics(NamedTuple):
    """Per-group sufficient statistics of firing probabilities.

    Summable across batches and processes, so the factorized MI of a concatenated
    (or all-reduced) batch is exact.

    Attributes:
        group_size: ``[G]`` number of rows of each group, same floating dtype as the probabilities.
        prob_sum: ``[G, m]`` sum over the rows of group ``g`` of the probabilities.
    """

    group_size: Tensor
    prob_sum: Tensor


def group_statistics(
    probs: Tensor, groups: Tensor, num_groups: int | None = None, weights: Tensor | None = None
) -> GroupStatistics:
    """Sum firing probabilities per group (differentiable in ``probs``).

    Args:
        probs: ``[N, m]`` firing probabilities, floating dtype.
        groups: ``[N]`` integer group indices in ``[0, num_groups)``.
        num_groups: ``G``; defaults to ``groups.max() + 1`` (pass it so that groups absent from
            this batch still get a row, e.g. before summing statistics across batches).
        weights: optional ``[N]`` nonnegative sample weights: ``group_size`` becomes each
            group's weight and ``prob_sum`` the weighted sum (the statistics of the weighted
            empirical distribution).

    Returns:
        ``GroupStatistics(group_size [G], prob_sum [G, m])``.

    >>> stats = group_statistics(torch.tensor([[0.2], [0.4], [1.0]]), torch.tensor([0, 0, 1]))
    >>> stats.group_size.tolist(), [round(v, 4) for v in stats.prob_sum[:, 0].tolist()]
    ([2.0, 1.0], [0.6, 1.0])
    """
    _check_rows("probs", probs, groups)
    num_groups = _num_groups(groups, num_groups)
    # A one-hot matmul rather than index_add: deterministic on CUDA, and G is small.
    one_hot = torch.nn.functional.one_hot(groups.long(), num_groups).to(probs.dtype)
    if weights is not None:
        _check_rows("weights", weights.reshape(-1, 1), groups)
        one_hot = one_hot * weights.reshape(-1, 1).to(probs.dtype)
    return GroupStatistics(one_hot.sum(0), one_hot.T @ probs)


def factorized_mutual_information_from_statistics(
    count: Tensor, prob_sum: Tensor, base: float = 2.0
) -> Tensor:
    r"""Sum over neurons of each neuron's MI with the group, from group statistics.

    .. math::
        I_{fact} = \sum_j \Big[ h(\theta_j) - \sum_g \frac{n_g}{n} h(\theta_j^g) \Big],
        \quad \theta_j = \frac{1}{n} \sum_g \mathrm{prob\_sum}_{gj},
        \quad \theta_j^g = \frac{\mathrm{prob\_sum}_{gj}}{n_g}

    Groups with ``n_g = 0`` get weight 0; an empty batch gives 0.

    Args:
        count: ``[G]`` rows per group (float).
        prob_sum: ``[G, m]`` per-group sums of firing probabilities.
        base: logarithm base (2 gives bits).

    Returns:
        Scalar tensor of ``prob_sum``'s dtype.

    >>> mi = factorized_mutual_information_from_statistics(
    ...     torch.tensor([2.0, 2.0]), torch.tensor([[0.0], [2.0]]))
    >>> round(float(mi), 4)
    1.0

    Raises:
        ValueError: if the shapes are not ``[G]`` and ``[G, m]``.
    """
    if count.dim() != 1 or prob_sum.dim() != 2 or prob_sum.shape[0] != count.shape[0]:
        raise ValueError(
            "count must be [G] and prob_sum [G, m], got shapes "
            f"{tuple(count.shape)} and {tuple(prob_sum.shape)}"
        )
    count = count.to(prob_sum.dtype)
    n = count.sum()
    # Safe denominators keep 0/0 out of both the value and the gradient.
    n_safe = torch.where(n > 0, n, torch.ones_like(n))
    count_safe = torch.where(count > 0, count, torch.ones_like(count))
    theta = prob_sum.sum(0) / n_safe
    theta_group = prob_sum / count_safe[:, None]
    weight = count / n_safe
    conditional = (weight[:, None] * binary_entropy(theta_group, base)).sum(0)
    return (binary_entropy(theta, base) - conditional).sum()


def factorized_mutual_information(
    probs: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    base: float = 2.0,
    weights: Tensor | None = None,
) -> Tensor:
    r"""Factorized MI ``sum_j I(T_j; S)`` of a Bernoulli layer (Cerrato et al., 2023).

    .. math:: I_{fact} = \sum_j \Big[ h(\bar p_j) - \sum_g \frac{n_g}{n} h(\bar p_j^g) \Big]

    Args:
        probs: ``[N, m]`` firing probabilities, floating dtype.
        groups: ``[N]`` integer group indices.
        num_groups: ``G``; defaults to ``groups.max() + 1``.
        base: logarithm base (2 gives bits).
        weights: optional ``[N]`` nonnegative sample weights (the weighted empirical
            distribution).

    Returns:
        Scalar tensor of ``probs``' dtype, differentiable in ``probs``.

    >>> probs = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
    >>> round(float(factorized_mutual_information(probs, torch.tensor([0, 0, 1, 1]))), 4)
    1.0
    """
    stats = group_statistics(probs, groups, num_groups, weights)
    return factorized_mutual_information_from_statistics(stats.group_size, stats.prob_sum, base)


def joint_mutual_information(
    probs: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    base: float = 2.0,
    max_bits: int | None = None,
    chunk_size: int = 4096,
    weights: Tensor | None = None,
) -> Tensor:
    r"""Exact MI ``I(T; S)`` of the whole layer under the empirical distribution.

    .. math::
        P(t \mid x_n) = \prod_j p_{nj}^{t_j} (1 - p_{nj})^{1 - t_j}, \quad
        I(T; S) = H(T) - \sum_g \frac{n_g}{n} H(T \mid S = g)

    where ``P(t | g)`` and ``P(t)`` are the means of ``P(t | x_n)`` over the rows of group ``g``
    and over all rows. All ``2^m`` codes are counted, as matrix products over the two halves of
    the code (:class:`fairlit.joint.JointMutualInformation`, with a closed-form backward): time
    O(N 2^m), memory O(N 2^(m/2) + G 2^m). Unlike the factorized value this sees dependencies
    between neurons (e.g. ``T1 = S xor Z``, ``T2 = Z``).

    Args:
        probs: ``[N, m]`` firing probabilities, floating dtype (clamped to ``[eps, 1 - eps]``).
        groups: ``[N]`` integer group indices.
        num_groups: ``G``; defaults to ``groups.max() + 1``.
        base: logarithm base (2 gives bits).
        max_bits: refuse layers wider than this, since the cost doubles with each neuron;
            ``None`` is 16 on a CPU and 20 on an accelerator
            (:func:`fairlit.joint.default_max_bits`).
        chunk_size: unused since the matrix-product kernel; must be >= 1 (kept so that
            existing calls keep working).
        weights: optional ``[N]`` nonnegative sample weights: the MI of the weighted empirical
            distribution (``n_g`` and ``n`` become weight sums, the means weighted means).

    Returns:
        Scalar tensor of ``probs``' dtype, differentiable in ``probs``.

    Raises:
        ValueError: if ``m > max_bits`` or the inputs are malformed.

    >>> probs = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    >>> round(float(joint_mutual_information(probs, torch.tensor([0, 0, 1, 1]))), 4)
    1.0
    """
    _check_rows("probs", probs, groups)
    num_groups = _num_groups(groups, num_groups)
    scale = _log_base(base)
    n, m = probs.shape
    max_bits = default_max_bits(probs.device) if max_bits is None else max_bits
    if m > max_bits:
        raise ValueError(
            f"joint_mutual_information enumerates 2^m codes; m={m} exceeds max_bits={max_bits} "
            f"(2^{m} codes). Use factorized_mutual_information or raise max_bits."
        )
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if n == 0:
        return probs.sum() * 0
    if weights is not None:
        _check_rows("weights", weights.reshape(-1, 1), groups)
        if not float(weights.sum()) > 0:
            return probs.sum() * 0
    nats = joint_mutual_information_nats(probs, groups, num_groups, weights)
    return nats / scale


def pack_codes(codes: Tensor) -> Tensor:
    """Pack binary codes into integers: bit ``j`` of the result is column ``j``.

    Args:
        codes: ``[N, m]`` with ``m <= 62``; a value ``> 0.5`` (or ``True``) counts as 1.

    Returns:
        ``[N]`` int64.

    >>> pack_codes(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])).tolist()
    [5, 2]

    Raises:
        ValueError: if ``codes`` is not 2-D or has more than 62 columns.
    """
    if codes.dim() != 2:
        raise ValueError(f"codes must be 2-D [N, m], got shape {tuple(codes.shape)}")
    if codes.shape[1] > 62:
        raise ValueError(f"pack_codes supports at most 62 bits, got m={codes.shape[1]}")
    bits = codes if codes.dtype == torch.bool else codes > 0.5
    shifts = torch.arange(codes.shape[1], device=codes.device)
    return (bits.long() << shifts).sum(1)


def contingency_mutual_information(table: Tensor, base: float = 2.0) -> Tensor:
    r"""Plug-in MI of a code x group count table.

    .. math::
        I = \sum_{k,g} \frac{n_{kg}}{n} \log \frac{n \, n_{kg}}{n_{k\cdot} \, n_{\cdot g}}

    Args:
        table: ``[K, G]`` nonnegative counts (any numeric dtype).
        base: logarithm base (2 gives bits).

    Returns:
        float64 scalar tensor; 0 for an empty table.

    >>> round(float(contingency_mutual_information(torch.tensor([[5, 0], [0, 5]]))), 4)
    1.0

    Raises:
        ValueError: if ``table`` is not 2-D or holds a negative count.
    """
    scale = _log_base(base)
    if table.dim() != 2:
        raise ValueError(f"table must be 2-D [K, G], got shape {tuple(table.shape)}")
    table = table.to(torch.float64)
    if bool((table < 0).any()):
        raise ValueError("table must hold nonnegative counts")
    n = table.sum()
    if n <= 0:
        return table.new_zeros(())
    rows = table.sum(1, keepdim=True)
    cols = table.sum(0, keepdim=True)
    # Only nonzero cells contribute; a safe argument keeps log(0) out of the masked terms.
    nonzero = table > 0
    denominator = torch.where(nonzero, rows * cols, torch.ones_like(table))
    ratio = torch.where(nonzero, table * n / denominator, torch.ones_like(table))
    return (table * torch.log(ratio)).sum() / n / scale


def plugin_mutual_information(
    codes: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    base: float = 2.0,
    weights: Tensor | None = None,
) -> Tensor:
    """Plug-in MI between sampled binary codes and groups (not differentiable).

    Only observed codes get a row of the count table, so memory is O(N) for any ``m``.

    Args:
        codes: ``[N, m]`` binary codes (``> 0.5`` counts as 1).
        groups: ``[N]`` integer group indices.
        num_groups: ``G``; defaults to ``groups.max() + 1``.
        base: logarithm base (2 gives bits).
        weights: optional ``[N]`` nonnegative sample weights (the weighted empirical
            distribution).

    Returns:
        float64 scalar tensor.

    >>> codes = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    >>> round(float(plugin_mutual_information(codes, torch.tensor([0, 0, 1, 1]))), 4)
    1.0
    """
    _check_rows("codes", codes, groups)
    num_groups = _num_groups(groups, num_groups)
    if codes.shape[1] <= 62:
        _, inverse = torch.unique(pack_codes(codes), return_inverse=True)
    else:
        bits = codes if codes.dtype == torch.bool else codes > 0.5
        _, inverse = torch.unique(bits, dim=0, return_inverse=True)
    num_codes = int(inverse.max()) + 1 if inverse.numel() else 0
    keys = inverse * num_groups + groups.long()
    if weights is not None:  # a (code, group) cell holds its rows' total weight
        _check_rows("weights", weights.reshape(-1, 1), groups)
        cells = torch.bincount(keys, weights=weights.reshape(-1).to(torch.float64),
                               minlength=num_codes * num_groups)  # fmt: skip
    else:
        cells = torch.bincount(keys, minlength=num_codes * num_groups)
    return contingency_mutual_information(cells.view(num_codes, num_groups), base)
