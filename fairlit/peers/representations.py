"""Learned fair representations (Zemel et al., 2013) with fairlearn's PrototypeRepresentationLearner."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from fairlit.peers._common import _check_seed, _score, _Splits

__all__ = ["run_learned_fair_representations"]


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
