"""fairlit sweep --vectorize: one seed's gammas trained as one front, a trial per gamma."""

from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch

from fairlit.entry import main

ROOT = Path(__file__).resolve().parents[1]
GERMAN = str(ROOT / "configs" / "german.yaml")
ARGS = ["--gammas", "0,0.5,1", "--seeds", "0,1", "--trainer.max_epochs=2", "--no_progress",
        "--probe_rows", "100"]  # fmt: skip


def _trials(out: Path) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{out / 'studies.db'}"
    return optuna.load_study(study_name="sqnn@german", storage=storage).get_trials()


@pytest.mark.comparison
def test_a_vectorized_grid_gives_the_trials_of_separate_runs(tmp_path, recwarn):
    # configs/german.yaml: prediction_samples 32, an InverseTimeDecay schedule, no dropout.
    separate, vectorized = tmp_path / "separate", tmp_path / "vectorized"
    # In float64: the front (vmap) and the separate runs sum in different orders, and in
    # float32 their last bits depend on the CPU's vector kernel; a sampled bit u < p that flips
    # between them sends the two runs apart. In float64 they agree to about 1e-13.
    args = [*ARGS, "--trainer.precision=64-true"]
    main(["sweep", "--config", GERMAN, "--out", str(separate), *args])
    main(["sweep", "--config", GERMAN, "--out", str(vectorized), "--vectorize", *args])
    assert not [w for w in recwarn if "Heartbeat" in str(w.message)]  # the heartbeats are ours
    a = pd.read_csv(separate / "results.csv").set_index(["param", "seed"]).sort_index()
    b = pd.read_csv(vectorized / "results.csv").set_index(["param", "seed"]).sort_index()
    assert list(a.index) == list(b.index) and len(a) == 6
    # The columns of separate trials, and which trials trained together.
    assert set(b.columns) - set(a.columns) == {"front"} and set(a.columns) <= set(b.columns)
    assert (b["state"] == "complete").all()
    metrics = [c for c in a.columns if c.startswith(("val/", "test/", "probe/"))]
    assert "test/accuracy" in metrics and "val/dp_difference" in metrics
    for column in metrics:  # the same runs, to float64 rounding
        pd.testing.assert_series_equal(a[column], b[column], atol=1e-9, rtol=1e-9, obj=column)
    # Each seed's three gammas ran as one front; each trial has its own run folder.
    trials = [t for t in _trials(vectorized) if t.state == optuna.trial.TrialState.COMPLETE]
    fronts = {tuple(t.user_attrs["front"]) for t in trials}
    assert len(fronts) == 2 and all(len(f) == 3 for f in fronts)
    for trial in trials:
        run = Path(trial.user_attrs["run_dir"])
        assert f"gamma: {trial.params['gamma']}" in (run / "config.yaml").read_text()
        state = torch.load(run / "model.ckpt", map_location="cpu", weights_only=False)
        assert state["hyper_parameters"]["gamma"] == trial.params["gamma"]
    # A member's run folder is an ordinary run: fairlit test reproduces its test accuracy.
    [trial] = [t for t in trials if t.params == {"gamma": 0.5, "seed": 1}]
    run = Path(trial.user_attrs["run_dir"])
    main(["test", "--config", str(run / "config.yaml"), f"--ckpt_path={run / 'model.ckpt'}",
          "--trainer.enable_progress_bar=false", "--trainer.callbacks=null",
          '--trainer.logger={"class_path": "pytorch_lightning.loggers.CSVLogger", '
          f'"init_args": {{"save_dir": "{tmp_path / "logs"}"}}}}'])  # fmt: skip
    [metrics] = (tmp_path / "logs").glob("**/metrics.csv")
    row = pd.read_csv(metrics).dropna(subset=["test/accuracy"]).iloc[-1]
    assert row["test/accuracy"] == pytest.approx(trial.user_attrs["test/accuracy"], abs=1e-6)


def test_vectorize_belongs_to_a_grid(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["sweep", "--config", GERMAN, "--out", str(tmp_path / "o"), "--vectorize",
              "--search", "2", "--space", str(ROOT / "benchmarks" / "adult_search_space.yaml")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and "--vectorize" in err[0]


def test_two_vectorized_workers_train_each_point_once(tmp_path):
    out = tmp_path / "sw"
    main(["sweep", "--config", GERMAN, "--out", str(out), "--vectorize", "--workers", "2",
          "--gammas", "0,0.5", "--seeds", "0,1,2", "--trainer.max_epochs=1", "--no_progress",
          "--no_probe"])  # fmt: skip
    trials = _trials(out)
    done = sorted((t.params["gamma"], t.params["seed"]) for t in trials
                  if t.state == optuna.trial.TrialState.COMPLETE)  # fmt: skip
    assert done == [(g, s) for g in (0.0, 0.5) for s in (0, 1, 2)]
    assert len(trials) == 6  # none twice, none pruned
    # A front never mixes seeds (each seed has its own data split).
    for trial in trials:
        members = [trials[n] for n in trial.user_attrs["front"]]
        assert {m.params["seed"] for m in members} == {trial.params["seed"]}


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("--model.init_args.lr_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau",
         "model.init_args.lr_scheduler.class_path"),
        ("--model.init_args.regularizer.init_args.estimator=joint",
         "model.init_args.regularizer.init_args.estimator"),
        ("--trainer.gradient_clip_val=1.0", "trainer.gradient_clip_val"),
    ],
)  # fmt: skip
def test_what_a_front_cannot_train_is_refused_before_any_trial(tmp_path, capsys, override, key):
    out = tmp_path / "o"
    with pytest.raises(SystemExit) as info:
        main(["sweep", "--config", GERMAN, "--out", str(out), "--vectorize", override])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1, err
    assert key in err[0] and "--vectorize" in err[0]
    assert not out.exists()  # nothing queued, nothing run


def test_a_point_carried_to_the_next_front_is_run_not_failed(tmp_path, monkeypatch):
    # Another worker took the rest of seed 0 while this one claimed: the claim of a seed-1
    # point is carried to the next front. The worker must run it even when nothing else is
    # waiting any more (it used to stop and fail it).
    import fairlit.sweep.worker as worker_module

    real = worker_module._claim_front
    calls = []

    def claim(plan, study, carried):
        group = real(plan, study, carried)
        if not calls and len(group) > 1:  # carry the first front's last point
            carried.append(group.pop())
        calls.append([params for _, params in group])
        return group

    monkeypatch.setattr(worker_module, "_claim_front", claim)
    out = tmp_path / "sw"
    main(["sweep", "--config", GERMAN, "--out", str(out), "--vectorize", "--gammas", "0,0.5",
          "--seeds", "0", "--trainer.max_epochs=1", "--no_progress", "--no_probe"])  # fmt: skip
    trials = _trials(out)
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE"]
    assert len(calls) >= 2 and calls[1] == [{"gamma": 0.5, "seed": 0}]
