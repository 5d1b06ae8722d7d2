r"""Downstream audit: fresh classifiers trained on a frozen representation, in every form.

Fair representation learning hands the code on to others, who train their own
classifiers on it. :func:`downstream_audit` checks what such a user would get:
it encodes the training and test splits with the frozen encoder in each form a
user could be given, trains fresh scikit-learn classifiers for ``y`` on the
training code and reports their test accuracy and demographic parity
difference (ΔDP), and, with the same classifier types trained for ``s``, how
well the sensitive attribute can be recovered from the code (test AUC, 0.5 =
chance).

The forms (:data:`FORMS`) for a stochastic binary encoder:

* ``"sample"``: one seeded Bernoulli sample per row (what the paper's probes see);
* ``"threshold"``: the deterministic code, ``p >= 0.5``;
* ``"probability"``: the firing probabilities ``p`` themselves.

An encoder without a stochastic layer (e.g. :class:`~fairlit.nn.FullPrecisionEncoder`) has
one form, ``"deterministic"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from fairlit.metrics.functional import demographic_parity_difference
from fairlit.nn.layers import Inference
from fairlit.probes import _auc, _scores, encode_dataset

__all__ = [
    "FORMS",
    "audit_representation",
    "default_audit_classifiers",
    "downstream_audit",
    "worst_downstream",
]

#: The forms of a stochastic binary code that a user could be handed.
FORMS: tuple[str, ...] = ("sample", "threshold", "probability")


def default_audit_classifiers(seed: int = 0) -> dict[str, BaseEstimator]:
    """Logistic regression, a small MLP and gradient boosting, seeded.

    Returns:
        ``{"logreg": LogisticRegression(max_iter=1000), "mlp": MLPClassifier((64,),
        max_iter=300, early_stopping=True), "boosting": HistGradientBoostingClassifier()}``,
        all with ``random_state=seed``.

    Example:
        >>> sorted(default_audit_classifiers())
        ['boosting', 'logreg', 'mlp']
    """
    return {
        "logreg": LogisticRegression(max_iter=1000, random_state=seed),
        "mlp": MLPClassifier((64,), max_iter=300, early_stopping=True, random_state=seed),
        "boosting": HistGradientBoostingClassifier(random_state=seed),
    }


def _forms_of(model: Any) -> tuple[str, ...]:
    encoder = getattr(model, "encoder", model)
    return FORMS if hasattr(encoder, "inference") else ("deterministic",)


def downstream_audit(
    model: Any,
    datamodule: Any,
    seed: int = 0,
    classifiers: Mapping[str, BaseEstimator] | None = None,
    train_rows: int | None = None,
    forms: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Train fresh classifiers on the frozen code in each form; score them on the test split.

    For each form, the training and test splits are encoded with
    :func:`fairlit.probes.encode_dataset` (sampling seeded by ``seed``). For each
    classifier, a clone is fitted for ``y`` on the training code (optionally a seeded
    subsample of ``train_rows`` rows) and its hard test predictions give the test accuracy
    and ΔDP (:func:`fairlit.metrics.functional.demographic_parity_difference`, the model's
    own formula); a second clone is fitted for ``s`` and its test AUC (one-vs-rest macro
    average for more than two groups) says how much of ``s`` the code still carries.

    Args:
        model: A trained :class:`~fairlit.models.FairRepresentationModel` (or any module with
            an ``encoder``).
        datamodule: Its DataModule, set up or not (``train_dataset``, ``test_dataset`` with
            ``x``, ``y``, ``s``), with a binary target.
        seed: Seed of the sampled code, the subsample and the classifiers.
        classifiers: Name to unfitted scikit-learn classifier (default:
            :func:`default_audit_classifiers`).
        train_rows: Fit on this many training rows (``None``: all).
        forms: Forms to audit (default: every form the encoder has).

    Returns:
        One dict per form and classifier: ``form``, ``classifier``, ``test/accuracy``,
        ``test/dp_difference`` and ``test/s_auc`` (floats).

    Raises:
        ValueError: for a form the encoder does not have, or a non-binary target.

    Example:
        >>> from fairlit.data import GermanDataModule
        >>> from fairlit.models import FairRepresentationModel
        >>> from fairlit.nn import HybridBinaryEncoder
        >>> dm = GermanDataModule()
        >>> model = FairRepresentationModel(HybridBinaryEncoder(dm.num_features, out_features=4))
        >>> rows = downstream_audit(model, dm, classifiers={"logreg": LogisticRegression()})
        >>> [(r["form"], r["classifier"]) for r in rows]
        [('sample', 'logreg'), ('threshold', 'logreg'), ('probability', 'logreg')]
    """
    available = _forms_of(model)
    forms = tuple(forms or available)
    unknown = [f for f in forms if f not in available]
    if unknown:
        raise ValueError(
            f"form(s) {unknown} not available for this encoder; it has {list(available)}."
        )
    datamodule.setup("fit")
    datamodule.setup("test")
    train, test = datamodule.train_dataset, datamodule.test_dataset
    y, s = train.y.numpy(), train.s.numpy()
    test_y, test_s = test.y.numpy(), test.s.numpy()
    if not (np.isin(y, (0, 1)).all() and np.isin(test_y, (0, 1)).all()):
        raise ValueError("the downstream audit needs a binary 0/1 target.")
    rows = np.arange(len(y))
    if train_rows is not None and train_rows < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, train_rows, replace=False))
    num_groups = max(
        int(getattr(datamodule, "num_groups", 0) or 0), int(max(s.max(), test_s.max())) + 1
    )
    results = []
    for form in forms:
        inference = cast(Inference, "sample" if form == "deterministic" else form)
        code = encode_dataset(model, train, inference=inference, seed=seed).numpy()[rows]
        test_code = encode_dataset(model, test, inference=inference, seed=seed + 1).numpy()
        results += audit_representation(
            form,
            (code, y[rows], s[rows]),
            (test_code, test_y, test_s),
            num_groups,
            classifiers=classifiers,
            seed=seed,
        )
    return results


def audit_representation(
    form: str,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    num_groups: int,
    classifiers: Mapping[str, BaseEstimator] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Train fresh classifiers on one given representation and score them on the test rows.

    The core of :func:`downstream_audit`, for a representation computed elsewhere (e.g. the
    prototype assignments of fairlearn's ``PrototypeRepresentationLearner``).

    Args:
        form: The name recorded in each result row.
        train: ``(code [N, D] float, y [N] int 0/1, s [N] int)`` to fit on.
        test: ``(code [M, D], y [M], s [M])`` to score on.
        num_groups: Number of sensitive groups (for ΔDP).
        classifiers: Name to unfitted scikit-learn classifier (default:
            :func:`default_audit_classifiers`).
        seed: Seed of the default classifiers.

    Returns:
        One dict per classifier: ``form``, ``classifier``, ``test/accuracy``,
        ``test/dp_difference`` (fairlit's ΔDP of the hard predictions) and ``test/s_auc``
        (test AUC of a clone fitted for ``s``; 0.5 if the training rows hold one group).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = rng.integers(0, 2, 200)
        >>> code = np.c_[s + rng.normal(0, 0.1, 200), rng.normal(size=200)]
        >>> y = (code[:, 1] > 0).astype(int)
        >>> [row] = audit_representation("leaky", (code, y, s), (code, y, s), 2,
        ...                              {"logreg": LogisticRegression()})
        >>> row["test/s_auc"] > 0.99  # s is written in the first column
        True
    """
    code, y, s = train
    test_code, test_y, test_s = test
    results = []
    for name, template in dict(classifiers or default_audit_classifiers(seed)).items():
        for_y = clone(template).fit(code, y)
        predicted = for_y.predict(test_code).astype(np.float32)
        dp = demographic_parity_difference(
            torch.from_numpy(predicted),
            torch.from_numpy(np.asarray(test_y)),
            torch.from_numpy(np.asarray(test_s)),
            num_groups,
        )
        groups = np.unique(s)
        if len(groups) < 2:
            s_auc = 0.5
        else:
            for_s = clone(template).fit(code, s)
            s_auc = _auc(test_s, _scores(for_s, test_code, groups), groups)
        results.append(
            {
                "form": form,
                "classifier": name,
                "test/accuracy": float((predicted == test_y).mean()),
                "test/dp_difference": float(dp),
                "test/s_auc": float(s_auc),
            }
        )
    return results


def worst_downstream(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The largest downstream ΔDP and ``s`` AUC per form, and over all forms.

    Args:
        rows: The output of :func:`downstream_audit`.

    Returns:
        ``audit/<form>/worst_dp_difference``, ``audit/<form>/worst_s_auc`` per form, and
        ``audit/worst_dp_difference``, ``audit/worst_s_auc`` over every form.

    Example:
        >>> worst_downstream([
        ...     {"form": "sample", "test/dp_difference": 0.02, "test/s_auc": 0.51},
        ...     {"form": "threshold", "test/dp_difference": 0.09, "test/s_auc": 0.6}])["audit/worst_dp_difference"]
        0.09
    """
    out: dict[str, float] = {}
    for row in rows:
        for key, metric in (
            ("worst_dp_difference", "test/dp_difference"),
            ("worst_s_auc", "test/s_auc"),
        ):
            for name in (f"audit/{row['form']}/{key}", f"audit/{key}"):
                out[name] = max(out.get(name, -np.inf), float(row[metric]))
    return out
