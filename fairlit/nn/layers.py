r"""Quantized building blocks: the stochastic binary layer, ternary weights, quantized tanh.

Every quantizer here uses a *straight-through estimator* (STE): the forward pass returns
the exact quantized value, while the backward pass uses a surrogate derivative. The
surrogate is implemented with the detach trick

.. math::

    y = q(x) + \big(g(x) - \operatorname{stopgrad}(g(x))\big),

whose value is exactly :math:`q(x)` (the bracket is exactly zero in floating point) and
whose derivative is :math:`\partial y / \partial x = g'(x)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple, TypeVar, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "EncoderOutput",
    "Inference",
    "QuantizedTanh",
    "StochasticBinaryLayer",
    "StraightThrough",
    "TernaryLinear",
    "ternarize",
]

StraightThrough = Literal["identity", "sigmoid"]
Inference = Literal["sample", "threshold", "probability"]


class EncoderOutput(NamedTuple):
    """What an encoder returns.

    Attributes:
        code: ``[B, out_features]`` float tensor, the representation the task head sees
            (sampled bits for stochastic binary encoders).
        probs: ``[B, out_features]`` firing probabilities :math:`p_j(x)` of the stochastic
            binary neurons, or ``None`` for encoders without a stochastic layer (e.g. the
            full-precision baseline).
    """

    code: Tensor
    probs: Tensor | None


def _check_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is a positive ``int`` (not a bool), else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
    return value


def _check_hidden_features(hidden_features: Sequence[int], name: str) -> tuple[int, ...]:
    """Validate a sequence of layer widths (may be empty)."""
    if isinstance(hidden_features, int | str) or not isinstance(hidden_features, Sequence):
        raise ValueError(
            f"`{name}` must be a sequence of positive ints (e.g. [64] or []), "
            f"got {hidden_features!r}."
        )
    return tuple(_check_positive_int(h, f"{name}[{i}]") for i, h in enumerate(hidden_features))


def _check_positive_float(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"`{name}` must be a positive number, got {value!r}.")
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    return float(value)


_Choice = TypeVar("_Choice", bound=str)


def _check_choice(value: _Choice, choices: object, name: str) -> _Choice:
    allowed = get_args(choices)
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}, got {value!r}.")
    return value


def _check_input(x: Tensor, in_features: int, owner: str) -> None:
    if x.dim() < 1 or x.shape[-1] != in_features:
        raise ValueError(
            f"{owner} expects inputs of shape [B, {in_features}] (in_features={in_features}), "
            f"got {tuple(x.shape)}."
        )


class StochasticBinaryLayer(nn.Module):
    r"""A layer of stochastically quantized (Bernoulli) neurons.

    Neuron :math:`j` computes a pre-activation, a firing probability and a binary output

    .. math::

        a = W x + b, \qquad p_j = \sigma(\tau a_j), \qquad
        t_j \sim \operatorname{Bernoulli}(p_j),

    independently per neuron and per row, with :math:`\tau` = ``temperature``. Sampling
    uses :func:`torch.bernoulli` on the global RNG, so :func:`torch.manual_seed` makes it
    reproducible. The sample is not differentiable; the backward pass uses a
    straight-through estimator (STE) chosen by ``straight_through``:

    - ``"identity"`` (the authors' choice): :math:`\partial t_j / \partial a_j := 1`;
    - ``"sigmoid"``: :math:`\partial t_j / \partial a_j := \partial p_j / \partial a_j
      = \tau\, p_j (1 - p_j)`.

    Hence for a loss :math:`L`, :math:`\partial L / \partial W = \delta\, x^\top` with
    :math:`\delta_j = \partial L / \partial t_j` (identity) or
    :math:`\delta_j = \tau p_j (1 - p_j)\, \partial L / \partial t_j` (sigmoid);
    ``probs`` additionally carries its exact gradient :math:`\tau p_j(1-p_j)` (used by
    the mutual-information regularizers).

    In training mode the code is always a sample. In evaluation mode ``inference``
    decides: ``"sample"`` (one Bernoulli sample, as in the paper's evaluation),
    ``"threshold"`` (:math:`\mathbb{1}[p_j \ge 0.5]`) or ``"probability"`` (the code is
    :math:`p` itself). ``inference`` and ``straight_through`` are plain attributes that
    may be changed at run time; invalid values raise :class:`ValueError`.

    Args:
        in_features: input width.
        out_features: number of stochastic binary neurons :math:`m`.
        temperature: :math:`\tau > 0`.
        straight_through: ``"identity"`` or ``"sigmoid"``.
        inference: evaluation-mode behaviour, ``"sample"``, ``"threshold"`` or
            ``"probability"``.
        bias: whether the linear map has a bias.

    Shape:
        - input: ``[B, in_features]`` float.
        - output: :class:`EncoderOutput` with ``code`` and ``probs`` of shape
          ``[B, out_features]``, same dtype as the input; ``code`` in :math:`\{0, 1\}`
          unless ``inference == "probability"`` in evaluation mode.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> layer = StochasticBinaryLayer(3, 4)
        >>> out = layer(torch.randn(5, 3))
        >>> out.code.shape, out.probs.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
        >>> bool(((out.code == 0) | (out.code == 1)).all())
        True
        >>> layer.inference = "threshold"
        >>> code = layer.eval()(torch.randn(5, 3)).code
    """

    def __init__(
        self,
        in_features: int,
        out_features: int = 20,
        temperature: float = 6.0,
        straight_through: StraightThrough = "identity",
        inference: Inference = "sample",
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_features = _check_positive_int(in_features, "in_features")
        self.out_features = _check_positive_int(out_features, "out_features")
        self.temperature = _check_positive_float(temperature, "temperature")
        self.straight_through = straight_through
        self.inference = inference
        self.linear = nn.Linear(in_features, out_features, bias=bias)

    @property
    def straight_through(self) -> StraightThrough:
        """The backward surrogate, ``"identity"`` or ``"sigmoid"``."""
        return self._straight_through

    @straight_through.setter
    def straight_through(self, value: StraightThrough) -> None:
        self._straight_through = _check_choice(value, StraightThrough, "straight_through")

    @property
    def inference(self) -> Inference:
        """Evaluation-mode output: ``"sample"``, ``"threshold"`` or ``"probability"``."""
        return self._inference

    @inference.setter
    def inference(self, value: Inference) -> None:
        self._inference = _check_choice(value, Inference, "inference")

    def forward(self, x: Tensor, noise: Tensor | None = None) -> EncoderOutput:
        """Map ``x`` to binary codes and firing probabilities.

        Args:
            x: ``[B, in_features]`` float.
            noise: Optional uniform draws in :math:`[0, 1)`, ``[B, out_features]``, used instead
                of the global generator where a code is sampled: bit :math:`j` is 1 iff
                :math:`u_j < p_j`, which is Bernoulli(:math:`p_j`) for uniform :math:`u`. On a
                CPU, ``torch.rand`` drawn with :math:`p`'s dtype gives the very bits that
                :func:`torch.bernoulli` gives from the same generator state. It lets a caller
                own the randomness (a front under :func:`torch.func.vmap`, a test).

        Raises:
            ValueError: if ``x`` is not ``[B, in_features]`` or ``noise`` has another shape
                than the code.
        """
        _check_input(x, self.in_features, type(self).__name__)
        a = self.linear(x)
        p = torch.sigmoid(self.temperature * a)
        if not self.training and self.inference == "probability":
            return EncoderOutput(p, p)
        if not self.training and self.inference == "threshold":
            bits = (p.detach() >= 0.5).to(p.dtype)
        elif noise is not None:
            if noise.shape != p.shape:
                raise ValueError(
                    f"{type(self).__name__}: `noise` must have the code's shape "
                    f"{tuple(p.shape)}, got {tuple(noise.shape)}."
                )
            bits = (noise < p.detach()).to(p.dtype)
        else:
            bits = torch.bernoulli(p.detach())
        # Detach trick: value is exactly `bits`, derivative is that of the surrogate.
        surrogate = a if self.straight_through == "identity" else p
        code = bits + (surrogate - surrogate.detach())
        return EncoderOutput(code, p)

    def extra_repr(self) -> str:
        """Summarize the configuration for ``repr``."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"temperature={self.temperature}, straight_through={self.straight_through!r}, "
            f"inference={self.inference!r}"
        )


def ternarize(weight: Tensor, threshold_factor: float = 0.7) -> Tensor:
    r"""Ternary-weight-network quantizer (Li et al., 2016), without gradient surrogate.

    .. math::

        \Delta = c \cdot \tfrac{1}{n} \sum_i |W_i|, \qquad
        \hat W_i = \alpha \cdot \operatorname{sign}(W_i)\, \mathbb{1}[|W_i| > \Delta],
        \qquad \alpha = \frac{\sum_{i:|W_i|>\Delta} |W_i|}{\#\{i : |W_i| > \Delta\}},

    with :math:`c` = ``threshold_factor`` and one scale :math:`\alpha` per tensor (per
    layer). :math:`\alpha` is the least-squares optimal scale for the chosen support;
    it is 0 when the support is empty. The result takes at most the three values
    :math:`\{-\alpha, 0, +\alpha\}`.

    Args:
        weight: any-shape float tensor.
        threshold_factor: :math:`c \ge 0`.

    Returns:
        A tensor of the same shape and dtype as ``weight``.

    Example:
        >>> ternarize(torch.tensor([0.9, -0.1, -1.1, 0.2]))
        tensor([ 1.,  0., -1.,  0.])
    """
    absolute = weight.abs()
    delta = threshold_factor * absolute.mean()
    mask = absolute > delta
    alpha = torch.where(mask, absolute, 0.0).sum() / mask.sum().clamp(min=1)
    # torch.where (not a product with the mask) so that zeros are +0.0, never -0.0.
    return torch.where(mask, alpha * torch.sign(weight), 0.0)


class TernaryLinear(nn.Linear):
    r"""Linear layer with 2-bit ternary weights :math:`\{-\alpha, 0, +\alpha\}`.

    The latent full-precision weight :math:`W` is trained; the forward pass uses
    :math:`\hat W` = :func:`ternarize` (W) and the backward pass is straight-through
    for the weights, :math:`\partial \hat W / \partial W := I` (so :math:`\alpha` and
    :math:`\Delta` receive no gradient of their own). The bias stays full precision.

    Args:
        in_features: input width.
        out_features: output width.
        bias: whether to learn a (full-precision) bias.
        threshold_factor: :math:`c` in :func:`ternarize`, 0.7 as in ternary weight networks.

    Raises:
        ValueError: if ``threshold_factor`` is negative.

    Example:
        >>> layer = TernaryLinear(4, 3)
        >>> len(torch.unique(layer.quantized_weight())) <= 3
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        threshold_factor: float = 0.7,
    ) -> None:
        _check_positive_int(in_features, "in_features")
        _check_positive_int(out_features, "out_features")
        if not threshold_factor >= 0:
            raise ValueError(f"`threshold_factor` must be >= 0, got {threshold_factor!r}.")
        super().__init__(in_features, out_features, bias=bias)
        self.threshold_factor = float(threshold_factor)

    def quantized_weight(self) -> Tensor:
        r"""The effective weight :math:`\hat W` used in the forward pass (STE attached)."""
        w = self.weight
        return ternarize(w.detach(), self.threshold_factor) + (w - w.detach())

    def forward(self, x: Tensor) -> Tensor:
        r"""Apply :math:`y = \hat W x + b`."""
        return F.linear(x, self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        """Summarize the configuration for ``repr``."""
        return f"{super().extra_repr()}, threshold_factor={self.threshold_factor}"


class QuantizedTanh(nn.Module):
    r"""Tanh rounded to ``levels`` evenly spaced values in :math:`[-1, 1]`.

    .. math::

        q(x) = \frac{2}{L - 1} \operatorname{round}\!\Big(\frac{L - 1}{2}
        \big(\tanh(x) + 1\big)\Big) - 1,

    with :math:`L` = ``levels`` (``round`` is round-half-to-even). ``levels=3`` (default,
    2 bits) gives the ternary tanh :math:`\{-1, 0, 1\}`; ``levels=4`` gives
    :math:`\{-1, -1/3, 1/3, 1\}`. Backward pass: straight-through through the rounding,
    :math:`\partial q / \partial x := 1 - \tanh^2(x)`.

    Args:
        levels: number of output levels :math:`L \ge 2`.

    Raises:
        ValueError: if ``levels < 2``.

    Example:
        >>> QuantizedTanh()(torch.tensor([-2.0, -0.1, 0.3, 2.0]))
        tensor([-1.,  0.,  0.,  1.])
    """

    def __init__(self, levels: int = 3) -> None:
        super().__init__()
        _check_positive_int(levels, "levels")
        if levels < 2:
            raise ValueError(f"`levels` must be >= 2, got {levels!r}.")
        self.levels = levels

    def forward(self, x: Tensor) -> Tensor:
        r"""Quantize :math:`\tanh(x)`."""
        y = torch.tanh(x)
        steps = self.levels - 1
        # k / steps is exact at both ends, so the extreme levels are exactly -1 and +1.
        q = torch.round((y.detach() + 1.0) * (steps / 2)) / steps * 2.0 - 1.0
        return q + (y - y.detach())

    def extra_repr(self) -> str:
        """Summarize the configuration for ``repr``."""
        return f"levels={self.levels}"
