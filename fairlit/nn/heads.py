"""Task heads: representation -> logits."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from fairlit.nn.encoders import build_mlp
from fairlit.nn.layers import _check_hidden_features, _check_input, _check_positive_int

__all__ = ["Head", "TaskHead"]


class Head(nn.Module):
    """Base of every task head: ``code`` ``[B, in_features]`` -> logits.

    The model builds its head as ``head(in_features, num_classes)`` and reads logits ``[B]``
    for two classes (``P(y = 1) = sigmoid(logit)``) or ``[B, num_classes]`` otherwise. A
    subclass implements ``forward``; ``fit --model.help`` lists the subclasses.
    """

    def forward(self, code: Tensor) -> Tensor:
        """Logits of ``code``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")


class TaskHead(Head):
    r"""Full-precision MLP predicting the task label from the code.

    For ``num_classes == 2`` it returns one logit per row, :math:`P(y = 1) =
    \sigma(\text{logit})` (use :func:`~torch.nn.functional.binary_cross_entropy_with_logits`);
    otherwise ``num_classes`` logits per row (use
    :func:`~torch.nn.functional.cross_entropy`).

    Args:
        in_features: code width (the encoder's ``out_features``).
        num_classes: number of classes, at least 2.
        hidden_features: widths of hidden layers (default none: a linear head).
        activation: hidden activation (deep-copied per layer); ``None`` means
            :class:`torch.nn.Tanh`.

    Shape:
        ``code``: ``[B, in_features]`` -> logits ``[B]`` (binary) or ``[B, num_classes]``.

    Raises:
        ValueError: if ``num_classes < 2``.

    Example:
        >>> import torch
        >>> TaskHead(4)(torch.zeros(3, 4)).shape
        torch.Size([3])
        >>> TaskHead(4, num_classes=5, hidden_features=[8])(torch.zeros(3, 4)).shape
        torch.Size([3, 5])
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int = 2,
        hidden_features: Sequence[int] = (),
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.in_features = _check_positive_int(in_features, "in_features")
        self.num_classes = _check_positive_int(num_classes, "num_classes")
        if num_classes < 2:
            raise ValueError(f"`num_classes` must be >= 2, got {num_classes!r}.")
        hidden = _check_hidden_features(hidden_features, "hidden_features")
        activation = nn.Tanh() if activation is None else activation
        self.hidden, width = build_mlp(in_features, hidden, activation)
        self.out_features = 1 if num_classes == 2 else num_classes
        self.output = nn.Linear(width, self.out_features)

    def forward(self, code: Tensor) -> Tensor:
        """Return logits: ``[B]`` when ``num_classes == 2``, else ``[B, num_classes]``."""
        _check_input(code, self.in_features, type(self).__name__)
        logits = self.output(self.hidden(code))
        return logits.squeeze(-1) if self.num_classes == 2 else logits
