"""Learning-rate schedules used by the paper's authors, and the optimizer set-up of the models."""

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["InverseTimeDecay", "optimizers_and_schedule"]


def optimizers_and_schedule(
    optimizer_factory: Callable[[Any], torch.optim.Optimizer],
    lr_scheduler_factory: Callable[[torch.optim.Optimizer], Any] | None,
    parameters: Iterable[torch.nn.Parameter],
) -> Any:
    """What ``configure_optimizers`` returns: the optimizer, and the schedule if there is one.

    The schedule is stepped every optimizer step if its class says ``interval = "step"``
    (like :class:`InverseTimeDecay`), else every epoch.
    """
    optimizer = optimizer_factory(parameters)
    if lr_scheduler_factory is None:
        return optimizer
    scheduler = lr_scheduler_factory(optimizer)
    interval = getattr(scheduler, "interval", "epoch")
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}


class InverseTimeDecay(LambdaLR):
    r"""Inverse-time decay of the learning rate, stepped every optimizer step.

    .. math::

        \eta_t = \frac{\eta_0}{1 + r \, t / T}

    with :math:`t` the step, :math:`T` = ``decay_steps`` and :math:`r` =
    ``decay_rate``; the authors use :math:`T = 1000`, :math:`r = 1`.

    Args:
        optimizer: The wrapped optimizer.
        decay_steps: :math:`T`.
        decay_rate: :math:`r`.

    Raises:
        ValueError: if ``decay_steps`` is not positive.

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> sched = InverseTimeDecay(opt, decay_steps=10)
        >>> for _ in range(10):
        ...     opt.step(); sched.step()
        >>> opt.param_groups[0]["lr"]
        0.5
    """

    #: Lightning steps this scheduler after every optimizer step, not every epoch.
    interval = "step"

    def __init__(
        self, optimizer: torch.optim.Optimizer, decay_steps: int = 1000, decay_rate: float = 1.0
    ) -> None:
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive, got {decay_steps}")
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        super().__init__(optimizer, lambda step: 1.0 / (1.0 + decay_rate * step / decay_steps))
