r"""``fairlit sweep``: the command line of the Optuna-backed sweep.

Grid mode (the default) trains a config at every ``gamma`` x seed; search mode
(``--search N --space FILE``) lets Optuna choose config values, on two
objectives or, with ``--budget``, on validation accuracy under a validation
ΔDP constraint. ``--peers`` adds fairlearn's peers, each in a study of its
own. Every study lives in ``--storage`` (an SQLite file in ``--out`` unless
told otherwise), so rerunning a command resumes it and many workers, here
(``--workers``) or on other machines, share it. ``--report`` rebuilds the
report from the storage alone.

Errors are one line on stderr: exit status 2 for usage errors (a bad key, a
study made with other settings), 1 for failed trials; ``--debug`` or
``FAIRLIT_DEBUG=1`` show the full traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fairlit.sweep.arguments import build_parser
from fairlit.sweep.arguments import fail as _fail

__all__ = ["build_parser", "main"]

_PEER_LABELS = {
    "expgrad": "fairlearn_expgrad",
    "expgrad_hgb": "fairlearn_expgrad_hgb",
    "adversarial": "fairlearn_adversarial",
    "threshold": "fairlearn_threshold",
    "threshold_hgb": "fairlearn_threshold_hgb",
}


def _default_storage(out: Path) -> str:
    return f"sqlite:///{(out / 'studies.db').resolve()}"


def _short_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[
        :6
    ]


def _plans(args: argparse.Namespace, overrides: list[str]) -> list[Any]:
    from fairlit.peers import NEEDS_SENSITIVE_AT_PREDICTION, PEER_GRIDS, PEER_METHODS
    from fairlit.sweep.space import load_search_space
    from fairlit.sweep.study import StudyPlan
    from fairlit.sweep.trials import SEED_KEYS, SWEPT_KEYS, SweepUsageError, resolve_settings

    search = args.search is not None
    if search and not args.space:
        raise SweepUsageError("--search needs --space FILE (the searched config keys)")
    if not search and (args.space or args.budget is not None):
        raise SweepUsageError("--space and --budget belong to a search: add --search N")
    if search and args.vectorize:
        raise SweepUsageError(
            "--vectorize trains a grid of gammas as one front: drop it, or drop --search"
        )
    if search and args.search < 1:
        raise SweepUsageError(f"--search must be a positive number of trials, got {args.search}")
    if args.budget is not None and not 0 <= args.budget <= 1:
        raise SweepUsageError(f"--budget is a ΔDP in [0, 1], got {args.budget}")
    if args.seeds is None:
        args.seeds = [0]
    if not args.seeds or any(s < 0 for s in args.seeds):
        raise SweepUsageError(f"--seeds must be non-negative integers, got {args.seeds}")
    if not search and (not args.gammas or any(not 0 <= g <= 1 for g in args.gammas)):
        raise SweepUsageError(f"--gammas must be values in [0, 1], got {args.gammas}")
    swept = SWEPT_KEYS if not search else SEED_KEYS
    for override in overrides:
        key = override[2:].split("=", 1)[0]
        if key in swept:
            flag = "--seeds" if key in SEED_KEYS else "--gammas"
            raise SweepUsageError(f"{override}: the sweep sets {key} per point ({flag}); drop it")

    settings, _ = resolve_settings(args.config, overrides, vectorize=args.vectorize)
    configs = tuple(str(c) for c in args.config)
    stems = "+".join(Path(c).stem for c in configs)
    out = str(Path(args.out))
    plans = []
    common = {key: value for key, value in settings.items() if key not in swept}
    sweep_settings = {
        "sweep.probe": not args.no_probe,
        "sweep.probe_rows": args.probe_rows,
        "sweep.audit": args.audit,
    }
    if search:
        space = load_search_space(args.space, list(settings))
        for key in space:
            if any(o[2:].split("=", 1)[0] == key for o in overrides):
                raise SweepUsageError(f"--{key} is searched in {args.space}; drop the override")
            common.pop(key, None)
        sweep_settings.update(
            {
                "sweep.mode": "search",
                "sweep.space": json.dumps(space, sort_keys=True),
                "sweep.seeds": list(args.seeds),
                "sweep.budget": args.budget,
                "sweep.sampler": args.sampler,
            }
        )
        suffix = "-search" if args.budget is None else f"-budget{args.budget:g}"
        plans.append(
            StudyPlan(
                name=args.study or f"{args.name}{suffix}@{stems}",
                method=f"{args.name} (search)",
                kind="fairlit",
                mode="search",
                configs=configs,
                overrides=tuple(overrides),
                settings={**common, **sweep_settings},
                out=out,
                seeds=tuple(args.seeds),
                probe=not args.no_probe,
                probe_rows=args.probe_rows,
                audit=args.audit,
                space=space,
                n_trials=args.search,
                budget=args.budget,
                sampler=args.sampler,
                sampler_seed=args.sampler_seed,
            )
        )
    else:
        plans.append(
            StudyPlan(
                name=args.study or f"{args.name}@{stems}",
                method=args.name,
                kind="fairlit",
                mode="grid",
                configs=configs,
                overrides=tuple(overrides),
                settings={**common, **sweep_settings, "sweep.mode": "grid"},
                out=out,
                param="gamma",
                param_key="model.init_args.gamma",
                values=tuple(args.gammas),
                seeds=tuple(args.seeds),
                probe=not args.no_probe,
                probe_rows=args.probe_rows,
                audit=args.audit,
                vectorize=args.vectorize,
            )
        )
    if args.peers:
        peers = [p.strip() for p in args.peers.split(",") if p.strip()]
        unknown = [p for p in peers if p not in PEER_METHODS]
        if unknown:
            raise SweepUsageError(
                f"--peers: unknown peer {unknown[0]!r}; choose from {','.join(PEER_METHODS)}"
            )
        # The peers see the splits and the features: batch sizes and loaders do not matter.
        data = {
            k: v
            for k, v in settings.items()
            if k.startswith("data.")
            and k not in SEED_KEYS
            and not k.endswith(("batch_size", "num_workers", "pin_memory"))
        }
        dataset = str(settings.get("data.class_path", "data")).rpartition(".")[2]
        dataset = dataset.removesuffix("DataModule").lower() or "data"
        for peer in peers:
            param, values = PEER_GRIDS[peer]
            peer_settings = {**data, "sweep.peer": peer}
            if peer == "adversarial":
                peer_settings["sweep.peer_epochs"] = args.peer_epochs
            plans.append(
                StudyPlan(
                    name=f"{peer}@{dataset}-{_short_hash(peer_settings)}",
                    method=_PEER_LABELS.get(peer, peer),
                    kind="peer",
                    mode="grid",
                    configs=configs,
                    overrides=tuple(overrides),
                    settings=peer_settings,
                    out=out,
                    param=param,
                    values=tuple(values),
                    seeds=tuple(args.seeds),
                    peer=peer,
                    peer_epochs=args.peer_epochs,
                    needs_s=NEEDS_SENSITIVE_AT_PREDICTION[peer],
                )
            )
    return plans


def _holds_studies(spec: str) -> bool:
    import optuna

    from fairlit.sweep.study import open_storage

    try:
        return bool(optuna.get_all_study_names(open_storage(spec)))
    except Exception:  # an unreadable file is not ours to delete
        return True


def _existing_storage(spec: str) -> None:
    """Refuse a storage that is a file which does not exist (a typo would report nothing)."""
    from fairlit.sweep.trials import SweepUsageError

    path = spec.removeprefix("sqlite:///") if spec.startswith("sqlite:///") else spec
    if ("://" not in spec or spec.startswith("sqlite:///")) and not Path(path).is_file():
        raise SweepUsageError(f"--storage {spec}: no such file")


def _report(
    storage_spec: str,
    out: Path,
    audit: bool = False,
    train_rows: int | None = None,
    seeds: list[int] | None = None,
    workers: int = 1,
) -> Any:
    from fairlit.sweep.audit import AUDIT_FILE, audit_chosen, merge_audit
    from fairlit.sweep.report import collect, write_reports
    from fairlit.sweep.study import open_storage

    results = collect(open_storage(storage_spec))
    if audit:
        audit_chosen(
            results, out, train_rows=train_rows, progress=print, seeds=seeds, workers=workers
        )
    results = merge_audit(results, out / AUDIT_FILE)
    write_reports(results, out)
    return results


def _quiet_optuna() -> None:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _run(args: argparse.Namespace, overrides: list[str]) -> int:
    _quiet_optuna()
    from fairlit.sweep.pool import WorkerPool, run_plans
    from fairlit.sweep.study import count_trials, open_storage, prepare_study
    from fairlit.sweep.trials import SweepUsageError

    out = Path(args.out)
    if args.report:
        if args.storage is None and not (out / "studies.db").is_file():
            raise SweepUsageError(
                f"--out {out}: no studies.db there; name the storage with --storage"
            )
        storage_spec = args.storage or _default_storage(out)
        _existing_storage(storage_spec)
        seeds = None if args.seeds is None else list(args.seeds)
        results = _report(
            storage_spec,
            out,
            audit=args.audit,
            train_rows=args.probe_rows,
            seeds=seeds,
            workers=args.workers,
        )
        if results.empty:
            raise SweepUsageError(f"--storage {storage_spec}: holds no fairlit study")
        print(f"fairlit sweep: {len(results)} trial rows from {storage_spec}; report in {out}")
        return 0
    if not args.config:
        raise SweepUsageError("--config is required (unless --report)")
    if args.workers < 1:
        raise SweepUsageError(f"--workers must be at least 1, got {args.workers}")
    # The other workers start now and import while this process resolves the configuration.
    pool = WorkerPool(args.workers)
    created = False
    try:
        plans = _plans(args, overrides)  # resolves the configuration: a bad key stops here
        storage_spec = args.storage or _default_storage(out)
        if not out.exists():
            out.mkdir(parents=True, exist_ok=True)
            created = True
        storage = open_storage(storage_spec)
        where = args.storage or str(out / "studies.db")
        studies = [prepare_study(plan, storage, where) for plan in plans]
    except BaseException:
        pool.cancel()
        if created:
            # Only what this command made: its own empty SQLite file, then the empty folder.
            # Another task sharing --out may already have written into it; that stays.
            own = out / "studies.db"
            if args.storage is None and own.is_file() and not _holds_studies(storage_spec):
                own.unlink()
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    status = 0
    try:
        run_plans(plans, storage_spec, args.workers, not args.no_progress, pool)
    except KeyboardInterrupt:
        print("fairlit sweep: interrupted; rerun the same command to resume", file=sys.stderr)
        status = 130
    except SystemExit as err:
        status = err.code if isinstance(err.code, int) else 1
    results = _report(storage_spec, out)
    lines = []
    failed = 0
    for plan, study in zip(plans, studies, strict=True):
        counts = count_trials(study, plan)
        failed += counts.failed
        extra = f", {counts.failed} failed" if counts.failed else ""
        extra += f", {counts.running} running elsewhere" if counts.running else ""
        lines.append(
            f"fairlit sweep: study '{plan.name}': {counts.done}/{counts.total} done{extra}"
        )
    lines.append(
        f"fairlit sweep: {len(results)} trial rows; results {out / 'results.csv'}, summary "
        f"{out / 'summary.md'}, plot {out / 'front.png'}"
    )
    if failed:
        lines.append("fairlit sweep: rerun the same command to retry the failed points")
    print("\n".join(lines), flush=True)
    if status == 0 and failed:
        status = 1
    return status


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``fairlit sweep`` with ``argv`` (default: ``sys.argv[2:]``); exits with its status."""
    from fairlit.sweep.trials import SweepUsageError

    parser = build_parser()
    args, overrides = parser.parse_known_args(list(sys.argv[2:] if argv is None else argv))
    debug = args.debug or os.environ.get("FAIRLIT_DEBUG", "") not in ("", "0")
    bad = [o for o in overrides if not o.startswith("--") or "=" not in o]
    if bad:
        parser.error(f"unexpected argument {bad[0]!r}; pass options to the runs as --key=value")
    try:
        status = _run(args, overrides)
    except SweepUsageError as err:
        if debug:
            raise
        _fail(str(err), 2)
    except Exception as err:
        if debug:
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        _fail(f"{type(err).__name__}: {first} (FAIRLIT_DEBUG=1 shows the traceback)", 1)
    if status:
        raise SystemExit(status)
