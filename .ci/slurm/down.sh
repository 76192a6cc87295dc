#!/usr/bin/env bash
# Stop the cluster started by up.sh: cancel its jobs, then stop exactly the daemons listed in
# SCRATCH/pids (TERM, then KILL after 10 s). Safe to run twice.
set -uo pipefail
scratch=${1:?usage: down.sh SCRATCH_DIR}
# the watchdog of up.sh (unless it is the one running this script)
if [ -f "$scratch/watchdog.pid" ]; then
    w=$(cat "$scratch/watchdog.pid")
    [ "$w" = "$PPID" ] || [ "$w" = "$$" ] || kill -TERM "$w" 2>/dev/null || true
    rm -f "$scratch/watchdog.pid"
fi
[ -f "$scratch/pids" ] || exit 0
if [ -f "$scratch/slurm.conf" ]; then
    # (no --cluster: without a database scancel refuses it and cancels nothing)
    SLURM_CONF="$scratch/slurm.conf" timeout 10 scancel --quiet "--user=$(id -un)" \
        2>/dev/null || true
    # cancelling is asynchronous: let slurmd end the job steps before it is stopped
    for _ in $(seq 50); do
        jobs=$(SLURM_CONF="$scratch/slurm.conf" timeout 5 squeue -h -o %i 2>/dev/null) || break
        [ -z "$jobs" ] && break
        sleep 0.2
    done
fi
# whatever is still left of this cluster's jobs: processes with SLURM_CONF=SCRATCH/slurm.conf in
# their environment (slurmstepd and the job processes), but never the daemons or their helpers
# (stopped below), nor this script and its callers
daemons=" $(awk '{print $2}' "$scratch/pids" | tr '\n' ' ') "
callers=" "
p=$$
while [ "${p:-0}" -gt 1 ]; do
    callers+="$p "
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)
done
under_daemon() {
    local p=$1
    while [ "${p:-0}" -gt 1 ]; do
        case "$daemons" in *" $p "*) return 0 ;; esac
        p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null)
    done
    return 1
}
for e in /proc/[0-9]*/environ; do
    pid=${e#/proc/}
    pid=${pid%/environ}
    case "$callers" in *" $pid "*) continue ;; esac
    { tr '\0' '\n' <"$e" | grep -qxF "SLURM_CONF=$scratch/slurm.conf"; } 2>/dev/null || continue
    under_daemon "$pid" && continue
    echo "down: killing leftover $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)($pid)"
    kill -KILL "$pid" 2>/dev/null
done
# TERM all at once (each takes ~2 s to shut down), then KILL whatever is left after 10 s
tac "$scratch/pids" | while read -r name pid; do
    kill -TERM "$pid" 2>/dev/null || true
done
tac "$scratch/pids" | while read -r name pid; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "down: $name ($pid) ignored TERM; killing"
        kill -KILL "$pid" 2>/dev/null
    fi
done
rm -f "$scratch/pids"
