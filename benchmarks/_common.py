"""What the benchmark scripts share: Adult on one thread, and a bare Trainer (no logging,
checkpoints, bar or validation)."""

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


def adult_on_one_thread(batch_size: int = 256) -> Any:
    """Adult's training split ready (``setup("fit")``), one torch thread, warnings off.

    One thread puts the contenders on an equal footing on a shared machine.
    """
    import warnings

    import torch

    from fairlit.data import AdultDataModule

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    dm = AdultDataModule(batch_size=batch_size)
    dm.setup("fit")
    return dm
