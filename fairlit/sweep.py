r"""``fairlit sweep``: a config over a grid of ``gamma`` and seeds, peers, Pareto fronts.

Every point trains in-process through the same LightningCLI configs as
``fairlit fit`` (without the configs' callbacks, logger and checkpoints: the
sweep records what it needs itself), is tested on the DataModule's test split, probed with external
classifiers (:mod:`fairlit.probes`) and appended to ``results.csv`` at once, so
nothing finished is lost when a later point fails, and a rerun skips the
points already in the file (resumable). The peers of :mod:`fairlit.peers` run
on exactly the same splits. At the end the sweep writes the accuracy-vs-ΔDP
Pareto front of each method (``fronts.csv``), a summary table at ΔDP budgets
(``summary.md``) and a plot (``front.png``).

Example:
    fairlit sweep --config configs/adult.yaml --name sqnn --gammas 0,0.5,0.9 --seeds 0,1,2 \
        --out sweeps/adult --peers
"""

import argparse
import csv
import math
import traceback
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["area_under_front", "budget_table", "main", "pareto_front", "run_sweep"]

DEFAULT_GAMMAS = tuple(round(0.1 * i, 1) for i in range(11))
BUDGETS = (0.02, 0.05, 0.10)
PEER_NAMES = {"expgrad": "fairlearn_expgrad", "adversarial": "fairlearn_adversarial"}
QUIET = [
    "--trainer.callbacks=null",  # per-epoch reports would drown the sweep's own output
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.enable_checkpointing=false",
    "--trainer.logger=false",
    "--test_after_fit=false",
]


def pareto_front(
    points: pd.DataFrame, x: str = "dp_difference", y: str = "accuracy"
) -> pd.DataFrame:
    """Rows not dominated by another (lower or equal ``x`` and higher or equal ``y``).

    Args:
        points: One row per model.
        x: Column to minimize (unfairness).
        y: Column to maximize (accuracy).

    Returns:
        The front, sorted by ``x``.

    Example:
        >>> df = pd.DataFrame({"dp_difference": [0.1, 0.2, 0.05, 0.3], "accuracy": [0.8, 0.79, 0.7, 0.85]})
        >>> pareto_front(df)["accuracy"].tolist()
        [0.7, 0.8, 0.85]
    """
    ordered = points.sort_values([x, y], ascending=[True, False])
    keep, best = [], -math.inf
    for index, value in zip(ordered.index, ordered[y], strict=True):
        if value > best:
            keep.append(index)
            best = value
    return ordered.loc[keep]


def area_under_front(
    front: pd.DataFrame, x: str = "dp_difference", y: str = "accuracy", limit: float = 0.2
) -> float:
    r"""Area under the front's step function for ``x`` in ``[0, limit]``, divided by ``limit``.

    The step function at :math:`d` is the best accuracy reachable with ΔDP at
    most :math:`d` (0 where nothing is reachable), so the summary is the mean
    best accuracy over budgets in :math:`[0, \text{limit}]`: higher is better.

    Example:
        >>> front = pd.DataFrame({"dp_difference": [0.0, 0.1], "accuracy": [0.5, 0.8]})
        >>> round(area_under_front(front), 3)
        0.65
    """
    grid = np.linspace(0.0, limit, 2001)
    xs, ys = front[x].to_numpy(), front[y].to_numpy()
    best = [ys[xs <= d].max() if (xs <= d).any() else 0.0 for d in grid]
    return float(np.trapezoid(best, grid) / limit)


def budget_table(results: pd.DataFrame, budgets: Sequence[float] = BUDGETS) -> pd.DataFrame:
    """Best mean test accuracy per method at each ΔDP budget, averaged over seeds.

    Points are averaged over seeds per ``(method, param)`` first; at each
    budget the point with the highest mean accuracy whose mean ΔDP is within
    the budget is chosen, and its mean best-probe ``s`` AUC is reported.

    Returns:
        One row per method: ``acc@<=b`` and ``s_auc@<=b`` per budget, and ``seeds``.
    """
    ok = results[results["status"] == "ok"].copy()
    agg = {"accuracy": "mean", "dp_difference": "mean", "seed": "nunique"}
    if "probe/best_s_auc" in ok:
        agg["probe/best_s_auc"] = "mean"
    mean = ok.groupby(["method", "param"], dropna=False).agg(agg).reset_index()
    rows = []
    for method, group in mean.groupby("method", sort=False):
        row: dict[str, Any] = {"method": method, "seeds": int(group["seed"].min())}
        for budget in budgets:
            within = group[group["dp_difference"] <= budget]
            best = within.loc[within["accuracy"].idxmax()] if len(within) else None
            row[f"acc@<={budget:g}"] = None if best is None else round(float(best["accuracy"]), 3)
            row[f"param@<={budget:g}"] = None if best is None else best["param"]
            s_auc = None if best is None else best.get("probe/best_s_auc")
            row[f"s_auc@<={budget:g}"] = (
                None if s_auc is None or pd.isna(s_auc) else round(float(s_auc), 3)
            )
        rows.append(row)
    return pd.DataFrame(rows)


class _ResultsFile:
    """Append-only CSV of sweep points; the header grows if new columns appear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.exists():
            self.rows = pd.read_csv(path).to_dict("records")

    def done(self) -> set[tuple[str, str, int]]:
        return {
            (str(r["method"]), str(r["param"]), int(r["seed"]))
            for r in self.rows
            if r.get("status") == "ok"
        }

    def append(self, row: dict[str, Any]) -> None:
        self.rows = [
            r
            for r in self.rows
            if (r["method"], str(r["param"]), int(r["seed"]))
            != (row["method"], str(row["param"]), int(row["seed"]))
        ]
        self.rows.append(row)
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(self.path)  # atomic: an interrupted write never truncates the results


def _cli(args: list[str]) -> Any:
    from fairlit.cli import build_cli

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter")
        return build_cli(args, save_config_callback=None)  # no config.yaml per point


def _train_point(
    configs: Sequence[str],
    gamma: float,
    seed: int,
    overrides: Sequence[str],
    probe: bool,
    probe_rows: int | None = None,
) -> dict[str, Any]:
    from fairlit.probes import encode_dataset, probe_representation

    args = [a for c in configs for a in ("--config", c)]
    args += [
        f"--model.init_args.gamma={gamma}",
        f"--seed_everything={seed}",
        f"--data.init_args.seed={seed}",
    ]
    cli = _cli([*args, *QUIET, *overrides])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    [metrics] = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)
    row = {k.removeprefix("test/"): float(v) for k, v in metrics.items()}
    if probe:
        dm = cli.datamodule
        train = encode_dataset(cli.model, dm.train_dataset).numpy()
        test = encode_dataset(cli.model, dm.test_dataset).numpy()
        rows = np.arange(len(train))
        if probe_rows is not None and probe_rows < len(rows):
            rows = np.sort(np.random.default_rng(seed).choice(rows, probe_rows, replace=False))
        y, s = dm.train_dataset.y.numpy()[rows], dm.train_dataset.s.numpy()[rows]
        row.update(
            probe_representation(
                train[rows],
                y,
                s,
                test,
                dm.test_dataset.y.numpy(),
                dm.test_dataset.s.numpy(),
                seed=seed,
            )
        )
    return row


def _peer_points(
    configs: Sequence[str], seed: int, overrides: Sequence[str], epochs: int
) -> list[dict[str, Any]]:
    from fairlit.peers import run_peers

    args = [a for c in configs for a in ("--config", c)]
    cli = _cli([*args, f"--data.init_args.seed={seed}", *QUIET, *overrides])
    rows = run_peers(cli.datamodule, epochs=epochs, seed=seed)
    # Say whose method each row is: fairlit has an adversarial regularizer of its own.
    return [{**row, "method": PEER_NAMES.get(row["method"], row["method"])} for row in rows]


def run_sweep(
    configs: Sequence[str],
    out: str | Path,
    name: str = "sqnn",
    gammas: Iterable[float] = DEFAULT_GAMMAS,
    seeds: Iterable[int] = (0,),
    overrides: Sequence[str] = (),
    peers: bool = False,
    peer_epochs: int = 10,
    probe: bool = True,
    probe_rows: int | None = None,
) -> pd.DataFrame:
    """Train ``configs`` at every ``gamma`` x ``seed`` (and the peers), resumably.

    Args:
        configs: LightningCLI config files, composed in order.
        out: Output folder (``results.csv``, ``fronts.csv``, ``summary.md``, ``front.png``).
        name: Method name recorded for these points (e.g. ``sqnn``, ``adversarial``).
        gammas: Values of the penalty weight.
        seeds: Seeds; each sets ``seed_everything`` and the data split seed.
        overrides: Extra command-line arguments for every point (e.g. ``--trainer.max_epochs=5``).
        peers: Also run logistic regression, ExponentiatedGradient and
            AdversarialFairnessClassifier on the same splits.
        peer_epochs: Epochs of fairlearn's AdversarialFairnessClassifier.
        probe: Probe the learned code with external classifiers.
        probe_rows: Fit the probes on a seeded subsample of this many training rows
            (``None``: all of them); they are always scored on the whole test split.

    Returns:
        All rows of ``results.csv``.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = _ResultsFile(out / "results.csv")
    done = results.done()
    seeds, gammas = list(seeds), list(gammas)
    todo = [(g, s) for s in seeds for g in gammas if (name, str(float(g)), s) not in done]
    peer_seeds = [
        s for s in seeds if peers and not any(m == "logreg" and int(sd) == s for m, _, sd in done)
    ]
    failures = []
    with tqdm(total=len(todo) + len(peer_seeds), desc=f"sweep {name}", unit="point") as bar:
        for gamma, seed in todo:
            base = {"method": name, "param": str(float(gamma)), "seed": seed}
            try:
                row = {
                    **base,
                    "status": "ok",
                    **_train_point(configs, gamma, seed, overrides, probe, probe_rows),
                }
            except Exception as err:  # keep going: one failed point must not lose the others
                failures.append(f"{name} gamma={gamma} seed={seed}: {type(err).__name__}: {err}")
                row = {**base, "status": "failed", "error": f"{type(err).__name__}: {err}"}
                traceback.print_exc()
            results.append(row)
            bar.update()
        for seed in peer_seeds:
            try:
                for point in _peer_points(configs, seed, overrides, peer_epochs):
                    results.append(
                        {"status": "ok", **point, "param": str(point["param"]), "seed": seed}
                    )
            except Exception as err:
                failures.append(f"peers seed={seed}: {type(err).__name__}: {err}")
                traceback.print_exc()
            bar.update()
    frame = pd.DataFrame(results.rows)
    write_reports(frame, out)
    for failure in failures:
        print(f"fairlit sweep: FAILED {failure}")
    print(
        f"fairlit sweep: {len(frame)} points in {out / 'results.csv'}; front plot {out / 'front.png'}"
    )
    return frame


def write_reports(results: pd.DataFrame, out: Path) -> None:
    """Write ``fronts.csv``, ``summary.md`` and ``front.png`` from the results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = results[results.get("status", "ok") == "ok"]
    if ok.empty:
        return
    mean = (
        ok.groupby(["method", "param"], dropna=False)[["accuracy", "dp_difference"]]
        .mean()
        .reset_index()
    )
    fronts, areas = [], {}
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for method, group in mean.groupby("method", sort=False):
        front = pareto_front(group)
        areas[method] = area_under_front(front)
        fronts.append(front.assign(method=method))
        (line,) = ax.step(
            front["dp_difference"],
            front["accuracy"],
            where="post",
            label=f"{method} (AUF {areas[method]:.3f})",
        )
        ax.scatter(
            group["dp_difference"], group["accuracy"], s=14, alpha=0.5, color=line.get_color()
        )
    pd.concat(fronts).to_csv(out / "fronts.csv", index=False)
    ax.set_xlabel("demographic parity difference (test)")
    ax.set_ylabel("accuracy (test)")
    ax.set_title(f"Accuracy vs. ΔDP, mean over seeds: {out.name}")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "front.png", dpi=120)
    plt.close(fig)
    table = budget_table(ok)
    table["area_under_front"] = table["method"].map(areas).round(3)
    table = table.astype(object).where(table.notna(), "—")  # nothing within that budget
    (out / "summary.md").write_text(_markdown(table))


def _markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (without needing the ``tabulate`` package)."""
    cells = [[str(c) for c in table.columns]] + [[str(v) for v in row] for row in table.to_numpy()]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join(" --- " for _ in table.columns) + "|")
    return "\n".join(lines) + "\n"


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv: Sequence[str] | None = None) -> None:
    """Command line of ``fairlit sweep``; unknown ``--key=value`` arguments go to every point."""
    parser = argparse.ArgumentParser(
        prog="fairlit sweep",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Run a fairlit config over a grid of gamma values and seeds, resumably, "
        "with optional fairlearn peers on the same splits; write results.csv, fronts.csv, "
        "summary.md and front.png. Other --key=value arguments are passed to every run.",
    )
    parser.add_argument("--config", action="append", required=True, help="config file (repeatable)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--name", default="sqnn", help="method name for these points")
    parser.add_argument(
        "--gammas", type=_floats, default=list(DEFAULT_GAMMAS), help="comma-separated"
    )
    parser.add_argument("--seeds", type=_ints, default=[0], help="comma-separated")
    parser.add_argument("--peers", action="store_true", help="also run the fairlearn peers")
    parser.add_argument("--peer_epochs", type=int, default=10)
    parser.add_argument("--no_probe", action="store_true", help="skip the representation probes")
    parser.add_argument(
        "--probe_rows", type=int, default=None, help="fit the probes on this many training rows"
    )
    args, overrides = parser.parse_known_args(argv)
    bad = [o for o in overrides if not o.startswith("--")]
    if bad:
        parser.error(f"unexpected arguments {bad}; pass options to the runs as --key=value")
    run_sweep(
        args.config,
        args.out,
        args.name,
        args.gammas,
        args.seeds,
        overrides,
        args.peers,
        args.peer_epochs,
        not args.no_probe,
        args.probe_rows,
    )
