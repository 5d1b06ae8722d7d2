"""The two terms of the training objective, with optional sample weights.

:func:`task_loss` is the head's cross-entropy and :func:`penalty` calls the regularizer;
with sample weights ``w`` both are weighted means over the batch (the regularizer's own
weighted statistic). Without weights they are exactly the unweighted terms.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from fairlit.errors import ConfigurationError
from fairlit.nn import EncoderOutput

__all__ = ["penalty", "task_loss"]


def task_loss(logits: Tensor, y: Tensor, num_classes: int, weights: Tensor | None = None) -> Tensor:
    r"""Cross-entropy of the head's logits, in nats: binary (one logit per row) or multi-class.

    Args:
        logits: ``[B]`` (binary) or ``[B, C]``, floating.
        y: int64 targets ``[B]``.
        num_classes: 2 for the binary form.
        weights: optional ``[B]`` sample weights: :math:`\sum_i w_i \ell_i / \sum_i w_i`.

    Returns:
        A 0-dim tensor.

    Example:
        >>> import torch
        >>> round(float(task_loss(torch.zeros(2), torch.tensor([0, 1]), 2)), 4)
        0.6931
    """
    if num_classes == 2:
        if weights is None:
            return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))
        losses = F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none")
    elif weights is None:
        return F.cross_entropy(logits, y)
    else:
        losses = F.cross_entropy(logits, y, reduction="none")
    w = weights.reshape(-1).to(losses.dtype)
    return (losses * w).sum() / w.sum()


def penalty(
    regularizer: nn.Module, output: EncoderOutput, groups: Tensor, weights: Tensor | None = None
) -> Tensor:
    """The regularizer's penalty; with ``weights`` only from one that takes them.

    Raises:
        ConfigurationError: (a ``ValueError``) for sample weights and a regularizer without
            ``supports_weights``; the command line prints it as one line.
    """
    if weights is None:
        return regularizer(output, groups)
    if not getattr(regularizer, "supports_weights", False):
        raise ConfigurationError(
            f"{type(regularizer).__name__} does not take sample weights (the batch has `w`); "
            "use MutualInformationRegularizer, AdversarialRegularizer or NoRegularizer, or "
            "train without weights"
        )
    return regularizer(output, groups, weights=weights)
