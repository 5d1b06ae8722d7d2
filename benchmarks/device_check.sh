#!/usr/bin/env bash
# The prepared device check (issue 18): run it on a machine with a GPU, within 8 minutes.
#   bash benchmarks/device_check.sh OUT [--tiny]
# 1. the tests that take a device (parametrized over cpu and cuda when CUDA is available),
#    then the whole test suite, with its log in OUT/pytest.log;
# 2. benchmarks/device_check.py: timed fits on the GPU and the CPU, the joint MI kernel at
#    m = 12, 16, 20, a 1-GPU DDP fit against the single-device one, determinism.
# Without CUDA the GPU parts are skipped with one line, and everything runs on the CPU.
# The report is OUT/report.md; the exit status is non-zero when a check or a test fails.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: bash benchmarks/device_check.sh OUT [--tiny]}"
shift
mkdir -p "$out"
status=0
if python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "device check: CUDA available; the device tests run on cpu and cuda"
else
  echo "device check: no CUDA device; GPU parts skipped, device tests run on cpu only"
fi
if [ "${1:-}" = "--tiny" ]; then
  tests=(tests/test_device.py)
else
  tests=(tests fairlit)
fi
python -m pytest -q -p no:cacheprovider "${tests[@]}" > "$out/pytest.log" 2>&1 || status=1
tail -n 3 "$out/pytest.log"
python benchmarks/device_check.py "$out" "$@" || status=1
exit $status
