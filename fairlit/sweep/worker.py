"""The sweep worker: take queued points of a study until none is left.

:func:`run_worker` runs in one process (:mod:`fairlit.sweep.pool` starts several). A trial
interrupted by SIGTERM is marked failed (and run again by the next sweep); Ctrl-C stops the
worker.
"""

from __future__ import annotations

import contextlib
import math
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from fairlit.sweep.storage import open_storage
from fairlit.sweep.study import StudyPlan, _key, _point_of
from fairlit.sweep.trials import peer_point, train_point

__all__ = ["run_worker"]

_SEED_HIGH = 2**31 - 1
_PARAM_HIGH = 1e9


class _Terminated(Exception):
    """Raised inside a trial when the worker receives SIGTERM."""


@dataclass
class _WorkerState:
    current: int | None = None  # number of the trial being run
    in_objective: bool = False
    terminated: bool = False


@contextlib.contextmanager
def _sigterm_fails_the_trial(state: _WorkerState) -> Iterator[None]:
    """SIGTERM marks the running trial failed (it is run again on resume) and stops the worker."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        state.terminated = True
        if state.in_objective:
            raise _Terminated("terminated by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_dir(plan: StudyPlan, number: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@+-]", "_", plan.name)
    return Path(plan.out) / "trials" / safe / str(number)


def _suggest(trial: optuna.Trial, key: str, spec: Mapping[str, Any]) -> Any:
    from fairlit.sweep.space import suggest

    return suggest(trial, key, spec)


def _objective(
    plan: StudyPlan, study: optuna.Study, state: _WorkerState, report: Callable[[str], None]
) -> Callable[[optuna.Trial], Sequence[float]]:
    def objective(trial: optuna.Trial) -> Sequence[float]:
        state.current = trial.number
        if plan.mode == "grid":
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
            seeds = [int(params["seed"])]
            config_params = (
                {plan.param_key: params[plan.param]} if plan.param_key and plan.param else {}
            )
        else:
            config_params = {key: _suggest(trial, key, spec) for key, spec in plan.space.items()}
            params = dict(config_params)
            seeds = list(plan.seeds)
        run_dir = _run_dir(plan, trial.number)
        trial.set_user_attr("method", plan.method)
        if plan.kind == "fairlit":
            trial.set_user_attr("run_dir", str(run_dir.resolve()))
        trial.set_user_attr(
            "seed" if len(seeds) == 1 else "seeds", seeds[0] if len(seeds) == 1 else seeds
        )
        start = time.perf_counter()
        state.in_objective = True
        try:
            per_seed = {}
            for seed in seeds:
                folder = run_dir if len(seeds) == 1 else run_dir / f"seed_{seed}"
                if plan.kind == "peer":
                    peer_param = params.get(plan.param) if plan.param else None
                    per_seed[seed] = peer_point(
                        plan.configs,
                        plan.overrides,
                        plan.peer or "",
                        peer_param,
                        seed,
                        plan.peer_epochs,
                    )
                else:
                    per_seed[seed] = train_point(
                        plan.configs,
                        plan.overrides,
                        config_params,
                        seed,
                        run_dir=folder,
                        probe=plan.probe,
                        probe_rows=plan.probe_rows,
                        audit=plan.audit,
                    )
        except BaseException as err:
            interrupted = isinstance(err, _Terminated | KeyboardInterrupt | SystemExit)
            # A SIGTERM inside jsonargparse surfaces as a parse error: the flag tells the truth.
            status = "interrupted" if interrupted or state.terminated else "failed"
            trial.set_user_attr("status", status)
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
            trial.set_user_attr("traceback", traceback.format_exc()[-20000:])
            trial.set_user_attr("wall_time_s", time.perf_counter() - start)
            reason = "" if status == "interrupted" else f": {type(err).__name__}: {err}"
            report(
                f"fairlit sweep: {status} trial {trial.number} ({plan.describe(params)}){reason}"
            )
            raise
        finally:
            state.in_objective = False
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
        trial.set_user_attr("wall_time_s", time.perf_counter() - start)
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

    return objective


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


def _sampler(plan: StudyPlan, worker: int) -> optuna.samplers.BaseSampler:
    if plan.mode == "grid":
        # Grid points are queued trials; the sampler only ever sees a stray trial, pruned unsampled.
        return optuna.samplers.RandomSampler(seed=plan.sampler_seed + worker)
    constraints = None
    if plan.budget is not None and not hasattr(optuna.trial.Trial, "set_constraint"):  # Optuna 4
        budget = plan.budget

        def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
            dp = trial.user_attrs.get("val/dp_difference")
            return [math.inf if dp is None or math.isnan(dp) else float(dp) - budget]

    seed = plan.sampler_seed + worker
    if plan.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints)
    return optuna.samplers.TPESampler(seed=seed, constraints_func=constraints)


def run_worker(
    plans: Sequence[StudyPlan],
    storage_spec: str,
    worker: int = 0,
    on_trial: Callable[[], object] | None = None,
    report: Callable[[str], None] = print,
) -> int:
    """Take the plans' queued points (grid) or new trials (search) until none is left.

    Args:
        plans: The studies, prepared by :func:`prepare_study`.
        storage_spec: See :func:`open_storage`.
        worker: This worker's index (seeds the search samplers).
        on_trial: Called after every trial (progress).
        report: Prints a one-line message (a failed trial).

    Returns:
        0, or 143 if the worker was stopped by SIGTERM (the running trial is marked failed).

    Raises:
        KeyboardInterrupt: on Ctrl-C, after marking the running trial failed.
    """
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # fairlit reports failures itself
    storage = open_storage(storage_spec)
    state = _WorkerState()
    with _sigterm_fails_the_trial(state):
        for plan in plans:
            study = optuna.load_study(
                study_name=plan.name, storage=storage, sampler=_sampler(plan, worker)
            )
            objective = _objective(plan, study, state, report)
            failures = 0
            while not state.terminated:
                trials = study.get_trials(deepcopy=False)
                if plan.mode == "grid":
                    mine = {_key(p) for p in plan.points()}
                    waiting = [t for t in trials if t.state == TrialState.WAITING]
                    if not any(_key(_point_of(t)) in mine for t in waiting):
                        break
                else:
                    counted = [
                        t
                        for t in trials
                        if t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
                    ]
                    if len(counted) >= plan.n_trials:
                        break
                    if failures >= 3:
                        report(
                            f"fairlit sweep: study '{plan.name}': 3 trials in a row failed; stopping its search"
                        )
                        break
                state.current = None
                try:
                    study.optimize(objective, n_trials=1, catch=(Exception,))
                except BaseException as err:
                    # Ctrl-C inside Lightning exits through SystemExit, which Optuna does not
                    # catch: fail the trial, so a rerun takes it again.
                    if state.current is not None:
                        with contextlib.suppress(Exception):
                            study.tell(state.current, state=TrialState.FAIL, skip_if_finished=True)
                    if isinstance(err, SystemExit | KeyboardInterrupt):
                        raise KeyboardInterrupt from err
                    if isinstance(err, _Terminated):
                        raise
                    # E.g. the trial was failed meanwhile as stale (its heartbeat was late):
                    # the point runs again on the next command; this worker goes on.
                    report(f"fairlit sweep: trial {state.current}: {type(err).__name__}: {err}")
                    failures += 1
                    if failures >= 3:
                        raise
                    continue
                if state.current is not None:
                    last = study.get_trials(deepcopy=False)[state.current]
                    failures = failures + 1 if last.state == TrialState.FAIL else 0
                if on_trial is not None:
                    on_trial()
            if state.terminated:
                return 143
    return 0
