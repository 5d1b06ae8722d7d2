r"""``fairlit sweep`` on Optuna: studies, selection on validation, reports from the storage.

* :mod:`fairlit.sweep.selection`: pure functions, validation metrics in, a choice out;
* :mod:`fairlit.sweep.trials`: one unit of work (train a point, run a peer), no Optuna;
* :mod:`fairlit.sweep.study`: studies, fingerprints and queues (orchestration);
* :mod:`fairlit.sweep.storage`: Optuna storages (database, SQLite, journal file);
* :mod:`fairlit.sweep.worker`: the worker loop; :mod:`fairlit.sweep.pool`: many workers;
* :mod:`fairlit.sweep.space`: search spaces from YAML;
* :mod:`fairlit.sweep.report`: ``results.csv``, fronts, ``summary.md``, ``front.png``;
* :mod:`fairlit.sweep.command`: the command line.

Example:
    fairlit sweep --config configs/adult.yaml --gammas 0,0.5,0.9 --seeds 0,1 --workers 2 \
        --out runs/adult --peers
"""

from fairlit.sweep.selection import (
    area_under_front,
    budget_kept,
    choose_at_budget,
    mean_interval,
    pareto_front,
    validation_front,
)

__all__ = [
    "area_under_front",
    "budget_kept",
    "choose_at_budget",
    "main",
    "mean_interval",
    "pareto_front",
    "validation_front",
]


def main(argv: list[str] | None = None) -> None:
    """Run ``fairlit sweep`` (see :mod:`fairlit.sweep.command`)."""
    from fairlit.sweep.command import main as command_main

    command_main(argv)
