#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, for tests and for trying the launchers:
#   sudo slurm/local_cluster_up.sh         # ... then: slurm/local_cluster_down.sh
# Debian/Ubuntu as root; installs slurm-wlm and munge (and, for `sacct`, slurmdbd and
# MariaDB) with apt when they are missing. Needs no systemd, cgroups or DNS.
#
# Environment:
#   GANLAB_SLURM_DIR   state, logs and the PID files of what this script started
#                      (default /tmp/ganlab-slurm; kept across restarts so job ids and
#                      the accounting database stay consistent)
#   VCPUS              CPU slots the node advertises (default 8: several 1-CPU jobs at once)
#   WITH_ACCOUNTING    1 (default): MariaDB + slurmdbd, so submitit can see a job that died
#                      without a result (without it, such a job makes the launcher wait forever)
#
# It refuses to touch a SLURM it did not configure: an /etc/slurm/slurm.conf without the
# ganlab marker, or a slurmctld/slurmd already running. Only the daemons it starts are
# recorded in $GANLAB_SLURM_DIR/pids/, and local_cluster_down.sh stops only those.
set -euo pipefail

STATE=${GANLAB_SLURM_DIR:-/tmp/ganlab-slurm}
VCPUS=${VCPUS:-8}
WITH_ACCOUNTING=${WITH_ACCOUNTING:-1}
MARKER="# written by ganlab slurm/local_cluster_up.sh"
DB_PORT=${GANLAB_SLURM_DB_PORT:-33061}
started=$(date +%s)

say() { echo "local_cluster_up: $*"; }
fail() { echo "local_cluster_up: error: $*" >&2; exit 1; }
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() {  # wait_for <seconds> <command...>: poll until the command succeeds
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

[ "$(id -u)" = 0 ] || fail "run as root (it installs packages and writes /etc/slurm)"
if [ -f /etc/slurm/slurm.conf ] && ! grep -qF "$MARKER" /etc/slurm/slurm.conf; then
  fail "/etc/slurm/slurm.conf exists and was not written by this script; not touching it"
fi
for daemon in slurmctld slurmd slurmdbd; do
  if pgrep -x "$daemon" >/dev/null; then
    fail "$daemon is already running (pid $(pgrep -x "$daemon" | tr '\n' ' ')); stop it first"
  fi
done

# ---- packages ---------------------------------------------------------------------------
packages=(slurm-wlm munge)
[ "$WITH_ACCOUNTING" = 1 ] && packages+=(slurmdbd mariadb-server)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "apt-get not found; install ${missing[*]} by hand"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- configuration ----------------------------------------------------------------------
mkdir -p "$STATE"/pids "$STATE"/ctld "$STATE"/spool /etc/slurm
node=$(hostname -s)  # slurmd registers under the short host name
memory_mb=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 ))
if [ "$WITH_ACCOUNTING" = 1 ]; then
  accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux"
else
  accounting="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
cat > /etc/slurm/slurm.conf <<EOF
$MARKER
ClusterName=ganlab
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MailProg=/bin/true
SlurmdParameters=config_overrides
$accounting
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.log
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/pids/slurmctld.pid
SlurmdPidFile=$STATE/pids/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$node NodeAddr=127.0.0.1 CPUs=$VCPUS RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# ---- munge (authentication between the daemons and the client tools) ----------------------
if ! running /run/munge/munged.pid; then
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$STATE"/pids/munged.pid
fi
munge -n | unmunge >/dev/null || fail "munge does not work; see /var/log/munge/munged.log"

# ---- accounting: a MariaDB of our own (own data dir and port) and slurmdbd ------------------
if [ "$WITH_ACCOUNTING" = 1 ]; then
  database_dir="$STATE/mariadb"
  if [ ! -d "$database_dir/mysql" ]; then
    mkdir -p "$database_dir"
    chown mysql:mysql "$database_dir"
    mariadb-install-db --user=mysql --datadir="$database_dir" --auth-root-authentication-method=socket \
      >"$STATE/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed: $STATE/mariadb-install.log"
  fi
  socket="$database_dir/mariadbd.sock"  # in a dir the mysql user owns
  nohup /usr/sbin/mariadbd --user=mysql --datadir="$database_dir" --socket="$socket" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$database_dir/mariadbd.pid" \
    >"$STATE/mariadb.log" 2>&1 &
  echo $! > "$STATE"/pids/mariadbd.pid
  wait_for 30 mariadb-admin --socket="$socket" ping || fail "MariaDB did not start: $STATE/mariadb.log"
  mariadb --socket="$socket" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  cat > /etc/slurm/slurmdbd.conf <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$STATE/pids/slurmdbd.pid
LogFile=$STATE/slurmdbd.log
EOF
  chmod 600 /etc/slurm/slurmdbd.conf  # it holds the database password
  /usr/sbin/slurmdbd
  wait_for 30 sacctmgr -n show cluster || fail "slurmdbd did not start: $STATE/slurmdbd.log"
fi

# ---- controller and node ----------------------------------------------------------------
/usr/sbin/slurmctld
/usr/sbin/slurmd
node_idle() { [ "$(sinfo -h -n "$node" -o %t)" = idle ]; }
wait_for 90 node_idle || fail "node $node did not become idle: $STATE/slurmctld.log, slurmd.log"

# ---- smoke test -------------------------------------------------------------------------
[ "$(srun -t 1 hostname)" = "$(hostname)" ] || fail "srun smoke test failed"
say "cluster up in $(( $(date +%s) - started )) s: node $node, $VCPUS CPUs, partition debug;" \
  "PIDs in $STATE/pids"
