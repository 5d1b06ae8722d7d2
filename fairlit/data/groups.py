"""Sensitive groups of a table: attributes, their intersections, and warnings about them.

A bundled dataset offers named :class:`SensitiveAttribute` s (Adult: ``sex``, ``race``, ...).
Several of them give intersectional groups: every combination of their groups, named
``"Female|Black"``, in product order (the first attribute varies slowest), so a single
attribute keeps its own group order and indices.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pytorch_lightning.utilities import rank_zero_warn

__all__ = ["SensitiveAttribute", "combine_attributes", "group_index", "warn_about_groups"]


@dataclass(frozen=True)
class SensitiveAttribute:
    """One sensitive attribute of a bundled dataset: its groups, and how a row gets one.

    Attributes:
        columns: The table columns it is derived from (left out of the features unless
            ``include_sensitive_in_features``).
        groups: Group names, by index.
        index: ``frame -> int64 [N]``: each row's group index.
        keep: ``frame -> bool [N]``: the rows the attribute is defined for (``None``: all).
    """

    columns: tuple[str, ...]
    groups: tuple[str, ...]
    index: Callable[[pd.DataFrame], np.ndarray]
    keep: Callable[[pd.DataFrame], np.ndarray] | None = None


def combine_attributes(
    sensitive: str | Sequence[str], available: Mapping[str, SensitiveAttribute]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Check a choice of attributes and name the groups of their intersection.

    Args:
        sensitive: One attribute name, or a list of them.
        available: The dataset's attributes by name.

    Returns:
        ``(names, columns, group_names)``: the attribute names, the columns they come from,
        and every combination of their groups, ``"|"``-joined, in product order.

    Raises:
        ValueError: for an unknown or repeated attribute, an empty list, or two attributes
            derived from the same column.

    Example:
        >>> sex = SensitiveAttribute(("sex",), ("F", "M"), len)
        >>> race = SensitiveAttribute(("race",), ("A", "B"), len)
        >>> combine_attributes(["sex", "race"], {"sex": sex, "race": race})[2]
        ('F|A', 'F|B', 'M|A', 'M|B')
    """
    names = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    if not names:
        raise ValueError(f"sensitive: give at least one of {list(available)}")
    for name in names:
        if name not in available:
            raise ValueError(
                f"sensitive={name!r} is not supported; choose one of {list(available)} "
                "(or a list of them)"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"sensitive: an attribute is repeated in {names}")
    columns = [c for name in names for c in available[name].columns]
    if len(set(columns)) != len(columns):
        raise ValueError(f"sensitive: {names} are derived from the same column(s) {columns}")
    groups = itertools.product(*(available[name].groups for name in names))
    return tuple(names), tuple(columns), tuple("|".join(combo) for combo in groups)


def group_index(
    frame: pd.DataFrame, attributes: Sequence[SensitiveAttribute]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows every attribute is defined for, and each row's intersectional group index.

    Returns:
        ``(frame, s)``: the kept rows (index reset) and int64 ``[N]`` indices in the product
        order of :func:`combine_attributes`.
    """
    keep = np.ones(len(frame), dtype=bool)
    for attribute in attributes:
        if attribute.keep is not None:
            keep &= np.asarray(attribute.keep(frame), dtype=bool)
    if not keep.all():
        frame = frame[keep].reset_index(drop=True)
    s = np.zeros(len(frame), dtype=np.int64)
    for attribute in attributes:
        s = s * len(attribute.groups) + np.asarray(attribute.index(frame), dtype=np.int64)
    return frame, s


def warn_about_groups(
    owner: str,
    names: Sequence[str],
    s: np.ndarray,
    splits: Mapping[str, np.ndarray],
    min_rows: int,
    report_absent: bool = True,
) -> None:
    """Warn, naming them, about groups a split leaves out and groups with few training rows.

    Args:
        owner: Who warns (the DataModule's name).
        names: The group names, by index.
        s: int64 ``[N]`` group index of every row (``-1``: unknown).
        splits: Split name -> row indices; ``"train"`` is the one ``min_rows`` applies to.
        min_rows: Fewer training rows than this warns.
        report_absent: Also warn about groups with no row at all.
    """
    if not names or (s < 0).all():
        return
    counts = {
        split: np.bincount(s[rows][s[rows] >= 0], minlength=len(names))
        for split, rows in splits.items()
    }
    total = np.sum(list(counts.values()), axis=0)
    for split, count in counts.items():
        lost = [names[g] for g in range(len(names)) if count[g] == 0 and total[g] > 0]
        if lost and len(splits[split]):
            rank_zero_warn(f"{owner}: the {split} split has no row of group(s) {lost}")
    few = [
        f"{names[g]} ({counts['train'][g]})"
        for g in range(len(names))
        if 0 < counts["train"][g] < min_rows
    ]
    if few:
        rank_zero_warn(
            f"{owner}: group(s) with fewer than min_group_rows={min_rows} training rows: "
            f"{', '.join(few)}"
        )
    absent = [names[g] for g in range(len(names)) if total[g] == 0]
    if absent and report_absent:
        rank_zero_warn(f"{owner}: no row of group(s) {absent} in the data")
