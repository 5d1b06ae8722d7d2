import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fairlit.sweep as sweep
from fairlit.cli import main

GERMAN = str(Path(__file__).resolve().parents[1] / "configs" / "german.yaml")


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        df = pd.DataFrame(
            {"dp_difference": rng.random(15).round(2), "accuracy": rng.random(15).round(2)}
        )
        front = sweep.pareto_front(df)
        dominated = set()
        for i, j in itertools.permutations(df.index, 2):
            a, b = df.loc[i], df.loc[j]
            better_or_equal = b.dp_difference <= a.dp_difference and b.accuracy >= a.accuracy
            strictly = b.dp_difference < a.dp_difference or b.accuracy > a.accuracy
            if better_or_equal and strictly:
                dominated.add(i)
        expected = df.drop(index=list(dominated)).drop_duplicates()
        assert sorted(map(tuple, front[["dp_difference", "accuracy"]].to_numpy())) == sorted(
            map(tuple, expected[["dp_difference", "accuracy"]].to_numpy())
        )


def test_area_under_front_hand_computed():
    # best accuracy 0 for d < 0.05, 0.6 for 0.05 <= d < 0.1, 0.8 above; limit 0.2:
    # (0.05 * 0 + 0.05 * 0.6 + 0.1 * 0.8) / 0.2 = 0.55
    front = pd.DataFrame({"dp_difference": [0.05, 0.1], "accuracy": [0.6, 0.8]})
    assert sweep.area_under_front(front) == pytest.approx(0.55, abs=2e-3)


def test_budget_table_averages_seeds_then_picks_best_within_budget():
    rows = [
        # method a, param 1: mean acc 0.8, mean dp 0.04; param 2: mean acc 0.85, mean dp 0.08
        ("a", "1", 0, 0.79, 0.03, 0.6),
        ("a", "1", 1, 0.81, 0.05, 0.7),
        ("a", "2", 0, 0.85, 0.07, 0.8),
        ("a", "2", 1, 0.85, 0.09, 0.9),
    ]
    df = pd.DataFrame(
        rows, columns=["method", "param", "seed", "accuracy", "dp_difference", "probe/best_s_auc"]
    )
    df["status"] = "ok"
    table = sweep.budget_table(df).set_index("method")
    assert pd.isna(table.loc["a", "acc@<=0.02"])
    assert table.loc["a", "acc@<=0.05"] == 0.8 and table.loc["a", "param@<=0.05"] == "1"
    assert table.loc["a", "s_auc@<=0.05"] == 0.65
    assert table.loc["a", "acc@<=0.1"] == 0.85 and table.loc["a", "s_auc@<=0.1"] == 0.85
    assert table.loc["a", "seeds"] == 2


def test_sweep_runs_resumes_and_survives_a_failing_point(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sw"
    args = [
        "sweep",
        "--config",
        GERMAN,
        "--out",
        str(out),
        "--gammas",
        "0,0.5",
        "--seeds",
        "0",
        "--trainer.max_epochs=2",
        "--probe_rows",
        "200",
    ]
    real = sweep._train_point

    def flaky(configs, gamma, seed, overrides, probe, probe_rows=None):
        if gamma == 0.5:
            raise RuntimeError("simulated failure")
        return real(configs, gamma, seed, overrides, probe, probe_rows)

    monkeypatch.setattr(sweep, "_train_point", flaky)
    main(args)
    results = pd.read_csv(out / "results.csv")
    assert results.set_index("param")["status"].to_dict() == {0.0: "ok", 0.5: "failed"}
    assert "simulated failure" in results.set_index("param").loc[0.5, "error"]
    assert (
        "FAILED sqnn gamma=0.5 seed=0: RuntimeError: simulated failure" in capsys.readouterr().out
    )
    ok = results.set_index("param").loc[0.0]
    assert 0 <= ok["accuracy"] <= 1 and 0.5 <= ok["probe/best_y_auc"] <= 1
    for name in ("fronts.csv", "summary.md", "front.png"):
        assert (out / name).exists()

    calls = []
    monkeypatch.setattr(sweep, "_train_point", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    main(args)
    assert calls == [0.5]  # the finished point is not re-run, the failed one is
    results = pd.read_csv(out / "results.csv")
    assert set(results["status"]) == {"ok"} and len(results) == 2
