r"""Convolutional encoders for images fed as flattened rows (e.g. Biased-MNIST).

The DataModules in :mod:`fairlit.data.images` serve ``x`` as ``[B, C H W]`` rows so that the
CLI links ``data.num_features`` to ``in_features`` exactly as for tables; these encoders
reshape each row to ``image_shape`` and run a small feature extractor

.. math::

    h = \operatorname{ReLU}\big(W\, \operatorname{flatten}(B_k \circ \dots \circ B_1(x)) + b\big),
    \qquad B_i = \operatorname{MaxPool}_{2} \circ \operatorname{ReLU} \circ
    \operatorname{Conv}_{3 \times 3}

(3x3 convolutions with padding 1, so every block halves the height and width, rounding
down), then either the stochastic binary layer (:class:`ConvBinaryEncoder`, SQNN) or a
full-precision ``tanh`` layer (:class:`ConvFullPrecisionEncoder`, the baseline).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from fairlit.nn.base import Encoder, StochasticEncoder
from fairlit.nn.layers import (
    EncoderOutput,
    Inference,
    StraightThrough,
    _check_hidden_features,
    _check_positive_int,
)

__all__ = ["ConvBinaryEncoder", "ConvFullPrecisionEncoder", "build_conv_extractor"]


def _check_image_shape(
    image_shape: Sequence[int], in_features: int, owner: str
) -> tuple[int, int, int]:
    if (
        isinstance(image_shape, int | str)
        or not isinstance(image_shape, Sequence)
        or len(image_shape) != 3
    ):
        raise ValueError(
            "`image_shape` must be (channels, height, width), e.g. [3, 28, 28], got "
            f"{image_shape!r}."
        )
    shape = tuple(_check_positive_int(v, f"image_shape[{i}]") for i, v in enumerate(image_shape))
    if in_features != math.prod(shape):
        raise ValueError(
            f"{owner}: in_features={in_features} does not match image_shape={list(shape)} "
            f"({' x '.join(map(str, shape))} = {math.prod(shape)} values per image). Set "
            "`image_shape` to the data's (e.g. [3, 8, 8] for BiasedDigitsDataModule, "
            "[3, 28, 28] for BiasedMNISTDataModule)."
        )
    return shape  # type: ignore[return-value]


def build_conv_extractor(
    image_shape: Sequence[int], channels: Sequence[int], hidden_features: int
) -> nn.Sequential:
    """Conv-ReLU-MaxPool blocks, then flatten, a linear layer and a ReLU.

    Args:
        image_shape: ``(C, H, W)`` of the input images.
        channels: Output channels of each block (may be empty: flatten the image directly).
        hidden_features: Width of the linear layer after flattening.

    Returns:
        The module, mapping ``[B, C, H, W]`` to ``[B, hidden_features]``.

    Raises:
        ValueError: the image is too small for that many 2x2 poolings.

    Example:
        >>> import torch
        >>> build_conv_extractor((3, 8, 8), (4, 8), 16)(torch.zeros(2, 3, 8, 8)).shape
        torch.Size([2, 16])
    """
    in_channels, height, width = image_shape
    layers: list[nn.Module] = []
    for out_channels in channels:
        if height < 2 or width < 2:
            raise ValueError(
                f"image_shape={list(image_shape)} is too small for {len(channels)} conv blocks "
                f"(each halves height and width with a 2x2 max pooling); use fewer `channels`."
            )
        layers += [
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        in_channels, height, width = out_channels, height // 2, width // 2
    layers += [nn.Flatten(), nn.Linear(in_channels * height * width, hidden_features), nn.ReLU()]
    return nn.Sequential(*layers)


class _ConvEncoder(Encoder):
    """Shared init and reshaping of the convolutional encoders."""

    def __init__(
        self,
        in_features: int,
        image_shape: Sequence[int],
        channels: Sequence[int],
        hidden_features: int,
        out_features: int,
    ) -> None:
        super().__init__()
        self.in_features = _check_positive_int(in_features, "in_features")
        self.out_features = _check_positive_int(out_features, "out_features")
        self.image_shape = _check_image_shape(image_shape, in_features, type(self).__name__)
        self.channels = _check_hidden_features(channels, "channels")
        self.hidden_features = _check_positive_int(hidden_features, "hidden_features")
        self.features = build_conv_extractor(self.image_shape, self.channels, self.hidden_features)

    def _images(self, x: Tensor) -> Tensor:
        """``[B, C H W]`` rows (or ``[B, C, H, W]`` images) -> ``[B, C, H, W]``."""
        if x.dim() == 4 and tuple(x.shape[1:]) == self.image_shape:
            return x
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__} expects flattened images [B, {self.in_features}] or images "
                f"[B, {', '.join(map(str, self.image_shape))}], got {tuple(x.shape)}."
            )
        return x.reshape(-1, *self.image_shape)


class ConvBinaryEncoder(_ConvEncoder, StochasticEncoder):
    r"""SQNN for images: a small CNN, then a :class:`~fairlit.nn.StochasticBinaryLayer`.

    .. math::

        h = \text{extractor}(x), \qquad p = \sigma(\tau (W h + b)), \qquad
        t \sim \operatorname{Bernoulli}(p),

    with the extractor of :func:`build_conv_extractor`. The stochastic layer is
    ``self.binary`` (as in the other binary encoders), so the inference mode, the
    straight-through estimator and the MI regularizers work unchanged.

    Args:
        in_features: ``prod(image_shape)``, the width of a flattened image (linked from the data).
        image_shape: ``(C, H, W)``; ``[3, 8, 8]`` for Biased-Digits, ``[3, 28, 28]`` for
            Biased-MNIST.
        channels: Output channels of the conv blocks.
        out_features: Number of stochastic binary neurons :math:`m`.
        temperature: :math:`\tau` of the stochastic layer.
        straight_through: ``"sigmoid"`` (default here, see ``configs/german.yaml``) or
            ``"identity"``.
        inference: Evaluation-mode output, ``"sample"``, ``"threshold"`` or ``"probability"``.
        hidden_features: Width of the linear layer between the conv blocks and the binary layer.

    Shape:
        ``x``: ``[B, in_features]`` (or ``[B, *image_shape]``) -> ``code``, ``probs``:
        ``[B, out_features]``.

    Raises:
        ValueError: ``in_features != prod(image_shape)``, or invalid sizes.

    Example:
        >>> import torch
        >>> enc = ConvBinaryEncoder(192, image_shape=(3, 8, 8), channels=(4, 8), out_features=5)
        >>> out = enc(torch.rand(2, 192))
        >>> out.code.shape, out.probs.shape
        (torch.Size([2, 5]), torch.Size([2, 5]))
    """

    def __init__(
        self,
        in_features: int,
        image_shape: Sequence[int] = (3, 28, 28),
        channels: Sequence[int] = (16, 32),
        out_features: int = 20,
        temperature: float = 6.0,
        straight_through: StraightThrough = "sigmoid",
        inference: Inference = "sample",
        hidden_features: int = 64,
    ) -> None:
        super().__init__(in_features, image_shape, channels, hidden_features, out_features)
        self.build_binary_layer(
            self.hidden_features, out_features, temperature, straight_through, inference
        )

    def body(self, x: Tensor) -> Tensor:
        """The conv extractor's output ``[B, hidden_features]``."""
        return self.features(self._images(x))


class ConvFullPrecisionEncoder(_ConvEncoder):
    r"""Full-precision baseline for images: the same CNN, then ``tanh(linear)``.

    .. math:: \text{code} = \tanh(W\, \text{extractor}(x) + b)

    ``probs`` is ``None``, so the mutual-information regularizers cannot be used with it
    (the adversarial one and no regularizer can).

    Args:
        in_features: ``prod(image_shape)`` (linked from the data).
        image_shape: ``(C, H, W)``.
        channels: Output channels of the conv blocks.
        out_features: Representation width.
        hidden_features: Width of the linear layer after the conv blocks.

    Example:
        >>> import torch
        >>> enc = ConvFullPrecisionEncoder(192, image_shape=(3, 8, 8), out_features=5)
        >>> out = enc(torch.rand(2, 192))
        >>> out.code.shape, out.probs
        (torch.Size([2, 5]), None)
    """

    def __init__(
        self,
        in_features: int,
        image_shape: Sequence[int] = (3, 28, 28),
        channels: Sequence[int] = (16, 32),
        out_features: int = 20,
        hidden_features: int = 64,
    ) -> None:
        super().__init__(in_features, image_shape, channels, hidden_features, out_features)
        self.output = nn.Sequential(nn.Linear(self.hidden_features, out_features), nn.Tanh())

    def forward(self, x: Tensor) -> EncoderOutput:
        """Encode images into a real-valued code."""
        return EncoderOutput(self.output(self.features(self._images(x))), None)
