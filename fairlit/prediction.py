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
    """Write what ``predict`` returns to ``predictions.csv``: one row per input row.

    Columns: ``row`` (the row's position in the predict split), ``y_prob`` (:math:`P(y=1)`,
    averaged over the model's ``prediction_samples``) or ``prob_<c>`` per class, ``y_pred``
    (the class predicted: ``y_prob >= 0.5``, or the most probable class), ``y`` and ``s``
    (as given by the data), and ``code_0 .. code_<m-1>`` (the first sampled code of the
    row; thresholded or probability codes with the encoder's ``inference`` mode).

    ``fairlit predict`` adds this callback unless the configuration has one, and prints the
    file's path. Under data parallelism every process writes its own shard,
    ``predictions_rank<r>.csv``, whose ``row`` counts within the shard.

    Args:
        output_dir: Folder of the file; ``None`` takes the trainer's ``log_dir`` (or its
            ``default_root_dir`` without a logger).
        filename: Name of the file.

    Example:
        >>> PredictionWriter().filename
        'predictions.csv'
    """

    def __init__(self, output_dir: str | None = None, filename: str = "predictions.csv") -> None:
        super().__init__(write_interval="epoch")
        self.output_dir = output_dir
        self.filename = filename
        self.path: str | None = None

    def _target(self, trainer: pl.Trainer) -> str:
        folder = self.output_dir or trainer.log_dir or trainer.default_root_dir
        name = self.filename
        if trainer.world_size > 1:
            stem, dot, suffix = name.rpartition(".")
            name = (
                f"{stem}_rank{trainer.global_rank}{dot}{suffix}"
                if dot
                else f"{name}_rank{trainer.global_rank}"
            )
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, name)

    def write_on_epoch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        predictions: Any,
        batch_indices: Any,
    ) -> None:
        """Concatenate the batches and write the file (``self.path``)."""
        import pandas as pd

        batches = (
            predictions[0] if predictions and isinstance(predictions[0], list) else predictions
        )
        if not batches:
            return
        columns: dict[str, Any] = {}
        prob = torch.cat([b["y_prob"].detach().cpu() for b in batches]).float()
        columns["row"] = np.arange(len(prob))
        if prob.ndim == 1:
            columns["y_prob"] = prob.numpy()
            columns["y_pred"] = (prob >= 0.5).long().numpy()
        else:
            for c in range(prob.shape[1]):
                columns[f"prob_{c}"] = prob[:, c].numpy()
            columns["y_pred"] = prob.argmax(dim=1).numpy()
        for key in ("y", "s"):
            if all(key in b for b in batches):
                columns[key] = torch.cat([b[key].detach().cpu() for b in batches]).numpy()
        if all("code" in b for b in batches):
            code = torch.cat([b["code"].detach().cpu() for b in batches]).float().numpy()
            for j in range(code.shape[1]):
                columns[f"code_{j}"] = code[:, j]
        self.path = self._target(trainer)
        pd.DataFrame(columns).to_csv(self.path, index=False)
