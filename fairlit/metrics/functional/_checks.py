"""Argument checks and shared constants of the functional metrics (private)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from fairlit.validation import infer_num_groups

__all__ = ["STATISTICS_DTYPE", "EqualizedOddsComponent", "Undefined"]


EqualizedOddsComponent = Literal["max", "tpr", "fpr", "fnr"]
_EO_COMPONENTS: tuple[str, ...] = ("max", "tpr", "fpr", "fnr")
#: What a group's undefined rate does to a gap: left out of it, or counted as 0 (fairlearn).
Undefined = Literal["exclude", "zero"]

#: dtype of every count statistic: integer counts stay exact up to 2**53.
STATISTICS_DTYPE = torch.float64


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------


def _check_num_groups(num_groups: int) -> int:
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1:
        raise ValueError(f"`num_groups` must be a positive int, got {num_groups!r}.")
    return num_groups


def _check_groups(groups: Tensor, num_groups: int | None, name: str = "groups") -> int:
    """Check that ``groups`` holds integer indices in ``[0, num_groups)``; return ``num_groups``."""
    if not isinstance(groups, Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(groups).__name__}.")
    if groups.is_floating_point() or groups.is_complex() or groups.dtype == torch.bool:
        raise ValueError(
            f"`{name}` must hold integer group indices (e.g. int64), got dtype {groups.dtype}."
        )
    if num_groups is None:
        num_groups = infer_num_groups(groups)
        if num_groups < 1:
            raise ValueError(f"`{name}` must hold group indices >= 0, got min {int(groups.min())}.")
        return num_groups
    _check_num_groups(num_groups)
    if groups.numel() > 0:
        low, high = int(groups.min()), int(groups.max())
        if low < 0 or high >= num_groups:
            raise ValueError(
                f"`{name}` must hold group indices in [0, {num_groups}) (num_groups={num_groups}),"
                f" got values in [{low}, {high}]."
            )
    return num_groups


def _check_probabilities(x: Tensor, name: str = "preds") -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
    if x.is_complex():
        raise ValueError(f"`{name}` must be real, got dtype {x.dtype}.")
    if x.numel() == 0:
        return
    xf = x.to(STATISTICS_DTYPE)
    if bool(torch.isnan(xf).any()):
        raise ValueError(f"`{name}` must not contain NaN.")
    low, high = float(xf.min()), float(xf.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"`{name}` must be probabilities in [0, 1] (apply a sigmoid to logits first),"
            f" got values in [{low:g}, {high:g}]."
        )


def _check_binary(x: Tensor, name: str = "target") -> None:
    if not isinstance(x, Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
    if x.numel() == 0:
        return
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError(f"`{name}` must hold binary 0/1 values, got {torch.unique(x)[:10]}.")


def _check_same_shape(reference: Tensor, ref_name: str, other: Tensor, other_name: str) -> None:
    if reference.shape != other.shape:
        raise ValueError(
            f"`{other_name}` must have the same shape as `{ref_name}`"
            f" ({tuple(reference.shape)}), got {tuple(other.shape)}."
        )


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"`threshold` must be a float, got {threshold!r}.")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"`threshold` must be in [0, 1], got {threshold!r}.")
    return float(threshold)


def _check_num_thresholds(num_thresholds: int) -> int:
    if (
        isinstance(num_thresholds, bool)
        or not isinstance(num_thresholds, int)
        or num_thresholds < 2
    ):
        raise ValueError(f"`num_thresholds` must be an int >= 2, got {num_thresholds!r}.")
    return num_thresholds


def _check_weights(weights: Tensor, like: Tensor) -> None:
    """Sample weights: a tensor of ``like``'s number of elements, finite and nonnegative."""
    if not isinstance(weights, Tensor) or weights.numel() != like.numel():
        shape = tuple(weights.shape) if isinstance(weights, Tensor) else type(weights).__name__
        raise ValueError(f"`weights` must hold one weight per prediction, got {shape}.")
    if weights.numel() and not bool(torch.isfinite(weights).all() and (weights >= 0).all()):
        raise ValueError("`weights` must be finite and nonnegative.")


def _check_undefined(undefined: str) -> str:
    if undefined not in ("exclude", "zero"):
        raise ValueError(f"`undefined` must be 'exclude' or 'zero', got {undefined!r}.")
    return undefined


def _check_component(component: str) -> str:
    if component not in _EO_COMPONENTS:
        raise ValueError(f"`component` must be one of {_EO_COMPONENTS}, got {component!r}.")
    return component


def _group_one_hot(groups: Tensor, num_groups: int) -> Tensor:
    # A [N, G] one-hot matrix product is deterministic on every device, unlike scatter/index_add
    # with floating-point accumulation on CUDA (which `deterministic=True` runs reject).
    return F.one_hot(groups.reshape(-1).long(), num_groups).to(STATISTICS_DTYPE)
