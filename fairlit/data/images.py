r"""Biased-MNIST and Biased-Digits: digits on coloured backgrounds that shortcut the label.

The image benchmark of Cerrato et al. (AAAI 2023), after Bahng et al. ("Learning De-biased
Representations with Biased Representations", ICML 2020). Every image is a grey-scale digit
drawn in white on a background of one of ten fixed colours (:data:`BACKGROUND_COLOURS`):

.. math::

    x_{c,h,w} = b_c \, (1 - I_{h,w}) + I_{h,w},

with :math:`I \in [0, 1]^{H \times W}` the digit's intensity and :math:`b \in [0, 1]^3` the
background colour, so background pixels take the colour and the strokes stay white.

* **Training** (and, by default, validation) images get their **label's** colour with
  probability :math:`\rho` (``rho``) and a uniformly random **other** colour otherwise, so the
  colour predicts the digit with probability exactly :math:`\rho`: a shortcut.
* **Test** images get a uniformly random colour among the ten (:math:`P(\text{colour} =
  \text{label}) = 0.1`), so a classifier that relies on the colour fails there.

The sensitive attribute ``s`` is the colour index (10 groups) and the target ``y`` the digit
(10 classes). Batches are dicts: ``x`` float32 ``[B, 3 H W]`` (the image **flattened**
channel-first, so a config links ``data.num_features`` to the encoder's ``in_features`` as
for tables; :attr:`image_shape` restores the shape), ``y`` and ``s`` int64 ``[B]``.

Two DataModules share everything but the source of the digits:

* :class:`BiasedMNISTDataModule` reads the standard MNIST IDX files (28x28; 60,000 training
  and 10,000 test images) from a folder;
* :class:`BiasedDigitsDataModule` uses scikit-learn's bundled 8x8 digits (1,797 images,
  offline), split into train / validation / test: the default for examples and tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fairlit.data.base import FairDataModule
from fairlit.data.colouring import (
    BACKGROUND_COLOURS,
    NUM_COLOURS,
    _check_rho,
    assign_colours,
    colour_backgrounds,
)
from fairlit.data.loading import TensorSplit, stratified_split
from fairlit.data.mnist import MNIST_FILES, find_mnist_files, load_mnist, read_idx
from fairlit.data.resources import DataFileError

__all__ = [
    "BACKGROUND_COLOURS",
    "MNIST_FILES",
    "BiasedDigitsDataModule",
    "BiasedImageDataModule",
    "BiasedMNISTDataModule",
    "assign_colours",
    "colour_backgrounds",
    "find_mnist_files",
    "load_mnist",
    "read_idx",
]


# ------------------------------------------------------------------------------------------
# DataModules
# ------------------------------------------------------------------------------------------


class BiasedImageDataModule(FairDataModule):
    """Shared base of the coloured-digit DataModules: colouring, splits and loaders.

    A subclass sets :attr:`height` and :attr:`width` and implements :meth:`load_splits`,
    returning grey-scale intensities and labels of the train, validation and test splits;
    this base colours them (seeded) and serves them in whole batches with
    :class:`~fairlit.data.loading.BatchLoader`, sharded across processes under data
    parallelism (the loaders of :class:`~fairlit.data.FairDataModule`).

    Args:
        rho: Probability that a training (and validation) image has its label's colour; the
            other images get a uniformly random other colour. Test colours are uniform.
        val_rho: ``rho`` of the validation split; ``None`` means ``rho`` (validation then
            comes from the training distribution); ``0.1`` makes it unbiased like the test.
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation, test and predict (defaults to ``batch_size``).
        seed: Seed of the split, of the colours and of the per-epoch shuffle.
        val_fraction: Fraction of the training images held out for validation (stratified by digit).
    """

    height: int
    width: int

    def __init__(
        self,
        rho: float = 0.99,
        val_rho: float | None = None,
        batch_size: int = 200,
        eval_batch_size: int | None = None,
        seed: int = 0,
        val_fraction: float = 0.1,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, seed, val_fraction)
        self.rho = _check_rho(rho)
        self.val_rho = None if val_rho is None else _check_rho(val_rho, "val_rho")

    # -- description, known right after __init__ --------------------------------------------

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(3, H, W)``: the shape of one image before flattening."""
        return (3, self.height, self.width)

    @property
    def num_features(self) -> int:
        """Width of ``x``: ``3 * H * W``."""
        return 3 * self.height * self.width

    @property
    def num_groups(self) -> int:
        """Number of background colours (values of ``s``): 10."""
        return NUM_COLOURS

    @property
    def num_classes(self) -> int:
        """Number of digits (values of ``y``): 10."""
        return NUM_COLOURS

    def load_splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Grey-scale intensities float ``[N, H, W]`` in [0, 1] and int64 labels, per split.

        Returns:
            ``{"train": (intensity, labels), "val": ..., "test": ...}``.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement this abstract method")

    # -- Lightning hooks -------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        """Split and colour (once; the same images and colours on every stage and rank)."""
        if self.train_dataset is not None:
            return
        splits = self.load_splits()
        rhos = {
            "train": self.rho,
            "val": self.rho if self.val_rho is None else self.val_rho,
            "test": None,
        }
        datasets = {}
        for k, name in enumerate(("train", "val", "test")):
            intensity, labels = splits[name]
            # One independent, seeded stream per split.
            colours = assign_colours(labels, rhos[name], np.random.default_rng([self.seed, k]))
            images = colour_backgrounds(intensity, colours).reshape(len(labels), self.num_features)
            datasets[name] = TensorSplit(
                torch.from_numpy(images), torch.from_numpy(labels), torch.from_numpy(colours)
            )
        self.train_dataset, self.val_dataset, self.test_dataset = (
            datasets["train"], datasets["val"], datasets["test"],
        )  # fmt: skip


class BiasedMNISTDataModule(BiasedImageDataModule):
    """Biased-MNIST: MNIST digits (28x28) on coloured backgrounds, read from the IDX files.

    Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
    and ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``) from ``root``, or from
    ``root/MNIST/raw`` (torchvision's download folder). Nothing is downloaded. The official
    10,000 test images form the test split (uniform colours); ``val_fraction`` of the 60,000
    training images, stratified by digit, form the validation split. See
    :mod:`fairlit.data.images` for the colouring and :class:`BiasedImageDataModule` for the
    other arguments. ``x`` is 2,352 floats per image (about 0.66 GB for the whole data set).

    Args:
        root: Folder of the four IDX files.
        rho: Probability that a training image has its label's colour.
        val_rho: ``rho`` of the validation split (``None``: ``rho``).
        batch_size: Training batch size.
        eval_batch_size: Evaluation batch size (defaults to ``batch_size``).
        seed: Seed of the split, the colours and the shuffle.
        val_fraction: Fraction of the training file held out for validation.

    Raises:
        DataFileError: at :meth:`prepare_data` / :meth:`setup`, when files are missing (the
            message names the four files and the folder) or malformed (it names the file).
    """

    height = 28
    width = 28

    def __init__(
        self,
        root: str,
        rho: float = 0.99,
        val_rho: float | None = None,
        batch_size: int = 200,
        eval_batch_size: int | None = None,
        seed: int = 0,
        val_fraction: float = 0.1,
    ) -> None:
        super().__init__(rho, val_rho, batch_size, eval_batch_size, seed, val_fraction)
        if not isinstance(root, str | Path) or not str(root):
            raise ValueError(f"root must be the folder of the MNIST IDX files, got {root!r}")
        self.root = str(root)

    def prepare_data(self) -> None:
        """Fail early, naming the files, if any MNIST file is missing (sets no state)."""
        find_mnist_files(self.root)

    def load_splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Read the IDX files; hold out a stratified validation part of the training file.

        Raises:
            DataFileError: if an IDX file is missing, malformed, or holds images of another size.
        """
        train_images, train_labels = load_mnist(self.root, "train")
        test_images, test_labels = load_mnist(self.root, "test")
        for name, images in (("training", train_images), ("test", test_images)):
            if images.shape[1:] != (self.height, self.width):
                raise DataFileError(
                    f"MNIST {name} images in {self.root!r} are {images.shape[1:]}, expected "
                    f"({self.height}, {self.width})"
                )
        train, val = stratified_split(train_labels, (self.val_fraction,), self.seed)

        def intensity(images: np.ndarray) -> np.ndarray:
            return images.astype(np.float32) / np.float32(255.0)

        return {
            "train": (intensity(train_images[train]), train_labels[train]),
            "val": (intensity(train_images[val]), train_labels[val]),
            "test": (intensity(test_images), test_labels),
        }


class BiasedDigitsDataModule(BiasedImageDataModule):
    """Biased-Digits: scikit-learn's 8x8 digits on coloured backgrounds (offline, 1,797 images).

    The images of :func:`sklearn.datasets.load_digits` (intensities 0-16, scaled to [0, 1])
    are split, stratified by digit and seeded, into train / validation / test, then coloured
    as in :mod:`fairlit.data.images`. ``x`` has 192 features (3 x 8 x 8).

    Args:
        rho: Probability that a training image has its label's colour.
        val_rho: ``rho`` of the validation split (``None``: ``rho``).
        batch_size: Training batch size.
        eval_batch_size: Evaluation batch size (defaults to ``batch_size``).
        seed: Seed of the split, the colours and the shuffle.
        val_fraction: Fraction of all images held out for validation.
        test_fraction: Fraction of all images held out for testing.

    Raises:
        ValueError: if ``test_fraction`` is outside ``(0, 1)`` or the fractions sum to 1 or more.

    Example:
        >>> dm = BiasedDigitsDataModule(rho=0.99, batch_size=32)
        >>> dm.num_features, dm.num_groups, dm.num_classes, dm.image_shape
        (192, 10, 10, (3, 8, 8))
        >>> dm.setup("fit")
        >>> batch = next(iter(dm.train_dataloader()))
        >>> batch["x"].shape, batch["x"].dtype, batch["s"].dtype
        (torch.Size([32, 192]), torch.float32, torch.int64)
    """

    height = 8
    width = 8

    def __init__(
        self,
        rho: float = 0.99,
        val_rho: float | None = None,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.25,
    ) -> None:
        super().__init__(rho, val_rho, batch_size, eval_batch_size, seed, val_fraction)
        if (
            isinstance(test_fraction, bool)
            or not isinstance(test_fraction, int | float)
            or not 0.0 < test_fraction < 1.0
        ):
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                "val_fraction + test_fraction must be below 1, got "
                f"{val_fraction} + {test_fraction}"
            )
        self.test_fraction = float(test_fraction)

    def load_splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Load the bundled digits and split them, stratified by digit."""
        from sklearn.datasets import load_digits

        digits = load_digits()
        intensity = digits.images / 16.0
        labels = digits.target.astype(np.int64)
        train, val, test = stratified_split(
            labels, (self.val_fraction, self.test_fraction), self.seed
        )
        return {name: (intensity[rows], labels[rows]) for name, rows in
                (("train", train), ("val", val), ("test", test))}  # fmt: skip
