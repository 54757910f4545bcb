#!/usr/bin/env bash
# Stop the daemons start.sh started (by their pid files), and munged unless --daemons-only.
set -uo pipefail

STATE="${CAPFLOW_SLURM_STATE:-/var/spool/capflow-slurm}"

# Stop the daemon named in a pid file, only if that pid still runs that daemon (a stale file from an
# earlier boot may name an unrelated process by now).
stop_pidfile() {
    local pidfile="$1" name="$2" pid
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
        kill "$pid"
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$pidfile"
}

stop_pidfile "$STATE/slurmd.pid" slurmd
stop_pidfile "$STATE/slurmctld.pid" slurmctld
if [ "${1:-}" != "--daemons-only" ]; then
    stop_pidfile /run/munge/munged.pid munged
fi
echo "slurm: stopped"
