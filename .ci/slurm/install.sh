#!/usr/bin/env bash
# Install the Debian packages of a single-node Slurm cluster (controller, compute daemon, client
# commands, munge authentication). Idempotent: does nothing when the daemons are already installed.
set -euo pipefail

if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null; then
    echo "slurm: already installed ($(slurmctld -V))"
    exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
echo "slurm: installed ($(slurmctld -V))"
