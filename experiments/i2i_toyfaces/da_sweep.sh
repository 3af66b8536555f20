#!/usr/bin/env bash
# The embedded domain-adaptation benchmark (experiment=unit_digits_da): printed digits
# (labelled) -> handwritten scans and back, UNIT against the source-only classifier, over
# SEEDS: one multirun per row.
#   bash experiments/i2i_toyfaces/da_sweep.sh
#   python experiments/i2i_toyfaces/report.py <i2i sweep folder> <this sweep's folder>
set -euo pipefail
STEPS=${STEPS:-1000}
SEEDS=${SEEDS:-0,1,2}
LOGGER=${LOGGER:-csv}
ROOT=${ROOT:-outputs/i2i_da/$(date +%Y-%m-%d_%H-%M-%S)}  # a new folder per sweep
ROWS=${ROWS:-"unit_a source_only_a unit_b source_only_b"}

for row in ${ROWS}; do
  case ${row} in
    unit_*) adaptation=true ;;
    source_only_*) adaptation=false ;;
  esac
  python -m ganlab.run -m experiment=unit_digits_da "name=i2i_da_${row}" \
    "model.adaptation=${adaptation}" "model.labelled_domain=${row: -1}" \
    "steps=${STEPS}" "seed=${SEEDS}" "logger=${LOGGER}" "hydra.sweep.dir=${ROOT}/${row}" \
    "~callbacks.evaluation"  # scored once, at the end (metrics.json)
done
