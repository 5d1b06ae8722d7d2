"""A grid trial's point and a finished trial's record: the bookkeeping every worker shares.

:func:`grid_point` checks the queued point a trial took (and hands back one that is not this
command's); :func:`record` stores a finished run's configuration and metrics on its trial
and returns the objectives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from fairlit.sweep.study import StudyPlan, _key, _point_of

__all__ = ["grid_point", "record"]

_SEED_HIGH = 2**31 - 1
_PARAM_HIGH = 1e9


def grid_point(plan: StudyPlan, study: optuna.Study, trial: optuna.Trial) -> dict[str, Any]:
    """The queued grid point a trial took.

    Raises:
        optuna.TrialPruned: for a trial that took no queued point, a point of another command
            (queued again) or a point another trial took first.
    """
    if not trial.user_attrs.get("queued"):
        # Another worker took the last queued point between our look and our ask.
        raise optuna.TrialPruned("no queued point left")
    params: dict[str, Any] = {}
    if plan.param:
        params[plan.param] = trial.suggest_float(plan.param, 0.0, _PARAM_HIGH)
    params["seed"] = trial.suggest_int("seed", 0, _SEED_HIGH)
    if _key(params) not in {_key(p) for p in plan.points()}:
        # Queued by another command (a wider grid, another array task): hand it back.
        study.enqueue_trial(params, user_attrs={"queued": True})
        trial.set_user_attr("handed_back", True)
        raise optuna.TrialPruned("not a point of this command; queued again")
    duplicate = _started_before(study, trial.number, params)
    if duplicate is not None:
        trial.set_user_attr("duplicate_of", duplicate)
        raise optuna.TrialPruned(f"point taken by trial {duplicate}")
    return params


def record(
    plan: StudyPlan, trial: optuna.Trial, per_seed: dict[int, dict[str, Any]], seconds: float
) -> list[float]:
    """Store a finished trial's configuration and metrics (means over seeds); its objectives.

    Raises:
        RuntimeError: if the run logged no finite validation accuracy or ΔDP.
    """
    seeds = list(per_seed)
    config = per_seed[seeds[0]].pop("config", None)
    for values in per_seed.values():
        values.pop("config", None)
    metrics = {k: _mean([m.get(k) for m in per_seed.values()]) for k in per_seed[seeds[0]]}
    if config is not None:
        trial.set_user_attr("config", config)
    for key, value in metrics.items():
        trial.set_user_attr(key, value)
    if len(seeds) > 1:
        trial.set_user_attr("per_seed", {str(s): m for s, m in per_seed.items()})
    trial.set_user_attr("wall_time_s", seconds)
    accuracy, dp = (
        metrics.get("val/accuracy", math.nan),
        metrics.get("val/dp_difference", math.nan),
    )
    if math.isnan(accuracy) or math.isnan(dp):
        message = "the run logged no finite val/accuracy or val/dp_difference"
        trial.set_user_attr("status", "failed")
        trial.set_user_attr("error", message)
        raise RuntimeError(message)
    trial.set_user_attr("status", "ok")
    if plan.budget is not None and hasattr(trial, "set_constraint"):  # Optuna >= 5
        trial.set_constraint("val_dp_difference_minus_budget", dp - plan.budget)
    return [accuracy] if plan.budget is not None else [accuracy, dp]


def _started_before(study: optuna.Study, number: int, params: Mapping[str, Any]) -> int | None:
    """The number of another trial of the same point that is complete or started first, if any.

    Two commands that start at the same moment may both queue a point; the copy that started
    later (by start time, then trial number) is pruned unrun.
    """
    trials = study.get_trials(deepcopy=False)
    mine = trials[number]
    order = (mine.datetime_start, number)
    for other in trials:
        if other.number == number or other.state not in (TrialState.COMPLETE, TrialState.RUNNING):
            continue
        if _key(_point_of(other)) != _key(params):
            continue
        if other.state == TrialState.COMPLETE or (other.datetime_start, other.number) < order:
            return other.number
    return None


def _mean(values: Sequence[Any]) -> float:
    """The mean over seeds; NaN if any seed's value is missing or NaN (never silently dropped)."""
    numbers = [math.nan if v is None else float(v) for v in values]
    return (
        math.nan
        if not numbers or any(math.isnan(v) for v in numbers)
        else sum(numbers) / len(numbers)
    )
