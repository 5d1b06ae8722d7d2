"""benchmarks/device_check.sh runs on a CPU-only machine too: GPU parts skipped, checks pass."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_device_check_runs_tiny_on_this_machine(tmp_path):
    out = tmp_path / "report"
    # The script calls `python`: the one running these tests, even from an unactivated venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "device_check.sh"), str(out), "--tiny"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["checks"] == {
        "ddp_equals_single_device": True,
        "deterministic": True,
        "front_runs": True,
    }
    assert 0.5 < report["front"]["test/accuracy"] <= 1.0  # its member 0's
    assert all(run["ok"] for run in report["fits"].values())
    assert {entry["kernel"] for entry in report["joint"]} == {"matmul", "autograd"}
    text = (out / "report.md").read_text()
    if not report["cuda"]:
        assert "CUDA parts skipped" in text and "no CUDA device" in done.stdout
