#!/usr/bin/env bash
# Stop the cluster started by up.sh: cancel its jobs, then stop exactly the daemons listed in
# SCRATCH/pids (TERM, then KILL after 10 s), newest first. Safe to run twice.
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
    SLURM_CONF="$scratch/slurm.conf" timeout 10 scancel --quiet --full "--cluster=mxci" \
        "--user=$(id -un)" 2>/dev/null || true
fi
tac "$scratch/pids" | while read -r name pid; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "down: $name ($pid) ignored TERM; killing"
        kill -KILL "$pid" 2>/dev/null
    fi
done
rm -f "$scratch/pids"
