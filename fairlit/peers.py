"""Outside peers, run on exactly a DataModule's splits and scored with fairlit's own metrics.

The baselines of the paper's comparison that are not fairlit models:

* ``"logreg"``: plain scikit-learn logistic regression on the features;
* ``"expgrad"``: fairlearn's :class:`~fairlearn.reductions.ExponentiatedGradient` with a
  :class:`~fairlearn.reductions.DemographicParity` constraint (``difference_bound=eps``) around
  logistic regression;
* ``"adversarial"``: fairlearn's :class:`~fairlearn.adversarial.AdversarialFairnessClassifier`
  (Zhang et al., 2018) with the torch backend;
* ``"hgb"``: plain scikit-learn :class:`~sklearn.ensemble.HistGradientBoostingClassifier`;
* ``"expgrad_hgb"``: ExponentiatedGradient as ``"expgrad"``, around gradient boosting (slow: about
  a minute per fit on Adult);
* ``"threshold"`` and ``"threshold_hgb"``: fairlearn's
  :class:`~fairlearn.postprocessing.ThresholdOptimizer` (Hardt et al., 2016) with
  ``constraints="demographic_parity"`` and tolerance ``tol``, around logistic regression or
  gradient boosting. It picks a threshold per group, so it **needs ``s`` at prediction time**;
* ``"lfr"``: learned fair representations (Zemel et al., 2013), fairlearn's
  :class:`~fairlearn.preprocessing.PrototypeRepresentationLearner`, with a downstream audit of
  its representation (see :func:`run_learned_fair_representations`).

Each is fitted on the datamodule's ``train_dataset`` and scored on its ``val_dataset`` (keys
``val/...``, for choosing a setting) and its ``test_dataset`` (keys ``test/...``, for the report)
with the same functions the LightningModule logs:
:func:`fairlit.metrics.functional.demographic_parity_difference` and
:func:`~fairlit.metrics.functional.equalized_odds_difference` on the hard predictions, so the
numbers are directly comparable to ``val/dp_difference`` and ``test/dp_difference``.
:data:`NEEDS_SENSITIVE_AT_PREDICTION` says which methods need the sensitive attribute when they
predict (only the threshold optimizers).

Example:
    >>> from fairlit.data import GermanDataModule
    >>> rows = run_peers(GermanDataModule(), eps_grid=(0.05,), methods=("logreg", "expgrad"))
    >>> [(r["method"], r["param"]) for r in rows]
    [('logreg', None), ('expgrad', 0.05)]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fairlit.metrics.functional import demographic_parity_difference, equalized_odds_difference
from fairlit.metrics.uncertainty import demographic_parity_standard_error

__all__ = [
    "DEFAULT_PEERS",
    "NEEDS_SENSITIVE_AT_PREDICTION",
    "PEER_GRIDS",
    "PEER_METHODS",
    "run_adversarial_fairness",
    "run_exponentiated_gradient",
    "run_gradient_boosting",
    "run_learned_fair_representations",
    "run_logistic_regression",
    "run_peer",
    "run_peers",
    "run_threshold_optimizer",
]

#: The method names accepted by :func:`run_peers`, in run order.
PEER_METHODS: tuple[str, ...] = (
    "logreg",
    "expgrad",
    "adversarial",
    "hgb",
    "expgrad_hgb",
    "threshold",
    "threshold_hgb",
    "lfr",
)

#: The peers ``fairlit sweep --peers`` runs when none is named (all but the slow ``expgrad_hgb``).
DEFAULT_PEERS: tuple[str, ...] = (
    "logreg",
    "expgrad",
    "adversarial",
    "hgb",
    "threshold",
    "threshold_hgb",
    "lfr",
)

#: Default parameter grid of each peer: its parameter's name and values (``None``: no parameter).
PEER_GRIDS: dict[str, tuple[str | None, tuple[float, ...]]] = {
    "logreg": (None, ()),
    "expgrad": (
        "eps",
        (0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.07, 0.1),
    ),
    "adversarial": ("alpha", (0.1, 0.3, 1.0, 3.0, 10.0)),
    "hgb": (None, ()),
    "expgrad_hgb": ("eps", (0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1)),
    "threshold": ("tol", (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1)),
    "threshold_hgb": ("tol", (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1)),
    "lfr": ("fairness_weight", (0.1, 1.0, 10.0)),
}

#: Whether a method needs the sensitive attribute ``s`` as an input when it predicts. fairlit's
#: own models take only ``x``.
NEEDS_SENSITIVE_AT_PREDICTION: dict[str, bool] = {
    "logreg": False,
    "expgrad": False,
    "adversarial": False,
    "hgb": False,
    "expgrad_hgb": False,
    "threshold": True,
    "threshold_hgb": True,
    "lfr": False,
}


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


def run_learned_fair_representations(
    datamodule: Any,
    fairness_weight: float,
    seed: int = 0,
    n_prototypes: int = 5,
    train_rows: int | None = 2000,
    max_iter: int = 100,
    audit: bool = True,
) -> dict[str, Any]:
    r"""Learned fair representations (Zemel et al., 2013), fairlearn's PrototypeRepresentationLearner.

    ``PrototypeRepresentationLearner(n_prototypes, reconstruct_weight=0.01, target_weight=1,
    fairness_weight, random_state=seed, max_iter)`` (Zemel et al.'s weights
    :math:`A_x = 0.01, A_y = 1`; :math:`A_z` = ``fairness_weight``) fitted with
    ``sensitive_features=s`` on a seeded subsample of ``train_rows`` training rows: fairlearn
    optimizes with L-BFGS on finite-difference gradients, so a fit costs one objective per
    parameter per step (about 20 s on 2,000 Adult rows with 5 prototypes; Zemel et al. used
    10). It predicts from ``x`` alone. The AUC uses ``predict_proba``.

    With ``audit``, its representation (``transform``: each row's soft assignment to the
    prototypes, ``[N, n_prototypes]``) goes through
    :func:`fairlit.audit.audit_representation` like fairlit's codes (form
    ``"deterministic"``, fitted on the same subsample).

    Args:
        datamodule: See :func:`run_logistic_regression`.
        fairness_weight: Weight :math:`A_z \ge 0` of the statistical parity term.
        seed: ``random_state`` of the learner, the subsample and the audit.
        n_prototypes: Number of prototypes (the representation's width).
        train_rows: Fit on this many training rows (``None``: all).
        max_iter: L-BFGS iterations.
        audit: Also return ``audit/...`` keys (see :func:`fairlit.audit.worst_downstream`).

    Returns:
        ``{"method": "lfr", "param": fairness_weight, "seed"}``, the validation and test
        metrics of :func:`run_logistic_regression` and, with ``audit``,
        ``audit/deterministic/<classifier>/{accuracy,dp_difference,s_auc}`` and the worst
        values of :func:`fairlit.audit.worst_downstream`.

    Raises:
        ValueError: for a negative ``fairness_weight`` or a bad seed.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> result = run_learned_fair_representations(
        ...     GermanDataModule(), 1.0, train_rows=100, max_iter=2, audit=False)
        >>> result["method"], result["param"]
        ('lfr', 1.0)
    """
    from fairlearn.preprocessing import PrototypeRepresentationLearner

    _check_seed(seed)
    if isinstance(fairness_weight, bool) or not isinstance(fairness_weight, int | float):
        raise ValueError(f"`fairness_weight` must be a number, got {fairness_weight!r}.")
    if not fairness_weight >= 0:
        raise ValueError(f"`fairness_weight` must be >= 0, got {fairness_weight!r}.")
    splits = _Splits(datamodule)
    rows = np.arange(len(splits.train.y))
    if train_rows is not None and train_rows < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, train_rows, replace=False))
    x = splits.train.x[rows].astype(np.float64)
    y, s = splits.train.y[rows], splits.train.s[rows]
    model = PrototypeRepresentationLearner(
        n_prototypes=n_prototypes,
        reconstruct_weight=0.01,
        target_weight=1.0,
        fairness_weight=float(fairness_weight),
        random_state=seed,
        max_iter=max_iter,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's convergence and overflow chatter
        model.fit(x, y, sensitive_features=s)
    result = _score(
        "lfr",
        float(fairness_weight),
        seed,
        splits,
        lambda split: model.predict(split.x.astype(np.float64)),
        lambda split: model.predict_proba(split.x.astype(np.float64))[:, 1],
    )
    if audit:
        from fairlit.audit import audit_representation, worst_downstream

        test = splits.test
        rows_ = audit_representation(
            "deterministic",
            (model.transform(x), y, s),
            (model.transform(test.x.astype(np.float64)), test.y, test.s),
            splits.num_groups,
            seed=seed,
        )
        for row in rows_:
            prefix = f"audit/{row['form']}/{row['classifier']}"
            result.update(
                {f"{prefix}/{k.removeprefix('test/')}": v for k, v in row.items() if "/" in k}
            )
        result.update(worst_downstream(rows_))
    return result


def run_peer(
    datamodule: Any, method: str, param: float | None, seed: int = 0, epochs: int = 10
) -> dict[str, Any]:
    """Run one peer at one setting (the sweep's unit of work).

    Args:
        datamodule: See :func:`run_logistic_regression`.
        method: One of :data:`PEER_METHODS`.
        param: The parameter named in :data:`PEER_GRIDS`: ``eps`` (``"expgrad"``,
            ``"expgrad_hgb"``), ``alpha`` (``"adversarial"``), ``tol`` (``"threshold"``,
            ``"threshold_hgb"``), ``fairness_weight`` (``"lfr"``); ``None`` for ``"logreg"`` and
            ``"hgb"``.
        seed: Seed of the run.
        epochs: Training epochs of ``"adversarial"``.

    Returns:
        The result dict of the matching ``run_*`` function.

    Raises:
        ValueError: for an unknown method, or a parameter the method does not take.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> run_peer(GermanDataModule(), "expgrad", 0.05)["param"]
        0.05
    """
    if method not in PEER_METHODS:
        raise ValueError(f"unknown peer method {method!r}; choose from {list(PEER_METHODS)}.")
    name = PEER_GRIDS[method][0]
    if name is None and param is not None:
        raise ValueError(f"{method!r} takes no parameter, got {param!r}.")
    if name is not None and param is None:
        raise ValueError(f"{method!r} needs its parameter {name!r}.")
    if method == "logreg":
        return run_logistic_regression(datamodule, seed=seed)
    if method == "hgb":
        return run_gradient_boosting(datamodule, seed=seed)
    if method == "adversarial":
        return run_adversarial_fairness(datamodule, param, epochs=epochs, seed=seed)
    if method == "lfr":
        return run_learned_fair_representations(datamodule, param, seed=seed)
    family, _, base = method.partition("_")
    if family == "expgrad":
        return run_exponentiated_gradient(datamodule, param, seed=seed, base=base or "logreg")
    return run_threshold_optimizer(datamodule, param, seed=seed, base=base or "logreg")


def run_peers(
    datamodule: Any,
    eps_grid: Sequence[float] = (0.005, 0.01, 0.02, 0.05, 0.1),
    alpha_grid: Sequence[float] = (0.1, 1.0, 10.0),
    epochs: int = 10,
    seed: int = 0,
    methods: Sequence[str] = ("logreg", "expgrad", "adversarial"),
    tol_grid: Sequence[float] = PEER_GRIDS["threshold"][1],
) -> list[dict[str, Any]]:
    """Run outside peers over their parameter grids on one datamodule's splits.

    Args:
        datamodule: See :func:`run_logistic_regression`.
        eps_grid: Demographic parity bounds for ``"expgrad"`` and ``"expgrad_hgb"``.
        alpha_grid: Adversary weights for ``"adversarial"``.
        epochs: Training epochs of ``"adversarial"``.
        seed: Seed of every run.
        methods: Names from :data:`PEER_METHODS`, run in the order of :data:`PEER_METHODS`.
        tol_grid: Tolerances for ``"threshold"`` and ``"threshold_hgb"``.

    Returns:
        One result dict per run (see the ``run_*`` functions), method by method, each over
        its grid.

    Raises:
        ValueError: for an unknown method name.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> len(run_peers(GermanDataModule(), alpha_grid=(1.0, 2.0), epochs=1,
        ...               methods=("adversarial",)))
        2
    """
    if isinstance(methods, str):
        methods = (methods,)
    unknown = [m for m in methods if m not in PEER_METHODS]
    if unknown:
        raise ValueError(f"unknown peer method(s) {unknown}; choose from {list(PEER_METHODS)}.")
    grids = {
        "eps": eps_grid,
        "alpha": alpha_grid,
        "tol": tol_grid,
        "fairness_weight": PEER_GRIDS["lfr"][1],
    }
    results: list[dict[str, Any]] = []
    for method in (m for m in PEER_METHODS if m in methods):
        name = PEER_GRIDS[method][0]
        values: Sequence[float | None] = [None] if name is None else grids[name]
        results += [run_peer(datamodule, method, v, seed=seed, epochs=epochs) for v in values]
    return results
