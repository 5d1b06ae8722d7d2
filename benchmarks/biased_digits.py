"""Biased-Digits: does SQNN's I(T; colour) penalty help against the colour shortcut?

For each ``rho`` (probability that a training digit is on its own colour) and seed, trains
through the shipped configs (``configs/biased_digits.yaml``, i.e. exactly ``fairlit fit``):

* ``fp``: the full-precision CNN without regularizer
  (``--config configs/model/conv_full_precision.yaml``, gamma 0);
* ``sqnn`` at every ``gamma`` of the grid (gamma 0 = the same stochastic binary network,
  unregularized);

and reports on the **unbiased** test split (uniformly random colours): the digit accuracy, the
multi-class demographic parity difference of the predictions across colours, and two probes of
the frozen (sampled) code with :func:`fairlit.probes.probe_representation` (logistic
regression, random forest, gradient boosting), as balanced accuracy (chance 0.1):

* ``s probe``: best probe (logistic regression or random forest) predicting the colour,
  fitted on one half of the test split and scored on the other half (both unbiased, so the
  colour is not confounded with the digit there);
* ``y probe``: best probe predicting the digit, the same halves.

Also the training accuracy (a colour-only classifier scores about ``rho`` there).

Run (about 10 minutes on one CPU core with the defaults)::

    python benchmarks/biased_digits.py                       # rho 0.9 and 0.99, seeds 0-2
    python benchmarks/biased_digits.py --rhos 0.99 --seeds 0 --gammas 0,0.5

Prints one row per (rho, method, gamma) with the mean and standard deviation over seeds, and
writes every run to ``--csv`` (default ``benchmarks/biased_digits.csv``).
"""

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from fairlit.cli import build_cli
from fairlit.data.loading import stratified_split
from fairlit.metrics.multiclass import multiclass_demographic_parity_difference
from fairlit.probes import encode_dataset, probe_representation

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "biased_digits.yaml"
FULL_PRECISION = ROOT / "configs" / "model" / "conv_full_precision.yaml"
QUIET = [
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
    "--trainer.enable_checkpointing=false",
    "--trainer.logger=false",
    "--trainer.callbacks=[]",
    "--test_after_fit=false",
]


def run(rho: float, gamma: float, seed: int, epochs: int, full_precision: bool) -> dict[str, float]:
    configs = ["--config", str(CONFIG)]
    if full_precision:
        configs += ["--config", str(FULL_PRECISION)]
    cli = build_cli([
        *configs, *QUIET,
        f"--model.init_args.gamma={gamma}", f"--data.init_args.rho={rho}",
        f"--seed_everything={seed}", f"--data.init_args.seed={seed}",
        f"--trainer.max_epochs={epochs}",
    ])  # fmt: skip
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    seconds = time.perf_counter() - start
    [metrics] = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)
    model, test = cli.model, cli.datamodule.test_dataset
    model.eval()
    with torch.no_grad():
        torch.manual_seed(seed)
        _, logits = model(test.x)
    dp = float(multiclass_demographic_parity_difference(logits.softmax(-1), test.s, 10, 10))
    codes = encode_dataset(model, test, inference="sample", seed=seed).numpy()
    y, s = test.y.numpy(), test.s.numpy()
    first, second = stratified_split(y * 10 + s, (0.5,), seed)
    classifiers = {
        "logreg": LogisticRegression(max_iter=1000),
        "forest": RandomForestClassifier(n_estimators=100, min_samples_leaf=5),
    }
    probes = probe_representation(
        codes[first], y[first], s[first], codes[second], y[second], s[second],
        classifiers=classifiers, seed=seed,
    )  # fmt: skip
    names = {key.split("/")[1] for key in probes if key.count("/") == 2}
    return {
        "accuracy": float(metrics["test/accuracy"]),
        "dp_multiclass": dp,
        "s_probe": max(probes[f"probe/{n}/s_balanced_accuracy"] for n in names),
        "y_probe": max(probes[f"probe/{n}/y_balanced_accuracy"] for n in names),
        "train_accuracy": _train_accuracy(model, cli.datamodule.train_dataset, seed),
        "seconds": seconds,
    }


def _train_accuracy(model: torch.nn.Module, dataset, seed: int) -> float:
    with torch.no_grad():
        torch.manual_seed(seed)
        _, logits = model(dataset.x)
    return float((logits.argmax(-1) == dataset.y).float().mean())


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rhos", type=_floats, default=[0.9, 0.99])
    parser.add_argument("--gammas", type=_floats, default=[0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5])
    parser.add_argument("--seeds", type=lambda t: [int(v) for v in t.split(",")], default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "biased_digits.csv")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1 is fastest for this tiny CNN on a shared CPU)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    rows = []
    for rho in args.rhos:
        for method, gammas in (("fp", [0.0]), ("sqnn", args.gammas)):
            for gamma in gammas:
                for seed in args.seeds:
                    result = run(rho, gamma, seed, args.epochs, full_precision=method == "fp")
                    rows.append(
                        {"rho": rho, "method": method, "gamma": gamma, "seed": seed, **result}
                    )
                    print(f"# rho={rho} {method} gamma={gamma} seed={seed}: "
                          + ", ".join(f"{k}={v:.3f}" for k, v in result.items()), flush=True)  # fmt: skip
    keys = ["accuracy", "dp_multiclass", "s_probe", "y_probe", "train_accuracy"]
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w") as handle:
        columns = ["rho", "method", "gamma", "seed", *keys, "seconds"]
        handle.write(",".join(columns) + "\n")
        for row in rows:
            handle.write(",".join(str(row[c]) for c in columns) + "\n")
    header = ("rho", "method", "gamma", "test acc (unbiased)", "ΔDP multi", "s probe bal.acc",
              "y probe bal.acc", "train acc")  # fmt: skip
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["rho"], row["method"], row["gamma"]), []).append(row)
    for (rho, method, gamma), group in groups.items():
        cells = []
        for key in keys:
            values = [r[key] for r in group]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{np.mean(values):.3f} ± {spread:.3f}")
        print(f"| {rho} | {method} | {gamma} | " + " | ".join(cells) + " |")
    print(f"\n(mean ± sd over seeds {args.seeds}, {args.epochs} epochs; chance = 0.1)")


if __name__ == "__main__":
    main()
