"""The DataModule contract: :class:`FairDataModule` (shapes, group names, the loaders).

Every fairlit DataModule is one, tabular (:mod:`fairlit.data.tabular`) or image
(:mod:`fairlit.data.images`): ``num_features``, ``num_groups`` and ``num_classes`` are known
right after ``__init__`` (the command line links them into the model), and the splits are
loaded whole-batch with :class:`~fairlit.data.loading.BatchLoader`, sharded across processes
under data parallelism.
"""

import pytorch_lightning as pl

from fairlit.data.loading import BatchLoader, TensorSplit

__all__ = ["FairDataModule"]


def _check_batch_size(value: int | None, name: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class FairDataModule(pl.LightningDataModule):
    """The contract every fairlit DataModule keeps, and what they share.

    The model and the CLI rely on it: ``fairlit fit --data.help FairDataModule`` lists every
    subclass, and the CLI links :attr:`num_features`, :attr:`num_groups` and
    :attr:`num_classes` into the model. A subclass sets the three sizes (known right after
    ``__init__``, before :meth:`setup`) and builds ``train_dataset``, ``val_dataset`` and
    ``test_dataset`` (:class:`~fairlit.data.loading.TensorSplit`: ``x`` float32
    ``[N, F]``, ``y`` int64 ``[N]``, ``s`` int64 ``[N]``) in :meth:`setup`; this base
    checks the loader arguments and serves the splits in whole batches with
    :class:`~fairlit.data.loading.BatchLoader`, sharded across processes under data
    parallelism.

    Args:
        batch_size: Training batch size.
        eval_batch_size: Batch size for validation, test and predict (defaults to
            ``batch_size``; larger is faster and does not change results).
        seed: Seed of the split and of the per-epoch shuffle.
        val_fraction: Fraction of the training data held out for validation.

    Raises:
        ValueError: for a batch size that is not a positive int, a negative seed, or a
            ``val_fraction`` outside ``[0, 1)``.
    """

    #: Name of each sensitive group, in the order of the values of ``s``.
    group_names: tuple[str, ...] = ()
    #: The column the rows are weighted by (batches then carry ``w``), or None.
    weighted_by: str | None = None

    def __init__(
        self,
        batch_size: int = 200,
        eval_batch_size: int | None = None,
        seed: int = 0,
        val_fraction: float = 0.1,
    ) -> None:
        super().__init__()
        _check_batch_size(batch_size, "batch_size")
        _check_batch_size(eval_batch_size, "eval_batch_size")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if (
            isinstance(val_fraction, bool)
            or not isinstance(val_fraction, int | float)
            or not 0.0 <= val_fraction < 1.0
        ):
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.seed = seed
        self.val_fraction = float(val_fraction)
        self.train_dataset: TensorSplit | None = None
        self.val_dataset: TensorSplit | None = None
        self.test_dataset: TensorSplit | None = None
        self.predict_dataset: TensorSplit | None = None

    @property
    def num_features(self) -> int:
        """Width of ``x``."""
        raise NotImplementedError(f"{type(self).__name__} must define num_features")

    @property
    def num_groups(self) -> int:
        """Number of sensitive groups (values of ``s``)."""
        raise NotImplementedError(f"{type(self).__name__} must define num_groups")

    @property
    def num_classes(self) -> int:
        """Number of target classes (values of ``y``)."""
        raise NotImplementedError(f"{type(self).__name__} must define num_classes")

    def _loader(self, dataset: TensorSplit | None, train: bool) -> BatchLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before asking for a loader")
        trainer = self.trainer
        replicas, rank = (
            (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        )
        return BatchLoader(
            dataset,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            num_replicas=replicas,
            rank=rank,
        )

    def train_dataloader(self) -> BatchLoader:
        """Shuffled whole-batch loader over the training split."""
        return self._loader(self.train_dataset, train=True)

    def val_dataloader(self) -> BatchLoader:
        """Loader over the validation split."""
        return self._loader(self.val_dataset, train=False)

    def test_dataloader(self) -> BatchLoader:
        """Loader over the test split."""
        return self._loader(self.test_dataset, train=False)

    def predict_dataloader(self) -> BatchLoader:
        """Loader over what ``fairlit predict`` scores: ``predict_dataset``, else the test split."""
        dataset = getattr(self, "predict_dataset", None)
        return self._loader(dataset if dataset is not None else self.test_dataset, train=False)
