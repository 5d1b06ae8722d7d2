"""The pieces a front is made of: a member's loss under vmap, its initial weights, its checkpoint.

Used by :class:`fairlit.front.FrontModel`; each member is an ordinary
:class:`~fairlit.models.FairRepresentationModel`.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from fairlit.models import FairRepresentationModel

__all__ = ["MemberLoss", "member_checkpoint", "reinitialize"]


class MemberLoss(nn.Module):
    """One member's task loss and penalty: what :func:`torch.func.vmap` runs per member."""

    def __init__(self, model: FairRepresentationModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, Tensor], noise: Tensor | None) -> tuple[Tensor, Tensor]:
        """The member's ``(task_loss, penalty)`` on ``batch`` with the given ``noise``."""
        terms = self.model.loss_terms(batch, noise)
        return terms["task_loss"], terms["penalty"]


def reinitialize(module: nn.Module, seed: int) -> None:
    """Draw every submodule's weights again from ``seed``, in module order (see ``seeds``)."""
    torch.manual_seed(seed)
    for child in module.modules():
        reset = getattr(child, "reset_parameters", None)
        if callable(reset) and child is not module:
            reset()


_EXPORTED = ("gamma", "num_groups", "num_classes", "prediction_samples", "threshold",
             "sampling_seed")  # fmt: skip


def member_checkpoint(
    member: FairRepresentationModel,
    epoch: int,
    global_step: int,
    datamodule: pl.LightningDataModule | None = None,
) -> dict[str, Any]:
    """An ordinary model checkpoint of one member (with the data's fitted preprocessing)."""
    checkpoint: dict[str, Any] = {
        "state_dict": {name: t.detach().cpu() for name, t in member.state_dict().items()},
        # The member's own arguments (Lightning's collected hparams also hold the front's);
        # "_class_path": what LightningCLI records, so `fairlit test` rebuilds this class.
        "hyper_parameters": {"_class_path": "fairlit.models.FairRepresentationModel"}
        | {key: getattr(member, key) for key in _EXPORTED},
        "pytorch-lightning_version": pl.__version__,
        "epoch": epoch,
        "global_step": global_step,
    }
    if datamodule is not None:
        checkpoint[type(datamodule).__qualname__] = datamodule.state_dict()
    return checkpoint
