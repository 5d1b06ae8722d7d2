"""LightningDataModules for Adult, COMPAS, German credit and any CSV table.

Each one only says how to read its data and which sensitive attribute to
use; splitting, scaling and loading live in
:class:`~fairlit.data.tabular.TabularDataModule`.
"""

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from fairlit.data.csv_table import read_csv_table
from fairlit.data.groups import SensitiveAttribute
from fairlit.data.parsers import (
    ADULT_SCHEMA,
    COMPAS_SCHEMA,
    GERMAN_SCHEMA,
    TabularSchema,
    load_adult,
    load_compas,
    load_german,
)
from fairlit.data.tabular import TabularDataModule, TabularTable

__all__ = ["AdultDataModule", "CSVDataModule", "CompasDataModule", "GermanDataModule"]


def _choose(argument: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{argument}={value!r} is not supported; choose one of {list(choices)}")
    return value


def _equals(column: str, value: str) -> Callable[[pd.DataFrame], np.ndarray]:
    """``frame -> 1 where frame[column] == value else 0`` (a picklable group index)."""
    return functools.partial(_is_value, column=column, value=value)


def _is_value(frame: pd.DataFrame, column: str, value: str) -> np.ndarray:
    return (frame[column] == value).to_numpy(np.int64)


def _among(column: str, values: tuple[str, ...]) -> Callable[[pd.DataFrame], np.ndarray]:
    """``frame -> rows whose frame[column] is one of values``."""
    return functools.partial(_is_among, column=column, values=values)


def _is_among(frame: pd.DataFrame, column: str, values: tuple[str, ...]) -> np.ndarray:
    return frame[column].isin(values).to_numpy()


def _older_than_25(frame: pd.DataFrame) -> np.ndarray:
    return (frame["age"] > 25).to_numpy(np.int64)


class AdultDataModule(TabularDataModule):
    """UCI Adult: predict income > 50K.

    45,222 rows after dropping rows with a missing value; the official split
    (30,162 train / 15,060 test) is kept and validation is carved from the
    training file. ``fnlwgt`` is not a feature; ``weighted=True`` makes it the sample weight
    of every row (batches carry ``w``: the weighted loss, MI and metrics).

    Sensitive attribute (``s``, group names in :attr:`group_names`):

    * ``"sex"`` (default): Female = 0, Male = 1;
    * ``"race"``: White = 1 vs. every other race = 0;
    * ``"race_white_black"``: only White and Black rows (Black = 0, White = 1);
    * a list, e.g. ``["sex", "race"]``: intersectional groups, every combination in product
      order (``Female|non-White``, ``Female|White``, ``Male|non-White``, ``Male|White``).

    Presets: ``"default"`` as above; ``"cerrato"`` pools both files and draws
    a random stratified 2/3-1/3 train/test split (``test_fraction`` 1/3), as
    the paper authors' code splits its data.

    Args:
        data_dir: Folder with ``adult.data`` and ``adult.test``; ``None`` uses the bundled copies.
        sensitive: Which sensitive attribute, see above.
        preset: ``"default"`` or ``"cerrato"``.
        weighted: Weight every row by ``fnlwgt`` (the census sampling weight).
        **kwargs: See :class:`~fairlit.data.tabular.TabularDataModule` (``batch_size``,
            ``seed``, ``val_fraction``, ``test_fraction``, ...).

    Raises:
        ValueError: if ``test_fraction`` is given (the official test file is the test split).

    Example:
        >>> dm = AdultDataModule()
        >>> dm.num_features, dm.num_groups, dm.group_names
        (102, 2, ('Female', 'Male'))
    """

    SENSITIVE_ATTRIBUTES: ClassVar[dict[str, SensitiveAttribute]] = {
        "sex": SensitiveAttribute(("sex",), ("Female", "Male"), _equals("sex", "Male")),
        "race": SensitiveAttribute(("race",), ("non-White", "White"), _equals("race", "White")),
        "race_white_black": SensitiveAttribute(
            ("race",),
            ("Black", "White"),
            _equals("race", "White"),
            _among("race", ("White", "Black")),
        ),
    }

    def __init__(
        self,
        data_dir: str | Path | None = None,
        sensitive: str | list[str] = "sex",
        preset: Literal["default", "cerrato"] = "default",
        weighted: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.use_sensitive(sensitive)
        self.preset = _choose("preset", preset, ("default", "cerrato"))
        self.weighted = bool(weighted)
        self.weighted_by = "fnlwgt" if self.weighted else None
        if preset == "default" and self.test_fraction is not None:
            raise ValueError(
                "AdultDataModule keeps the official adult.test file as its test split, so "
                "test_fraction must be None; use preset='cerrato' for a random test split"
            )
        self.default_test_fraction = 1 / 3
        self.schema = ADULT_SCHEMA

    def load_table(self) -> TabularTable:
        """Parse both Adult files and derive ``y`` and ``s``."""
        table, s = self.sensitive_index(load_adult(self.data_dir))
        test_mask = (table["split"] == "test").to_numpy() if self.preset == "default" else None
        w = table["fnlwgt"].to_numpy(np.float32) if self.weighted else None
        return TabularTable(table, table["income"].to_numpy(np.int64), s, test_mask, w)


class CompasDataModule(TabularDataModule):
    """ProPublica COMPAS: predict two-year recidivism (``two_year_recid`` = 1).

    Rows pass ProPublica's filter (6,172). Features never include the
    commercial tool's own scores (``decile_score``, ``score_text``, ``v_*``),
    identifiers, dates or free text: they are age, juvenile and prior counts,
    sex, age category, race and charge degree.

    Sensitive attribute:

    * ``"race"`` (default): African-American (0) vs. Caucasian (1), other
      races dropped (5,278 rows);
    * ``"race_caucasian"``: Caucasian (1) vs. every other race (0), 6,172 rows;
    * ``"sex"``: Female = 0, Male = 1, 6,172 rows;
    * a list, e.g. ``["race", "sex"]``: intersectional groups (``African-American|Female``,
      ...), every combination in product order.

    Presets: ``"default"`` as above (stratified test split, ``test_fraction``
    0.2 by default); ``"cerrato"`` reproduces the paper authors' choices: the
    raw file *without* ProPublica's filter, restricted to African-American and
    Caucasian defendants (6,150 rows), features ``sex``, ``age_cat``,
    ``c_charge_degree`` and ``priors_count``, random 2/3-1/3 split; it
    requires ``sensitive="race"``.

    Args:
        data_dir: Folder with ``compas-scores-two-years.csv``; ``None`` uses the bundled copy.
        sensitive: Which sensitive attribute, see above.
        preset: ``"default"`` or ``"cerrato"``.
        **kwargs: See :class:`~fairlit.data.tabular.TabularDataModule`.

    Raises:
        ValueError: if ``preset='cerrato'`` is combined with a sensitive column other than ``race``.

    Example:
        >>> dm = CompasDataModule()
        >>> dm.num_features, dm.group_names
        (13, ('African-American', 'Caucasian'))
    """

    SENSITIVE_ATTRIBUTES: ClassVar[dict[str, SensitiveAttribute]] = {
        "race": SensitiveAttribute(
            ("race",),
            ("African-American", "Caucasian"),
            _equals("race", "Caucasian"),
            _among("race", ("African-American", "Caucasian")),
        ),
        "race_caucasian": SensitiveAttribute(
            ("race",), ("non-Caucasian", "Caucasian"), _equals("race", "Caucasian")
        ),
        "sex": SensitiveAttribute(("sex",), ("Female", "Male"), _equals("sex", "Male")),
    }

    def __init__(
        self,
        data_dir: str | Path | None = None,
        sensitive: str | list[str] = "race",
        preset: Literal["default", "cerrato"] = "default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.use_sensitive(sensitive)
        self.preset = _choose("preset", preset, ("default", "cerrato"))
        self.schema = COMPAS_SCHEMA
        if preset == "cerrato":
            if sensitive != "race":
                raise ValueError(
                    "preset='cerrato' uses sensitive='race' (African-American vs. Caucasian)"
                )
            categorical = {
                c: COMPAS_SCHEMA.categorical[c]
                for c in ("sex", "age_cat", "c_charge_degree", "race")
            }
            self.schema = TabularSchema(("priors_count",), categorical)
            self.default_test_fraction = 1 / 3

    def load_table(self) -> TabularTable:
        """Parse the COMPAS file and derive ``y`` and ``s``."""
        table = load_compas(self.data_dir, propublica_filter=self.preset == "default")
        table, s = self.sensitive_index(table)
        return TabularTable(table, table["two_year_recid"].to_numpy(np.int64), s)


class GermanDataModule(TabularDataModule):
    """Statlog German credit: predict good credit (1) vs. bad (0); 1,000 rows.

    Sensitive attribute:

    * ``"age"`` (default): age > 25 (1) vs. age <= 25 (0), Kamiran & Calders;
      ``age`` leaves the features unless ``include_sensitive_in_features``;
    * ``"sex"``: male (1) vs. female (0), derived from ``personal_status_sex``,
      which then leaves the features: codes A91, A93 and A94 are men, A92 (and A95, which
      never occurs) women, as the Statlog documentation's code table reads. That table is
      disputed in public reports: A92 pools divorced, separated and married women, and A95
      (single women) never occurs in the file (A93 548, A92 310, A94 92, A91 50 rows), so
      "sex" may be mislabelled for some rows. Treat results on it with caution; ``"age"``
      is the attribute used in the fairness literature (Kamiran & Calders);
    * a list, ``["age", "sex"]``: intersectional groups (``age<=25|female``, ...).

    Args:
        data_dir: Folder with ``german.data``; ``None`` uses the bundled copy.
        sensitive: ``"age"`` or ``"sex"``.
        **kwargs: See :class:`~fairlit.data.tabular.TabularDataModule` (``test_fraction``
            defaults to 0.2).

    Example:
        >>> dm = GermanDataModule()
        >>> dm.num_features, dm.group_names
        (62, ('age<=25', 'age>25'))
    """

    SENSITIVE_ATTRIBUTES: ClassVar[dict[str, SensitiveAttribute]] = {
        "age": SensitiveAttribute(("age",), ("age<=25", "age>25"), _older_than_25),
        "sex": SensitiveAttribute(
            ("personal_status_sex",), ("female", "male"), _equals("sex", "male")
        ),
    }

    def __init__(
        self,
        data_dir: str | Path | None = None,
        sensitive: str | list[str] = "age",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.use_sensitive(sensitive)
        self.schema = GERMAN_SCHEMA

    def load_table(self) -> TabularTable:
        """Parse the German credit file and derive ``y`` and ``s``."""
        table, s = self.sensitive_index(load_german(self.data_dir))
        return TabularTable(table, table["credit"].to_numpy(np.int64), s)


class CSVDataModule(TabularDataModule):
    """Any CSV table with a binary target and a categorical sensitive column.

    ``predict`` scores **every row** of the file, in its order (``predict_rows = "all"``):
    ``fairlit predict --ckpt_path CK --data.init_args.path=new.csv`` scores a new file with the
    training data's preprocessing, restored from the checkpoint (``preprocessing_from``). Such
    a file may hold fewer categories or groups than the training file, and may lack the
    target and sensitive columns (``y`` and ``s`` are then -1 and left out of the
    predictions).

    The file is read and validated in ``__init__`` by
    :func:`fairlit.data.csv_table.read_csv_table` (so :attr:`num_features` is
    known before ``setup``): every named column must exist, the target must
    take exactly two values, the sensitive column at least two, numeric
    columns must be numbers without NaN or inf, and categorical columns
    without missing values. Category lists are those of the whole file,
    sorted, so every split has the same width.

    Args:
        path: The CSV file (header row required).
        target: Name of the target column.
        sensitive: Name of the sensitive column; its sorted distinct values
            become groups ``0 .. G-1`` (:attr:`group_names`). A list of columns gives
            intersectional groups: every observed combination, named ``"Female|Black"``,
            sorted by their values.
        categorical: Categorical feature columns; ``None`` takes every
            non-numeric column.
        numeric: Numeric feature columns; ``None`` takes every numeric column
            not listed as categorical.
        drop: Columns that are not features (identifiers, ...).
        positive_label: Target value meaning 1; ``None`` accepts a 0/1 or
            False/True target as it is.
        weight: A column of sample weights (not a feature): batches carry ``w``, and the
            loss, the MI and the metrics become weighted.
        **kwargs: See :class:`~fairlit.data.tabular.TabularDataModule`.
    """

    predict_rows = "all"

    def __init__(
        self,
        path: str | Path,
        target: str,
        sensitive: str | list[str],
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        drop: list[str] | None = None,
        positive_label: str | int | None = None,
        weight: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = Path(path)
        table = read_csv_table(
            self.path,
            target,
            sensitive,
            categorical=categorical,
            numeric=numeric,
            drop=drop,
            positive_label=positive_label,
            include_sensitive=self.include_sensitive_in_features,
            # Scored with a checkpoint's preprocessing: labels are optional.
            require_labels=self.preprocessing_from is None,
            weight=weight,
        )
        self.schema = table.schema
        self.sensitive_columns = (sensitive,) if isinstance(sensitive, str) else tuple(sensitive)
        self.group_names = table.group_names
        self.target, self.sensitive = target, sensitive
        self.y, self.s, self._frame, self._w = table.y, table.s, table.frame, table.w
        self.weight = self.weighted_by = weight

    def load_table(self) -> TabularTable:
        """Return the table read and validated in ``__init__``."""
        return TabularTable(self._frame, self.y, self.s, w=self._w)
