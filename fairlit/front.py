r"""A whole fairness-accuracy front in one training run: K members trained as one computation.

The members of a front share the data and differ only in :math:`\gamma` and their initial
weights, so :class:`FrontModel` stacks their parameters
(:func:`torch.func.stack_module_state`) and runs all K with
:func:`torch.func.functional_call` under :func:`torch.func.vmap`. The loss is the sum of the
members' own losses, so each member's gradient is its own; Adam (or any optimizer that works
element by element) on the stacked tensors is then exactly K independent optimizers.
Anything that would couple the members is refused: the Trainer's gradient clipping (a global
norm), a learning-rate schedule, and the joint MI estimator (its custom autograd kernel has
no batching rule).

Each member samples its own code (``vmap(..., randomness="different")``), is evaluated on
its own (``{stage}/m{k}/{metric}``, a row per member in the fairness report) and can be
exported as an ordinary :class:`~fairlit.models.FairRepresentationModel` checkpoint that
``fairlit test`` and ``fairlit predict`` accept (:meth:`FrontModel.export_member`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import OptimizerCallable
from torch import Tensor, nn

from fairlit.errors import ConfigurationError
from fairlit.models import (
    EvaluatorFactory,
    FairModel,
    FairRepresentationModel,
    HeadFactory,
    RegularizerFactory,
    _adam,
)
from fairlit.nn import Encoder
from fairlit.seeding import reseed

__all__ = ["FrontModel"]


class _MemberLoss(nn.Module):
    """One member's task loss and penalty: what :func:`torch.func.vmap` runs per member."""

    def __init__(self, model: FairRepresentationModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, y: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        output, logits = self.model(x)
        return self.model.task_loss(logits, y), self.model.regularizer(output, s)


def _reinitialize(module: nn.Module, seed: int) -> None:
    """Draw every submodule's initial weights again from ``seed``."""
    torch.manual_seed(seed)
    for child in module.modules():
        reset = getattr(child, "reset_parameters", None)
        if callable(reset) and child is not module:
            reset()


class FrontModel(FairModel):
    r"""K :class:`~fairlit.models.FairRepresentationModel` members, one per ``gamma``, trained at once.

    Member ``k`` is a ``FairRepresentationModel(encoder, head, regularizer,
    gamma=gammas[k], ...)`` whose weights are drawn from ``seeds[k]``. Logged per member:
    ``train/m{k}/loss`` (epoch mean) and every evaluation metric as ``{stage}/m{k}/{name}``.

    Args:
        encoder: The members' encoder (each member gets a copy, re-initialized from its seed).
        gammas: One :math:`\gamma \in [0, 1]` per member.
        head: Head factory, as for the model.
        regularizer: Regularizer factory, as for the model (not the joint MI estimator).
        num_groups: Number of sensitive groups (linked from the data by the CLI).
        num_classes: Number of target classes (linked from the data by the CLI).
        optimizer: Optimizer factory over the stacked parameters; it must act element by
            element (Adam, SGD) so that members stay independent.
        seeds: Initialization seed of each member; ``None`` is ``0 .. K-1``.
        sampling_seed: Seed of the random stream (reseeded every step and evaluation).
        prediction_samples: As for the model.
        threshold: As for the model.
        evaluator: As for the model (each member gets its own).

    Raises:
        ValueError: for an empty ``gammas``, a gamma outside ``[0, 1]``, or ``seeds`` of
            another length.
        ConfigurationError: for a regularizer that cannot run under ``vmap``.
    """

    _members: list[FairRepresentationModel]
    _base: nn.Module
    gamma_tensor: Tensor

    def __init__(
        self,
        encoder: Encoder,
        gammas: list[float],
        head: HeadFactory | None = None,
        regularizer: RegularizerFactory | None = None,
        num_groups: int = 2,
        num_classes: int = 2,
        optimizer: OptimizerCallable = _adam,
        seeds: list[int] | None = None,
        sampling_seed: int | None = 0,
        prediction_samples: int = 1,
        threshold: float = 0.5,
        evaluator: EvaluatorFactory | None = None,
    ) -> None:
        super().__init__()
        if not gammas:
            raise ValueError("gammas: give at least one member's gamma")
        seeds = list(range(len(gammas))) if seeds is None else list(seeds)
        if len(seeds) != len(gammas):
            raise ValueError(f"seeds: one per gamma, got {len(seeds)} for {len(gammas)} gammas")
        members = []
        for gamma, seed in zip(gammas, seeds, strict=True):
            member_encoder = copy.deepcopy(encoder)
            _reinitialize(member_encoder, seed)
            torch.manual_seed(seed)  # the head's (and any regularizer's) initial weights
            members.append(
                FairRepresentationModel(
                    member_encoder,
                    head=head,
                    regularizer=regularizer,
                    gamma=gamma,
                    num_groups=num_groups,
                    num_classes=num_classes,
                    check_finite=False,
                    sampling_seed=None,
                    prediction_samples=prediction_samples,
                    threshold=threshold,
                    evaluator=evaluator,
                )
            )
        if getattr(members[0].regularizer, "estimator", None) == "joint":
            raise ConfigurationError(
                "FrontModel cannot run the joint MI estimator under vmap (its custom kernel has "
                "no batching rule); use estimator='factorized', or train the members one by one"
            )
        self.gammas = [float(g) for g in gammas]
        self.seeds = seeds
        self.num_groups, self.num_classes = num_groups, num_classes
        self.optimizer_factory = optimizer
        self.sampling_seed = sampling_seed
        wrapped = [_MemberLoss(member) for member in members]
        params, buffers = torch.func.stack_module_state(wrapped)
        self.names = list(params)
        self.stacked = nn.ParameterList([nn.Parameter(params[name]) for name in self.names])
        self.buffer_names = list(buffers)
        for i, name in enumerate(self.buffer_names):
            self.register_buffer(f"member_buffer_{i}", buffers[name])
        self.register_buffer("gamma_tensor", torch.tensor(self.gammas))
        # The structure functional_call runs the stacked weights through (no weights of its own).
        object.__setattr__(self, "_base", copy.deepcopy(wrapped[0]).to("meta"))
        # The members themselves, kept out of the module tree; filled from the stacked weights
        # for evaluation and export (see `members`).
        object.__setattr__(self, "_members", members)
        self.save_hyperparameters(
            ignore=["encoder", "head", "regularizer", "optimizer", "evaluator"]
        )

    # -- the stacked weights -------------------------------------------------------------------

    def _member_buffers(self) -> dict[str, Tensor]:
        return {
            name: getattr(self, f"member_buffer_{i}") for i, name in enumerate(self.buffer_names)
        }

    def members(self) -> list[FairRepresentationModel]:
        """The K members as ordinary models holding their current weights (on this device).

        Returns:
            One :class:`~fairlit.models.FairRepresentationModel` per gamma, in order.
        """
        buffers = self._member_buffers()
        for k, member in enumerate(self._members):
            state = {name.removeprefix("model."): p[k].detach() for name, p in
                     zip(self.names, self.stacked, strict=True)}  # fmt: skip
            state.update({name.removeprefix("model."): b[k] for name, b in buffers.items()})
            member.to(self.device)
            member.load_state_dict(state, strict=False)
        return self._members

    # -- training ------------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        """Refuse what would couple the members, and data parallelism (not supported yet).

        Raises:
            ConfigurationError: for ``gradient_clip_val``, or more than one process.
        """
        if self.trainer.world_size > 1:
            raise ConfigurationError(
                "FrontModel does not run under data parallelism yet: the MI regularizer's sync "
                "across processes has no batching rule under vmap; train the front on one device"
            )
        if self.trainer.gradient_clip_val:
            raise ConfigurationError(
                "FrontModel: gradient_clip_val clips by a norm over every member's gradients, "
                "which couples them; clip per member is not supported, leave it unset"
            )

    def _reseed(self, *stream: int) -> None:
        reseed(self.sampling_seed, self.global_rank, self.device, *stream)

    def member_losses(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Every member's ``(loss, task_loss, penalty)`` on the batch, each ``[K]``."""
        params = dict(zip(self.names, self.stacked, strict=True))

        def one(member_params: dict, member_buffers: dict) -> tuple[Tensor, Tensor]:
            return torch.func.functional_call(
                self._base, (member_params, member_buffers), (batch["x"], batch["y"], batch["s"])
            )

        task, penalty = torch.func.vmap(one, randomness="different")(params, self._member_buffers())
        gamma = self.gamma_tensor.to(task.dtype)
        return (1.0 - gamma) * task + gamma * penalty, task, penalty

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Optimize the sum of the members' losses (each member's gradient stays its own)."""
        self._reseed(0, self.global_step)
        loss, _, _ = self.member_losses(batch)
        size = len(batch["y"])
        self.log_dict(
            {f"train/m{k}/loss": value for k, value in enumerate(loss.detach())},
            on_step=False,
            on_epoch=True,
            batch_size=size,
        )
        return loss.sum()

    def configure_optimizers(self) -> Any:
        """The optimizer over the stacked parameters."""
        return self.optimizer_factory(self.parameters())

    # -- evaluation ----------------------------------------------------------------------------

    def _on_evaluation_start(self, stage: str) -> None:
        self._stage = stage
        self._reseed(1)
        for member in self.members():
            member.eval()

    def on_validation_epoch_start(self) -> None:
        """Load the members' current weights, and seed the evaluation stream."""
        self._on_evaluation_start("val")

    def on_test_epoch_start(self) -> None:
        """Load the members' current weights, and seed the evaluation stream."""
        self._on_evaluation_start("test")

    def _evaluate(self, batch: dict[str, Tensor]) -> None:
        for member in self._members:
            output, logits = member(batch["x"])
            y_prob = member.predictive_proba(batch["x"], (output, logits)).detach()
            member.evaluator.update(
                self._stage,
                y_prob,
                batch["y"],
                batch["s"],
                output.code.detach(),
                None if output.probs is None else output.probs.detach(),
                batch.get("w"),
            )

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Evaluate every member on the batch."""
        self._evaluate(batch)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Evaluate every member on the batch."""
        self._evaluate(batch)

    def _log_members(self, stage: str) -> None:
        names = getattr(getattr(self._trainer, "datamodule", None), "group_names", ())
        values = {}
        for k, member in enumerate(self._members):
            computed = member.evaluator.compute(stage, group_names=names, warn=False)
            member.evaluator.reset(stage)
            # The per-group rates stay out: K x G x 4 more values would bury the front.
            values.update({key.replace(f"{stage}/", f"{stage}/m{k}/", 1): v
                           for key, v in computed.items() if "/group" not in key})  # fmt: skip
        self.log_dict(values, sync_dist=True, reduce_fx="max")

    def on_validation_epoch_end(self) -> None:
        """Log every member's validation metrics."""
        self._log_members("val")

    def on_test_epoch_end(self) -> None:
        """Log every member's test metrics."""
        self._log_members("test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        """Refuse: a front scores nothing itself; export a member and predict with it.

        Raises:
            ConfigurationError: always.
        """
        raise ConfigurationError(
            "a FrontModel does not predict: write a member with FrontModel.export_member(k, "
            "path) and run `fairlit predict` with that checkpoint"
        )

    # -- export --------------------------------------------------------------------------------

    def export_member(
        self, k: int, path: str | Path, datamodule: pl.LightningDataModule | None = None
    ) -> Path:
        """Write member ``k`` as an ordinary model checkpoint.

        ``FairRepresentationModel.load_from_checkpoint(path, encoder=...)`` loads it, and
        ``fairlit test`` / ``fairlit predict`` accept it with a config whose model is the
        member's (the same encoder, head and regularizer, ``gamma=gammas[k]``). With a
        ``datamodule``, its fitted preprocessing goes along (for a CSV).

        Returns:
            The checkpoint's path.

        Raises:
            IndexError: if ``k`` is not a member.
        """
        if not 0 <= k < len(self._members):
            raise IndexError(f"member {k} does not exist; the front has {len(self._members)}")
        member = self.members()[k]
        checkpoint: dict[str, Any] = {
            "state_dict": {name: t.detach().cpu() for name, t in member.state_dict().items()},
            # The member's own arguments (Lightning's collected hparams also hold the front's).
            "hyper_parameters": {
                # What LightningCLI records for a subclass, so `fairlit test` rebuilds this one.
                "_class_path": "fairlit.models.FairRepresentationModel",
                "gamma": member.gamma,
                "num_groups": member.num_groups,
                "num_classes": member.num_classes,
                "prediction_samples": member.prediction_samples,
                "threshold": member.threshold,
                "sampling_seed": self.sampling_seed,
            },
            "pytorch-lightning_version": pl.__version__,
            "epoch": self.current_epoch if self._trainer is not None else 0,
            "global_step": self.global_step if self._trainer is not None else 0,
        }
        if datamodule is not None:
            checkpoint[type(datamodule).__qualname__] = datamodule.state_dict()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(checkpoint, path)
        return path


def front_rows(metrics: dict[str, Any], stage: str) -> dict[int, dict[str, Any]]:
    """The per-member metrics of a stage, ``{k: {name: value}}`` (for reports)."""
    rows: dict[int, dict[str, Any]] = {}
    prefix = f"{stage}/m"
    for key, value in metrics.items():
        if key.startswith(prefix) and "/" in key[len(prefix) :]:
            index, name = key[len(prefix) :].split("/", 1)
            if index.isdigit():
                rows.setdefault(int(index), {})[name] = value
    return rows
