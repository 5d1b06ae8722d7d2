"""Lightning callbacks that observe training: fairness reports.

The report reads what the LightningModule logged; the key names are the contract between them.
For a stage ``val`` or ``test`` the default columns are:

* ``{stage}/accuracy`` (accuracy): task accuracy;
* ``{stage}/auc`` (AUC): task AUROC;
* ``{stage}/dp_difference`` (ΔDP): demographic parity difference, hard (thresholded at 0.5);
* ``{stage}/eo_difference`` (ΔEO): equalized odds difference, max of the TPR and FPR gaps;
* ``{stage}/mi_bits`` (MI(plug)): plug-in mutual information of the sampled code with the
  group, in bits (biased upwards when the split has few rows per distinct code);
* ``{stage}/mi_factorized_bits`` (MI(fact)): factorized MI of the firing probabilities, in bits
  (the quantity the paper's regularizer minimizes, on this split);
* ``{stage}/loss`` (loss): the training objective.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

__all__ = ["DEFAULT_REPORT_COLUMNS", "FairnessReport"]

#: Metric key (after ``"{stage}/"``) -> column header, in display order.
DEFAULT_REPORT_COLUMNS: dict[str, str] = {
    "accuracy": "accuracy",
    "auc": "AUC",
    "dp_difference": "ΔDP",
    "eo_difference": "ΔEO",
    "mi_bits": "MI(plug)",
    "mi_factorized_bits": "MI(fact)",
    "loss": "loss",
}


def _as_float(value: Any) -> float:
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


class FairnessReport(Callback):
    """Print a one-line-per-epoch table of accuracy, AUC, ΔDP, ΔEO, MI and loss.

    After each validation and test run (on global rank zero only, never during the sanity check)
    it reads ``trainer.callback_metrics["{stage}/{key}"]`` for every ``key`` of ``columns`` with
    ``stage`` ``"val"`` or ``"test"``, and prints one row with the keys it finds. The columns of a
    stage are fixed by the first report of that stage, whose header is printed once; a key missing
    later prints ``-``. Rows are also appended to ``fairness_report.csv`` in ``trainer.log_dir``
    (when there is one), with the columns ``stage, epoch, step`` and every key of ``columns``
    (empty when not logged), so that reports of several stages and runs share one file.

    The ``epoch`` of a test row is the index of the tested weights: the last trained epoch
    after ``fit`` in the same Trainer, else the epoch of the checkpoint the weights came from
    when the module records it as ``checkpoint_epoch`` (as
    :class:`~fairlit.models.FairRepresentationModel` does), else unknown (``-``).

    The report runs in ``on_validation_end`` / ``on_test_end``, which Lightning calls once per
    validation (test) epoch after the module's ``on_*_epoch_end`` and after epoch-level values
    have been reduced, so metrics logged in either place are included.

    Args:
        columns: metric keys (without the ``"{stage}/"`` prefix) mapped to column headers, in
            display order; ``None`` uses :data:`DEFAULT_REPORT_COLUMNS`.
        stages: stages to report; any of ``"val"`` and ``"test"``.
        filename: CSV file name inside ``trainer.log_dir``; ``None`` writes no file.
        precision: digits after the decimal point in the printed table.

    Example:
        >>> report = FairnessReport(columns={"accuracy": "acc", "dp_difference": "ΔDP"})
        >>> report.columns
        {'accuracy': 'acc', 'dp_difference': 'ΔDP'}
    """

    def __init__(
        self,
        columns: dict[str, str] | None = None,
        stages: tuple[str, ...] = ("val", "test"),
        filename: str | None = "fairness_report.csv",
        precision: int = 4,
    ) -> None:
        super().__init__()
        self.columns: dict[str, str] = dict(DEFAULT_REPORT_COLUMNS if columns is None else columns)
        if not self.columns:
            raise ValueError("`columns` must name at least one metric key, got an empty mapping.")
        for stage in stages:
            if stage not in ("val", "test"):
                raise ValueError(f"`stages` may contain 'val' and 'test', got {stage!r}.")
        self.stages = tuple(stages)
        self.filename = filename
        self.precision = precision
        self._stage_columns: dict[str, list[str]] = {}
        self.rows: list[dict[str, Any]] = []

    # -- hooks --------------------------------------------------------------------------------

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Report the validation epoch that just ended."""
        if trainer.sanity_checking:
            return
        self._report(trainer, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Report the test epoch that just ended."""
        self._report(trainer, "test")

    # -- implementation -----------------------------------------------------------------------

    def _report(self, trainer: pl.Trainer, stage: str) -> None:
        if stage not in self.stages:
            return
        # `log_dir` broadcasts from rank zero, so every rank must ask for it.
        log_dir = trainer.log_dir if self.filename is not None else None
        if not trainer.is_global_zero:
            return
        values = self._read(trainer.callback_metrics, stage)
        lines = []
        if stage not in self._stage_columns:
            found = [key for key in self.columns if key in values]
            if not found:
                return
            self._stage_columns[stage] = found
            lines.append(self._header(stage))
        row: dict[str, Any] = {"stage": stage, "epoch": self._epoch(trainer, stage)}
        row["step"] = trainer.global_step
        row.update(values)
        self.rows.append(row)
        lines.append(self._format_row(stage, row))
        # A progress bar leaves its cursor at the end of its line: start the table on a new one.
        lead = "\n" if trainer.progress_bar_callback is not None else ""
        self._print(lead + "\n".join(lines))
        if log_dir is not None and self.filename is not None:
            self._append_csv(os.path.join(log_dir, self.filename), row)

    def _read(self, metrics: Mapping[str, Any], stage: str) -> dict[str, float]:
        values = {}
        for key in self.columns:
            name = f"{stage}/{key}"
            if name in metrics:
                values[key] = _as_float(metrics[name])
        return values

    @staticmethod
    def _epoch(trainer: pl.Trainer, stage: str) -> int | None:
        """Epoch index of the evaluated weights, as the validation rows and checkpoint names count."""
        if stage != "test":
            return trainer.current_epoch
        module = trainer.lightning_module
        loaded = getattr(module, "checkpoint_epoch", None)
        if trainer.ckpt_path is not None and loaded is not None:
            return int(loaded)  # weights restored from a checkpoint for this test
        completed = trainer.fit_loop.epoch_progress.current.completed
        if completed > 0:
            return completed - 1  # the last epoch trained by this Trainer
        return None if loaded is None else int(loaded)  # e.g. after load_from_checkpoint

    def _widths(self, stage: str) -> list[int]:
        return [
            max(len(self.columns[key]), self.precision + 4) for key in self._stage_columns[stage]
        ]

    def _header(self, stage: str) -> str:
        cells = [f"{'stage':<5}", f"{'epoch':>5}"]
        for key, width in zip(self._stage_columns[stage], self._widths(stage), strict=True):
            cells.append(f"{self.columns[key]:>{width}}")
        return "  ".join(cells)

    def _format_row(self, stage: str, row: Mapping[str, Any]) -> str:
        epoch = "-" if row["epoch"] is None else str(row["epoch"])
        cells = [f"{stage:<5}", f"{epoch:>5}"]
        for key, width in zip(self._stage_columns[stage], self._widths(stage), strict=True):
            value = row.get(key)
            text = "-" if value is None else f"{value:.{self.precision}f}"
            cells.append(f"{text:>{width}}")
        return "  ".join(cells)

    @staticmethod
    def _print(line: str) -> None:
        try:
            print(line, flush=True)
        except UnicodeEncodeError:  # a console that cannot show "Δ"
            encoding = getattr(sys.stdout, "encoding", None) or "ascii"
            print(line.encode(encoding, errors="replace").decode(encoding), flush=True)

    def _append_csv(self, path: str, row: Mapping[str, Any]) -> None:
        fields = ["stage", "epoch", "step", *self.columns]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        new_file = not os.path.exists(path) or os.path.getsize(path) == 0
        with open(path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, restval="", extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
