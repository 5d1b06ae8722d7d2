"""Downstream audit: fresh classifiers on the frozen code, checked against sklearn + fairlearn."""

import numpy as np
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fairlit.audit import downstream_audit, worst_downstream
from fairlit.data import GermanDataModule
from fairlit.models import FairRepresentationModel
from fairlit.nn import FullPrecisionEncoder, HybridBinaryEncoder


@pytest.fixture(scope="module")
def german() -> GermanDataModule:
    dm = GermanDataModule()
    dm.setup("fit")
    dm.setup("test")
    return dm


def test_threshold_form_matches_an_independent_fit(german):
    torch.manual_seed(0)
    model = FairRepresentationModel(HybridBinaryEncoder(german.num_features, out_features=6))
    rows = downstream_audit(model, german, classifiers={"logreg": LogisticRegression()})
    assert [(r["form"], r["classifier"]) for r in rows] == [
        ("sample", "logreg"),
        ("threshold", "logreg"),
        ("probability", "logreg"),
    ]
    # Independent reference: the deterministic code from the encoder's firing probabilities.
    model.eval()
    with torch.no_grad():
        train_p = model.encoder(german.train_dataset.x).probs.numpy()
        test_p = model.encoder(german.test_dataset.x).probs.numpy()
    train_code, test_code = (train_p >= 0.5).astype(np.float32), (test_p >= 0.5).astype(np.float32)
    y, s = german.train_dataset.y.numpy(), german.train_dataset.s.numpy()
    test_y, test_s = german.test_dataset.y.numpy(), german.test_dataset.s.numpy()
    predicted = LogisticRegression().fit(train_code, y).predict(test_code)
    threshold = rows[1]
    assert threshold["test/accuracy"] == pytest.approx(np.mean(predicted == test_y))
    assert threshold["test/dp_difference"] == pytest.approx(
        demographic_parity_difference(test_y, predicted, sensitive_features=test_s), abs=1e-6
    )
    s_scores = LogisticRegression().fit(train_code, s).predict_proba(test_code)[:, 1]
    assert threshold["test/s_auc"] == pytest.approx(roc_auc_score(test_s, s_scores))
    # The probability form sees the probabilities themselves.
    predicted = LogisticRegression().fit(train_p, y).predict(test_p)
    assert rows[2]["test/accuracy"] == pytest.approx(np.mean(predicted == test_y))


def test_deterministic_encoder_has_one_form_and_bad_forms_are_named(german):
    model = FairRepresentationModel(FullPrecisionEncoder(german.num_features, out_features=4))
    rows = downstream_audit(model, german, classifiers={"logreg": LogisticRegression()})
    assert [r["form"] for r in rows] == ["deterministic"]
    with pytest.raises(ValueError, match="threshold"):
        downstream_audit(model, german, forms=("threshold",))


def test_worst_downstream_takes_the_maximum_per_form_and_overall():
    rows = [
        {"form": "sample", "classifier": "a", "test/dp_difference": 0.02, "test/s_auc": 0.55},
        {"form": "sample", "classifier": "b", "test/dp_difference": 0.04, "test/s_auc": 0.52},
        {"form": "threshold", "classifier": "a", "test/dp_difference": 0.03, "test/s_auc": 0.7},
    ]
    worst = worst_downstream(rows)
    assert worst["audit/sample/worst_dp_difference"] == 0.04
    assert worst["audit/threshold/worst_s_auc"] == 0.7
    assert worst["audit/worst_dp_difference"] == 0.04 and worst["audit/worst_s_auc"] == 0.7
