"""The MNIST IDX file format: reading the four standard files (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from fairlit.data.resources import DataFileError

__all__ = ["MNIST_FILES", "find_mnist_files", "load_mnist", "read_idx"]

#: The four MNIST files (each may also be gzip-compressed, with a ``.gz`` suffix), by split.
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), plain or gzip-compressed (``.gz``).

    The header is a magic number ``0x0000TTDD`` (``TT`` the element type, ``DD`` the number of
    dimensions), then ``DD`` big-endian uint32 sizes, then the data in row-major order.

    Args:
        path: The file.

    Returns:
        The array, with the file's shape and element type (native byte order).

    Raises:
        DataFileError: the file is missing or unreadable, has a bad magic number, or its size
            does not match its header (the message names the file).

    Example:
        >>> import tempfile
        >>> header = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big")
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "labels-idx1-ubyte"
        ...     _ = path.write_bytes(header + bytes([7, 2, 1]))
        ...     read_idx(path).tolist()
        [7, 2, 1]
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(f"IDX file {str(path)!r} cannot be read ({err})") from err
    if len(data) < 4:
        raise DataFileError(
            f"IDX file {str(path)!r} is not an IDX file: {len(data)} bytes, shorter than the "
            "4-byte magic number"
        )
    zero, type_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or type_code not in _IDX_DTYPES or ndim < 1:
        raise DataFileError(
            f"IDX file {str(path)!r} has a bad magic number 0x{data[:4].hex()} (expected "
            "0x0000TTDD with TT an IDX type code, 0x08 for unsigned bytes, and DD >= 1 "
            "dimensions; MNIST images are 0x00000803, labels 0x00000801)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(
            f"IDX file {str(path)!r} is truncated: {len(data)} bytes, shorter than its "
            f"{header}-byte header"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(data) != expected:
        raise DataFileError(
            f"IDX file {str(path)!r} has the wrong size: its header announces shape {shape} "
            f"({expected} bytes in all) but the file holds {len(data)} bytes; it is truncated "
            "or corrupted"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def find_mnist_files(root: str | Path) -> dict[str, Path]:
    """Locate the four MNIST files in ``root`` (or torchvision's ``root/MNIST/raw``).

    Each file may be plain or gzip-compressed (``name.gz``); the plain one wins when both exist.

    Args:
        root: The folder holding the files, or the ``root`` given to torchvision's ``MNIST``.

    Returns:
        File name (without ``.gz``) -> path, for the four names of :data:`MNIST_FILES`.

    Raises:
        DataFileError: some file is missing; the message names all four files and the folder.

    Example:
        >>> find_mnist_files("/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fairlit.data.resources.DataFileError: MNIST files not found in '/nonexistent'...
    """
    root = Path(root).expanduser()
    names = [name for pair in MNIST_FILES.values() for name in pair]
    for folder in (root, root / "MNIST" / "raw"):
        found = {}
        for name in names:
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
        if len(found) == len(names):
            return found
    missing = [
        name
        for name in names
        if not (root / name).is_file() and not (root / f"{name}.gz").is_file()
    ]
    raise DataFileError(
        f"MNIST files not found in {str(root)!r} (nor in its MNIST/raw subfolder, where "
        f"torchvision puts them): expected the four IDX files {', '.join(names)} (each may be "
        f"gzip-compressed, ending in .gz); missing from {str(root)!r}: {', '.join(missing)}. "
        "Point `root` to the folder that holds them (e.g. torchvision's MNIST download)."
    )


def load_mnist(root: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one MNIST split from its IDX files and check that images and labels agree.

    Args:
        root: Folder of the files (see :func:`find_mnist_files`).
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(images, labels)``: uint8 ``[N, H, W]`` (0 = background, 255 = stroke) and int64
        ``[N]`` digits in ``[0, 10)``.

    Raises:
        DataFileError: missing or malformed files, or images and labels that do not match.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"`split` must be one of {sorted(MNIST_FILES)}, got {split!r}")
    files = find_mnist_files(root)
    image_name, label_name = MNIST_FILES[split]
    images, labels = read_idx(files[image_name]), read_idx(files[label_name])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataFileError(
            f"IDX file {str(files[image_name])!r} should hold uint8 images [N, H, W], got "
            f"{images.dtype} of shape {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataFileError(
            f"IDX file {str(files[label_name])!r} should hold uint8 labels [N], got "
            f"{labels.dtype} of shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataFileError(
            f"{str(files[image_name])!r} holds {len(images)} images but "
            f"{str(files[label_name])!r} holds {len(labels)} labels"
        )
    if len(labels) and labels.max() >= 10:
        raise DataFileError(
            f"IDX file {str(files[label_name])!r} holds label {int(labels.max())}; digits are 0-9"
        )
    return images, labels.astype(np.int64)
