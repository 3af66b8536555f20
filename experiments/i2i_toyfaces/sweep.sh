#!/usr/bin/env bash
# Every unpaired translation method on one ToyFaces pair (a: not pale, b: pale skin;
# 32 px, experiment=<method>_toyfaces), the same budget, over SEEDS: one multirun per row.
#   bash experiments/i2i_toyfaces/sweep.sh
#   STEPS=2000 SEEDS=0,1,2 LOGGER=wandb bash experiments/i2i_toyfaces/sweep.sh
#   ROWS="cyclegan munit" bash experiments/i2i_toyfaces/sweep.sh
#   python experiments/i2i_toyfaces/report.py outputs/i2i_toyfaces/<the sweep folder>
set -euo pipefail
STEPS=${STEPS:-1000}
SEEDS=${SEEDS:-0,1,2}
LOGGER=${LOGGER:-csv}
ROOT=${ROOT:-outputs/i2i_toyfaces/$(date +%Y-%m-%d_%H-%M-%S)}  # a new folder per sweep
ROWS=${ROWS:-"cyclegan gcgan distancegan unit munit"}

for row in ${ROWS}; do
  python -m ganlab.run -m "experiment=${row}_toyfaces" "name=i2i_toyfaces_${row}" \
    "steps=${STEPS}" "seed=${SEEDS}" "logger=${LOGGER}" "hydra.sweep.dir=${ROOT}/${row}" \
    "~callbacks.evaluation"  # scored once, at the end (metrics.json)
done
