r"""A whole fairness-accuracy front in one training run: K members trained as one computation.

The members of a front differ only in :math:`\gamma` and their initial weights, so
:class:`FrontModel` stacks their parameters (:func:`torch.func.stack_module_state`) and runs
all K with :func:`torch.func.functional_call` under :func:`torch.func.vmap`. The loss is the
sum of the members' losses, so each member's gradient is its own; Adam (or any optimizer
that works element by element) on the stacked tensors is exactly K independent optimizers.
Refused, as they would couple the members: the Trainer's gradient clipping (a global norm),
``ReduceLROnPlateau`` (one monitored metric), and the joint MI estimator (its kernel has no
batching rule). A schedule of the step or epoch gives every member the rate it would get alone.

**Every member is the run it stands for.** Each training step draws the stochastic layer's
uniform noise once, from the stream an ordinary
:class:`~fairlit.models.FairRepresentationModel` with the same ``sampling_seed`` would use,
and hands it to every member; each member evaluates from its own copy of the evaluation
stream. So member ``k`` trains and evaluates like that model with ``gammas[k]`` from the same
weights (on a CPU to float rounding, without dropout; dropout masks are drawn alike for every
member). Under data parallelism the MI regularizer sums every member's statistics over the
processes in one collective. Metrics are logged per member (``{stage}/m{k}/{metric}``, a
report row each); :meth:`FrontModel.export_member` writes a member as an ordinary checkpoint.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from fairlit.errors import ConfigurationError
from fairlit.front_members import MemberLoss, member_checkpoint, reinitialize
from fairlit.models import (
    EvaluatorFactory,
    FairModel,
    FairRepresentationModel,
    HeadFactory,
    RegularizerFactory,
    _adam,
)
from fairlit.nn import Encoder, StochasticEncoder
from fairlit.optim import optimizers_and_schedule
from fairlit.seeding import generator_state, reseed, set_generator_state

__all__ = ["FrontModel"]


_PLATEAU = (
    "FrontModel: model.init_args.lr_scheduler.class_path is ReduceLROnPlateau, which would lower "
    "every member's learning rate on one monitored metric and so couple them; use a schedule "
    "of the step or epoch, or null"
)


class FrontModel(FairModel):
    r"""K :class:`~fairlit.models.FairRepresentationModel` members, one per ``gamma``, trained at once.

    Member ``k`` is a ``FairRepresentationModel(encoder, head, regularizer,
    gamma=gammas[k], ...)`` whose weights are drawn from ``seeds[k]`` (for the bundled
    encoders: the weights of that model built after ``torch.manual_seed(seeds[k])``).
    :meth:`from_model` builds a front from one ordinary model instead, every member starting
    from its weights. Logged per member: ``train/m{k}/loss`` (epoch mean) and every evaluation
    metric as ``{stage}/m{k}/{name}``.

    Args:
        encoder: The members' encoder (each member gets a copy, re-initialized from its seed).
        gammas: One :math:`\gamma \in [0, 1]` per member.
        head: Head factory, as for the model.
        regularizer: Regularizer factory, as for the model (not the joint MI estimator).
        num_groups: Number of sensitive groups (linked from the data by the CLI).
        num_classes: Number of target classes (linked from the data by the CLI).
        optimizer: Optimizer factory over the stacked parameters; it must act element by
            element (Adam, SGD) so that members stay independent.
        lr_scheduler: Optional schedule of the step or epoch, as for the model (not
            ``ReduceLROnPlateau``).
        seeds: Initialization seed of each member; ``None`` is ``s, s + 1, ...`` for the
            seed ``s`` of the last ``torch.manual_seed`` (``seed_everything``): member 0 then
            starts like the ordinary model of that seed, and another seed gives other members.
        sampling_seed: Seed of the random stream every member samples from (reseeded every
            step and evaluation, as for the model).
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
        lr_scheduler: LRSchedulerCallable | None = None,
        seeds: list[int] | None = None,
        sampling_seed: int | None = 0,
        prediction_samples: int = 1,
        threshold: float = 0.5,
        evaluator: EvaluatorFactory | None = None,
    ) -> None:
        super().__init__()
        if seeds is None:  # after seed_everything(s): s, s + 1, ...
            seeds = [torch.initial_seed() + k for k in range(len(gammas))]
        seeds = list(seeds)
        if len(seeds) != len(gammas):
            raise ValueError(f"seeds: one per gamma, got {len(seeds)} for {len(gammas)} gammas")
        members = []
        for gamma, seed in zip(gammas, seeds, strict=True):
            member_encoder = copy.deepcopy(encoder)
            reinitialize(member_encoder, seed)  # the head continues the seeded stream
            members.append(
                FairRepresentationModel(
                    member_encoder,
                    head=head,
                    regularizer=regularizer,
                    gamma=gamma,
                    num_groups=num_groups,
                    num_classes=num_classes,
                    check_finite=False,
                    sampling_seed=sampling_seed,
                    prediction_samples=prediction_samples,
                    threshold=threshold,
                    evaluator=evaluator,
                )
            )
        self._assemble(members, optimizer, lr_scheduler, sampling_seed, seeds)
        self.save_hyperparameters(
            ignore=["encoder", "head", "regularizer", "optimizer", "lr_scheduler", "evaluator"]
        )

    @classmethod
    def from_model(cls, model: FairRepresentationModel, gammas: list[float]) -> FrontModel:
        """A front of copies of ``model``, one per gamma, every member starting from its weights.

        The members keep the model's encoder, head, regularizer, optimizer, schedule,
        sampling seed, threshold, prediction samples and evaluator; so member ``k`` is the run
        of ``model`` with ``gamma=gammas[k]`` (how ``fairlit sweep --vectorize`` trains one
        seed's grid).

        Raises:
            ValueError: for an empty ``gammas`` or a gamma outside ``[0, 1]``.
            ConfigurationError: for the joint MI estimator or ``ReduceLROnPlateau``.
        """
        members = []
        for gamma in gammas:
            if isinstance(gamma, bool) or not 0.0 <= float(gamma) <= 1.0:
                raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}")
            member = copy.deepcopy(model)
            member.gamma, member.check_finite = float(gamma), False
            member.hparams["gamma"] = float(gamma)
            members.append(member)
        front = cls.__new__(cls)
        FairModel.__init__(front)
        front._assemble(
            members, model.optimizer_factory, model.lr_scheduler_factory, model.sampling_seed, None
        )
        front.save_hyperparameters({"gammas": front.gammas, "sampling_seed": model.sampling_seed})
        return front

    def _assemble(
        self,
        members: list[FairRepresentationModel],
        optimizer: OptimizerCallable,
        lr_scheduler: LRSchedulerCallable | None,
        sampling_seed: int | None,
        seeds: list[int] | None,
    ) -> None:
        """Stack the members' weights into this module's parameters and buffers.

        Raises:
            ValueError: for no member.
            ConfigurationError: for the joint MI estimator or ``ReduceLROnPlateau``.
        """
        if not members:
            raise ValueError("gammas: give at least one member's gamma")
        if getattr(members[0].regularizer, "estimator", None) == "joint":
            raise ConfigurationError(
                "FrontModel cannot run the joint MI estimator under vmap (its custom kernel has "
                "no batching rule): set model.init_args.regularizer.init_args.estimator to "
                "factorized, or train the members one by one"
            )
        self.gammas = [member.gamma for member in members]
        self.seeds = seeds
        self.num_groups, self.num_classes = members[0].num_groups, members[0].num_classes
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        if lr_scheduler is not None:  # refuse now, not after the Trainer has started
            probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            if isinstance(lr_scheduler(probe), torch.optim.lr_scheduler.ReduceLROnPlateau):
                raise ConfigurationError(_PLATEAU)
        self.sampling_seed = sampling_seed
        encoder = members[0].encoder
        # The stochastic layer's width, when the front draws its noise (see `training_noise`).
        self.noise_width = encoder.out_features if isinstance(encoder, StochasticEncoder) else None
        wrapped = [MemberLoss(member) for member in members]
        params, buffers = torch.func.stack_module_state(wrapped)
        self.names = list(params)
        self.stacked = nn.ParameterList([nn.Parameter(params[name]) for name in self.names])
        self.buffer_names = list(buffers)
        for i, name in enumerate(self.buffer_names):
            self.register_buffer(f"member_buffer_{i}", buffers[name])
        # Kept in the state dict (checkpoints hold it); the loss takes gamma from self.gammas in
        # the loss's own dtype, as a member's Python float is, so a float64 run is not given
        # float32-rounded gammas (0.4 -> 0.4000000060).
        self.register_buffer("gamma_tensor", torch.tensor(self.gammas))
        # The structure functional_call runs the stacked weights through (no weights of its own).
        object.__setattr__(self, "_base", copy.deepcopy(wrapped[0]).to("meta"))
        # The members themselves, kept out of the module tree; filled from the stacked weights
        # for evaluation and export (see `members`).
        object.__setattr__(self, "_members", members)
        self._streams: list[Tensor] = []

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
            member.to(device=self.device, dtype=self.stacked[0].dtype)
            member.load_state_dict(state, strict=False)
        return self._members

    # -- training ------------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        """Refuse what would couple the members (see :meth:`check_trainer`)."""
        self.check_trainer(self.trainer)

    def check_trainer(self, trainer: pl.Trainer) -> None:
        """Refuse Trainer settings that would couple the members (the CLI asks before fitting).

        Raises:
            ConfigurationError: for ``gradient_clip_val``.
        """
        if trainer.gradient_clip_val:
            raise ConfigurationError(
                "FrontModel: trainer.gradient_clip_val clips by a norm over every member's "
                "gradients, which couples them; clip per member is not supported, leave it unset"
            )

    def _reseed(self, *stream: int) -> None:
        reseed(self.sampling_seed, self.global_rank, self.device, *stream)

    def training_noise(self, batch: dict[str, Tensor]) -> Tensor | None:
        """The step's uniform noise ``[B, m]`` for the stochastic layer, shared by the members.

        Drawn from the global generator with the stacked weights' dtype, right where an
        ordinary model's :func:`torch.bernoulli` would draw it; ``None`` for an encoder without
        a stochastic layer.
        """
        if self.noise_width is None:
            return None
        return torch.rand(
            len(batch["x"]), self.noise_width, dtype=self.stacked[0].dtype, device=self.device
        )

    def member_losses(
        self, batch: dict[str, Tensor], noise: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Every member's ``(loss, task_loss, penalty)`` on the batch, each ``[K]``.

        Args:
            batch: ``x``, ``y``, ``s`` (and ``w``) as for the model.
            noise: The stochastic layer's uniform draws: ``[B, m]`` for every member, or
                ``[K, B, m]``, one per member; ``None``: each sampled bit from the generator.
        """
        params = dict(zip(self.names, self.stacked, strict=True))

        def one(member_params: dict, member_buffers: dict, draws: Tensor | None) -> Any:
            return torch.func.functional_call(
                self._base, (member_params, member_buffers), (batch, draws)
            )

        noise_dim = 0 if noise is not None and noise.dim() == 3 else None
        task, penalty = torch.func.vmap(one, in_dims=(0, 0, noise_dim), randomness="same")(
            params, self._member_buffers(), noise
        )
        gamma = torch.tensor(self.gammas, dtype=task.dtype, device=task.device)
        return (1.0 - gamma) * task + gamma * penalty, task, penalty

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Optimize the sum of the members' losses (each member's gradient stays its own)."""
        self._reseed(0, self.global_step)
        loss, _, _ = self.member_losses(batch, self.training_noise(batch))
        self.add_epoch_losses(loss, len(batch["y"]))
        return loss.sum()

    def epoch_loss_names(self) -> list[str]:
        """Every member's epoch mean loss, ``train/m{k}/loss``."""
        return [f"train/m{k}/loss" for k in range(len(self.gammas))]

    def configure_optimizers(self) -> Any:
        """The optimizer over the stacked parameters, and the schedule if there is one."""
        return optimizers_and_schedule(
            self.optimizer_factory, self.lr_scheduler_factory, self.parameters()
        )

    # -- evaluation ----------------------------------------------------------------------------

    def _on_evaluation_start(self, stage: str) -> None:
        self._stage = stage
        self._reseed(1)
        # Every member continues its own copy of the evaluation stream, as if evaluated alone.
        start = generator_state(self.device)
        self._streams = [start.clone() for _ in self._members]
        for member in self.members():
            member.eval()
            member.evaluator.reset(stage)  # fresh states (see the model's evaluation hooks)

    def on_validation_epoch_start(self) -> None:
        """Load the members' current weights, and seed the evaluation stream."""
        self._on_evaluation_start("val")

    def on_test_epoch_start(self) -> None:
        """Load the members' current weights, and seed the evaluation stream."""
        self._on_evaluation_start("test")

    def _evaluate(self, batch: dict[str, Tensor]) -> None:
        for k, member in enumerate(self._members):
            set_generator_state(self.device, self._streams[k])
            output, logits = member(batch["x"])
            y_prob = member.predictive_proba(batch["x"], (output, logits)).detach()
            self._streams[k] = generator_state(self.device)
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
        epoch, step = (self.current_epoch, self.global_step) if self._trainer else (0, 0)
        checkpoint = member_checkpoint(self.members()[k], epoch, step, datamodule)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(checkpoint, path)
        return path
