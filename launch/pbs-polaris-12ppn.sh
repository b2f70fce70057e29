#!/bin/bash
#PBS -N ckptmpi-48
#PBS -l select=4:system=polaris
#PBS -l place=scatter
#PBS -l walltime=01:00:00
#PBS -l filesystems=home:eagle
#PBS -q debug-scaling
#PBS -j oe
#PBS -S /bin/bash
#
# ckptmpi on 4 nodes x 12 ranks per node = 48 ranks:
#   mpiexec -n 48 --ppn 12 --depth 2 --cpu-bind depth CKPTMPI_BIN ARGS
# Same variables as launch/pbs-polaris.sh, which this runs; only the defaults differ:
#   CKPTMPI_RANKS_PER_NODE [12]  CKPTMPI_DEPTH [2: 12 x 2 = 24 of a Polaris node's 32 cores, so no
#   two ranks share a core; on a 104-core Aurora-class node use CKPTMPI_DEPTH=8]
# Usage (from the repository root):
#   qsub -A MYPROJECT -v CKPTMPI_BIN=$HOME/ckptmpi/ckptmpi,CKPTMPI_INPUT=/eagle/p/hf,CKPTMPI_OUTPUT=/eagle/p/zero,CKPTMPI_ARGS="convert --from hf --to zero --zero-stage 3 --dp-size 48 --ds-config /eagle/p/ds_config.json" \
#        launch/pbs-polaris-12ppn.sh
set -euo pipefail

export CKPTMPI_RANKS_PER_NODE="${CKPTMPI_RANKS_PER_NODE:-12}"
export CKPTMPI_DEPTH="${CKPTMPI_DEPTH:-2}"

# PBS runs a spooled copy of this file, so its own directory is not the repository's launch/.
for d in "${CKPTMPI_LAUNCH_DIR:-}" "$(dirname "${BASH_SOURCE[0]}")" "${PBS_O_WORKDIR:+$PBS_O_WORKDIR/launch}"; do
  if [ -n "$d" ] && [ -f "$d/pbs-polaris.sh" ]; then
    exec bash "$d/pbs-polaris.sh" "$@"
  fi
done
echo "ckptmpi-launch: error: cannot find launch/pbs-polaris.sh; submit from the repository root or set CKPTMPI_LAUNCH_DIR" >&2
exit 2
