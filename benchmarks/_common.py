"""What the benchmark scripts share: a bare Trainer (no logging, checkpoints, bar, validation)."""

from typing import Any

import pytorch_lightning as pl


def bare_trainer(epochs: int, **overrides: Any) -> pl.Trainer:
    """A Trainer that only trains: ``epochs`` epochs, nothing logged, saved or validated."""
    options: dict[str, Any] = {
        "max_epochs": epochs,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "limit_val_batches": 0,
        "num_sanity_val_steps": 0,
    }
    options.update(overrides)
    return pl.Trainer(**options)
