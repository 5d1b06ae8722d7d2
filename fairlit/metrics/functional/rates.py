"""Per-group rates, their gaps and their ratios, with what "undefined" means.

A group's rate :math:`a_g / b_g` is undefined when :math:`b_g = 0` (no rows, no positives for a
TPR, no negatives for an FPR). Gaps and ratios leave undefined rates out unless told to count
them as 0 (fairlearn's convention); :func:`per_group_rates` returns the rates with a
``defined`` mask next to each.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["per_group_rates", "rate_gap", "rate_ratio"]


def _group_rate_extremes(
    numerator: Tensor, denominator: Tensor, present: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Max and min over dim 0 of the defined rates, and the number of defined groups."""
    if denominator.ndim < numerator.ndim:  # one count per group for a [G, ...] numerator
        denominator = denominator.reshape(denominator.shape + (1,) * (numerator.ndim - 1))
    denominator = denominator.expand_as(numerator)
    defined = denominator > 0
    if present is not None:  # a present group's undefined rate counts as 0
        present = present.reshape(present.shape + (1,) * (numerator.ndim - present.ndim))
        defined = defined | present.expand_as(numerator)
    positive = denominator > 0
    rates = numerator / torch.where(positive, denominator, torch.ones_like(denominator))
    rates = torch.where(positive, rates, torch.zeros_like(rates))  # counted as 0 when present
    inf = torch.full_like(rates, float("inf"))
    high = torch.where(defined, rates, -inf).amax(dim=0)
    low = torch.where(defined, rates, inf).amin(dim=0)
    return high, low, defined.sum(dim=0)


def rate_gap(numerator: Tensor, denominator: Tensor, present: Tensor | None = None) -> Tensor:
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
        present: ``[G]`` bool: groups whose undefined rate (:math:`b_g = 0`) counts as 0 and
            joins :math:`D` (fairlearn's convention for a group it sees); ``None`` leaves every
            undefined rate out.

    Returns:
        Tensor of the numerator's shape without its first dimension (a scalar for ``[G]``).

    Example:
        >>> rate_gap(torch.tensor([1.0, 3.0, 0.0]), torch.tensor([2.0, 4.0, 0.0]))
        tensor(0.2500)
    """
    high, low, num_defined = _group_rate_extremes(numerator, denominator, present)
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


def per_group_rates(
    group_size: Tensor, predicted_positive: Tensor, target_positive: Tensor, true_positive: Tensor
) -> dict[str, Tensor]:
    r"""Each group's selection rate, TPR and FPR, each with a mask of where it is defined.

    .. math:: \text{selection}_g = \frac{\hat n^+_g}{n_g}, \quad
        TPR_g = \frac{tp_g}{n^+_g}, \quad FPR_g = \frac{\hat n^+_g - tp_g}{n_g - n^+_g}

    Args:
        group_size: ``[G]`` rows per group :math:`n_g`.
        predicted_positive: ``[G]`` positive predictions :math:`\hat n^+_g`.
        target_positive: ``[G]`` rows with target 1 :math:`n^+_g`.
        true_positive: ``[G]`` positive predictions among them :math:`tp_g`.

    Returns:
        ``{"rows", "selection_rate", "selection_rate_defined", "tpr", "tpr_defined", "fpr",
        "fpr_defined"}``, each ``[G]``; an undefined rate reads 0 and its mask False.

    Example:
        >>> rates = per_group_rates(*torch.tensor([[3.0, 2.0], [2.0, 0.0], [2.0, 0.0],
        ...                                         [2.0, 0.0]]))
        >>> rates["tpr"].tolist(), rates["tpr_defined"].tolist(), rates["fpr"].tolist()
        ([1.0, 0.0], [True, False], [0.0, 0.0])
    """

    def rate(numerator: Tensor, denominator: Tensor) -> tuple[Tensor, Tensor]:
        defined = denominator > 0
        safe = torch.where(defined, denominator, torch.ones_like(denominator))
        return torch.where(defined, numerator / safe, torch.zeros_like(numerator)), defined

    negatives = group_size - target_positive
    selection, selection_defined = rate(predicted_positive, group_size)
    tpr, tpr_defined = rate(true_positive, target_positive)
    fpr, fpr_defined = rate(predicted_positive - true_positive, negatives)
    return {
        "rows": group_size,
        "selection_rate": selection,
        "selection_rate_defined": selection_defined,
        "tpr": tpr,
        "tpr_defined": tpr_defined,
        "fpr": fpr,
        "fpr_defined": fpr_defined,
    }
