r"""Demographic parity and equalized odds as :class:`torchmetrics.Metric` shells over :mod:`fairlit.metrics.functional.group_rates`.

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

import torch  # noqa: F401 (the doctests use it)
from torch import Tensor
from torchmetrics import Metric

from fairlit.metrics._states import result, zeros
from fairlit.metrics.functional import (
    demographic_parity_difference_from_statistics,
    demographic_parity_ratio_from_statistics,
    equalized_odds_difference_from_statistics,
    group_rate_statistics,
    per_group_rates,
)
from fairlit.metrics.functional._checks import (
    EqualizedOddsComponent,
    Undefined,
    _check_component,
    _check_num_groups,
    _check_threshold,
    _check_undefined,
)

__all__ = ["DemographicParityDifference", "DemographicParityRatio", "EqualizedOddsDifference"]


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
        self.add_state("count", zeros(num_groups), dist_reduce_fx="sum")
        self.add_state("predicted_positive", zeros(num_groups), dist_reduce_fx="sum")

    def update(
        self, preds: Tensor, target: Tensor | None, groups: Tensor, weights: Tensor | None = None
    ) -> None:
        """Add a batch.

        Args:
            preds: probabilities :math:`P(y=1)` in ``[0, 1]`` (or hard 0/1), shape ``[N]``.
            target: unused (may be ``None``); accepted so that every group metric shares one
                signature.
            groups: int group indices in ``[0, num_groups)``, same shape as ``preds``.
            weights: optional sample weights ``[N]``: the rates become weighted rates (equal to
                fairlearn's with ``sample_weight``).
        """
        stats = group_rate_statistics(
            preds,
            target,
            groups,
            self.num_groups,
            self.threshold,
            self.soft,
            self.validate_args,
            weights,
        )
        self.count += stats.group_size
        self.predicted_positive += stats.predicted_positive

    def group_rates(self) -> dict[str, Tensor]:
        """Each group's rows and selection rate, with ``selection_rate_defined`` (rows > 0).

        Returns:
            ``{"rows", "selection_rate", "selection_rate_defined"}``, each ``[G]``; these are
            this process' counts (under DDP, call it inside ``with metric.sync_context():``).
        """
        rates = per_group_rates(
            self.count, self.predicted_positive, self.predicted_positive, self.predicted_positive
        )
        return {k: rates[k] for k in ("rows", "selection_rate", "selection_rate_defined")}


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
        return result(
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
        return result(demographic_parity_ratio_from_statistics(self.count, self.predicted_positive))


class EqualizedOddsDifference(Metric):
    r"""Equalized odds difference (disparate mistreatment), fairlearn's definition.

    .. math::
        \Delta_{EO} = \max\Big(\max_g TPR_g - \min_g TPR_g,\
                               \max_g FPR_g - \min_g FPR_g\Big),
        \quad TPR_g = \frac{tp_g}{n^+_g},\ FPR_g = \frac{fp_g}{n^-_g},

    on thresholded predictions ``preds >= threshold``. A group without positives (negatives) has
    no TPR (FPR): with ``undefined="exclude"`` (the default) it is left out of that gap, with
    ``"zero"`` its rate counts as 0, as fairlearn counts it (the value then equals fairlearn's).
    :meth:`group_rates` shows which rates were defined. ``component`` picks one gap: ``"tpr"``,
    ``"fpr"`` or ``"fnr"`` (equal to the TPR gap, since FNR = 1 - TPR).

    Args:
        num_groups: number of groups :math:`G`.
        threshold: a prediction is positive when ``preds >= threshold``.
        component: ``"max"`` (default), ``"tpr"``, ``"fpr"`` or ``"fnr"``.
        undefined: ``"exclude"`` or ``"zero"``, see above.
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
        undefined: Undefined = "exclude",
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_groups = _check_num_groups(num_groups)
        self.threshold = _check_threshold(threshold)
        self.component = _check_component(component)
        self.undefined = _check_undefined(undefined)
        self.validate_args = validate_args
        for name in ("count", "predicted_positive", "target_positive", "true_positive"):
            self.add_state(name, zeros(num_groups), dist_reduce_fx="sum")

    def update(
        self, preds: Tensor, target: Tensor, groups: Tensor, weights: Tensor | None = None
    ) -> None:
        """Add a batch.

        Args:
            preds: probabilities :math:`P(y=1)` in ``[0, 1]`` (or hard 0/1), shape ``[N]``.
            target: 0/1 labels, same shape as ``preds``.
            groups: int group indices in ``[0, num_groups)``, same shape as ``preds``.
            weights: optional sample weights ``[N]`` (weighted rates, as fairlearn's with
                ``sample_weight``).

        Raises:
            ValueError: if ``target`` is None or, with ``validate_args``, an input fails its check.
        """
        if target is None:
            raise ValueError("`target` is required for the equalized odds difference, got None.")
        stats = group_rate_statistics(
            preds,
            target,
            groups,
            self.num_groups,
            self.threshold,
            False,
            self.validate_args,
            weights,
        )
        self.count += stats.group_size
        self.predicted_positive += stats.predicted_positive
        self.target_positive += stats.target_positive
        self.true_positive += stats.true_positive

    def compute(self) -> Tensor:
        """Return the equalized odds difference (or the chosen gap), ``float32``."""
        return result(
            equalized_odds_difference_from_statistics(
                self.count,
                self.predicted_positive,
                self.target_positive,
                self.true_positive,
                component=self.component,  # type: ignore[arg-type]
                undefined=self.undefined,  # type: ignore[arg-type]
            )
        )

    def group_rates(self) -> dict[str, Tensor]:
        """Each group's rows, selection rate, TPR and FPR, with a ``*_defined`` mask for each.

        Returns:
            See :func:`~fairlit.metrics.functional.per_group_rates` (``[G]`` tensors); these
            are this process' counts (under DDP, call it inside ``with metric.sync_context():``).
        """
        return per_group_rates(
            self.count, self.predicted_positive, self.target_positive, self.true_positive
        )
