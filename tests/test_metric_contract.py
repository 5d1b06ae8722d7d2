"""The contract every fairlit torchmetrics Metric keeps (a shared tester, after torchmetrics').

For each metric: the value of a batch split unevenly equals the value of the whole batch, it
survives pickling and ``clone()`` (which is independent of the original), its default
``state_dict`` is empty (states are not saved in checkpoints), float16 and float64 inputs
give the float32 value, ``reset`` returns it to its empty value, and the value equals the
independent reference given here (fairlearn, scikit-learn or a hand count).
"""

from __future__ import annotations

import itertools
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.metrics import mutual_info_score
from torchmetrics import Metric

from fairlit import metrics as fm

ROWS = 97
SPLITS = (0, 1, 40, 97)  # batches of 1, 39 and 57 rows


def _data(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    groups = torch.randint(0, 3, (ROWS,), generator=gen)
    target = torch.randint(0, 2, (ROWS,), generator=gen)
    # Probabilities on a 1/8 grid: exact in float16, so every dtype thresholds identically.
    preds = torch.randint(0, 9, (ROWS,), generator=gen).float() / 8
    probs = torch.randint(0, 9, (ROWS, 4), generator=gen).float() / 8
    codes = torch.randint(0, 2, (ROWS, 4), generator=gen).float()
    classes = torch.randint(0, 9, (ROWS, 3), generator=gen).float() / 8
    return {"groups": groups, "target": target, "preds": preds, "probs": probs,
            "codes": codes, "classes": classes}  # fmt: skip


def _packed(codes: torch.Tensor) -> list[int]:
    return [int("".join(str(int(b)) for b in row), 2) for row in codes]


@dataclass
class Case:
    make: Callable[[], Metric]
    inputs: Callable[[dict[str, torch.Tensor], slice], tuple]
    float_input: int  # index of the floating input whose dtype is varied
    reference: Callable[[dict[str, torch.Tensor]], float] | None


def _binary(d, rows):
    return d["preds"][rows], d["target"][rows], d["groups"][rows]


CASES = {
    "dp_difference": Case(
        lambda: fm.DemographicParityDifference(num_groups=3),
        _binary,
        0,
        lambda d: demographic_parity_difference(
            d["target"].numpy(),
            (d["preds"] >= 0.5).int().numpy(),
            sensitive_features=d["groups"].numpy(),
        ),
    ),
    "dp_ratio": Case(lambda: fm.DemographicParityRatio(num_groups=3), _binary, 0, None),
    "eo_difference": Case(
        lambda: fm.EqualizedOddsDifference(num_groups=3),
        _binary,
        0,
        lambda d: equalized_odds_difference(
            d["target"].numpy(),
            (d["preds"] >= 0.5).int().numpy(),
            sensitive_features=d["groups"].numpy(),
        ),
    ),
    "audc": Case(lambda: fm.AreaUnderDiscriminationCurve(num_groups=3), _binary, 0, None),
    "group_auroc": Case(lambda: fm.GroupAUROC(num_groups=3), _binary, 0, None),
    "multiclass_dp": Case(
        lambda: fm.MulticlassDemographicParityDifference(num_classes=3, num_groups=3),
        lambda d, rows: (d["classes"][rows], None, d["groups"][rows]),
        0,
        None,
    ),
    "plugin_mi": Case(
        lambda: fm.PlugInMutualInformation(num_groups=3, num_bits=4),
        lambda d, rows: (d["codes"][rows], d["groups"][rows]),
        0,
        lambda d: mutual_info_score(_packed(d["codes"]), d["groups"].numpy()) / math.log(2),
    ),
    "plugin_mi_sparse": Case(
        lambda: fm.PlugInMutualInformation(num_groups=3, num_bits=4, dense_max_bits=2),
        lambda d, rows: (d["codes"][rows], d["groups"][rows]),
        0,
        lambda d: mutual_info_score(_packed(d["codes"]), d["groups"].numpy()) / math.log(2),
    ),
    "factorized_mi": Case(
        lambda: fm.FactorizedMutualInformation(num_groups=3, num_bits=4),
        lambda d, rows: (d["probs"][rows], d["groups"][rows]),
        0,
        None,
    ),
}


def _value(metric: Metric) -> torch.Tensor | dict:
    return metric.compute()


def _close(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(a[key], b[key])
    else:
        torch.testing.assert_close(a, b)


def test_every_metric_is_covered():
    public = {
        name
        for name in fm.__all__
        if isinstance(getattr(fm, name), type) and issubclass(getattr(fm, name), Metric)
    }
    covered = {type(case.make()).__name__ for case in CASES.values()}
    assert public == covered


@pytest.mark.parametrize("name", CASES)
def test_metric_contract(name):
    case, data = CASES[name], _data()
    whole = case.make()
    whole.update(*case.inputs(data, slice(None)))
    expected = _value(whole)
    if case.reference is not None:
        assert float(expected) == pytest.approx(case.reference(data), abs=1e-6)
    # Uneven batches, with a one-row batch.
    split = case.make()
    for start, stop in itertools.pairwise(SPLITS):
        split.update(*case.inputs(data, slice(start, stop)))
    _close(_value(split), expected)
    # Pickle and clone; the clone is independent of the original.
    _close(pickle.loads(pickle.dumps(split)).compute(), expected)
    twin = split.clone()
    twin.update(*case.inputs(_data(seed=1), slice(None)))
    _close(split.compute(), expected)
    # States are not part of a checkpoint.
    assert split.state_dict() == {}
    # float16 and float64 inputs give the float32 value.
    for dtype in (torch.float16, torch.float64):
        metric = case.make()
        inputs = list(case.inputs(data, slice(None)))
        inputs[case.float_input] = inputs[case.float_input].to(dtype)
        metric.update(*inputs)
        _close(metric.compute(), expected)
    # reset forgets everything: an empty metric has its documented empty value, never NaN.
    split.reset()
    empty = split.compute()
    values = empty.values() if isinstance(empty, dict) else [empty]
    assert all(bool(torch.isfinite(v).all()) for v in values)
    assert np.isfinite(float(case.make().compute()) if not isinstance(empty, dict) else 0.0)


# The split rows of each two-rank run: uneven halves, and rank 1 holding no row at all.
RANK_SPLITS = {"uneven": 40, "rank1_empty": ROWS}


def _synced_values(rank: int, world_size: int) -> dict[tuple[str, str], object]:
    """Each metric's synced value on this rank, for every split in ``RANK_SPLITS``."""
    data, values = _data(), {}
    for name, case in CASES.items():
        for label, split in RANK_SPLITS.items():
            metric = case.make()
            rows = slice(0, split) if rank == 0 else slice(split, ROWS)
            if rows.stop > rows.start:
                metric.update(*case.inputs(data, rows))
            values[name, label] = metric.compute()
    return values


@pytest.mark.ddp
def test_metric_contract_on_two_ranks(gloo_ranks):
    """Two gloo ranks, with uneven parts or with one rank empty, give the one-process value."""
    data = _data()
    for rank, values in enumerate(gloo_ranks(_synced_values)):
        for name, case in CASES.items():
            whole = case.make()
            whole.update(*case.inputs(data, slice(None)))
            for label in RANK_SPLITS:
                try:
                    _close(values[name, label], whole.compute())
                except AssertionError as error:
                    raise AssertionError(f"{name}, {label}, rank {rank}: {error}") from None
