"""The area under the discrimination curve as a :class:`torchmetrics.Metric` (see :mod:`fairlit.metrics.group_rates` for the state conventions)."""

from __future__ import annotations

from typing import Any

import torch  # noqa: F401 (the doctests use it)
from torch import Tensor
from torchmetrics import Metric

from fairlit.metrics._states import result, zeros
from fairlit.metrics.functional import (
    area_under_discrimination_curve_from_statistics,
    discrimination_curve_from_statistics,
    discrimination_curve_statistics,
)
from fairlit.metrics.functional._checks import (
    _check_num_groups,
    _check_num_thresholds,
)

__all__ = ["AreaUnderDiscriminationCurve"]


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
        self.add_state("count", zeros(num_groups), dist_reduce_fx="sum")
        self.add_state("above", zeros(num_groups, num_thresholds), dist_reduce_fx="sum")

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
        self.count += stats.group_size
        self.above += stats.above

    def curve(self) -> Tensor:
        """Return the DP difference at each threshold of the grid, ``[T]`` ``float32``."""
        return result(discrimination_curve_from_statistics(self.count, self.above))

    def compute(self) -> Tensor:
        """Return the AUDC of all data seen, ``float32``."""
        return result(area_under_discrimination_curve_from_statistics(self.count, self.above))
