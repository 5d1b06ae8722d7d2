"""What every peer shares: the splits as arrays, the scoring with fairlit's metrics (private)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fairlit.metrics.functional import demographic_parity_difference, equalized_odds_difference
from fairlit.metrics.uncertainty import demographic_parity_standard_error


class _Split:
    """Numpy arrays of one split: ``x`` float32 ``[N, F]``, ``y`` and ``s`` int64 ``[N]``."""

    def __init__(self, dataset: Any, name: str) -> None:
        if dataset is None:
            raise ValueError(f"the datamodule's {name}_dataset is None after setup().")
        self.x = dataset.x.numpy()
        self.y = dataset.y.numpy()
        self.s = dataset.s.numpy()
        if len(self.y) == 0:
            raise ValueError(f"the datamodule's {name} split is empty.")


class _Splits:
    """The train, validation and test arrays of a set-up datamodule, and the number of groups."""

    def __init__(self, datamodule: Any) -> None:
        datamodule.setup("fit")
        datamodule.setup("test")
        self.train = _Split(getattr(datamodule, "train_dataset", None), "train")
        self.val = _Split(getattr(datamodule, "val_dataset", None), "val")
        self.test = _Split(getattr(datamodule, "test_dataset", None), "test")
        for split, name in ((self.train, "train"), (self.val, "val"), (self.test, "test")):
            if not np.isin(split.y, (0, 1)).all():
                raise ValueError(
                    f"the peers need a binary 0/1 target; the {name} split has others."
                )
        observed = int(max(self.train.s.max(), self.val.s.max(), self.test.s.max())) + 1
        self.num_groups = max(int(getattr(datamodule, "num_groups", 0) or 0), observed)


def _split_metrics(
    prefix: str,
    split: _Split,
    num_groups: int,
    predicted: np.ndarray,
    scores: np.ndarray | None,
) -> dict[str, float]:
    """Accuracy, ΔDP, ΔEO (hard predictions) and, if ``scores`` are given, AUC on one split."""
    hard = torch.as_tensor(np.asarray(predicted).reshape(-1).astype(np.float32))
    target = torch.as_tensor(split.y)
    groups = torch.as_tensor(split.s)
    result = {
        f"{prefix}/accuracy": float((hard == target.to(hard.dtype)).double().mean()),
        f"{prefix}/dp_difference": float(
            demographic_parity_difference(hard, target, groups, num_groups)
        ),
        f"{prefix}/eo_difference": float(
            equalized_odds_difference(hard, target, groups, num_groups)
        ),
    }
    result[f"{prefix}/dp_difference_se"] = demographic_parity_standard_error(
        hard, groups, num_groups
    )
    if scores is not None and 0 < split.y.sum() < len(split.y):
        auc = float(roc_auc_score(split.y, np.asarray(scores, dtype=np.float64).reshape(-1)))
        if math.isfinite(auc):
            result[f"{prefix}/auc"] = auc
    return result


def _score(
    method: str,
    param: float | None,
    seed: int,
    splits: _Splits,
    predict: Callable[[_Split], np.ndarray],
    score: Callable[[_Split], np.ndarray | None],
) -> dict[str, Any]:
    """The result dict: identity, then the validation and the test metrics.

    ``predict`` and ``score`` receive a whole split, so a method may read its ``s``.
    """
    result: dict[str, Any] = {"method": method, "param": param, "seed": seed}
    for prefix, split in (("val", splits.val), ("test", splits.test)):
        result.update(
            _split_metrics(prefix, split, splits.num_groups, predict(split), score(split))
        )
    return result


_BASES = ("logreg", "hgb")


def _base_estimator(base: str, seed: int) -> Any:
    """``LogisticRegression(max_iter=1000)`` or ``HistGradientBoostingClassifier()``, seeded."""
    if base == "logreg":
        return LogisticRegression(max_iter=1000, random_state=seed)
    if base == "hgb":
        return HistGradientBoostingClassifier(random_state=seed)
    raise ValueError(f"unknown base estimator {base!r}; choose from {list(_BASES)}.")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int, got {seed!r}.")
    return seed
