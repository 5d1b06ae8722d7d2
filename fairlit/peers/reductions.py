"""fairlearn's ExponentiatedGradient under a demographic parity constraint."""

from __future__ import annotations

import warnings
from typing import Any

from fairlit.peers._common import _base_estimator, _check_seed, _score, _Splits

__all__ = ["run_exponentiated_gradient"]


def run_exponentiated_gradient(
    datamodule: Any, eps: float, seed: int = 0, base: str = "logreg"
) -> dict[str, Any]:
    """ExponentiatedGradient (fairlearn; Agarwal et al., 2018) under a demographic parity constraint.

    ``ExponentiatedGradient(estimator, DemographicParity(difference_bound=eps))`` around
    ``LogisticRegression(max_iter=1000)`` (``base="logreg"``) or
    ``HistGradientBoostingClassifier()`` (``base="hgb"``), fitted with ``sensitive_features=s`` on
    the train split. Its predictions are those of the randomized classifier, ``predict(x,
    random_state=seed)``, so they are reproducible; it does not need ``s`` to predict. It has no
    ``predict_proba``; the AUC uses the randomized classifier's probability of predicting 1
    (fairlearn's ``_pmf_predict``) and is omitted if that method is missing.

    Args:
        datamodule: See :func:`run_logistic_regression`.
        eps: The demographic parity difference bound (``DemographicParity(difference_bound=eps)``).
        seed: ``random_state`` of the base estimator and of ``predict``.
        base: ``"logreg"`` or ``"hgb"``.

    Returns:
        ``{"method": "expgrad" (or "expgrad_hgb"), "param": eps, "seed"}`` and the validation
        and test metrics of :func:`run_logistic_regression`.

    Raises:
        ValueError: for a non-positive ``eps``, a bad seed or an unknown ``base``.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> run_exponentiated_gradient(GermanDataModule(), eps=0.05)["param"]
        0.05
    """
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient

    _check_seed(seed)
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps > 0:
        raise ValueError(f"`eps` must be a positive number, got {eps!r}.")
    estimator = _base_estimator(base, seed)
    splits = _Splits(datamodule)
    model = ExponentiatedGradient(estimator, DemographicParity(difference_bound=eps))
    with warnings.catch_warnings():
        # fairlearn 0.15's reductions trip pandas deprecation warnings internally; not ours to fix.
        warnings.filterwarnings("ignore", category=Warning, module=r"fairlearn\.reductions\.")
        model.fit(splits.train.x, splits.train.y, sensitive_features=splits.train.s)
    has_pmf = hasattr(model, "_pmf_predict")
    return _score(
        "expgrad" if base == "logreg" else f"expgrad_{base}",
        float(eps),
        seed,
        splits,
        lambda split: model.predict(split.x, random_state=seed),
        lambda split: model._pmf_predict(split.x)[:, 1] if has_pmf else None,
    )
