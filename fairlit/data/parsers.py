"""Raw-file parsers: turn an original data file into a clean table.

This is the dataset level of ``fairlit.data``: no splitting, scaling or
loading happens here (that is the DataModules' job). Each parser reads the
raw file through :func:`~fairlit.data.resources.read_raw_bytes` (so the
checksum is always verified), applies the dataset's documented cleaning
conventions and checks every categorical value against the dataset's fixed
:class:`TabularSchema`, so a file with an unexpected value fails loudly
instead of silently changing the feature width.
"""

import io
from pathlib import Path

import numpy as np
import pandas as pd

from fairlit.data.resources import DataFileError, read_raw_bytes
from fairlit.data.schema import TabularSchema

__all__ = [
    "ADULT_SCHEMA",
    "COMPAS_SCHEMA",
    "GERMAN_SCHEMA",
    "TabularSchema",
    "load_adult",
    "load_compas",
    "load_german",
    "parse_adult",
    "parse_compas",
    "parse_german",
]


# ---------------------------------------------------------------------------
# Adult

ADULT_COLUMNS = (
    "age workclass fnlwgt education education-num marital-status occupation relationship "
    "race sex capital-gain capital-loss hours-per-week native-country income"
).split()

#: Category lists as documented in ``adult.names``.
ADULT_SCHEMA = TabularSchema(
    numeric=("age", "education-num", "capital-gain", "capital-loss", "hours-per-week"),
    categorical={
        "workclass": tuple(
            "Private Self-emp-not-inc Self-emp-inc Federal-gov Local-gov State-gov "
            "Without-pay Never-worked".split()
        ),
        "education": tuple(
            "Bachelors Some-college 11th HS-grad Prof-school Assoc-acdm Assoc-voc 9th "
            "7th-8th 12th Masters 1st-4th 10th Doctorate 5th-6th Preschool".split()
        ),
        "marital-status": tuple(
            "Married-civ-spouse Divorced Never-married Separated Widowed "
            "Married-spouse-absent Married-AF-spouse".split()
        ),
        "occupation": tuple(
            "Tech-support Craft-repair Other-service Sales Exec-managerial Prof-specialty "
            "Handlers-cleaners Machine-op-inspct Adm-clerical Farming-fishing Transport-moving "
            "Priv-house-serv Protective-serv Armed-Forces".split()
        ),
        "relationship": tuple(
            "Wife Own-child Husband Not-in-family Other-relative Unmarried".split()
        ),
        "race": tuple("White Asian-Pac-Islander Amer-Indian-Eskimo Other Black".split()),
        "sex": ("Female", "Male"),
        "native-country": tuple(
            "United-States Cambodia England Puerto-Rico Canada Germany "
            "Outlying-US(Guam-USVI-etc) India Japan Greece South China Cuba Iran Honduras "
            "Philippines Italy Poland Jamaica Vietnam Mexico Portugal Ireland France "
            "Dominican-Republic Laos Ecuador Taiwan Haiti Columbia Hungary Guatemala Nicaragua "
            "Scotland Thailand Yugoslavia El-Salvador Trinadad&Tobago Peru Hong "
            "Holand-Netherlands".split()
        ),
    },
)


def _parse_adult_part(raw: bytes, name: str) -> pd.DataFrame:
    frame = pd.read_csv(
        io.BytesIO(raw),
        header=None,
        names=ADULT_COLUMNS,
        sep=",",
        skipinitialspace=True,
        comment="|",  # adult.test opens with the line "|1x3 Cross validator"
        na_values="?",
        keep_default_na=False,
        skip_blank_lines=True,
    )
    if frame.shape[1] != len(ADULT_COLUMNS) or frame["income"].isna().all():
        raise DataFileError(f"{name}: expected {len(ADULT_COLUMNS)} comma-separated columns")
    # Test labels end in a period ("<=50K."); training labels do not.
    label = frame["income"].astype(str).str.strip().str.rstrip(".")
    unknown = set(label.unique()) - {"<=50K", ">50K"}
    if unknown:
        raise DataFileError(f"{name}: column 'income' has unexpected value(s) {sorted(unknown)}")
    frame["income"] = (label == ">50K").astype(np.int64)
    return frame


def load_adult(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read and parse Adult (both official files) into one clean table.

    Skips the test file's comment line, strips the trailing ``.`` of its
    labels, treats ``?`` as missing and drops every row with a missing value
    (30,162 training + 15,060 test = 45,222 rows). ``fnlwgt`` (the census sampling weight)
    is kept, but it is not in the schema, so it is never a feature.

    Args:
        data_dir: Folder holding ``adult.data`` and ``adult.test`` (or their
            ``.gz``); ``None`` uses the bundled copies.

    Returns:
        Columns of :data:`ADULT_SCHEMA`, ``income`` (int64, 1 = >50K) and
        ``split`` (``"train"`` or ``"test"``, the official split).

    Example:
        >>> table = load_adult()
        >>> len(table), int((table["split"] == "test").sum())
        (45222, 15060)
    """
    return parse_adult(
        read_raw_bytes("adult.data", data_dir), read_raw_bytes("adult.test", data_dir)
    )


def parse_adult(train: bytes, test: bytes) -> pd.DataFrame:
    """Parse the bytes of ``adult.data`` and ``adult.test`` (see :func:`load_adult`)."""
    parts = []
    for raw, name, split in ((train, "adult.data", "train"), (test, "adult.test", "test")):
        part = _parse_adult_part(raw, name).dropna()
        part["split"] = split
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    ADULT_SCHEMA.check(table, "adult")
    return table


# ---------------------------------------------------------------------------
# COMPAS

#: Features allowed for COMPAS: never the tool's own scores (``decile_score``,
#: ``score_text``, ``v_*``), identifiers, dates or free text.
COMPAS_SCHEMA = TabularSchema(
    numeric=("age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count"),
    categorical={
        "sex": ("Female", "Male"),
        "age_cat": ("Less than 25", "25 - 45", "Greater than 45"),
        "race": (
            "African-American",
            "Asian",
            "Caucasian",
            "Hispanic",
            "Native American",
            "Other",
        ),
        "c_charge_degree": ("F", "M", "O"),  # "O" rows are removed by ProPublica's filter
    },
)


def load_compas(data_dir: str | Path | None = None, propublica_filter: bool = True) -> pd.DataFrame:
    """Parse ProPublica's ``compas-scores-two-years.csv``.

    Args:
        data_dir: Folder holding the CSV (or ``.gz``); ``None`` uses the bundled copy.
        propublica_filter: Apply ProPublica's own filter (6,172 rows):
            ``days_b_screening_arrest`` in [-30, 30], ``is_recid != -1``,
            ``c_charge_degree != "O"``, ``score_text != "N/A"``. ``False``
            keeps all 7,214 rows (the paper authors' choice).

    Returns:
        The columns of :data:`COMPAS_SCHEMA` plus ``two_year_recid`` (int64).

    Example:
        >>> table = load_compas()
        >>> len(table), round(float(table["two_year_recid"].mean()), 4)
        (6172, 0.4551)
    """
    name = "compas-scores-two-years.csv"
    return parse_compas(read_raw_bytes(name, data_dir), propublica_filter)


def parse_compas(raw: bytes, propublica_filter: bool = True) -> pd.DataFrame:
    """Parse the bytes of ``compas-scores-two-years.csv`` (see :func:`load_compas`).

    Raises:
        DataFileError: if a needed column is missing or a value is outside the schema.
    """
    name = "compas-scores-two-years.csv"
    frame = pd.read_csv(io.BytesIO(raw), keep_default_na=False, na_values=[""], low_memory=False)
    needed = [*COMPAS_SCHEMA.columns, "two_year_recid"]
    filter_columns = ["days_b_screening_arrest", "is_recid", "score_text"]
    missing = [c for c in needed + filter_columns if c not in frame.columns]
    if missing:
        raise DataFileError(f"{name}: missing column(s) {missing}")
    if propublica_filter:
        days = pd.to_numeric(frame["days_b_screening_arrest"], errors="coerce")
        keep = (
            days.between(-30, 30)
            & (frame["is_recid"] != -1)
            & (frame["c_charge_degree"] != "O")
            & (frame["score_text"] != "N/A")
        )
        frame = frame[keep]
    table = frame[needed].reset_index(drop=True).copy()
    table["two_year_recid"] = table["two_year_recid"].astype(np.int64)
    COMPAS_SCHEMA.check(table, name)
    return table


# ---------------------------------------------------------------------------
# German credit

GERMAN_COLUMNS = (
    "status duration credit_history purpose credit_amount savings present_employment "
    "installment_rate personal_status_sex other_debtors present_residence_since property age "
    "installment_plans housing number_of_existing_credits job people_liable telephone "
    "foreign_worker credit"
).split()


def _codes(prefix: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(first, last + 1))


#: Attribute codes as documented for the symbolic Statlog file.
GERMAN_SCHEMA = TabularSchema(
    numeric=(
        "duration",
        "credit_amount",
        "installment_rate",
        "present_residence_since",
        "age",
        "number_of_existing_credits",
        "people_liable",
    ),
    categorical={
        "status": _codes("A1", 1, 4),
        "credit_history": _codes("A3", 0, 4),
        "purpose": (*_codes("A4", 0, 9), "A410"),
        "savings": _codes("A6", 1, 5),
        "present_employment": _codes("A7", 1, 5),
        "personal_status_sex": _codes("A9", 1, 5),
        "other_debtors": _codes("A10", 1, 3),
        "property": _codes("A12", 1, 4),
        "installment_plans": _codes("A14", 1, 3),
        "housing": _codes("A15", 1, 3),
        "job": _codes("A17", 1, 4),
        "telephone": _codes("A19", 1, 2),
        "foreign_worker": _codes("A20", 1, 2),
    },
)

#: ``personal_status_sex`` codes of men (A91 divorced/separated, A93 single,
#: A94 married/widowed); A92 and A95 are women.
GERMAN_MALE_CODES = ("A91", "A93", "A94")


def load_german(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Parse the symbolic German credit file (1,000 rows).

    Args:
        data_dir: Folder holding ``german.data`` (or ``.gz``); ``None`` uses the bundled copy.

    Returns:
        The 20 attributes (categoricals as codes ``A11`` ..., ``age`` numeric),
        ``sex`` (``"female"``/``"male"``, from ``personal_status_sex``) and
        ``credit`` (int64, 1 = good credit, 0 = bad).

    Example:
        >>> table = load_german()
        >>> len(table), float(table["credit"].mean())
        (1000, 0.7)
    """
    return parse_german(read_raw_bytes("german.data", data_dir))


def parse_german(raw: bytes) -> pd.DataFrame:
    """Parse the bytes of ``german.data`` (see :func:`load_german`).

    Raises:
        DataFileError: if the file does not have the 21 columns, ``credit`` is not 1 or 2, or a
            value is outside the schema.
    """
    name = "german.data"
    frame = pd.read_csv(io.BytesIO(raw), sep=r"\s+", header=None, keep_default_na=False)
    if frame.shape[1] != len(GERMAN_COLUMNS):
        raise DataFileError(
            f"{name}: expected {len(GERMAN_COLUMNS)} space-separated columns, found {frame.shape[1]}"
        )
    frame.columns = GERMAN_COLUMNS
    unknown = set(frame["credit"].unique()) - {1, 2}
    if unknown:
        raise DataFileError(f"{name}: column 'credit' must be 1 (good) or 2 (bad), got {unknown}")
    frame["credit"] = (frame["credit"] == 1).astype(np.int64)
    GERMAN_SCHEMA.check(frame, name)
    frame["sex"] = np.where(frame["personal_status_sex"].isin(GERMAN_MALE_CODES), "male", "female")
    return frame
