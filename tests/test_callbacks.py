"""FairnessReport inside a real (tiny) pytorch_lightning Trainer."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from fairlit.callbacks import DEFAULT_REPORT_COLUMNS, FairnessReport

# Values logged at epoch e are these plus e / 100, so every row can be checked exactly.
BASE = {
    "accuracy": 0.5,
    "auc": 0.6,
    "dp_difference": 0.1,
    "eo_difference": 0.2,
    "mi_bits": 0.3,
    "loss": 0.7,
}


def expected_value(key: str, epoch: int) -> float:
    return BASE[key] + epoch / 100


class ToyModule(pl.LightningModule):
    """Logs the report keys with self.log: per step (averaged per epoch) or at epoch end."""

    def __init__(
        self, keys: tuple[str, ...] = tuple(BASE), at_epoch_end: tuple[str, ...] = ()
    ) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.keys = keys
        self.at_epoch_end = at_epoch_end

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        return self.layer(x).pow(2).mean()

    def _log_stage(self, stage: str, keys: tuple[str, ...]) -> None:
        for key in keys:
            value = torch.tensor(expected_value(key, self.current_epoch))
            self.log(f"{stage}/{key}", value, on_step=False, on_epoch=True)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._log_stage("val", tuple(k for k in self.keys if k not in self.at_epoch_end))

    def on_validation_epoch_end(self) -> None:
        self._log_stage("val", self.at_epoch_end)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._log_stage("test", self.keys)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader() -> DataLoader:
    return DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4)


def make_trainer(tiny_trainer, report: FairnessReport, **kwargs: Any) -> pl.Trainer:
    """The shared tiny trainer with ``report``, two epochs, a sanity check and a logger."""
    options: dict[str, Any] = {
        "max_epochs": 2,
        "logger": True,
        "callbacks": [report],
        "num_sanity_val_steps": 1,
    }
    options.update(kwargs)
    return tiny_trainer(**options)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def table_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("stage", "val ", "test "))]


def test_report_prints_header_once_and_one_row_per_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_trainer
) -> None:
    report = FairnessReport()
    trainer = make_trainer(tiny_trainer, report)
    model = ToyModule()
    trainer.fit(model, loader(), loader())
    lines = table_lines(capsys.readouterr().out)
    # the sanity check (num_sanity_val_steps=1) printed nothing; header once; two epochs
    assert len(lines) == 3
    header = lines[0].split()
    assert header == ["stage", "epoch", "accuracy", "AUC", "ΔDP", "ΔEO", "MI(plug)", "loss"]
    for epoch, line in enumerate(lines[1:]):
        cells = line.split()
        assert cells[:2] == ["val", str(epoch)]
        assert [float(c) for c in cells[2:]] == pytest.approx(
            [expected_value(k, epoch) for k in BASE], abs=1e-4
        )

    trainer.test(model, loader(), verbose=False)
    lines = table_lines(capsys.readouterr().out)
    assert lines[0].split()[:3] == ["stage", "epoch", "accuracy"]  # a test table has a header
    assert len(lines) == 2 and lines[1].split()[0] == "test"

    assert trainer.log_dir is not None
    rows = read_csv(Path(trainer.log_dir) / "fairness_report.csv")
    assert [(r["stage"], r["epoch"]) for r in rows] == [("val", "0"), ("val", "1"), ("test", "1")]
    assert list(rows[0]) == ["stage", "epoch", "step", *DEFAULT_REPORT_COLUMNS]
    for row in rows[:2]:
        for key in BASE:
            assert float(row[key]) == pytest.approx(
                expected_value(key, int(row["epoch"])), abs=1e-6
            )
    assert int(rows[1]["step"]) == 4  # two epochs of two training batches


def test_report_reads_values_logged_at_epoch_end_and_missing_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_trainer
) -> None:
    # dp_difference and mi_bits are logged in on_validation_epoch_end; auc is never logged
    keys = ("accuracy", "dp_difference", "mi_bits", "loss")
    model = ToyModule(keys=keys, at_epoch_end=("dp_difference", "mi_bits"))
    trainer = make_trainer(tiny_trainer, FairnessReport(), logger=False)
    trainer.fit(model, loader(), loader())
    lines = table_lines(capsys.readouterr().out)
    assert lines[0].split() == ["stage", "epoch", "accuracy", "ΔDP", "MI(plug)", "loss"]
    assert len(lines) == 3
    assert float(lines[2].split()[3]) == pytest.approx(expected_value("dp_difference", 1), abs=1e-4)
    # no logger: the CSV goes to default_root_dir; columns never logged are empty
    rows = read_csv(tmp_path / "fairness_report.csv")
    assert len(rows) == 2
    assert rows[0]["auc"] == "" and rows[0]["eo_difference"] == ""
    assert float(rows[1]["mi_bits"]) == pytest.approx(expected_value("mi_bits", 1), abs=1e-6)


def test_report_custom_columns_and_no_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_trainer
) -> None:
    report = FairnessReport(columns={"dp_difference": "dDP", "loss": "L"}, filename=None)
    trainer = make_trainer(tiny_trainer, report, max_epochs=1, logger=False)
    trainer.fit(ToyModule(), loader(), loader())
    lines = table_lines(capsys.readouterr().out)
    assert lines[0].split() == ["stage", "epoch", "dDP", "L"]
    assert len(lines) == 2
    assert not list(tmp_path.rglob("fairness_report.csv"))
    assert report.rows[0]["dp_difference"] == pytest.approx(0.1, abs=1e-6)


def test_report_prints_nothing_without_matching_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_trainer
) -> None:
    trainer = make_trainer(tiny_trainer, FairnessReport(columns={"unknown": "U"}), max_epochs=1)
    trainer.fit(ToyModule(), loader(), loader())
    assert table_lines(capsys.readouterr().out) == []


def test_report_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="columns"):
        FairnessReport(columns={})
    with pytest.raises(ValueError, match="stages"):
        FairnessReport(stages=("train",))


class CheckpointedToy(ToyModule):
    """Records the loaded checkpoint's epoch like FairRepresentationModel does."""

    checkpoint_epoch: int | None = None

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.checkpoint_epoch = checkpoint.get("epoch")


def test_test_row_names_the_epoch_of_the_tested_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_trainer
) -> None:
    # Three epochs, checkpoint after the second (index 1): rows count epochs like the val rows
    # and the checkpoint file name do.
    checkpoint = pl.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1)
    trainer = make_trainer(tiny_trainer, FairnessReport(), max_epochs=3, enable_checkpointing=True)
    trainer.callbacks.append(checkpoint)
    model = CheckpointedToy()
    trainer.fit(model, loader(), loader())
    trainer.test(model, loader(), verbose=False)  # the weights in memory: last epoch, index 2
    second = next((tmp_path / "ckpt").glob("epoch=1-*.ckpt"))
    trainer.test(model, loader(), ckpt_path=str(second), verbose=False)
    fresh = make_trainer(tiny_trainer, FairnessReport(), default_root_dir=tmp_path / "fresh")
    fresh.test(CheckpointedToy(), loader(), ckpt_path=str(second), verbose=False)
    fresh_unknown = make_trainer(
        tiny_trainer, FairnessReport(), default_root_dir=tmp_path / "unknown"
    )
    fresh_unknown.test(ToyModule(), loader(), verbose=False)  # never trained, nothing loaded
    tests = [
        line.split()[1] for line in table_lines(capsys.readouterr().out) if line.startswith("test ")
    ]
    assert tests == ["2", "1", "1", "-"]
