r"""The LightningModule: encoder + task head + invariance regularizer.

.. math::

    L = (1 - \gamma)\, L_{task}(\text{head}(T), y) + \gamma\, R(T, s)

where :math:`T` is the encoder's representation (the stochastic binary code
for SQNN), :math:`L_{task}` the cross-entropy and :math:`R` the injected
regularizer's penalty (e.g. the mutual information :math:`I(T; S)` in bits).
"""

import warnings
from collections.abc import Callable
from typing import Any

import torch
from jsonargparse.typing import ClosedUnitInterval, OpenUnitInterval
from pytorch_lightning.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor

from fairlit.evaluation import Evaluator
from fairlit.losses import penalty, task_loss
from fairlit.model_base import FairModel
from fairlit.nn import Encoder, EncoderOutput, Head, TaskHead
from fairlit.optim import optimizers_and_schedule
from fairlit.regularizers import NoRegularizer, Regularizer
from fairlit.seeding import reseed
from fairlit.validation import check_same_architecture

__all__ = ["FairModel", "FairRepresentationModel", "NonFiniteLossError"]

_TRAIN_TERMS = ("loss", "task_loss", "penalty")

HeadFactory = Callable[[int, int], Head]
RegularizerFactory = Callable[[int, int], Regularizer]
EvaluatorFactory = Callable[[int, int, int], Evaluator]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step and the term."""


def _adam(params: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=1e-3)


class FairRepresentationModel(FairModel):
    r"""Learn a representation that predicts ``y`` and is invariant to ``s``.

    Components are injected, never looked up by name: any ``nn.Module``
    encoder returning an :class:`~fairlit.nn.EncoderOutput` and having an
    ``out_features`` attribute; a head factory called with
    ``(encoder.out_features, num_classes)``; a regularizer factory called with
    ``(encoder.out_features, num_groups)``. From a LightningCLI config, the
    factories are written like classes (``class_path`` + ``init_args``) and
    receive the sizes at construction.

    Logged: ``train/loss_step``, ``train/task_loss_step``, ``train/penalty_step`` every
    ``log_every_n_steps`` steps and their epoch means ``train/loss_epoch`` (etc.); per
    evaluation stage (``val``, ``test``) ``{stage}/loss``, ``{stage}/task_loss``,
    ``{stage}/penalty`` and the injected ``evaluator``'s metrics
    (:class:`~fairlit.evaluation.Evaluator`: accuracy, AUC, ΔDP, ΔEO and, for a stochastic
    binary code, the plug-in and factorized MI in bits).

    Args:
        encoder: A :class:`~fairlit.nn.Encoder`: maps ``x`` to an
            :class:`~fairlit.nn.EncoderOutput` (a :class:`~fairlit.nn.StochasticEncoder` for a
            binary code with an ``inference`` mode).
        head: Factory ``(in_features, num_classes) ->`` :class:`~fairlit.nn.Head` returning
            logits; ``None`` builds a linear :class:`~fairlit.nn.TaskHead`.
        regularizer: Factory ``(in_features, num_groups) ->``
            :class:`~fairlit.regularizers.Regularizer`
            returning a penalty from ``(EncoderOutput, s)``; ``None`` means no
            regularizer.
        gamma: Weight :math:`\gamma \in [0, 1]` of the penalty.
        num_groups: Number of sensitive groups (linked from the data by the CLI).
        num_classes: Number of target classes (linked from the data by the CLI).
        optimizer: Optimizer factory; default Adam with lr 1e-3.
        lr_scheduler: Optional scheduler factory, stepped every optimizer step
            if the scheduler class says ``interval = "step"`` (like
            :class:`~fairlit.optim.InverseTimeDecay`), else every epoch.
        check_finite: Stop with :class:`NonFiniteLossError` when the training
            loss becomes NaN or infinite (one host sync per step on a GPU).
        sampling_seed: Seed of the random stream (Bernoulli sampling, dropout).
            Before every training step the global generators are seeded from
            ``(sampling_seed, global_step, rank)``, and before every evaluation
            epoch from ``(sampling_seed, rank)``: a resumed run samples exactly
            like an uninterrupted one, and evaluating the same weights twice
            gives the same numbers. ``None`` leaves the generators alone.
        prediction_samples: Number of code samples whose head probabilities are
            averaged for the predictions of validation, test and ``predict_step``
            (:meth:`predictive_proba`). ``1`` is the paper's rule: the head sees one
            sampled code. ``K > 1`` estimates the stochastic network's predictive
            distribution :math:`P(y \mid x) = E_{T \sim p(T \mid x)}[P(y \mid T)]` by
            Monte Carlo, which shrinks the sampling noise of each prediction (error
            about :math:`1/\sqrt{K}`) at the cost of ``K`` forward passes per
            evaluation batch. The logged losses, ``mi_bits`` and the returned ``code``
            use the first sample. Ignored (one pass) when the encoder is deterministic:
            its output has ``probs=None`` (no stochastic layer), or its ``inference``
            attribute is not ``"sample"``.
        threshold: The decision rule of accuracy, ΔDP, ΔEO and the predicted labels:
            positive iff :math:`P(y=1) \ge` ``threshold`` (binary tasks; set on the evaluator).
        evaluator: Factory ``(num_classes, num_groups, code_bits) ->``
            :class:`~fairlit.evaluation.Evaluator` of the validation and test metrics;
            ``None`` is the default set above. Add a metric in a config with
            ``evaluator: {class_path: fairlit.evaluation.Evaluator, init_args:
            {extra_metrics: {name: {class_path: ...}}}}``.

    Raises:
        ValueError: if ``gamma`` is outside ``[0, 1]``, ``prediction_samples`` is not a positive
            integer, or ``num_groups < 1`` or ``num_classes < 2``.
        TypeError: if the encoder has no int attribute ``out_features``.

    Example:
        >>> from fairlit.nn import HybridBinaryEncoder
        >>> model = FairRepresentationModel(HybridBinaryEncoder(in_features=5, out_features=8), gamma=0.3)
        >>> batch = {"x": torch.randn(6, 5), "y": torch.tensor([0, 1, 0, 1, 1, 0]), "s": torch.tensor([0, 0, 1, 1, 0, 1])}
        >>> terms = model.loss_terms(batch)
        >>> sorted(terms)
        ['logits', 'loss', 'output', 'penalty', 'task_loss']
    """

    def __init__(
        self,
        encoder: Encoder,
        head: HeadFactory | None = None,
        regularizer: RegularizerFactory | None = None,
        gamma: ClosedUnitInterval = 0.5,
        num_groups: int = 2,
        num_classes: int = 2,
        optimizer: OptimizerCallable = _adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        check_finite: bool = True,
        sampling_seed: int | None = 0,
        prediction_samples: int = 1,
        threshold: OpenUnitInterval = 0.5,
        evaluator: EvaluatorFactory | None = None,
    ) -> None:
        super().__init__()
        if (
            isinstance(prediction_samples, bool)
            or not isinstance(prediction_samples, int)
            or prediction_samples < 1
        ):
            raise ValueError(
                f"prediction_samples must be a positive integer, got {prediction_samples!r}"
            )
        if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}")
        if num_groups < 1 or num_classes < 2:
            raise ValueError(
                f"need num_groups >= 1 and num_classes >= 2, got {num_groups} and {num_classes}"
            )
        if not isinstance(getattr(encoder, "out_features", None), int):
            raise TypeError(
                f"encoder {type(encoder).__name__} must have an int attribute `out_features` "
                "(the width of its representation)"
            )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is an instance of `nn.Module`")
            warnings.filterwarnings("ignore", message=".*cannot be pickled")
            self.save_hyperparameters()
        # Under LightningCLI the components arrive as their configuration (plain data), which
        # lets ``load_from_checkpoint`` rebuild the whole graph. Built in Python, they are live
        # objects: keep those out of the checkpoint, which then loads with ``weights_only``
        # (pass the components again to ``load_from_checkpoint``).
        for key in ("encoder", "head", "regularizer", "optimizer", "lr_scheduler", "evaluator"):
            if not isinstance(self.hparams.get(key), dict | str | int | float | bool | type(None)):
                self.hparams.pop(key, None)
                self._hparams_initial.pop(key, None)  # type: ignore[union-attr, operator]
        self.encoder = encoder
        width = encoder.out_features
        self.head = head(width, num_classes) if head is not None else TaskHead(width, num_classes)
        self.regularizer = (
            regularizer(width, num_groups)
            if regularizer is not None
            else NoRegularizer(width, num_groups)
        )
        self.gamma = float(gamma)
        self.num_groups = num_groups
        self.num_classes = num_classes
        self.optimizer_factory = optimizer
        self.lr_scheduler_factory = lr_scheduler
        self.check_finite = check_finite
        self.sampling_seed = sampling_seed
        self.prediction_samples = prediction_samples
        # Epoch index of the weights loaded from a checkpoint (read by FairnessReport).
        self.checkpoint_epoch: int | None = None
        self.threshold = float(threshold)
        self.evaluator = (evaluator or Evaluator)(num_classes, num_groups, width)
        self.evaluator.set_threshold(self.threshold)

    # -- forward and loss --------------------------------------------------------------------

    def forward(self, x: Tensor, noise: Tensor | None = None) -> tuple[EncoderOutput, Tensor]:
        """Encode ``x`` and return ``(representation, logits)``.

        ``noise``: uniform draws ``[B, m]`` for a :class:`~fairlit.nn.StochasticEncoder`'s
        sampled bits instead of the global generator (see
        :meth:`~fairlit.nn.StochasticBinaryLayer.forward`); ``None`` for any other encoder.
        """
        output = self.encoder(x) if noise is None else self.encoder(x, noise=noise)
        return output, self.head(output.code)

    def task_loss(self, logits: Tensor, y: Tensor, weights: Tensor | None = None) -> Tensor:
        """Cross-entropy of the head's logits (binary: one logit per row), weighted on request."""
        return task_loss(logits, y, self.num_classes, weights)

    def proba_from_logits(self, logits: Tensor) -> Tensor:
        """The head's logits turned into probabilities (sigmoid, or softmax over classes).

        Args:
            logits: The head's output, ``[B]`` (binary) or ``[B, C]``, floating.

        Returns:
            P(y = 1) ``[B]`` for a binary task, class probabilities ``[B, C]`` otherwise. For
            the probabilities of features ``x``, averaged over code samples, use
            :meth:`predictive_proba`.
        """
        return torch.sigmoid(logits) if self.num_classes == 2 else logits.softmax(-1)

    def predictive_proba(
        self, x: Tensor, first: tuple[EncoderOutput, Tensor] | None = None
    ) -> Tensor:
        """Predictive probabilities averaged over ``prediction_samples`` code samples.

        Call it in eval mode under ``torch.no_grad()``; outside the Trainer the random
        stream is the global generator as it stands (seed it for repeatable draws).

        Args:
            x: Input features ``[B, F]``.
            first: An already computed ``self(x)`` to use as the first sample.

        Returns:
            As :meth:`proba_from_logits`: ``[B]`` for a binary task, ``[B, C]`` otherwise.
        """
        output, logits = first if first is not None else self(x)
        total = self.proba_from_logits(logits)
        samples = self.prediction_samples
        if (
            samples == 1
            or output.probs is None
            or getattr(self.encoder, "inference", "sample") != "sample"
        ):
            return total
        for _ in range(samples - 1):
            total = total + self.proba_from_logits(self(x)[1])
        return total / samples

    def loss_terms(self, batch: dict[str, Tensor], noise: Tensor | None = None) -> dict[str, Any]:
        """Compute the representation, logits, task loss, penalty and total loss of a batch.

        ``noise`` is passed to :meth:`forward`.
        """
        output, logits = self(batch["x"], noise)
        weights = batch.get("w")  # sample weights, when the data has them
        task = self.task_loss(logits, batch["y"], weights)
        reg = penalty(self.regularizer, output, batch["s"], weights)
        loss = (1.0 - self.gamma) * task + self.gamma * reg
        return {"output": output, "logits": logits, "task_loss": task, "penalty": reg, "loss": loss}

    # -- random stream -----------------------------------------------------------------------

    def _reseed(self, *stream: int) -> None:
        reseed(self.sampling_seed, self.global_rank, self.device, *stream)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Seed the step's random stream from the global step (see ``sampling_seed``)."""
        self._reseed(0, self.global_step)

    def on_validation_epoch_start(self) -> None:
        """Seed the evaluation stream, so every evaluation samples the same way.

        The metrics start from fresh states: under ``ddp_spawn`` on a CPU, the states built
        before the processes started are shared memory, which every process would add into.
        """
        self._reseed(1)
        self.evaluator.reset("val")

    def on_test_epoch_start(self) -> None:
        """Seed the evaluation stream, and start the metrics afresh (see the validation hook)."""
        self._reseed(1)
        self.evaluator.reset("test")

    def on_predict_epoch_start(self) -> None:
        """Seed the evaluation stream (see :meth:`on_validation_epoch_start`)."""
        self._reseed(1)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint whose weights do not fit this architecture, saying why.

        Raises:
            ValueError: if the checkpoint's weights have other shapes than this model's (a different
                architecture); the message names the first differing parameter.
        """
        self.checkpoint_epoch = checkpoint.get("epoch")
        check_same_architecture(self.state_dict(), checkpoint.get("state_dict", {}))

    # -- Lightning steps ---------------------------------------------------------------------

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """Optimize the weighted sum of task loss and penalty.

        Raises:
            NonFiniteLossError: if the batch's features or the loss are NaN or inf (naming the step
                and the term).
        """
        try:
            terms = self.loss_terms(batch)
        except RuntimeError as err:
            # NaN features make Bernoulli sampling fail with an opaque message: say why.
            if self.check_finite and not torch.isfinite(batch["x"]).all():
                raise NonFiniteLossError(
                    f"the input features `x` of batch {batch_idx} (global step {self.global_step}) "
                    "contain NaN or inf; clean the data first"
                ) from err
            raise
        if self.check_finite and not torch.isfinite(terms["loss"]):
            bad = [k for k in ("task_loss", "penalty") if not torch.isfinite(terms[k])]
            raise NonFiniteLossError(
                f"training loss is {terms['loss'].item()} at global step {self.global_step} "
                f"(epoch {self.current_epoch}, batch {batch_idx}); non-finite term(s): "
                f"{bad or ['the weighted sum']}. Lower the learning rate or check the input "
                "features for extreme values."
            )
        values = torch.stack([terms[k].detach() for k in _TRAIN_TERMS])
        size = len(batch["y"])
        self.add_epoch_losses(values, size)
        trainer: Any = self._trainer  # log_every_n_steps is set by Lightning, undeclared on Trainer
        every = trainer.log_every_n_steps if trainer is not None else 1
        if (self.global_step + 1) % max(every, 1) == 0:
            self.log_dict(
                {f"train/{k}_step": v for k, v in zip(_TRAIN_TERMS, values, strict=True)},
                on_step=True,
                on_epoch=False,
                batch_size=size,
            )
            self.log(
                "train/loss", values[0], on_step=True, on_epoch=False, prog_bar=True, logger=False
            )
        return terms["loss"]

    def epoch_loss_names(self) -> list[str]:
        """``train/loss_epoch``, ``train/task_loss_epoch``, ``train/penalty_epoch``."""
        return [f"train/{k}_epoch" for k in _TRAIN_TERMS]

    def _evaluate(self, batch: dict[str, Tensor], stage: str) -> dict[str, Tensor]:
        terms = self.loss_terms(batch)
        output, y, s = terms["output"], batch["y"], batch["s"]
        y_prob = self.predictive_proba(batch["x"], (output, terms["logits"])).detach()
        self.evaluator.update(
            stage,
            y_prob,
            y,
            s,
            output.code.detach(),
            None if output.probs is None else output.probs.detach(),
            batch.get("w"),
        )
        size = len(y)
        for key in ("loss", "task_loss", "penalty"):
            self.log(
                f"{stage}/{key}",
                terms[key],
                on_step=False,
                on_epoch=True,
                batch_size=size,
                sync_dist=True,
            )
        return {
            "loss": terms["loss"],
            "y_prob": y_prob,
            "y": y,
            "s": s,
            "code": output.code.detach(),
            "probs": None if output.probs is None else output.probs.detach(),
        }

    def _log_epoch(self, stage: str) -> None:
        # The evaluator's metrics sync their states across processes before computing, so
        # every rank holds the same values; a max over ranks keeps them bit for bit (and keeps
        # Lightning from warning that epoch-level values are not synced).
        trainer: Any = self._trainer
        names = getattr(getattr(trainer, "datamodule", None), "group_names", ())
        warn = trainer is None or not trainer.sanity_checking
        values = self.evaluator.compute(stage, group_names=names, warn=warn)
        self.log_dict(values, sync_dist=True, reduce_fx="max")
        self.evaluator.reset(stage)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Evaluate one validation batch (see :meth:`test_step`)."""
        return self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        """Log the epoch-level validation metrics."""
        self._log_epoch("val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Evaluate one test batch; returns ``loss``, ``y_prob``, ``y``, ``s``, ``code``, ``probs``."""
        return self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        """Log the epoch-level test metrics."""
        self._log_epoch("test")

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        """Return ``y_prob`` (P(y=1), see ``prediction_samples``), ``code``, ``probs``, ``y``, ``s``.

        ``probs`` is the firing probabilities ``[B, m]``, or None for a deterministic encoder.
        """
        output, logits = self(batch["x"])
        return {
            "y_prob": self.predictive_proba(batch["x"], (output, logits)),
            "code": output.code,
            "probs": output.probs,
            "y": batch["y"],
            "s": batch["s"],
        }

    def configure_optimizers(self) -> Any:
        """Build the injected optimizer (and scheduler) over all parameters."""
        return optimizers_and_schedule(
            self.optimizer_factory, self.lr_scheduler_factory, self.parameters()
        )
