"""Collectives for losses computed over the global batch of all data-parallel processes.

Differentiable where the loss needs it: a regularizer that sums statistics over every rank
(or gathers every rank's rows) gets each rank's gradient back to the rows it holds. Without
an initialized process group nothing here is called (``world_size() == 1``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

__all__ = ["all_gather_rows", "all_reduce_sum", "world_size"]


def world_size() -> int:
    """World size of the default process group, 1 when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


@contextmanager
def _quiet_collective_deprecation() -> Iterator[None]:
    # Recent torch marks torch.distributed.nn.functional as deprecated in favour of
    # functional collectives, whose autograd support differs across the torch versions we
    # accept; the differentiable collectives used here are stable from torch 2.1 on.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"torch\.distributed\.nn\.functional", category=FutureWarning
        )
        yield


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; backward sums the incoming gradients over processes.

    Written with ``setup_context`` and a ``vmap`` rule, so a front of models run under
    :func:`torch.func.vmap` (:class:`~fairlit.front.FrontModel`) reduces the statistics of
    all its members in one collective.
    """

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        total = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: Tensor) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return _AllReduceSum.apply(grad)

    @staticmethod
    def vmap(info: Any, in_dims: tuple[int | None], x: Tensor) -> tuple[Tensor, int | None]:
        # Every vmapped slice is reduced elementwise: reduce the stacked tensor once.
        return _AllReduceSum.apply(x), in_dims[0]


def all_reduce_sum(x: Tensor) -> Tensor:
    """Differentiable all-reduce (sum); backward all-reduces (sums) the gradient.

    Runs under :func:`torch.func.vmap` too (one collective for the stacked tensor).
    """
    return _AllReduceSum.apply(x)


def all_gather_rows(
    probs: Tensor, groups: Tensor, weights: Tensor | None = None
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Concatenate every rank's rows (ranks may hold different numbers of rows).

    ``probs`` is gathered differentiably (backward: each rank receives the sum over
    ranks of the gradients of its own rows); ``groups`` and ``weights`` without gradient.
    """
    from torch.distributed.nn.functional import all_gather

    world = dist.get_world_size()
    local = torch.tensor([probs.shape[0]], device=probs.device, dtype=torch.long)
    sizes_list = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(sizes_list, local)
    sizes = [int(n) for n in torch.cat(sizes_list).tolist()]
    pad = max(sizes) - probs.shape[0]
    # Collectives need equal shapes: pad to the largest batch, trim after gathering.
    probs_padded = F.pad(probs, (0, 0, 0, pad))
    s_padded = F.pad(groups, (0, pad))
    s_list = [torch.empty_like(s_padded) for _ in range(world)]
    dist.all_gather(s_list, s_padded.contiguous())
    with _quiet_collective_deprecation():
        probs_list = all_gather(probs_padded)
    probs_all = torch.cat([p[:n] for p, n in zip(probs_list, sizes, strict=True)])
    s_all = torch.cat([g[:n] for g, n in zip(s_list, sizes, strict=True)])
    if weights is None:
        return probs_all, s_all, None
    w_padded = F.pad(weights.reshape(-1), (0, pad)).contiguous()
    w_list = [torch.empty_like(w_padded) for _ in range(world)]
    dist.all_gather(w_list, w_padded)
    return probs_all, s_all, torch.cat([w[:n] for w, n in zip(w_list, sizes, strict=True)])
