"""Gaps and ratios of per-group rates: demographic parity and equalized odds.

See :mod:`fairlit.metrics.functional` for the conventions shared by every function.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from fairlit.metrics.functional._checks import (
    STATISTICS_DTYPE,
    EqualizedOddsComponent,
    Undefined,
    _check_binary,
    _check_component,
    _check_groups,
    _check_probabilities,
    _check_same_shape,
    _check_threshold,
    _check_undefined,
    _check_weights,
    _group_one_hot,
)
from fairlit.metrics.functional.rates import rate_gap, rate_ratio
from fairlit.validation import infer_num_groups

__all__ = [
    "GroupRateStatistics",
    "demographic_parity_difference",
    "demographic_parity_difference_from_statistics",
    "demographic_parity_ratio",
    "demographic_parity_ratio_from_statistics",
    "equalized_odds_difference",
    "equalized_odds_difference_from_statistics",
    "group_rate_statistics",
]


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
        group_size: members of each group.
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

    group_size: Tensor
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
    weights: Tensor | None = None,
) -> GroupRateStatistics:
    r"""Per-group counts of members, positive predictions, positive targets and true positives.

    With :math:`\hat y_i = [p_i \ge t]` (hard) or :math:`\hat y_i = p_i` (soft):

    .. math::
        n_g = \sum_{i: s_i = g} w_i, \quad
        \hat n^+_g = \sum_{i: s_i = g} w_i \hat y_i, \quad
        n^+_g = \sum_{i: s_i = g} w_i y_i, \quad
        tp_g = \sum_{i: s_i = g} w_i \hat y_i\, y_i ,

    with sample weights :math:`w_i` (1 without ``weights``): weighted rates equal fairlearn's
    with ``sample_weight``.

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
        weights: optional nonnegative sample weights, same shape as ``preds``.

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
        if weights is not None:
            _check_weights(weights, preds)
    elif num_groups is None:
        num_groups = infer_num_groups(groups)
    one_hot = _group_one_hot(groups, num_groups)  # [N, G]
    if weights is not None:
        one_hot = one_hot * weights.reshape(-1, 1).to(STATISTICS_DTYPE)
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
    undefined: Undefined = "exclude",
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
        undefined: A group with rows but no positives (negatives) has no TPR (FPR):
            ``"exclude"`` leaves it out of that gap; ``"zero"`` counts the rate as 0, as
            fairlearn does (then the value equals fairlearn's). A group without rows is left
            out either way (fairlearn never sees it).

    Returns:
        Scalar tensor in ``[0, 1]``.

    Example:
        >>> equalized_odds_difference_from_statistics(
        ...     torch.tensor([4.0, 4.0]), torch.tensor([2.0, 1.0]),
        ...     torch.tensor([2.0, 2.0]), torch.tensor([2.0, 1.0]))
        tensor(0.5000)
    """
    _check_component(component)
    present = count > 0 if _check_undefined(undefined) == "zero" else None
    if component in ("tpr", "max"):
        tpr_gap = rate_gap(true_positive, target_positive, present)
        if component == "tpr":
            return tpr_gap
    if component == "fnr":
        # FNR = 1 - TPR for a defined rate; an undefined one counted as 0 stays 0.
        return rate_gap(target_positive - true_positive, target_positive, present)
    fpr_gap = rate_gap(predicted_positive - true_positive, count - target_positive, present)
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
    value = demographic_parity_difference_from_statistics(
        stats.group_size, stats.predicted_positive
    )
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
    value = demographic_parity_ratio_from_statistics(stats.group_size, stats.predicted_positive)
    return value.to(torch.get_default_dtype())


def equalized_odds_difference(
    preds: Tensor,
    target: Tensor,
    groups: Tensor,
    num_groups: int | None = None,
    threshold: float = 0.5,
    component: EqualizedOddsComponent = "max",
    undefined: Undefined = "exclude",
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
        undefined: ``"exclude"`` or ``"zero"`` (equal to fairlearn), see
            :func:`equalized_odds_difference_from_statistics`.

    Returns:
        Scalar ``float32`` tensor in ``[0, 1]``.

    Raises:
        ValueError: if ``target`` is None or an input fails its check.

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
    value = equalized_odds_difference_from_statistics(
        *stats, component=component, undefined=undefined
    )
    return value.to(torch.get_default_dtype())
