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

from fairlit.metrics.functional._checks import STATISTICS_DTYPE, EqualizedOddsComponent
from fairlit.metrics.functional.discrimination_curve import (
    DiscriminationCurveStatistics,
    area_under_discrimination_curve,
    area_under_discrimination_curve_from_statistics,
    decision_thresholds,
    discrimination_curve_from_statistics,
    discrimination_curve_statistics,
)
from fairlit.metrics.functional.group_auroc import (
    GroupScoreHistogram,
    group_auroc,
    group_auroc_from_statistics,
    group_score_histogram,
)
from fairlit.metrics.functional.group_rates import (
    GroupRateStatistics,
    demographic_parity_difference,
    demographic_parity_difference_from_statistics,
    demographic_parity_ratio,
    demographic_parity_ratio_from_statistics,
    equalized_odds_difference,
    equalized_odds_difference_from_statistics,
    group_rate_statistics,
)
from fairlit.metrics.functional.rates import per_group_rates, rate_gap, rate_ratio

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
    "per_group_rates",
    "rate_gap",
    "rate_ratio",
]
