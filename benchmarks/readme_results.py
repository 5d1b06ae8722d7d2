"""Rebuild results/<dataset>/ from its Optuna storage and copy the summaries into the README.

Run after ``bash benchmarks/paper_sweeps.sh``: ``python benchmarks/readme_results.py``.
Each ``results/<dataset>/studies.db`` is reported with ``fairlit sweep --report`` (settings
chosen on validation, test reported), then the summaries go between the README's results
markers. No number in the README's results section is typed by hand.
"""

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
MODULES = {
    "adult": "AdultDataModule",
    "compas": "CompasDataModule",
    "german": "GermanDataModule",
}
TITLES = {
    "adult": "Adult (sensitive: sex)",
    "compas": "COMPAS (sensitive: race)",
    "german": "German (sensitive: age)",
}


def _unregularized(path: Path) -> str:
    """One sentence comparing the invariance of the gamma-0 representations."""
    results = pd.read_csv(path)
    # A search study fills `param` with trial names, so the column is read as text.
    gamma = pd.to_numeric(results["param"], errors="coerce")
    ok = results[(results["state"] == "complete") & (gamma == 0.0)]
    mean = ok.groupby("method")[["test/accuracy", "probe/best_s_auc"]].mean()
    said = [
        f"{label} {mean.loc[m, 'probe/best_s_auc']:.3f} (test accuracy {mean.loc[m, 'test/accuracy']:.3f})"
        for m, label in (
            ("full_precision", "full-precision hidden layer"),
            ("sqnn", "SQNN binary code"),
        )
        if m in mean.index
    ]
    return (
        "Best-probe `s` AUC of the unregularized (`gamma = 0`) representations: "
        + "; ".join(said)
        + "."
    )


def _majority(name: str, path: Path) -> str:
    """The accuracy of a constant prediction, which has ΔDP 0, on the sweep's test splits."""
    import fairlit.data

    seeds = sorted(pd.read_csv(path)["seed"].dropna().unique())
    rates = []
    for seed in seeds:
        dm = getattr(fairlit.data, MODULES[name])(seed=int(seed))
        dm.setup("test")
        positive = float(dm.test_dataset.y.float().mean())
        rates.append(max(positive, 1.0 - positive))
    return (
        f"Always predicting the majority class scores {sum(rates) / len(rates):.3f} on these "
        "test splits with ΔDP 0: a point at about that accuracy has learned nothing."
    )


def main() -> None:
    parts = [START]
    for name, title in TITLES.items():
        folder = ROOT / "results" / name
        if (folder / "studies.db").exists():
            subprocess.run(
                [sys.executable, "-m", "fairlit", "sweep", "--report", "--out", str(folder)],
                check=True,
            )
        summary = folder / "summary.md"
        if summary.exists():
            parts += [
                f"**{title}** ([plot](results/{name}/front.png))",
                "",
                summary.read_text().strip(),
                "",
            ]
            results = ROOT / "results" / name / "results.csv"
            parts += [_unregularized(results), "", _majority(name, results), ""]
    parts.append(END)
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    readme.write_text(head + "\n".join(parts) + tail)


if __name__ == "__main__":
    main()
