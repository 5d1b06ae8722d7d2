"""Per-group AUROC from per-group score histograms.

See :mod:`fairlit.metrics.functional` for the conventions shared by every function.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from fairlit.metrics.functional._checks import (
    STATISTICS_DTYPE,
    _check_binary,
    _check_groups,
    _check_num_thresholds,
    _check_probabilities,
    _check_same_shape,
)
from fairlit.metrics.functional.discrimination_curve import _grid_bins
from fairlit.validation import infer_num_groups

__all__ = [
    "GroupScoreHistogram",
    "group_auroc",
    "group_auroc_from_statistics",
    "group_score_histogram",
]


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

    Raises:
        ValueError: if an input is not a tensor or the shapes disagree.

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
        num_groups = infer_num_groups(groups)
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
