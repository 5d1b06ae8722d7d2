"""Encoders: input features -> representation (:class:`~fairlit.nn.EncoderOutput`).

Every encoder is an :class:`torch.nn.Module` with int attributes ``in_features`` and
``out_features`` and ``forward(x: [B, in_features]) -> EncoderOutput``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from torch import Tensor, nn

from fairlit.nn.base import Encoder, StochasticEncoder
from fairlit.nn.layers import (
    EncoderOutput,
    Inference,
    QuantizedTanh,
    StraightThrough,
    TernaryLinear,
    _check_hidden_features,
    _check_input,
    _check_positive_int,
)

__all__ = ["FullPrecisionEncoder", "HybridBinaryEncoder", "QuantizedBinaryEncoder"]


def _check_dropout(dropout: float) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be a number in [0, 1), got {dropout!r}.")
    return float(dropout)


def build_mlp(
    in_features: int,
    hidden_features: Sequence[int],
    activation: nn.Module,
    dropout: float = 0.0,
    linear: Callable[[int, int], nn.Module] = nn.Linear,
) -> tuple[nn.Sequential, int]:
    """Stack ``linear -> activation [-> dropout]`` blocks.

    Args:
        in_features: input width.
        hidden_features: widths of the hidden layers (may be empty: identity).
        activation: template activation, deep-copied into every block.
        dropout: dropout probability after each activation (0 disables it).
        linear: layer constructor called as ``linear(fan_in, fan_out)``.

    Returns:
        The ``nn.Sequential`` and its output width.

    Example:
        >>> mlp, width = build_mlp(3, [8, 4], nn.Tanh())
        >>> width
        4
    """
    layers: list[nn.Module] = []
    width = in_features
    for hidden in hidden_features:
        layers += [linear(width, hidden), copy.deepcopy(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    return nn.Sequential(*layers), width


class HybridBinaryEncoder(StochasticEncoder):
    r"""Full-precision hidden layers, then a :class:`~fairlit.nn.StochasticBinaryLayer`.

    The authors' main ("hybrid") architecture:

    .. math::

        h = \phi(W_k \cdots \phi(W_1 x + b_1) \cdots + b_k), \qquad
        p = \sigma(\tau (W h + b)), \qquad t \sim \operatorname{Bernoulli}(p),

    with :math:`\phi` = ``activation`` (tanh by default). See
    :class:`~fairlit.nn.StochasticBinaryLayer` for sampling, the straight-through
    gradient and the inference modes; ``encoder.inference`` reads and sets the latter.

    Args:
        in_features: number of input features.
        out_features: number of stochastic binary neurons :math:`m` (20 in the paper).
        hidden_features: widths of the full-precision hidden layers (may be empty).
        activation: hidden activation module (deep-copied per layer); ``None`` means
            :class:`torch.nn.Tanh`.
        dropout: dropout probability after each hidden activation.
        temperature: :math:`\tau` of the stochastic layer.
        straight_through: ``"identity"`` (default) or ``"sigmoid"``.
        inference: evaluation-mode output, ``"sample"``, ``"threshold"`` or
            ``"probability"``.

    Shape:
        ``x``: ``[B, in_features]`` -> ``code``, ``probs``: ``[B, out_features]``.

    Example:
        >>> import torch
        >>> enc = HybridBinaryEncoder(10, out_features=4, hidden_features=[16])
        >>> out = enc(torch.randn(2, 10))
        >>> out.code.shape, out.probs.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int = 20,
        hidden_features: Sequence[int] = (64,),
        activation: nn.Module | None = None,
        dropout: float = 0.0,
        temperature: float = 6.0,
        straight_through: StraightThrough = "identity",
        inference: Inference = "sample",
    ) -> None:
        super().__init__()
        self.in_features = _check_positive_int(in_features, "in_features")
        self.out_features = _check_positive_int(out_features, "out_features")
        hidden = _check_hidden_features(hidden_features, "hidden_features")
        activation = nn.Tanh() if activation is None else activation
        self.hidden, width = build_mlp(in_features, hidden, activation, _check_dropout(dropout))
        self.build_binary_layer(width, out_features, temperature, straight_through, inference)

    def body(self, x: Tensor) -> Tensor:
        """The hidden layers' output ``[B, width]``."""
        _check_input(x, self.in_features, type(self).__name__)
        return self.hidden(x)


class QuantizedBinaryEncoder(StochasticEncoder):
    r"""Fully quantized encoder: ternary-weight hidden layers with quantized tanh.

    Each hidden layer is a :class:`~fairlit.nn.TernaryLinear` (weights in
    :math:`\{-\alpha, 0, +\alpha\}` with :math:`\Delta = 0.7\,\overline{|W|}`, one
    :math:`\alpha` per layer, full-precision bias, straight-through for the weights)
    followed by :class:`~fairlit.nn.QuantizedTanh` (tanh rounded to ``activation_levels``
    evenly spaced values in :math:`[-1, 1]`, straight-through with the tanh derivative),
    then a :class:`~fairlit.nn.StochasticBinaryLayer`, whose outputs are 1-bit samples.
    The stochastic layer's own linear map keeps full-precision weights.

    Args:
        in_features: number of input features.
        out_features: number of stochastic binary neurons :math:`m`.
        hidden_features: widths of the ternary hidden layers (may be empty).
        dropout: dropout probability after each hidden activation.
        temperature: :math:`\tau` of the stochastic layer.
        straight_through: ``"identity"`` (default) or ``"sigmoid"``.
        inference: evaluation-mode output, ``"sample"``, ``"threshold"`` or
            ``"probability"``.
        threshold_factor: ternarization threshold factor :math:`c` (0.7).
        activation_levels: number of levels of the quantized tanh (3: ternary, 2 bits).

    Shape:
        ``x``: ``[B, in_features]`` -> ``code``, ``probs``: ``[B, out_features]``.

    Raises:
        ValueError: if ``threshold_factor`` is negative or another argument fails its check.

    Example:
        >>> import torch
        >>> enc = QuantizedBinaryEncoder(10, out_features=4, hidden_features=[16])
        >>> enc(torch.randn(2, 10)).code.shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int = 20,
        hidden_features: Sequence[int] = (64,),
        dropout: float = 0.0,
        temperature: float = 6.0,
        straight_through: StraightThrough = "identity",
        inference: Inference = "sample",
        threshold_factor: float = 0.7,
        activation_levels: int = 3,
    ) -> None:
        super().__init__()
        self.in_features = _check_positive_int(in_features, "in_features")
        self.out_features = _check_positive_int(out_features, "out_features")
        hidden = _check_hidden_features(hidden_features, "hidden_features")
        if not threshold_factor >= 0:
            raise ValueError(f"`threshold_factor` must be >= 0, got {threshold_factor!r}.")

        def ternary(fan_in: int, fan_out: int) -> nn.Module:
            return TernaryLinear(fan_in, fan_out, threshold_factor=threshold_factor)

        self.hidden, width = build_mlp(
            in_features,
            hidden,
            QuantizedTanh(activation_levels),
            _check_dropout(dropout),
            linear=ternary,
        )
        self.build_binary_layer(width, out_features, temperature, straight_through, inference)

    def body(self, x: Tensor) -> Tensor:
        """The hidden layers' output ``[B, width]``."""
        _check_input(x, self.in_features, type(self).__name__)
        return self.hidden(x)


class FullPrecisionEncoder(Encoder):
    r"""Full-precision baseline: an MLP whose last layer is the representation.

    .. math::

        \text{code} = \phi(W h + b),

    where :math:`h` is the output of the hidden layers and :math:`\phi` = ``activation``
    (tanh by default). There are no firing probabilities, so ``probs`` is ``None`` and
    mutual-information regularizers cannot be used with it (the adversarial one can).

    Args:
        in_features: number of input features.
        out_features: representation width.
        hidden_features: widths of the hidden layers (may be empty).
        activation: activation module (deep-copied per layer, also applied to the last
            layer); ``None`` means :class:`torch.nn.Tanh`.
        dropout: dropout probability after each hidden activation.

    Shape:
        ``x``: ``[B, in_features]`` -> ``code``: ``[B, out_features]``, ``probs``: ``None``.

    Example:
        >>> import torch
        >>> enc = FullPrecisionEncoder(10, out_features=4)
        >>> out = enc(torch.randn(2, 10))
        >>> out.code.shape, out.probs
        (torch.Size([2, 4]), None)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int = 20,
        hidden_features: Sequence[int] = (64,),
        activation: nn.Module | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features = _check_positive_int(in_features, "in_features")
        self.out_features = _check_positive_int(out_features, "out_features")
        hidden = _check_hidden_features(hidden_features, "hidden_features")
        activation = nn.Tanh() if activation is None else activation
        self.hidden, width = build_mlp(in_features, hidden, activation, _check_dropout(dropout))
        self.output = nn.Sequential(nn.Linear(width, out_features), copy.deepcopy(activation))

    def forward(self, x: Tensor) -> EncoderOutput:
        """Encode ``x`` into a real-valued code."""
        _check_input(x, self.in_features, type(self).__name__)
        return EncoderOutput(self.output(self.hidden(x)), None)
