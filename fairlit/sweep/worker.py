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
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from fairlit.sweep.points import grid_point, record
from fairlit.sweep.storage import open_storage
from fairlit.sweep.study import StudyPlan, _key, _point_of
from fairlit.sweep.trials import peer_point, train_front, train_point

__all__ = ["run_worker"]


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


def _mark_failed(
    trials: Sequence[optuna.Trial], err: BaseException, state: _WorkerState, seconds: float
) -> tuple[str, str]:
    """Store a run's failure on its trials; return the status and the reason to report."""
    interrupted = isinstance(err, _Terminated | KeyboardInterrupt | SystemExit)
    # A SIGTERM inside jsonargparse surfaces as a parse error: the flag tells the truth.
    status = "interrupted" if interrupted or state.terminated else "failed"
    for trial in trials:
        trial.set_user_attr("status", status)
        trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
        trial.set_user_attr("traceback", traceback.format_exc()[-20000:])
        trial.set_user_attr("wall_time_s", seconds)
    return status, "" if status == "interrupted" else f": {type(err).__name__}: {err}"


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
            params = grid_point(plan, study, trial)
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
            status, reason = _mark_failed([trial], err, state, time.perf_counter() - start)
            report(
                f"fairlit sweep: {status} trial {trial.number} ({plan.describe(params)}){reason}"
            )
            raise
        finally:
            state.in_objective = False
        return record(plan, trial, per_seed, time.perf_counter() - start)

    return objective


@contextlib.contextmanager
def _heartbeats(storage: Any, trials: Sequence[optuna.Trial]) -> Iterator[None]:
    """Record the claimed trials' heartbeats while they run, as ``study.optimize`` does.

    So the trials of a killed worker are failed, and run again.
    """
    import threading

    if getattr(storage, "get_heartbeat_interval", lambda: None)() is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            for trial in trials:
                with contextlib.suppress(Exception):  # a late beat only risks a retry
                    storage.record_heartbeat(trial._trial_id)
            if stop.wait(storage.get_heartbeat_interval()):
                return

    thread = threading.Thread(target=beat, name="fairlit-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


Claimed = list[tuple[optuna.Trial, dict[str, Any]]]


def _tell_failed(study: optuna.Study, trial: optuna.Trial) -> None:
    """Mark a claimed trial failed (so a rerun takes its point), unless it is finished."""
    with contextlib.suppress(Exception):  # e.g. failed meanwhile as stale
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def _claim_front(plan: StudyPlan, study: optuna.Study, carried: Claimed) -> Claimed:
    """Claim queued points of one seed, up to one per gamma (``carried`` first)."""
    group, mine = list(carried), {_key(p) for p in plan.points()}
    carried.clear()
    while len(group) < len(plan.values):
        waiting = [t for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
                   if _key(_point_of(t)) in mine]  # fmt: skip
        if not waiting or (group and int(_point_of(waiting[0])["seed"]) != group[0][1]["seed"]):
            break
        with warnings.catch_warnings():  # the heartbeats are ours (see _heartbeats)
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to")
            trial = study.ask()
        try:
            params = grid_point(plan, study, trial)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            continue
        if group and params["seed"] != group[0][1]["seed"]:
            carried.append((trial, params))  # another worker took the rest of this seed
            break
        group.append((trial, params))
    return group


def _run_front(
    plan: StudyPlan,
    study: optuna.Study,
    state: _WorkerState,
    report: Callable[[str], None],
    storage: Any,
    carried: Claimed,
) -> list[optuna.Trial]:
    """Train one seed's claimed points as one front and record a trial per point.

    Returns:
        The trials claimed (none when no point was left).

    Raises:
        KeyboardInterrupt: on Ctrl-C, after marking the trials failed; ``_Terminated`` on
            SIGTERM, likewise.
    """
    group = _claim_front(plan, study, carried)
    if not group:
        return []
    trials = [trial for trial, _ in group]
    seed = int(group[0][1]["seed"])
    folders = [_run_dir(plan, trial.number) for trial in trials]
    for trial, folder in zip(trials, folders, strict=True):
        for key, value in {"method": plan.method, "run_dir": str(folder.resolve()), "seed": seed,
                           "front": [t.number for t in trials]}.items():  # fmt: skip
            trial.set_user_attr(key, value)
    start = time.perf_counter()
    state.in_objective = True
    try:
        # The carried point of the next front is claimed too: its heartbeat goes on.
        with _heartbeats(storage, [*trials, *(trial for trial, _ in carried)]):
            rows = train_front(
                plan.configs, plan.overrides, plan.param_key or "", [p[plan.param or ""] for _,
                p in group], seed, folders, plan.probe, plan.probe_rows, plan.audit,
            )  # fmt: skip
    except BaseException as err:
        seconds = (time.perf_counter() - start) / len(trials)
        status, reason = _mark_failed(trials, err, state, seconds)
        for trial in trials:
            _tell_failed(study, trial)
        report(f"fairlit sweep: {status} front of trials {[t.number for t in trials]} "
               f"({plan.method} seed={seed}){reason}")  # fmt: skip
        if isinstance(err, SystemExit | KeyboardInterrupt):
            raise KeyboardInterrupt from err
        if isinstance(err, _Terminated):
            raise
        return trials
    finally:
        state.in_objective = False
    # The front's wall time, divided among its members.
    seconds = (time.perf_counter() - start) / len(trials)
    for trial, row in zip(trials, rows, strict=True):
        try:
            values = record(plan, trial, {seed: row}, seconds)
        except RuntimeError:
            _tell_failed(study, trial)
            continue
        try:
            study.tell(trial, values, skip_if_finished=True)
        except Exception:  # e.g. failed meanwhile as stale: the point runs again
            _tell_failed(study, trial)
    return trials


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
            carried: Claimed = []
            try:
                _take_points(plan, study, state, objective, report, storage, carried, on_trial)
            finally:
                for trial, _ in carried:  # claimed for a front that will not run now
                    _tell_failed(study, trial)
            if state.terminated:
                return 143
    return 0


def _take_points(
    plan: StudyPlan,
    study: optuna.Study,
    state: _WorkerState,
    objective: Callable[[optuna.Trial], Sequence[float]],
    report: Callable[[str], None],
    storage: Any,
    carried: Claimed,
    on_trial: Callable[[], object] | None,
) -> None:
    """One plan's part of :func:`run_worker`: run its points until none is left."""
    failures = 0
    while not state.terminated:
        trials = study.get_trials(deepcopy=False)
        if plan.mode == "grid":
            mine = {_key(p) for p in plan.points()}
            waiting = [t for t in trials if t.state == TrialState.WAITING]
            if not carried and not any(_key(_point_of(t)) in mine for t in waiting):
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
        if plan.vectorize and plan.mode == "grid":
            for _ in _run_front(plan, study, state, report, storage, carried):
                if on_trial is not None:
                    on_trial()
            continue
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
