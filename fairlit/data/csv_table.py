"""Reading a CSV table of your own: :func:`read_csv_table` checks it and names what is wrong.

Every error is a :class:`~fairlit.data.resources.DataFileError` that names the file and the
column (an empty file, a missing column, a target that is not binary, a single group, a
non-numeric value in a numeric column, a missing category).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fairlit.data.resources import DataFileError
from fairlit.data.schema import TabularSchema

__all__ = ["CSVTable", "read_csv_table"]


@dataclass
class CSVTable:
    """A CSV file read and validated by :func:`read_csv_table`.

    Attributes:
        frame: The file's rows (every column, as read).
        y: The binary target, int64 ``[N]``.
        s: The sensitive group index, int64 ``[N]`` (the position in ``group_names``).
        schema: The feature columns and every category of each categorical one.
        group_names: The sensitive column's distinct values, sorted as strings; for several
            sensitive columns, the observed combinations ``"a|b"``, sorted by their values.
        w: The sample weights, float32 ``[N]``, or None without a weight column.
    """

    frame: pd.DataFrame
    y: np.ndarray
    s: np.ndarray
    schema: TabularSchema
    group_names: tuple[str, ...]
    w: np.ndarray | None = None


def read_csv_table(
    path: str | Path,
    target: str,
    sensitive: str | list[str],
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
    drop: list[str] | None = None,
    positive_label: str | int | None = None,
    include_sensitive: bool = False,
    require_labels: bool = True,
    weight: str | None = None,
) -> CSVTable:
    """Read a CSV table with a binary target and categorical sensitive column(s), and check it.

    Every named column must exist, the target must take exactly two values, the sensitive
    column at least two, numeric columns must be numbers without NaN or inf, and categorical
    columns without missing values. Category lists are those of the whole file, sorted.

    Args:
        path: The CSV file (header row required).
        target: Name of the target column.
        sensitive: Name of the sensitive column, or a list of columns for intersectional
            groups (every observed combination of their values, named ``"Female|Black"``).
        categorical: Categorical feature columns; ``None`` takes every non-numeric column.
        numeric: Numeric feature columns; ``None`` takes every numeric column not listed as
            categorical.
        drop: Columns that are not features (identifiers, ...).
        positive_label: Target value meaning 1; ``None`` accepts a 0/1 or False/True target.
        include_sensitive: Keep the sensitive column(s) among the categorical features.
        require_labels: ``False`` for a file to be scored with a trained model's
            preprocessing: the target, sensitive and dropped columns may be missing (``y``
            and ``s`` are then -1), and the target and sensitive columns may hold one value.
        weight: A column of sample weights (numbers, finite, nonnegative, not all 0); it is
            not a feature. Optional in a file to be scored.

    Returns:
        The :class:`CSVTable`.

    Raises:
        DataFileError: naming the file and the column, for any of the problems above, and for
            an empty file, a header without rows or a file pandas cannot parse.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise DataFileError(f"CSV file {source!r} does not exist")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataFileError(
            f"{source}: the file is empty; expected a header row and data rows"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataFileError(
            f"{source}: not a readable CSV file ({str(err).splitlines()[0]})"
        ) from None
    if frame.empty:
        raise DataFileError(
            f"{source}: the file has a header ({', '.join(map(str, frame.columns))}) but no data rows"
        )
    drop = list(drop or [])
    # A file to be scored needs only the features: labels and dropped columns are optional.
    sensitives = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    if not sensitives:
        raise DataFileError(f"{source}: `sensitive` names no column")
    weights = [weight] if weight is not None else []
    optional = [] if require_labels else [target, *sensitives, *drop, *weights]
    named = [target, *sensitives, *(categorical or []), *(numeric or []), *drop, *weights]
    named = [c for c in named if c not in optional]
    missing = [c for c in dict.fromkeys(named) if c not in frame.columns]
    if missing:
        raise DataFileError(
            f"{source}: column(s) {missing} not found; the file has columns {list(frame.columns)}"
        )
    unlabelled = np.full(len(frame), -1, dtype=np.int64)
    y = (
        _binary_target(
            frame[target], positive_label, f"{source}: target column {target!r}", require_labels
        )
        if target in frame.columns
        else unlabelled
    )
    names: list[str] = []
    s = unlabelled
    if all(c in frame.columns for c in sensitives):
        for column in sensitives:
            if frame[column].isna().any():
                raise DataFileError(f"{source}: sensitive column {column!r} has missing values")
        values = frame[sensitives].astype(str)
        combos = sorted(set(values.itertuples(index=False, name=None)))
        names = ["|".join(combo) for combo in combos]
        if len(names) < 2 and require_labels:
            raise DataFileError(
                f"{source}: sensitive column(s) {sensitives} hold a single group {names}; "
                "fairness needs at least two"
            )
        labels = values.agg("|".join, axis=1) if len(sensitives) > 1 else values[sensitives[0]]
        s = pd.Categorical(labels, categories=names).codes.astype(np.int64)
    rest = [c for c in frame.columns if c not in {target, *sensitives, *drop, *weights}]
    w = _weights(frame, weight, source) if weight is not None and weight in frame.columns else None
    if categorical is None:
        categorical = [c for c in rest if not pd.api.types.is_numeric_dtype(frame[c])]
        if numeric is not None:
            categorical = [c for c in categorical if c not in numeric]
    if numeric is None:
        numeric = [c for c in rest if c not in categorical]
    for column in categorical:
        if frame[column].isna().any():
            row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
            raise DataFileError(
                f"{source}: categorical column {column!r} has a missing value (row {row}); "
                "fill or drop it first"
            )
    cats = {c: tuple(sorted(frame[c].astype(str).unique())) for c in categorical}
    if include_sensitive:
        for column in sensitives:
            if column not in cats and column in frame.columns:
                cats[column] = tuple(sorted(frame[column].astype(str).unique()))
    schema = TabularSchema(tuple(numeric), cats)
    schema.check(frame, source)
    return CSVTable(frame, y, s, schema, tuple(names), w)


def _weights(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """The weight column as float32, checked: numeric, finite, nonnegative, not all zero."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataFileError(
            f"{source}: weight column {column!r} must hold finite numbers >= 0; data row {row} "
            f"(line {row + 2} of the file) holds {frame[column].iloc[row]}"
        )
    if not values.sum() > 0:
        raise DataFileError(f"{source}: weight column {column!r} sums to 0")
    return values.astype(np.float32)


def _binary_target(
    column: pd.Series, positive_label: str | int | None, what: str, both: bool = True
) -> np.ndarray:
    """The target as 0/1; ``both=False`` accepts a column holding one of the two values."""
    if column.isna().any():
        raise DataFileError(f"{what} has missing values")
    values = set(column.unique().tolist())
    if positive_label is not None:
        matches = {v for v in values if v == positive_label or str(v) == str(positive_label)}
        if not matches and both:
            raise DataFileError(
                f"{what}: positive_label {positive_label!r} not among {sorted(map(str, values))}"
            )
        if len(values) > 2 or (both and len(values) != 2):
            raise DataFileError(
                f"{what} must be binary, found {len(values)} values {sorted(map(str, values))[:10]}"
            )
        return column.isin(matches).to_numpy(np.int64)
    if not values <= {0, 1}:
        raise DataFileError(
            f"{what} must be binary 0/1 (found {sorted(map(str, values))[:10]}); "
            "pass positive_label to name the positive value of a two-valued target"
        )
    return column.astype(np.int64).to_numpy()
