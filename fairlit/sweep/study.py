r"""Sweep orchestration on Optuna: one study per experiment, resumable, many workers.

A :class:`StudyPlan` says what one Optuna study runs: a fairlit config over a
grid of ``gamma`` x seeds (grid mode), a search over config keys (search mode,
two objectives or one objective under a validation ΔDP budget), or one of
fairlearn's peers over its parameter grid x seeds. :func:`prepare_study`
creates or loads the study in the storage, refuses it when it was made with
other settings (its fingerprint), and queues the grid points that have no
finished trial; :func:`run_worker` takes queued points until none is left.
Many workers, in one process tree (:func:`~fairlit.sweep.pool.run_plans` with ``workers > 1``) or
on many machines sharing one storage, each take a point exactly once: a
queued trial is claimed atomically by the storage.

Every trial is complete on its own: its user attributes hold the resolved
configuration, the seed, the validation and test metrics, the probe results,
the run folder, the wall time and the status. Objectives are **validation**
metrics only: ``(val/accuracy, val/dp_difference)`` (maximise, minimise), or
``val/accuracy`` with the constraint ``val/dp_difference <= budget``.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna
from optuna.trial import TrialState

from fairlit.sweep.storage import open_storage
from fairlit.sweep.trials import SweepUsageError

__all__ = [
    "StudyPlan",
    "TrialCounts",
    "count_trials",
    "open_storage",
    "prepare_study",
]

_SEED_HIGH = 2**31 - 1
_PARAM_HIGH = 1e9


@dataclass(frozen=True)
class StudyPlan:
    """What one Optuna study runs.

    Attributes:
        name: The study's name in the storage.
        method: The method's label in the reports (``sqnn``, ``fairlearn_expgrad``, ...).
        kind: ``"fairlit"`` (a model trained from ``configs``) or ``"peer"`` (a
            :mod:`fairlit.peers` method on the configs' splits).
        mode: ``"grid"`` or ``"search"``.
        configs: LightningCLI config files.
        overrides: ``--key=value`` arguments for every point (swept keys excluded).
        settings: The fingerprint: flat resolved settings the study must keep.
        out: Output folder; trial run folders go to ``out/trials/<study>/<number>``.
        param: Grid mode: the Optuna name of the swept parameter (``gamma``, ``eps``,
            ``alpha``) or ``None`` (a peer without parameter).
        param_key: The config key the grid parameter sets (fairlit) or ``None`` (peers).
        values: Grid values of ``param``.
        seeds: Seeds (grid: a grid axis; search: every trial runs all of them).
        peer: Peer method name (``kind == "peer"``).
        peer_epochs: Epochs of fairlearn's AdversarialFairnessClassifier.
        probe: Probe the learned code (fairlit models).
        probe_rows: Training rows the probes are fitted on (``None``: all).
        audit: Run the downstream audit (:mod:`fairlit.audit`) on every fairlit point.
        space: Search mode: config key to its distribution spec (see
            :func:`fairlit.sweep.space.load_search_space`).
        n_trials: Search mode: the number of trials the study should hold.
        budget: Search mode: maximise validation accuracy subject to validation ΔDP <= budget.
        sampler: Search mode: ``"tpe"`` or ``"nsga2"``.
        sampler_seed: Seed of the search sampler (worker ``i`` uses ``sampler_seed + i``).
        needs_s: Whether the method needs ``s`` at prediction time.
        vectorize: Grid mode, fairlit: train each seed's points as one
            :class:`~fairlit.front.FrontModel` (one trial per point all the same).
    """

    name: str
    method: str
    kind: str
    mode: str
    configs: tuple[str, ...]
    overrides: tuple[str, ...]
    settings: Mapping[str, Any]
    out: str
    param: str | None = None
    param_key: str | None = None
    values: tuple[float, ...] = ()
    seeds: tuple[int, ...] = (0,)
    peer: str | None = None
    peer_epochs: int = 10
    probe: bool = True
    probe_rows: int | None = None
    audit: bool = False
    space: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    n_trials: int = 0
    budget: float | None = None
    sampler: str = "tpe"
    sampler_seed: int = 0
    needs_s: bool = False
    vectorize: bool = False

    @property
    def directions(self) -> list[Literal["maximize", "minimize"]]:
        """Maximise validation accuracy; minimise validation ΔDP unless it is a constraint."""
        return ["maximize"] if self.budget is not None else ["maximize", "minimize"]

    def points(self) -> list[dict[str, float]]:
        """Grid mode: every point's Optuna parameters, seeds outermost."""
        if not self.param:
            return [{"seed": int(s)} for s in self.seeds]
        return [{self.param: float(v), "seed": int(s)} for s in self.seeds for v in self.values]

    def describe(self, params: Mapping[str, Any]) -> str:
        """``sqnn gamma=0.5 seed=0``: a point in words."""
        return " ".join([self.method, *(f"{k}={_short(v)}" for k, v in params.items())])


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, round(float(v), 12)) for k, v in params.items()))


def _fingerprint(settings: Mapping[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``key is A there, B here`` for every key both settings hold with different values."""
    said = []
    for key in sorted(set(old) & set(new)):
        a, b = old[key], new[key]
        if json.dumps(a, sort_keys=True, default=str) != json.dumps(b, sort_keys=True, default=str):
            said.append(
                f"{key} is {json.dumps(a, default=str)} there, {json.dumps(b, default=str)} here"
            )
    return said


def _point_of(trial: optuna.trial.FrozenTrial) -> Mapping[str, Any]:
    """A grid trial's point: its parameters, or the queued ones before it has suggested them."""
    return trial.params or trial.system_attrs.get("fixed_params", {})


def prepare_study(
    plan: StudyPlan, storage: optuna.storages.BaseStorage, where: str
) -> optuna.Study:
    """Create or load ``plan``'s study, check its fingerprint, queue the missing grid points.

    A grid point is queued when it has no complete trial and no trial waiting or
    running (a running trial whose heartbeat stopped is failed first). Failed and
    interrupted points are therefore run again; finished points never are.

    Args:
        plan: The study's plan.
        storage: From :func:`open_storage`.
        where: The storage as the user named it (for messages).

    Returns:
        The study.

    Raises:
        SweepUsageError: if the study exists with other settings or objectives (one line,
            naming the keys that differ and their two values).
    """
    study = optuna.create_study(
        study_name=plan.name, storage=storage, directions=plan.directions, load_if_exists=True
    )
    if [d.name.lower() for d in study.directions] != plan.directions:
        raise SweepUsageError(
            f"study '{plan.name}' in {where} has objectives {[d.name.lower() for d in study.directions]}, "
            f"this command {plan.directions}; start a new study with --study NAME or another --out"
        )
    attrs = study.user_attrs
    if "fairlit_fingerprint" not in attrs:
        for key, value in {
            "fairlit_fingerprint": _fingerprint(plan.settings),
            "fairlit_settings": dict(plan.settings),
            "fairlit_overrides": list(plan.overrides),
            "fairlit_configs": list(plan.configs),
            "method": plan.method,
            "kind": plan.kind,
            "mode": plan.mode,
            "param": plan.param,
            "needs_s": plan.needs_s,
            "budget": plan.budget,
        }.items():
            study.set_user_attr(key, value)
    else:
        # Keys on one side only are new or removed library parameters (another Lightning or
        # torch version), not settings of this experiment: only shared keys must agree.
        differ = _differences(attrs.get("fairlit_settings", {}), plan.settings)
        if differ:
            shown = "; ".join(differ[:3]) + (
                f"; and {len(differ) - 3} more" if len(differ) > 3 else ""
            )
            raise SweepUsageError(
                f"study '{plan.name}' in {where} was made with other settings: {shown}; "
                "start a new study with --study NAME or another --out"
            )
    # A running trial whose heartbeat stopped (its worker was killed) becomes failed, so it is
    # run again (grid) or replaced (search); storages without heartbeats (journal files) leave
    # it running.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    if plan.mode == "grid":
        taken = {
            _key(_point_of(t))
            for t in study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
            )
        }
        for point in plan.points():
            if _key(point) not in taken:
                study.enqueue_trial(point, user_attrs={"queued": True})
    return study


@dataclass
class TrialCounts:
    """Progress of one study towards its plan: points done, failed, running, in all."""

    done: int = 0
    failed: int = 0
    running: int = 0
    total: int = 0

    def __add__(self, other: TrialCounts) -> TrialCounts:
        return TrialCounts(
            self.done + other.done,
            self.failed + other.failed,
            self.running + other.running,
            self.total + other.total,
        )


def count_trials(study: optuna.Study, plan: StudyPlan) -> TrialCounts:
    """How far ``study`` is with ``plan``'s points (grid) or trials (search)."""
    trials = study.get_trials(deepcopy=False)
    if plan.mode == "search":
        by_state = [t.state for t in trials]
        return TrialCounts(
            done=min(plan.n_trials, by_state.count(TrialState.COMPLETE)),
            failed=by_state.count(TrialState.FAIL),
            running=by_state.count(TrialState.RUNNING),
            total=plan.n_trials,
        )
    states: dict[tuple[tuple[str, float], ...], set[TrialState]] = {}
    for trial in trials:
        states.setdefault(_key(_point_of(trial)), set()).add(trial.state)
    counts = TrialCounts(total=len(plan.points()))
    for point in plan.points():
        seen = states.get(_key(point), set())
        if TrialState.COMPLETE in seen:
            counts.done += 1
        elif TrialState.RUNNING in seen:
            counts.running += 1
        elif TrialState.FAIL in seen and TrialState.WAITING not in seen:
            counts.failed += 1
    return counts
