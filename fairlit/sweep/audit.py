"""The downstream audit of the settings a sweep chose, run afterwards from their checkpoints.

Auditing every point of a grid trains 18 classifiers per point; the summary only shows the
audit of the settings chosen on validation. :func:`audit_chosen` therefore audits, after the
sweep, each seed of each chosen setting of a fairlit study (from the trial's saved
``config.yaml`` and ``model.ckpt``) with :func:`fairlit.audit.downstream_audit`, and keeps the
results in ``OUT/audit.csv`` (one row per study, trial and seed; rows already there are not
redone). :func:`merge_audit` puts them next to the trials, so the report shows the worst
downstream ΔDP. The audit reads the test split only to report: nothing is chosen on it.

Command line: ``fairlit sweep --report --audit --out OUT [--probe_rows N]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fairlit.sweep.report import BUDGETS

__all__ = ["AUDIT_FILE", "audit_chosen", "audit_trial", "merge_audit"]

#: The file in the sweep's ``--out`` folder that holds the audits of chosen settings.
AUDIT_FILE = "audit.csv"

_KEYS = ["study", "trial", "seed"]


def audit_trial(run_dir: str | Path, seed: int, train_rows: int | None = None) -> dict[str, float]:
    """Audit one trained point from its run folder.

    Args:
        run_dir: A trial's folder holding ``config.yaml`` (the resolved configuration) and
            ``model.ckpt`` (the final weights), as written by the sweep.
        seed: The point's seed (sampled code, subsample and classifiers).
        train_rows: Fit the classifiers on a seeded subsample of this many training rows.

    Returns:
        ``audit/<form>/<classifier>/{accuracy,dp_difference,s_auc}`` and the worst values of
        :func:`fairlit.audit.worst_downstream`.

    Raises:
        FileNotFoundError: if ``config.yaml`` or ``model.ckpt`` is missing.
    """
    import torch

    from fairlit.audit import downstream_audit, worst_downstream
    from fairlit.configuration import quiet_lightning
    from fairlit.sweep.trials import QUIET, _build

    run_dir = Path(run_dir)
    for name in ("config.yaml", "model.ckpt"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing; the audit needs the trial's run")
    with quiet_lightning():
        cli = _build(["--config", str(run_dir / "config.yaml"), *QUIET])
    model, datamodule = cli.model, cli.datamodule
    state = torch.load(run_dir / "model.ckpt", map_location="cpu", weights_only=False)
    model.load_state_dict(state["state_dict"])
    model.eval()
    rows = downstream_audit(model, datamodule, seed=seed, train_rows=train_rows)
    out: dict[str, float] = {}
    for row in rows:
        prefix = f"audit/{row['form']}/{row['classifier']}"
        out.update({f"{prefix}/{k.removeprefix('test/')}": v for k, v in row.items() if "/" in k})
    out.update(worst_downstream(rows))
    return out


def _chosen_trials(results: pd.DataFrame, budgets: Sequence[float]) -> pd.DataFrame:
    """The trial rows (one per seed) of every chosen setting that has a saved run."""
    from fairlit.sweep.report import _same_setting, _usable, budget_summary

    summary = budget_summary(results, budgets)
    if summary.empty or "chosen" not in summary:
        return pd.DataFrame(columns=[*_KEYS, "run_dir"])
    ok = _usable(results)
    picked = [
        _same_setting(ok, row["method"], row["chosen"])
        for _, row in summary.iterrows()
        if row["chosen"] is not None
        and not (isinstance(row["chosen"], float) and pd.isna(row["chosen"]))
    ]
    if not picked or "run_dir" not in ok:
        return pd.DataFrame(columns=[*_KEYS, "run_dir"])
    trials = pd.concat(picked).dropna(subset=["run_dir"]).copy()
    # A search trial trains every seed, each in its own folder seed_<s>/ under the trial's.
    trials["run_dir"] = [
        str(_run_folder(d, int(seed)))
        for d, seed in zip(trials["run_dir"], trials["seed"], strict=True)
    ]
    trials = trials[[Path(d, "model.ckpt").is_file() for d in trials["run_dir"]]]
    return trials.drop_duplicates(subset=_KEYS)[[*_KEYS, "run_dir"]]


def _run_folder(run_dir: str, seed: int) -> Path:
    """The folder of one seed's run: ``run_dir/seed_<s>`` for a search trial, else ``run_dir``."""
    per_seed = Path(run_dir) / f"seed_{seed}"
    return per_seed if (per_seed / "model.ckpt").is_file() else Path(run_dir)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def audit_chosen(
    results: pd.DataFrame,
    out: str | Path,
    budgets: Sequence[float] = BUDGETS,
    train_rows: int | None = None,
    progress: Callable[[str], None] | None = None,
    seeds: Sequence[int] | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Audit every seed of every setting chosen on validation that has a saved run.

    Args:
        results: :func:`fairlit.sweep.report.collect`'s trial rows.
        out: The sweep's output folder; the audits are kept in ``out/audit.csv``, written
            after each trial, so an interrupted audit resumes where it stopped.
        budgets: The ΔDP budgets whose chosen settings are audited.
        train_rows: See :func:`audit_trial`.
        progress: Called with one line per audited trial.
        seeds: Audit only these seeds of each chosen setting (``None``: every seed).
        workers: Processes auditing in parallel, each with one torch thread.

    Returns:
        The whole ``audit.csv`` table: ``study``, ``trial``, ``seed`` and the audit columns.
    """
    path = Path(out) / AUDIT_FILE
    done = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=_KEYS)
    have = {tuple(k) for k in done[_KEYS].astype(str).itertuples(index=False)}
    todo = _chosen_trials(results, budgets)
    if seeds is not None:
        todo = todo[todo["seed"].astype(int).isin([int(s) for s in seeds])]
    jobs = [
        (str(row.study), int(row.trial), int(row.seed), str(row.run_dir))
        for row in todo.itertuples(index=False)
        if (str(row.study), str(int(row.trial)), str(int(row.seed))) not in have
    ]
    rows = done.to_dict("records")

    def record(job: tuple[str, int, int, str], audited: dict[str, float]) -> None:
        study, trial, seed, _ = job
        rows.append({"study": study, "trial": trial, "seed": seed, **audited})
        pd.DataFrame(rows).to_csv(path, index=False)
        if progress is not None:
            worst = audited.get("audit/worst_dp_difference", float("nan"))
            progress(
                f"audited {study} trial {trial} (seed {seed}): worst downstream ΔDP {worst:.3f}"
            )

    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            record(job, audit_trial(job[3], job[2], train_rows=train_rows))
        return pd.DataFrame(rows)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
        futures = {pool.submit(audit_trial, job[3], job[2], train_rows): job for job in jobs}
        for future in as_completed(futures):
            record(futures[future], future.result())
    return pd.DataFrame(rows)


def merge_audit(results: pd.DataFrame, audits: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Fill the trials' ``audit/...`` columns from an audit table (values already set win).

    Args:
        results: :func:`fairlit.sweep.report.collect`'s trial rows.
        audits: An audit table or the path of ``audit.csv`` (a missing file changes nothing).

    Returns:
        A copy of ``results`` with the audit columns.
    """
    if not isinstance(audits, pd.DataFrame):
        if not Path(audits).is_file():
            return results
        audits = pd.read_csv(audits)
    columns = [c for c in audits.columns if c.startswith("audit/")]
    if audits.empty or not columns or results.empty:
        return results
    merged = results.copy()

    def keys(frame: pd.DataFrame) -> pd.Index:
        def whole(value: Any) -> str:
            return "" if pd.isna(value) else str(int(value))

        return pd.Index(
            frame["study"].astype(str)
            + "|"
            + frame["trial"].map(whole)
            + "|"
            + frame["seed"].map(whole)
        )

    table = audits.set_index(keys(audits))[columns]
    table = table[~table.index.duplicated(keep="last")]
    found = table.reindex(keys(merged))
    for column in columns:
        values = found[column].to_numpy()
        if column in merged:
            merged[column] = merged[column].where(merged[column].notna(), values)
        else:
            merged[column] = values
    return merged
