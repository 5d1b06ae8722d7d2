"""Configuration helpers shared by the command line and the sweep (no fairlit imports).

* :func:`flatten`: a nested configuration as flat ``dotted.key -> value`` settings.
* :func:`format_value`: a value as LightningCLI reads it on the command line.
* :func:`quiet_lightning`: Lightning's informational chatter and known warnings off.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = ["flatten", "format_value", "quiet_lightning"]


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings to ``{"a.b.c": value}``; lists and scalars are leaves.

    Example:
        >>> flatten({"model": {"init_args": {"gamma": 0.5, "sizes": [64]}}})
        {'model.init_args.gamma': 0.5, 'model.init_args.sizes': [64]}
    """
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = dict(value) if isinstance(value, Mapping) else value
    return flat


def format_value(value: Any) -> str:
    """A value as LightningCLI reads it on the command line (JSON for lists and dicts).

    Example:
        >>> format_value([128, 64]), format_value(0.5), format_value("sigmoid")
        ('[128, 64]', '0.5', 'sigmoid')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's and Optuna's informational chatter and known warnings off, within the block."""
    import pytorch_lightning  # noqa: F401  (its import sets its loggers' levels: set ours after)

    names = ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric")
    loggers = [logging.getLogger(n) for n in names]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*The number of training batches.*")
            warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
            warnings.filterwarnings("ignore", message=".*skip_none parameter was deprecated.*")
            warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)
