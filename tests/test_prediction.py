"""Scoring new data: a CSV round trip through the command line, unknown categories, the
firing probabilities, files without labels, and one ordered file under data parallelism."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fairlit.cli import main
from fairlit.data import CSVDataModule, GermanDataModule
from fairlit.data.resources import DataFileError
from fairlit.models import FairRepresentationModel
from fairlit.nn import HybridBinaryEncoder
from fairlit.prediction import PredictionWriter


def _people(rows: int = 90, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "age": rng.normal(40, 10, rows).round(1),
            "color": [("blue", "green", "red")[i % 3] for i in range(rows)],
            "sex": [("f", "m")[i % 2] for i in range(rows)],
            "label": rng.integers(0, 2, rows),
        }
    )


def _csv_args(path: Path) -> list[str]:
    return [
        "--data=fairlit.data.CSVDataModule",
        f"--data.path={path}",
        "--data.target=label",
        "--data.sensitive=sex",
        "--data.drop=[id]",
        "--data.batch_size=30",
        "--model=fairlit.models.FairRepresentationModel",
        "--model.encoder=fairlit.nn.HybridBinaryEncoder",
        "--model.encoder.out_features=6",
        "--model.prediction_samples=4",
        "--seed_everything=0",
    ]


def _predict(capsys, args: list[str]) -> pd.DataFrame:
    main(["predict", *args])
    [line] = [t for t in capsys.readouterr().out.splitlines() if "fairlit: predictions:" in t]
    return pd.read_csv(line.split("fairlit: predictions:", 1)[1].strip())


@pytest.mark.comparison
def test_csv_round_trip_through_the_command_line(tmp_path, capsys, quiet_args):
    """Fit on a CSV; predict a subset in another order with fewer categories and no labels.

    As the README does it: the run's own config.yaml, its checkpoint, and the new file.
    """
    people = _people()
    people.to_csv(tmp_path / "train.csv", index=False)
    main(["fit", *_csv_args(tmp_path / "train.csv"), "--trainer.max_epochs=2", *quiet_args])
    run = tmp_path / "lightning_logs" / "version_0"
    [ckpt] = run.glob("checkpoints/*.ckpt")
    scoring = ["--config", str(run / "config.yaml"), f"--ckpt_path={ckpt}", *quiet_args]
    everything = _predict(capsys, scoring)
    assert list(everything["row"]) == list(range(len(people)))  # every row, in file order
    # Blue rows only (one category of three), shuffled, without the target and sex columns.
    subset = people[people["color"] == "blue"].sample(frac=1.0, random_state=1)
    subset.drop(columns=["label", "sex"]).to_csv(tmp_path / "new.csv", index=False)
    new = f"--data.init_args.path={tmp_path / 'new.csv'}"
    scored = _predict(capsys, [*scoring, new, "--firing_probabilities=true"])
    assert len(scored) == len(subset) and "y" not in scored and "s" not in scored
    assert capsys.readouterr().err == ""  # nothing ignored, nothing to warn about
    # Deterministic codes (one pass per row): the same rows scored from the training file
    # get the same probabilities, to float32 rounding. The rows sit in other batches, and a
    # matrix product's float32 sum may round differently with the batch and the CPU's vector
    # kernel: at most about n * u * sum |w x| per layer (Higham, Accuracy and Stability of
    # Numerical Algorithms, 2nd ed., eq. 3.5), n <= 64 terms, u = 6e-8, through two layers and
    # a sigmoid (slope <= 1/4): below 1e-5 on a probability. A wrong row or category moves
    # it by far more.
    deterministic = [*scoring, "--model.encoder.inference=probability"]
    scored_p = _predict(capsys, [*deterministic, new])
    everything_p = _predict(capsys, deterministic)
    np.testing.assert_allclose(
        scored_p["y_prob"],
        everything_p.set_index("row").loc[subset["id"], "y_prob"],
        rtol=0,
        atol=1e-5,
    )
    # The firing probabilities on request; the sampled code columns are 0/1.
    firing = scored[[c for c in scored if c.startswith("firing_prob_")]].to_numpy()
    codes = scored[[c for c in scored if c.startswith("code_")]].to_numpy()
    assert firing.shape == codes.shape == (len(subset), 6)
    assert ((firing > 0) & (firing < 1)).all() and set(np.unique(codes)) <= {0.0, 1.0}
    # With inference=probability the code columns are those firing probabilities.
    np.testing.assert_allclose(
        scored_p[[c for c in scored_p if c.startswith("code_")]].to_numpy(), firing, atol=1e-6
    )
    # A category the training data never had: one short error naming column and value.
    subset.assign(color="purple").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(SystemExit):
        main(["predict", *scoring, f"--data.init_args.path={tmp_path / 'bad.csv'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 3 and "'color'" in err[0] and "purple" in err[0], err


def test_unknown_category_ignore_encodes_an_all_zero_block(tmp_path, tiny_trainer):
    _people().to_csv(tmp_path / "train.csv", index=False)
    train = CSVDataModule(tmp_path / "train.csv", "label", "sex", drop=["id"])
    model = FairRepresentationModel(HybridBinaryEncoder(train.num_features, 4))
    trainer = tiny_trainer()
    trainer.fit(model, datamodule=train)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    _people(6).assign(color=["purple", "blue", "red", "green", "purple", "blue"]).to_csv(
        tmp_path / "new.csv", index=False
    )
    with pytest.raises(DataFileError, match=r"'color' has value\(s\) \['purple'\]"):
        CSVDataModule(tmp_path / "new.csv", "label", "sex", drop=["id"],
                      preprocessing_from=tmp_path / "model.ckpt").setup("predict")  # fmt: skip
    dm = CSVDataModule(tmp_path / "new.csv", "label", "sex", drop=["id"],
                       preprocessing_from=tmp_path / "model.ckpt", unknown_category="ignore")  # fmt: skip
    dm.setup("predict")
    assert dm.num_features == train.num_features == 4  # age, then color = blue, green, red
    one_hot = dm.predict_dataset.x[:, 1:].numpy()
    # Hand-made expectation: purple rows are all zeros, the others one-hot in sorted order.
    np.testing.assert_array_equal(
        one_hot,
        [[0, 0, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0]],
    )
    # The scaler is the training file's, not one fitted on these six rows.
    ages = _people()["age"]
    expected = (_people(6)["age"] - ages.iloc[train_rows(train)].mean()) / ages.iloc[
        train_rows(train)
    ].std(ddof=0)
    np.testing.assert_allclose(dm.predict_dataset.x[:, 0].numpy(), expected, atol=1e-5)


def train_rows(dm: CSVDataModule) -> np.ndarray:
    """Which rows of the file the DataModule trained on (rebuilt from its split)."""
    from fairlit.data.loading import stratified_split

    table = dm.load_table()
    strata = table.y * dm.num_groups + table.s
    train, _, _ = stratified_split(strata, (dm.val_fraction, dm.default_test_fraction), dm.seed)
    return train


def test_a_scoring_file_with_fewer_groups_keeps_the_training_group_indices(tmp_path, tiny_trainer):
    _people().to_csv(tmp_path / "train.csv", index=False)
    train = CSVDataModule(tmp_path / "train.csv", "label", "sex", drop=["id"])
    trainer = tiny_trainer()
    trainer.fit(
        FairRepresentationModel(HybridBinaryEncoder(train.num_features, 4)), datamodule=train
    )
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    _people()[lambda f: f["sex"] == "m"].to_csv(tmp_path / "men.csv", index=False)
    dm = CSVDataModule(tmp_path / "men.csv", "label", "sex", drop=["id"],
                       preprocessing_from=tmp_path / "model.ckpt")  # fmt: skip
    assert dm.group_names == ("f", "m") and dm.num_groups == 2
    dm.setup("predict")
    assert set(dm.predict_dataset.s.tolist()) == {1}  # "m" is group 1, as in training
    with pytest.raises(DataFileError, match=r"no target column|only be scored") as info:
        _people().drop(columns="label").to_csv(tmp_path / "unlabelled.csv", index=False)
        CSVDataModule(tmp_path / "unlabelled.csv", "label", "sex", drop=["id"],
                      preprocessing_from=tmp_path / "model.ckpt").setup("test")  # fmt: skip
    assert "test" in str(info.value)


def test_preprocessing_from_names_a_missing_or_foreign_checkpoint(tmp_path):
    _people().to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(DataFileError, match="does not exist"):
        CSVDataModule(tmp_path / "train.csv", "label", "sex", preprocessing_from=tmp_path / "x")
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    with pytest.raises(DataFileError, match="holds no fitted preprocessing"):
        CSVDataModule(tmp_path / "train.csv", "label", "sex",
                      preprocessing_from=tmp_path / "plain.ckpt")  # fmt: skip


@pytest.mark.ddp
def test_ddp_predict_writes_each_row_once_in_order(tmp_path, tiny_trainer, clean_spawn_exit):
    dm = GermanDataModule(eval_batch_size=37)  # 300 test rows: uneven batches on each rank
    model = FairRepresentationModel(HybridBinaryEncoder(dm.num_features, 8, inference="threshold"))
    trainer = tiny_trainer(callbacks=[PredictionWriter(output_dir=str(tmp_path / "one"))])
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    trainer.predict(model, datamodule=dm, ckpt_path=tmp_path / "model.ckpt")
    single = pd.read_csv(tmp_path / "one" / "predictions.csv")
    two = tiny_trainer(
        devices=2,
        strategy="ddp_spawn",
        callbacks=[PredictionWriter(output_dir=str(tmp_path / "two")), clean_spawn_exit],
    )
    two.predict(model, datamodule=dm, ckpt_path=tmp_path / "model.ckpt", return_predictions=False)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["predictions.csv"]
    double = pd.read_csv(tmp_path / "two" / "predictions.csv")
    assert list(double["row"]) == list(range(len(dm.test_dataset)))
    pd.testing.assert_frame_equal(double, single)
