"""Scoring new data: :class:`PredictionWriter` writes what ``fairlit predict`` computes.

``fairlit predict`` adds the writer unless the configuration has one; the model's
``predict_step`` returns, per batch, the averaged probabilities, the data's ``y`` and ``s``
and the row's code.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter

__all__ = ["PredictionWriter"]


class PredictionWriter(BasePredictionWriter):
    r"""Write what ``predict`` returns to ``predictions.csv``: one row per input row, in order.

    Columns:

    * ``row``: the row's position in what was scored (the file, for a CSV);
    * ``y_prob``: :math:`P(y=1)`, averaged over the model's ``prediction_samples`` (or
      ``prob_<c>`` per class for a multi-class task);
    * ``y_pred``: the class predicted (``y_prob >= threshold``, the model's decision rule,
      0.5 by default; or the most probable class);
    * ``y`` and ``s``: as given by the data, left out when the data has none (``-1``), and
      ``group``: the name of group ``s`` (the DataModule's ``group_names``, e.g. ``Female``);
    * ``code_0 .. code_<m-1>``: the row's code, one column per bit: the first sampled code
      (seeded by the model's ``sampling_seed``), or the thresholded code or the firing
      probabilities with the encoder's ``inference`` set to ``threshold`` or ``probability``;
    * ``firing_prob_0 .. firing_prob_<m-1>``: the firing probabilities
      :math:`P(T_j = 1 \mid x)`, with ``firing_probabilities=True`` (stochastic encoders).

    ``fairlit predict`` adds this callback unless the configuration has one, and prints the
    file's path. Under data parallelism each process scores a contiguous shard; the shards are
    gathered and global rank zero writes the one file, every row exactly once, in order.

    Args:
        output_dir: Folder of the file; ``None`` takes the trainer's ``log_dir`` (or its
            ``default_root_dir`` without a logger).
        filename: Name of the file.
        firing_probabilities: Also write the firing probabilities.

    Example:
        >>> PredictionWriter().filename
        'predictions.csv'
    """

    def __init__(
        self,
        output_dir: str | None = None,
        filename: str = "predictions.csv",
        firing_probabilities: bool = False,
    ) -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.filename = filename
        self.firing_probabilities = firing_probabilities
        self.path: str | None = None

    def _columns(self, batches: list[dict[str, Any]], threshold: float) -> dict[str, np.ndarray]:
        """This process' rows as named columns (``row`` counts within the shard)."""

        def cat(key: str) -> torch.Tensor:
            return torch.cat([b[key].detach().cpu() for b in batches])

        columns: dict[str, np.ndarray] = {}
        prob = cat("y_prob").float()
        columns["row"] = np.arange(len(prob))
        if prob.ndim == 1:
            columns["y_prob"] = prob.numpy()
            columns["y_pred"] = (prob >= threshold).long().numpy()
        else:
            for c in range(prob.shape[1]):
                columns[f"prob_{c}"] = prob[:, c].numpy()
            columns["y_pred"] = prob.argmax(dim=1).numpy()
        for key in ("y", "s"):
            if all(key in b for b in batches):
                columns[key] = cat(key).numpy()
        blocks = [("code", "code")]
        if self.firing_probabilities:
            blocks.append(("probs", "firing_prob"))
        for key, prefix in blocks:
            if all(b.get(key) is not None for b in batches):
                values = cat(key).float().numpy()
                if key == "code" and np.isin(values, (0.0, 1.0)).all():
                    values = values.astype(np.int64)  # a sampled or thresholded code: 0/1
                for j in range(values.shape[1]):
                    columns[f"{prefix}_{j}"] = values[:, j]
        return columns

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Any,
        batch_indices: Any,
    ) -> None:
        """Gather every process' rows; global rank zero writes the file (``self.path``)."""
        import pandas as pd

        batches = (
            predictions[0] if predictions and isinstance(predictions[0], list) else predictions
        )
        threshold = float(getattr(pl_module, "threshold", 0.5))  # the model's decision rule
        shard = pd.DataFrame(self._columns(batches, threshold) if batches else {})
        shards = [shard]
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            # Evaluation shards are contiguous and unpadded: rank order is row order.
            gathered: list[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, shard)
            shards = [s for s in gathered if s is not None and len(s)]
        folder = self.output_dir or trainer.log_dir or trainer.default_root_dir
        self.path = os.path.join(folder, self.filename)
        if not trainer.is_global_zero or not any(len(s) for s in shards):
            return
        table = pd.concat(shards, ignore_index=True)
        table["row"] = np.arange(len(table))
        for key in ("y", "s"):  # data without labels: -1, left out
            if key in table and (table[key] < 0).all():
                table = table.drop(columns=key)
        names = tuple(getattr(getattr(trainer, "datamodule", None), "group_names", ()) or ())
        if "s" in table and names and int(table["s"].max()) < len(names):
            position = list(table.columns).index("s") + 1
            table.insert(position, "group", [names[s] if s >= 0 else "" for s in table["s"]])
        os.makedirs(folder, exist_ok=True)
        table.to_csv(self.path, index=False)
