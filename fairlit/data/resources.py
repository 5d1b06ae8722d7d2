"""Bundled raw data files, verified by SHA-256 on every read.

The raw Adult, COMPAS and German credit files ship gzip-compressed inside the
package (``fairlit/data/resources``), so fairlit works offline. Checksums are
taken over the *uncompressed* bytes and are the ones published with the
original files (see ``PROVENANCE.md`` next to the data), so a user-supplied
copy of the raw file is validated the same way as the bundled one.
"""

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RAW_FILES", "DataFileError", "RawFile", "read_raw_bytes", "resource_path"]

_RESOURCE_DIR = Path(__file__).parent / "resources"


class DataFileError(ValueError):
    """A raw data file is missing, unreadable, corrupted or malformed."""


@dataclass(frozen=True)
class RawFile:
    """One original data file.

    Attributes:
        name: File name as published (``adult.data``).
        sha256: Hex SHA-256 of the uncompressed bytes.
        source: Where the file comes from.
    """

    name: str
    sha256: str
    source: str


RAW_FILES: dict[str, RawFile] = {
    f.name: f
    for f in (
        RawFile(
            "adult.data",
            "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
            "UCI Machine Learning Repository, Adult (Becker & Kohavi, 1996), training part",
        ),
        RawFile(
            "adult.test",
            "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
            "UCI Machine Learning Repository, Adult (Becker & Kohavi, 1996), test part",
        ),
        RawFile(
            "compas-scores-two-years.csv",
            "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d",
            "ProPublica compas-analysis repository (Angwin et al., Machine Bias, 2016)",
        ),
        RawFile(
            "german.data",
            "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
            "UCI Machine Learning Repository, Statlog (German Credit Data) (Hofmann, 1994)",
        ),
    )
}


def resource_path(name: str) -> Path:
    """Path of the bundled, gzip-compressed copy of raw file ``name``.

    Raises:
        KeyError: if ``name`` is not a bundled raw file (the message lists them).
    """
    if name not in RAW_FILES:
        raise KeyError(f"unknown raw file {name!r}; bundled files: {sorted(RAW_FILES)}")
    return _RESOURCE_DIR / f"{name}.gz"


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise DataFileError(
            f"data file {str(path)!r} does not exist. Pass the path of the original file, or "
            "reinstall fairlit (`pip install --force-reinstall fairlit`) to restore the bundled copy."
        )
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(
            f"data file {str(path)!r} cannot be read ({err}); it is truncated or corrupted. "
            "Restore it from the original source or reinstall fairlit."
        ) from err


def read_raw_bytes(name: str, path: str | Path | None = None) -> bytes:
    """Read raw file ``name`` and verify its SHA-256.

    Args:
        name: One of :data:`RAW_FILES` (``"adult.data"``, ``"adult.test"``,
            ``"compas-scores-two-years.csv"``, ``"german.data"``).
        path: A user-supplied copy: the file itself, its gzip-compressed
            version (``.gz``), or a directory holding either. ``None`` reads
            the copy bundled with the package.

    Returns:
        The uncompressed bytes.

    Raises:
        DataFileError: The file is missing or unreadable, or its checksum
            differs from the published one (both digests are in the message).

    Example:
        >>> len(read_raw_bytes("german.data").splitlines())
        1000
    """
    file = resource_path(name)  # also validates ``name``
    spec = RAW_FILES[name]
    if path is not None:
        file = Path(path).expanduser()
        if file.is_dir():
            candidates = [file / name, file / f"{name}.gz"]
            found = [c for c in candidates if c.is_file()]
            if not found:
                raise DataFileError(
                    f"directory {str(file)!r} holds neither {name!r} nor {name + '.gz'!r}; "
                    "point `data_dir` at the folder with the original files."
                )
            file = found[0]
    data = _read(file)
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise DataFileError(
            f"checksum mismatch for {str(file)!r} ({name}): expected SHA-256 {spec.sha256}, "
            f"got {digest}. The file is corrupted or is not the original {spec.source}. "
            "Replace it with the original file (or reinstall fairlit for the bundled copy)."
        )
    return data
