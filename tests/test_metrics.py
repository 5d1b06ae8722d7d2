"""fairlit.metrics against independent references: fairlearn, scikit-learn and numpy."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from torchmetrics import Metric, MetricCollection

from fairlit.metrics import (
    AreaUnderDiscriminationCurve,
    DemographicParityDifference,
    DemographicParityRatio,
    EqualizedOddsDifference,
    FactorizedMutualInformation,
    GroupAUROC,
    MutualInformation,
    PlugInMutualInformation,
)
from fairlit.metrics import functional as FM

THRESHOLD = 0.5
SEEDS = (0, 1, 2)
NUM_GROUPS = (2, 3, 4, 5)


# ---------------------------------------------------------------------------------------------
# data and references
# ---------------------------------------------------------------------------------------------


def make_group_data(seed: int, num_groups: int, n: int = 600) -> dict[str, np.ndarray]:
    """Unbalanced groups; every group has both labels; some predictions exactly at 0.5."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(num_groups, 0.7)) * 0.8 + 0.2 / num_groups
    s = rng.choice(num_groups, size=n, p=weights / weights.sum())
    s[: 4 * num_groups] = np.repeat(np.arange(num_groups), 4)  # every group has members
    y = rng.integers(0, 2, size=n)
    y[: 4 * num_groups] = np.tile([0, 1, 0, 1], num_groups)  # ... with both labels
    bias = rng.uniform(-0.25, 0.25, size=num_groups)
    p = np.clip(rng.uniform(0, 1, size=n) * 0.7 + 0.3 * y + bias[s] - 0.15, 0.0, 1.0)
    p[rng.random(n) < 0.05] = 0.5  # ties at the threshold: ">=" counts them as positive
    return {"p": p.astype(np.float32), "y": y.astype(np.int64), "s": s.astype(np.int64)}


def tensors(data: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.from_numpy(data["p"]), torch.from_numpy(data["y"]), torch.from_numpy(data["s"])


def fairlearn_values(data: dict[str, np.ndarray], threshold: float = THRESHOLD) -> dict[str, float]:
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_negative_rate,
        false_positive_rate,
        true_positive_rate,
    )

    y_pred = (data["p"] >= np.float32(threshold)).astype(np.int64)
    kw: dict[str, Any] = {"sensitive_features": data["s"]}
    frame = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate, "fnr": false_negative_rate},
        y_true=data["y"],
        y_pred=y_pred,
        **kw,
    )
    gaps = frame.difference(method="between_groups")
    return {
        "dp_difference": demographic_parity_difference(data["y"], y_pred, **kw),
        "dp_ratio": demographic_parity_ratio(data["y"], y_pred, **kw),
        "eo_difference": equalized_odds_difference(data["y"], y_pred, **kw),
        "tpr": gaps["tpr"],
        "fpr": gaps["fpr"],
        "fnr": gaps["fnr"],
    }


def numpy_binary_entropy_bits(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return np.nan_to_num(h, nan=0.0)


def numpy_factorized_mi_bits(probs: np.ndarray, s: np.ndarray) -> float:
    """I_fact = sum_j [h(theta_j) - sum_g n_g/n h(theta_j^g)], written out in numpy."""
    probs = probs.astype(np.float64)
    total = numpy_binary_entropy_bits(probs.mean(0))
    conditional = np.zeros(probs.shape[1])
    for g in np.unique(s):
        rows = probs[s == g]
        conditional += len(rows) / len(probs) * numpy_binary_entropy_bits(rows.mean(0))
    return float((total - conditional).sum())


def numpy_pack(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.int64) << np.arange(codes.shape[1], dtype=np.int64)).sum(1)


def make_codes(seed: int, num_bits: int, num_groups: int, n: int = 3000) -> dict[str, np.ndarray]:
    """Sampled codes whose firing probabilities depend on the group (so the MI is not ~0)."""
    rng = np.random.default_rng(seed)
    s = rng.choice(
        num_groups, size=n, p=np.linspace(1, 2, num_groups) / np.linspace(1, 2, num_groups).sum()
    )
    base = rng.uniform(0.02, 0.25, size=(num_groups, num_bits))
    probs = np.clip(base[s] + rng.uniform(-0.02, 0.02, size=(n, num_bits)), 0, 1)
    codes = (rng.random((n, num_bits)) < probs).astype(np.float32)
    return {"codes": codes, "probs": probs.astype(np.float32), "s": s.astype(np.int64)}


def sklearn_plugin_mi_bits(codes: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import mutual_info_score

    return mutual_info_score(numpy_pack(codes), s) / math.log(2)


def numpy_audc(p: np.ndarray, s: np.ndarray, num_thresholds: int) -> float:
    """Max - min selection rate over groups at each grid threshold, trapezoid over the grid."""
    grid = np.arange(num_thresholds) / (num_thresholds - 1)
    present = np.unique(s)
    gaps = []
    for t in grid:
        rates = [np.mean(p[s == g] >= np.float32(t)) for g in present]
        gaps.append(max(rates) - min(rates))
    return float(np.trapezoid(gaps, grid))


def batches(n: int, num_batches: int, seed: int = 0) -> list[np.ndarray]:
    """Uneven contiguous index chunks."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, n), size=num_batches - 1, replace=False))
    return np.split(np.arange(n), cuts)


# ---------------------------------------------------------------------------------------------
# equality with fairlearn
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("num_groups", NUM_GROUPS)
def test_group_metrics_equal_fairlearn(seed: int, num_groups: int) -> None:
    data = make_group_data(seed, num_groups)
    expected = fairlearn_values(data)
    preds, target, groups = tensors(data)
    metrics: dict[str, Metric] = {
        "dp_difference": DemographicParityDifference(num_groups),
        "dp_ratio": DemographicParityRatio(num_groups),
        "eo_difference": EqualizedOddsDifference(num_groups),
        "tpr": EqualizedOddsDifference(num_groups, component="tpr"),
        "fpr": EqualizedOddsDifference(num_groups, component="fpr"),
        "fnr": EqualizedOddsDifference(num_groups, component="fnr"),
    }
    for name, metric in metrics.items():
        metric.update(preds, target, groups)
        assert metric.compute().item() == pytest.approx(expected[name], abs=1e-6), name
    # the one-call functions agree as well
    assert FM.demographic_parity_difference(preds, target, groups).item() == pytest.approx(
        expected["dp_difference"], abs=1e-6
    )
    assert FM.demographic_parity_ratio(preds, None, groups).item() == pytest.approx(
        expected["dp_ratio"], abs=1e-6
    )
    for component in ("max", "tpr", "fpr", "fnr"):
        key = "eo_difference" if component == "max" else component
        value = FM.equalized_odds_difference(preds, target, groups, component=component)
        assert value.item() == pytest.approx(expected[key], abs=1e-6), component


@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_other_thresholds_equal_fairlearn(threshold: float) -> None:
    data = make_group_data(5, 3)
    data["p"][:20] = np.float32(threshold)  # float32 ties at the threshold count as positive
    expected = fairlearn_values(data, threshold)
    preds, target, groups = tensors(data)
    dp = DemographicParityDifference(3, threshold=threshold)
    eo = EqualizedOddsDifference(3, threshold=threshold)
    dp.update(preds, target, groups)
    eo.update(preds, target, groups)
    assert dp.compute().item() == pytest.approx(expected["dp_difference"], abs=1e-6)
    assert eo.compute().item() == pytest.approx(expected["eo_difference"], abs=1e-6)


@pytest.mark.parametrize("seed", SEEDS)
def test_soft_demographic_parity_equals_numpy(seed: int) -> None:
    data = make_group_data(seed, 4)
    means = np.array([data["p"][data["s"] == g].astype(np.float64).mean() for g in range(4)])
    preds, target, groups = tensors(data)
    diff = DemographicParityDifference(4, soft=True)
    ratio = DemographicParityRatio(4, soft=True)
    diff.update(preds, target, groups)
    ratio.update(preds, target, groups)
    assert diff.compute().item() == pytest.approx(means.max() - means.min(), abs=1e-6)
    assert ratio.compute().item() == pytest.approx(means.min() / means.max(), abs=1e-6)


def test_hard_predictions_and_absent_groups_equal_fairlearn() -> None:
    data = make_group_data(7, 3)
    data["p"] = (data["p"] >= 0.5).astype(np.float32)
    expected = fairlearn_values(data)
    preds, target, groups = tensors(data)
    # num_groups larger than the groups present: groups 3 and 4 have no members and are ignored
    dp = DemographicParityDifference(num_groups=5)
    eo = EqualizedOddsDifference(num_groups=5)
    dp.update(preds.long(), target, groups)  # integer 0/1 predictions are accepted too
    eo.update(preds.bool(), target, groups)
    assert dp.compute().item() == pytest.approx(expected["dp_difference"], abs=1e-6)
    assert eo.compute().item() == pytest.approx(expected["eo_difference"], abs=1e-6)


# ---------------------------------------------------------------------------------------------
# mutual information
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_bits", "num_groups"), [(1, 2), (5, 3), (12, 2), (13, 4), (16, 2), (20, 3)]
)
def test_plugin_mi_equals_sklearn(num_bits: int, num_groups: int) -> None:
    data = make_codes(num_bits, num_bits, num_groups)
    metric = MutualInformation(num_groups, estimator="plugin", num_bits=num_bits)
    assert metric.dense == (num_bits <= 12)
    metric.update(torch.from_numpy(data["codes"]), torch.from_numpy(data["s"]))
    expected = sklearn_plugin_mi_bits(data["codes"], data["s"])
    assert expected > 0.01
    assert metric.compute().item() == pytest.approx(expected, abs=1e-6)


def test_plugin_mi_in_nats_and_without_num_bits() -> None:
    from sklearn.metrics import mutual_info_score

    data = make_codes(3, 9, 3)
    expected_nats = mutual_info_score(numpy_pack(data["codes"]), data["s"])
    metric = MutualInformation(3, estimator="plugin", num_bits=None, base=math.e)
    assert not metric.dense  # no width known: sparse states
    metric.update(torch.from_numpy(data["codes"]), torch.from_numpy(data["s"]))
    assert metric.compute().item() == pytest.approx(expected_nats, abs=1e-6)


@pytest.mark.parametrize(("num_bits", "num_groups"), [(1, 2), (8, 3), (20, 5)])
def test_factorized_mi_equals_numpy(num_bits: int, num_groups: int) -> None:
    data = make_codes(11, num_bits, num_groups, n=1000)
    data["probs"][:5] = 0.0  # exact 0 and 1 probabilities are fine
    data["probs"][5:10] = 1.0
    metric = MutualInformation(num_groups, estimator="factorized", num_bits=num_bits)
    metric.update(torch.from_numpy(data["probs"]), torch.from_numpy(data["s"]))
    expected = numpy_factorized_mi_bits(data["probs"], data["s"])
    assert expected > 1e-3
    assert metric.compute().item() == pytest.approx(expected, abs=1e-6)


def test_mi_hand_computed() -> None:
    # T = S exactly: 1 bit; the factorized MI of probabilities 0/1 equal to S is 1 bit too.
    s = torch.tensor([0, 1, 0, 1, 1, 0])
    plugin = MutualInformation(2, "plugin", num_bits=1)
    plugin.update(s[:, None].float(), s)
    assert plugin.compute().item() == pytest.approx(1.0, abs=1e-6)
    factorized = MutualInformation(2, "factorized", num_bits=2)
    factorized.update(torch.stack([s.float(), torch.full((6,), 0.5)], 1), s)
    assert factorized.compute().item() == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# AUDC and per-group AUROC
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("num_groups", [2, 4])
def test_audc_equals_numpy_integrated(seed: int, num_groups: int) -> None:
    data = make_group_data(seed, num_groups, n=300)
    preds, target, groups = tensors(data)
    metric = AreaUnderDiscriminationCurve(num_groups, num_thresholds=51)
    metric.update(preds, target, groups)
    expected = numpy_audc(data["p"], data["s"], 51)
    assert metric.compute().item() == pytest.approx(expected, abs=1e-6)


def test_audc_hand_computed() -> None:
    # group 0 scores 0.25 and 0.75, group 1 scores 0.5; grid 0, 0.5, 1:
    # rates at 0: (1, 1); at 0.5: (1/2, 1); at 1: (0, 0); gaps 0, 1/2, 0; trapezoid: 1/4
    metric = AreaUnderDiscriminationCurve(2, num_thresholds=3)
    metric.update(torch.tensor([0.25, 0.75, 0.5]), None, torch.tensor([0, 0, 1]))
    assert metric.compute().item() == pytest.approx(0.25, abs=1e-7)
    assert metric.curve().tolist() == pytest.approx([0.0, 0.5, 0.0])


@pytest.mark.parametrize("seed", SEEDS)
def test_group_auroc_equals_sklearn(seed: int) -> None:
    from sklearn.metrics import roc_auc_score

    data = make_group_data(seed, 3)
    # scores on the grid (multiples of 1/100): the grid AUROC is then the exact AUROC
    data["p"] = (np.round(data["p"] * 100) / 100).astype(np.float32)
    preds, target, groups = tensors(data)
    metric = GroupAUROC(3, num_thresholds=101)
    metric.update(preds, target, groups)
    expected = np.array(
        [roc_auc_score(data["y"][data["s"] == g], data["p"][data["s"] == g]) for g in range(3)]
    )
    auroc, defined = metric.per_group()
    assert defined.all()
    np.testing.assert_allclose(auroc.numpy(), expected, atol=1e-6)
    result = metric.compute()
    assert result["auroc_min"].item() == pytest.approx(expected.min(), abs=1e-6)
    assert result["auroc_max"].item() == pytest.approx(expected.max(), abs=1e-6)
    assert result["auroc_gap"].item() == pytest.approx(np.ptp(expected), abs=1e-6)


def test_group_auroc_binned_scores_equal_sklearn_on_bins() -> None:
    from sklearn.metrics import roc_auc_score

    data = make_group_data(4, 2)
    preds, target, groups = tensors(data)
    metric = GroupAUROC(2, num_thresholds=11)
    metric.update(preds, target, groups)
    grid = (np.arange(11) / 10).astype(np.float32)
    bins = np.searchsorted(grid, data["p"], side="right")
    expected = [roc_auc_score(data["y"][data["s"] == g], bins[data["s"] == g]) for g in range(2)]
    np.testing.assert_allclose(metric.per_group()[0].numpy(), expected, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# accumulation over batches == one pass
# ---------------------------------------------------------------------------------------------


def group_metric_factories(num_groups: int) -> dict[str, Any]:
    return {
        "dp_difference": lambda: DemographicParityDifference(num_groups),
        "dp_difference_soft": lambda: DemographicParityDifference(num_groups, soft=True),
        "dp_ratio": lambda: DemographicParityRatio(num_groups),
        "eo_difference": lambda: EqualizedOddsDifference(num_groups),
        "eo_fpr": lambda: EqualizedOddsDifference(num_groups, component="fpr"),
        "audc": lambda: AreaUnderDiscriminationCurve(num_groups),
        "group_auroc": lambda: GroupAUROC(num_groups),
    }


def _value(result: Any) -> np.ndarray:
    if isinstance(result, dict):
        return np.array([v.item() for _, v in sorted(result.items())])
    return np.array([result.item()])


@pytest.mark.parametrize("name", list(group_metric_factories(3)))
def test_group_metrics_accumulate_exactly(name: str) -> None:
    data = make_group_data(3, 3, n=500)
    preds, target, groups = tensors(data)
    factory = group_metric_factories(3)[name]
    single = factory()
    single.update(preds, target, groups)
    accumulated = factory()
    for k, idx in enumerate(batches(len(preds), 9)):
        idx_t = torch.from_numpy(idx)
        if k % 2:
            accumulated.update(preds[idx_t], target[idx_t], groups[idx_t])
        else:  # forward() accumulates too, and returns the batch value
            accumulated(preds[idx_t], target[idx_t], groups[idx_t])
    np.testing.assert_allclose(_value(accumulated.compute()), _value(single.compute()), atol=1e-6)
    # ...and it is not the mean of the per-batch values
    assert accumulated.update_count == 9


@pytest.mark.parametrize(
    ("estimator", "num_bits", "num_batches"),
    [("plugin", 6, 10), ("plugin", 16, 40), ("plugin", 20, 40), ("factorized", 20, 10)],
)
def test_mi_accumulates_over_epoch(estimator: str, num_bits: int, num_batches: int) -> None:
    data = make_codes(num_bits, num_bits, 3, n=4000)
    x = torch.from_numpy(data["codes"] if estimator == "plugin" else data["probs"])
    s = torch.from_numpy(data["s"])
    metric = MutualInformation(3, estimator=estimator, num_bits=num_bits)  # type: ignore[arg-type]
    batch_values = []
    for idx in batches(len(x), num_batches, seed=1):  # > 32 batches exercises the compaction
        idx_t = torch.from_numpy(idx)
        batch_values.append(metric(x[idx_t], s[idx_t]).item())
    if estimator == "plugin":
        expected = sklearn_plugin_mi_bits(data["codes"], data["s"])
        if num_bits >= 16:  # with mostly distinct wide codes, per-batch MIs are much larger
            assert np.mean(batch_values) > expected + 0.05
    else:
        expected = numpy_factorized_mi_bits(data["probs"], data["s"])
    assert metric.compute().item() == pytest.approx(expected, abs=1e-6)
    if estimator == "plugin" and not metric.dense:  # sparse (code, group) lists stay compact
        assert len(metric.keys) < num_batches


# ---------------------------------------------------------------------------------------------
# edge cases: never NaN
# ---------------------------------------------------------------------------------------------


def test_group_with_no_members_is_ignored() -> None:
    # three groups declared, group 1 never appears; rates: group 0: 2/3, group 2: 1/4
    preds = torch.tensor([0.9, 0.8, 0.1, 0.7, 0.2, 0.3, 0.1])
    target = torch.tensor([1, 0, 1, 1, 0, 1, 0])
    groups = torch.tensor([0, 0, 0, 2, 2, 2, 2])
    dp = DemographicParityDifference(3)
    ratio = DemographicParityRatio(3)
    eo = EqualizedOddsDifference(3)
    for metric in (dp, ratio, eo):
        metric.update(preds, target, groups)
    assert dp.compute().item() == pytest.approx(2 / 3 - 1 / 4)
    assert ratio.compute().item() == pytest.approx((1 / 4) / (2 / 3))
    # TPR: group 0: 1/2, group 2: 1/2 -> 0; FPR: group 0: 1/1, group 2: 0/2 -> 1
    assert eo.compute().item() == pytest.approx(1.0)


def test_group_without_positives_is_left_out_of_the_tpr_gap() -> None:
    # group 0 has no positives (TPR undefined; fairlearn would count it as 0)
    preds = torch.tensor([0.9, 0.1, 0.9, 0.2, 0.8, 0.7, 0.1])
    target = torch.tensor([0, 0, 1, 1, 0, 1, 0])
    groups = torch.tensor([0, 0, 1, 1, 1, 2, 2])
    tpr = EqualizedOddsDifference(3, component="tpr")
    fpr = EqualizedOddsDifference(3, component="fpr")
    for metric in (tpr, fpr):
        metric.update(preds, target, groups)
    assert tpr.compute().item() == pytest.approx(1.0 - 0.5)  # groups 1 (1/2) and 2 (1/1)
    assert fpr.compute().item() == pytest.approx(1.0 - 0.0)  # group 0: 1/2, 1: 1/1, 2: 0/1


def test_all_positive_and_all_negative_predictions() -> None:
    target = torch.tensor([0, 1, 0, 1, 1, 0])
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    for fill, ratio_expected in ((1.0, 1.0), (0.0, 1.0)):  # 0/0 ratio: 1.0 (fairlearn: nan)
        preds = torch.full((6,), fill)
        metrics = {
            "dp": DemographicParityDifference(3),
            "ratio": DemographicParityRatio(3),
            "eo": EqualizedOddsDifference(3),
            "audc": AreaUnderDiscriminationCurve(3),
        }
        for metric in metrics.values():
            metric.update(preds, target, groups)
        values = {k: m.compute().item() for k, m in metrics.items()}
        assert values == {"dp": 0.0, "ratio": ratio_expected, "eo": 0.0, "audc": 0.0}


def test_fairlearn_returns_nan_where_we_return_one() -> None:
    from fairlearn.metrics import demographic_parity_ratio

    y = np.array([0, 1, 0, 1])
    s = np.array([0, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(demographic_parity_ratio(y, np.zeros(4), sensitive_features=s))
    assert FM.demographic_parity_ratio(torch.zeros(4), None, torch.from_numpy(s)).item() == 1.0


def test_single_group_batch_gives_defined_values() -> None:
    preds = torch.tensor([0.9, 0.2, 0.7, 0.4])
    target = torch.tensor([1, 0, 0, 1])
    groups = torch.ones(4, dtype=torch.long)
    expected = {"dp": 0.0, "ratio": 1.0, "eo": 0.0, "audc": 0.0, "auroc_gap": 0.0, "mi": 0.0}
    metrics = {
        "dp": DemographicParityDifference(2),
        "ratio": DemographicParityRatio(2),
        "eo": EqualizedOddsDifference(2),
        "audc": AreaUnderDiscriminationCurve(2),
    }
    values = {}
    for name, metric in metrics.items():
        metric.update(preds, target, groups)
        values[name] = metric.compute().item()
    auroc = GroupAUROC(2)
    auroc.update(preds, target, groups)
    values["auroc_gap"] = auroc.compute()["auroc_gap"].item()
    assert auroc.compute()["auroc_min"].item() == pytest.approx(0.75)  # 3 of 4 pairs ranked right
    mi = MutualInformation(2, num_bits=2)
    mi.update(torch.tensor([[0, 1], [1, 1], [0, 0], [1, 0]]), groups)
    values["mi"] = mi.compute().item()
    assert values == expected


@pytest.mark.filterwarnings("ignore:.*was called before the ``update``.*")
def test_empty_metrics_are_defined() -> None:
    assert DemographicParityDifference().compute().item() == 0.0
    assert DemographicParityRatio().compute().item() == 1.0
    assert EqualizedOddsDifference().compute().item() == 0.0
    assert AreaUnderDiscriminationCurve().compute().item() == 0.0
    assert GroupAUROC().compute()["auroc_gap"].item() == 0.0
    for estimator, num_bits in (("plugin", 4), ("plugin", 20), ("factorized", 4)):
        mi = MutualInformation(estimator=estimator, num_bits=num_bits)  # type: ignore[arg-type]
        assert mi.compute().item() == 0.0
    # a batch of zero rows too
    dp = DemographicParityDifference()
    dp.update(torch.zeros(0), None, torch.zeros(0, dtype=torch.long))
    assert dp.compute().item() == 0.0


# ---------------------------------------------------------------------------------------------
# input validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preds", "target", "groups", "match"),
    [
        (
            torch.tensor([0.2, 1.2]),
            torch.tensor([0, 1]),
            torch.tensor([0, 1]),
            "`preds` .*\\[0, 1\\]",
        ),
        (torch.tensor([0.2, -0.1]), torch.tensor([0, 1]), torch.tensor([0, 1]), "`preds`"),
        (torch.tensor([0.2, float("nan")]), torch.tensor([0, 1]), torch.tensor([0, 1]), "NaN"),
        (
            torch.tensor([0.2, 0.4]),
            torch.tensor([0, 1]),
            torch.tensor([0, 2]),
            "`groups`.*\\[0, 2\\)",
        ),
        (torch.tensor([0.2, 0.4]), torch.tensor([0, 1]), torch.tensor([-1, 0]), "`groups`"),
        (torch.tensor([0.2, 0.4]), torch.tensor([0, 1]), torch.tensor([0.0, 1.0]), "integer"),
        (torch.tensor([0.2, 0.4]), torch.tensor([0, 1]), torch.tensor([0, 1, 1]), "same shape"),
        (
            torch.tensor([0.2, 0.4]),
            torch.tensor([0, 1, 1]),
            torch.tensor([0, 1]),
            "`target`.*shape",
        ),
        (torch.tensor([0.2, 0.4]), torch.tensor([0, 2]), torch.tensor([0, 1]), "`target`.*0/1"),
    ],
)
def test_invalid_inputs_raise(preds: Any, target: Any, groups: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EqualizedOddsDifference(num_groups=2).update(preds, target, groups)


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="num_groups"):
        DemographicParityDifference(num_groups=0)
    with pytest.raises(ValueError, match="threshold"):
        DemographicParityDifference(threshold=1.5)
    with pytest.raises(ValueError, match="component"):
        EqualizedOddsDifference(component="fdr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_thresholds"):
        AreaUnderDiscriminationCurve(num_thresholds=1)
    with pytest.raises(ValueError, match="estimator"):
        MutualInformation(estimator="joint")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_bits"):
        MutualInformation(estimator="factorized")
    with pytest.raises(ValueError, match="`target` is required"):
        EqualizedOddsDifference().update(torch.tensor([0.5]), None, torch.tensor([0]))  # type: ignore[arg-type]


def test_invalid_mi_inputs_raise() -> None:
    plugin = MutualInformation(2, "plugin", num_bits=3)
    with pytest.raises(ValueError, match="num_bits=3"):
        plugin.update(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`codes`.*0/1"):
        plugin.update(torch.full((4, 3), 0.3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="`groups` must have shape"):
        plugin.update(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`groups`.*\[0, 2\)"):
        plugin.update(torch.zeros(4, 3), torch.full((4,), 2))
    factorized = MutualInformation(2, "factorized", num_bits=3)
    with pytest.raises(ValueError, match="`probs`"):
        factorized.update(torch.full((4, 3), 1.5), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="2-D"):
        factorized.update(torch.zeros(4), torch.zeros(4, dtype=torch.long))


# ---------------------------------------------------------------------------------------------
# torchmetrics integration
# ---------------------------------------------------------------------------------------------


def test_metric_collection_and_attributes() -> None:
    data = make_group_data(0, 2)
    preds, target, groups = tensors(data)
    collection = MetricCollection(
        {
            "dp_difference": DemographicParityDifference(2),
            "dp_ratio": DemographicParityRatio(2),
            "eo_difference": EqualizedOddsDifference(2),
            "audc": AreaUnderDiscriminationCurve(2),
            "auroc": GroupAUROC(2),
        },
        prefix="val/",
    )
    collection.update(preds, target, groups)
    result = collection.compute()
    expected = fairlearn_values(data)
    assert result["val/dp_difference"].item() == pytest.approx(expected["dp_difference"], abs=1e-6)
    assert result["val/eo_difference"].item() == pytest.approx(expected["eo_difference"], abs=1e-6)
    assert {"val/auroc_min", "val/auroc_max", "val/auroc_gap"} <= set(result)
    assert all(torch.isfinite(v).all() for v in result.values())
    for cls, higher in (
        (DemographicParityDifference, False),
        (DemographicParityRatio, True),
        (EqualizedOddsDifference, False),
        (AreaUnderDiscriminationCurve, False),
        (PlugInMutualInformation, False),
        (FactorizedMutualInformation, False),
    ):
        assert cls.higher_is_better is higher
        assert cls.is_differentiable is False
        assert cls.full_state_update is False
    # kwargs are forwarded to torchmetrics.Metric
    assert DemographicParityDifference(sync_on_compute=False).sync_on_compute is False
    # count states are sum-reduced
    dp = DemographicParityDifference(4)
    assert dp._reductions["count"].__name__ == "dim_zero_sum"
    assert dp.count.shape == (4,)


# ---------------------------------------------------------------------------------------------
# DDP: two gloo ranks holding halves give the single-process value
# ---------------------------------------------------------------------------------------------


def ddp_metric_factories() -> dict[str, Any]:
    return {
        "dp_difference": lambda: DemographicParityDifference(3),
        "dp_ratio": lambda: DemographicParityRatio(3),
        "eo_difference": lambda: EqualizedOddsDifference(3),
        "audc": lambda: AreaUnderDiscriminationCurve(3),
        "auroc": lambda: GroupAUROC(3),
        "mi_plugin_dense": lambda: MutualInformation(3, "plugin", num_bits=8),
        "mi_plugin_sparse": lambda: MutualInformation(3, "plugin", num_bits=16),
        "mi_plugin_rank0_only": lambda: MutualInformation(3, "plugin", num_bits=16),
        "mi_factorized": lambda: MutualInformation(3, "factorized", num_bits=16),
    }


def _ddp_values(rank: int, world_size: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """One rank's synced value of each metric, the ranks holding uneven parts of the rows."""
    values = {}
    for name, factory in ddp_metric_factories().items():
        metric = factory()
        args = inputs[name]
        split = int(0.45 * len(args[0]))  # uneven halves
        if name == "mi_plugin_rank0_only":
            split = len(args[0])  # rank 1 sees no data at all
        part = slice(0, split) if rank == 0 else slice(split, None)
        if len(args[0][part]):
            metric.update(*(a[part] for a in args))
        values[name] = _value(metric.compute())
    return values


@pytest.mark.ddp
def test_ddp_two_ranks_equal_single_process(gloo_ranks) -> None:
    data = make_group_data(1, 3, n=400)
    preds, target, groups = tensors(data)
    codes = make_codes(16, 16, 3, n=400)
    c16, p16, s16 = (torch.from_numpy(codes[k]) for k in ("codes", "probs", "s"))
    c8 = c16[:, :8].contiguous()
    inputs: dict[str, Any] = {}
    for name in ddp_metric_factories():
        if name == "mi_plugin_dense":
            inputs[name] = (c8, s16)
        elif name.startswith("mi_plugin"):
            inputs[name] = (c16, s16)
        elif name == "mi_factorized":
            inputs[name] = (p16, s16)
        else:
            inputs[name] = (preds, target, groups)
    expected = {}
    for name, factory in ddp_metric_factories().items():
        metric = factory()
        metric.update(*inputs[name])
        expected[name] = _value(metric.compute())
    # and the single-process values are the references' values
    assert expected["dp_difference"][0] == pytest.approx(
        fairlearn_values(data)["dp_difference"], abs=1e-6
    )
    assert expected["mi_plugin_sparse"][0] == pytest.approx(
        sklearn_plugin_mi_bits(codes["codes"], codes["s"]), abs=1e-6
    )
    for rank, values in enumerate(gloo_ranks(_ddp_values, inputs)):
        for name in expected:
            np.testing.assert_allclose(
                values[name], expected[name], atol=1e-6, err_msg=f"{name} rank {rank}"
            )
