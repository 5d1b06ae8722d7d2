r"""Multi-class demographic parity: functional core and :mod:`torchmetrics` shell.

For a classifier with :math:`C` classes (the predicted class is the argmax of its class
probabilities) and :math:`G` groups, the per-group rate of predicting class :math:`c` is

.. math:: r_{g,c} = P(\hat y = c \mid s = g) = \frac{\#\{i : s_i = g,\ \hat y_i = c\}}{n_g},

and the multi-class demographic parity difference is the largest one-vs-rest gap

.. math::

    \Delta_{DP}^{multi} = \max_c \Big( \max_{g \in D} r_{g,c} - \min_{g \in D} r_{g,c} \Big),
    \qquad D = \{g : n_g > 0\},

i.e. fairlearn's ``demographic_parity_difference`` of the one-vs-rest predictions
``y_pred == c``, maximized over the classes. It is 0 when every group receives every class
at the same rate and 1 when some class is given to every member of one group and to no member
of another. Groups without members are ignored; fewer than two non-empty groups give 0; no
input gives NaN.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from fairlit.metrics.functional import (
    rate_gap,
)
from fairlit.metrics.functional._checks import (
    STATISTICS_DTYPE,
    _check_groups,
    _check_num_groups,
    _group_one_hot,
)
from fairlit.validation import infer_num_groups

__all__ = [
    "MulticlassDemographicParityDifference",
    "MulticlassPredictionStatistics",
    "multiclass_demographic_parity_difference",
    "multiclass_demographic_parity_difference_from_statistics",
    "multiclass_prediction_statistics",
]


class MulticlassPredictionStatistics(NamedTuple):
    r"""Per-group counts of members and of predictions of each class (``float64``).

    Attributes:
        group_size: ``[G]`` members of each group, :math:`n_g`.
        predicted: ``[G, C]`` members of group :math:`g` predicted as class :math:`c`.

    Example:
        >>> stats = MulticlassPredictionStatistics(torch.tensor([2.0]), torch.tensor([[1.0, 1.0]]))
        >>> (stats.predicted / stats.group_size[:, None]).tolist()
        [[0.5, 0.5]]
    """

    group_size: Tensor
    predicted: Tensor


def _check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}.")
    return num_classes


def _predicted_classes(
    preds: Tensor, num_classes: int | None, validate_args: bool
) -> tuple[Tensor, int]:
    """Hard class predictions ``[N]`` and the number of classes."""
    if not isinstance(preds, Tensor):
        raise ValueError(f"`preds` must be a torch.Tensor, got {type(preds).__name__}.")
    if preds.is_floating_point():
        if preds.dim() != 2:
            raise ValueError(
                "`preds` must be class probabilities (or logits) of shape [N, C], or integer "
                f"class indices of shape [N], got a {preds.dtype} tensor of shape "
                f"{tuple(preds.shape)}."
            )
        if num_classes is None:
            num_classes = preds.shape[1]
        if validate_args:
            if preds.shape[1] != num_classes:
                raise ValueError(
                    f"`preds` must have num_classes={num_classes} columns, got shape "
                    f"{tuple(preds.shape)}."
                )
            if bool(torch.isnan(preds).any()):
                raise ValueError("`preds` must not contain NaN.")
        return preds.argmax(dim=1), _check_num_classes(num_classes)
    if preds.dim() != 1 or preds.is_complex() or preds.dtype == torch.bool:
        raise ValueError(
            "`preds` must be class probabilities (or logits) of shape [N, C], or integer class "
            f"indices of shape [N], got a {preds.dtype} tensor of shape {tuple(preds.shape)}."
        )
    if num_classes is None:
        num_classes = int(preds.max()) + 1 if preds.numel() else 2
        num_classes = max(num_classes, 2)
    num_classes = _check_num_classes(num_classes)
    if (
        validate_args
        and preds.numel()
        and (int(preds.min()) < 0 or int(preds.max()) >= num_classes)
    ):
        raise ValueError(
            f"`preds` class indices must be in [0, {num_classes}), got values in "
            f"[{int(preds.min())}, {int(preds.max())}]."
        )
    return preds.long(), num_classes


def multiclass_prediction_statistics(
    preds: Tensor,
    groups: Tensor,
    num_classes: int | None = None,
    num_groups: int | None = None,
    validate_args: bool = True,
) -> MulticlassPredictionStatistics:
    r"""Per-group counts of members and of each predicted class.

    .. math::
        n_g = \#\{i : s_i = g\}, \qquad
        \hat n_{g,c} = \#\{i : s_i = g,\ \hat y_i = c\}, \qquad
        \hat y_i = \arg\max_c p_{i,c}.

    Args:
        preds: ``[N, C]`` class probabilities or logits (the argmax is the prediction; ties go
            to the lowest class), or int ``[N]`` predicted classes.
        groups: int ``[N]`` group indices in ``[0, num_groups)``.
        num_classes: :math:`C`; ``None`` takes it from ``preds``.
        num_groups: :math:`G`; ``None`` infers ``groups.max() + 1`` (give it explicitly
            whenever counts are accumulated over batches).
        validate_args: check shapes and value ranges.

    Returns:
        :class:`MulticlassPredictionStatistics` (``float64``).

    Raises:
        ValueError: if ``groups`` does not have one entry per row of ``preds``.

    Example:
        >>> stats = multiclass_prediction_statistics(
        ...     torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), torch.tensor([0, 0, 1]))
        >>> stats.group_size.tolist(), stats.predicted.tolist()
        ([2.0, 1.0], [[1.0, 1.0], [1.0, 0.0]])
    """
    classes, num_classes = _predicted_classes(preds, num_classes, validate_args)
    if validate_args:
        num_groups = _check_groups(groups, num_groups, "groups")
        if groups.shape != classes.shape:
            raise ValueError(
                f"`groups` must have shape [N] = {tuple(classes.shape)} (one group per row of "
                f"`preds`), got {tuple(groups.shape)}."
            )
    elif num_groups is None:
        num_groups = infer_num_groups(groups)
    member = _group_one_hot(groups, num_groups)  # [N, G]
    predicted = F.one_hot(classes, num_classes).to(STATISTICS_DTYPE)  # [N, C]
    # Matrix products (not scatter-add) keep the counts deterministic on every device.
    return MulticlassPredictionStatistics(member.sum(0), member.T @ predicted)


def multiclass_demographic_parity_difference_from_statistics(
    count: Tensor, predicted: Tensor
) -> Tensor:
    r"""Largest over classes of the gap in per-group prediction rates.

    .. math:: \max_c \Big( \max_{g: n_g > 0} \frac{\hat n_{g,c}}{n_g}
        - \min_{g: n_g > 0} \frac{\hat n_{g,c}}{n_g} \Big)

    Args:
        count: ``[G]`` members per group.
        predicted: ``[G, C]`` predictions of each class per group.

    Returns:
        Scalar tensor in ``[0, 1]``; 0 with fewer than two non-empty groups.

    Example:
        >>> multiclass_demographic_parity_difference_from_statistics(
        ...     torch.tensor([2.0, 1.0, 0.0]), torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]))
        tensor(0.5000)
    """
    return rate_gap(predicted, count).amax()


def multiclass_demographic_parity_difference(
    preds: Tensor,
    groups: Tensor,
    num_classes: int | None = None,
    num_groups: int | None = None,
) -> Tensor:
    r"""Multi-class demographic parity difference (max over classes of the one-vs-rest gap).

    See :mod:`fairlit.metrics.multiclass` for the definition; equals the maximum over classes
    :math:`c` of fairlearn's ``demographic_parity_difference(y_pred == c, sensitive_features=s)``.

    Args:
        preds: ``[N, C]`` class probabilities or logits, or int ``[N]`` predicted classes.
        groups: int ``[N]`` group indices.
        num_classes: :math:`C`; ``None`` takes it from ``preds``.
        num_groups: :math:`G`; ``None`` infers ``groups.max() + 1``.

    Returns:
        Scalar ``float32`` tensor in ``[0, 1]``.

    Example:
        >>> multiclass_demographic_parity_difference(
        ...     torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), torch.tensor([0, 0, 1]))
        tensor(0.5000)
    """
    stats = multiclass_prediction_statistics(preds, groups, num_classes, num_groups)
    value = multiclass_demographic_parity_difference_from_statistics(*stats)
    return value.to(torch.get_default_dtype())


class MulticlassDemographicParityDifference(Metric):
    r"""Multi-class demographic parity difference, accumulated over batches.

    .. math::

        \Delta_{DP}^{multi} = \max_c \Big( \max_g P(\hat y = c \mid g)
        - \min_g P(\hat y = c \mid g) \Big), \qquad \hat y = \arg\max_c p_c,

    over the groups with members. States: ``count`` ``[G]`` and ``predicted`` ``[G, C]``,
    ``float64``, sum-reduced (exact under DDP). ``update(preds, target, groups)`` shares the
    signature of the binary group metrics (``target`` is unused and may be ``None``).

    Args:
        num_classes: number of classes :math:`C`.
        num_groups: number of groups :math:`G`.
        validate_args: check inputs on every update (host-device syncs).
        **kwargs: forwarded to :class:`torchmetrics.Metric`.

    Example:
        >>> metric = MulticlassDemographicParityDifference(num_classes=3, num_groups=2)
        >>> preds = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
        >>> metric.update(preds, None, torch.tensor([0, 1]))
        >>> metric.compute()
        tensor(1.)
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0

    count: Tensor
    predicted: Tensor

    def __init__(
        self, num_classes: int, num_groups: int, validate_args: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes = _check_num_classes(num_classes)
        self.num_groups = _check_num_groups(num_groups)
        self.validate_args = validate_args
        self.add_state(
            "count", torch.zeros(num_groups, dtype=STATISTICS_DTYPE), dist_reduce_fx="sum"
        )
        self.add_state(
            "predicted",
            torch.zeros(num_groups, num_classes, dtype=STATISTICS_DTYPE),
            dist_reduce_fx="sum",
        )

    def update(self, preds: Tensor, target: Tensor | None, groups: Tensor) -> None:
        """Add a batch.

        Args:
            preds: ``[N, C]`` class probabilities or logits, or int ``[N]`` predicted classes.
            target: unused (may be ``None``); accepted so that every group metric shares one
                signature.
            groups: int ``[N]`` group indices in ``[0, num_groups)``.
        """
        stats = multiclass_prediction_statistics(
            preds, groups, self.num_classes, self.num_groups, self.validate_args
        )
        self.count += stats.group_size
        self.predicted += stats.predicted

    def compute(self) -> Tensor:
        """Return the multi-class demographic parity difference of all data seen, ``float32``."""
        value = multiclass_demographic_parity_difference_from_statistics(self.count, self.predicted)
        return value.to(torch.get_default_dtype())
