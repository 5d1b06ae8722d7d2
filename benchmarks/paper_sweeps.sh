#!/usr/bin/env bash
# The README's results table: for each dataset, SQNN (factorized MI, and the
# exact joint MI with 12 neurons) and the adversarial baseline over gamma in
# {0, 0.05, ..., 1}, the full-precision network at
# gamma 0, and fairlearn's peers, all on the same splits, 3 seeds.
# Resumable: rerunning skips finished points. Writes results/<dataset>/.
#   bash benchmarks/paper_sweeps.sh [adult compas german]
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
SEEDS=${SEEDS:-0,1,2}
GAMMAS=${GAMMAS:-$(python -c "print(','.join(str(round(0.05 * i, 2)) for i in range(21)))")}
for dataset in "${@:-adult compas german}"; do
  for d in $dataset; do
    out=results/$d
    fairlit sweep --config configs/$d.yaml --name sqnn --gammas "$GAMMAS" --seeds "$SEEDS" --out "$out" --peers --probe_rows 10000
    fairlit sweep --config configs/$d.yaml --config configs/model/adversarial.yaml --name adversarial \
      --probe_rows 10000 --gammas "$GAMMAS" \
      --seeds "$SEEDS" --out "$out"
    fairlit sweep --config configs/$d.yaml --config configs/model/joint.yaml --name sqnn_joint \
      --gammas "$GAMMAS" --seeds "$SEEDS" --out "$out" --probe_rows 10000
    fairlit sweep --config configs/$d.yaml --config configs/model/full_precision.yaml --name full_precision \
      --gammas 0 --seeds "$SEEDS" --out "$out" --probe_rows 10000
  done
done
