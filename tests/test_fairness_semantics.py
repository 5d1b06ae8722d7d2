"""Fairness semantics: intersectional groups, undefined rates, one decision rule.

References are fairlearn's MetricFrame (with several sensitive columns) and hand counts.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from fairlit.cli import main
from fairlit.data import CSVDataModule, GermanDataModule
from fairlit.evaluation import Evaluator
from fairlit.metrics import DemographicParityDifference, EqualizedOddsDifference
from fairlit.metrics.functional import per_group_rates


def _intersectional(seed: int, n: int = 300) -> pd.DataFrame:
    """Random, unbalanced rows with two sensitive columns (2 x 3 values, some rare)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n, p=[0.3, 0.7]),
            "race": rng.choice(["A", "B", "C"], n, p=[0.6, 0.35, 0.05]),
            "y": rng.integers(0, 2, n),
            "p": rng.random(n).round(3),
        }
    )


def _fairlearn_frame(frame: pd.DataFrame) -> MetricFrame:
    return MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=frame["y"],
        y_pred=(frame["p"] >= 0.5).astype(int),
        sensitive_features=frame[["sex", "race"]],
    )


@pytest.mark.parametrize("seed", range(4))
def test_intersectional_groups_match_fairlearn_metricframe(tmp_path, seed):
    frame = _intersectional(seed)
    frame.assign(x=np.arange(len(frame))).to_csv(tmp_path / "t.csv", index=False)
    dm = CSVDataModule(tmp_path / "t.csv", "y", ["sex", "race"], drop=["p"])
    # The groups are the observed combinations, sorted by their values.
    observed = sorted(set(zip(frame["sex"], frame["race"], strict=True)))
    assert dm.group_names == tuple(f"{a}|{b}" for a, b in observed)
    groups = torch.from_numpy(dm.load_table().s)
    preds, target = torch.tensor(frame["p"].to_numpy()), torch.tensor(frame["y"].to_numpy())
    eo = EqualizedOddsDifference(dm.num_groups, undefined="zero")
    dp = DemographicParityDifference(dm.num_groups)
    for rows in np.array_split(np.arange(len(frame)), 5):  # batch-accumulated
        eo.update(preds[rows], target[rows], groups[rows])
        dp.update(preds[rows], None, groups[rows])
    reference = _fairlearn_frame(frame)
    rates = eo.group_rates()
    by_group = reference.by_group
    for g, (sex, race) in enumerate(observed):
        row = by_group.loc[(sex, race)]
        assert float(rates["selection_rate"][g]) == pytest.approx(row["sel"], abs=1e-6)
        assert float(rates["tpr"][g]) == pytest.approx(row["tpr"], abs=1e-6)
        assert float(rates["fpr"][g]) == pytest.approx(row["fpr"], abs=1e-6)
    assert float(dp.compute()) == pytest.approx(reference.difference()["sel"], abs=1e-6)
    expected = equalized_odds_difference(
        frame["y"], (frame["p"] >= 0.5).astype(int), sensitive_features=frame[["sex", "race"]]
    )
    assert float(eo.compute()) == pytest.approx(expected, abs=1e-6)


def _two_rank_rates(rank: int, world_size: int, preds, target, groups, num_groups) -> dict:
    metric = EqualizedOddsDifference(num_groups, undefined="zero")
    rows = slice(0, 37) if rank == 0 else slice(37, None)  # uneven parts
    metric.update(preds[rows], target[rows], groups[rows])
    value = metric.compute()
    with metric.sync_context():
        rates = metric.group_rates()
    return {"value": value, **rates}


@pytest.mark.ddp
def test_intersectional_rates_on_two_ranks_match_fairlearn(tmp_path, gloo_ranks):
    frame = _intersectional(7, n=120)
    frame.assign(x=0.0).to_csv(tmp_path / "t.csv", index=False)
    dm = CSVDataModule(tmp_path / "t.csv", "y", ["sex", "race"], drop=["p"])
    groups = torch.from_numpy(dm.load_table().s)
    preds, target = torch.tensor(frame["p"].to_numpy()), torch.tensor(frame["y"].to_numpy())
    reference = _fairlearn_frame(frame).by_group
    expected = equalized_odds_difference(
        frame["y"], (frame["p"] >= 0.5).astype(int), sensitive_features=frame[["sex", "race"]]
    )
    for result in gloo_ranks(_two_rank_rates, preds, target, groups, dm.num_groups):
        assert float(result["value"]) == pytest.approx(expected, abs=1e-6)
        for g, name in enumerate(dm.group_names):
            row = reference.loc[tuple(name.split("|"))]
            assert float(result["tpr"][g]) == pytest.approx(row["tpr"], abs=1e-6)
            assert float(result["fpr"][g]) == pytest.approx(row["fpr"], abs=1e-6)


def test_an_undefined_rate_is_reported_and_zero_equals_fairlearn():
    # The case: group 1 has no positives, so its TPR is undefined.
    preds = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    target = torch.tensor([1, 1, 0, 0, 0, 0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1])
    excluded = EqualizedOddsDifference(2)
    excluded.update(preds, target, groups)
    assert float(excluded.compute()) == 0.0  # TPR gap over group 0 alone; FPR gap 0
    rates = excluded.group_rates()
    assert rates["tpr_defined"].tolist() == [True, False]
    assert rates["fpr_defined"].tolist() == [True, True]
    zero = EqualizedOddsDifference(2, undefined="zero")
    zero.update(preds, target, groups)
    fairlearn_value = equalized_odds_difference(
        target.numpy(), preds.numpy().astype(int), sensitive_features=groups.numpy()
    )
    assert fairlearn_value == 1.0 and float(zero.compute()) == pytest.approx(1.0)
    # The evaluator reports it: a count logged next to the gaps, and one warning naming it.
    evaluator = Evaluator(2, 2, 4, mutual_information=False)
    evaluator.update("val", preds, target, groups)
    with pytest.warns(UserWarning, match=r"\['Female\|Black'\] left out") as caught:
        values = evaluator.compute("val", group_names=("Male|White", "Female|Black"))
    assert len([w for w in caught if "left out" in str(w.message)]) == 1
    assert float(values["val/groups_left_out"]) == 1.0
    # With every rate defined there is neither the count nor a warning.
    evaluator.reset("val")
    evaluator.update("val", preds, target, torch.tensor([0, 1, 0, 1, 0, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = evaluator.compute("val", group_names=("a", "b"))
    assert "val/groups_left_out" not in values


def test_per_group_rates_by_hand():
    # Group 0: 4 rows, 2 positives (1 predicted), 2 negatives (1 predicted); group 1: no rows.
    rates = per_group_rates(*torch.tensor([[4.0, 0.0], [2.0, 0.0], [2.0, 0.0], [1.0, 0.0]]))
    assert rates["selection_rate"].tolist() == [0.5, 0.0]
    assert rates["selection_rate_defined"].tolist() == [True, False]
    assert rates["tpr"].tolist() == [0.5, 0.0] and rates["fpr"].tolist() == [0.5, 0.0]


def test_the_model_threshold_is_the_one_decision_rule(tmp_path, tiny_trainer):
    from fairlit.models import FairRepresentationModel
    from fairlit.nn import FullPrecisionEncoder
    from fairlit.prediction import PredictionWriter

    dm = GermanDataModule()
    model = FairRepresentationModel(FullPrecisionEncoder(dm.num_features), gamma=0.0, threshold=0.6)
    writer = PredictionWriter(output_dir=str(tmp_path))
    trainer = tiny_trainer(max_epochs=3, callbacks=[writer])
    trainer.fit(model, datamodule=dm)
    [tested] = trainer.test(model, datamodule=dm, verbose=False)
    trainer.predict(model, datamodule=dm)
    frame = pd.read_csv(tmp_path / "predictions.csv")
    assert (frame["y_pred"] == (frame["y_prob"] >= 0.6)).all()
    assert 0 < frame["y_pred"].sum() < len(frame)  # the rule is not vacuous here
    assert frame["y_prob"].between(0.5, 0.6, inclusive="left").any()  # 0.5 would differ
    # Accuracy and ΔDP of the test metrics are those of the predicted labels (hand count).
    assert tested["test/accuracy"] == pytest.approx((frame["y_pred"] == frame["y"]).mean())
    rates = frame.groupby("s")["y_pred"].mean()
    assert tested["test/dp_difference"] == pytest.approx(rates.max() - rates.min(), abs=1e-6)
    with pytest.raises(ValueError, match="threshold"):
        Evaluator(2, 2, 4).set_threshold(1.0)


def test_an_intersectional_adult_run_through_the_cli_names_its_groups(tmp_path, capsys, quiet_args):
    from pathlib import Path

    config = str(Path(__file__).resolve().parents[1] / "configs" / "adult.yaml")
    main(["fit", "--config", config, "--data.init_args.sensitive=[sex, race]",
          "--trainer.max_epochs=1", "--trainer.limit_train_batches=5", *quiet_args])  # fmt: skip
    run = tmp_path / "lightning_logs" / "adult" / "version_0"
    [ckpt] = run.glob("checkpoints/*.ckpt")
    main(["predict", "--config", str(run / "config.yaml"), f"--ckpt_path={ckpt}", *quiet_args])
    [line] = [t for t in capsys.readouterr().out.splitlines() if "fairlit: predictions:" in t]
    frame = pd.read_csv(line.split("fairlit: predictions:", 1)[1].strip())
    names = ["Female|non-White", "Female|White", "Male|non-White", "Male|White"]
    assert sorted(frame["group"].unique()) == sorted(names)
    assert all(names[s] == g for s, g in zip(frame["s"], frame["group"], strict=True))
    hparams = torch.load(ckpt, weights_only=False)["hyper_parameters"]
    assert hparams["num_groups"] == 4


def test_the_report_names_each_group_and_says_undefined(tmp_path, tiny_trainer, capsys):
    from fairlit.callbacks import FairnessReport
    from fairlit.models import FairRepresentationModel
    from fairlit.nn import HybridBinaryEncoder

    rng = np.random.default_rng(0)
    rows = 120
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "group": ["apple"] * 45 + ["banana"] * 45 + ["cherry"] * 30,
            "y": [*rng.integers(0, 2, 90), *([0] * 30)],  # cherry: no positives at all
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    dm = CSVDataModule(tmp_path / "t.csv", "y", "group")
    model = FairRepresentationModel(HybridBinaryEncoder(dm.num_features, 4), num_groups=3)
    trainer = tiny_trainer(callbacks=[FairnessReport(filename=None)])
    trainer.fit(model, datamodule=dm)
    with pytest.warns(UserWarning, match=r"\['cherry'\] left out of a gap"):
        trainer.test(model, datamodule=dm, verbose=False)
    out = capsys.readouterr().out
    table = out[out.index("group ") :].splitlines()
    assert table[1].startswith("apple") and table[2].startswith("banana")
    assert table[3].startswith("cherry") and table[3].split()[3] == "undefined"  # its TPR
    assert "*" in out.splitlines()[[i for i, line in enumerate(out.splitlines())
                                    if line.startswith("test ")][-1]]  # fmt: skip
