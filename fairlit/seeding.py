"""The seeded random stream of training and evaluation (shared by the model and the front)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["generator_state", "reseed", "set_generator_state"]


def reseed(sampling_seed: int | None, rank: int, device: torch.device, *stream: int) -> None:
    """Seed the generators in use from ``(sampling_seed, rank, *stream)``; ``None``: leave them.

    Not ``torch.manual_seed``: it also queues a seed for every CUDA device, capturing a Python
    traceback each time, which cost more than a training step here.
    """
    if sampling_seed is not None:
        entropy = [sampling_seed, rank, *stream]
        seed = int(np.random.SeedSequence(entropy).generate_state(1)[0])
        torch.default_generator.manual_seed(seed)
        if device.type == "cuda":
            torch.cuda.manual_seed(seed)


def generator_state(device: torch.device) -> torch.Tensor:
    """The state of the generator that random operations on ``device`` use (a byte tensor)."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def set_generator_state(device: torch.device, state: torch.Tensor) -> None:
    """Restore a state from :func:`generator_state` on ``device``'s generator."""
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)
