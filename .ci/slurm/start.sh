#!/usr/bin/env bash
# Start a single-node Slurm cluster on 127.0.0.1 without systemd: munged, slurmctld and slurmd, run
# by hand as root, with no accounting daemon. Writes /etc/slurm/slurm.conf and gres.conf from the
# templates beside this script. Idempotent: returns at once when the cluster already answers.
#
#   CAPFLOW_SLURM_STATE   state, spool and log directory (default /var/spool/capflow-slurm)
#   CAPFLOW_SLURM_WAIT    seconds to wait for the node to come up (default 60)
#   CAPFLOW_SLURM_GPU_TYPE  the GPU type (model) the node's GPUs are given (default testgpu)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${CAPFLOW_SLURM_STATE:-/var/spool/capflow-slurm}"
WAIT="${CAPFLOW_SLURM_WAIT:-60}"
GPU_TYPE="${CAPFLOW_SLURM_GPU_TYPE:-testgpu}"
CONF_DIR=/etc/slurm

if [ "$(id -u)" -ne 0 ]; then
    echo "slurm: start.sh must run as root (it starts slurmd)" >&2
    exit 1
fi
for tool in munged slurmctld slurmd sinfo scontrol; do
    command -v "$tool" >/dev/null || { echo "slurm: $tool not found; run $HERE/install.sh" >&2; exit 1; }
done

if timeout 5 scontrol ping 2>/dev/null | grep -q "is UP" \
    && timeout 5 sinfo -h -o %t 2>/dev/null | grep -qE "^(idle|mix|alloc)"; then
    echo "slurm: already running"
    exit 0
fi

node="$(hostname -s)"
cpus="$(nproc)"
mem_total_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
# Leave room for the daemons and the submitting process; slurmd drains a node whose RealMemory
# exceeds what it finds.
mem_mb=$(( mem_total_mb * 9 / 10 ))
mem_per_cpu=$(( mem_mb / cpus ))

# Real GPUs when the machine has them, otherwise one stand-in device.
shopt -s nullglob
gpu_devices=(/dev/nvidia[0-9]*)
shopt -u nullglob
if [ "${#gpu_devices[@]}" -gt 0 ]; then
    gpus="${#gpu_devices[@]}"
    gpu_files="/dev/nvidia[0-$(( gpus - 1 ))]"
else
    gpus=1
    gpu_files="/dev/null"
fi

mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d"
render() {
    sed -e "s|@NODE@|$node|g" -e "s|@CPUS@|$cpus|g" -e "s|@MEM_MB@|$mem_mb|g" \
        -e "s|@MEM_PER_CPU@|$mem_per_cpu|g" -e "s|@STATE@|$STATE|g" -e "s|@GPUS@|$gpus|g" \
        -e "s|@GPU_FILES@|$gpu_files|g" -e "s|@GPU_TYPE@|$GPU_TYPE|g" "$1"
}
render "$HERE/slurm.conf.in" > "$CONF_DIR/slurm.conf"
render "$HERE/gres.conf.in" > "$CONF_DIR/gres.conf"

# munge: the package ships a key; make one if it is missing.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! pgrep -u munge -x munged >/dev/null; then
    runuser -u munge -- munged
fi

# Stale daemons of an earlier start (e.g. one that never came up) would hold the ports.
"$HERE/stop.sh" --daemons-only >/dev/null 2>&1 || true
slurmctld
slurmd

for _ in $(seq "$WAIT"); do
    state="$(timeout 5 sinfo -h -n "$node" -o %t 2>/dev/null || true)"
    case "$state" in
        idle*|mix*|alloc*)
            echo "slurm: node $node is $state ($cpus CPUs, $mem_mb MB, gpu:$GPU_TYPE:$gpus on $gpu_files)"
            exit 0 ;;
        drain*|down*|fail*|inval*)
            scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 1
done
echo "slurm: node $node did not come up within ${WAIT}s (state: ${state:-none}); logs in $STATE" >&2
tail -n 20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
exit 1
