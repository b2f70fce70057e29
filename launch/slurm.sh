#!/bin/bash
#SBATCH --job-name=ckptmpi
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=00:30:00
#SBATCH --output=ckptmpi-%j.out
#
# ckptmpi as one SPMD job on Slurm:
#   srun --nodes=N --ntasks=N*PPN --ntasks-per-node=PPN --cpus-per-task=DEPTH --cpu-bind=cores
#        --kill-on-bad-exit=1 [--mpi=CKPTMPI_SRUN_MPI] [CKPTMPI_SRUN_ARGS] CKPTMPI_BIN ARGS
# Every value is passed to srun explicitly: since Slurm 22.05 srun no longer inherits
# --cpus-per-task from sbatch, and an explicit line in the log says what actually ran.
#
# Usage (from the repository root, so the job finds launch/ through $SLURM_SUBMIT_DIR):
#   CKPTMPI_BIN=$HOME/ckptmpi/ckptmpi sbatch -A MYPROJECT launch/slurm.sh -- estimate --model /lus/p/llama
#   sbatch --nodes=4 --ntasks-per-node=12 --cpus-per-task=4 \
#     --export=ALL,CKPTMPI_BIN=$HOME/ckptmpi/ckptmpi,CKPTMPI_INPUT=/lus/p/hf,CKPTMPI_OUTPUT=/lus/p/zero \
#     launch/slurm.sh -- convert --from hf --to zero --zero-stage 3 --dp-size 48 --ds-config ds_config.json
#
# Variables (defaults in brackets):
#   CKPTMPI_BIN             published ckptmpi (or ckptmpi.dll, run with dotnet) [ckptmpi on PATH]
#   CKPTMPI_ARGS            ckptmpi's arguments, split on blanks, when none follow `--` [mpi-info]
#   CKPTMPI_INPUT/OUTPUT    appended as --input/--output (paths may contain blanks or commas)
#   CKPTMPI_NODES           [SLURM_JOB_NUM_NODES]
#   CKPTMPI_RANKS_PER_NODE  [SLURM_NTASKS_PER_NODE, else 1]
#   CKPTMPI_DEPTH           cores per rank [SLURM_CPUS_PER_TASK, else 1]
#   CKPTMPI_SRUN_MPI        srun --mpi= plugin (pmix, pmi2, cray_shasta) [the cluster's MpiDefault]
#   CKPTMPI_SRUN            launcher [srun];  CKPTMPI_SRUN_ARGS: extra launcher words
#   CKPTMPI_MODULES         modules to `module load` first, e.g. "cray-mpich-abi"
#   CKPTMPI_EXEC_PREFIX     words put before the program, e.g. "apptainer exec -B /lus ckptmpi.sif"
#   CKPTMPI_LAUNCH_DIR      where launch/ is, if not beside this script or in $SLURM_SUBMIT_DIR/launch
#   CKPTMPI_DRY_RUN=1       print the command instead of running it
#   CKPTMPI_NODE_CPUS       CPUs per node for the "ranks share cores" warning [this node's count]
# plus everything launch/env.sh reads (CKPTMPI_MPI, CKPTMPI_MPI_LIB, DOTNET_gcServer ...).
set -euo pipefail

# sbatch runs a spooled copy of this file, so its own directory is not the repository's launch/.
ckptmpi_find_launch_dir() {
  local d
  for d in "${CKPTMPI_LAUNCH_DIR:-}" "$(dirname "${BASH_SOURCE[0]}")" \
    "${SLURM_SUBMIT_DIR:+$SLURM_SUBMIT_DIR/launch}" "${PBS_O_WORKDIR:+$PBS_O_WORKDIR/launch}"; do
    if [ -n "$d" ] && [ -f "$d/common.sh" ] && [ -f "$d/env.sh" ]; then
      echo "$d"
      return 0
    fi
  done
  echo "ckptmpi-launch: error: cannot find launch/common.sh and launch/env.sh; submit from the repository root or set CKPTMPI_LAUNCH_DIR" >&2
  return 2
}
launch_dir=$(ckptmpi_find_launch_dir) || exit 2
# shellcheck source=SCRIPTDIR/common.sh
source "$launch_dir/common.sh"

nodes=${CKPTMPI_NODES:-${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-}}}
[ -n "$nodes" ] || ckptmpi_die "SLURM_JOB_NUM_NODES is not set: run inside a Slurm allocation (sbatch/salloc), or set CKPTMPI_NODES"
ckptmpi_require_count "node count (CKPTMPI_NODES / SLURM_JOB_NUM_NODES)" "$nodes"
# SLURM_NTASKS_PER_NODE is what --ntasks-per-node asked for; SLURM_TASKS_PER_NODE ("4(x2)") is not used.
ppn=${CKPTMPI_RANKS_PER_NODE:-${SLURM_NTASKS_PER_NODE:-1}}
depth=${CKPTMPI_DEPTH:-${SLURM_CPUS_PER_TASK:-1}}
ckptmpi_require_count "ranks per node (CKPTMPI_RANKS_PER_NODE / SLURM_NTASKS_PER_NODE)" "$ppn"
ckptmpi_require_count "cores per rank (CKPTMPI_DEPTH / SLURM_CPUS_PER_TASK)" "$depth"
export CKPTMPI_DEPTH=$depth

ckptmpi_load_modules
# shellcheck source=SCRIPTDIR/env.sh
source "$launch_dir/env.sh" || ckptmpi_die "launch/env.sh rejected the environment (see above)"

ckptmpi_resolve_command "$@"
extra=()
if [ -n "${CKPTMPI_SRUN_MPI:-}" ]; then
  extra+=("--mpi=$CKPTMPI_SRUN_MPI")
fi
more=()
ckptmpi_split_words more "${CKPTMPI_SRUN_ARGS:-}"
extra+=("${more[@]}")

ranks=$((nodes * ppn))
ckptmpi_check_layout "$ppn" "$depth"
ckptmpi_note "$nodes node(s) x $ppn rank(s) per node = $ranks ranks, $depth core(s) each${CKPTMPI_MPI_LIB:+, CKPTMPI_MPI_LIB=$CKPTMPI_MPI_LIB}"
ckptmpi_launch "${CKPTMPI_SRUN:-srun}" "--nodes=$nodes" "--ntasks=$ranks" "--ntasks-per-node=$ppn" \
  "--cpus-per-task=$depth" --cpu-bind=cores --kill-on-bad-exit=1 "${extra[@]}" "${CKPTMPI_COMMAND[@]}"
