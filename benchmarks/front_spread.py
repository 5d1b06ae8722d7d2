"""Does a front give the runs it stands for? Adult, 6 gammas x 5 seeds, three ways.

    python benchmarks/front_spread.py [--out DIR] [--seeds 0,1,2,3,4] [--epochs 10]

(a) ``fairlit sweep`` with one run per gamma and seed (configs/adult.yaml);
(b) the same sweep with ``--vectorize``: each seed's gammas as one front started from the
    separate runs' weights and random stream, so every trial should equal its run in (a);
(c) a front of ``configs/model/front.yaml`` per seed s (``fairlit fit``): members with their own
    initial weights (member k from seed s + k), the seed's data split.

Prints, per gamma, the test accuracy and ΔDP over seeds (mean, min and max) of each way, the
difference of the means of (c) and (a) with Welch's 95% interval, how many members of (c) lie
within (a)'s seed-to-seed range, the largest difference of any metric between (a) and (b),
and the wall time of (a) and (b). No probes.
"""

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
GAMMAS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


def _sweep(out: Path, seeds: str, epochs: int, *extra: str) -> float:
    from fairlit.entry import main

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        main(["sweep", "--config", str(ROOT / "configs" / "adult.yaml"), "--out", str(out),
              "--gammas", ",".join(map(str, GAMMAS)), "--seeds", seeds, "--no_probe",
              "--no_progress", f"--trainer.max_epochs={epochs}", *extra])  # fmt: skip
    return time.perf_counter() - start


def _config_front(out: Path, seed: int, epochs: int) -> pd.DataFrame:
    from fairlit.cli import main

    logs = out / f"front_seed{seed}"
    with contextlib.redirect_stdout(io.StringIO()):
        main(["fit", "--config", str(ROOT / "configs" / "adult.yaml"), "--config",
              str(ROOT / "configs" / "model" / "front.yaml"),
              f"--model.init_args.gammas=[{','.join(map(str, GAMMAS))}]",
              f"--seed_everything={seed}", f"--data.init_args.seed={seed}",
              f"--trainer.max_epochs={epochs}", "--trainer.enable_progress_bar=false",
              "--trainer.callbacks=null", "--trainer.enable_checkpointing=false",
              f"--trainer.logger.init_args.save_dir={logs}"])  # fmt: skip
    [metrics] = logs.glob("**/metrics.csv")
    row = pd.read_csv(metrics).ffill().iloc[-1]
    return pd.DataFrame(
        [{"param": g, "seed": seed, "test/accuracy": row[f"test/m{k}/accuracy"],
          "test/dp_difference": row[f"test/m{k}/dp_difference"]} for k, g in enumerate(GAMMAS)]
    )  # fmt: skip


def _over_seeds(frame: pd.DataFrame, column: str) -> pd.Series:
    grouped = frame.groupby("param")[column]
    return grouped.agg(lambda v: f"{v.mean():.4f} [{v.min():.4f}, {v.max():.4f}]")


def _welch(c: pd.DataFrame, a: pd.DataFrame, column: str, gamma: float) -> str:
    """The difference of the means over seeds, with Welch's 95% interval (scipy)."""
    from scipy import stats

    x, y = c.loc[c["param"] == gamma, column], a.loc[a["param"] == gamma, column]
    if x.std() == 0 and y.std() == 0:
        return f"{x.mean() - y.mean():+.4f} (no spread)"
    interval = stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
    return f"{x.mean() - y.mean():+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="Folder for the runs (default: temporary).")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        apart = _sweep(out / "separate", args.seeds, args.epochs)
        together = _sweep(out / "vectorized", args.seeds, args.epochs, "--vectorize")
        a = pd.read_csv(out / "separate" / "results.csv")
        b = pd.read_csv(out / "vectorized" / "results.csv")
        c = pd.concat([_config_front(out, int(s), args.epochs) for s in args.seeds.split(",")])
    key = ["param", "seed"]
    joined = (
        a.set_index(key)
        .sort_index()
        .merge(
            b.set_index(key).sort_index(), left_index=True, right_index=True, suffixes=("", "_v")
        )
    )
    metrics = [col for col in a.columns if col.startswith(("val/", "test/"))]
    gap = max((joined[m] - joined[f"{m}_v"]).abs().max() for m in metrics)
    print(f"Adult, {len(GAMMAS)} gammas x seeds {args.seeds}, {args.epochs} epochs, no probes")
    for column, label in (("test/accuracy", "test accuracy"), ("test/dp_difference", "test ΔDP")):
        table = pd.DataFrame({"(a) separate": _over_seeds(a, column),
                              "(b) vectorized": _over_seeds(b, column),
                              "(c) configs/model/front.yaml": _over_seeds(c, column)})  # fmt: skip
        table["(c) - (a), Welch 95% CI"] = [_welch(c, a, column, g) for g in table.index]
        print(f"\n{label}: mean [min, max] over seeds\n{table.to_string()}")
        low = c["param"].map(a.groupby("param")[column].min())
        high = c["param"].map(a.groupby("param")[column].max())
        inside = (low <= c[column]) & (c[column] <= high)
        n = a.groupby("param").size().min()
        print(f"(c) members inside (a)'s range of {n} seeds: {int(inside.sum())} of {len(c)} "
              f"(a draw of the same distribution: {n - 1} in {n + 1})")  # fmt: skip
    print(f"\nlargest |(a) - (b)| over {len(metrics)} val/test metrics and every trial: {gap:.2e}")
    print(f"wall time: (a) {apart:.1f} s, (b) {together:.1f} s, (a) / (b) = {apart / together:.2f}")


if __name__ == "__main__":
    main()
