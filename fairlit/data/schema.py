"""The schema of a table: which columns are numeric, and each categorical column's categories.

A schema is fixed per dataset (the documented category lists), so the one-hot width never
depends on the rows a split happens to hold, and a file with an unexpected value fails
loudly instead of silently changing the feature width.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fairlit.data.resources import DataFileError

__all__ = ["TabularSchema"]


@dataclass(frozen=True)
class TabularSchema:
    """Feature columns of a table and the full category list of each categorical column.

    The category lists come from the dataset's documentation, not from the
    rows at hand, so every split and every process one-hot encodes to the
    same width.

    Attributes:
        numeric: Names of numeric columns (standardized later).
        categorical: Column name -> ordered tuple of all its categories.

    Example:
        >>> schema = TabularSchema(numeric=("age",), categorical={"sex": ("Female", "Male")})
        >>> schema.width(), schema.width(exclude=("sex",))
        (3, 1)
    """

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        """All feature columns, numeric first."""
        return self.numeric + tuple(self.categorical)

    def width(self, exclude: tuple[str, ...] = ()) -> int:
        """Number of encoded features (one per numeric column, one per category)."""
        return sum(1 for c in self.numeric if c not in exclude) + sum(
            len(v) for c, v in self.categorical.items() if c not in exclude
        )

    def without(self, exclude: tuple[str, ...]) -> "TabularSchema":
        """The schema with columns ``exclude`` removed."""
        return TabularSchema(
            tuple(c for c in self.numeric if c not in exclude),
            {c: v for c, v in self.categorical.items() if c not in exclude},
        )

    def check(self, frame: pd.DataFrame, source: str, unknown_category: str = "error") -> None:
        """Raise :class:`DataFileError` if ``frame`` has a value outside the schema.

        Args:
            frame: Table holding at least the schema's columns.
            source: File or table name used in error messages.
            unknown_category: ``"error"`` refuses a category outside the schema; ``"ignore"``
                lets it through (:func:`~fairlit.data.tabular.encode_features` then gives the row
                an all-zero one-hot block for that column).

        Raises:
            DataFileError: naming ``source`` and the column: a missing column, a non-numeric, NaN or
                inf value in a numeric column, or a category outside the schema.
        """
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataFileError(f"{source}: missing column(s) {missing}")
        for column in self.numeric:
            if not pd.api.types.is_numeric_dtype(frame[column]):
                bad = frame[column][pd.to_numeric(frame[column], errors="coerce").isna()]
                raise DataFileError(
                    f"{source}: numeric column {column!r} holds non-numeric value(s) "
                    f"{sorted(map(str, bad.unique()))[:5]} (e.g. row {bad.index[0]})"
                )
            values = frame[column].to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                row = int(np.flatnonzero(~np.isfinite(values))[0])
                raise DataFileError(
                    f"{source}: numeric column {column!r} holds NaN or inf "
                    f"(first at row {frame.index[row]}); drop or impute those rows first"
                )
        for column, categories in self.categorical.items():
            unknown = set(frame[column].astype(str).unique()) - set(categories)
            if unknown and unknown_category != "ignore":
                raise DataFileError(
                    f"{source}: column {column!r} has value(s) {sorted(unknown)} outside the "
                    f"expected categories {list(categories)}"
                )
