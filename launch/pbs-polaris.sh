#!/bin/bash
#PBS -N ckptmpi
#PBS -l select=2:system=polaris
#PBS -l place=scatter
#PBS -l walltime=00:30:00
#PBS -l filesystems=home:eagle
#PBS -q debug
#PBS -j oe
#PBS -S /bin/bash
#
# ckptmpi as one SPMD job on PBS Pro + Cray PALS (ALCF Polaris style):
#   mpiexec -n NODES*PPN --ppn PPN --depth DEPTH --cpu-bind depth [CKPTMPI_MPIEXEC_ARGS] CKPTMPI_BIN ARGS
# NODES is the number of distinct hosts in $PBS_NODEFILE (or CKPTMPI_NODES).
#
# Usage (from the repository root, so the job finds launch/ through $PBS_O_WORKDIR):
#   qsub -A MYPROJECT -v CKPTMPI_BIN=$HOME/ckptmpi/ckptmpi,CKPTMPI_ARGS="estimate --model /eagle/p/llama" \
#        launch/pbs-polaris.sh
#   # inside an interactive job (qsub -I ...), arguments may follow `--`:
#   CKPTMPI_BIN=$HOME/ckptmpi/ckptmpi bash launch/pbs-polaris.sh -- convert --from hf --to zero ...
#
# Variables (defaults in brackets):
#   CKPTMPI_BIN             published ckptmpi (or ckptmpi.dll, run with dotnet) [ckptmpi on PATH]
#   CKPTMPI_ARGS            ckptmpi's arguments, split on blanks, when none follow `--` [mpi-info]
#   CKPTMPI_INPUT/OUTPUT    appended as --input/--output (paths may contain blanks or commas)
#   CKPTMPI_RANKS_PER_NODE  ranks per node [4: one per A100; 4 x 8 = the 32 cores of a Polaris node]
#   CKPTMPI_DEPTH           cores per rank for --depth/--cpu-bind depth [8]
#   CKPTMPI_NODES           node count, instead of counting $PBS_NODEFILE
#   CKPTMPI_MPIEXEC         launcher [mpiexec];  CKPTMPI_MPIEXEC_ARGS: extra launcher words
#   CKPTMPI_MODULES         modules to `module load` first, e.g. "cray-mpich-abi"
#   CKPTMPI_EXEC_PREFIX     words put before the program, e.g. "apptainer exec -B /eagle ckptmpi.sif"
#   CKPTMPI_LAUNCH_DIR      where launch/ is, if not beside this script or in $PBS_O_WORKDIR/launch
#   CKPTMPI_DRY_RUN=1       print the command instead of running it
#   CKPTMPI_NODE_CPUS       CPUs per node for the "ranks share cores" warning [this node's count]
# plus everything launch/env.sh reads (CKPTMPI_MPI, CKPTMPI_MPI_LIB, DOTNET_gcServer ...).
set -euo pipefail

# PBS runs a spooled copy of this file, so its own directory is not the repository's launch/.
ckptmpi_find_launch_dir() {
  local d
  for d in "${CKPTMPI_LAUNCH_DIR:-}" "$(dirname "${BASH_SOURCE[0]}")" \
    "${PBS_O_WORKDIR:+$PBS_O_WORKDIR/launch}" "${SLURM_SUBMIT_DIR:+$SLURM_SUBMIT_DIR/launch}"; do
    if [ -n "$d" ] && [ -f "$d/common.sh" ] && [ -f "$d/env.sh" ]; then
      echo "$d"
      return 0
    fi
  done
  echo "ckptmpi-launch: error: cannot find launch/common.sh and launch/env.sh; submit from the repository root or set CKPTMPI_LAUNCH_DIR" >&2
  return 2
}
launch_dir=$(ckptmpi_find_launch_dir) || exit 2
launch_dir=$(cd "$launch_dir" && pwd)
# shellcheck source=SCRIPTDIR/common.sh
source "$launch_dir/common.sh"

# PBS starts jobs in $HOME; relative paths in CKPTMPI_* mean the submission directory, as with sbatch.
if [ -n "${PBS_O_WORKDIR:-}" ]; then
  cd "$PBS_O_WORKDIR" || ckptmpi_die "cannot cd to PBS_O_WORKDIR=$PBS_O_WORKDIR"
fi

if [ -n "${CKPTMPI_NODES:-}" ]; then
  nodes=$CKPTMPI_NODES
  ckptmpi_require_count CKPTMPI_NODES "$nodes"
else
  [ -n "${PBS_NODEFILE:-}" ] || ckptmpi_die "PBS_NODEFILE is not set: run inside a PBS job (qsub), or set CKPTMPI_NODES"
  [ -r "$PBS_NODEFILE" ] || ckptmpi_die "PBS_NODEFILE=$PBS_NODEFILE cannot be read"
  # One line per node on Polaris; other PBS sites repeat a host once per mpiprocs slot.
  nodes=$(awk 'NF { print $1 }' "$PBS_NODEFILE" | sort -u | wc -l)
  [ "$nodes" -ge 1 ] || ckptmpi_die "PBS_NODEFILE=$PBS_NODEFILE lists no nodes"
fi
ppn=${CKPTMPI_RANKS_PER_NODE:-4}
depth=${CKPTMPI_DEPTH:-8}
ckptmpi_require_count CKPTMPI_RANKS_PER_NODE "$ppn"
ckptmpi_require_count CKPTMPI_DEPTH "$depth"
export CKPTMPI_DEPTH=$depth

ckptmpi_load_modules
# shellcheck source=SCRIPTDIR/env.sh
source "$launch_dir/env.sh" || ckptmpi_die "launch/env.sh rejected the environment (see above)"

ckptmpi_resolve_command "$@"
extra=()
ckptmpi_split_words extra "${CKPTMPI_MPIEXEC_ARGS:-}"

ranks=$((nodes * ppn))
ckptmpi_check_layout "$ppn" "$depth"
ckptmpi_note "$nodes node(s) x $ppn rank(s) per node = $ranks ranks, depth $depth${CKPTMPI_MPI_LIB:+, CKPTMPI_MPI_LIB=$CKPTMPI_MPI_LIB}"
ckptmpi_launch "${CKPTMPI_MPIEXEC:-mpiexec}" -n "$ranks" --ppn "$ppn" --depth "$depth" --cpu-bind depth \
  "${extra[@]}" "${CKPTMPI_COMMAND[@]}"
