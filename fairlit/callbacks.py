"""Lightning callbacks that observe training: the fairness report and the representation probe.

:class:`RepresentationProbe` fits external classifiers on the frozen code at the end of fit and
test (:mod:`fairlit.probes`). :class:`FairnessReport` prints and saves what the model logged.

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

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from sklearn.base import BaseEstimator

from fairlit.data.loading import TensorSplit
from fairlit.nn.layers import Inference, _check_choice

__all__ = ["DEFAULT_REPORT_COLUMNS", "FairnessReport", "RepresentationProbe"]

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


#: Columns computed over groups, which a group left out changes (marked ``*``).
_GAPS = ("dp_difference", "eo_difference")


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

    Raises:
        ValueError: if ``columns`` is empty or ``stages`` names a stage other than ``val`` and ``test``.

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
        self._label_width = 5  # "stage"; wider for a front's "test:m10"
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
        # One row for a model; one per member for a front (``{stage}/m{k}/{metric}``).
        reports = [(stage, self._read(trainer.callback_metrics, stage))]
        members = sorted(
            {int(k.split("/")[1][1:]) for k in trainer.callback_metrics
             if k.startswith(f"{stage}/m") and k.split("/")[1][1:].isdigit()}
        )  # fmt: skip
        reports += [(f"{stage}:m{k}", self._read(trainer.callback_metrics, f"{stage}/m{k}"))
                    for k in members]  # fmt: skip
        reports = [(label, values) for label, values in reports if values]
        lines = []
        if reports and stage not in self._stage_columns:
            found = [key for key in self.columns if key in reports[0][1]]
            if not found:
                return
            self._stage_columns[stage] = found
            self._label_width = max(5, self._label_width, *(len(label) for label, _ in reports))
            lines.append(self._header(stage))
        for label, values in reports:
            row: dict[str, Any] = {"stage": label, "epoch": self._epoch(trainer, stage)}
            row["step"] = trainer.global_step
            row.update(values)
            self.rows.append(row)
            lines.append(self._format_row(stage, row))
            if log_dir is not None and self.filename is not None:
                self._append_csv(os.path.join(log_dir, self.filename), row)
        if stage == "test":  # the groups, by name, once the test has run
            lines += self._group_table(trainer, stage)
        if lines:
            self._print("\n".join(lines), trainer.progress_bar_callback)

    def _group_table(self, trainer: pl.Trainer, stage: str) -> list[str]:
        """Each group's rows, selection rate, TPR and FPR, named; "undefined" where it is."""
        metrics = trainer.callback_metrics
        count = sum(1 for k in metrics if k.startswith(f"{stage}/group") and k.endswith("/rows"))
        if not count:
            return []
        names = tuple(getattr(getattr(trainer, "datamodule", None), "group_names", ()) or ())
        labels = [names[g] if g < len(names) else f"group {g}" for g in range(count)]
        width = max(len("group"), *map(len, labels))
        lines = [f"{'group':<{width}}  {'rows':>8}  {'selection':>9}  {'TPR':>9}  {'FPR':>9}"]
        for g, label in enumerate(labels):
            cells = []
            for name in ("selection_rate", "tpr", "fpr"):
                key = f"{stage}/group{g}/{name}"
                value = (
                    f"{_as_float(metrics[key]):.{self.precision}f}"
                    if key in metrics
                    else "undefined"
                )
                cells.append(f"{value:>9}")
            rows = _as_float(metrics[f"{stage}/group{g}/rows"])
            lines.append(f"{label:<{width}}  {rows:>8.0f}  " + "  ".join(cells))
        return lines

    def _read(self, metrics: Mapping[str, Any], stage: str) -> dict[str, float]:
        values = {}
        for key in (*self.columns, "groups_left_out"):
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
        cells = [f"{'stage':<{self._label_width}}", f"{'epoch':>5}"]
        for key, width in zip(self._stage_columns[stage], self._widths(stage), strict=True):
            cells.append(f"{self.columns[key]:>{width}}")
        return "  ".join(cells)

    def _format_row(self, stage: str, row: Mapping[str, Any]) -> str:
        epoch = "-" if row["epoch"] is None else str(row["epoch"])
        label = str(row.get("stage", stage))
        cells = [f"{label:<{self._label_width}}", f"{epoch:>5}"]
        for key, width in zip(self._stage_columns[stage], self._widths(stage), strict=True):
            value = row.get(key)
            text = "-" if value is None else f"{value:.{self.precision}f}"
            if key in _GAPS and value is not None and row.get("groups_left_out"):
                text += "*"  # computed with a group left out (the run warns, naming it)
            cells.append(f"{text:>{width}}")
        line = "  ".join(cells)
        if row.get("groups_left_out"):
            line += f"   * {int(row['groups_left_out'])} group(s) left out of the gaps"
        return line

    @staticmethod
    def _print(line: str, progress_bar: Any = None) -> None:
        # Through the progress bar when there is one: it clears its bars, prints the lines and
        # redraws them, so a terminal never shows a table row on a bar's line.
        write = getattr(progress_bar, "print", None)
        try:
            if callable(write):
                write(line)
                sys.stdout.flush()
            else:
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


class RepresentationProbe(Callback):
    """Probe the frozen representation with external classifiers at the end of fit and test.

    On global rank zero only (other ranks do nothing), at the end of ``fit`` and/or ``test``:
    takes ``trainer.datamodule.train_dataset`` and ``test_dataset`` (calling the datamodule's
    ``setup("fit")`` / ``setup("test")`` if they are not built yet), encodes both with
    :func:`encode_dataset` (seeded, so probing twice gives identical numbers and the global RNG
    is left untouched), runs :func:`probe_representation`, logs the results to every attached
    logger with ``logger.log_metrics(results, step=trainer.global_step)``, stores them in
    :attr:`results` (and appends ``(stage, step, results)`` to :attr:`history`) and prints a
    short table.

    With ``test_after_fit``, both hooks probe the same weights; set ``on_fit_end=False`` to
    probe once.

    Args:
        inference: Inference mode of the stochastic layer while encoding (``"sample"``: one
            Bernoulli sample per row, as in the paper).
        classifiers: name -> unfitted scikit-learn classifier; ``None`` uses
            :func:`default_probe_classifiers`.
        max_train_rows: Fit the probes on a seeded random subset of at most this many training
            rows (``None``: all rows).
        seed: Seed of the encoding samples, the subset and the default probes.
        on_fit_end: Probe at the end of ``trainer.fit``.
        on_test_end: Probe at the end of ``trainer.test``.

    Attributes:
        results: The latest results (empty before the first probe).
        history: ``(stage, global_step, results)`` of every probe run.

    Raises:
        ValueError: if ``classifiers`` is empty, ``max_train_rows`` is not a positive int or None,
            or ``inference`` is not a known mode.

    Example:
        >>> from sklearn.linear_model import LogisticRegression
        >>> probe = RepresentationProbe(classifiers={"logreg": LogisticRegression()})
        >>> probe.results, probe.inference
        ({}, 'sample')
    """

    def __init__(
        self,
        inference: Inference = "sample",
        classifiers: Mapping[str, BaseEstimator] | None = None,
        max_train_rows: int | None = None,
        seed: int = 0,
        on_fit_end: bool = True,
        on_test_end: bool = True,
    ) -> None:
        super().__init__()
        self.inference: Inference = _check_choice(inference, Inference, "inference")
        if classifiers is not None and not classifiers:
            raise ValueError(
                "`classifiers` is empty; give at least one probe or None for defaults."
            )
        if max_train_rows is not None and (
            isinstance(max_train_rows, bool)
            or not isinstance(max_train_rows, int)
            or max_train_rows < 1
        ):
            raise ValueError(
                f"`max_train_rows` must be a positive int or None, got {max_train_rows!r}."
            )
        self.classifiers = None if classifiers is None else dict(classifiers)
        self.max_train_rows = max_train_rows
        self.seed = seed
        self.probe_on_fit_end = on_fit_end
        self.probe_on_test_end = on_test_end
        self.results: dict[str, float] = {}
        self.history: list[tuple[str, int, dict[str, float]]] = []

    # -- hooks --------------------------------------------------------------------------------

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Fail early, with a clear message, when there is no datamodule to probe on.

        Raises:
            ValueError: if the trainer has no datamodule with ``train_dataset`` and ``test_dataset``.
        """
        wanted = (stage == "fit" and self.probe_on_fit_end) or (
            stage == "test" and self.probe_on_test_end
        )
        if wanted and getattr(trainer, "datamodule", None) is None:
            raise ValueError(
                "RepresentationProbe needs a LightningDataModule with `train_dataset` and "
                "`test_dataset` (pass `datamodule=` to trainer.fit / trainer.test)."
            )

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Probe the representation after training."""
        if self.probe_on_fit_end:
            self.probe(trainer, pl_module, "fit")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Probe the representation after testing."""
        if self.probe_on_test_end:
            self.probe(trainer, pl_module, "test")

    # -- implementation -----------------------------------------------------------------------

    def probe(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str = "fit"
    ) -> dict[str, float]:
        """Encode the datamodule's train and test splits, probe, log and print (rank zero)."""
        if not trainer.is_global_zero:
            return {}
        datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning, undeclared
        train, test = self._splits(datamodule)
        if self.max_train_rows is not None and len(train) > self.max_train_rows:
            rows = np.random.default_rng(self.seed).choice(
                len(train), self.max_train_rows, replace=False
            )
            subset = train[torch.from_numpy(np.sort(rows))]
            train = TensorSplit(subset["x"], subset["y"], subset["s"])
        # Imported here: fairlit.probes brings scikit-learn's estimators, which a run that only
        # prints the fairness report does not need.
        from fairlit.probes import _seeded_rng, encode_dataset, probe_representation

        parameter = next(pl_module.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        with _seeded_rng(self.seed, device):
            train_codes = encode_dataset(pl_module, train, inference=self.inference)
            test_codes = encode_dataset(pl_module, test, inference=self.inference)
        results = probe_representation(
            train_codes,
            train.y,
            train.s,
            test_codes,
            test.y,
            test.s,
            classifiers=self.classifiers,
            seed=self.seed,
        )
        for logger in trainer.loggers:
            logger.log_metrics(results, step=trainer.global_step)
            logger.save()
        self.results = results
        self.history.append((stage, trainer.global_step, results))
        self._print_table(stage, results)
        return results

    @staticmethod
    def _splits(datamodule: Any) -> tuple[TensorSplit, TensorSplit]:
        if datamodule is None:
            raise ValueError("RepresentationProbe needs `trainer.datamodule`; none is attached.")
        for stage, attribute in (("fit", "train_dataset"), ("test", "test_dataset")):
            if getattr(datamodule, attribute, None) is None:
                datamodule.setup(stage)
            if getattr(datamodule, attribute, None) is None:
                raise ValueError(
                    f"{type(datamodule).__name__}.{attribute} is None even after "
                    f"setup({stage!r}); RepresentationProbe needs both train and test splits."
                )
        return datamodule.train_dataset, datamodule.test_dataset

    def _print_table(self, stage: str, results: Mapping[str, float]) -> None:
        names = [key.split("/")[1] for key in results if key.endswith("/y_auc")]
        columns = ("y_auc", "y_balanced_accuracy", "s_auc", "s_balanced_accuracy")
        headers = ("y AUC", "y bal.acc", "s AUC", "s bal.acc")
        width = max([len("probe"), *(len(n) for n in names)])
        lines = [f"representation probe ({stage}, inference={self.inference}, seed={self.seed})"]
        lines.append(f"{'probe':<{width}}  " + "  ".join(f"{h:>9}" for h in headers))
        for name in names:
            cells = "  ".join(f"{results[f'probe/{name}/{c}']:>9.4f}" for c in columns)
            lines.append(f"{name:<{width}}  {cells}")
        lines.append(
            f"best s AUC {results['probe/best_s_auc']:.4f} (0.5 = invariant), "
            f"best y AUC {results['probe/best_y_auc']:.4f}"
        )
        print("\n".join(lines), flush=True)
