#!/usr/bin/env bash
# Each training trick on and off, on the digits GAN (experiment=gan_digits) over the same
# seeds: one Hydra multirun per row, all under outputs/tricks_digits/.
#   bash experiments/tricks_digits/sweep.sh                 # CSV logs
#   LOGGER=wandb bash experiments/tricks_digits/sweep.sh    # also to W&B, one group per row
#   STEPS=1200 SEEDS=0,1,2 bash experiments/tricks_digits/sweep.sh
#   python experiments/tricks_digits/report.py outputs/tricks_digits/<the sweep folder>
set -euo pipefail
STEPS=${STEPS:-600}
SEEDS=${SEEDS:-0,1}
LOGGER=${LOGGER:-csv}
ROOT=${ROOT:-outputs/tricks_digits/$(date +%Y-%m-%d_%H-%M-%S)}  # a new folder per sweep

declare -A ROWS=(
  [none]=""
  [feature_matching]="tricks.feature_matching=true"
  [minibatch_discrimination]="tricks.minibatch_discrimination=100"
  [historical_averaging]="tricks.historical_averaging=0.001"
  [label_smoothing]="tricks.label_smoothing=0.9"
  [virtual_batchnorm]="tricks.virtual_batchnorm=true"
  [instance_noise]="tricks.instance_noise=0.1"
)
for row in none feature_matching minibatch_discrimination historical_averaging \
  label_smoothing virtual_batchnorm instance_noise; do
  # shellcheck disable=SC2086  # the row's overrides are separate words
  python -m ganlab.run -m experiment=gan_digits "name=tricks_digits_${row}" "steps=${STEPS}" \
    "seed=${SEEDS}" "logger=${LOGGER}" ${ROWS[$row]} "hydra.sweep.dir=${ROOT}/${row}"
done
