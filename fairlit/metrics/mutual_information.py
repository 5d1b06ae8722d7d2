r"""Mutual information between a representation and the sensitive attribute, as a Metric.

The formulas live in :mod:`fairlit.information` (one definition per quantity); this module only
accumulates their sufficient statistics over a whole epoch, so the value is the MI of all the
data seen since the last reset, never an average of per-batch MIs (which would be biased: the
plug-in MI of a small batch overestimates the MI).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat
from torchmetrics.utilities.distributed import gather_all_tensors

from fairlit.information import (
    contingency_mutual_information,
    factorized_mutual_information_from_statistics,
    group_statistics,
    pack_codes,
)
from fairlit.metrics.functional._checks import (
    STATISTICS_DTYPE,
    _check_binary,
    _check_groups,
    _check_num_groups,
    _check_probabilities,
)
from fairlit.validation import check_log_base

__all__ = [
    "FactorizedMutualInformation",
    "MutualInformation",
    "MutualInformationEstimator",
    "PlugInMutualInformation",
]

MutualInformationEstimator = Literal["plugin", "factorized"]

#: Up to this many bits the plug-in estimator keeps a dense ``[2**m, G]`` count table.
DEFAULT_DENSE_MAX_BITS = 12

# Compact the sparse (code, group) count lists once they hold this many chunks.
_COMPACT_EVERY = 32


def _merge_counts(keys: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
    """Sum ``counts`` over equal ``keys``: returns sorted unique keys and their totals.

    Uses sort + cumsum instead of scatter/index_add so that it is deterministic on CUDA too.
    """
    order = torch.argsort(keys)
    keys, counts = keys[order], counts[order]
    unique, run_lengths = torch.unique_consecutive(keys, return_counts=True)
    ends = run_lengths.cumsum(0) - 1
    totals = counts.cumsum(0)[ends]
    totals = torch.diff(totals, prepend=totals.new_zeros(1))
    return unique, totals


class _MutualInformation(Metric):
    """What both MI metrics share: the argument checks and the input checks."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    plot_lower_bound = 0.0
    _input_name = "codes"

    def __init__(
        self,
        num_groups: int = 2,
        num_bits: int | None = None,
        base: float = 2.0,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_groups = _check_num_groups(num_groups)
        if num_bits is not None and (
            isinstance(num_bits, bool) or not isinstance(num_bits, int) or num_bits < 1
        ):
            raise ValueError(f"`num_bits` must be a positive int or None, got {num_bits!r}.")
        self.num_bits = num_bits
        self.base = check_log_base(base)
        self.validate_args = validate_args
        self._seen_bits: int | None = num_bits  # code width, from the first batch if None

    def _check_inputs(self, x: Tensor, groups: Tensor) -> None:
        name = self._input_name
        if not isinstance(x, Tensor):
            raise ValueError(f"`{name}` must be a torch.Tensor, got {type(x).__name__}.")
        if x.ndim != 2:
            raise ValueError(f"`{name}` must be 2-D [N, num_bits], got shape {tuple(x.shape)}.")
        expected = self.num_bits if self.num_bits is not None else self._seen_bits
        if expected is not None and x.shape[1] != expected:
            raise ValueError(
                f"`{name}` must have num_bits={expected} columns, got shape {tuple(x.shape)}."
            )
        if not isinstance(groups, Tensor) or groups.shape != x.shape[:1]:
            shape = tuple(groups.shape) if isinstance(groups, Tensor) else type(groups).__name__
            raise ValueError(
                f"`groups` must have shape ({x.shape[0]},) to match `{name}`, got {shape}."
            )
        _check_groups(groups, self.num_groups, "groups")

    @staticmethod
    def _result(value: Tensor) -> Tensor:
        # Rounding can leave a tiny negative value where the MI is 0.
        return value.clamp_min(0.0).to(torch.get_default_dtype())


class FactorizedMutualInformation(_MutualInformation):
    r"""Factorized mutual information of the firing probabilities with the group, in bits.

    Input the **firing probabilities** ``[N, m]``;

    .. math::

        I_{fact} = \sum_j \Big[ h(\theta_j) - \sum_g \frac{n_g}{n}\, h(\theta_j^g) \Big]

    (:func:`fairlit.information.factorized_mutual_information_from_statistics`; Cerrato et al.,
    2023), from the sum-reduced states ``count`` ``[G]`` and ``prob_sum`` ``[G, m]``, so the
    value is exact under DDP. An empty metric, or data from a single group, gives ``0.0``.

    Args:
        num_groups: number of groups :math:`G`.
        num_bits: width :math:`m` of the representation (fixes the state shape, which DDP needs
            before the first update).
        base: logarithm base; 2 gives bits.
        validate_args: check inputs on every update (one host-device sync each).
        **kwargs: forwarded to :class:`torchmetrics.Metric`.

    Raises:
        ValueError: for invalid arguments, and (``validate_args``) for inputs of the wrong
            shape, probabilities outside ``[0, 1]`` or groups out of range.

    Example:
        >>> metric = FactorizedMutualInformation(num_groups=2, num_bits=1)
        >>> metric.update(torch.tensor([[1.0], [1.0], [0.0], [0.0]]), torch.tensor([0, 0, 1, 1]))
        >>> metric.compute()
        tensor(1.)
    """

    _input_name = "probs"

    def __init__(
        self,
        num_groups: int = 2,
        num_bits: int | None = None,
        base: float = 2.0,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_groups, num_bits, base, validate_args, **kwargs)
        if num_bits is None:
            raise ValueError(
                "`num_bits` is required for estimator='factorized': the state `prob_sum` has"
                " shape [num_groups, num_bits], which must be known before the first update"
                " so that every DDP rank holds the same shape."
            )
        self.count: Tensor
        self.prob_sum: Tensor
        self.add_state("count", torch.zeros(num_groups, dtype=STATISTICS_DTYPE), "sum")
        self.add_state("prob_sum", torch.zeros(num_groups, num_bits, dtype=STATISTICS_DTYPE), "sum")

    def update(self, probs: Tensor, groups: Tensor, weights: Tensor | None = None) -> None:
        """Add a batch: firing probabilities ``[N, num_bits]`` in ``[0, 1]``, groups ``[N]``.

        ``weights`` (optional ``[N]``) gives the MI of the weighted empirical distribution.
        """
        if self.validate_args:
            self._check_inputs(probs, groups)
            _check_probabilities(probs, "probs")
        if weights is not None:
            weights = weights.to(STATISTICS_DTYPE)
        stats = group_statistics(
            probs.to(STATISTICS_DTYPE), groups.long(), self.num_groups, weights
        )
        self.count += stats.group_size
        self.prob_sum += stats.prob_sum

    def compute(self) -> Tensor:
        """Return the factorized MI of all data seen since the last reset, ``float32``."""
        return self._result(
            factorized_mutual_information_from_statistics(self.count, self.prob_sum, self.base)
        )


class PlugInMutualInformation(_MutualInformation):
    r"""Plug-in mutual information :math:`I(T; S)` of sampled binary codes with the group, in bits.

    Input the **sampled** binary codes ``[N, m]``. With :math:`n_{t g}` the number of rows with
    code :math:`t` in group :math:`g`,

    .. math::

        I(T; S) = \sum_{t, g} \frac{n_{tg}}{n} \log \frac{n\, n_{tg}}{n_{t\cdot}\, n_{\cdot g}}

    (:func:`fairlit.information.contingency_mutual_information`, equal to scikit-learn's
    ``mutual_info_score`` of the packed codes divided by :math:`\ln 2`).

    Memory: for ``num_bits <= dense_max_bits`` (12) the state is a dense count table
    ``[2**m, G]`` (``8 * 2**m * G`` bytes: 64 KiB for 12 bits and 2 groups), sum-reduced. Wider
    codes would need ``2**m`` rows (8 GiB per group at 30 bits), so instead the metric keeps
    cat-reduced lists of the observed ``(code, group)`` keys and their counts, compacted as it
    goes; memory is then proportional to the number of **distinct** observed pairs (at most the
    number of rows, 16 bytes each), and compute builds the table of observed codes only. Both
    modes are exact under DDP: counts add up, and duplicate keys from different ranks are merged
    in compute. ``num_bits=None`` selects the sparse mode and takes the width from the first
    batch. An empty metric, or data from a single group, gives ``0.0``.

    Args:
        num_groups: number of groups :math:`G`.
        num_bits: width :math:`m` of the representation.
        base: logarithm base; 2 gives bits.
        dense_max_bits: widest code kept in a dense table.
        validate_args: check inputs on every update (one host-device sync each).
        **kwargs: forwarded to :class:`torchmetrics.Metric`.

    Raises:
        ValueError: for invalid arguments (``num_bits`` too wide to pack a code and its group
            into int64), and (``validate_args``) for inputs of the wrong shape, codes that are
            not 0/1 or groups out of range.

    Example:
        >>> metric = PlugInMutualInformation(num_groups=2, num_bits=2)
        >>> codes = torch.tensor([[0, 1], [0, 1], [1, 1], [1, 1]])
        >>> metric.update(codes, torch.tensor([0, 0, 1, 1]))
        >>> metric.compute()
        tensor(1.)
    """

    def __init__(
        self,
        num_groups: int = 2,
        num_bits: int | None = None,
        base: float = 2.0,
        dense_max_bits: int = DEFAULT_DENSE_MAX_BITS,
        validate_args: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_groups, num_bits, base, validate_args, **kwargs)
        # A (code, group) pair is packed into one int64 key: code * G + g < 2**63.
        self._max_plugin_bits = min(62, 63 - (self.num_groups - 1).bit_length())
        if num_bits is not None and num_bits > self._max_plugin_bits:
            raise ValueError(
                f"`num_bits` must be <= {self._max_plugin_bits} for the plug-in estimator with"
                f" {num_groups} groups (codes are packed into int64), got {num_bits}."
            )
        self.dense = num_bits is not None and num_bits <= dense_max_bits
        self.table: Tensor
        self.keys: list[Tensor]  # a Tensor once synced across ranks
        self.key_counts: list[Tensor]
        if self.dense:
            table = torch.zeros(2**num_bits, num_groups, dtype=STATISTICS_DTYPE)  # type: ignore[operator]
            self.add_state("table", table, dist_reduce_fx="sum")
        else:
            self.add_state("keys", [], dist_reduce_fx="cat")
            self.add_state("key_counts", [], dist_reduce_fx="cat")

    def update(self, codes: Tensor, groups: Tensor, weights: Tensor | None = None) -> None:
        """Add a batch: sampled 0/1 codes ``[N, num_bits]``, groups ``[N]``.

        ``weights`` (optional ``[N]``): each (code, group) cell counts its rows' total weight.

        Raises:
            ValueError: with ``validate_args``, if the codes are not 0/1, have too many columns to
                pack, or the groups are out of range.
        """
        if self.validate_args:
            self._check_inputs(codes, groups)
            _check_binary(codes, "codes")
            if codes.shape[1] > self._max_plugin_bits:
                raise ValueError(
                    f"`codes` may have at most {self._max_plugin_bits} columns for the plug-in"
                    f" estimator with {self.num_groups} groups, got {codes.shape[1]}."
                )
        if self._seen_bits is None:
            self._seen_bits = codes.shape[1]
        keys = pack_codes(codes) * self.num_groups + groups.long()
        w = None if weights is None else weights.reshape(-1).to(STATISTICS_DTYPE)
        if self.dense:
            counts = torch.bincount(keys, weights=w, minlength=self.table.numel())
            self.table += counts.view_as(self.table).to(STATISTICS_DTYPE)
            return
        # Counts (or weight sums) are float64: exact for integer counts below 2**53.
        if w is None:
            unique, counts = torch.unique(keys, return_counts=True)
            counts = counts.to(STATISTICS_DTYPE)
        else:
            unique, counts = _merge_counts(keys, w)
        self.keys.append(unique)
        self.key_counts.append(counts)
        self._compact()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Value on this batch, and accumulate it (see :meth:`torchmetrics.Metric.forward`)."""
        value = super().forward(*args, **kwargs)
        # forward() updates a reset copy and then appends the batch's chunk to the global
        # lists, so compaction inside update() never sees them: compact here as well.
        self._compact()
        return value

    def _compact(self) -> None:
        """Merge the chunks of (code, group) counts once there are many of them."""
        if self.dense:
            return
        if isinstance(self.keys, list) and len(self.keys) >= _COMPACT_EVERY:
            unique, counts = _merge_counts(dim_zero_cat(self.keys), dim_zero_cat(self.key_counts))
            self.keys = [unique]
            self.key_counts = [counts]

    def _sync_dist(
        self, dist_sync_fn: Callable = gather_all_tensors, process_group: Any = None
    ) -> None:
        # torchmetrics (1.9) stands in an empty tensor of the metric's *float* dtype for a rank
        # with no data, and gloo then aborts on the dtype mismatch with the other ranks' int64
        # keys. Supplying a typed empty chunk ourselves keeps the all_gather consistent; the
        # pre-sync state is cached by `sync()` and restored afterwards as usual.
        if not self.dense:
            for name, dtype in (("keys", torch.long), ("key_counts", STATISTICS_DTYPE)):
                state = getattr(self, name)
                if isinstance(state, list) and len(state) == 0:
                    setattr(self, name, [torch.zeros(0, dtype=dtype, device=self.device)])
        super()._sync_dist(dist_sync_fn, process_group)

    def _observed_table(self) -> Tensor:
        """``[K, G]`` count table over the K observed codes (sparse plug-in mode)."""
        empty = torch.zeros(0, self.num_groups, dtype=STATISTICS_DTYPE, device=self.device)
        if isinstance(self.keys, list) and len(self.keys) == 0:
            return empty
        keys = dim_zero_cat(self.keys).long()
        if keys.numel() == 0:
            return empty
        unique, totals = _merge_counts(keys, dim_zero_cat(self.key_counts).to(STATISTICS_DTYPE))
        codes, group = unique // self.num_groups, unique % self.num_groups
        # Keys are sorted, so equal codes are adjacent: number their rows consecutively.
        new_code = torch.ones_like(codes, dtype=torch.bool)
        new_code[1:] = codes[1:] != codes[:-1]
        row = new_code.long().cumsum(0) - 1
        num_codes = int(row[-1]) + 1
        table = torch.zeros(num_codes, self.num_groups, dtype=STATISTICS_DTYPE, device=keys.device)
        table[row, group] = totals.to(STATISTICS_DTYPE)  # (row, group) pairs are unique
        return table

    def compute(self) -> Tensor:
        """Return the plug-in MI of all data seen since the last reset, ``float32``."""
        table = self.table if self.dense else self._observed_table()
        return self._result(contingency_mutual_information(table, self.base))


def MutualInformation(
    num_groups: int = 2,
    estimator: MutualInformationEstimator = "plugin",
    num_bits: int | None = None,
    base: float = 2.0,
    **kwargs: Any,
) -> PlugInMutualInformation | FactorizedMutualInformation:
    """:class:`PlugInMutualInformation` (``"plugin"``) or :class:`FactorizedMutualInformation`.

    Args:
        num_groups: number of groups.
        estimator: ``"plugin"`` (sampled codes) or ``"factorized"`` (firing probabilities).
        num_bits: width of the representation.
        base: logarithm base; 2 gives bits.
        **kwargs: the chosen class's other arguments.

    Raises:
        ValueError: for an unknown estimator, or the class's own errors.

    Example:
        >>> type(MutualInformation(2, "factorized", num_bits=3)).__name__
        'FactorizedMutualInformation'
    """
    if estimator == "plugin":
        return PlugInMutualInformation(num_groups, num_bits, base, **kwargs)
    if estimator == "factorized":
        return FactorizedMutualInformation(num_groups, num_bits, base, **kwargs)
    raise ValueError(f"`estimator` must be 'plugin' or 'factorized', got {estimator!r}.")
