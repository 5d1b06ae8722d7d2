"""The device check: what fairlit does on a GPU, next to the CPU, in one report.

    python benchmarks/device_check.py OUT [--tiny]

Writes ``OUT/report.md`` (and ``OUT/report.json``) with:

1. the environment (torch, CUDA, the device);
2. a timed ``fairlit fit`` of ``configs/adult.yaml`` on the GPU and on the CPU, in this run,
   with the wall time of each command and its test metrics;
3. the joint mutual information, forward and backward, at m = 12, 16 and 20 on the GPU
   (8 and 12 on the CPU): time and peak memory, the matrix-product kernel
   (``fairlit.joint``) against autograd through the enumeration (up to m = 16);
4. a 1-GPU DDP fit through the command line (``configs/trainer/ddp.yaml``), whose test
   metrics must equal the single-device run's within float tolerance;
5. the same GPU fit run twice (``deterministic: true``), which must give the same numbers;
6. a front of 21 gammas (``configs/model/front.yaml``, one vmapped run) against the single
   fit of 2., on the same device: the issue's goal is at most 1.5 times on a GPU.

Without CUDA every GPU part is skipped with one line saying so, and the checks run on the
CPU instead, so the script is tested there (``--tiny`` makes it fast: German, one epoch).
The exit status is 1 when a check fails. ``benchmarks/device_check.sh`` runs the device
tests first, then this.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("test/accuracy", "test/auc", "test/dp_difference", "test/eo_difference")


def fit(out: Path, name: str, config: str, extra: list[str]) -> dict:
    """Run ``fairlit fit`` as a user would; return its wall time and final test metrics."""
    folder = out / name
    command = [
        sys.executable, "-m", "fairlit", "fit", "--config", str(ROOT / "configs" / config),
        *extra, f"--trainer.default_root_dir={folder}", "--trainer.enable_progress_bar=false",
        "--test_after_fit=true",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=out)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"ok": False, "wall_s": wall, "error": (done.stderr or done.stdout)[-2000:]}
    [metrics] = sorted(folder.glob("lightning_logs/*/version_*/metrics.csv"))[-1:]
    frame = pd.read_csv(metrics)
    prefix = "test/" if "test/accuracy" in frame else "test/m0/"  # a front: its member 0
    row = frame.dropna(subset=[f"{prefix}accuracy"]).iloc[-1]
    return {"ok": True, "wall_s": wall,
            **{k: float(row[k.replace("test/", prefix)]) for k in METRICS}}  # fmt: skip


def time_joint(m: int, device: torch.device, kernel: bool, rows: int = 1024) -> dict:
    """Forward+backward of the joint MI at width ``m``: median time, peak extra memory."""
    from fairlit.joint import joint_mutual_information_autograd_nats, joint_mutual_information_nats

    gen = torch.Generator(device="cpu").manual_seed(m)
    probs = torch.rand(rows, m, generator=gen).to(device)
    groups = torch.randint(0, 2, (rows,), generator=gen).to(device)
    fn = joint_mutual_information_nats if kernel else joint_mutual_information_autograd_nats
    times = []
    for _ in range(3):
        p = probs.clone().requires_grad_()
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        start = time.perf_counter()
        fn(p, groups, 2).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() - base if device.type == "cuda" else None
    return {"m": m, "kernel": "matmul" if kernel else "autograd", "ms": 1e3 * sorted(times)[1],
            "peak_MiB": None if peak is None else peak / 2**20}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder for report.md and report.json")
    parser.add_argument("--tiny", action="store_true", help="German, one epoch: seconds")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available()
    config = "german.yaml" if args.tiny else "adult.yaml"
    epochs = ["--trainer.max_epochs=1"] if args.tiny else ["--trainer.max_epochs=10"]
    lines = [f"# fairlit device check ({'tiny' if args.tiny else 'full'})", ""]
    report: dict = {"torch": torch.__version__, "cuda": cuda, "checks": {}}
    lines.append(f"- torch {torch.__version__}, CUDA available: {cuda}")
    if cuda:
        report["device"] = torch.cuda.get_device_name(0)
        lines.append(f"- device: {report['device']}")
    else:
        lines.append("- no CUDA device: every GPU part is skipped; the checks run on the CPU")
    accelerators = ["gpu", "cpu"] if cuda else ["cpu"]

    lines += ["", "## Timed fit (wall time of the whole command)", ""]
    runs = {}
    for accelerator in accelerators:
        runs[accelerator] = fit(out, f"fit_{accelerator}", config,
                                [*epochs, f"--trainer.accelerator={accelerator}"])  # fmt: skip
        lines.append(f"- {accelerator}: {json.dumps(runs[accelerator])}")
    report["fits"] = runs

    lines += ["", "## Joint MI, forward + backward, 1,024 rows", ""]
    joint = []
    device = torch.device("cuda" if cuda else "cpu")
    widths = ([12, 16, 20] if cuda else [8, 12]) if not args.tiny else [8]
    for m in widths:
        joint.append(time_joint(m, device, kernel=True))
        if m <= 16:
            joint.append(time_joint(m, device, kernel=False))
    for entry in joint:
        lines.append(f"- {device.type} {json.dumps(entry)}")
    report["joint"] = joint

    main_accelerator = accelerators[0]
    lines += ["", f"## DDP on one {main_accelerator} device against the single-device run", ""]
    ddp = fit(out, "ddp", config, [*epochs, "--config", str(ROOT / "configs/trainer/ddp.yaml"),
                                   f"--trainer.accelerator={main_accelerator}",
                                   "--trainer.devices=1"])  # fmt: skip
    same = (
        ddp["ok"]
        and runs[main_accelerator]["ok"]
        and all(abs(ddp[k] - runs[main_accelerator][k]) <= 1e-5 for k in METRICS)
    )
    report["checks"]["ddp_equals_single_device"] = same
    lines.append(f"- {'PASS' if same else 'FAIL'}: {json.dumps(ddp)}")

    lines += ["", f"## The same {main_accelerator} fit twice (deterministic)", ""]
    again = fit(out, "again", config, [*epochs, f"--trainer.accelerator={main_accelerator}"])
    twice = again["ok"] and all(again[k] == runs[main_accelerator][k] for k in METRICS)
    report["checks"]["deterministic"] = twice
    lines.append(f"- {'PASS' if twice else 'FAIL'}: {json.dumps(again)}")

    members = 3 if args.tiny else 21
    gammas = ",".join(f"{k / (members - 1):g}" for k in range(members))
    lines += ["", f"## A front of {members} gammas against one fit, {main_accelerator}", ""]
    front = fit(out, "front", config, [*epochs, "--config", str(ROOT / "configs/model/front.yaml"),
                                       f"--model.init_args.gammas=[{gammas}]",
                                       f"--trainer.accelerator={main_accelerator}"])  # fmt: skip
    report["front"] = front
    single_wall = runs[main_accelerator]["wall_s"]
    report["checks"]["front_runs"] = front["ok"]
    lines.append(f"- front {front['wall_s']:.1f} s, one fit {single_wall:.1f} s, ratio "
                 f"{front['wall_s'] / single_wall:.2f} ({'ok' if front['ok'] else 'FAILED'})")  # fmt: skip
    if not cuda:
        lines.append("- CUDA parts skipped: no GPU on this machine")

    (out / "report.md").write_text("\n".join(lines) + "\n")
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print("\n".join(lines))
    failed = [name for name, ok in report["checks"].items() if not ok]
    failed += [name for name, run in runs.items() if not run["ok"]]
    if failed:
        print(f"device check: FAILED {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
