"""The evaluator: the metrics a :class:`~fairlit.models.FairRepresentationModel` computes.

The model hands every validation and test batch to its evaluator and logs what the evaluator
computes at the end of the epoch, so a metric is added in a config, not in ``models.py``::

    model:
      init_args:
        evaluator:
          class_path: fairlit.evaluation.Evaluator
          init_args:
            extra_metrics:
              recall:
                class_path: torchmetrics.classification.BinaryRecall

Every metric is a :class:`torchmetrics.Metric` updated with ``(y_prob, y, groups=s)``
(``groups`` only reaches a metric whose ``update`` takes it, so torchmetrics' own classification
metrics work as they are) and logged as ``{stage}/{name}``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAUROC,
    MulticlassAccuracy,
    MulticlassAUROC,
)

from fairlit.metrics import (
    DemographicParityDifference,
    DemographicParityRatio,
    EqualizedOddsDifference,
    FactorizedMutualInformation,
    MulticlassDemographicParityDifference,
    PlugInMutualInformation,
)

__all__ = ["STAGES", "Evaluator", "default_metrics"]

#: The evaluation stages an evaluator keeps apart.
STAGES: tuple[str, ...] = ("val", "test")


class _BinaryAccuracy(Metric):
    """Accuracy with fairlit's decision rule, positive iff ``p >= threshold``, weighted on request.

    torchmetrics' ``BinaryAccuracy`` counts ``p > threshold`` as positive, fairlit's group
    metrics ``p >= threshold``; with both in one collection a probability of exactly 0.5 would
    be a negative for accuracy and a positive for ΔDP and ΔEO. Unweighted, the value is
    torchmetrics' (the same float32 division of the same integer counts); with ``weights`` it
    is the weighted share of correct predictions.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    correct: Tensor
    total: Tensor

    def __init__(self, threshold: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.add_state("correct", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: Tensor, target: Tensor, weights: Tensor | None = None) -> None:
        hit = ((preds >= self.threshold).long() == target.long()).to(torch.float64)
        if weights is None:
            self.correct += hit.sum()
            self.total += hit.numel()
        else:
            w = weights.reshape(hit.shape).to(torch.float64)
            self.correct += (hit * w).sum()
            self.total += w.sum()

    def compute(self) -> Tensor:
        if self.total <= 0:
            return torch.zeros(())
        return self.correct.float() / self.total.float()


#: The metric classes that threshold ``P(y=1)`` (``preds >= threshold``).
_THRESHOLDED = (DemographicParityDifference, DemographicParityRatio, EqualizedOddsDifference)


def default_metrics(num_classes: int, num_groups: int) -> dict[str, Metric]:
    r"""Fairlit's default prediction metrics.

    Binary targets: ``accuracy`` (torchmetrics ``BinaryAccuracy`` with fairlit's decision rule,
    positive iff :math:`P(y=1) \ge 0.5`, the rule of ΔDP and ΔEO too), ``auc``
    (``BinaryAUROC``), ``dp_difference`` (:class:`~fairlit.metrics.DemographicParityDifference`)
    and ``eo_difference`` (:class:`~fairlit.metrics.EqualizedOddsDifference`). More classes:
    micro ``accuracy``, ``auc`` and the multiclass ``dp_difference``.

    Example:
        >>> sorted(default_metrics(2, 3))
        ['accuracy', 'auc', 'dp_difference', 'eo_difference']
    """
    if num_classes == 2:
        return {
            "accuracy": _BinaryAccuracy(),
            "auc": BinaryAUROC(),
            "dp_difference": DemographicParityDifference(num_groups=num_groups),
            "eo_difference": EqualizedOddsDifference(num_groups=num_groups),
        }
    return {
        "accuracy": MulticlassAccuracy(num_classes, average="micro"),
        "auc": MulticlassAUROC(num_classes),
        "dp_difference": MulticlassDemographicParityDifference(num_classes, num_groups),
    }


class Evaluator(nn.Module):
    """Per-stage metric sets of a fair representation model.

    For each stage in :data:`STAGES`: the prediction metrics (:func:`default_metrics` unless
    ``default=False``, plus ``extra_metrics``, each copied per stage) and, for an encoder with
    firing probabilities, ``mi_bits`` (plug-in :math:`I(T; S)` of the sampled codes, bits) and
    ``mi_factorized_bits`` (factorized MI of the firing probabilities, bits), all over the
    whole epoch (:class:`~fairlit.metrics.PlugInMutualInformation`, :class:`~fairlit.metrics.FactorizedMutualInformation`).

    The model calls it as a factory with ``(num_classes, num_groups, code_bits)``, so a config
    gives only the other arguments.

    Args:
        num_classes: Number of target classes.
        num_groups: Number of sensitive groups.
        code_bits: Width of the code (the MI metrics' ``num_bits``).
        extra_metrics: Name to torchmetrics ``Metric``, logged as ``{stage}/{name}``.
        default: Include :func:`default_metrics`.
        mutual_information: Include the two MI metrics.

    Raises:
        ValueError: for an extra metric whose name is taken, or that is not a ``Metric``.

    Example:
        >>> import torch
        >>> from torchmetrics.classification import BinaryRecall
        >>> ev = Evaluator(2, 2, 4, extra_metrics={"recall": BinaryRecall()})
        >>> ev.update("val", torch.tensor([0.9, 0.2, 0.7]), torch.tensor([1, 0, 0]),
        ...           torch.tensor([0, 1, 1]))
        >>> values = ev.compute("val", warn=False)  # three rows: groups lack a class
        >>> {k: round(float(v), 3) for k, v in values.items() if "recall" in k}
        {'val/recall': 1.0}
    """

    def __init__(
        self,
        num_classes: int,
        num_groups: int,
        code_bits: int,
        extra_metrics: Mapping[str, Metric] | None = None,
        default: bool = True,
        mutual_information: bool = True,
    ) -> None:
        super().__init__()
        base: dict[str, Metric] = default_metrics(num_classes, num_groups) if default else {}
        for name, metric in (extra_metrics or {}).items():
            if not isinstance(metric, Metric):
                raise ValueError(
                    f"extra_metrics[{name!r}] must be a torchmetrics Metric, "
                    f"got {type(metric).__name__}"
                )
            if name in base or name in ("mi_bits", "mi_factorized_bits"):
                raise ValueError(f"extra_metrics[{name!r}]: the name is taken by a default metric")
            base[name] = metric
        self.metrics: Mapping[str, MetricCollection] = nn.ModuleDict(  # type: ignore[assignment]
            {
                stage: MetricCollection(
                    {k: copy.deepcopy(m) for k, m in base.items()}, prefix=f"{stage}/"
                )
                for stage in STAGES
            }
        )
        self.mutual_information: Mapping[str, Mapping[str, Metric]] = nn.ModuleDict(  # type: ignore[assignment]
            {
                stage: nn.ModuleDict(
                    {
                        "mi_bits": PlugInMutualInformation(num_groups, num_bits=code_bits),
                        "mi_factorized_bits": FactorizedMutualInformation(
                            num_groups, num_bits=code_bits
                        ),
                    }
                )
                for stage in (STAGES if mutual_information else ())
            }
        )

    def update(
        self,
        stage: str,
        y_prob: Tensor,
        y: Tensor,
        groups: Tensor,
        code: Tensor | None = None,
        probs: Tensor | None = None,
        weights: Tensor | None = None,
    ) -> None:
        """Add one batch.

        Args:
            stage: ``"val"`` or ``"test"``.
            y_prob: P(y = 1) ``[B]`` (binary) or class probabilities ``[B, C]``.
            y: Targets, int64 ``[B]``.
            groups: Sensitive groups ``s``, int64 ``[B]``.
            code: The sampled code ``[B, m]`` (0/1), for the plug-in MI.
            probs: Firing probabilities ``[B, m]``; ``None`` (a deterministic encoder) skips
                both MI metrics.
            weights: Optional sample weights ``[B]``: accuracy, ΔDP, ΔEO and both MI metrics
                become weighted (metrics whose ``update`` takes no ``weights``, such as the
                AUC, stay unweighted).
        """
        if weights is None:
            self.metrics[stage].update(y_prob, y, groups=groups)
        else:
            self.metrics[stage].update(y_prob, y, groups=groups, weights=weights)
        if probs is not None and stage in self.mutual_information:
            mi = self.mutual_information[stage]
            mi["mi_bits"].update(code, groups, weights)
            mi["mi_factorized_bits"].update(probs, groups, weights)

    def compute(
        self, stage: str, group_names: Sequence[str] = (), warn: bool = True
    ) -> dict[str, Tensor]:
        """The stage's values over everything added since the last :meth:`reset`.

        When a gap left a group out (:meth:`left_out_groups`), the values hold
        ``{stage}/groups_left_out`` (their number; the fairness report marks the gaps) and,
        with ``warn``, one warning names the groups (by ``group_names`` where given).
        """
        values: dict[str, Any] = dict(self.metrics[stage].compute())
        if stage in self.mutual_information:
            for key, metric in self.mutual_information[stage].items():
                if metric.update_called:
                    values[f"{stage}/{key}"] = metric.compute()
        rates = self.group_rates(stage)  # one sync, for the per-group values and the gaps
        if rates is not None:
            values.update(self._group_values(stage, rates))
        left_out = self.left_out_groups(stage, rates) if rates is not None else []
        if left_out:
            values[f"{stage}/groups_left_out"] = torch.tensor(float(len(left_out)))
            if warn:
                shown = [group_names[g] if g < len(group_names) else f"group {g}" for g in left_out]
                rank_zero_warn(
                    f"{stage}: group(s) {shown} left out of a gap (no rows, no positives or no "
                    "negatives in this split): ΔDP and ΔEO compare the other groups"
                )
        return values

    def set_threshold(self, threshold: float) -> None:
        """Use ``P(y=1) >= threshold`` as the decision rule of every metric that thresholds.

        Raises:
            ValueError: if ``threshold`` is not strictly between 0 and 1.
        """
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
        for collection in self.metrics.values():
            for metric in collection.values():
                if isinstance(metric, (_BinaryAccuracy, *_THRESHOLDED)):
                    metric.threshold = float(threshold)

    def group_rates(self, stage: str) -> dict[str, Tensor] | None:
        """Each group's rows, selection rate, TPR and FPR with ``*_defined`` masks, all ranks'.

        ``None`` without the default ``eo_difference`` metric or before any update. Call it
        before :meth:`reset`; it makes one collective under data parallelism.
        """
        collection = self.metrics[stage]
        metric = collection["eo_difference"] if "eo_difference" in collection else None
        if not isinstance(metric, EqualizedOddsDifference) or not metric.update_called:
            return None
        with metric.sync_context():
            return metric.group_rates()

    @staticmethod
    def _group_values(stage: str, rates: dict[str, Tensor]) -> dict[str, Tensor]:
        """The per-group values to log, ``{stage}/group{g}/{rows,selection_rate,tpr,fpr}``.

        An undefined rate has no key (the report prints "undefined"): nothing logged is NaN.
        """
        values = {}
        for g in range(len(rates["rows"])):
            values[f"{stage}/group{g}/rows"] = rates["rows"][g].float()
            for name in ("selection_rate", "tpr", "fpr"):
                if bool(rates[f"{name}_defined"][g]):
                    values[f"{stage}/group{g}/{name}"] = rates[name][g].float()
        return values

    def left_out_groups(self, stage: str, rates: dict[str, Tensor] | None = None) -> list[int]:
        """Groups a gap left out at this stage, over all processes (binary tasks).

        A group with no rows is left out of ΔDP and ΔEO; one with rows but no positives (no
        negatives) has no TPR (FPR) and is left out of ΔEO. Call it before :meth:`reset`.

        Args:
            stage: ``"val"`` or ``"test"``.
            rates: :meth:`group_rates`, when already computed.

        Returns:
            The sorted group indices; ``[]`` when every group counted, or without the default
            ``eo_difference`` metric.
        """
        rates = self.group_rates(stage) if rates is None else rates
        if rates is None:
            return []
        defined = rates["tpr_defined"] & rates["fpr_defined"]
        return [int(g) for g in torch.nonzero(~defined).flatten().tolist()]

    def reset(self, stage: str) -> None:
        """Forget the stage's batches."""
        self.metrics[stage].reset()
        if stage in self.mutual_information:
            for metric in self.mutual_information[stage].values():
                metric.reset()
