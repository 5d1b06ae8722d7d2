"""Argument checks shared across fairlit: one definition each, one message each.

Errors are :class:`ValueError` with a one-line message naming the argument, what was expected
and what was given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from torch import Tensor

__all__ = ["check_log_base", "check_same_architecture", "infer_num_groups"]


def check_log_base(base: float, name: str = "base") -> float:
    """Check a logarithm base: a finite number, positive and other than 1.

    Returns:
        ``base`` as a float (2 gives bits, ``math.e`` nats).

    Raises:
        ValueError: for a bool, a non-number, a non-finite value, ``base <= 0`` or ``base == 1``.

    Example:
        >>> check_log_base(2)
        2.0
    """
    if (
        isinstance(base, bool)
        or not isinstance(base, int | float)
        or not math.isfinite(base)
        or not base > 0
        or base == 1
    ):
        raise ValueError(
            f"`{name}` must be a positive number other than 1 (2: bits), got {base!r}."
        )
    return float(base)


def infer_num_groups(groups: Tensor, empty: int = 1) -> int:
    """The number of groups a tensor of group indices implies: ``groups.max() + 1``.

    Args:
        groups: Integer group indices (any shape).
        empty: The answer for an empty tensor.

    Returns:
        ``int(groups.max()) + 1``, or ``empty`` when ``groups`` has no element.

    Example:
        >>> import torch
        >>> infer_num_groups(torch.tensor([0, 2, 1])), infer_num_groups(torch.tensor([], dtype=torch.long))
        (3, 1)
    """
    return int(groups.max()) + 1 if groups.numel() > 0 else empty


def check_same_architecture(own: Mapping[str, Any], saved: Mapping[str, Any]) -> None:
    """Refuse a checkpoint ``state_dict`` whose weights do not fit the model's, saying why.

    Args:
        own: The model's ``state_dict()`` (name -> tensor).
        saved: The checkpoint's ``state_dict``.

    Raises:
        ValueError: if a weight has another shape, is missing or is extra; the message names up
            to six of them and says how to build the right model.
    """
    problems = [
        f"{k}: checkpoint {tuple(v.shape)} vs. model {tuple(own[k].shape)}"
        for k, v in saved.items()
        if k in own and own[k].shape != v.shape
    ]
    problems += [f"{k}: missing from the checkpoint" for k in own if k not in saved]
    problems += [f"{k}: not in this model" for k in saved if k not in own]
    if problems:
        shown = "; ".join(problems[:6]) + (
            f"; ... ({len(problems)} in all)" if len(problems) > 6 else ""
        )
        raise ValueError(
            "the checkpoint was saved from a different architecture than this model "
            f"({shown}). Build the model with the configuration the checkpoint was trained "
            "with (the `config.yaml` next to its logs, or `hyper_parameters` inside it)."
        )
