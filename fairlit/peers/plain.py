"""Unconstrained scikit-learn peers: logistic regression and gradient boosting."""

from __future__ import annotations

from typing import Any

from sklearn.linear_model import LogisticRegression

from fairlit.peers._common import _base_estimator, _check_seed, _score, _Splits

__all__ = ["run_gradient_boosting", "run_logistic_regression"]


def run_logistic_regression(datamodule: Any, seed: int = 0) -> dict[str, Any]:
    """Plain logistic regression on the features (no fairness constraint).

    ``LogisticRegression(max_iter=1000, random_state=seed)`` fitted on the train split; the AUC
    uses ``predict_proba``.

    Args:
        datamodule: A :class:`~fairlit.data.TabularDataModule` (or anything with ``setup`` and
            ``train_dataset`` / ``test_dataset`` holding ``x``, ``y``, ``s`` tensors).
        seed: Recorded, and passed as ``random_state`` (lbfgs itself is deterministic).

    Returns:
        ``{"method": "logreg", "param": None, "seed"}`` and, for ``split`` in ``val`` and
        ``test``, ``"<split>/accuracy"``, ``"<split>/dp_difference"``,
        ``"<split>/dp_difference_se"`` (its standard error), ``"<split>/eo_difference"``,
        ``"<split>/auc"``.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> result = run_logistic_regression(GermanDataModule())
        >>> result["method"], sorted(k for k in result if k.startswith("test/"))
        ('logreg', ['test/accuracy', 'test/auc', 'test/dp_difference', 'test/dp_difference_se', 'test/eo_difference'])
    """
    _check_seed(seed)
    splits = _Splits(datamodule)
    model = LogisticRegression(max_iter=1000, random_state=seed).fit(splits.train.x, splits.train.y)
    return _score(
        "logreg",
        None,
        seed,
        splits,
        lambda split: model.predict(split.x),
        lambda split: model.predict_proba(split.x)[:, 1],
    )


def run_gradient_boosting(datamodule: Any, seed: int = 0) -> dict[str, Any]:
    """Plain gradient boosting on the features (no fairness constraint).

    ``HistGradientBoostingClassifier(random_state=seed)`` (scikit-learn's defaults) fitted on the
    train split; the AUC uses ``predict_proba``.

    Args:
        datamodule: See :func:`run_logistic_regression`.
        seed: ``random_state`` of the classifier.

    Returns:
        ``{"method": "hgb", "param": None, "seed"}`` and the validation and test metrics of
        :func:`run_logistic_regression`.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> run_gradient_boosting(GermanDataModule())["method"]
        'hgb'
    """
    _check_seed(seed)
    splits = _Splits(datamodule)
    model = _base_estimator("hgb", seed).fit(splits.train.x, splits.train.y)
    return _score(
        "hgb",
        None,
        seed,
        splits,
        lambda split: model.predict(split.x),
        lambda split: model.predict_proba(split.x)[:, 1],
    )
