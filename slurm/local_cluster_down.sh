#!/usr/bin/env bash
# Stop the daemons slurm/local_cluster_up.sh started, by the PIDs it recorded (nothing else).
# Jobs still in the queue are cancelled first. State and logs stay in $GANLAB_SLURM_DIR.
set -uo pipefail

STATE=${GANLAB_SLURM_DIR:-/tmp/ganlab-slurm}
[ -d "$STATE/pids" ] || { echo "local_cluster_down: nothing recorded in $STATE/pids"; exit 0; }

# cancel what is still queued and let it finish, so no job step outlives its slurmd
if [ -s "$STATE/pids/slurmctld.pid" ] && kill -0 "$(cat "$STATE/pids/slurmctld.pid")" 2>/dev/null; then
  scancel --quiet --user="$(id -un)" 2>/dev/null || true
  for _ in $(seq 150); do
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
    sleep 0.2
  done
  [ -z "$(squeue -h -o %i 2>/dev/null)" ] || echo "local_cluster_down: jobs still completing after 30 s"
fi

# stop_together NAME...: signal the recorded daemons, then wait for all of them (10 s at most)
stop_together() {
  local name pid started=$(date +%s%N)
  declare -A pids=()
  for name in "$@"; do
    [ -s "$STATE/pids/$name.pid" ] || continue
    pid=$(cat "$STATE/pids/$name.pid")
    kill "$pid" 2>/dev/null && pids[$name]=$pid
    rm -f "$STATE/pids/$name.pid"
  done
  for name in "${!pids[@]}"; do
    pid=${pids[$name]}
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null
      echo "local_cluster_down: $name ($pid) did not stop in 10 s; killed"
    else
      echo "local_cluster_down: stopped $name ($pid) after $(( ($(date +%s%N) - started) / 1000000 )) ms"
    fi
  done
}

# the SLURM daemons first, then accounting (it takes their last records), then what it uses
stop_together slurmd slurmctld
stop_together slurmdbd
stop_together mariadbd munged
