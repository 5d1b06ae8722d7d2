"""Fairness and information metrics: a functional core and :mod:`torchmetrics` shells.

Group-fairness metrics take ``update(preds, target, groups)`` with ``preds`` = :math:`P(y=1)` in
``[0, 1]`` (or hard 0/1), ``target`` 0/1 and ``groups`` int64 group indices, so they fit in one
:class:`torchmetrics.MetricCollection`; :class:`MutualInformation` takes
``update(code_or_probs, groups)``. States are per-group counts, sum-reduced (exact under DDP,
constant memory). The pure functions live in :mod:`fairlit.metrics.functional`.
"""

from fairlit.metrics import functional
from fairlit.metrics.discrimination_curve import AreaUnderDiscriminationCurve
from fairlit.metrics.group_auroc import GroupAUROC
from fairlit.metrics.group_rates import (
    DemographicParityDifference,
    DemographicParityRatio,
    EqualizedOddsDifference,
)
from fairlit.metrics.multiclass import MulticlassDemographicParityDifference
from fairlit.metrics.mutual_information import (
    FactorizedMutualInformation,
    MutualInformation,
    PlugInMutualInformation,
)

__all__ = [
    "AreaUnderDiscriminationCurve",
    "DemographicParityDifference",
    "DemographicParityRatio",
    "EqualizedOddsDifference",
    "FactorizedMutualInformation",
    "GroupAUROC",
    "MulticlassDemographicParityDifference",
    "MutualInformation",
    "PlugInMutualInformation",
    "functional",
]
