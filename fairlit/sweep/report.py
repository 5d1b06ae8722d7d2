r"""Reports rebuilt from the Optuna storage alone: ``results.csv``, fronts, ``summary.md``, plot.

:func:`collect` reads every fairlit study in a storage into one row per trial
(a search trial run over several seeds gives a row per seed). :func:`write_reports`
chooses every setting on **validation** metrics (:mod:`fairlit.sweep.selection`)
and reports the chosen settings' **test** metrics as mean ± 95% interval over
the seeds, with the share of seeds whose test ΔDP kept the budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fairlit.sweep.selection import (
    area_under_front,
    budget_kept,
    choose_at_budget,
    mean_interval,
    validation_front,
)

__all__ = ["BUDGETS", "collect", "write_reports"]

#: The ΔDP budgets of the summary.
BUDGETS = (0.02, 0.05, 0.10)

_SKIP = {"config", "traceback", "per_seed", "method", "seed", "seeds", "queued"}
_KNOWN = {"study", "method", "mode", "needs_s", "trial", "state", "param_name", "param", "seed"}
_LIMIT = 0.2  # area under the front for ΔDP in [0, _LIMIT]


def collect(storage: Any) -> pd.DataFrame:
    """One row per trial of every fairlit study in ``storage``.

    Args:
        storage: An Optuna storage (see :func:`fairlit.sweep.study.open_storage`).

    Returns:
        Columns ``study``; ``method`` (the study's method label, followed by ``[study]`` when
        several studies in the storage share a label); ``mode``, ``needs_s``, ``trial``;
        ``state`` (Optuna's trial state in lower case: complete, fail, running, waiting,
        pruned); ``param_name`` and ``param`` (the grid value, or ``trial N`` for a search
        trial); ``seed``; the searched keys; the ``val/``, ``test/`` and ``probe/`` metrics;
        ``feasible`` (budget searches: validation ΔDP within the budget); ``status`` (ok,
        failed or interrupted); ``duplicate_of``, ``handed_back``, ``run_dir``,
        ``wall_time_s`` and ``error``. Studies not made by fairlit are skipped.
    """
    import optuna

    rows: list[dict[str, Any]] = []
    for name in sorted(optuna.get_all_study_names(storage)):
        study = optuna.load_study(study_name=name, storage=storage)
        attrs = study.user_attrs
        if "fairlit_fingerprint" not in attrs:
            continue
        mode, param_name = attrs.get("mode", "grid"), attrs.get("param")
        budget = attrs.get("budget")
        for trial in study.get_trials(deepcopy=False):
            user = trial.user_attrs
            base: dict[str, Any] = {
                "study": name,
                "method": attrs.get("method", name),
                "mode": mode,
                "needs_s": bool(attrs.get("needs_s", False)),
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "param_name": param_name if mode == "grid" else "trial",
                "param": trial.params.get(param_name)
                if mode == "grid" and param_name
                else (f"trial {trial.number}" if mode == "search" else None),
            }
            if mode == "search":
                base.update({k: v for k, v in trial.params.items()})
            if budget is not None:
                constraints = _constraints(trial.system_attrs)
                dp = user.get("val/dp_difference")
                base["feasible"] = bool(
                    constraints
                    and all(c <= 0 for c in constraints)
                    and dp is not None
                    and dp <= budget
                )
            extra = {k: v for k, v in user.items() if k not in _SKIP}
            per_seed = user.get("per_seed")
            if per_seed:
                for seed, metrics in per_seed.items():
                    rows.append({**base, **extra, **metrics, "seed": int(seed)})
            else:
                seed = trial.params.get("seed", user.get("seed"))
                rows.append({**base, "seed": None if seed is None else int(seed), **extra})
    columns = [
        "study",
        "method",
        "mode",
        "needs_s",
        "trial",
        "state",
        "param_name",
        "param",
        "seed",
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    studies_per_method = frame.groupby("method")["study"].nunique()
    shared = set(studies_per_method[studies_per_method > 1].index)
    if shared:  # two studies with one label: keep their trials apart in every table
        frame["method"] = [
            f"{m} [{st}]" if m in shared else m
            for m, st in zip(frame["method"], frame["study"], strict=True)
        ]
    metric_order = [
        c
        for prefix in ("val/", "test/", "probe/")
        for c in sorted(frame.columns)
        if c.startswith(prefix)
    ]
    rest = [c for c in frame.columns if c not in columns and c not in metric_order]
    tail = [
        c
        for c in (
            "feasible",
            "status",
            "duplicate_of",
            "handed_back",
            "run_dir",
            "wall_time_s",
            "error",
        )
        if c in rest
    ]
    searched = [c for c in rest if c not in tail]
    return frame[columns + searched + metric_order + tail]


def _constraints(system_attrs: dict[str, Any]) -> list[float]:
    """The constraint values Optuna stored for a trial (``constraints`` list, or ``constraints:<key>``)."""
    values = list(system_attrs.get("constraints") or [])
    values += [v for k, v in system_attrs.items() if k.startswith("constraints:")]
    return [float(v) for v in values]


def _usable(results: pd.DataFrame) -> pd.DataFrame:
    needed = ["val/accuracy", "val/dp_difference", "test/accuracy", "test/dp_difference"]
    if results.empty or any(c not in results for c in needed):
        return results.iloc[0:0]
    ok = results[results["state"] == "complete"]
    if "duplicate_of" in ok:
        ok = ok[ok["duplicate_of"].isna()]
    return ok.dropna(subset=needed)


def _validation(ok: pd.DataFrame) -> pd.DataFrame:
    frame = ok[["method", "param", "seed", "val/accuracy", "val/dp_difference"]].rename(
        columns={"val/accuracy": "accuracy", "val/dp_difference": "dp_difference"}
    )
    frame.attrs["split"] = "val"
    return frame


def _same_setting(ok: pd.DataFrame, method: str, param: Any) -> pd.DataFrame:
    rows = ok[ok["method"] == method]
    if param is None or (isinstance(param, float) and math.isnan(param)):
        return rows[rows["param"].isna()]
    return rows[rows["param"] == param]


def _fmt(mean: float, half: float) -> str:
    return f"{mean:.3f}" if math.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def _setting_text(rows: pd.DataFrame) -> str:
    """``gamma=0.5``, ``eps=0.01``, ``(no parameter)`` or ``trial 3: gamma=0.42, lr=0.0027``."""
    first = rows.iloc[0]
    name = first.get("param_name")
    if name == "trial":
        searched = [c for c in rows.columns if c not in _KNOWN and "." in c and "/" not in c]
        values = ", ".join(
            f"{c.rsplit('.', 1)[-1]}={_param_text(first[c])}"
            for c in searched
            if pd.notna(first[c])
        )
        return f"{first['param']}: {values}" if values else str(first["param"])
    if name is None or (isinstance(name, float) and math.isnan(name)):
        return "(no parameter)"
    return f"{name}={_param_text(first['param'])}"


def _param_text(param: Any) -> str:
    if param is None or (isinstance(param, float) and math.isnan(param)):
        return "(none)"
    return f"{param:g}" if isinstance(param, float) else str(param)


def budget_summary(results: pd.DataFrame, budgets: Sequence[float] = BUDGETS) -> pd.DataFrame:
    """Per method and budget: the validation-chosen setting and its test metrics over seeds.

    Args:
        results: The frame of :func:`collect`.
        budgets: ΔDP budgets.

    Returns:
        One row per ``(method, budget)``: ``chosen`` (the setting, or ``—`` when no
        setting's mean validation ΔDP is within the budget), ``seeds``, the chosen
        setting's mean validation accuracy and ΔDP, test accuracy and test ΔDP as
        mean and 95% half-width, ``budget_kept`` (share of seeds with test ΔDP within
        the budget) and the mean best-probe ``s`` AUC where probed.
    """
    ok = _usable(results)
    rows = []
    methods = list(dict.fromkeys(ok["method"]))
    needs = ok.groupby("method")["needs_s"].first().to_dict() if "needs_s" in ok else {}
    for budget in budgets:
        chosen = choose_at_budget(_validation(ok), budget).set_index("method")
        for method in methods:
            row: dict[str, Any] = {
                "method": method,
                "needs_s": bool(needs.get(method, False)),
                "budget": budget,
            }
            if method not in chosen.index:
                rows.append({**row, "chosen": None})
                continue
            pick = chosen.loc[method]
            tested = _same_setting(ok, method, pick["param"])
            acc, acc_half = mean_interval(tested["test/accuracy"].tolist())
            dp, dp_half = mean_interval(tested["test/dp_difference"].tolist())
            row.update(
                chosen=pick["param"],
                setting=_setting_text(tested),
                seeds=int(tested["seed"].nunique()),
                val_accuracy=float(pick["accuracy"]),
                val_dp_difference=float(pick["dp_difference"]),
                test_accuracy=acc,
                test_accuracy_half=acc_half,
                test_dp_difference=dp,
                test_dp_difference_half=dp_half,
                budget_kept=budget_kept(tested["test/dp_difference"].tolist(), budget),
            )
            if "probe/best_s_auc" in tested and tested["probe/best_s_auc"].notna().any():
                row["best_s_auc"] = float(tested["probe/best_s_auc"].mean())
            if "val/dp_difference_se" in tested and tested["val/dp_difference_se"].notna().any():
                row["val_dp_se"] = float(tested["val/dp_difference_se"].mean())
            left = "test/groups_left_out"  # logged only when a gap left a group out
            if left in tested and tested[left].fillna(0).gt(0).any():
                row["groups_left_out"] = True
            worst = "audit/worst_dp_difference"
            if worst in tested and tested[worst].notna().any():
                row["worst_downstream_dp"] = float(tested[worst].mean())
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    # Methods that predict from x alone first, then those that need s; by name within each.
    return frame.sort_values(["needs_s", "method", "budget"], kind="stable").reset_index(drop=True)


def _markdown(header: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _summary_markdown(summary: pd.DataFrame, fronts: pd.DataFrame, areas: dict[str, float]) -> str:
    header = [
        "method",
        "needs s at prediction",
        "ΔDP budget",
        "chosen on validation",
        "seeds",
        "test accuracy",
        "test ΔDP",
        "budget kept (test)",
        "best-probe s AUC",
    ]
    audited = "worst_downstream_dp" in summary and summary["worst_downstream_dp"].notna().any()
    if audited:
        header.append("worst downstream ΔDP (test)")
    with_se = "val_dp_se" in summary and summary["val_dp_se"].notna().any()
    if with_se:
        header.append("val ΔDP SE")
    body = []
    marked = False
    for row in summary.itertuples(index=False):
        data = row._asdict()
        if pd.isna(data.get("val_accuracy", math.nan)):
            none = "— (no setting within budget on validation)"
            body.append(
                [data["method"], "yes" if data["needs_s"] else "no", f"{data['budget']:g}", none]
            )
            continue
        kept = data["budget_kept"]
        auc = data.get("best_s_auc", math.nan)
        worst = data.get("worst_downstream_dp", math.nan)
        se = data.get("val_dp_se", math.nan)
        body.append(
            [
                data["method"],
                "yes" if data["needs_s"] else "no",
                f"{data['budget']:g}",
                data["setting"],
                int(data["seeds"]),
                _fmt(data["test_accuracy"], data["test_accuracy_half"]),
                _fmt(data["test_dp_difference"], data["test_dp_difference_half"]),
                f"{kept:.0%} ({round(kept * data['seeds'])}/{int(data['seeds'])})",
                "" if pd.isna(auc) else f"{auc:.3f}",
                *([] if not audited else ["" if pd.isna(worst) else f"{worst:.3f}"]),
                *([] if not with_se else ["" if pd.isna(se) else f"{se:.3f}"]),
            ]
        )
        if with_se and not pd.isna(se) and data["budget"] < 2 * se:
            body[-1][2] += " (< 2 SE)"
        flag = data.get("groups_left_out")
        if flag is not None and not pd.isna(flag) and bool(flag):
            body[-1][6] += " *"
            marked = True
    width = len(header)
    body = [row + [""] * (width - len(row)) for row in body]
    text = _markdown(header, body)
    if marked:
        text += (
            "\n\\* on some seed the test ΔDP or ΔEO left a group out (no rows, no positives or "
            "no negatives of it in the test split): the gap compares the other groups.\n"
        )
    text += (
        "\nEach setting (gamma, eps, alpha or a search trial) is chosen on validation: the highest "
        "mean validation accuracy among the settings whose mean validation ΔDP is within the budget. "
        "Test columns are that setting's mean ± 95% t-interval over the seeds; budget kept is the "
        "share of seeds whose test ΔDP is within the budget. ΔDP: demographic parity difference."
        + (
            " Worst downstream ΔDP: the largest test ΔDP of fresh classifiers (logistic "
            "regression, MLP, gradient boosting) trained on the frozen code, sampled, thresholded "
            "or as firing probabilities (`fairlit.audit`), mean over the seeds."
            if audited
            else ""
        )
        + (
            " Val ΔDP SE: the standard error of the chosen setting's validation ΔDP (two groups' "
            "binomial rates, mean over the seeds); a budget marked (< 2 SE) is smaller than twice "
            "it, so validation cannot tell it apart from noise."
            if with_se
            else ""
        )
        + "\n\n"
    )
    order = list(dict.fromkeys(summary["method"])) if "method" in summary else []
    ranked = sorted(areas, key=lambda m: order.index(m) if m in order else len(order))
    area_rows = [[m, f"{areas[m]:.3f}", int((fronts["method"] == m).sum())] for m in ranked]
    text += _markdown(
        [
            "method",
            f"area under the test front (ΔDP 0 to {_LIMIT:g})",
            "settings on the validation front",
        ],
        area_rows,
    )
    return text


def write_reports(
    results: pd.DataFrame, out: str | Path, budgets: Sequence[float] = BUDGETS
) -> None:
    """Write ``results.csv``, ``fronts.csv``, ``summary.md`` and ``front.png`` into ``out``.

    ``results.csv`` holds every trial. The fronts are the settings on each
    method's Pareto front of mean *validation* (ΔDP, accuracy), drawn at their
    mean *test* values; the area under a front is the mean best test accuracy
    over budgets in [0, 0.2]. Nothing is written but ``results.csv`` when no trial
    has finished.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "results.csv", index=False)
    ok = _usable(results)
    if ok.empty:  # nothing finished: no report of an earlier state may stay behind
        for name in ("fronts.csv", "summary.md", "front.png"):
            (out / name).unlink(missing_ok=True)
        return
    front = validation_front(_validation(ok))
    test_means = (
        ok.groupby(["method", "param"], dropna=False, sort=False)[
            ["test/accuracy", "test/dp_difference"]
        ]
        .mean()
        .reset_index()
    )
    rows, areas = [], {}
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    for method, group in front.groupby("method", sort=False):
        tested = []
        for pick in group.itertuples(index=False):
            match = _same_setting(test_means, method, pick.param)
            tested.append(
                {
                    "method": method,
                    "param": pick.param,
                    "val_accuracy": pick.accuracy,
                    "val_dp_difference": pick.dp_difference,
                    "accuracy": float(match["test/accuracy"].iloc[0]),
                    "dp_difference": float(match["test/dp_difference"].iloc[0]),
                }
            )
        table = pd.DataFrame(tested).sort_values("dp_difference")
        rows.append(table)
        areas[method] = area_under_front(table, limit=_LIMIT)
        (line,) = ax.step(
            table["dp_difference"],
            table["accuracy"],
            where="post",
            marker="o",
            ms=3,
            label=f"{method} (area {areas[method]:.3f})",
        )
        every = test_means[test_means["method"] == method]
        ax.scatter(
            every["test/dp_difference"],
            every["test/accuracy"],
            s=10,
            alpha=0.35,
            color=line.get_color(),
        )
    fronts = pd.concat(rows, ignore_index=True)
    fronts.to_csv(out / "fronts.csv", index=False)
    ax.set_xlabel("demographic parity difference ΔDP (test, mean over seeds)")
    ax.set_ylabel("accuracy (test, mean over seeds)")
    ax.set_title(f"{out.name}: fronts chosen on validation, drawn at test", fontsize=10)
    ax.legend(
        fontsize=7, title="method (area under the test front, ΔDP 0 to 0.2)", title_fontsize=7
    )
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, "dots: every setting; steps: the validation Pareto front", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out / "front.png", dpi=120)
    plt.close(fig)
    (out / "summary.md").write_text(
        _summary_markdown(budget_summary(results, budgets), fronts, areas)
    )
