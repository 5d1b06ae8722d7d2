"""Wall time of one Adult gamma grid swept with 1 and with 2 worker processes, side by side.

    python benchmarks/sweep_workers.py [--gammas 21] [--seeds 0] [--probe_rows 5000]

Each run is a fresh ``fairlit sweep`` command (its own temporary output folder and SQLite
study) over ``configs/adult.yaml`` at the same gamma grid; ``--workers K`` gives each of the
K processes ``cores / K`` torch threads. The two commands run one after the other in this
process, so they see the same machine; the ratio is the number to read.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep(out: Path, workers: int, gammas: str, seeds: str, probe_rows: int) -> float:
    command = [
        sys.executable,
        "-m",
        "fairlit",
        "sweep",
        "--config",
        str(ROOT / "configs" / "adult.yaml"),
        "--gammas",
        gammas,
        "--seeds",
        seeds,
        "--workers",
        str(workers),
        "--out",
        str(out),
        "--probe_rows",
        str(probe_rows),
        "--no_progress",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gammas", type=int, default=21, help="grid size: 0, ..., 1 evenly")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--probe_rows", type=int, default=5000)
    args = parser.parse_args()
    step = 1.0 / (args.gammas - 1)
    gammas = ",".join(f"{round(i * step, 4):g}" for i in range(args.gammas))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"Adult, {args.gammas} gammas x seeds {args.seeds}, probes on {args.probe_rows} rows, "
        f"{cores} cores"
    )
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            times[workers] = sweep(
                Path(tmp) / f"w{workers}",
                workers,
                args.gammas and gammas,
                args.seeds,
                args.probe_rows,
            )
            print(f"--workers {workers}: {times[workers]:7.1f} s", flush=True)
    print(f"2 workers / 1 worker = {times[2] / times[1]:.2f}")


if __name__ == "__main__":
    main()
