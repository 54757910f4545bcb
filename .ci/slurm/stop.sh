#!/usr/bin/env bash
# Stop the daemons start.sh started (by their pid files), and munged unless --daemons-only.
set -uo pipefail

STATE="${CAPFLOW_SLURM_STATE:-/var/spool/capflow-slurm}"

stop_pidfile() {
    local pidfile="$1" pid
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
}

stop_pidfile "$STATE/slurmd.pid"
stop_pidfile "$STATE/slurmctld.pid"
if [ "${1:-}" != "--daemons-only" ]; then
    stop_pidfile /run/munge/munged.pid
fi
echo "slurm: stopped"
