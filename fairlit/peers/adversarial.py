"""fairlearn's AdversarialFairnessClassifier (Zhang et al., 2018)."""

from __future__ import annotations

from typing import Any

import torch

from fairlit.peers._common import _check_seed, _score, _Splits

__all__ = ["run_adversarial_fairness"]


def run_adversarial_fairness(
    datamodule: Any, alpha: float, epochs: int = 10, seed: int = 0
) -> dict[str, Any]:
    """AdversarialFairnessClassifier (fairlearn; Zhang et al., 2018), torch backend.

    ``AdversarialFairnessClassifier(backend="torch", predictor_model=[64, "leaky_relu"],
    adversary_model=[3, "leaky_relu"], batch_size=200, epochs=epochs, alpha=alpha,
    random_state=seed)`` (constraint ``"demographic_parity"``, Adam, lr 1e-3, no shuffling:
    fairlearn's defaults) fitted with ``sensitive_features=s`` on the train split. fairlearn
    seeds torch's global RNG when it builds its networks; here that happens inside
    :func:`torch.random.fork_rng`, so the caller's RNG state is left as it was. The AUC uses the
    predictor's sigmoid output (fairlearn's ``_raw_predict``) and is omitted if that method is
    missing.

    Args:
        datamodule: See :func:`run_logistic_regression`.
        alpha: Weight of the adversary's loss.
        epochs: Training epochs.
        seed: ``random_state`` of the classifier.

    Returns:
        ``{"method": "adversarial", "param": alpha, "seed"}`` and the validation and test
        metrics of :func:`run_logistic_regression`.

    Raises:
        ValueError: if ``alpha`` is negative or ``epochs`` is not a positive int.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> run_adversarial_fairness(GermanDataModule(), alpha=1.0, epochs=1)["method"]
        'adversarial'
    """
    from fairlearn.adversarial import AdversarialFairnessClassifier

    _check_seed(seed)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not alpha >= 0:
        raise ValueError(f"`alpha` must be a non-negative number, got {alpha!r}.")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be a positive int, got {epochs!r}.")
    splits = _Splits(datamodule)
    model = AdversarialFairnessClassifier(
        backend="torch",
        predictor_model=[64, "leaky_relu"],
        adversary_model=[3, "leaky_relu"],
        batch_size=200,
        epochs=epochs,
        alpha=float(alpha),
        random_state=seed,
    )
    with torch.random.fork_rng(devices=[]):
        model.fit(splits.train.x, splits.train.y, sensitive_features=splits.train.s)
    has_raw = hasattr(model, "_raw_predict")
    return _score(
        "adversarial",
        float(alpha),
        seed,
        splits,
        lambda split: model.predict(split.x),
        lambda split: model._raw_predict(split.x) if has_raw else None,
    )
