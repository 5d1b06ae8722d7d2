"""Helpers shared by the count-state metrics (private)."""

import torch
from torch import Tensor

from fairlit.metrics.functional._checks import STATISTICS_DTYPE


def zeros(*shape: int) -> Tensor:
    return torch.zeros(*shape, dtype=STATISTICS_DTYPE)


def result(value: Tensor) -> Tensor:
    return value.to(torch.get_default_dtype())
