#!/usr/bin/env bash
# e2e: launch/slurm.sh hands `srun` the exact argument vector and environment, from fake SLURM_*
# variables, and refuses bad settings with a clear message before anything is launched. A stand-in
# `srun` first on PATH records its argv (NUL separated) and environment; every case starts from
# `env -i`, so a real Slurm job running this test cannot leak its own variables in.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rec="$work/rec"
fakebin="$work/bin"
mkdir -p "$rec" "$fakebin" "$work/submit" "$work/spool" "$work/home" "$work/hf"

cat >"$fakebin/srun" <<EOF
#!/bin/bash
printf '%s\0' "\$(basename "\$0")" "\$@" >"$rec/argv"
env -0 >"$rec/env"
exit "\${FAKE_SRUN_EXIT:-0}"
EOF
chmod +x "$fakebin/srun"
bin="$work/ckptmpi"
printf '#!/bin/sh\nexit 0\n' >"$bin"
chmod +x "$bin"

failures=0
fail() { echo "FAIL [$case_name]: $*"; failures=$((failures + 1)); }
run() {
  case_name=$1; shift
  local vars=()
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  rm -f "$rec/argv" "$rec/env"
  rc=0
  out=$(cd "$work/submit" && env -i HOME="$work/home" PATH="$fakebin:/usr/bin:/bin" "${vars[@]}" bash "$@" 2>&1) || rc=$?
}
expect_argv() {
  [ "$rc" -eq 0 ] || { fail "exit code $rc, output: $out"; return; }
  [ -f "$rec/argv" ] || { fail "srun was not run; output: $out"; return; }
  if ! printf '%s\0' "$@" | cmp -s - "$rec/argv"; then
    fail "argv differs"
    echo "  expected: $(printf '[%s] ' "$@")"
    echo "  got:      $(tr '\0' '\n' <"$rec/argv" | sed 's/.*/[&]/' | tr '\n' ' ')"
  fi
}
expect_env() { grep -zqxF -- "$1" "$rec/env" || fail "environment lacks $1"; }
expect_no_env() { if grep -zq "^$1=" "$rec/env"; then fail "environment has $1 but should not"; fi; }
expect_error() {
  [ "$rc" -ne 0 ] || fail "exit code 0, expected a failure; output: $out"
  [[ $out == *"$1"* ]] || fail "message lacks '$1'; output: $out"
  [ ! -f "$rec/argv" ] || fail "srun was run despite the error"
}
slurm="$repo/launch/slurm.sh"
alloc=(SLURM_JOB_ID=77 SLURM_JOB_NUM_NODES=4 SLURM_NNODES=4 SLURM_NTASKS_PER_NODE=12 SLURM_CPUS_PER_TASK=4
  SLURM_TASKS_PER_NODE="12(x4)" SLURM_SUBMIT_DIR="$work/submit")

# 1. 4 nodes x 12 tasks per node x 4 cpus, taken from the allocation; arguments after `--` verbatim.
run allocation "${alloc[@]}" CKPTMPI_BIN="$bin" CKPTMPI_INPUT="$work/hf" CKPTMPI_OUTPUT="$work/zero out" -- \
  "$slurm" -- convert --from hf --to zero --zero-stage 3 --dp-size 48
expect_argv srun --nodes=4 --ntasks=48 --ntasks-per-node=12 --cpus-per-task=4 --cpu-bind=cores \
  --kill-on-bad-exit=1 "$bin" convert --from hf --to zero --zero-stage 3 --dp-size 48 \
  --input "$work/hf" --output "$work/zero out"
expect_env TERM=dumb
expect_env DOTNET_gcServer=0
expect_env CKPTMPI_MPI=auto
expect_env CKPTMPI_DEPTH=4
expect_env UCX_ERROR_SIGNALS=
expect_no_env MPICH_GPU_SUPPORT_ENABLED
expect_no_env CKPTMPI_MPI_LIB
[[ $out == *"4 node(s) x 12 rank(s) per node = 48 ranks, 4 core(s) each"* ]] || fail "no summary line: $out"

# 2. CKPTMPI_* beat the allocation's values; --mpi and extra srun words come before the program;
#    CKPTMPI_ARGS split on blanks; server GC gets one heap per bound core (hex).
run overrides "${alloc[@]}" CKPTMPI_BIN="$bin" CKPTMPI_NODES=2 CKPTMPI_RANKS_PER_NODE=3 CKPTMPI_DEPTH=16 \
  CKPTMPI_SRUN_MPI=pmix CKPTMPI_SRUN_ARGS="--exclusive --gpus-per-node=0" DOTNET_gcServer=1 \
  CKPTMPI_ARGS="estimate   --model /lus/p/llama" CKPTMPI_MPI=on -- "$slurm"
expect_argv srun --nodes=2 --ntasks=6 --ntasks-per-node=3 --cpus-per-task=16 --cpu-bind=cores \
  --kill-on-bad-exit=1 --mpi=pmix --exclusive --gpus-per-node=0 "$bin" estimate --model /lus/p/llama
expect_env DOTNET_gcServer=1
expect_env DOTNET_GCHeapCount=10
expect_env CKPTMPI_MPI=on

# 3. Only the node count known (salloc -N 3): one task per node, one core each, default mpi-info.
run minimal SLURM_JOB_NUM_NODES=3 CKPTMPI_BIN="$bin" -- "$slurm"
expect_argv srun --nodes=3 --ntasks=3 --ntasks-per-node=1 --cpus-per-task=1 --cpu-bind=cores \
  --kill-on-bad-exit=1 "$bin" mpi-info

# 4. sbatch runs a spooled copy: launch/ is found through SLURM_SUBMIT_DIR.
cp "$slurm" "$work/spool/slurm_script"
run spooled SLURM_JOB_NUM_NODES=2 SLURM_NTASKS_PER_NODE=2 SLURM_SUBMIT_DIR="$repo" CKPTMPI_BIN="$bin" -- \
  "$work/spool/slurm_script" mpi-info
expect_argv srun --nodes=2 --ntasks=4 --ntasks-per-node=2 --cpus-per-task=1 --cpu-bind=cores \
  --kill-on-bad-exit=1 "$bin" mpi-info
run exit-code SLURM_JOB_NUM_NODES=1 CKPTMPI_BIN="$bin" FAKE_SRUN_EXIT=9 -- "$slurm"
[ "$rc" -eq 9 ] || fail "exit code $rc, expected srun's 9"

# 4b. sbatch stops reading #SBATCH lines at the first command: all must come before it, and the
#     defaults they request are what the script then passes to srun.
case_name=directives
first_cmd=$(grep -nvE '^[[:space:]]*(#|$)' "$slurm" | head -1 | cut -d: -f1)
last_sbatch=$(grep -n '^#SBATCH' "$slurm" | tail -1 | cut -d: -f1)
if [ -z "$last_sbatch" ] || [ "$last_sbatch" -ge "$first_cmd" ]; then fail "#SBATCH line $last_sbatch after the first command (line $first_cmd)"; fi
directive() { sed -n "s/^#SBATCH --$1=\\([0-9]*\\)\$/\\1/p" "$slurm"; }
run from-directives SLURM_JOB_NUM_NODES="$(directive nodes)" SLURM_NTASKS_PER_NODE="$(directive ntasks-per-node)" \
  SLURM_CPUS_PER_TASK="$(directive cpus-per-task)" CKPTMPI_BIN="$bin" -- "$slurm"
expect_argv srun --nodes=2 --ntasks=8 --ntasks-per-node=4 --cpus-per-task=8 --cpu-bind=cores \
  --kill-on-bad-exit=1 "$bin" mpi-info

# 5. Errors.
run no-allocation CKPTMPI_BIN="$bin" -- "$slurm"
expect_error "SLURM_JOB_NUM_NODES is not set: run inside a Slurm allocation"
run no-bin "${alloc[@]}" -- "$slurm"
expect_error "CKPTMPI_BIN is not set and ckptmpi is not on PATH"
run missing-bin "${alloc[@]}" CKPTMPI_BIN="$work/nope" -- "$slurm"
expect_error "CKPTMPI_BIN=$work/nope does not exist"
run bad-ppn "${alloc[@]}" CKPTMPI_BIN="$bin" SLURM_NTASKS_PER_NODE="2(x3)" -- "$slurm"
expect_error "ranks per node (CKPTMPI_RANKS_PER_NODE / SLURM_NTASKS_PER_NODE) must be a whole number >= 1 (got '2(x3)')"
run missing-input "${alloc[@]}" CKPTMPI_BIN="$bin" CKPTMPI_INPUT="$work/absent" -- "$slurm"
expect_error "CKPTMPI_INPUT=$work/absent does not exist"
run lost-spool SLURM_JOB_NUM_NODES=2 CKPTMPI_BIN="$bin" -- "$work/spool/slurm_script"
expect_error "cannot find launch/common.sh and launch/env.sh"
run no-srun "${alloc[@]}" CKPTMPI_BIN="$bin" CKPTMPI_SRUN=no-such-srun -- "$slurm"
expect_error "launcher 'no-such-srun' not found on PATH"

if [ "$failures" -ne 0 ]; then
  echo "launch-slurm: $failures failure(s)"
  exit 1
fi
echo "launch-slurm: all cases passed"
