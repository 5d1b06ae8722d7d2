r"""Group-fairness :class:`torchmetrics.Metric` shells over :mod:`fairlit.metrics.functional`.

Every metric here keeps per-group **counts** in ``float64`` states with
``dist_reduce_fx="sum"``: memory does not grow with the data, and summing the counts of all
DDP ranks gives exactly the value of one process on the concatenated data. They all take
``update(preds, target, groups)`` (``target`` is unused, and may be ``None``, for demographic
parity and the AUDC), so they fit in one :class:`torchmetrics.MetricCollection`.

``compute()`` returns a ``float32`` scalar (``GroupAUROC``: a dict of them) and never NaN;
see :mod:`fairlit.metrics.functional` for the edge cases and the differences from fairlearn.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from fairlit.metrics.functional import (
    STATISTICS_DTYPE,
    EqualizedOddsComponent,
    _check_component,
    _check_num_groups,
    _check_num_thresholds,
    _check_threshold,
    area_under_discrimination_curve_from_statistics,
    demographic_parity_difference_from_statistics,
    demographic_parity_ratio_from_statistics,
    discrimination_curve_from_statistics,
    discrimination_curve_statistics,
    equalized_odds_difference_from_statistics,
    group_auroc_from_statistics,
    group_rate_statistics,
    group_score_histogram,
)

__all__ = [
    "AreaUnderDiscriminationCurve",
    "DemographicParityDifference",
    "DemographicParityRatio",
    "EqualizedOddsDifference",
    "GroupAUROC",
]


def _zeros(*shape: int) -> Tensor:
    return torch.zeros(*shape, dtype=STATISTICS_DTYPE)


def _result(value: Tensor) -> Tensor:
    return value.to(torch.get_default_dtype())


class _DemographicParity(Metric):
    """Shared state of the demographic parity difference and ratio."""

    is_differentiable = False
    full_state_update = False

    count: Tensor
    predicted_positive: Tensor

    def __init__(
        self,
        num_groups: int = 2,
        threshold: float = 0.5,
        soft: bool = False,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_groups = _check_num_groups(num_groups)
        self.threshold = _check_threshold(threshold)
        if not isinstance(soft, bool):
            raise ValueError(f"`soft` must be a bool, got {soft!r}.")
        self.soft = soft
        self.validate_args = validate_args
        self.add_state("count", _zeros(num_groups), dist_reduce_fx="sum")
        self.add_state("predicted_positive", _zeros(num_groups), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor | None, groups: Tensor) -> None:
        """Add a batch.

        Args:
            preds: probabilities :math:`P(y=1)` in ``[0, 1]`` (or hard 0/1), shape ``[N]``.
            target: unused (may be ``None``); accepted so that every group metric shares one
                signature.
            groups: int group indices in ``[0, num_groups)``, same shape as ``preds``.
        """
        stats = group_rate_statistics(
            preds, target, groups, self.num_groups, self.threshold, self.soft, self.validate_args
        )
        self.count += stats.count
        self.predicted_positive += stats.predicted_positive


class DemographicParityDifference(_DemographicParity):
    r"""Demographic parity difference: max minus min positive-prediction rate across groups.

    .. math::
        \Delta_{DP} = \max_g \frac{\sum_{i: s_i = g} \hat y_i}{n_g}
                    - \min_g \frac{\sum_{i: s_i = g} \hat y_i}{n_g},
        \qquad \hat y_i = [p_i \ge t] \ \text{(hard)} \ \text{or}\ p_i \ \text{(soft)},

    over the groups with :math:`n_g > 0`, accumulated over every batch since the last reset.
    Hard (the default) equals fairlearn's ``demographic_parity_difference`` on
    ``preds >= threshold``. Empty groups are ignored; fewer than two non-empty groups (or no data)
    give ``0.0``.

    Args:
        num_groups: number of groups :math:`G` (fixes the state shape).
        threshold: a prediction is positive when ``preds >= threshold``.
        soft: use the mean probability per group instead of the thresholded rate.
        validate_args: check inputs on every update (one host-device sync each).
        **kwargs: forwarded to :class:`torchmetrics.Metric`.

    Example:
        >>> metric = DemographicParityDifference(num_groups=2)
        >>> metric.update(torch.tensor([0.9, 0.8, 0.1, 0.7]), None, torch.tensor([0, 0, 1, 1]))
        >>> metric.compute()
        tensor(0.5000)
    """

    higher_is_better = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def compute(self) -> Tensor:
        """Return the demographic parity difference of all data seen, ``float32``."""
        return _result(
            demographic_parity_difference_from_statistics(self.count, self.predicted_positive)
        )


class DemographicParityRatio(_DemographicParity):
    r"""Demographic parity ratio: min over max positive-prediction rate across groups.

    .. math::
        \rho_{DP} = \frac{\min_g \frac{1}{n_g}\sum_{i: s_i = g} \hat y_i}
                         {\max_g \frac{1}{n_g}\sum_{i: s_i = g} \hat y_i},

    over the groups with :math:`n_g > 0` (the ``DP`` of torchmetrics' ``BinaryFairness`` and
    fairlearn's ``demographic_parity_ratio``). Fewer than two non-empty groups, or every rate 0,
    give ``1.0`` (fairlearn returns ``nan`` for that ``0 / 0``).

    Args:
        num_groups: number of groups :math:`G`.
        threshold: a prediction is positive when ``preds >= threshold``.
        soft: use the mean probability per group instead of the thresholded rate.
        validate_args: check inputs on every update.
        **kwargs: forwarded to :class:`torchmetrics.Metric`.

    Example:
        >>> metric = DemographicParityRatio(num_groups=2)
        >>> metric.update(torch.tensor([0.9, 0.8, 0.1, 0.7]), None, torch.tensor([0, 0, 1, 1]))
        >>> metric.compute()
        tensor(0.5000)
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    def compute(self) -> Tensor:
        """Return the demographic parity ratio of all data seen, ``float32``."""
        return _result(
            demographic_parity_ratio_from_statistics(self.count, self.predicted_positive)
        )


class EqualizedOddsDifference(Metric):
    r"""Equalized odds difference (disparate mistreatment), fairlearn's definition.

    .. math::
        \Delta_{EO} = \max\Big(\max_g TPR_g - \min_g TPR_g,\
                               \max_g FPR_g - \min_g FPR_g\Big),
        \quad TPR_g = \frac{tp_g}{n^+_g},\ FPR_g = \frac{fp_g}{n^-_g},

    on thresholded predictions ``preds >= threshold``. A group without positives (negatives) is
    left out of the TPR (FPR) gap; fairlearn instead counts its rate as 0. ``component`` picks one
    gap: ``"tpr"``, ``"fpr"`` or ``"fnr"`` (equal to the TPR gap, since FNR = 1 - TPR).

    Args:
        num_groups: number of groups :math:`G`.
        threshold: a prediction is positive when ``preds >= threshold``.
        component: ``"max"`` (default), ``"tpr"``, ``"fpr"`` or ``"fnr"``.
        validate_args: check inputs on every update.
        **kwargs: forwarded to :class:`torchmetrics.Metric`.

    Example:
        >>> metric = EqualizedOddsDifference(num_groups=2)
        >>> metric.update(torch.tensor([0.9, 0.8, 0.1, 0.7]), torch.tensor([1, 0, 1, 0]),
        ...               torch.tensor([0, 0, 1, 1]))
        >>> metric.compute()
        tensor(1.)
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    count: Tensor
    predicted_positive: Tensor
    target_positive: Tensor
    true_positive: Tensor

    def __init__(
        self,
        num_groups: int = 2,
        threshold: float = 0.5,
        component: EqualizedOddsComponent = "max",
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_groups = _check_num_groups(num_groups)
        self.threshold = _check_threshold(threshold)
        self.component = _check_component(component)
        self.validate_args = validate_args
        for name in ("count", "predicted_positive", "target_positive", "true_positive"):
            self.add_state(name, _zeros(num_groups), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, groups: Tensor) -> None:
        """Add a batch.

        Args:
            preds: probabilities :math:`P(y=1)` in ``[0, 1]`` (or hard 0/1), shape ``[N]``.
            target: 0/1 labels, same shape as ``preds``.
            groups: int group indices in ``[0, num_groups)``, same shape as ``preds``.
        """
        if target is None:
            raise ValueError("`target` is required for the equalized odds difference, got None.")
        stats = group_rate_statistics(
            preds, target, groups, self.num_groups, self.threshold, False, self.validate_args
        )
        self.count += stats.count
        self.predicted_positive += stats.predicted_positive
        self.target_positive += stats.target_positive
        self.true_positive += stats.true_positive

    def compute(self) -> Tensor:
        """Return the equalized odds difference (or the chosen gap), ``float32``."""
        return _result(
            equalized_odds_difference_from_statistics(
                self.count,
                self.predicted_positive,
                self.target_positive,
                self.true_positive,
                component=self.component,  # type: ignore[arg-type]
            )
        )


class AreaUnderDiscriminationCurve(Metric):
    r"""Area under the discrimination curve (AUDC): the DP difference integrated over thresholds.

    .. math::
        D(t) = \max_g P(p \ge t \mid s = g) - \min_g P(p \ge t \mid s = g), \qquad
        \mathrm{AUDC} = \int_0^1 D(t)\, dt
        \approx \sum_{k=1}^{T-1} \frac{t_k - t_{k-1}}{2}\big(D(t_{k-1}) + D(t_k)\big),

    on the fixed grid :math:`t_k = k / (T - 1)` (trapezoid rule), over the groups with members.
    States: ``count`` ``[G]`` and ``above`` ``[G, T]`` (members with ``preds >= t_k``),
    sum-reduced. :meth:`curve` returns :math:`D(t_k)` itself.

    Args:
        num_groups: number of groups :math:`G`.
        num_thresholds: grid size :math:`T \ge 2`.
        validate_args: check inputs on every update.
        **kwargs: forwarded to :class:`torchmetrics.Metric`.

    Example:
        >>> metric = AreaUnderDiscriminationCurve(num_groups=2, num_thresholds=3)
        >>> metric.update(torch.tensor([0.2, 0.7, 0.5]), None, torch.tensor([0, 0, 1]))
        >>> metric.compute()
        tensor(0.2500)
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    count: Tensor
    above: Tensor

    def __init__(
        self,
        num_groups: int = 2,
        num_thresholds: int = 101,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_groups = _check_num_groups(num_groups)
        self.num_thresholds = _check_num_thresholds(num_thresholds)
        self.validate_args = validate_args
        self.add_state("count", _zeros(num_groups), dist_reduce_fx="sum")
        self.add_state("above", _zeros(num_groups, num_thresholds), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor | None, groups: Tensor) -> None:
        """Add a batch.

        Args:
            preds: probabilities in ``[0, 1]``, shape ``[N]``.
            target: unused (may be ``None``).
            groups: int group indices in ``[0, num_groups)``, same shape as ``preds``.
        """
        stats = discrimination_curve_statistics(
            preds, groups, self.num_groups, self.num_thresholds, self.validate_args
        )
        self.count += stats.count
        self.above += stats.above

    def curve(self) -> Tensor:
        """Return the DP difference at each threshold of the grid, ``[T]`` ``float32``."""
        return _result(discrimination_curve_from_statistics(self.count, self.above))

    def compute(self) -> Tensor:
        """Return the AUDC of all data seen, ``float32``."""
        return _result(area_under_discrimination_curve_from_statistics(self.count, self.above))


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
        self.add_state("positive", _zeros(num_groups, width), dist_reduce_fx="sum")
        self.add_state("negative", _zeros(num_groups, width), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, groups: Tensor) -> None:
        """Add a batch.

        Args:
            preds: probabilities in ``[0, 1]``, shape ``[N]``.
            target: 0/1 labels, same shape as ``preds``.
            groups: int group indices in ``[0, num_groups)``, same shape as ``preds``.
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
        return _result(auroc), defined

    def compute(self) -> dict[str, Tensor]:
        """Return the min, max and max-minus-min AUROC over groups with both labels."""
        auroc, defined = group_auroc_from_statistics(self.positive, self.negative)
        inf = torch.full_like(auroc, float("inf"))
        any_defined = defined.any()
        half = torch.full_like(auroc[0], 0.5)
        high = torch.where(any_defined, torch.where(defined, auroc, -inf).amax(), half)
        low = torch.where(any_defined, torch.where(defined, auroc, inf).amin(), half)
        return {
            "auroc_min": _result(low),
            "auroc_max": _result(high),
            "auroc_gap": _result(high - low),
        }
