"""The base of the LightningModules the command line builds, and their epoch loss sums."""

from __future__ import annotations

import pytorch_lightning as pl
from torch import Tensor

__all__ = ["FairModel"]


class FairModel(pl.LightningModule):
    """Base of the LightningModules the command line builds (``--model``).

    A subclass takes ``encoder``, ``num_groups`` and ``num_classes``, which the command line
    links from the data: :class:`FairRepresentationModel` (one model) and
    :class:`~fairlit.front.FrontModel` (a front of them, one per gamma).

    It keeps the epoch's running sums of the training losses (:meth:`add_epoch_losses`, one
    vector a step) and logs their means once per epoch under :meth:`epoch_loss_names`: one
    Lightning ``log`` call a step cost more than these models' forward and backward pass.
    """

    _train_sums: Tensor | None = None
    _train_rows: int = 0

    def epoch_loss_names(self) -> list[str]:
        """The logged names of the values given to :meth:`add_epoch_losses`, in order."""
        raise NotImplementedError(f"{type(self).__name__} must name its epoch losses")

    def add_epoch_losses(self, values: Tensor, rows: int) -> None:
        """Add one step's losses ``[L]`` (each a mean over ``rows`` rows) to the epoch's sums."""
        weighted = values.detach() * rows
        self._train_sums = weighted if self._train_sums is None else self._train_sums + weighted
        self._train_rows += rows

    def on_train_epoch_start(self) -> None:
        """Reset the running sums of the training losses."""
        self._train_sums, self._train_rows = None, 0

    def on_train_epoch_end(self) -> None:
        """Log the epoch means of the training losses (see :meth:`epoch_loss_names`)."""
        if self._train_sums is not None and self._train_rows:
            means = self._train_sums / self._train_rows
            names = self.epoch_loss_names()
            self.log_dict(dict(zip(names, means, strict=True)), on_epoch=True, sync_dist=True)
