r"""Pure selection and front functions: validation metrics in, a choice out.

Nothing here reads a test metric. :func:`choose_at_budget` and
:func:`validation_front` take a frame of **validation** metrics (columns
``method``, ``param``, ``seed``, ``accuracy``, ``dp_difference``) and return
the chosen ``(method, param)`` settings; the report
(:mod:`fairlit.sweep.report`) then looks up those settings' test metrics.
Passing a test frame is refused: a frame that carries any ``test/`` column,
or is marked ``frame.attrs["split"] == "test"``, raises :class:`ValueError`.

:func:`pareto_front`, :func:`area_under_front`, :func:`mean_interval` and
:func:`budget_kept` are the plain formulas the report uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "area_under_front",
    "budget_kept",
    "choose_at_budget",
    "mean_interval",
    "pareto_front",
    "validation_front",
]

_NEEDED = ("method", "param", "seed", "accuracy", "dp_difference")


def pareto_front(
    points: pd.DataFrame, x: str = "dp_difference", y: str = "accuracy"
) -> pd.DataFrame:
    """Rows not dominated by another (lower or equal ``x`` and higher or equal ``y``).

    Args:
        points: One row per model.
        x: Column to minimize (unfairness).
        y: Column to maximize (accuracy).

    Returns:
        The front, sorted by ``x``.

    Example:
        >>> df = pd.DataFrame({"dp_difference": [0.1, 0.2, 0.05, 0.3], "accuracy": [0.8, 0.79, 0.7, 0.85]})
        >>> pareto_front(df)["accuracy"].tolist()
        [0.7, 0.8, 0.85]
    """
    ordered = points.sort_values([x, y], ascending=[True, False])
    keep, best = [], -math.inf
    for index, value in zip(ordered.index, ordered[y], strict=True):
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep]


def area_under_front(
    front: pd.DataFrame, x: str = "dp_difference", y: str = "accuracy", limit: float = 0.2
) -> float:
    r"""Area under the front's step function for ``x`` in ``[0, limit]``, divided by ``limit``.

    The step function at :math:`d` is the best accuracy reachable with ΔDP at
    most :math:`d` (0 where nothing is reachable), so the summary is the mean
    best accuracy over budgets in :math:`[0, \text{limit}]`: higher is better.

    Example:
        >>> front = pd.DataFrame({"dp_difference": [0.0, 0.1], "accuracy": [0.5, 0.8]})
        >>> round(area_under_front(front), 3)
        0.65
    """
    grid = np.linspace(0.0, limit, 2001)
    xs, ys = front[x].to_numpy(), front[y].to_numpy()
    best = [ys[xs <= d].max() if (xs <= d).any() else 0.0 for d in grid]
    return float(np.trapezoid(best, grid) / limit)


def _validation_only(validation: pd.DataFrame) -> pd.DataFrame:
    """Refuse test metrics; return the rows averaged over seeds per ``(method, param)``."""
    if validation.attrs.get("split") == "test" or any(
        str(c).startswith("test/") for c in validation.columns
    ):
        raise ValueError(
            "selection reads validation metrics only; got a frame with test metrics "
            "(pass the validation columns, renamed without their 'val/' prefix)."
        )
    missing = [c for c in _NEEDED if c not in validation.columns]
    if missing:
        raise ValueError(
            f"the validation frame lacks the column(s) {missing}; needs {list(_NEEDED)}."
        )
    frame = validation.dropna(subset=["accuracy", "dp_difference"])
    return (
        frame.groupby(["method", "param"], dropna=False, sort=False)
        .agg(
            accuracy=("accuracy", "mean"),
            dp_difference=("dp_difference", "mean"),
            seeds=("seed", "nunique"),
        )
        .reset_index()
    )


def choose_at_budget(validation: pd.DataFrame, budget: float) -> pd.DataFrame:
    """Per method, the setting with the best mean validation accuracy within a ΔDP budget.

    Rows are averaged over seeds per ``(method, param)``; among the settings
    whose mean validation ΔDP is at most ``budget``, the one with the highest
    mean validation accuracy is chosen (ties: the smaller mean ΔDP, then the
    first listed). A method with no setting within the budget has no row.

    Args:
        validation: Validation metrics, one row per ``(method, param, seed)``,
            columns ``method``, ``param``, ``seed``, ``accuracy``, ``dp_difference``.
        budget: The ΔDP budget (a demographic parity difference, in ``[0, 1]``).

    Returns:
        One row per method: ``method``, ``param``, ``accuracy`` and
        ``dp_difference`` (validation means), ``seeds``.

    Raises:
        ValueError: if the frame carries test metrics or lacks a needed column.

    Example:
        >>> val = pd.DataFrame({"method": ["a", "a"], "param": [0.1, 0.9], "seed": [0, 0],
        ...                     "accuracy": [0.8, 0.7], "dp_difference": [0.1, 0.01]})
        >>> choose_at_budget(val, 0.05)["param"].tolist()
        [0.9]
    """
    mean = _validation_only(validation)
    within = mean[mean["dp_difference"] <= budget]
    if within.empty:
        return within.reset_index(drop=True)
    ordered = within.sort_values(
        ["accuracy", "dp_difference"], ascending=[False, True], kind="stable"
    )
    return ordered.groupby("method", sort=False).head(1).reset_index(drop=True)


def validation_front(validation: pd.DataFrame) -> pd.DataFrame:
    """Per method, the settings on the Pareto front of mean validation (ΔDP, accuracy).

    Args:
        validation: As for :func:`choose_at_budget`.

    Returns:
        The front's rows (``method``, ``param``, validation means, ``seeds``), per method
        sorted by validation ΔDP.

    Raises:
        ValueError: as :func:`choose_at_budget`.
    """
    mean = _validation_only(validation)
    fronts = [pareto_front(group) for _, group in mean.groupby("method", sort=False)]
    return pd.concat(fronts).reset_index(drop=True) if fronts else mean


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    r"""Mean and half-width of the Student-t confidence interval of the mean.

    :math:`\bar x \pm t_{(1+c)/2,\,n-1}\, s / \sqrt n` with the sample standard
    deviation :math:`s`; the half-width is NaN for fewer than two values.

    Args:
        values: The per-seed values (NaN entries are dropped).
        confidence: Coverage of the interval.

    Returns:
        ``(mean, half_width)``.

    Raises:
        ValueError: if no finite value is given.

    Example:
        >>> mean, half = mean_interval([1.0, 2.0, 3.0])
        >>> mean, round(half, 3)
        (2.0, 2.484)
    """
    from scipy import stats

    array = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if array.size == 0:
        raise ValueError("mean_interval needs at least one finite value.")
    if array.size < 2:
        return float(array.mean()), math.nan
    sem = array.std(ddof=1) / math.sqrt(array.size)
    return float(array.mean()), float(stats.t.ppf(0.5 + confidence / 2, array.size - 1) * sem)


def budget_kept(dp_differences: Sequence[float], budget: float) -> float:
    """Share of runs (seeds) whose ΔDP is at most ``budget``.

    Raises:
        ValueError: if ``values`` is empty.

    Example:
        >>> budget_kept([0.01, 0.03, 0.02], 0.02)
        0.6666666666666666
    """
    array = np.asarray(dp_differences, dtype=float)
    if array.size == 0:
        raise ValueError("budget_kept needs at least one value.")
    return float((array <= budget).mean())
