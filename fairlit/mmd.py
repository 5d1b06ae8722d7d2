r"""Maximum mean discrepancy between the groups' representations, as a fairlit regularizer.

The penalty of the variational fair autoencoder (Louizos et al., 2016) and of deep
domain confusion (Tzeng et al., 2014): the squared maximum mean discrepancy
(Gretton et al., 2012) between the distribution of the representation in each
group and in the whole batch, with a Gaussian kernel
:math:`k(a, b) = \exp(-\lVert a - b \rVert^2 / (2 \sigma^2))`,

.. math::
    \mathrm{MMD}^2(X, Y) = \overline{k(X, X)} + \overline{k(Y, Y)} - 2\, \overline{k(X, Y)},

where a bar is the mean over all pairs (the biased V-statistic, always ``>= 0``). The
penalty is the mean of :math:`\mathrm{MMD}^2(Z_g, Z)` over the groups :math:`g` present
in the batch (for two groups this is proportional to :math:`\mathrm{MMD}^2(Z_0, Z_1)`).
It is one class on top of :class:`fairlit.regularizers.Regularizer`; name it in a config
as ``fairlit.mmd.MMDRegularizer``. Under DDP each process penalizes its own batch.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from fairlit.nn import EncoderOutput
from fairlit.regularizers import Regularizer

__all__ = ["MMDRegularizer", "gaussian_mmd2"]


def gaussian_mmd2(x: Tensor, y: Tensor, bandwidth: float = 1.0) -> Tensor:
    r"""Biased squared MMD between two samples with a Gaussian kernel.

    Args:
        x: ``[N, d]`` float.
        y: ``[M, d]`` float.
        bandwidth: The kernel's :math:`\sigma` (same units as the representation).

    Returns:
        A 0-dim tensor ``>= 0`` (differentiable in ``x`` and ``y``).

    Example:
        >>> x = torch.zeros(3, 2)
        >>> float(gaussian_mmd2(x, x))
        0.0
    """

    def mean_kernel(a: Tensor, b: Tensor) -> Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth**2)).mean()

    return mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y)


class MMDRegularizer(Regularizer):
    r"""Mean squared MMD between each group's representation and the batch's.

    Args:
        in_features: Width of the representation (linked from the encoder).
        num_groups: Number of groups (linked from the data).
        bandwidth: Gaussian kernel width :math:`\sigma`, ``> 0``.
        on: ``"code"`` (what the head sees; the default) or ``"probs"`` (the firing
            probabilities of a stochastic encoder).

    Raises:
        ValueError: for a non-positive bandwidth, an unknown ``on``, or ``on="probs"`` with
            an encoder that has no firing probabilities.

    Example:
        >>> reg = MMDRegularizer(2, 2)
        >>> out = EncoderOutput(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), None)
        >>> round(float(reg(out, torch.tensor([0, 1]))), 4)
        0.3161
    """

    def __init__(
        self,
        in_features: int,
        num_groups: int,
        bandwidth: float = 1.0,
        on: Literal["code", "probs"] = "code",
    ) -> None:
        super().__init__(in_features, num_groups)
        if (
            isinstance(bandwidth, bool)
            or not isinstance(bandwidth, int | float)
            or not bandwidth > 0
        ):
            raise ValueError(f"`bandwidth` must be a positive number, got {bandwidth!r}.")
        if on not in ("code", "probs"):
            raise ValueError(f"`on` must be 'code' or 'probs', got {on!r}.")
        self.bandwidth = float(bandwidth)
        self.on = on

    def forward(self, output: EncoderOutput, groups: Tensor) -> Tensor:
        """Return the mean over present groups of MMD²(group, batch); 0 with fewer than two.

        Raises:
            ValueError: if ``on='probs'`` and the encoder gives no firing probabilities, or the
                shapes disagree.
        """
        z = output.code if self.on == "code" else output.probs
        if z is None:
            raise ValueError(
                "MMDRegularizer(on='probs') needs an encoder with firing probabilities."
            )
        self._check_batch(z, groups, self.on)
        z = z.float()
        present = [g for g in torch.unique(groups).tolist()]
        if len(present) < 2:
            return z.sum() * 0.0
        terms = [gaussian_mmd2(z[groups == g], z, self.bandwidth) for g in present]
        return torch.stack(terms).mean()

    def extra_repr(self) -> str:
        """Summarize the configuration for ``repr``."""
        return f"{super().extra_repr()}, bandwidth={self.bandwidth}, on={self.on!r}"
