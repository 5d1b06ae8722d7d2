"""Torch building blocks: stochastic binary layer, quantizers, encoders and task heads.

Example:
    >>> import torch
    >>> from fairlit.nn import HybridBinaryEncoder, TaskHead
    >>> encoder = HybridBinaryEncoder(in_features=10, out_features=20)
    >>> head = TaskHead(encoder.out_features, num_classes=2)
    >>> out = encoder(torch.randn(4, 10))
    >>> head(out.code).shape
    torch.Size([4])
"""

from fairlit.nn.base import Encoder, StochasticEncoder
from fairlit.nn.conv import ConvBinaryEncoder, ConvFullPrecisionEncoder
from fairlit.nn.encoders import (
    FullPrecisionEncoder,
    HybridBinaryEncoder,
    QuantizedBinaryEncoder,
    build_mlp,
)
from fairlit.nn.heads import Head, TaskHead
from fairlit.nn.layers import (
    EncoderOutput,
    Inference,
    QuantizedTanh,
    StochasticBinaryLayer,
    StraightThrough,
    TernaryLinear,
    ternarize,
)

__all__ = [
    "ConvBinaryEncoder",
    "ConvFullPrecisionEncoder",
    "Encoder",
    "EncoderOutput",
    "FullPrecisionEncoder",
    "Head",
    "HybridBinaryEncoder",
    "Inference",
    "QuantizedBinaryEncoder",
    "QuantizedTanh",
    "StochasticBinaryLayer",
    "StochasticEncoder",
    "StraightThrough",
    "TaskHead",
    "TernaryLinear",
    "build_mlp",
    "ternarize",
]
