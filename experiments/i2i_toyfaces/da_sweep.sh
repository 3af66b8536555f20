#!/usr/bin/env bash
# The embedded domain-adaptation benchmark (experiment=unit_digits_da): printed digits
# (labelled) -> handwritten scans (row suffix _a) and back (_b), over SEEDS, one multirun per
# row:
#   unit_*              UNIT: the classifier on the discriminators' shared layers (the
#                       paper's layout) and UNIT's own losses (the experiment's defaults)
#   translated_class_*  ours, an extension: the same plus the class loss on translated
#                       labelled images (model.lambda_translated_class=10)
#   source_only_*       the same classifier, trained on the labelled domain alone
#   latent_*, latent_source_only_*   the classifier on the shared latent code instead (ours)
# (results_da_disc/ predates these names: its unit_* runs are translated_class_* rows, its
# paper_* runs unit_* rows; see the README.)
#   bash experiments/i2i_toyfaces/da_sweep.sh
#   ROWS="unit_b source_only_b" SEEDS=0 bash experiments/i2i_toyfaces/da_sweep.sh
#   python experiments/i2i_toyfaces/report.py <i2i sweep folder> <this sweep's folder>
set -euo pipefail
STEPS=${STEPS:-1000}
SEEDS=${SEEDS:-0,1,2}
LOGGER=${LOGGER:-csv}
ROOT=${ROOT:-outputs/i2i_da/$(date +%Y-%m-%d_%H-%M-%S)}  # a new folder per sweep
ROWS=${ROWS:-"unit_a translated_class_a source_only_a unit_b translated_class_b source_only_b"}
LATENT="model.classifier=latent"

for row in ${ROWS}; do
  case ${row} in
    unit_?) overrides="" ;;
    translated_class_?) overrides="model.lambda_translated_class=10" ;;
    source_only_?) overrides="model.adaptation=false" ;;
    latent_source_only_?) overrides="${LATENT} model.adaptation=false" ;;
    latent_?) overrides="${LATENT}" ;;
    *) echo "unknown row ${row}" >&2; exit 2 ;;
  esac
  # shellcheck disable=SC2086  # the row's overrides are separate words
  python -m ganlab.run -m experiment=unit_digits_da "name=i2i_da_${row}" ${overrides} \
    "model.labelled_domain=${row: -1}" "steps=${STEPS}" "seed=${SEEDS}" "logger=${LOGGER}" \
    "hydra.sweep.dir=${ROOT}/${row}" \
    "~callbacks.evaluation"  # scored once, at the end (metrics.json)
done
