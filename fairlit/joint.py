r"""The exact joint MI of a stochastic binary layer, in matrix products of size 2^(m/2).

For firing probabilities :math:`p \in (0, 1)^{N \times m}`, row weights :math:`\nu_n`
(:math:`\sum_n \nu_n = 1`; uniform without sample weights) and groups :math:`g_n`, a code
:math:`t \in \{0, 1\}^m` has :math:`P(t \mid x_n) = \prod_j p_{nj}^{t_j}(1 - p_{nj})^{1 - t_j}`,
and

.. math::
    P(t) = \sum_n \nu_n P(t \mid x_n), \qquad
    P(t \mid g) = \sum_{n \in g} \frac{\nu_n}{\pi_g} P(t \mid x_n), \qquad
    I(T; S) = H(T) - \sum_g \pi_g H(T \mid S = g),

with :math:`\pi_g = \sum_{n \in g} \nu_n`. Split the code into its low bits :math:`l` (the
first :math:`k = \lfloor m/2 \rfloor`) and high bits :math:`h`: :math:`P(t \mid x_n) =
A_{nl} B_{nh}`, so the table of every code's probability in group ``g`` is one matrix
product, :math:`\sum_{n \in g} \nu_n A_{nl} B_{nh} = (A_g^\top \operatorname{diag}(\nu_g)
B_g)_{lh}`, of sizes :math:`2^k \times N_g \times 2^{m-k}`. The gradient has a closed form in
each log-likelihood :math:`a_{nt} = \log P(t \mid x_n)`,

.. math::
    \frac{\partial I}{\partial a_{nt}} = \nu_n e^{a_{nt}}
        \big(\log P(t \mid g_n) - \log P(t)\big) = \nu_n A_{nl} B_{nh} M^{(g_n)}_{lh},

which factorizes the same way: backward is two more matrix products per group. Nothing of
size :math:`N \cdot 2^m` is ever stored: memory is O(N 2^{m/2} + G 2^m) and time
O(N 2^m) multiply-adds, in GEMMs (autograd through an enumeration of all codes kept an
``[N, 2^m]`` block and spent O(N 2^m m) operations and N 2^m exponentials). Each row's
factors are scaled by their largest entry, and every row's largest code probability is at
least :math:`2^{-m}`, so nothing that matters underflows; a code whose probability does
underflow to 0 contributes 0 to the entropies and to the gradient.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "JointMutualInformation",
    "default_max_bits",
    "joint_mutual_information_autograd_nats",
    "joint_mutual_information_nats",
]


def default_max_bits(device: torch.device) -> int:
    """The widest layer the joint MI accepts by default on ``device``.

    16 on a CPU (2^16 codes), 20 on an accelerator (2^20 codes: the group tables hold
    ``(G + 1) 2^20`` numbers).
    """
    return 16 if device.type == "cpu" else 20


def _bits(width: int, like: Tensor) -> Tensor:
    """``[width, 2^width]``: column ``c`` holds the bits of ``c`` (row ``j`` is bit ``j``)."""
    codes = torch.arange(2**width, device=like.device)
    shifts = torch.arange(width, device=like.device)
    return ((codes[None, :] >> shifts[:, None]) & 1).to(like.dtype)


def _xlogx(log_x: Tensor) -> Tensor:
    r""":math:`x \log x` from :math:`\log x`, 0 where :math:`x = 0` (``log_x = -inf``)."""
    finite = torch.isfinite(log_x)
    safe = torch.where(finite, log_x, torch.zeros_like(log_x))
    return torch.where(finite, safe.exp() * safe, torch.zeros_like(log_x))


class JointMutualInformation(torch.autograd.Function):
    r"""``I(T; S)`` in nats from the per-row terms of the log-likelihood (see the module).

    Inputs of :meth:`forward`: ``offset`` ``[N]`` (:math:`\sum_j \log(1 - p_{nj})`) and
    ``logit`` ``[N, m]`` (differentiable), both with rows sorted by group; ``log_nu`` ``[N]``
    (log row weights summing to one, no gradient); ``sizes`` (rows per group, in that
    order); ``log_pi`` (log group weights, ``-inf`` for an empty group).
    """

    @staticmethod
    def forward(
        ctx: Any,
        offset: Tensor,
        logit: Tensor,
        log_nu: Tensor,
        sizes: list[int],
        log_pi: list[float],
    ) -> Tensor:
        """Build the per-group tables of code probabilities, as matrix products."""
        m = logit.shape[1]
        k = m // 2
        bits_low, bits_high = _bits(k, logit), _bits(m - k, logit)
        alpha = logit[:, :k] @ bits_low  # [N, 2^k]: the low bits' share of log P(t | x_n)
        beta = logit[:, k:] @ bits_high  # [N, 2^(m-k)]
        alpha_max, beta_max = alpha.amax(dim=1), beta.amax(dim=1)
        low, high = (alpha - alpha_max[:, None]).exp(), (beta - beta_max[:, None]).exp()
        shift = offset + alpha_max + beta_max + log_nu  # log of row n's largest term
        top = shift.max()
        scale = (shift - top).exp()  # in (2^-m nu_n / nu_max, 1]
        tables = []
        log_p_given = []
        for g, (rows_low, rows_high, rows_scale) in enumerate(
            zip(low.split(sizes), high.split(sizes), scale.split(sizes), strict=True)
        ):
            table = rows_low.T @ (rows_scale[:, None] * rows_high)  # e^-top sum nu A B
            tables.append(table)
            if sizes[g] and log_pi[g] != -math.inf:
                log_p_given.append(table.log() + (top - log_pi[g]))
            else:
                log_p_given.append(torch.full_like(table, -math.inf))
        log_p = torch.stack(tables).sum(0).log() + top
        conditional = offset.new_zeros(())
        for g, weight in enumerate(log_pi):
            if sizes[g] and weight != -math.inf:
                conditional = conditional - math.exp(weight) * _xlogx(log_p_given[g]).sum()
        ctx.save_for_backward(logit, low, high, scale, log_p, torch.stack(log_p_given))
        ctx.sizes, ctx.top, ctx.k = sizes, top, k
        return -_xlogx(log_p).sum() - conditional

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        """Apply the closed-form gradient, group by group, as matrix products."""
        logit, low, high, scale, log_p, log_p_given = ctx.saved_tensors
        m, k = logit.shape[1], ctx.k
        bits_low, bits_high = _bits(k, logit), _bits(m - k, logit)
        grad_offset, grad_low, grad_high = [], [], []
        for g, (rows_low, rows_high, rows_scale) in enumerate(
            zip(low.split(ctx.sizes), high.split(ctx.sizes), scale.split(ctx.sizes), strict=True)
        ):
            # M = log P(t | g) - log P(t); 0 where P(t | g) = 0 (every row's term is 0 there).
            finite = torch.isfinite(log_p_given[g])
            diff = torch.where(finite, log_p_given[g] - log_p, torch.zeros_like(log_p))
            weight = (rows_scale * ctx.top.exp())[:, None]  # nu_n * (row n's largest term)
            by_low = rows_low * (rows_high @ diff.T) * weight  # dI/d alpha_nl
            by_high = rows_high * (rows_low @ diff) * weight  # dI/d beta_nh
            grad_offset.append(by_low.sum(dim=1))
            grad_low.append(by_low)
            grad_high.append(by_high)
        d_offset = torch.cat(grad_offset)
        d_logit = torch.cat(
            [torch.cat(grad_low) @ bits_low.T, torch.cat(grad_high) @ bits_high.T], 1
        )
        return grad * d_offset, grad * d_logit, None, None, None


def _log_likelihood_terms(probs: Tensor, groups: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    r"""``(order, offset, logit)``: rows sorted by group, so each group is a contiguous slice.

    ``offset`` ``[N]`` is :math:`\sum_j \log(1 - p_{nj})` and ``logit`` ``[N, m]`` is
    :math:`\log p_{nj} - \log(1 - p_{nj})`, with ``p`` clamped to ``[eps, 1 - eps]``.
    """
    eps = torch.finfo(probs.dtype).eps
    pc = probs.clamp(eps, 1 - eps)
    log_q = torch.log1p(-pc)
    order = torch.argsort(groups, stable=True)
    return order, log_q.sum(1)[order], (torch.log(pc) - log_q)[order]


def joint_mutual_information_nats(
    probs: Tensor, groups: Tensor, num_groups: int, weights: Tensor | None = None
) -> Tensor:
    """Exact joint ``I(T; S)`` in nats through :class:`JointMutualInformation`.

    Inputs are checked by the caller (:func:`fairlit.information.joint_mutual_information`).

    Args:
        probs: ``[N, m]`` firing probabilities (clamped to ``[eps, 1 - eps]``), ``N > 0``.
        groups: ``[N]`` integer group indices in ``[0, num_groups)``.
        num_groups: ``G``.
        weights: optional ``[N]`` nonnegative sample weights with a positive sum.

    Returns:
        Scalar tensor of ``probs``' dtype, differentiable in ``probs``.
    """
    order, offset, logit = _log_likelihood_terms(probs, groups)
    sizes = torch.bincount(groups.long(), minlength=num_groups).tolist()
    if weights is None:
        log_nu = torch.full_like(offset, -math.log(len(offset)))
        group_weight = [size / len(offset) for size in sizes]
    else:
        w = weights.reshape(-1).to(probs.dtype).detach()
        total = w.sum()
        log_nu = (torch.log(w) - torch.log(total))[order]
        group_weight = (
            torch.bincount(groups.long(), weights=w, minlength=num_groups) / total
        ).tolist()
    log_pi = [math.log(weight) if weight > 0 else -math.inf for weight in group_weight]
    return JointMutualInformation.apply(offset, logit, log_nu, sizes, log_pi)


def joint_mutual_information_autograd_nats(
    probs: Tensor,
    groups: Tensor,
    num_groups: int,
    weights: Tensor | None = None,
    chunk_size: int = 4096,
) -> Tensor:
    """The reference: the same value, differentiated by autograd through the chunked forward.

    Autograd keeps every chunk's ``[N, chunk_size]`` log-likelihood block for backward, so
    memory grows as O(N 2^m); fairlit uses :func:`joint_mutual_information_nats`. Kept to
    check the kernel against (tests) and to measure it (``benchmarks/speed.py``).
    """
    n, m = probs.shape
    order, offset, logit = _log_likelihood_terms(probs, groups)
    counts = torch.bincount(groups.long(), minlength=num_groups).tolist()
    # Weights: each row's log-likelihood gains log w, and n_g, n become weight sums.
    log_w = None
    sizes: list[float] = [float(c) for c in counts]
    total = float(n)
    if weights is not None:
        w = weights.reshape(-1).to(probs.dtype)
        log_w = torch.log(w)[order]
        sizes = torch.bincount(groups.long(), weights=w, minlength=num_groups).tolist()
        total = math.fsum(sizes)
        if total <= 0:
            return probs.sum() * 0
    log_n = math.log(total)
    shifts = torch.arange(m, device=probs.device)
    marginal_entropy = probs.new_zeros(())
    conditional_entropy = probs.new_zeros(())  # sum_g (n_g / n) H(T | g)
    for start in range(0, 2**m, chunk_size):
        codes = torch.arange(start, min(start + chunk_size, 2**m), device=probs.device)
        bits = ((codes[None, :] >> shifts[:, None]) & 1).to(probs.dtype)
        log_joint = offset[:, None] + logit @ bits  # [N, K]: log P(t | x_n)
        if log_w is not None:
            log_joint = log_joint + log_w[:, None]
        group_lse = []
        for block, c in zip(log_joint.split(counts), sizes, strict=True):
            if c == 0:  # an absent group has weight 0
                continue
            lse = torch.logsumexp(block, dim=0)
            log_pg = lse - math.log(c)
            conditional_entropy = conditional_entropy - (c / total) * (log_pg.exp() * log_pg).sum()
            group_lse.append(lse)
        log_p = torch.logsumexp(torch.stack(group_lse), dim=0) - log_n
        marginal_entropy = marginal_entropy - (log_p.exp() * log_p).sum()
    return marginal_entropy - conditional_entropy
