"""Tabular DataModules: :class:`TabularDataModule`, the base of Adult, COMPAS, German and CSV.

Subclasses only describe their data (a :class:`TabularTable` and its schema); this base
does the rest identically for every dataset:

* seeded splits stratified by (y, s), or a dataset's official test split;
* standardization of numeric columns with training-split statistics only;
* one-hot encoding against the schema's full category lists, so the feature width
  (:attr:`~TabularDataModule.num_features`) is known right after ``__init__`` and is the
  same for every split and every process;
* the fitted preprocessing saved in checkpoints and restored to score new data
  (``preprocessing_from``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import torch

from fairlit.data.base import FairDataModule
from fairlit.data.groups import (
    SensitiveAttribute,
    combine_attributes,
    group_index,
    warn_about_groups,
)
from fairlit.data.loading import TensorSplit, stratified_split
from fairlit.data.resources import DataFileError
from fairlit.data.schema import TabularSchema

__all__ = [
    "SensitiveAttribute",  # re-exported from fairlit.data.groups
    "TabularDataModule",
    "TabularTable",
    "encode_features",
    "read_fitted_preprocessing",
]


@dataclass
class TabularTable:
    """A clean table ready for splitting.

    Attributes:
        features: One row per example, holding at least the schema's columns.
        y: int64 target ``[N]`` (1 = the positive outcome).
        s: int64 group index ``[N]``.
        test_mask: bool ``[N]`` marking an official test split, or None.
        w: float ``[N]`` sample weights (batches then carry ``w``), or None.
    """

    features: pd.DataFrame
    y: np.ndarray
    s: np.ndarray
    test_mask: np.ndarray | None = None
    w: np.ndarray | None = None


def read_fitted_preprocessing(path: str | Path, owner: str) -> dict:
    """The fitted preprocessing a :class:`TabularDataModule` saved in checkpoint ``path``.

    Args:
        path: A Lightning checkpoint written while training with a tabular DataModule.
        owner: The DataModule's class name (Lightning keys its state by it); another tabular
            DataModule's state is taken when there is exactly one.

    Returns:
        The ``preprocessing`` mapping of :meth:`TabularDataModule.state_dict`.

    Raises:
        DataFileError: if the file does not exist or holds no fitted preprocessing.
    """
    if not Path(path).is_file():
        raise DataFileError(f"preprocessing_from: checkpoint {str(path)!r} does not exist")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    states = {
        key: value["preprocessing"]
        for key, value in checkpoint.items()
        if isinstance(value, dict) and isinstance(value.get("preprocessing"), dict)
    }
    if owner in states:
        return states[owner]
    if len(states) == 1:
        return next(iter(states.values()))
    raise DataFileError(
        f"preprocessing_from: checkpoint {str(path)!r} holds no fitted preprocessing of a "
        f"tabular DataModule (found {sorted(states) or 'none'})"
    )


def encode_features(
    frame: pd.DataFrame, schema: TabularSchema, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """Standardize numeric columns and one-hot encode categorical ones.

    Args:
        frame: Rows to encode, holding the schema's columns.
        schema: Which columns are numeric and the full category list of each categorical one.
        mean: Per numeric column mean (training split).
        std: Per numeric column standard deviation (training split, zeros replaced by 1).

    Returns:
        float32 array ``[N, schema.width()]``: numeric columns first, then the
        one-hot blocks in schema order. A category outside the schema (let through with
        ``unknown_category="ignore"``) gets an all-zero block.

    Example:
        >>> schema = TabularSchema(("a",), {"c": ("u", "v")})
        >>> frame = pd.DataFrame({"a": [1.0, 3.0], "c": ["v", "u"]})
        >>> encode_features(frame, schema, np.array([2.0]), np.array([1.0])).tolist()
        [[-1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    blocks = []
    if schema.numeric:
        numeric = frame[list(schema.numeric)].to_numpy(dtype=np.float64)
        blocks.append((numeric - mean) / std)
    for column, categories in schema.categorical.items():
        values = frame[column].astype(str)
        values = values.where(values.isin(categories))  # outside the schema: missing, code -1
        codes = pd.Categorical(values, categories=list(categories)).codes
        one_hot = np.zeros((len(frame), len(categories)))
        known = codes >= 0  # -1: a category outside the schema, encoded as all zeros
        one_hot[np.flatnonzero(known), codes[known]] = 1.0
        blocks.append(one_hot)
    if not blocks:
        return np.zeros((len(frame), 0), dtype=np.float32)
    return np.concatenate(blocks, axis=1).astype(np.float32)


class TabularDataModule(FairDataModule):
    """Base of every tabular DataModule in fairlit.

    A subclass sets :attr:`schema` (all candidate feature columns),
    :attr:`sensitive_columns` (columns the group index is derived from, left
    out of the features unless ``include_sensitive_in_features``) and
    :attr:`group_names` in its ``__init__``, and implements :meth:`load_table`.

    Batches are dicts: ``x`` float32 ``[B, F]``, ``y`` int64 ``[B]``, ``s``
    int64 ``[B]``.

    Args:
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation, test and predict
            (defaults to ``batch_size``; larger is faster and does not change results).
        seed: Seed of the split and of the per-epoch shuffle.
        val_fraction: Fraction of the data (of the training file, for a dataset
            with an official test split) held out for validation, stratified by (y, s).
        test_fraction: Fraction held out for testing when the dataset has no official
            test split; ``None`` takes the dataset's default.
        include_sensitive_in_features: Keep the sensitive column(s) among the features.
        unknown_category: What a category outside the (training) categories does:
            ``"error"`` (a :class:`~fairlit.data.resources.DataFileError` naming the column,
            the value and the known values) or ``"ignore"`` (the row's one-hot block for that
            column is all zeros, as if no category were set).
        preprocessing_from: A checkpoint whose fitted preprocessing (feature columns, every
            category, the training scaler, the group names) this DataModule uses instead of
            fitting its own, so new data is scored exactly as the training data was.
            ``fairlit test``, ``validate`` and ``predict`` set it to ``--ckpt_path``. Load only
            checkpoints you trust (they are pickles).
        min_group_rows: A group with fewer training rows than this gets a warning naming it
            (as does a group that a split leaves out).

    Raises:
        ValueError: if a fraction is outside ``[0, 1)`` or an argument fails its check.
        DataFileError: if ``preprocessing_from`` does not exist or holds no fitted
            preprocessing.
    """

    schema: TabularSchema
    sensitive_columns: tuple[str, ...] = ()
    #: The sensitive attributes a bundled dataset offers (see :meth:`use_sensitive`).
    SENSITIVE_ATTRIBUTES: ClassVar[dict[str, SensitiveAttribute]] = {}
    default_test_fraction: float = 0.2
    #: What ``predict`` scores: ``"test"`` (the test split) or ``"all"`` (every row, in order).
    predict_rows: str = "test"

    def __init__(
        self,
        batch_size: int = 200,
        eval_batch_size: int | None = None,
        seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float | None = None,
        include_sensitive_in_features: bool = False,
        unknown_category: Literal["error", "ignore"] = "error",
        preprocessing_from: str | Path | None = None,
        min_group_rows: int = 10,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, val_fraction)
        if test_fraction is not None and not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
        if unknown_category not in ("error", "ignore"):
            raise ValueError(
                f"unknown_category must be 'error' or 'ignore', got {unknown_category!r}"
            )
        self.test_fraction = test_fraction
        self.include_sensitive_in_features = include_sensitive_in_features
        if isinstance(min_group_rows, bool) or not isinstance(min_group_rows, int):
            raise ValueError(f"min_group_rows must be an int, got {min_group_rows!r}")
        self.unknown_category = unknown_category
        self.preprocessing_from = preprocessing_from
        self.min_group_rows = min_group_rows
        self._attribute_names: tuple[str, ...] = ()
        self._group_names: tuple[str, ...] = ()  # the data's own, set by the subclass
        # The preprocessing restored from a checkpoint (its columns, categories, scaler, groups).
        self._fitted: dict | None = (
            read_fitted_preprocessing(preprocessing_from, type(self).__qualname__)
            if preprocessing_from is not None
            else None
        )
        self._table: TabularTable | None = None  # the table setup() read
        # Called here, Lightning collects the arguments of every __init__ up the subclass chain
        # (the subclass's own and the ones it forwards as **kwargs), defaults included.
        self.save_hyperparameters()

    # -- description, known right after __init__ --------------------------------------------

    @property
    def feature_schema(self) -> TabularSchema:
        """The schema of the encoded features (sensitive columns removed unless kept).

        After :meth:`load_state_dict`, the checkpoint's: its columns and categories.
        """
        fitted = getattr(self, "_fitted", None)
        if fitted is not None:
            return TabularSchema(
                tuple(fitted["numeric"]),
                {c: tuple(v) for c, v in fitted["categorical"].items()},
            )
        if self.include_sensitive_in_features:
            return self.schema
        return self.schema.without(self.sensitive_columns)

    @property
    def num_features(self) -> int:
        """Width of ``x``, fixed by the schema (known before :meth:`setup`)."""
        return self.feature_schema.width()

    @property
    def group_names(self) -> tuple[str, ...]:
        """Name of each sensitive group, by index of ``s``; a checkpoint's once restored."""
        fitted = getattr(self, "_fitted", None)
        if fitted is not None and fitted.get("group_names"):
            return tuple(fitted["group_names"])
        return getattr(self, "_group_names", ())

    @group_names.setter
    def group_names(self, names: tuple[str, ...]) -> None:
        self._group_names = tuple(names)

    @property
    def num_groups(self) -> int:
        """Number of sensitive groups (values of ``s``)."""
        return len(self.group_names)

    @property
    def num_classes(self) -> int:
        """Number of target classes (2 for every tabular dataset)."""
        return 2

    @property
    def feature_names(self) -> list[str]:
        """Name of each column of ``x`` (``column=category`` for one-hot columns)."""
        schema = self.feature_schema
        return list(schema.numeric) + [
            f"{column}={category}"
            for column, categories in schema.categorical.items()
            for category in categories
        ]

    def use_sensitive(self, sensitive: str | Sequence[str]) -> None:
        """Choose the sensitive attribute(s) among :attr:`SENSITIVE_ATTRIBUTES`.

        Several attributes give intersectional groups (see
        :func:`~fairlit.data.groups.combine_attributes`). Sets :attr:`sensitive`,
        :attr:`sensitive_columns` and :attr:`group_names`; :meth:`sensitive_index` then gives
        each row its group.

        Raises:
            ValueError: for an unknown or repeated attribute, an empty list, or two attributes
                derived from the same column.
        """
        names, columns, groups = combine_attributes(sensitive, type(self).SENSITIVE_ATTRIBUTES)
        self.sensitive = sensitive if isinstance(sensitive, str) else list(names)
        self._attribute_names = names
        self.sensitive_columns = columns
        self.group_names = groups

    def sensitive_index(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows the chosen attributes are defined for, and each row's group index ``s``.

        Returns:
            ``(frame, s)``: the kept rows (index reset) and int64 ``[N]`` indices into
            :attr:`group_names`.
        """
        available = type(self).SENSITIVE_ATTRIBUTES
        return group_index(frame, [available[name] for name in self._attribute_names])

    def load_table(self) -> TabularTable:
        """Read and clean the data (dataset specific)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement load_table() (abstract method)"
        )

    # -- Lightning hooks -------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        """Split, scale and encode (once; every stage and rank gets the same splits).

        Raises:
            DataFileError: for data without a target at ``fit``, ``validate`` or ``test``, or
                (with a restored preprocessing) a column, category or group the checkpoint lacks.
        """
        if self.train_dataset is not None:
            return
        # Kept: restoring a checkpoint's preprocessing re-encodes it without reading it again.
        table = self._table = self._table if self._table is not None else self.load_table()
        table = self._in_fitted_groups(table)
        if stage in ("fit", "validate", "test") and (table.y < 0).any():
            raise DataFileError(
                f"{type(self).__name__}: the data has no target column, so it can only be "
                f"scored (fairlit predict), not used to {stage}"
            )
        strata = table.y * max(self.num_groups, 1) + table.s
        if table.test_mask is not None:
            pool = np.flatnonzero(~table.test_mask)
            train, val = (
                pool[i] for i in stratified_split(strata[pool], (self.val_fraction,), self.seed)
            )
            test = np.flatnonzero(table.test_mask)
        else:
            test_fraction = (
                self.default_test_fraction if self.test_fraction is None else self.test_fraction
            )
            train, val, test = stratified_split(
                strata, (self.val_fraction, test_fraction), self.seed
            )
        if self._fitted is not None:
            schema, mean, std = self._restored_preprocessing(table)
        else:
            schema = self.feature_schema
            train_numeric = table.features.iloc[train][list(schema.numeric)].to_numpy(np.float64)
            mean = train_numeric.mean(axis=0) if len(train) else np.zeros(len(schema.numeric))
            std = train_numeric.std(axis=0) if len(train) else np.ones(len(schema.numeric))
            std = np.where(std > 0, std, 1.0)
        self.fitted_schema = schema
        self.feature_mean, self.feature_std = mean, std

        def make(rows: np.ndarray) -> TensorSplit:
            x = encode_features(table.features.iloc[rows], schema, mean, std)
            weights = None if table.w is None else torch.from_numpy(table.w[rows])
            return TensorSplit(
                torch.from_numpy(x),
                torch.from_numpy(table.y[rows]),
                torch.from_numpy(table.s[rows]),
                weights,
            )

        warn_about_groups(
            type(self).__name__,
            self.group_names,
            table.s,
            {"train": train, "validation": val, "test": test},
            self.min_group_rows,
            report_absent=self._fitted is None,
        )
        self.train_dataset, self.val_dataset, self.test_dataset = make(train), make(val), make(test)
        # What predict scores: every row of the table, in its order, or the test split.
        self.predict_dataset = (
            make(np.arange(len(table.y))) if self.predict_rows == "all" else self.test_dataset
        )

    # -- the fitted preprocessing travels with the checkpoint ----------------------------------

    def state_dict(self) -> dict:
        """The preprocessing fitted on the training split; Lightning saves it in checkpoints.

        Returns:
            ``{"preprocessing": {"numeric", "categorical", "mean", "std"}}`` (empty before
            :meth:`setup`): the feature columns, every category of each categorical column,
            and the training split's per-column mean and standard deviation.
        """
        if getattr(self, "feature_mean", None) is None:
            return {}
        schema = self.fitted_schema
        return {
            "preprocessing": {
                "numeric": list(schema.numeric),
                "categorical": {c: list(v) for c, v in schema.categorical.items()},
                "mean": [float(v) for v in self.feature_mean],
                "std": [float(v) for v in self.feature_std],
                "group_names": list(self.group_names),
            }
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Encode with a checkpoint's preprocessing (re-encoding splits already built).

        Scoring data then gets the training data's scaling and one-hot columns, never its own;
        a category the training data did not have is an error naming the column.

        Raises:
            DataFileError: for a column or category the checkpoint's preprocessing lacks.
        """
        fitted = state_dict.get("preprocessing")
        if not fitted:
            return
        self._fitted = fitted
        if self.train_dataset is not None:
            self.train_dataset = self.val_dataset = self.test_dataset = None
            self.predict_dataset = None
            self.setup()

    def _restored_preprocessing(
        self, table: TabularTable
    ) -> tuple[TabularSchema, np.ndarray, np.ndarray]:
        fitted = self._fitted or {}
        schema = self.feature_schema
        path = getattr(self, "path", None)  # a file-backed DataModule (CSV) names its file
        source = f"{path or type(self).__name__} (preprocessing from the checkpoint)"
        schema.check(table.features, source, self.unknown_category)
        return schema, np.asarray(fitted["mean"]), np.asarray(fitted["std"])

    def _in_fitted_groups(self, table: TabularTable) -> TabularTable:
        """Re-index ``s`` by the checkpoint's group names when the data names them otherwise.

        A file to be scored may hold fewer groups than the training file (or order them
        otherwise); ``s`` must mean the group it meant in training. ``-1`` (no sensitive
        column) stays ``-1``.
        """
        fitted = (self._fitted or {}).get("group_names")
        own = self._group_names
        if not fitted or not own or tuple(fitted) == tuple(own):
            return table
        unknown = sorted(set(own) - set(fitted))
        used = set(np.unique(table.s[table.s >= 0]).tolist())
        unknown = [name for i, name in enumerate(own) if name in unknown and i in used]
        if unknown:
            raise DataFileError(
                f"{type(self).__name__}: sensitive group(s) {unknown} were not in the training "
                f"data; the checkpoint's groups are {list(fitted)}"
            )
        index = {name: i for i, name in enumerate(fitted)}
        mapping = np.array([index.get(name, -1) for name in own], dtype=np.int64)
        s = np.where(table.s >= 0, mapping[np.clip(table.s, 0, None)], -1)
        return TabularTable(table.features, table.y, s, table.test_mask, table.w)
