#!/usr/bin/env bash
# INIT's ablation on the embedded ToyFaces at equal iterations (experiment=init_toyfaces):
# five variants of the model, then StarGAN and AttGAN at the same budget. One Hydra
# multirun per row (over SEEDS), all under one folder.
#   bash experiments/init_ablation/sweep.sh
#   STEPS=1500 SEEDS=0,1,2 LOGGER=wandb bash experiments/init_ablation/sweep.sh
#   ROWS="e_plain c_full" bash experiments/init_ablation/sweep.sh      # some rows only
#   ROWS=c_warm_up STEPS=1500 bash ...   # not in the default rows: (c) after 500 one-hop steps
#   bash experiments/init_ablation/sweep.sh eval.n_samples=1000        # more overrides: every row
#   python experiments/init_ablation/report.py outputs/init_ablation/<the sweep folder>
set -euo pipefail
STEPS=${STEPS:-600}
SEEDS=${SEEDS:-0,1}
LOGGER=${LOGGER:-csv}
ROOT=${ROOT:-outputs/init_ablation/$(date +%Y-%m-%d_%H-%M-%S)}  # a new folder per sweep
ROWS=${ROWS:-"e_plain a_aiw b_two_hops c_full d_aiw_three_hops stargan attgan"}

declare -A OVERRIDES=(
  [a_aiw]="experiment=init_toyfaces model.hops=1"
  [b_two_hops]="experiment=init_toyfaces model.aiw=false model.hops=2"
  [c_full]="experiment=init_toyfaces"
  [d_aiw_three_hops]="experiment=init_toyfaces model.hops=3"
  [e_plain]="experiment=init_toyfaces model.aiw=false model.hops=1"
  [c_warm_up]="experiment=init_toyfaces model.one_hop_steps=500"
  [stargan]="experiment=stargan_toyfaces"
  [attgan]="experiment=attgan_toyfaces"
)
for row in ${ROWS}; do
  # shellcheck disable=SC2086  # the row's overrides are separate words
  python -m ganlab.run -m ${OVERRIDES[$row]} "name=init_ablation_${row}" "steps=${STEPS}" \
    "seed=${SEEDS}" "logger=${LOGGER}" "hydra.sweep.dir=${ROOT}/${row}" "$@"
done
