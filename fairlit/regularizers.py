r"""Invariance regularizers: ``penalty(output: EncoderOutput, s) -> scalar``.

The training loss is :math:`(1 - \gamma) L_{task} + \gamma R`, where :math:`R` is the
penalty returned here. A regularizer is an :class:`torch.nn.Module` whose first two init
parameters are exactly ``in_features: int, num_groups: int``: the model builds it by calling
a factory with ``(encoder.out_features, num_groups)``, and LightningCLI fills the rest.

Adding a regularizer is one class:

>>> import torch
>>> class MeanCodeNorm(Regularizer):
...     def forward(self, output, s):
...         return output.code.pow(2).sum(-1).mean()
>>> out = EncoderOutput(torch.ones(3, 4), None)
>>> float(MeanCodeNorm(4, 2)(out, torch.tensor([0, 1, 1])))
4.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fairlit.distributed import all_gather_rows, all_reduce_sum, world_size
from fairlit.information import (
    factorized_mutual_information_from_statistics,
    group_statistics,
    joint_mutual_information,
)
from fairlit.nn import EncoderOutput, build_mlp
from fairlit.nn.layers import _check_hidden_features, _check_positive_int
from fairlit.validation import check_log_base

__all__ = [
    "AdversarialRegularizer",
    "MutualInformationRegularizer",
    "NoRegularizer",
    "Regularizer",
    "gradient_reversal",
]

Estimator = Literal["factorized", "joint"]


class Regularizer(nn.Module):
    """Base class: a penalty on the representation that favours invariance to ``s``.

    Subclasses implement :meth:`forward`. The base only stores and validates the sizes. A
    subclass that handles sample weights sets :attr:`supports_weights` and takes them as
    ``forward(output, groups, weights=None)``; the model passes them only in a weighted run,
    and refuses a weighted run with a regularizer that does not take them.

    Args:
        in_features: width of the representation (the encoder's ``out_features``).
        num_groups: number of groups :math:`G` of the sensitive attribute; ``s`` holds
            indices in ``[0, G)``.
    """

    #: Whether :meth:`forward` takes ``weights`` (``[B]`` sample weights).
    supports_weights: ClassVar[bool] = False

    def __init__(self, in_features: int, num_groups: int) -> None:
        super().__init__()
        self.in_features = _check_positive_int(in_features, "in_features")
        self.num_groups = _check_positive_int(num_groups, "num_groups")

    def forward(self, output: EncoderOutput, groups: Tensor) -> Tensor:
        """Return the scalar penalty.

        Args:
            output: the encoder's output; ``code`` and ``probs`` are ``[B, in_features]``.
            groups: ``[B]`` int64 group indices in ``[0, num_groups)``.

        Returns:
            A 0-dim tensor.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward(output, groups).")

    def _check_batch(self, x: Tensor, groups: Tensor, name: str) -> None:
        """Check ``x`` is ``[B, in_features]`` and ``groups`` is ``[B]`` integer (no device sync)."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"{type(self).__name__} expects `{name}` of shape [B, {self.in_features}] "
                f"(in_features={self.in_features}), got {tuple(x.shape)}."
            )
        if groups.dim() != 1 or groups.shape[0] != x.shape[0]:
            raise ValueError(
                f"{type(self).__name__} expects `groups` of shape [{x.shape[0]}] (one group index "
                f"per row of `{name}`), got {tuple(groups.shape)}."
            )
        if groups.is_floating_point() or groups.is_complex():
            raise ValueError(f"`groups` must hold integer group indices, got dtype {groups.dtype}.")

    def extra_repr(self) -> str:
        """Summarize the configuration for ``repr``."""
        return f"in_features={self.in_features}, num_groups={self.num_groups}"


class MutualInformationRegularizer(Regularizer):
    r"""Mutual information between the stochastic binary code and the group, in bits.

    With firing probabilities :math:`p \in [0, 1]^{B \times m}` (``output.probs``):

    - ``estimator="factorized"`` (the published method),

      .. math::

          I_{fact} = \sum_j \Big[ h(\theta_j) - \sum_g \tfrac{n_g}{n} h(\theta^g_j) \Big],

      with :math:`\theta_j`, :math:`\theta^g_j` the means of :math:`p_{\cdot j}` over the
      batch and over group :math:`g`; cost :math:`O(Bm)`;
    - ``estimator="joint"``: the exact :math:`I(T; S)` of the whole layer over all
      :math:`2^m` codes (:mod:`fairlit.joint`: matrix products over the two halves of the
      code); cost :math:`O(B\, 2^m)`, so :math:`m` must be at most ``max_bits``.

    See :mod:`fairlit.information` for both. Groups absent from a batch get weight 0 and
    never produce NaN.

    **Distributed data parallel.** With ``sync_dist=True`` and an initialized
    :mod:`torch.distributed` process group of world size :math:`W > 1`, the penalty is the
    MI of the *global* batch (every rank returns the same value):

    - factorized: the per-group statistics :math:`(n_g, \sum_{i \in g} p_i)` are summed with
      a differentiable all-reduce, so the value equals the single-process value exactly;
    - joint: the probabilities are all-gathered with gradient and ``s`` without (ranks may
      hold different batch sizes; rows are padded for the collective and trimmed after).

    Gradients: every rank's loss is the global MI :math:`I`. The all-reduce (or
    all-gather) backward sums the incoming gradients over ranks, so the gradient reaching
    rank :math:`r`'s local probabilities is :math:`W \, \partial I / \partial p^{(r)}`.
    DDP then averages parameter gradients over ranks, giving
    :math:`\frac{1}{W} \sum_r W \, \partial I / \partial \phi |_{r} = \partial I / \partial \phi`,
    exactly the single-process gradient on the concatenated batch. Every rank must call the
    regularizer the same number of times (it is a collective). The joint estimator is
    computed in full on every rank. Only in training mode: in evaluation mode
    (``module.eval()``) each rank returns the MI of its own batch and makes no collective,
    since unpadded evaluation shards may give ranks different numbers of batches.

    Args:
        in_features: number of stochastic binary neurons :math:`m`.
        num_groups: number of groups :math:`G`.
        estimator: ``"factorized"`` or ``"joint"``.
        base: logarithm base (2: bits, :math:`e`: nats).
        max_bits: largest :math:`m` accepted by the joint estimator; ``None`` is 16 on a CPU
            and 20 on an accelerator (:func:`fairlit.joint.default_max_bits`), so at init
            ``in_features`` may be at most 20.
        sync_dist: compute the MI of the global batch under :mod:`torch.distributed`
            (training mode only).

    Raises:
        ValueError: at init for invalid arguments or ``estimator="joint"`` with
            ``in_features > max_bits``; at call time if ``output.probs`` is ``None``.

    Example:
        >>> import torch
        >>> reg = MutualInformationRegularizer(in_features=1, num_groups=2)
        >>> probs = torch.tensor([[0.0], [0.0], [1.0], [1.0]])
        >>> out = EncoderOutput(code=probs, probs=probs)
        >>> round(float(reg(out, torch.tensor([0, 0, 1, 1]))), 4)
        1.0
    """

    def __init__(
        self,
        in_features: int,
        num_groups: int,
        estimator: Estimator = "factorized",
        base: float = 2.0,
        max_bits: int | None = None,
        sync_dist: bool = True,
    ) -> None:
        super().__init__(in_features, num_groups)
        if estimator not in ("factorized", "joint"):
            raise ValueError(f"`estimator` must be 'factorized' or 'joint', got {estimator!r}.")
        check_log_base(base)
        self.max_bits = None if max_bits is None else _check_positive_int(max_bits, "max_bits")
        limit = max_bits if max_bits is not None else 20  # the largest device default
        if estimator == "joint" and in_features > limit:
            raise ValueError(
                f"The joint estimator enumerates 2^in_features codes: in_features={in_features} "
                f"exceeds max_bits={limit}. Use estimator='factorized', fewer stochastic "
                "neurons, or raise max_bits."
            )
        self.estimator = estimator
        self.base = float(base)
        self.sync_dist = bool(sync_dist)

    supports_weights = True

    def forward(
        self, output: EncoderOutput, groups: Tensor, weights: Tensor | None = None
    ) -> Tensor:
        """Return the MI (in units of ``base``) between ``output.probs`` and ``groups``.

        With ``weights`` (``[B]``), the MI of the weighted empirical distribution.

        Raises:
            ValueError: if the encoder gives no firing probabilities (``probs=None``) or the shapes
                disagree.
        """
        probs = output.probs
        if probs is None:
            raise ValueError(
                "MutualInformationRegularizer needs firing probabilities, but the encoder "
                "returned probs=None. Use an encoder with a stochastic binary layer (e.g. "
                "HybridBinaryEncoder or QuantizedBinaryEncoder), or AdversarialRegularizer "
                "for real-valued codes."
            )
        self._check_batch(probs, groups, "output.probs")
        distributed = self.sync_dist and self.training and world_size() > 1
        if self.estimator == "joint":
            if distributed:
                probs, groups, weights = all_gather_rows(probs, groups, weights)
            return joint_mutual_information(
                probs,
                groups,
                self.num_groups,
                base=self.base,
                max_bits=self.max_bits,
                weights=weights,
            )
        count, prob_sum = group_statistics(probs, groups, self.num_groups, weights)
        if distributed:
            # One collective for both statistics.
            packed = all_reduce_sum(torch.cat([count[:, None], prob_sum], dim=1))
            count, prob_sum = packed[:, 0], packed[:, 1:]
        return factorized_mutual_information_from_statistics(count, prob_sum, base=self.base)

    def extra_repr(self) -> str:
        """Summarize the configuration for ``repr``."""
        return (
            f"{super().extra_repr()}, estimator={self.estimator!r}, base={self.base}, "
            f"max_bits={self.max_bits}, sync_dist={self.sync_dist}"
        )


class _GradientReversal(torch.autograd.Function):
    # The functorch-style form (forward without ctx, setup_context), so that vmap can batch it
    # (FrontModel runs the adversary of every member at once).
    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, strength: float) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, float], output: Tensor) -> None:
        ctx.strength = inputs[1]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return -ctx.strength * grad, None


def gradient_reversal(x: Tensor, strength: float = 1.0) -> Tensor:
    r"""Identity in the forward pass; multiplies the gradient by :math:`-\lambda` backward.

    .. math::

        R_\lambda(x) = x, \qquad \frac{\partial R_\lambda}{\partial x} := -\lambda I.

    Args:
        x: any tensor.
        strength: :math:`\lambda \ge 0`.

    Example:
        >>> import torch
        >>> x = torch.ones(2, requires_grad=True)
        >>> gradient_reversal(x, 0.5).sum().backward()
        >>> x.grad
        tensor([-0.5000, -0.5000])
    """
    return _GradientReversal.apply(x, strength)


class AdversarialRegularizer(Regularizer):
    r"""Adversary predicting ``s`` from the code behind a gradient-reversal layer.

    An MLP adversary :math:`a_\psi` maps the code :math:`z` (``output.code``, so any
    encoder works) to :math:`G` logits; the penalty is its mean cross-entropy

    .. math::

        R = \frac{1}{B} \sum_i \operatorname{CE}\big(a_\psi(R_\lambda(z_i)), s_i\big),

    where :math:`R_\lambda` is :func:`gradient_reversal` (Ganin & Lempitsky 2015; used
    for fair representations by Edwards & Storkey 2016 and Xie et al. 2017). Minimizing
    :math:`\gamma R` in one optimizer step trains the adversary to predict ``s``
    (ordinary gradients :math:`\gamma\, \partial R / \partial \psi`) while the encoder
    receives :math:`-\lambda \gamma\, \partial R / \partial z`, i.e. it learns to *fool*
    the adversary. The adversary's parameters are submodules of this regularizer, hence of
    the model, so the model's optimizer updates them.

    The returned (and logged) penalty is the adversary's loss: **higher means a more
    invariant code** (chance level is the entropy of ``s``, e.g. :math:`\ln 2 \approx
    0.693` nats for balanced binary groups). Unlike the MI penalty it does not go to 0.

    Args:
        in_features: code width.
        num_groups: number of groups :math:`G \ge 2` (adversary outputs).
        hidden_features: widths of the adversary's hidden layers.
        reversal_strength: :math:`\lambda \ge 0`.
        activation: adversary hidden activation (deep-copied); ``None`` means
            :class:`torch.nn.ReLU`.

    Raises:
        ValueError: if ``num_groups < 2`` or ``reversal_strength`` is not a finite number >= 0.

    Example:
        >>> import torch
        >>> reg = AdversarialRegularizer(in_features=4, num_groups=2, hidden_features=[8])
        >>> out = EncoderOutput(code=torch.randn(6, 4), probs=None)
        >>> reg(out, torch.tensor([0, 1, 0, 1, 0, 1])).shape
        torch.Size([])
    """

    def __init__(
        self,
        in_features: int,
        num_groups: int,
        hidden_features: Sequence[int] = (64,),
        reversal_strength: float = 1.0,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__(in_features, num_groups)
        if num_groups < 2:
            raise ValueError(f"`num_groups` must be >= 2 for an adversary, got {num_groups!r}.")
        if (
            isinstance(reversal_strength, bool)
            or not isinstance(reversal_strength, int | float)
            or not reversal_strength >= 0
            or not math.isfinite(reversal_strength)
        ):
            raise ValueError(
                f"`reversal_strength` must be a finite number >= 0, got {reversal_strength!r}."
            )
        hidden = _check_hidden_features(hidden_features, "hidden_features")
        activation = nn.ReLU() if activation is None else activation
        body, width = build_mlp(in_features, hidden, activation)
        self.adversary = nn.Sequential(*body, nn.Linear(width, num_groups))
        self.reversal_strength = float(reversal_strength)

    supports_weights = True

    def forward(
        self, output: EncoderOutput, groups: Tensor, weights: Tensor | None = None
    ) -> Tensor:
        """Return the adversary's mean cross-entropy (nats) on ``output.code``.

        Raises:
            ValueError: if the shapes disagree or a group index is outside ``[0, num_groups)``.
        """
        code = output.code
        self._check_batch(code, groups, "output.code")
        if code.shape[0] == 0:
            return code.sum() * 0.0
        # One sync: an out-of-range target would otherwise be a device-side assert on CUDA.
        if bool(((groups < 0) | (groups >= self.num_groups)).any()):
            raise ValueError(
                f"`groups` must lie in [0, num_groups={self.num_groups}), got values in "
                f"[{int(groups.min())}, {int(groups.max())}]."
            )
        logits = self.adversary(gradient_reversal(code, self.reversal_strength))
        if weights is None:
            return F.cross_entropy(logits, groups.long())
        w = weights.reshape(-1).to(logits.dtype)  # the weighted mean of the adversary's loss
        return (F.cross_entropy(logits, groups.long(), reduction="none") * w).sum() / w.sum()

    def extra_repr(self) -> str:
        """Summarize the configuration for ``repr``."""
        return f"{super().extra_repr()}, reversal_strength={self.reversal_strength}"


class NoRegularizer(Regularizer):
    r"""No penalty: a zero scalar, for the unregularized baseline.

    With it only the task term :math:`(1 - \gamma) L_{task}` is trained, so use
    ``gamma = 0`` to get the plain task loss.

    The zero is ``output.code.sum() * 0.0``: it has the code's device and dtype and stays
    in the autograd graph (its gradient is zero), so ``backward`` works on it alone.

    Example:
        >>> import torch
        >>> NoRegularizer(4, 2)(EncoderOutput(torch.ones(3, 4), None), torch.zeros(3))
        tensor(0.)
    """

    supports_weights = True

    def forward(
        self, output: EncoderOutput, groups: Tensor, weights: Tensor | None = None
    ) -> Tensor:
        """Return a zero scalar connected to ``output.code``."""
        return output.code.sum() * 0.0
