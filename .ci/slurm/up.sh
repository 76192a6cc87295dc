#!/usr/bin/env bash
# Start a private one-node Slurm cluster for tests: munged, slurmctld and slurmd as plain daemons
# (no systemd), everything (config, keys, state, spool, logs) under one scratch folder.
#
#   .ci/slurm/up.sh SCRATCH      # then: export SLURM_CONF=SCRATCH/slurm.conf
#   .ci/slurm/down.sh SCRATCH    # stops exactly the daemons this script started (SCRATCH/pids)
#
# With MX_SLURM_OWNER=PID (the test process), a watchdog runs down.sh once PID is gone, so the
# daemons are stopped even when the test is killed before it can tear them down itself.
#
# Installs Debian's slurm-wlm and munge (--no-install-recommends) when they are missing and this
# runs as root. Exit status 77 with a line "skipped: <reason>" when the cluster cannot be started
# here (not root, no apt, daemons do not come up); any other failure is a real error.
set -euo pipefail

skip() {
    echo "skipped: $*"
    exit 77
}

scratch=${1:?usage: up.sh SCRATCH_DIR}
cpus=${MX_SLURM_CPUS:-8}

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    [ "$(id -u)" = 0 ] || skip "slurm-wlm/munge are not installed and this is not root"
    command -v apt-get >/dev/null || skip "slurm-wlm/munge are not installed and there is no apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends slurm-wlm munge >"$scratch.apt.log" 2>&1; then
        apt-get update >>"$scratch.apt.log" 2>&1 || true
        apt-get install -y --no-install-recommends slurm-wlm munge >>"$scratch.apt.log" 2>&1 \
            || skip "apt-get install slurm-wlm munge failed (see $scratch.apt.log)"
    fi
fi
[ "$(id -u)" = 0 ] || skip "the daemons run as root (SlurmUser=root) and this is not root"

mkdir -p "$scratch"
scratch=$(cd "$scratch" && pwd)
chmod 755 "$scratch"
# munged: its socket directory and every directory above it must be world-executable, and the
# socket path must fit in sun_path (108 bytes).
sock="$scratch/munge/sock"
[ ${#sock} -lt 100 ] || skip "scratch path too long for a munge socket: $sock"
d="$scratch"
while [ "$d" != / ]; do
    [ "$(stat -c %A "$d" | cut -c10)" = x ] || [ "$(stat -c %A "$d" | cut -c10)" = t ] \
        || skip "$d is not world-executable (munged refuses its socket below it)"
    d=$(dirname "$d")
done
mkdir -p "$scratch"/{munge,state,spool,log}
chmod 755 "$scratch/munge"
: >"$scratch/pids"
if [ -n "${MX_SLURM_OWNER:-}" ]; then
    down=$(cd "$(dirname "$0")" && pwd)/down.sh
    owner=$MX_SLURM_OWNER
    (
        while kill -0 "$owner" 2>/dev/null; do sleep 1; done
        exec bash "$down" "$scratch"
    ) </dev/null >/dev/null 2>&1 &
    echo "$!" >"$scratch/watchdog.pid"
fi

head -c 1024 /dev/urandom >"$scratch/munge/munge.key"
chmod 400 "$scratch/munge/munge.key"
munged --foreground --force --socket="$sock" --key-file="$scratch/munge/munge.key" \
    --pid-file="$scratch/munge/munged.pid" --seed-file="$scratch/munge/seed" \
    --log-file="$scratch/log/munged.log" >"$scratch/log/munged.out" 2>&1 &
echo "munged $!" >>"$scratch/pids"
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || skip "munged did not start (see $scratch/log/munged.log)"

host=$(hostname -s)
# ports: a random pair, so that two clusters on one machine do not collide
port=$((20000 + RANDOM % 20000))
cat >"$scratch/slurm.conf" <<CONF
ClusterName=mxci
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$scratch/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
EnforcePartLimits=ALL
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/log/slurmctld.log
SlurmdLogFile=$scratch/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$scratch/slurm.conf"

slurmctld -D -i -f "$SLURM_CONF" >"$scratch/log/slurmctld.out" 2>&1 &
echo "slurmctld $!" >>"$scratch/pids"
slurmd -D -f "$SLURM_CONF" >"$scratch/log/slurmd.out" 2>&1 &
echo "slurmd $!" >>"$scratch/pids"

for _ in $(seq 150); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case "$state" in idle*|mix*|alloc*) break ;; esac
    sleep 0.2
done
case "$state" in
    idle*|mix*|alloc*) ;;
    *) skip "the node did not come up (state '${state:-none}'; see $scratch/log/)" ;;
esac
echo "slurm up: SLURM_CONF=$SLURM_CONF ($host, $cpus CPUs, port $port)"
