"""LightningDataModules for Adult, COMPAS, German credit and any CSV table.

Each one only says how to read its data and which sensitive attribute to
use; splitting, scaling and loading live in
:class:`~fairlit.data.tabular.TabularDataModule`.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fairlit.data.csv_table import read_csv_table
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


class AdultDataModule(TabularDataModule):
    """UCI Adult: predict income > 50K.

    45,222 rows after dropping rows with a missing value; the official split
    (30,162 train / 15,060 test) is kept and validation is carved from the
    training file. ``fnlwgt`` is not a feature.

    Sensitive attribute (``s``, group names in :attr:`group_names`):

    * ``"sex"`` (default): Female = 0, Male = 1;
    * ``"race"``: White = 1 vs. every other race = 0;
    * ``"race_white_black"``: only White and Black rows (Black = 0, White = 1).

    Presets: ``"default"`` as above; ``"cerrato"`` pools both files and draws
    a random stratified 2/3-1/3 train/test split (``test_fraction`` 1/3), as
    the paper authors' code splits its data.

    Args:
        data_dir: Folder with ``adult.data`` and ``adult.test``; ``None`` uses the bundled copies.
        sensitive: Which sensitive attribute, see above.
        preset: ``"default"`` or ``"cerrato"``.
        **kwargs: See :class:`~fairlit.data.tabular.TabularDataModule` (``batch_size``,
            ``seed``, ``val_fraction``, ``test_fraction``, ...).

    Raises:
        ValueError: if ``test_fraction`` is given (the official test file is the test split).

    Example:
        >>> dm = AdultDataModule()
        >>> dm.num_features, dm.num_groups, dm.group_names
        (102, 2, ('Female', 'Male'))
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        sensitive: Literal["sex", "race", "race_white_black"] = "sex",
        preset: Literal["default", "cerrato"] = "default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.sensitive = _choose("sensitive", sensitive, ("sex", "race", "race_white_black"))
        self.preset = _choose("preset", preset, ("default", "cerrato"))
        if preset == "default" and self.test_fraction is not None:
            raise ValueError(
                "AdultDataModule keeps the official adult.test file as its test split, so "
                "test_fraction must be None; use preset='cerrato' for a random test split"
            )
        self.default_test_fraction = 1 / 3
        self.schema = ADULT_SCHEMA
        self.sensitive_columns = ("sex",) if sensitive == "sex" else ("race",)
        self.group_names = {
            "sex": ("Female", "Male"),
            "race": ("non-White", "White"),
            "race_white_black": ("Black", "White"),
        }[sensitive]

    def load_table(self) -> TabularTable:
        """Parse both Adult files and derive ``y`` and ``s``."""
        table = load_adult(self.data_dir)
        if self.sensitive == "race_white_black":
            table = table[table["race"].isin(["White", "Black"])].reset_index(drop=True)
        s = (table["sex"] == "Male") if self.sensitive == "sex" else (table["race"] == "White")
        test_mask = (table["split"] == "test").to_numpy() if self.preset == "default" else None
        return TabularTable(
            table, table["income"].to_numpy(np.int64), s.to_numpy(np.int64), test_mask
        )


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
    * ``"sex"``: Female = 0, Male = 1, 6,172 rows.

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

    def __init__(
        self,
        data_dir: str | Path | None = None,
        sensitive: Literal["race", "race_caucasian", "sex"] = "race",
        preset: Literal["default", "cerrato"] = "default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.sensitive = _choose("sensitive", sensitive, ("race", "race_caucasian", "sex"))
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
        self.sensitive_columns = ("sex",) if sensitive == "sex" else ("race",)
        self.group_names = {
            "race": ("African-American", "Caucasian"),
            "race_caucasian": ("non-Caucasian", "Caucasian"),
            "sex": ("Female", "Male"),
        }[sensitive]

    def load_table(self) -> TabularTable:
        """Parse the COMPAS file and derive ``y`` and ``s``."""
        table = load_compas(self.data_dir, propublica_filter=self.preset == "default")
        if self.sensitive == "race":
            table = table[table["race"].isin(["African-American", "Caucasian"])].reset_index(
                drop=True
            )
        s = (table["sex"] == "Male") if self.sensitive == "sex" else (table["race"] == "Caucasian")
        return TabularTable(table, table["two_year_recid"].to_numpy(np.int64), s.to_numpy(np.int64))


class GermanDataModule(TabularDataModule):
    """Statlog German credit: predict good credit (1) vs. bad (0); 1,000 rows.

    Sensitive attribute:

    * ``"age"`` (default): age > 25 (1) vs. age <= 25 (0), Kamiran & Calders;
      ``age`` leaves the features unless ``include_sensitive_in_features``;
    * ``"sex"``: male (1) vs. female (0), derived from ``personal_status_sex``,
      which then leaves the features.

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

    def __init__(
        self,
        data_dir: str | Path | None = None,
        sensitive: Literal["age", "sex"] = "age",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.sensitive = _choose("sensitive", sensitive, ("age", "sex"))
        self.schema = GERMAN_SCHEMA
        self.sensitive_columns = ("age",) if sensitive == "age" else ("personal_status_sex",)
        self.group_names = ("age<=25", "age>25") if sensitive == "age" else ("female", "male")

    def load_table(self) -> TabularTable:
        """Parse the German credit file and derive ``y`` and ``s``."""
        table = load_german(self.data_dir)
        s = (table["age"] > 25) if self.sensitive == "age" else (table["sex"] == "male")
        return TabularTable(table, table["credit"].to_numpy(np.int64), s.to_numpy(np.int64))


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
            become groups ``0 .. G-1`` (:attr:`group_names`).
        categorical: Categorical feature columns; ``None`` takes every
            non-numeric column.
        numeric: Numeric feature columns; ``None`` takes every numeric column
            not listed as categorical.
        drop: Columns that are not features (identifiers, ...).
        positive_label: Target value meaning 1; ``None`` accepts a 0/1 or
            False/True target as it is.
        **kwargs: See :class:`~fairlit.data.tabular.TabularDataModule`.
    """

    predict_rows = "all"

    def __init__(
        self,
        path: str | Path,
        target: str,
        sensitive: str,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        drop: list[str] | None = None,
        positive_label: str | int | None = None,
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
        )
        self.schema = table.schema
        self.sensitive_columns = (sensitive,)
        self.group_names = table.group_names
        self.target, self.sensitive = target, sensitive
        self.y, self.s, self._frame = table.y, table.s, table.frame

    def load_table(self) -> TabularTable:
        """Return the table read and validated in ``__init__``."""
        return TabularTable(self._frame, self.y, self.s)
