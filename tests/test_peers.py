"""Outside peers on a DataModule's splits, checked against independent fits and fairlearn."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.preprocessing import PrototypeRepresentationLearner
from fairlearn.reductions import DemographicParity, ExponentiatedGradient
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from fairlit.data import AdultDataModule, GermanDataModule
from fairlit.peers import (
    NEEDS_SENSITIVE_AT_PREDICTION,
    PEER_GRIDS,
    PEER_METHODS,
    run_adversarial_fairness,
    run_exponentiated_gradient,
    run_gradient_boosting,
    run_learned_fair_representations,
    run_logistic_regression,
    run_peer,
    run_peers,
    run_threshold_optimizer,
)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # BLAS / OpenMP thread pools slow down many-fold on a shared, busy CPU.
    with threadpool_limits(limits=1):
        yield


METRICS = ("accuracy", "dp_difference", "eo_difference", "dp_difference_se")
RESULT_KEYS = {"method", "param", "seed"} | {f"{p}/{m}" for p in ("val", "test") for m in METRICS}


@pytest.fixture(scope="module")
def german() -> GermanDataModule:
    dm = GermanDataModule()
    dm.setup("fit")
    return dm


def arrays(dm: GermanDataModule, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dataset = {"train": dm.train_dataset, "val": dm.val_dataset}.get(split, dm.test_dataset)
    return dataset.x.numpy(), dataset.y.numpy(), dataset.s.numpy()


def check_result(result: dict, method: str, param: float | None, seed: int = 0) -> None:
    assert RESULT_KEYS <= set(result) <= RESULT_KEYS | {"val/auc", "test/auc"}
    assert result["method"] == method and result["param"] == param and result["seed"] == seed
    for key in set(result) - {"method", "param", "seed"}:
        assert isinstance(result[key], float) and math.isfinite(result[key])
        assert 0.0 <= result[key] <= 1.0


def test_logistic_regression_matches_an_independent_fit(german: GermanDataModule) -> None:
    result = run_logistic_regression(german)
    check_result(result, "logreg", None)
    train_x, train_y, _ = arrays(german, "train")
    test_x, test_y, test_s = arrays(german, "test")
    reference = LogisticRegression(max_iter=1000).fit(train_x, train_y)
    predicted = reference.predict(test_x)
    assert result["test/accuracy"] == pytest.approx(np.mean(predicted == test_y))
    assert result["test/dp_difference"] == pytest.approx(
        demographic_parity_difference(test_y, predicted, sensitive_features=test_s), abs=1e-6
    )
    assert result["test/eo_difference"] == pytest.approx(
        equalized_odds_difference(test_y, predicted, sensitive_features=test_s), abs=1e-6
    )
    assert result["test/auc"] == pytest.approx(
        roc_auc_score(test_y, reference.predict_proba(test_x)[:, 1])
    )
    assert result["test/accuracy"] > 0.65  # German: 70% good credit; the features carry signal
    # The validation metrics are those of the same fit on the validation split.
    val_x, val_y, val_s = arrays(german, "val")
    val_predicted = reference.predict(val_x)
    assert result["val/accuracy"] == pytest.approx(np.mean(val_predicted == val_y))
    rates = [val_predicted[val_s == g].mean() for g in (0, 1)]
    sizes = [(val_s == g).sum() for g in (0, 1)]
    se = np.sqrt(sum(r * (1 - r) / n for r, n in zip(rates, sizes, strict=True)))
    assert result["val/dp_difference_se"] == pytest.approx(se)
    assert result["val/dp_difference"] == pytest.approx(
        demographic_parity_difference(val_y, val_predicted, sensitive_features=val_s), abs=1e-6
    )


def test_exponentiated_gradient_dp_matches_fairlearn_on_its_predictions(
    german: GermanDataModule,
) -> None:
    result = run_exponentiated_gradient(german, eps=0.02)
    check_result(result, "expgrad", 0.02)
    train_x, train_y, train_s = arrays(german, "train")
    test_x, test_y, test_s = arrays(german, "test")
    reference = ExponentiatedGradient(
        LogisticRegression(max_iter=1000), DemographicParity(difference_bound=0.02)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(train_x, train_y, sensitive_features=train_s)
    predicted = reference.predict(test_x, random_state=0)
    assert result["test/accuracy"] == pytest.approx(np.mean(predicted == test_y))
    assert result["test/dp_difference"] == pytest.approx(
        demographic_parity_difference(test_y, predicted, sensitive_features=test_s), abs=1e-6
    )
    assert result["test/eo_difference"] == pytest.approx(
        equalized_odds_difference(test_y, predicted, sensitive_features=test_s), abs=1e-6
    )
    # Reproducible: the randomized predictions are seeded.
    assert run_exponentiated_gradient(german, eps=0.02) == result


def test_exponentiated_gradient_is_fairer_than_logistic_regression(
    german: GermanDataModule,
) -> None:
    plain = run_logistic_regression(german)
    fair = run_exponentiated_gradient(german, eps=0.01)
    assert fair["test/dp_difference"] < plain["test/dp_difference"]


def test_adversarial_fairness_runs_reproducibly_and_leaves_global_rng_alone(
    german: GermanDataModule,
) -> None:
    state = torch.get_rng_state()
    result = run_adversarial_fairness(german, alpha=1.0, epochs=2)
    assert torch.equal(torch.get_rng_state(), state)
    check_result(result, "adversarial", 1.0)
    assert "test/auc" in result and "val/auc" in result
    assert run_adversarial_fairness(german, alpha=1.0, epochs=2) == result


def test_run_peers_order_and_grids(german: GermanDataModule) -> None:
    rows = run_peers(german, eps_grid=(0.1,), alpha_grid=(1.0, 2.0), epochs=1)
    assert [(row["method"], row["param"]) for row in rows] == [
        ("logreg", None),
        ("expgrad", 0.1),
        ("adversarial", 1.0),
        ("adversarial", 2.0),
    ]
    assert run_peers(german, methods=("logreg",)) == [run_logistic_regression(german)]


def test_gradient_boosting_matches_an_independent_fit(german: GermanDataModule) -> None:
    result = run_gradient_boosting(german, seed=3)
    check_result(result, "hgb", None, seed=3)
    train_x, train_y, _ = arrays(german, "train")
    test_x, test_y, test_s = arrays(german, "test")
    reference = HistGradientBoostingClassifier(random_state=3).fit(train_x, train_y)
    predicted = reference.predict(test_x)
    assert result["test/accuracy"] == pytest.approx(np.mean(predicted == test_y))
    assert result["test/dp_difference"] == pytest.approx(
        demographic_parity_difference(test_y, predicted, sensitive_features=test_s), abs=1e-6
    )


@pytest.mark.parametrize("base", ["logreg", "hgb"])
def test_threshold_optimizer_matches_fairlearn_and_needs_s(
    german: GermanDataModule, base: str
) -> None:
    result = run_threshold_optimizer(german, tol=0.0, base=base)
    check_result(result, "threshold" if base == "logreg" else "threshold_hgb", 0.0)
    train_x, train_y, train_s = arrays(german, "train")
    test_x, test_y, test_s = arrays(german, "test")
    estimator = (
        LogisticRegression(max_iter=1000, random_state=0)
        if base == "logreg"
        else HistGradientBoostingClassifier(random_state=0)
    )
    reference = ThresholdOptimizer(
        estimator=estimator, constraints="demographic_parity", predict_method="predict_proba"
    ).fit(train_x.astype(np.float64), train_y, sensitive_features=train_s)
    predicted = reference.predict(
        test_x.astype(np.float64), sensitive_features=test_s, random_state=0
    )
    assert result["test/accuracy"] == pytest.approx(np.mean(predicted == test_y))
    assert result["test/dp_difference"] == pytest.approx(
        demographic_parity_difference(test_y, predicted, sensitive_features=test_s), abs=1e-6
    )
    assert NEEDS_SENSITIVE_AT_PREDICTION["threshold" if base == "logreg" else "threshold_hgb"]


def test_every_peer_has_a_grid_and_says_whether_it_needs_s() -> None:
    assert set(PEER_GRIDS) == set(PEER_METHODS) == set(NEEDS_SENSITIVE_AT_PREDICTION)
    for name, values in PEER_GRIDS.values():
        assert (name is None) == (len(values) == 0)
    assert len(PEER_GRIDS["expgrad"][1]) >= 10
    assert min(PEER_GRIDS["expgrad"][1]) <= 0.001 and max(PEER_GRIDS["expgrad"][1]) >= 0.1


def test_run_peer_dispatches_to_the_method(german: GermanDataModule) -> None:
    assert run_peer(german, "logreg", None) == run_logistic_regression(german)
    assert run_peer(german, "expgrad", 0.05) == run_exponentiated_gradient(german, 0.05)
    assert run_peer(german, "hgb", None) == run_gradient_boosting(german)
    assert run_peer(german, "threshold_hgb", 0.02) == run_threshold_optimizer(
        german, 0.02, base="hgb"
    )
    with pytest.raises(ValueError, match="takes no parameter"):
        run_peer(german, "logreg", 0.1)
    with pytest.raises(ValueError, match="'eps'"):
        run_peer(german, "expgrad", None)
    with pytest.raises(ValueError, match="unknown peer method"):
        run_peer(german, "svm", None)


def test_bad_arguments_name_the_problem(german: GermanDataModule) -> None:
    with pytest.raises(ValueError, match="unknown peer method"):
        run_peers(german, methods=("logreg", "svm"))
    with pytest.raises(ValueError, match="eps"):
        run_exponentiated_gradient(german, eps=0.0)
    with pytest.raises(ValueError, match="alpha"):
        run_adversarial_fairness(german, alpha=-1.0)
    with pytest.raises(ValueError, match="tol"):
        run_threshold_optimizer(german, tol=-0.1)
    with pytest.raises(ValueError, match="base estimator"):
        run_exponentiated_gradient(german, eps=0.1, base="svm")
    with pytest.raises(ValueError, match="epochs"):
        run_adversarial_fairness(german, alpha=1.0, epochs=0)


def test_learned_fair_representations_match_fairlearn_and_audit_the_code(
    german: GermanDataModule,
) -> None:
    result = run_learned_fair_representations(german, 3.0, seed=2, train_rows=120, max_iter=5)
    x, y, s = arrays(german, "train")
    rows = np.sort(np.random.default_rng(2).choice(len(y), 120, replace=False))
    reference = PrototypeRepresentationLearner(
        n_prototypes=5,
        reconstruct_weight=0.01,
        fairness_weight=3.0,
        random_state=2,
        max_iter=5,
    ).fit(x[rows].astype(np.float64), y[rows], sensitive_features=s[rows])
    tx, ty, ts = arrays(german, "test")
    predicted = reference.predict(tx.astype(np.float64))
    assert result["method"] == "lfr" and result["param"] == 3.0
    assert result["test/accuracy"] == pytest.approx(float((predicted == ty).mean()), abs=1e-12)
    assert result["test/dp_difference"] == pytest.approx(
        demographic_parity_difference(ty, predicted, sensitive_features=ts), abs=1e-9
    )
    # The audit trains fresh classifiers on the prototype assignments (5 columns).
    code = reference.transform(tx.astype(np.float64))
    fresh = LogisticRegression(max_iter=1000, random_state=2).fit(
        reference.transform(x[rows].astype(np.float64)), y[rows]
    )
    assert code.shape == (len(ty), 5)
    assert result["audit/deterministic/logreg/dp_difference"] == pytest.approx(
        demographic_parity_difference(ty, fresh.predict(code), sensitive_features=ts), abs=1e-9
    )
    worst = max(
        result[f"audit/deterministic/{c}/dp_difference"] for c in ("logreg", "mlp", "boosting")
    )
    assert result["audit/worst_dp_difference"] == worst
    with pytest.raises(ValueError, match="fairness_weight"):
        run_learned_fair_representations(german, -1.0)
    assert NEEDS_SENSITIVE_AT_PREDICTION["lfr"] is False


@pytest.mark.slow
def test_adult_reference_numbers() -> None:
    dm = AdultDataModule()
    plain = run_logistic_regression(dm)
    assert plain["test/accuracy"] >= 0.84
    fair = run_exponentiated_gradient(dm, eps=0.01)
    assert fair["test/dp_difference"] <= 0.03
    assert fair["test/accuracy"] >= 0.80
