"""Sample weights: weighted rates equal fairlearn's with sample_weight, weighted MI equals
brute force on the weighted empirical distribution, and integer weights equal repeated rows."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from fairlit.data import AdultDataModule, CSVDataModule, load_adult
from fairlit.data.resources import DataFileError
from fairlit.evaluation import Evaluator
from fairlit.information import (
    factorized_mutual_information,
    joint_mutual_information,
    plugin_mutual_information,
)
from fairlit.losses import penalty, task_loss
from fairlit.metrics import (
    DemographicParityDifference,
    EqualizedOddsDifference,
    FactorizedMutualInformation,
    PlugInMutualInformation,
)
from fairlit.mmd import MMDRegularizer
from fairlit.nn import EncoderOutput
from fairlit.regularizers import AdversarialRegularizer, MutualInformationRegularizer


def _rows(seed: int, n: int = 240, groups: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "p": rng.random(n).round(3),
        "y": rng.integers(0, 2, n),
        "s": rng.choice(groups, n, p=np.linspace(1, 3, groups) / np.linspace(1, 3, groups).sum()),
        "w": rng.integers(1, 5, n).astype(np.float64) * rng.choice([0.5, 1.0, 2.5], n),
        "probs": rng.random((n, 3)),
    }


@pytest.mark.parametrize("seed", range(3))
def test_weighted_rates_and_gaps_equal_fairlearn_with_sample_weight(seed):
    d = _rows(seed, groups=2 + seed * 2)
    y_pred = (d["p"] >= 0.5).astype(int)
    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=d["y"],
        y_pred=y_pred,
        sensitive_features=d["s"],
        sample_params={k: {"sample_weight": d["w"]} for k in ("sel", "tpr", "fpr")},
    )
    preds, target, groups, w = (torch.tensor(d[k]) for k in ("p", "y", "s", "w"))
    eo = EqualizedOddsDifference(int(d["s"].max()) + 1, undefined="zero")
    dp = DemographicParityDifference(int(d["s"].max()) + 1)
    for rows in np.array_split(np.arange(len(preds)), 4):  # accumulated over batches
        eo.update(preds[rows], target[rows], groups[rows], weights=w[rows])
        dp.update(preds[rows], None, groups[rows], weights=w[rows])
    rates = eo.group_rates()
    for g, row in frame.by_group.iterrows():
        assert float(rates["selection_rate"][g]) == pytest.approx(row["sel"], abs=1e-6)
        assert float(rates["tpr"][g]) == pytest.approx(row["tpr"], abs=1e-6)
        assert float(rates["fpr"][g]) == pytest.approx(row["fpr"], abs=1e-6)
    expected_dp = demographic_parity_difference(
        d["y"], y_pred, sensitive_features=d["s"], sample_weight=d["w"]
    )
    expected_eo = equalized_odds_difference(
        d["y"], y_pred, sensitive_features=d["s"], sample_weight=d["w"]
    )
    assert float(dp.compute()) == pytest.approx(expected_dp, abs=1e-6)
    assert float(eo.compute()) == pytest.approx(expected_eo, abs=1e-6)


def _weighted_gaps_on_a_rank(rank, world_size, preds, target, groups, w):
    dp, eo = DemographicParityDifference(3), EqualizedOddsDifference(3, undefined="zero")
    rows = slice(0, 100) if rank == 0 else slice(100, None)  # uneven parts
    dp.update(preds[rows], None, groups[rows], weights=w[rows])
    eo.update(preds[rows], target[rows], groups[rows], weights=w[rows])
    return float(dp.compute()), float(eo.compute())


@pytest.mark.ddp
def test_weighted_gaps_on_two_ranks_equal_fairlearn(gloo_ranks):
    d = _rows(11)
    y_pred = (d["p"] >= 0.5).astype(int)
    expected = (
        demographic_parity_difference(d["y"], y_pred, sensitive_features=d["s"], sample_weight=d["w"]),
        equalized_odds_difference(d["y"], y_pred, sensitive_features=d["s"], sample_weight=d["w"]),
    )  # fmt: skip
    args = [torch.tensor(d[k]) for k in ("p", "y", "s", "w")]
    for values in gloo_ranks(_weighted_gaps_on_a_rank, *args):
        assert values == pytest.approx(expected, abs=1e-6)


def _brute_force_mi(probs: np.ndarray, s: np.ndarray, w: np.ndarray, joint: bool) -> float:
    """I(T; S) in bits of the weighted empirical distribution, by enumerating every code."""
    groups = np.unique(s)
    if not joint:  # the sum over neurons of I(T_j; S)
        return sum(_brute_force_mi(probs[:, [j]], s, w, True) for j in range(probs.shape[1]))
    total = w.sum()
    mi = 0.0
    for code in itertools.product((0, 1), repeat=probs.shape[1]):
        likelihood = np.prod(np.where(np.array(code) == 1, probs, 1 - probs), axis=1)
        p_t = (w * likelihood).sum() / total
        for g in groups:
            member = s == g
            p_tg = (w[member] * likelihood[member]).sum() / total
            p_g = w[member].sum() / total
            if p_tg > 0:
                mi += p_tg * math.log2(p_tg / (p_t * p_g))
    return mi


@pytest.mark.parametrize("joint", [False, True], ids=["factorized", "joint"])
def test_weighted_mutual_information_equals_brute_force(joint):
    d = _rows(3, n=60)
    probs, s, w = torch.tensor(d["probs"]), torch.tensor(d["s"]), torch.tensor(d["w"])
    fn = joint_mutual_information if joint else factorized_mutual_information
    value = float(fn(probs, s, 3, weights=w))
    assert value == pytest.approx(_brute_force_mi(d["probs"], d["s"], d["w"], joint), abs=1e-9)
    assert value != pytest.approx(float(fn(probs, s, 3)), abs=1e-4)  # the weights matter


@pytest.mark.parametrize("joint", [False, True], ids=["factorized", "joint"])
def test_integer_weights_equal_repeated_rows_with_gradients(joint):
    d = _rows(5, n=40)
    counts = torch.tensor(d["w"]).round().clamp(min=1)
    s = torch.tensor(d["s"])
    probs = torch.tensor(d["probs"], requires_grad=True)
    repeated = probs.repeat_interleave(counts.long(), dim=0)
    fn = joint_mutual_information if joint else factorized_mutual_information
    weighted = fn(probs, s, 3, weights=counts)
    expected = fn(repeated, s.repeat_interleave(counts.long()), 3)
    torch.testing.assert_close(weighted, expected)
    (grad_w,) = torch.autograd.grad(weighted, probs)
    (grad_r,) = torch.autograd.grad(expected, probs)
    torch.testing.assert_close(grad_w, grad_r)


def test_weighted_plugin_mi_metrics_and_loss_equal_repeated_rows():
    d = _rows(8, n=80)
    counts = torch.tensor(d["w"]).round().clamp(min=1)
    repeat = counts.long()
    codes = (torch.tensor(d["probs"]) > 0.5).double()
    s, p, y = torch.tensor(d["s"]), torch.tensor(d["p"]), torch.tensor(d["y"])
    plugin = float(plugin_mutual_information(codes, s, 3, weights=counts))
    expected = float(plugin_mutual_information(codes.repeat_interleave(repeat, 0),
                                               s.repeat_interleave(repeat), 3))  # fmt: skip
    assert plugin == pytest.approx(expected, abs=1e-12)
    for dense in (8, 1):  # the dense table and the sparse (code, group) lists
        metric = PlugInMutualInformation(3, num_bits=3, dense_max_bits=dense)
        metric.update(codes, s, counts)
        assert float(metric.compute()) == pytest.approx(expected, abs=1e-6)
    factorized = FactorizedMutualInformation(3, num_bits=3)
    factorized.update(torch.tensor(d["probs"]), s, counts)
    assert float(factorized.compute()) == pytest.approx(
        float(factorized_mutual_information(torch.tensor(d["probs"]), s, 3, weights=counts)),
        abs=1e-6,
    )
    logits = torch.logit(p.clamp(0.01, 0.99)).float()
    torch.testing.assert_close(
        task_loss(logits, y, 2, counts.float()),
        task_loss(logits.repeat_interleave(repeat), y.repeat_interleave(repeat), 2),
    )
    # Weighted accuracy: scikit-learn's with sample_weight.
    evaluator = Evaluator(2, 3, 3)
    evaluator.update("val", p.float(), y, s, codes.float(), torch.tensor(d["probs"]).float(),
                     weights=counts.float())  # fmt: skip
    values = evaluator.compute("val", warn=False)
    assert float(values["val/accuracy"]) == pytest.approx(
        accuracy_score(d["y"], d["p"] >= 0.5, sample_weight=counts.numpy()), abs=1e-6
    )


def test_a_weighted_run_needs_a_regularizer_that_takes_weights():
    output = EncoderOutput(torch.rand(6, 4), torch.rand(6, 4))
    s, w = torch.tensor([0, 0, 1, 1, 0, 1]), torch.tensor([1.0, 2.0, 1.0, 3.0, 1.0, 1.0])
    for regularizer in (MutualInformationRegularizer(4, 2), AdversarialRegularizer(4, 2)):
        assert torch.isfinite(penalty(regularizer, output, s, w))
    with pytest.raises(ValueError, match="MMDRegularizer does not take sample weights"):
        penalty(MMDRegularizer(4, 2), output, s, w)
    # Without weights the regularizer is called exactly as before.
    reg = MutualInformationRegularizer(4, 2)
    torch.testing.assert_close(penalty(reg, output, s), reg(output, s), rtol=0, atol=0)


def test_weight_columns_reach_the_batches(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "sex": ["f", "m"] * 20,
                          "y": rng.integers(0, 2, 40), "wt": rng.integers(1, 4, 40)})  # fmt: skip
    frame.to_csv(tmp_path / "t.csv", index=False)
    dm = CSVDataModule(tmp_path / "t.csv", "y", "sex", weight="wt")
    assert dm.num_features == 1  # the weight is not a feature
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"x", "y", "s", "w"} and batch["w"].dtype == torch.float32
    assert set(batch["w"].tolist()) <= {1.0, 2.0, 3.0}
    frame.assign(wt=frame["wt"] * -1).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataFileError, match="weight column 'wt' must hold finite numbers >= 0"):
        CSVDataModule(tmp_path / "bad.csv", "y", "sex", weight="wt")
    adult = AdultDataModule(weighted=True)
    adult.setup()
    fnlwgt = load_adult()["fnlwgt"].to_numpy(np.float32)
    test_rows = adult.test_dataset.w.numpy()
    np.testing.assert_array_equal(test_rows, fnlwgt[-len(test_rows) :])  # the official test file
    unweighted = AdultDataModule()
    unweighted.setup()
    assert unweighted.test_dataset.w is None and "w" not in unweighted.test_dataset[0:2]
