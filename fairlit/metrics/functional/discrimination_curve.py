"""Threshold-grid measures: the discrimination curve and the area under it.

See :mod:`fairlit.metrics.functional` for the conventions shared by every function.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from fairlit.metrics.functional._checks import (
    STATISTICS_DTYPE,
    _check_groups,
    _check_num_thresholds,
    _check_probabilities,
    _check_same_shape,
)
from fairlit.metrics.functional.rates import rate_gap
from fairlit.validation import infer_num_groups

__all__ = [
    "DiscriminationCurveStatistics",
    "area_under_discrimination_curve",
    "area_under_discrimination_curve_from_statistics",
    "decision_thresholds",
    "discrimination_curve_from_statistics",
    "discrimination_curve_statistics",
]


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
        group_size: ``[G]`` members per group.
        above: ``[G, T]`` members of group ``g`` with ``preds >= t_k``.

    .. math:: A_{g,k} = \#\{i : s_i = g,\ p_i \ge t_k\}

    Example:
        >>> stats = discrimination_curve_statistics(
        ...     torch.tensor([0.2, 0.7]), torch.tensor([0, 1]), num_thresholds=2)
        >>> stats.group_size.tolist(), stats.above.tolist()
        ([1.0, 1.0], [[1.0, 0.0], [1.0, 0.0]])
    """

    group_size: Tensor
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

    Raises:
        ValueError: if an input is not a tensor or the shapes disagree.

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
        num_groups = infer_num_groups(groups)
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
    value = area_under_discrimination_curve_from_statistics(stats.group_size, stats.above)
    return value.to(torch.get_default_dtype())
