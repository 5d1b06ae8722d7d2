r"""How precisely a split measures a fairness gap: the standard error of ΔDP.

A ΔDP budget chosen on a validation split is only as good as that split's
estimate of ΔDP. :func:`demographic_parity_standard_error` gives the usual
normal-approximation standard error of the difference between the two groups
that attain the largest and the smallest positive-prediction rate, treating
those two groups as fixed (when every rate is equal, the largest-rate group and
the other group with the largest variance):

.. math::
    \mathrm{SE}(\Delta_{DP}) \approx \sqrt{\frac{\hat p_{hi}(1 - \hat p_{hi})}{n_{hi}}
    + \frac{\hat p_{lo}(1 - \hat p_{lo})}{n_{lo}}}

(the standard error of a difference of two independent binomial proportions,
e.g. Agresti, *Categorical Data Analysis*, 2013, section 3.1). A budget smaller
than about twice this error cannot be told apart from the split's noise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fairlit.validation import infer_num_groups

__all__ = ["demographic_parity_standard_error"]


def demographic_parity_standard_error(
    preds: Tensor, groups: Tensor, num_groups: int | None = None, threshold: float = 0.5
) -> float:
    """Standard error of the demographic parity difference of hard predictions on one split.

    Args:
        preds: ``[N]`` predicted probabilities in ``[0, 1]`` or hard 0/1 predictions, any
            float or integer dtype; ``preds >= threshold`` counts as positive.
        groups: ``[N]`` int64 group indices in ``[0, num_groups)``.
        num_groups: Number of groups (default: ``groups.max() + 1``).
        threshold: Decision threshold.

    Returns:
        The standard error (a ΔDP, unitless, in ``[0, 0.71]``); ``0.0`` when fewer than two
        groups have members (ΔDP is then 0 by definition).

    Raises:
        ValueError: if ``preds`` and ``groups`` differ in length.

    Example:
        >>> preds = torch.tensor([1, 1, 0, 0, 1, 0, 0, 0, 0, 0])
        >>> groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
        >>> round(demographic_parity_standard_error(preds, groups), 6)
        0.292657
    """
    if preds.shape[0] != groups.shape[0]:
        raise ValueError(
            f"`preds` and `groups` differ in length: {preds.shape[0]} and {groups.shape[0]}."
        )
    size = int(num_groups if num_groups is not None else infer_num_groups(groups, empty=0))
    hard = (preds.double() >= threshold).double()
    count = torch.zeros(size, dtype=torch.float64).index_add_(
        0, groups.long(), torch.ones_like(hard)
    )
    positive = torch.zeros(size, dtype=torch.float64).index_add_(0, groups.long(), hard)
    present = count > 0
    if int(present.sum()) < 2:
        return 0.0
    rate = positive[present] / count[present]
    n = count[present]
    spread = rate * (1 - rate) / n
    hi, lo = int(torch.argmax(rate)), int(torch.argmin(rate))
    if hi == lo:  # every rate equal: the gap is between hi and the noisiest other group
        others = spread.clone()
        others[hi] = -1.0
        lo = int(torch.argmax(others))
    variance = float(spread[hi] + spread[lo])
    return math.sqrt(variance)
