"""In-memory splits of tensors, seeded stratified splits, and a whole-batch loader.

Tabular data never goes through per-sample collation: :class:`BatchLoader`
slices each batch out of in-memory tensors with one index tensor, which is
what keeps a Lightning epoch close to a hand-written loop.
"""

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

__all__ = ["BatchLoader", "TensorSplit", "stratified_split"]


class TensorSplit:
    """Features, target and group index of one split, held as tensors (tabular or images).

    Args:
        x: float32 features: ``[N, F]`` for tables, ``[N, C, H, W]`` for images.
        y: int64 target ``[N]``.
        s: int64 group index ``[N]``.
        w: optional float32 sample weights ``[N]``; batches then carry ``w``.

    Raises:
        ValueError: if ``x``, ``y``, ``s`` (and ``w``) have different lengths.

    Example:
        >>> ds = TensorSplit(torch.zeros(3, 2), torch.tensor([0, 1, 1]), torch.tensor([1, 0, 1]))
        >>> len(ds), ds[torch.tensor([0, 2])]["y"].tolist()
        (3, [0, 1])
    """

    def __init__(self, x: Tensor, y: Tensor, s: Tensor, w: Tensor | None = None) -> None:
        if not (len(x) == len(y) == len(s)) or (w is not None and len(w) != len(y)):
            lengths = [len(t) for t in (x, y, s, *(() if w is None else (w,)))]
            raise ValueError(f"x, y, s (and w) must have equal length, got {lengths}")
        self.x = x.to(torch.float32)
        self.y = y.to(torch.int64)
        self.s = s.to(torch.int64)
        self.w = None if w is None else w.to(torch.float32)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: Tensor | int | slice) -> dict[str, Tensor]:
        if self.w is None:
            return {"x": self.x[index], "y": self.y[index], "s": self.s[index]}
        return {"x": self.x[index], "y": self.y[index], "s": self.s[index], "w": self.w[index]}


class _EpochSampler:
    """Holds the epoch number; Lightning calls ``set_epoch`` on ``loader.sampler``."""

    def __init__(self) -> None:
        self.epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class BatchLoader:
    """Iterate over a :class:`TensorSplit` in whole batches of named tensors.

    Shuffling uses a generator seeded with ``seed + epoch``, so the order of
    an epoch depends only on the seed and the epoch number (a resumed run
    sees exactly the batches an uninterrupted run would). Lightning calls
    ``loader.sampler.set_epoch`` at the start of every epoch.

    Under data parallelism, each of ``num_replicas`` processes iterates over
    its own shard. Training shards (``shuffle=True``) are padded by wrapping
    around so every process runs the same number of steps; evaluation shards
    are never padded, so each row is counted exactly once in a metric.

    Args:
        dataset: The split to iterate over.
        batch_size: Rows per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: Reshuffle every epoch.
        seed: Base seed of the shuffle.
        drop_last: Drop a final incomplete batch.
        num_replicas: Number of processes sharing the data.
        rank: This process' index in ``[0, num_replicas)``.

    Raises:
        ValueError: if ``batch_size`` is not a positive integer or ``rank`` is outside
            ``[0, num_replicas)``.

    Example:
        >>> ds = TensorSplit(torch.arange(10.0)[:, None], torch.zeros(10), torch.zeros(10))
        >>> [len(b["x"]) for b in BatchLoader(ds, batch_size=4)]
        [4, 4, 2]
    """

    def __init__(
        self,
        dataset: TensorSplit,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.num_replicas = num_replicas
        self.rank = rank
        self.sampler = _EpochSampler()
        self.batch_sampler = None  # Lightning inspects these two DataLoader attributes
        self._iterations = 0

    def _indices(self) -> Tensor:
        n = len(self.dataset)
        if self.shuffle:
            # Without set_epoch (plain Python use), count iterations instead.
            epoch = self.sampler.epoch if self.sampler.epoch is not None else self._iterations
            generator = torch.Generator().manual_seed(self.seed + epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if self.num_replicas == 1:
            return order
        if self.shuffle:
            padded = -(-n // self.num_replicas) * self.num_replicas
            order = torch.cat([order, order[: padded - n]]) if padded > n else order
            return order[self.rank :: self.num_replicas]
        # Contiguous, unpadded shards for evaluation.
        bounds = np.linspace(0, n, self.num_replicas + 1).round().astype(int)
        return order[bounds[self.rank] : bounds[self.rank + 1]]

    def __len__(self) -> int:
        n = len(self._indices()) if self.num_replicas > 1 else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        indices = self._indices()
        self._iterations += 1
        stop = len(indices) - len(indices) % self.batch_size if self.drop_last else len(indices)
        for start in range(0, stop, self.batch_size):
            yield self.dataset[indices[start : start + self.batch_size]]


def stratified_split(
    strata: np.ndarray, fractions: tuple[float, ...], seed: int
) -> tuple[np.ndarray, ...]:
    """Split row indices into parts with the same stratum proportions.

    Within each stratum (e.g. each (y, s) cell) rows are permuted with a
    generator seeded by ``seed`` and cut by ``fractions``; the remainder
    forms the first part.

    Args:
        strata: int array ``[N]``, the stratum of each row.
        fractions: Fractions of the second, third, ... parts (the first part
            takes the rest); each in [0, 1) and summing to less than 1.
        seed: Seed of the permutation.

    Returns:
        ``len(fractions) + 1`` sorted index arrays, a partition of ``range(N)``.

    Raises:
        ValueError: if a fraction is negative or the fractions sum to 1 or more.

    Example:
        >>> train, test = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), (0.5,), seed=0)
        >>> len(train), len(test)
        (4, 4)
    """
    if any(f < 0 for f in fractions) or sum(fractions) >= 1:
        raise ValueError(f"split fractions must be >= 0 and sum to less than 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for value in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == value))
        start = 0
        for k, fraction in enumerate(fractions, start=1):
            take = round(len(rows) * fraction)
            parts[k].append(rows[start : start + take])
            start += take
        parts[0].append(rows[start:])
    return tuple(np.sort(np.concatenate(p)) if p else np.array([], dtype=int) for p in parts)
