r"""Functional group-fairness metrics: batch -> per-group sufficient statistics -> value.

Every measure here is split in two pure functions:

* ``*_statistics(...)`` turns one batch into per-group **counts** (tensors of shape ``[G]`` or
  ``[G, T]``, ``float64``). Counts add up: the statistics of a concatenation are the sum of the
  statistics of its parts, which is what the :mod:`torchmetrics` shells in
  :mod:`fairlit.metrics` accumulate in sum-reduced states (exact under DDP).
* ``*_from_statistics(...)`` turns the (accumulated) counts into the value.

The one-call functions (``demographic_parity_difference(preds, target, groups)`` and so on)
simply chain the two.

Conventions shared by every function:

* ``preds`` are probabilities :math:`P(y = 1)` in ``[0, 1]`` (hard 0/1 predictions are valid
  probabilities too). A prediction is **positive** when ``preds >= threshold`` ("hard", the
  default); ``soft=True`` (demographic parity only) uses the probability itself instead.
* ``target`` holds 0/1 labels, ``groups`` integer group indices in ``[0, num_groups)``; all three
  have the same shape (any shape; they are flattened).
* A rate is **defined** for a group when its denominator is positive (the group has members,
  or positives, or negatives, depending on the rate). Groups where it is undefined are ignored.
  A gap (max - min) over fewer than two defined groups is ``0.0``; a ratio (min / max) over
  fewer than two defined groups, or with all rates zero, is ``1.0``. No function returns NaN.

Differences from fairlearn (0.15), which is otherwise matched to floating-point precision:

* a ``0 / 0`` demographic-parity ratio (every group has a zero positive rate) is ``nan`` in
  fairlearn and ``1.0`` here (all groups are treated alike);
* fairlearn gives a group without positives (negatives) a true (false) positive rate of 0 via
  scikit-learn's ``confusion_matrix(normalize="true")`` and keeps it in the gap; here that group
  is excluded from that rate's gap, because its rate is undefined, not 0.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "STATISTICS_DTYPE",
    "DiscriminationCurveStatistics",
    "EqualizedOddsComponent",
    "GroupRateStatistics",
    "GroupScoreHistogram",
    "area_under_discrimination_curve",
    "area_under_discrimination_curve_from_statistics",
    "decision_thresholds",
    "demographic_parity_difference",
    "demographic_parity_difference_from_statistics",
    "demographic_parity_ratio",
    "demographic_parity_ratio_from_statistics",
    "discrimination_curve_from_statistics",
    "discrimination_curve_statistics",
    "equalized_odds_difference",
    "equalized_odds_difference_from_statistics",
    "group_auroc",
    "group_auroc_from_statistics",
    "group_rate_statistics",
    "group_score_histogram",
    "rate_gap",
    "rate_ratio",
]

EqualizedOddsComponent = Literal["max", "tpr", "fpr", "fnr"]
_EO_COMPONENTS: tuple[str, ...] = ("max", "tpr", "fpr", "fnr")

#: dtype of every count statistic: integer counts stay exact up to 2**53.
STATISTICS_DTYPE = torch.float64


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------


def _check_num_groups(num_groups: int) -> int:
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1:
        raise ValueError(f"`num_groups` must be a positive int, got {num_groups!r}.")
    return num_groups


def _check_groups(groups: Tensor, num_groups: int | None, name: str = "groups") -> int:
    """Check that ``groups`` holds integer indices in ``[0, num_groups)``; return ``num_groups``."""
    if not isinstance(groups, Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(groups).__name__}.")
    if groups.is_floating_point() or groups.is_complex() or groups.dtype == torch.bool:
        raise ValueError(
            f"`{name}` must hold integer group indices (e.g. int64), got dtype {groups.dtype}."
        )
    if num_groups is None:
        num_groups = int(groups.max()) + 1 if groups.numel() > 0 else 1
        if num_groups < 1:
            raise ValueError(f"`{name}` must hold group indices >= 0, got min {int(groups.min())}.")
        return num_groups
    _check_num_groups(num_groups)
    if groups.numel() > 0:
        low, high = int(groups.min()), int(groups.max())
        if low < 0 or high >= num_groups:
            raise ValueError(
                f"`{name}` must hold group indices in [0, {num_groups}) (num_groups={num_groups}),"
                f" got values in [{low}, {high}]."
            )
    return num_groups


def _check_probabilities(x: Tensor, name: str = "preds") -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
    if x.is_complex():
        raise ValueError(f"`{name}` must be real, got dtype {x.dtype}.")
    if x.numel() == 0:
        return
    xf = x.to(STATISTICS_DTYPE)
    if bool(torch.isnan(xf).any()):
        raise ValueError(f"`{name}` must not contain NaN.")
    low, high = float(xf.min()), float(xf.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"`{name}` must be probabilities in [0, 1] (apply a sigmoid to logits first),"
            f" got values in [{low:g}, {high:g}]."
        )


def _check_binary(x: Tensor, name: str = "target") -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
    if x.numel() == 0:
        return
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError(f"`{name}` must hold binary 0/1 values, got {torch.unique(x)[:10]}.")


def _check_same_shape(reference: Tensor, ref_name: str, other: Tensor, other_name: str) -> None:
    if reference.shape != other.shape:
        raise ValueError(
            f"`{other_name}` must have the same shape as `{ref_name}`"
            f" ({tuple(reference.shape)}), got {tuple(other.shape)}."
        )


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"`threshold` must be a float, got {threshold!r}.")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"`threshold` must be in [0, 1], got {threshold!r}.")
    return float(threshold)


def _check_num_thresholds(num_thresholds: int) -> int:
    if (
        isinstance(num_thresholds, bool)
        or not isinstance(num_thresholds, int)
        or num_thresholds < 2
    ):
        raise ValueError(f"`num_thresholds` must be an int >= 2, got {num_thresholds!r}.")
    return num_thresholds


def _check_component(component: str) -> str:
    if component not in _EO_COMPONENTS:
        raise ValueError(f"`component` must be one of {_EO_COMPONENTS}, got {component!r}.")
    return component


def _group_one_hot(groups: Tensor, num_groups: int) -> Tensor:
    # A [N, G] one-hot matrix product is deterministic on every device, unlike scatter/index_add
    # with floating-point accumulation on CUDA (which `deterministic=True` runs reject).
    return F.one_hot(groups.reshape(-1).long(), num_groups).to(STATISTICS_DTYPE)


# --------------------------------------------------------------------------------------------
# gaps and ratios of per-group rates
# --------------------------------------------------------------------------------------------


def _group_rate_extremes(numerator: Tensor, denominator: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Max and min over dim 0 of the defined rates, and the number of defined groups."""
    if denominator.ndim < numerator.ndim:  # one count per group for a [G, ...] numerator
        denominator = denominator.reshape(denominator.shape + (1,) * (numerator.ndim - 1))
    denominator = denominator.expand_as(numerator)
    defined = denominator > 0
    rates = numerator / torch.where(defined, denominator, torch.ones_like(denominator))
    inf = torch.full_like(rates, float("inf"))
    high = torch.where(defined, rates, -inf).amax(dim=0)
    low = torch.where(defined, rates, inf).amin(dim=0)
    return high, low, defined.sum(dim=0)


def rate_gap(numerator: Tensor, denominator: Tensor) -> Tensor:
    r"""Largest minus smallest per-group rate, over the groups whose rate is defined.

    .. math::
        \Delta = \max_{g \in D} \frac{a_g}{b_g} - \min_{g \in D} \frac{a_g}{b_g},
        \qquad D = \{g : b_g > 0\},

    and :math:`\Delta = 0` when :math:`|D| < 2`. Reduces over the first (group) dimension, so a
    ``[G, T]`` numerator gives ``T`` gaps. Runs without a host-device sync.

    Args:
        numerator: ``[G]`` or ``[G, ...]`` per-group numerators :math:`a_g`.
        denominator: ``[G]`` (or the numerator's shape) per-group denominators :math:`b_g`
            (counts, ``>= 0``).

    Returns:
        Tensor of the numerator's shape without its first dimension (a scalar for ``[G]``).

    Example:
        >>> rate_gap(torch.tensor([1.0, 3.0, 0.0]), torch.tensor([2.0, 4.0, 0.0]))
        tensor(0.2500)
    """
    high, low, num_defined = _group_rate_extremes(numerator, denominator)
    enough = num_defined >= 2
    zero = torch.zeros_like(high)
    return torch.where(enough, high, zero) - torch.where(enough, low, zero)


def rate_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    r"""Smallest over largest per-group rate, over the groups whose rate is defined.

    .. math::
        \rho = \frac{\min_{g \in D} a_g / b_g}{\max_{g \in D} a_g / b_g},
        \qquad D = \{g : b_g > 0\},

    and :math:`\rho = 1` when :math:`|D| < 2` or every defined rate is 0 (all groups alike).
    Reduces over the first (group) dimension. Runs without a host-device sync.

    Args:
        numerator: ``[G]`` or ``[G, ...]`` per-group numerators :math:`a_g`.
        denominator: ``[G]`` (or the numerator's shape) per-group denominators :math:`b_g`.

    Returns:
        Tensor in ``[0, 1]`` of the numerator's shape without its first dimension.

    Example:
        >>> rate_ratio(torch.tensor([1.0, 3.0]), torch.tensor([4.0, 4.0]))
        tensor(0.3333)
    """
    high, low, num_defined = _group_rate_extremes(numerator, denominator)
    ok = (num_defined >= 2) & (high > 0)
    one = torch.ones_like(high)
    return torch.where(ok, low, one) / torch.where(ok, high, one)


# --------------------------------------------------------------------------------------------
# demographic parity and equalized odds
# --------------------------------------------------------------------------------------------


class GroupRateStatistics(NamedTuple):
    r"""Per-group counts from which every rate-based group-fairness measure follows.

    .. math:: TPR_g = \frac{tp_g}{n^+_g}, \quad FPR_g = \frac{\hat n^+_g - tp_g}{n_g - n^+_g},
        \quad P(\hat y = 1 \mid g) = \frac{\hat n^+_g}{n_g}

    All fields are ``float64`` tensors of shape ``[G]``; false positives are
    ``predicted_positive - true_positive`` and negatives ``count - target_positive``.

    Attributes:
        count: members of each group.
        predicted_positive: positive predictions in each group (hard: number of
            ``preds >= threshold``; soft: sum of ``preds``).
        target_positive: members with ``target == 1`` (zeros when no target was given).
        true_positive: positive predictions among members with ``target == 1`` (zeros when no
            target was given).

    Example:
        >>> stats = GroupRateStatistics(*torch.tensor([[4.0, 2.0], [2.0, 1.0], [2.0, 1.0],
        ...                                              [1.0, 1.0]]))
        >>> (stats.predicted_positive - stats.true_positive).tolist()  # false positives
        [1.0, 0.0]
    """

    count: Tensor
    predicted_positive: Tensor
    target_positive: Tensor
    true_positive: Tensor


def group_rate_statistics(
    preds: Tensor,
    target: Tensor | None,
    groups: Tensor,
    num_groups: int | None = None,
    threshold: float = 0.5,
    soft: bool = False,
    validate_args: bool = True,
) -> GroupRateStatistics:
    r"""Per-group counts of members, positive predictions, positive targets and true positives.

    With :math:`\hat y_i = [p_i \ge t]` (hard) or :math:`\hat y_i = p_i` (soft):

    .. math::
        n_g = \sum_{i: s_i = g} 1, \quad
        \hat n^+_g = \sum_{i: s_i = g} \hat y_i, \quad
        n^+_g = \sum_{i: s_i = g} y_i, \quad
        tp_g = \sum_{i: s_i = g} \hat y_i\, y_i .

    Args:
        preds: predicted probabilities :math:`P(y=1)` in ``[0, 1]``, any shape.
        target: 0/1 labels, same shape as ``preds``; ``None`` when only demographic parity is
            needed (``target_positive`` and ``true_positive`` are then zeros).
        groups: integer group indices in ``[0, num_groups)``, same shape as ``preds``.
        num_groups: number of groups :math:`G`; ``None`` infers ``groups.max() + 1`` (give it
            explicitly whenever counts are accumulated over batches).
        threshold: a prediction is positive when ``preds >= threshold``.
        soft: use the probabilities instead of thresholded predictions.
        validate_args: check shapes, dtypes and value ranges (one host-device sync each).

    Returns:
        :class:`GroupRateStatistics` of ``float64`` ``[G]`` tensors.

    Raises:
        ValueError: on shape mismatches, ``preds`` outside ``[0, 1]``, non-binary ``target`` or
            ``groups`` outside ``[0, num_groups)``.

    Example:
        >>> stats = group_rate_statistics(
        ...     torch.tensor([0.9, 0.2, 0.6, 0.4]), torch.tensor([1, 0, 0, 1]),
        ...     torch.tensor([0, 0, 1, 1]), num_groups=2)
        >>> stats.predicted_positive, stats.true_positive
        (tensor([1., 1.], dtype=torch.float64), tensor([1., 0.], dtype=torch.float64))
    """
    if validate_args:
        _check_probabilities(preds, "preds")
        if not isinstance(groups, Tensor):
            raise ValueError(f"`groups` must be a torch.Tensor, got {type(groups).__name__}.")
        _check_same_shape(preds, "preds", groups, "groups")
        if target is not None:
            if not isinstance(target, Tensor):
                raise ValueError(f"`target` must be a torch.Tensor, got {type(target).__name__}.")
            _check_same_shape(preds, "preds", target, "target")
            _check_binary(target, "target")
        _check_threshold(threshold)
        num_groups = _check_groups(groups, num_groups, "groups")
    elif num_groups is None:
        num_groups = int(groups.max()) + 1 if groups.numel() > 0 else 1
    one_hot = _group_one_hot(groups, num_groups)  # [N, G]
    flat = preds.reshape(-1)
    # Threshold in the dtype of `preds` (as `preds >= threshold` would), so that a float32 0.7
    # counts as ">= 0.7"; sums are float64.
    positive = flat.to(STATISTICS_DTYPE) if soft else (flat >= threshold).to(STATISTICS_DTYPE)
    count = one_hot.sum(dim=0)
    predicted_positive = positive @ one_hot
    if target is None:
        target_positive = torch.zeros_like(count)
        true_positive = torch.zeros_like(count)
    else:
        labels = target.reshape(-1).to(STATISTICS_DTYPE)
        target_positive = labels @ one_hot
        true_positive = (positive * labels) @ one_hot
    return GroupRateStatistics(count, predicted_positive, target_positive, true_positive)


def demographic_parity_difference_from_statistics(
    count: Tensor, predicted_positive: Tensor
) -> Tensor:
    r"""Demographic parity difference from per-group counts (see :func:`rate_gap`).

    .. math::
        \Delta_{DP} = \max_g \frac{\hat n^+_g}{n_g} - \min_g \frac{\hat n^+_g}{n_g}
        \quad \text{over groups with } n_g > 0 .

    Args:
        count: ``[G]`` members per group.
        predicted_positive: ``[G]`` positive predictions per group.

    Returns:
        Scalar tensor in ``[0, 1]``; ``0.0`` with fewer than two non-empty groups.

    Example:
        >>> demographic_parity_difference_from_statistics(
        ...     torch.tensor([4.0, 2.0, 0.0]), torch.tensor([3.0, 1.0, 0.0]))
        tensor(0.2500)
    """
    return rate_gap(predicted_positive, count)


def demographic_parity_ratio_from_statistics(count: Tensor, predicted_positive: Tensor) -> Tensor:
    r"""Demographic parity ratio from per-group counts (see :func:`rate_ratio`).

    .. math::
        \rho_{DP} = \frac{\min_g \hat n^+_g / n_g}{\max_g \hat n^+_g / n_g}
        \quad \text{over groups with } n_g > 0 .

    Args:
        count: ``[G]`` members per group.
        predicted_positive: ``[G]`` positive predictions per group.

    Returns:
        Scalar tensor in ``[0, 1]``; ``1.0`` with fewer than two non-empty groups or when every
        positive rate is 0 (fairlearn returns ``nan`` for that ``0 / 0``).

    Example:
        >>> demographic_parity_ratio_from_statistics(
        ...     torch.tensor([4.0, 2.0]), torch.tensor([3.0, 1.0]))
        tensor(0.6667)
    """
    return rate_ratio(predicted_positive, count)


def equalized_odds_difference_from_statistics(
    count: Tensor,
    predicted_positive: Tensor,
    target_positive: Tensor,
    true_positive: Tensor,
    component: EqualizedOddsComponent = "max",
) -> Tensor:
    r"""Equalized odds difference (disparate mistreatment) from per-group counts.

    .. math::
        \Delta_{TPR} = \operatorname{gap}_g \frac{tp_g}{n^+_g}, \quad
        \Delta_{FPR} = \operatorname{gap}_g \frac{\hat n^+_g - tp_g}{n_g - n^+_g}, \quad
        \Delta_{EO} = \max(\Delta_{TPR}, \Delta_{FPR}),

    where :math:`\operatorname{gap}` is max minus min over the groups whose denominator is
    positive (:func:`rate_gap`). :math:`\Delta_{FNR} = \Delta_{TPR}` because
    :math:`FNR = 1 - TPR`.

    Args:
        count: ``[G]`` members per group.
        predicted_positive: ``[G]`` positive predictions per group.
        target_positive: ``[G]`` members with target 1 per group.
        true_positive: ``[G]`` positive predictions among target 1 per group.
        component: ``"max"`` (fairlearn's ``equalized_odds_difference``), or one gap:
            ``"tpr"``, ``"fpr"`` or ``"fnr"``.

    Returns:
        Scalar tensor in ``[0, 1]``.

    Example:
        >>> equalized_odds_difference_from_statistics(
        ...     torch.tensor([4.0, 4.0]), torch.tensor([2.0, 1.0]),
        ...     torch.tensor([2.0, 2.0]), torch.tensor([2.0, 1.0]))
        tensor(0.5000)
    """
    _check_component(component)
    if component in ("tpr", "max"):
        tpr_gap = rate_gap(true_positive, target_positive)
        if component == "tpr":
            return tpr_gap
    if component == "fnr":
        return rate_gap(target_positive - true_positive, target_positive)
    fpr_gap = rate_gap(predicted_positive - true_positive, count - target_positive)
    if component == "fpr":
        return fpr_gap
    return torch.maximum(tpr_gap, fpr_gap)


def demographic_parity_difference(
    preds: Tensor,
    target: Tensor | None,
    groups: Tensor,
    num_groups: int | None = None,
    threshold: float = 0.5,
    soft: bool = False,
) -> Tensor:
    r"""Demographic parity difference: max minus min positive-prediction rate across groups.

    .. math::
        \Delta_{DP} = \max_g P(\hat y = 1 \mid s = g) - \min_g P(\hat y = 1 \mid s = g),

    with :math:`\hat y = [p \ge t]` (hard) or the mean of :math:`p` (``soft=True``), over the
    groups that have members. Equals fairlearn's ``demographic_parity_difference`` on the
    thresholded predictions.

    Args:
        preds: probabilities :math:`P(y=1)` in ``[0, 1]``.
        target: 0/1 labels (unused; may be ``None``).
        groups: integer group indices, same shape as ``preds``.
        num_groups: number of groups; ``None`` infers ``groups.max() + 1``.
        threshold: a prediction is positive when ``preds >= threshold``.
        soft: use mean probabilities instead of thresholded predictions.

    Returns:
        Scalar ``float32`` tensor in ``[0, 1]``.

    Example:
        >>> demographic_parity_difference(
        ...     torch.tensor([0.9, 0.8, 0.1, 0.7]), None, torch.tensor([0, 0, 1, 1]))
        tensor(0.5000)
    """
    stats = group_rate_statistics(preds, target, groups, num_groups, threshold, soft)
    value = demographic_parity_difference_from_statistics(stats.count, stats.predicted_positive)
    return value.to(torch.get_default_dtype())


def demographic_parity_ratio(
    preds: Tensor,
    target: Tensor | None,
    groups: Tensor,
    num_groups: int | None = None,
    threshold: float = 0.5,
    soft: bool = False,
) -> Tensor:
    r"""Demographic parity ratio: min over max positive-prediction rate across groups.

    .. math::
        \rho_{DP} = \frac{\min_g P(\hat y = 1 \mid s = g)}{\max_g P(\hat y = 1 \mid s = g)},

    over the groups that have members; ``1.0`` with fewer than two such groups or when every rate
    is 0. This is what torchmetrics' ``BinaryFairness`` reports as ``DP``.

    Args:
        preds: probabilities :math:`P(y=1)` in ``[0, 1]``.
        target: 0/1 labels (unused; may be ``None``).
        groups: integer group indices, same shape as ``preds``.
        num_groups: number of groups; ``None`` infers ``groups.max() + 1``.
        threshold: a prediction is positive when ``preds >= threshold``.
        soft: use mean probabilities instead of thresholded predictions.

    Returns:
        Scalar ``float32`` tensor in ``[0, 1]``.

    Example:
        >>> demographic_parity_ratio(
        ...     torch.tensor([0.9, 0.8, 0.1, 0.7]), None, torch.tensor([0, 0, 1, 1]))
        tensor(0.5000)
    """
    stats = group_rate_statistics(preds, target, groups, num_groups, threshold, soft)
    value = demographic_parity_ratio_from_statistics(stats.count, stats.predicted_positive)
    return value.to(torch.get_default_dtype())


def equalized_odds_difference(
    preds: Tensor,
    target: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    threshold: float = 0.5,
    component: EqualizedOddsComponent = "max",
) -> Tensor:
    r"""Equalized odds difference (fairlearn's definition; the paper's disparate mistreatment).

    .. math::
        \Delta_{EO} = \max\big(\operatorname{gap}_g TPR_g,\ \operatorname{gap}_g FPR_g\big),

    on thresholded predictions; groups without positives (negatives) are left out of the TPR
    (FPR) gap. See :func:`equalized_odds_difference_from_statistics`.

    Args:
        preds: probabilities :math:`P(y=1)` in ``[0, 1]``.
        target: 0/1 labels, same shape as ``preds``.
        groups: integer group indices, same shape as ``preds``.
        num_groups: number of groups; ``None`` infers ``groups.max() + 1``.
        threshold: a prediction is positive when ``preds >= threshold``.
        component: ``"max"``, ``"tpr"``, ``"fpr"`` or ``"fnr"``.

    Returns:
        Scalar ``float32`` tensor in ``[0, 1]``.

    Example:
        >>> equalized_odds_difference(
        ...     torch.tensor([0.9, 0.8, 0.1, 0.7]), torch.tensor([1, 0, 1, 0]),
        ...     torch.tensor([0, 0, 1, 1]))
        tensor(1.)
    """
    _check_component(component)
    if target is None:
        raise ValueError("`target` is required for the equalized odds difference, got None.")
    stats = group_rate_statistics(preds, target, groups, num_groups, threshold, soft=False)
    value = equalized_odds_difference_from_statistics(*stats, component=component)
    return value.to(torch.get_default_dtype())


# --------------------------------------------------------------------------------------------
# threshold-grid measures: area under the discrimination curve, per-group AUROC
# --------------------------------------------------------------------------------------------


def decision_thresholds(num_thresholds: int, device: torch.device | str | None = None) -> Tensor:
    r"""The fixed grid :math:`t_k = k / (T - 1)`, :math:`k = 0, \dots, T - 1` (``float64``).

    Computed as ``arange(T) / (T - 1)`` so that it is reproducible exactly (``linspace`` may
    differ in the last bit between implementations).

    Args:
        num_thresholds: number of thresholds :math:`T \ge 2`.
        device: device of the result.

    Returns:
        ``[T]`` ``float64`` tensor from 0 to 1.

    Example:
        >>> decision_thresholds(5)
        tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000], dtype=torch.float64)
    """
    _check_num_thresholds(num_thresholds)
    return torch.arange(num_thresholds, dtype=STATISTICS_DTYPE, device=device) / (
        num_thresholds - 1
    )


def _grid_bins(preds: Tensor, num_thresholds: int) -> Tensor:
    """Number of grid thresholds ``<= p`` for each prediction: an int64 in ``[1, T]``.

    The comparison happens in the dtype of floating ``preds`` (the grid is rounded to it), like
    ``preds >= t_k`` would, so that a float32 ``0.7`` counts as ``>= 0.7``.
    """
    dtype = preds.dtype if preds.is_floating_point() else STATISTICS_DTYPE
    thresholds = decision_thresholds(num_thresholds, device=preds.device).to(dtype)
    return torch.searchsorted(thresholds, preds.reshape(-1).to(dtype).contiguous(), right=True)


class DiscriminationCurveStatistics(NamedTuple):
    r"""Per-group counts behind the discrimination curve.

    Attributes:
        count: ``[G]`` members per group.
        above: ``[G, T]`` members of group ``g`` with ``preds >= t_k``.

    .. math:: A_{g,k} = \#\{i : s_i = g,\ p_i \ge t_k\}

    Example:
        >>> stats = discrimination_curve_statistics(
        ...     torch.tensor([0.2, 0.7]), torch.tensor([0, 1]), num_thresholds=2)
        >>> stats.count.tolist(), stats.above.tolist()
        ([1.0, 1.0], [[1.0, 0.0], [1.0, 0.0]])
    """

    count: Tensor
    above: Tensor


def discrimination_curve_statistics(
    preds: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    num_thresholds: int = 101,
    validate_args: bool = True,
) -> DiscriminationCurveStatistics:
    r"""Per-group counts of predictions at or above each threshold of the fixed grid.

    .. math::
        A_{g,k} = \#\{i : s_i = g,\ p_i \ge t_k\}, \qquad t_k = k / (T - 1),

    compared in the dtype of floating ``preds`` (the grid is rounded to it).

    Args:
        preds: probabilities in ``[0, 1]``, any shape.
        groups: integer group indices, same shape as ``preds``.
        num_groups: number of groups; ``None`` infers ``groups.max() + 1``.
        num_thresholds: grid size :math:`T \ge 2`.
        validate_args: check shapes and value ranges.

    Returns:
        :class:`DiscriminationCurveStatistics` (``float64``).

    Example:
        >>> discrimination_curve_statistics(
        ...     torch.tensor([0.2, 0.7, 0.5]), torch.tensor([0, 0, 1]), num_thresholds=3).above
        tensor([[2., 1., 0.],
                [1., 1., 0.]], dtype=torch.float64)
    """
    _check_num_thresholds(num_thresholds)
    if validate_args:
        _check_probabilities(preds, "preds")
        if not isinstance(groups, Tensor):
            raise ValueError(f"`groups` must be a torch.Tensor, got {type(groups).__name__}.")
        _check_same_shape(preds, "preds", groups, "groups")
        num_groups = _check_groups(groups, num_groups, "groups")
    elif num_groups is None:
        num_groups = int(groups.max()) + 1 if groups.numel() > 0 else 1
    width = num_thresholds + 1
    bins = _grid_bins(preds, num_thresholds)
    # Integer bincount (no weights) is deterministic on CUDA as well.
    flat = groups.reshape(-1).long() * width + bins
    hist = torch.bincount(flat, minlength=num_groups * width).view(num_groups, width)
    hist = hist.to(STATISTICS_DTYPE)
    # A prediction in bin b (b thresholds <= p) is >= t_k exactly for k < b.
    above = hist.flip(-1).cumsum(-1).flip(-1)[:, 1:]
    return DiscriminationCurveStatistics(hist.sum(-1), above)


def discrimination_curve_from_statistics(count: Tensor, above: Tensor) -> Tensor:
    r"""Demographic parity difference at every threshold of the grid.

    .. math::
        D(t_k) = \max_g \frac{A_{g,k}}{n_g} - \min_g \frac{A_{g,k}}{n_g}
        \quad \text{over groups with } n_g > 0 .

    Args:
        count: ``[G]`` members per group.
        above: ``[G, T]`` members with ``preds >= t_k``.

    Returns:
        ``[T]`` tensor of gaps; zeros with fewer than two non-empty groups.

    Example:
        >>> discrimination_curve_from_statistics(
        ...     torch.tensor([2.0, 1.0]), torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 0.0]]))
        tensor([0.0000, 0.5000, 0.0000])
    """
    return rate_gap(above, count)


def area_under_discrimination_curve_from_statistics(count: Tensor, above: Tensor) -> Tensor:
    r"""Area under the discrimination curve (AUDC), trapezoid rule on the uniform grid.

    .. math::
        \mathrm{AUDC} = \sum_{k=1}^{T-1} \frac{t_k - t_{k-1}}{2}\,\big(D(t_{k-1}) + D(t_k)\big).

    Args:
        count: ``[G]`` members per group.
        above: ``[G, T]`` members with ``preds >= t_k`` on the grid :func:`decision_thresholds`.

    Returns:
        Scalar tensor in ``[0, 1]``.

    Example:
        >>> area_under_discrimination_curve_from_statistics(
        ...     torch.tensor([2.0, 1.0]), torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 0.0]]))
        tensor(0.2500)
    """
    curve = discrimination_curve_from_statistics(count, above)
    thresholds = decision_thresholds(above.shape[-1], device=curve.device).to(curve.dtype)
    return torch.trapezoid(curve, thresholds)


def area_under_discrimination_curve(
    preds: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    num_thresholds: int = 101,
) -> Tensor:
    r"""Area under the discrimination curve: the DP difference integrated over thresholds.

    .. math::
        \mathrm{AUDC} = \int_0^1 \Big(\max_g P(p \ge t \mid s = g)
        - \min_g P(p \ge t \mid s = g)\Big)\, dt,

    by the trapezoid rule on :math:`t_k = k / (T - 1)`. Unlike the difference at one threshold,
    it does not depend on the choice of threshold. In the limit of a fine grid it equals the
    expected DP difference under a uniformly random threshold.

    Args:
        preds: probabilities in ``[0, 1]``.
        groups: integer group indices, same shape as ``preds``.
        num_groups: number of groups; ``None`` infers ``groups.max() + 1``.
        num_thresholds: grid size :math:`T`.

    Returns:
        Scalar ``float32`` tensor in ``[0, 1]``.

    Example:
        >>> area_under_discrimination_curve(
        ...     torch.tensor([0.2, 0.7, 0.5]), torch.tensor([0, 0, 1]), num_thresholds=3)
        tensor(0.2500)
    """
    stats = discrimination_curve_statistics(preds, groups, num_groups, num_thresholds)
    value = area_under_discrimination_curve_from_statistics(stats.count, stats.above)
    return value.to(torch.get_default_dtype())


class GroupScoreHistogram(NamedTuple):
    r"""Per-group histograms of grid-binned scores, split by label.

    Attributes:
        positive: ``[G, T + 1]`` members with target 1 whose score has ``b`` grid thresholds
            ``<= p`` (column ``b``).
        negative: ``[G, T + 1]`` the same for target 0.

    .. math:: P_{g,b} = \#\{i : s_i = g,\ y_i = 1,\ b(p_i) = b\}, \quad
        b(p) = \#\{k : t_k \le p\}

    Example:
        >>> hist = group_score_histogram(torch.tensor([0.2, 0.7]), torch.tensor([0, 1]),
        ...                              torch.tensor([0, 0]), num_thresholds=3)
        >>> hist.positive.tolist(), hist.negative.tolist()
        ([[0.0, 0.0, 1.0, 0.0]], [[0.0, 1.0, 0.0, 0.0]])
    """

    positive: Tensor
    negative: Tensor


def group_score_histogram(
    preds: Tensor,
    target: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    num_thresholds: int = 1001,
    validate_args: bool = True,
) -> GroupScoreHistogram:
    r"""Per-group, per-label histograms of scores binned on the threshold grid.

    The bin of :math:`p` is :math:`b(p) = \#\{k : t_k \le p\}`, so two scores share a bin exactly
    when no grid threshold separates them.

    Args:
        preds: probabilities in ``[0, 1]``.
        target: 0/1 labels, same shape as ``preds``.
        groups: integer group indices, same shape as ``preds``.
        num_groups: number of groups; ``None`` infers ``groups.max() + 1``.
        num_thresholds: grid size :math:`T`.
        validate_args: check shapes and value ranges.

    Returns:
        :class:`GroupScoreHistogram` (``float64``).

    Example:
        >>> group_score_histogram(torch.tensor([0.2, 0.7]), torch.tensor([0, 1]),
        ...                       torch.tensor([0, 0]), num_thresholds=2).positive
        tensor([[0., 1., 0.]], dtype=torch.float64)
    """
    _check_num_thresholds(num_thresholds)
    if validate_args:
        _check_probabilities(preds, "preds")
        for name, other in (("target", target), ("groups", groups)):
            if not isinstance(other, Tensor):
                raise ValueError(f"`{name}` must be a torch.Tensor, got {type(other).__name__}.")
            _check_same_shape(preds, "preds", other, name)
        _check_binary(target, "target")
        num_groups = _check_groups(groups, num_groups, "groups")
    elif num_groups is None:
        num_groups = int(groups.max()) + 1 if groups.numel() > 0 else 1
    width = num_thresholds + 1
    bins = _grid_bins(preds, num_thresholds)
    labels = target.reshape(-1).long()
    flat = (groups.reshape(-1).long() * 2 + labels) * width + bins
    hist = torch.bincount(flat, minlength=num_groups * 2 * width)
    hist = hist.view(num_groups, 2, width).to(STATISTICS_DTYPE)
    return GroupScoreHistogram(positive=hist[:, 1], negative=hist[:, 0])


def group_auroc_from_statistics(positive: Tensor, negative: Tensor) -> tuple[Tensor, Tensor]:
    r"""Per-group AUROC of the grid-binned scores (Mann-Whitney, ties count one half).

    .. math::
        \mathrm{AUC}_g = \frac{1}{n^+_g n^-_g} \sum_b P_{g,b}
        \Big(\sum_{b' < b} N_{g,b'} + \tfrac12 N_{g,b}\Big),

    which equals the trapezoid area under the ROC curve traced over the threshold grid.

    Args:
        positive: ``[G, B]`` histogram of the scores of label-1 members.
        negative: ``[G, B]`` histogram of the scores of label-0 members.

    Returns:
        ``(auroc, defined)``: ``[G]`` AUROC per group (0.5 where undefined) and the ``[G]``
        boolean mask of groups with both positives and negatives.

    Example:
        >>> group_auroc_from_statistics(torch.tensor([[0.0, 1.0, 1.0]]),
        ...                             torch.tensor([[1.0, 1.0, 0.0]]))
        (tensor([0.8750]), tensor([True]))
    """
    n_pos = positive.sum(-1)
    n_neg = negative.sum(-1)
    below = negative.cumsum(-1) - negative  # negatives in strictly lower bins
    wins = (positive * (below + 0.5 * negative)).sum(-1)
    defined = (n_pos > 0) & (n_neg > 0)
    denom = torch.where(defined, n_pos * n_neg, torch.ones_like(n_pos))
    auroc = torch.where(defined, wins / denom, torch.full_like(wins, 0.5))
    return auroc, defined


def group_auroc(
    preds: Tensor,
    target: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    num_thresholds: int = 1001,
) -> tuple[Tensor, Tensor]:
    r"""Per-group AUROC over the fixed threshold grid.

    Exact AUROC of the scores rounded down to the grid :math:`t_k = k / (T - 1)`; it differs
    from the exact AUROC of the raw scores only through pairs of scores (one positive, one
    negative) in the same grid cell, which count one half.

    Args:
        preds: probabilities in ``[0, 1]``.
        target: 0/1 labels, same shape as ``preds``.
        groups: integer group indices, same shape as ``preds``.
        num_groups: number of groups; ``None`` infers ``groups.max() + 1``.
        num_thresholds: grid size :math:`T`.

    Returns:
        ``(auroc, defined)`` as in :func:`group_auroc_from_statistics` (``float32`` AUROC).

    Example:
        >>> auroc, defined = group_auroc(torch.tensor([0.1, 0.9, 0.8, 0.3]),
        ...                              torch.tensor([0, 1, 0, 1]), torch.tensor([0, 0, 1, 1]))
        >>> auroc, defined
        (tensor([1., 0.]), tensor([True, True]))
    """
    hist = group_score_histogram(preds, target, groups, num_groups, num_thresholds)
    auroc, defined = group_auroc_from_statistics(hist.positive, hist.negative)
    return auroc.to(torch.get_default_dtype()), defined
