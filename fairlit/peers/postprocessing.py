"""fairlearn's ThresholdOptimizer: per-group thresholds, which need ``s`` at prediction time."""

from __future__ import annotations

from typing import Any

import numpy as np

from fairlit.peers._common import _base_estimator, _check_seed, _score, _Split, _Splits

__all__ = ["run_threshold_optimizer"]


def run_threshold_optimizer(
    datamodule: Any, tol: float = 0.0, seed: int = 0, base: str = "logreg"
) -> dict[str, Any]:
    """ThresholdOptimizer (fairlearn; Hardt et al., 2016) for demographic parity.

    ``ThresholdOptimizer(estimator=..., constraints="demographic_parity",
    predict_method="predict_proba", tol=tol)`` around ``LogisticRegression(max_iter=1000)`` or
    ``HistGradientBoostingClassifier()``, fitted with ``sensitive_features=s`` on the train split.
    It post-processes the estimator's scores with a (randomized) threshold per group, so its
    predictions, ``predict(x, sensitive_features=s, random_state=seed)``, **need ``s``**.
    ``tol`` relaxes the parity constraint (0: exact parity on the training data). The AUC uses
    the probability of predicting 1 (fairlearn's ``_pmf_predict``) and is omitted if that
    method is missing.

    Args:
        datamodule: See :func:`run_logistic_regression`.
        tol: Allowed demographic parity difference of the fitted thresholds, ``>= 0``.
        seed: ``random_state`` of the estimator and of ``predict``.
        base: ``"logreg"`` or ``"hgb"``.

    Returns:
        ``{"method": "threshold" (or "threshold_hgb"), "param": tol, "seed"}`` and the
        validation and test metrics of :func:`run_logistic_regression`.

    Raises:
        ValueError: for a negative ``tol``, a bad seed or an unknown ``base``.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> run_threshold_optimizer(GermanDataModule(), tol=0.02)["param"]
        0.02
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    _check_seed(seed)
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol >= 0:
        raise ValueError(f"`tol` must be a non-negative number, got {tol!r}.")
    estimator = _base_estimator(base, seed)
    splits = _Splits(datamodule)
    model = ThresholdOptimizer(
        estimator=estimator,
        constraints="demographic_parity",
        predict_method="predict_proba",
        tol=float(tol) if tol > 0 else None,
    )
    # float64 features: with float32 scores fairlearn 0.15 writes float64 rates into a float32
    # pandas Series, which pandas 3 refuses.
    model.fit(splits.train.x.astype(np.float64), splits.train.y, sensitive_features=splits.train.s)
    has_pmf = hasattr(model, "_pmf_predict")

    def score(split: _Split) -> np.ndarray | None:
        if not has_pmf:
            return None
        return model._pmf_predict(split.x.astype(np.float64), sensitive_features=split.s)[:, 1]

    return _score(
        "threshold" if base == "logreg" else f"threshold_{base}",
        float(tol),
        seed,
        splits,
        lambda split: model.predict(
            split.x.astype(np.float64), sensitive_features=split.s, random_state=seed
        ),
        score,
    )
