"""Per-group AUROC as a :class:`torchmetrics.Metric` (see :mod:`fairlit.metrics.group_rates` for the state conventions)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from fairlit.metrics._states import result, zeros
from fairlit.metrics.functional import (
    group_auroc_from_statistics,
    group_score_histogram,
)
from fairlit.metrics.functional._checks import (
    _check_num_groups,
    _check_num_thresholds,
)

__all__ = ["GroupAUROC"]


class GroupAUROC(Metric):
    r"""Per-group AUROC over a fixed threshold grid: worst, best and gap across groups.

    .. math::
        \mathrm{AUC}_g = P(b(p_i) > b(p_j)) + \tfrac12 P(b(p_i) = b(p_j)),
        \quad i \in \{s = g, y = 1\},\ j \in \{s = g, y = 0\},

    with :math:`b(p) = \#\{k : t_k \le p\}` the grid cell of the score on
    :math:`t_k = k / (T - 1)`: the **grid** (binned) AUROC, i.e. the trapezoid area under the ROC
    curve traced over the grid thresholds (like torchmetrics' ``BinaryAUROC(thresholds=T)``).
    It differs from the exact AUROC only through positive/negative pairs within one
    grid cell (``1 / (T - 1)`` wide), which count one half; the states are two ``[G, T + 1]``
    histograms, sum-reduced, so memory is constant and DDP is exact.

    ``compute()`` returns ``{"auroc_min", "auroc_max", "auroc_gap"}`` over the groups that have
    both positives and negatives (a group lacking either is ignored; with none, min and max are
    0.5 and the gap 0.0). :meth:`per_group` returns every group's AUROC and the defined mask.

    Args:
        num_groups: number of groups :math:`G`.
        num_thresholds: grid size :math:`T \ge 2`.
        validate_args: check inputs on every update.
        **kwargs: forwarded to :class:`torchmetrics.Metric`.

    Example:
        >>> metric = GroupAUROC(num_groups=2)
        >>> metric.update(torch.tensor([0.1, 0.9, 0.2, 0.3, 0.4, 0.6]),
        ...               torch.tensor([0, 1, 0, 1, 0, 1]), torch.tensor([0, 0, 1, 1, 1, 1]))
        >>> {k: round(v.item(), 4) for k, v in metric.compute().items()}
        {'auroc_min': 0.75, 'auroc_max': 1.0, 'auroc_gap': 0.25}
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    positive: Tensor
    negative: Tensor

    def __init__(
        self,
        num_groups: int = 2,
        num_thresholds: int = 1001,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_groups = _check_num_groups(num_groups)
        self.num_thresholds = _check_num_thresholds(num_thresholds)
        self.validate_args = validate_args
        width = num_thresholds + 1
        self.add_state("positive", zeros(num_groups, width), dist_reduce_fx="sum")
        self.add_state("negative", zeros(num_groups, width), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, groups: Tensor) -> None:
        """Add a batch.

        Args:
            preds: probabilities in ``[0, 1]``, shape ``[N]``.
            target: 0/1 labels, same shape as ``preds``.
            groups: int group indices in ``[0, num_groups)``, same shape as ``preds``.

        Raises:
            ValueError: if ``target`` is None or, with ``validate_args``, an input fails its check.
        """
        if target is None:
            raise ValueError("`target` is required for the group AUROC, got None.")
        hist = group_score_histogram(
            preds, target, groups, self.num_groups, self.num_thresholds, self.validate_args
        )
        self.positive += hist.positive
        self.negative += hist.negative

    def per_group(self) -> tuple[Tensor, Tensor]:
        """Return ``(auroc [G] float32, defined [G] bool)``; undefined groups read 0.5."""
        auroc, defined = group_auroc_from_statistics(self.positive, self.negative)
        return result(auroc), defined

    def compute(self) -> dict[str, Tensor]:
        """Return the min, max and max-minus-min AUROC over groups with both labels."""
        auroc, defined = group_auroc_from_statistics(self.positive, self.negative)
        inf = torch.full_like(auroc, float("inf"))
        any_defined = defined.any()
        half = torch.full_like(auroc[0], 0.5)
        high = torch.where(any_defined, torch.where(defined, auroc, -inf).amax(), half)
        low = torch.where(any_defined, torch.where(defined, auroc, inf).amin(), half)
        return {
            "auroc_min": result(low),
            "auroc_max": result(high),
            "auroc_gap": result(high - low),
        }
