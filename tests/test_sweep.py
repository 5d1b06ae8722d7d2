"""fairlit sweep on Optuna: selection on validation, studies, resume, workers, reports."""

import itertools
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

import fairlit.sweep.pool as pool_module
import fairlit.sweep.study as study_module
import fairlit.sweep.worker as worker_module
from fairlit.entry import main
from fairlit.sweep import (
    area_under_front,
    budget_kept,
    choose_at_budget,
    mean_interval,
    pareto_front,
)
from fairlit.sweep.command import build_parser
from fairlit.sweep.report import budget_summary
from fairlit.sweep.space import load_search_space
from fairlit.sweep.trials import SweepUsageError

ROOT = Path(__file__).resolve().parents[1]
GERMAN = str(ROOT / "configs" / "german.yaml")
TINY = ["--trainer.max_epochs=1", "--no_progress", "--no_probe"]


def _sweep(out: Path, *extra: str) -> None:
    main(["sweep", "--config", GERMAN, "--out", str(out), *extra])


def _trials(out: Path, study: str = "sqnn@german") -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{out / 'studies.db'}"
    return optuna.load_study(study_name=study, storage=storage).get_trials()


def _points(trials, state=optuna.trial.TrialState.COMPLETE) -> list[tuple[float, int]]:
    return sorted((t.params.get("gamma"), t.params["seed"]) for t in trials if t.state == state)


# --- pure functions ------------------------------------------------------------------------


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        df = pd.DataFrame(
            {"dp_difference": rng.random(15).round(2), "accuracy": rng.random(15).round(2)}
        )
        front = pareto_front(df)
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
    assert area_under_front(front) == pytest.approx(0.55, abs=2e-3)


def test_mean_interval_and_budget_kept_on_a_hand_made_table():
    # mean 0.82, sample sd 0.02, sem 0.02 / sqrt(3) = 0.0115470; t(0.975, 2) = 4.302653
    mean, half = mean_interval([0.80, 0.82, 0.84])
    assert mean == pytest.approx(0.82)
    assert half == pytest.approx(4.302653 * 0.0115470, rel=1e-5)
    # two values: t(0.975, 1) = 12.706205; sd = 0.05 / sqrt(2), so sem = sd / sqrt(2) = 0.025
    assert mean_interval([0.1, 0.15])[1] == pytest.approx(12.706205 * 0.025, rel=1e-5)
    assert math.isnan(mean_interval([0.5])[1])
    assert budget_kept([0.01, 0.02, 0.021, 0.05], 0.02) == 0.5
    with pytest.raises(ValueError):
        mean_interval([])


def _table(rows):
    columns = [
        "method",
        "param",
        "seed",
        "val/accuracy",
        "val/dp_difference",
        "test/accuracy",
        "test/dp_difference",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["state"] = "complete"
    frame["needs_s"] = False
    return frame


def test_selection_reads_validation_only_even_when_test_disagrees():
    # Validation prefers gamma 0.5 at budget 0.05; test would prefer gamma 0.9 (higher test
    # accuracy, lower test ΔDP). The chosen setting must be 0.5, and its test numbers reported.
    results = _table(
        [
            ("sqnn", 0.5, 0, 0.85, 0.04, 0.80, 0.06),
            ("sqnn", 0.5, 1, 0.83, 0.02, 0.78, 0.04),
            ("sqnn", 0.9, 0, 0.80, 0.01, 0.90, 0.00),
            ("sqnn", 0.9, 1, 0.80, 0.01, 0.90, 0.01),
            ("sqnn", 0.1, 0, 0.90, 0.20, 0.95, 0.01),
            ("sqnn", 0.1, 1, 0.90, 0.20, 0.95, 0.01),
        ]
    )
    summary = budget_summary(results, budgets=(0.05, 0.005)).set_index("budget")
    row = summary.loc[0.05]
    assert row["chosen"] == 0.5
    assert row["test_accuracy"] == pytest.approx(0.79)
    assert row["test_dp_difference"] == pytest.approx(0.05)
    assert row["budget_kept"] == 0.5  # test ΔDP 0.06 and 0.04 against 0.05
    assert row["test_accuracy_half"] == pytest.approx(12.706205 * 0.01, rel=1e-5)
    assert pd.isna(summary.loc[0.005]["chosen"])  # nothing within 0.005 on validation
    # With the validation ΔDP's standard error, a budget below twice it is flagged.
    from fairlit.sweep.report import _summary_markdown

    results["val/dp_difference_se"] = 0.03
    table = budget_summary(results, budgets=(0.05, 0.1))
    assert table["val_dp_se"].tolist() == pytest.approx([0.03, 0.03])
    text = _summary_markdown(table, pd.DataFrame({"method": ["sqnn"]}), {"sqnn": 0.8})
    assert "| 0.05 (< 2 SE) |" in text and "| 0.1 |" in text and "val ΔDP SE" in text
    assert "left a group out" not in text
    # A seed whose test gap left a group out marks the chosen setting's ΔDP cell.
    results["test/groups_left_out"] = [1.0, None, None, None, None, None]
    marked = _summary_markdown(
        budget_summary(results, budgets=(0.05,)), pd.DataFrame({"method": ["sqnn"]}), {}
    )
    [row] = [line for line in marked.splitlines() if line.startswith("| sqnn")]
    assert row.split(" | ")[6].endswith(" *") and "left a group out" in marked
    validation = results[["method", "param", "seed", "val/accuracy", "val/dp_difference"]]
    with pytest.raises(ValueError, match="validation"):
        choose_at_budget(results.rename(columns={"val/accuracy": "accuracy"}), 0.05)
    test_only = results[["method", "param", "seed", "test/accuracy", "test/dp_difference"]]
    renamed = test_only.rename(columns=lambda c: c.removeprefix("test/"))
    renamed.attrs["split"] = "test"
    with pytest.raises(ValueError, match="validation"):
        choose_at_budget(renamed, 0.05)
    chosen = choose_at_budget(validation.rename(columns=lambda c: c.removeprefix("val/")), 0.05)
    assert chosen["param"].tolist() == [0.5]


def test_search_space_file_errors_are_one_line(tmp_path):
    good = tmp_path / "space.yaml"
    good.write_text("model.init_args.gamma: {low: 0.0, high: 1.0}\nb: {choices: [[64], [128]]}\n")
    assert load_search_space(good)["b"] == {"choices": [[64], [128]]}
    cases = {
        "model.init_args.gama: {low: 0, high: 1}\n": "did you mean 'model.init_args.gamma'",
        "model.init_args.gamma: {low: 1, high: 0}\n": "must be below",
        "model.init_args.gamma: {lo: 0, high: 1}\n": "did you mean 'low'",
        "model.init_args.gamma: {low: 0.0, high: 1.0, log: true}\n": "log scale",
        "model.init_args.gamma: 0.5\n": "expected",
    }
    for text, expected in cases.items():
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(SweepUsageError, match=expected) as err:
            load_search_space(bad, config_keys=["model.init_args.gamma"])
        assert "\n" not in str(err.value) and str(bad) in str(err.value)


def test_sweep_help_describes_every_option():
    parser = build_parser()
    for action in parser._actions:
        assert action.help, f"{action.option_strings} has no description"
    assert parser.allow_abbrev is False


# --- the command ---------------------------------------------------------------------------


def test_grid_sweep_records_complete_trials_resumes_extends_and_refuses_changes(tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", "--config", GERMAN, "--out", str(out), "--gammas", "0,0.5", "--seeds", "0"]
    main([*args, "--trainer.max_epochs=1", "--no_progress", "--probe_rows", "100"])
    trials = _trials(out)
    assert _points(trials) == [(0.0, 0), (0.5, 0)]
    attrs = trials[0].user_attrs
    for key in (
        "val/dp_difference_se",
        "config",
        "seed",
        "run_dir",
        "wall_time_s",
        "status",
        "val/accuracy",
        "val/dp_difference",
        "test/accuracy",
        "test/dp_difference",
        "test/mi_factorized_bits",
        "probe/best_s_auc",
    ):
        assert key in attrs, key
    assert attrs["status"] == "ok" and "max_epochs: 1" in attrs["config"]
    assert attrs["val/accuracy"] == trials[0].values[0]  # the objective is validation
    run = Path(attrs["run_dir"])
    assert {"config.yaml", "metrics.csv", "model.ckpt"} <= {p.name for p in run.iterdir()}
    written = {n: (out / n).read_bytes() for n in ("results.csv", "fronts.csv", "summary.md")}
    assert (out / "front.png").stat().st_size > 0

    # --report from the storage alone rebuilds the same files.
    for name in written:
        (out / name).unlink()
    main(["sweep", "--report", "--out", str(out)])
    assert {n: (out / n).read_bytes() for n in written} == written

    # The same command again trains nothing; a wider grid trains only the new point.
    main([*args, "--trainer.max_epochs=1", "--no_progress", "--probe_rows", "100"])
    assert len(_trials(out)) == 2
    _sweep(
        out,
        "--gammas",
        "0,0.5,0.9",
        "--seeds",
        "0",
        "--trainer.max_epochs=1",
        "--no_progress",
        "--probe_rows",
        "100",
    )
    trials = _trials(out)
    assert len(trials) == 3 and _points(trials) == [(0.0, 0), (0.5, 0), (0.9, 0)]
    results = pd.read_csv(out / "results.csv")
    assert sorted(results["param"]) == [0.0, 0.5, 0.9]

    # Other settings are refused with one line naming the key and both values.
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--trainer.max_epochs=2", "--no_progress", "--probe_rows", "100"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "trainer.max_epochs is 1 there, 2 here" in err and "--study" in err
    assert len(_trials(out)) == 3


def test_failed_point_is_recorded_and_rerun(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sw"
    args = ["sweep", "--config", GERMAN, "--out", str(out), "--gammas", "0,0.5", *TINY]
    real = worker_module.train_point

    def flaky(configs, overrides, params, seed, **kwargs):
        if params["model.init_args.gamma"] == 0.5:
            raise RuntimeError("simulated failure")
        return real(configs, overrides, params, seed, **kwargs)

    monkeypatch.setattr(worker_module, "train_point", flaky)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "failed trial 1 (sqnn gamma=0.5 seed=0): RuntimeError: simulated failure" in captured.out
    assert "1 failed" in captured.out and "rerun the same command" in captured.out
    results = pd.read_csv(out / "results.csv").set_index("param")
    assert results.loc[0.5, "state"] == "fail" and "simulated failure" in results.loc[0.5, "error"]

    calls = []
    monkeypatch.setattr(
        worker_module, "train_point", lambda *a, **k: calls.append(a[2]) or real(*a, **k)
    )
    main(args)
    assert calls == [{"model.init_args.gamma": 0.5}]  # only the failed point runs again
    assert _points(_trials(out)) == [(0.0, 0), (0.5, 0)]


def test_bad_key_prints_one_line_and_leaves_no_folder(tmp_path):
    out = tmp_path / "never"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "fairlit",
            "sweep",
            "--config",
            GERMAN,
            "--out",
            str(out),
            "--model.init_args.gama=0.3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "'gama'" in lines[0] and "did you mean 'gamma'" in lines[0]
    assert not out.exists()


def _wait_for_running(db: Path, timeout: float = 240.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=30) as con:
                    running = con.execute(
                        "SELECT datetime_start FROM trials WHERE state = 'RUNNING'"
                    ).fetchall()
            except sqlite3.OperationalError:
                running = []
            if running:
                time.sleep(1.5)  # inside the training loop by now
                return
        time.sleep(0.2)
    raise AssertionError("no trial started running")


def test_sigterm_fails_the_running_trial_and_a_rerun_finishes_each_point_once(tmp_path):
    out = tmp_path / "sw"
    args = [
        "sweep",
        "--config",
        GERMAN,
        "--out",
        str(out),
        "--gammas",
        "0,0.5,0.9",
        "--no_progress",
        "--no_probe",
        "--data.init_args.batch_size=16",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "fairlit", *args, "--trainer.max_epochs=40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
    )
    try:
        _wait_for_running(out / "studies.db")
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, err
    trials = _trials(out)
    killed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(killed) == 1 and killed[0].user_attrs["status"] == "interrupted"
    assert "SIGTERM" in killed[0].user_attrs["error"]
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]

    main([*args, "--trainer.max_epochs=40"])
    trials = _trials(out)
    assert _points(trials) == [(0.0, 0), (0.5, 0), (0.9, 0)]  # each point complete exactly once
    point = (killed[0].params["gamma"], killed[0].params["seed"])
    assert _points(trials, optuna.trial.TrialState.FAIL) == [point]


def test_two_workers_complete_a_grid_each_point_once(tmp_path):
    out = tmp_path / "sw"
    _sweep(out, "--gammas", "0,0.3,0.6,0.9", "--workers", "2", *TINY)
    trials = _trials(out)
    complete = _points(trials)
    assert complete == [(0.0, 0), (0.3, 0), (0.6, 0), (0.9, 0)]
    assert len(trials) == 4  # no trial done twice, none pruned as a duplicate


def test_constrained_search_never_reports_a_trial_over_budget_as_feasible(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text(
        "model.init_args.gamma: {low: 0.0, high: 1.0}\n"
        "model.init_args.encoder.init_args.hidden_features: {choices: [[8], [16, 8]]}\n"
        "data.init_args.batch_size: {choices: [64, 128]}\n"
    )
    out = tmp_path / "search"
    budget = 0.02
    _sweep(out, "--search", "4", "--space", str(space), "--budget", str(budget), *TINY)
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 4 and set(results["state"]) == {"complete"}
    assert results["feasible"].any()  # German at one epoch: mostly near-constant, fair models
    feasible = results[results["feasible"]]
    assert (feasible["val/dp_difference"] <= budget).all()
    assert (results.loc[results["val/dp_difference"] > budget, "feasible"] == False).all()  # noqa: E712
    # The searched values reach the runs: each trial's config holds its own batch size.
    study = optuna.load_study(
        study_name="sqnn-budget0.02@german", storage=f"sqlite:///{out / 'studies.db'}"
    )
    for trial in study.get_trials():
        config = yaml.safe_load(trial.user_attrs["config"])
        assert (
            config["data"]["init_args"]["batch_size"] == trial.params["data.init_args.batch_size"]
        )
        hidden = json.loads(trial.params["model.init_args.encoder.init_args.hidden_features"])
        assert config["model"]["init_args"]["encoder"]["init_args"]["hidden_features"] == hidden
    assert "chosen on validation" in (out / "summary.md").read_text()


def test_peers_are_studies_of_their_own_and_journal_storage_works(tmp_path):
    out = tmp_path / "sw"
    journal = tmp_path / "shared" / "journal.log"
    _sweep(out, "--gammas", "0.5", "--peers", "logreg", "--storage", str(journal), *TINY)
    storage = study_module.open_storage(str(journal))
    names = optuna.get_all_study_names(storage)
    assert "sqnn@german" in names and any(n.startswith("logreg@german-") for n in names)
    results = pd.read_csv(out / "results.csv")
    assert sorted(results["method"]) == ["logreg", "sqnn"]
    assert results[["val/accuracy", "test/accuracy"]].notna().all().all()
    assert not (out / "studies.db").exists()
    # Another batch size changes nothing the peers see: they share the study.
    _sweep(
        out,
        "--gammas",
        "0.5",
        "--peers",
        "logreg",
        "--storage",
        str(journal),
        "--data.init_args.batch_size=64",
        "--study",
        "other",
        *TINY,
    )
    names = optuna.get_all_study_names(study_module.open_storage(str(journal)))
    assert len([n for n in names if n.startswith("logreg@german-")]) == 1


def test_a_narrower_rerun_leaves_a_wider_grids_points_queued(tmp_path, monkeypatch):
    out = tmp_path / "sw"
    # Queue a wider grid without running it (as an interrupted command would leave it).
    monkeypatch.setattr(pool_module, "run_plans", lambda *a, **k: None)
    _sweep(out, "--gammas", "0,0.5,0.9", *TINY)
    monkeypatch.undo()
    _sweep(out, "--gammas", "0", *TINY)
    trials = _trials(out)
    assert _points(trials) == [(0.0, 0)]  # the other command's points were not trained
    waiting = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
    assert sorted(t.system_attrs["fixed_params"]["gamma"] for t in waiting) == [0.5, 0.9]
    _sweep(out, "--gammas", "0,0.5,0.9", *TINY)
    assert _points(_trials(out)) == [(0.0, 0), (0.5, 0), (0.9, 0)]


def test_studies_sharing_a_method_label_stay_apart_in_the_report(tmp_path):
    out = tmp_path / "sw"
    _sweep(out, "--gammas", "0.5", *TINY)
    _sweep(
        out,
        "--gammas",
        "0.5",
        "--study",
        "longer",
        "--trainer.max_epochs=2",
        "--no_progress",
        "--no_probe",
    )
    results = pd.read_csv(out / "results.csv")
    assert sorted(results["method"]) == ["sqnn [longer]", "sqnn [sqnn@german]"]
    summary = (out / "summary.md").read_text()
    assert "sqnn [longer]" in summary and "gamma=0.5" in summary


def test_search_keeps_unsearched_gamma_in_its_fingerprint(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text(
        "model.init_args.optimizer.init_args.lr: {low: 1.0e-4, high: 1.0e-2, log: true}\n"
    )
    out = tmp_path / "search"
    search = ["--search", "1", "--space", str(space), *TINY]
    _sweep(out, *search, "--model.init_args.gamma=0.5")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        _sweep(out, *search, "--model.init_args.gamma=0.9")
    assert exit_info.value.code == 2
    assert "model.init_args.gamma is 0.5 there, 0.9 here" in capsys.readouterr().err


def test_report_of_a_missing_storage_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "sweep",
                "--report",
                "--out",
                str(tmp_path / "o"),
                "--storage",
                f"sqlite:///{tmp_path / 'typo.db'}",
            ]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "typo.db: no such file" in err
    assert not (tmp_path / "typo.db").exists()


def test_override_typos_name_the_closest_key_and_abbreviations_are_refused():
    from fairlit.sweep.trials import resolve_settings

    with pytest.raises(SweepUsageError, match=r"did you mean --trainer\.max_epochs") as err:
        resolve_settings([GERMAN], ["--trainer.max_epoks=1"])
    assert "\n" not in str(err.value)
    with pytest.raises(SweepUsageError, match=r"did you mean --trainer\.max_epochs"):
        resolve_settings([GERMAN], ["--trainer.max_epoch=1"])  # a prefix, not accepted
    with pytest.raises(SweepUsageError, match="given value: one"):
        resolve_settings([GERMAN], ["--trainer.max_epochs=one"])


def _claim_queued_trials(spec: str, out: str) -> None:
    """Worker of the claim test: take queued trials as fast as possible, note each number."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="claims", storage=study_module.open_storage(spec))
    taken = []
    while study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
        trial = study.ask()
        if not trial.user_attrs.get("queued"):  # the queue emptied under us
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        taken.append(trial.number)
        time.sleep(0.01)
        study.tell(trial, 1.0)
    with open(out, "a") as handle:
        handle.write(json.dumps(taken) + "\n")


def test_concurrent_workers_never_claim_the_same_queued_trial(tmp_path):
    # Python's sqlite3 driver starts transactions lazily, so without BEGIN IMMEDIATE three
    # processes claimed 74 trials out of 60 here (14 run twice).
    import multiprocessing

    spec = f"sqlite:///{tmp_path / 'claims.db'}"
    study = optuna.create_study(study_name="claims", storage=study_module.open_storage(spec))
    for i in range(60):
        study.enqueue_trial({"x": float(i)}, user_attrs={"queued": True})
    out = str(tmp_path / "taken.jsonl")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_claim_queued_trials, args=(spec, out)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    taken = [n for line in Path(out).read_text().splitlines() for n in json.loads(line)]
    assert sorted(taken) == list(range(60))


def test_sweep_audit_reports_the_worst_downstream_dp(tmp_path):
    out = tmp_path / "sw"
    _sweep(
        out,
        "--gammas",
        "0.5",
        "--audit",
        "--probe_rows",
        "300",
        "--trainer.max_epochs=1",
        "--no_progress",
    )
    results = pd.read_csv(out / "results.csv")
    forms = ("sample", "threshold", "probability")
    columns = [f"audit/{f}/{c}/dp_difference" for f in forms for c in ("logreg", "mlp", "boosting")]
    assert results[columns].notna().all().all()
    assert results["audit/worst_dp_difference"].iloc[0] == pytest.approx(
        results[columns].iloc[0].max()
    )
    assert "worst downstream ΔDP (test)" in (out / "summary.md").read_text()


def test_report_audit_covers_exactly_the_chosen_settings_and_resumes(tmp_path, capsys):
    out = tmp_path / "sw"
    _sweep(out, "--gammas", "0,1", "--seeds", "0,1", *TINY)
    main(["sweep", "--report", "--audit", "--out", str(out), "--probe_rows", "200", "--seeds", "1"])
    assert set(pd.read_csv(out / "audit.csv")["seed"]) == {1}
    main(
        ["sweep", "--report", "--audit", "--out", str(out), "--probe_rows", "200", "--workers", "2"]
    )
    audits = pd.read_csv(out / "audit.csv")
    results = pd.read_csv(out / "results.csv")
    summary = budget_summary(results)
    chosen = summary.dropna(subset=["chosen"])
    expected = {
        (int(t), int(s))
        for g in chosen["chosen"]
        for t, s in results.loc[np.isclose(results["param"], g), ["trial", "seed"]].itertuples(
            index=False
        )
    }
    assert expected  # something was chosen at some budget
    assert {
        (int(t), int(s)) for t, s in zip(audits["trial"], audits["seed"], strict=True)
    } == expected
    for row in audits.itertuples(index=False):
        # The report's rows carry the audit of their own trial.
        mine = results[(results["trial"] == row.trial) & (results["seed"] == row.seed)]
        theirs = audits.loc[(audits["trial"] == row.trial) & (audits["seed"] == row.seed)]
        assert mine["audit/worst_dp_difference"].iloc[0] == pytest.approx(
            theirs["audit/worst_dp_difference"].iloc[0]
        )
    assert "worst downstream ΔDP (test)" in (out / "summary.md").read_text()
    printed = capsys.readouterr().out
    assert printed.count("audited ") == len(expected)  # seed 1, then seed 0 in two processes
    # A second audit finds everything done.
    main(["sweep", "--report", "--audit", "--out", str(out), "--probe_rows", "200"])
    assert "audited " not in capsys.readouterr().out
    assert len(pd.read_csv(out / "audit.csv")) == len(expected)


def test_merge_audit_fills_only_missing_values():
    from fairlit.sweep.audit import merge_audit

    results = pd.DataFrame(
        {
            "study": ["a", "a", "b"],
            "trial": [0, 1, 0],
            "seed": [0, 0, 0],
            "audit/worst_dp_difference": [0.5, np.nan, np.nan],
        }
    )
    audits = pd.DataFrame(
        {
            "study": ["a", "a"],
            "trial": [0, 1],
            "seed": [0, 0],
            "audit/worst_dp_difference": [0.1, 0.2],
        }
    )
    merged = merge_audit(results, audits)
    assert merged["audit/worst_dp_difference"].tolist()[:2] == [0.5, 0.2]
    assert math.isnan(merged["audit/worst_dp_difference"].iloc[2])  # study b was not audited
    assert merge_audit(results, Path("/nonexistent/audit.csv")) is results


def test_report_audit_finds_each_seed_of_a_search_trial(tmp_path):
    # A search trial trains every seed in its own folder (seed_<s>/ under the trial's).
    out, space = tmp_path / "sw", tmp_path / "space.yaml"
    space.write_text("model.init_args.gamma: {low: 0.0, high: 0.5}\n")
    _sweep(out, "--search", "1", "--space", str(space), "--budget", "0.5", "--seeds", "0,1", *TINY)
    main(["sweep", "--report", "--audit", "--out", str(out), "--probe_rows", "200"])
    audits = pd.read_csv(out / "audit.csv")
    assert sorted(audits["seed"]) == [0, 1] and audits["trial"].nunique() == 1
    assert audits["audit/worst_dp_difference"].notna().all()
