"""The injected evaluator: default metrics, extra metrics from Python and from a config."""

from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import torch
from sklearn.metrics import recall_score
from torchmetrics.classification import BinaryRecall

from fairlit.cli import main
from fairlit.data import GermanDataModule
from fairlit.evaluation import Evaluator
from fairlit.models import FairRepresentationModel
from fairlit.nn import FullPrecisionEncoder, HybridBinaryEncoder

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_an_extra_metric_is_logged_and_matches_sklearn(tiny_trainer):
    torch.manual_seed(0)
    dm = GermanDataModule()
    encoder = HybridBinaryEncoder(dm.num_features, 8, inference="threshold")
    model = FairRepresentationModel(
        encoder, evaluator=partial(Evaluator, extra_metrics={"recall": BinaryRecall()})
    )
    trainer = tiny_trainer()
    trainer.fit(model, datamodule=dm)
    [result] = trainer.validate(model, datamodule=dm, verbose=False)
    model.eval()
    with torch.no_grad():
        y_prob = model.predictive_proba(dm.val_dataset.x)
    expected = recall_score(dm.val_dataset.y.numpy(), (y_prob >= 0.5).numpy())
    assert result["val/recall"] == pytest.approx(expected, abs=1e-6)
    assert {"val/accuracy", "val/dp_difference", "val/mi_bits"} <= set(result)


def test_extra_metric_from_a_config_file(tmp_path):
    extra = tmp_path / "recall.yaml"
    extra.write_text(
        "model:\n"
        "  init_args:\n"
        "    evaluator:\n"
        "      class_path: fairlit.evaluation.Evaluator\n"
        "      init_args:\n"
        "        extra_metrics:\n"
        "          recall:\n"
        "            class_path: torchmetrics.classification.BinaryRecall\n"
    )
    main(
        [
            "validate",
            "--config", str(CONFIGS / "german.yaml"),
            "--config", str(extra),
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
        ]
    )  # fmt: skip
    [metrics] = list(tmp_path.glob("lightning_logs/german/version_0/metrics.csv"))
    frame = pd.read_csv(metrics)
    assert "val/recall" in frame and frame["val/recall"].notna().any()
    assert "val/accuracy" in frame


def test_deterministic_encoder_logs_no_mutual_information():
    ev = Evaluator(2, 2, 3)
    ev.update(
        "test",
        torch.tensor([0.2, 0.8]),
        torch.tensor([0, 1]),
        torch.tensor([0, 1]),
        code=torch.zeros(2, 3),
        probs=None,
    )
    assert not any("mi_" in key for key in ev.compute("test"))
    model = FairRepresentationModel(FullPrecisionEncoder(4, out_features=3))
    assert isinstance(model.evaluator, Evaluator)


def test_bad_extra_metrics_name_the_key():
    with pytest.raises(ValueError, match=r"extra_metrics\['recall'\] must be a torchmetrics"):
        Evaluator(2, 2, 3, extra_metrics={"recall": recall_score})
    with pytest.raises(ValueError, match=r"extra_metrics\['accuracy'\]: the name is taken"):
        Evaluator(2, 2, 3, extra_metrics={"accuracy": BinaryRecall()})


def test_one_decision_rule_for_accuracy_and_the_group_metrics():
    # P(y=1) = 0.5 is a positive prediction for every metric (it was a negative for accuracy
    # and a positive for ΔEO: accuracy 0.5 with ΔEO 0.0, which no single classifier gives).
    ev = Evaluator(2, 2, 3)
    y_prob = torch.tensor([0.5, 0.5, 0.9, 0.1])
    y, s = torch.tensor([1, 1, 1, 0]), torch.tensor([0, 0, 1, 1])
    ev.update("val", y_prob, y, s)
    values = ev.compute("val")
    hard = (y_prob >= 0.5).long()
    assert float(values["val/accuracy"]) == float((hard == y).float().mean()) == 1.0
    assert float(values["val/eo_difference"]) == 0.0
