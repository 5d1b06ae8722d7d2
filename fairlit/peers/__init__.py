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

from collections.abc import Sequence
from typing import Any

from fairlit.peers.adversarial import run_adversarial_fairness
from fairlit.peers.plain import run_gradient_boosting, run_logistic_regression
from fairlit.peers.postprocessing import run_threshold_optimizer
from fairlit.peers.reductions import run_exponentiated_gradient
from fairlit.peers.representations import run_learned_fair_representations

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
    value = float(param) if param is not None else 0.0  # read only by the methods that take one
    if method == "logreg":
        return run_logistic_regression(datamodule, seed=seed)
    if method == "hgb":
        return run_gradient_boosting(datamodule, seed=seed)
    if method == "adversarial":
        return run_adversarial_fairness(datamodule, value, epochs=epochs, seed=seed)
    if method == "lfr":
        return run_learned_fair_representations(datamodule, value, seed=seed)
    family, _, base = method.partition("_")
    if family == "expgrad":
        return run_exponentiated_gradient(datamodule, value, seed=seed, base=base or "logreg")
    return run_threshold_optimizer(datamodule, value, seed=seed, base=base or "logreg")


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
