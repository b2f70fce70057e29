#!/usr/bin/env bash
# e2e: launch/pbs-polaris.sh and launch/pbs-polaris-12ppn.sh hand Cray PALS `mpiexec` the exact
# argument vector and environment, from a fake $PBS_NODEFILE, and refuse bad settings with a clear
# message before anything is launched. A stand-in `mpiexec` first on PATH records its argv (NUL
# separated), environment and working directory; every case starts from `env -i`, so nothing
# leaks in from the machine running the test (not even a real PBS or Slurm job's variables).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rec="$work/rec"
fakebin="$work/bin"
mkdir -p "$rec" "$fakebin" "$work/submit" "$work/in put" "$work/spool" "$work/home"

cat >"$fakebin/mpiexec" <<EOF
#!/bin/bash
printf '%s\0' "\$(basename "\$0")" "\$@" >"$rec/argv"
env -0 >"$rec/env"
pwd >"$rec/cwd"
exit "\${FAKE_MPIEXEC_EXIT:-0}"
EOF
chmod +x "$fakebin/mpiexec"
bin="$work/ckptmpi"
printf '#!/bin/sh\nexit 0\n' >"$bin"
chmod +x "$bin"
printf 'x3006c0s13b0n0.hsn\nx3006c0s13b1n0.hsn\nx3006c0s19b0n0.hsn\nx3006c0s19b1n0.hsn\n' >"$work/nodes4"
# Another PBS site's style: each host repeated once per mpiprocs slot, plus a blank line.
printf 'a.hsn\na.hsn\na.hsn\nb.hsn\nb.hsn\n\nb.hsn\n' >"$work/nodes2x3"
: >"$work/nodes0"
base_path="$fakebin:/usr/bin:/bin"

failures=0
fail() { echo "FAIL [$case_name]: $*"; failures=$((failures + 1)); }

# run NAME VAR=VALUE... -- SCRIPT ARGS...: runs the script under env -i from $work/submit.
run() {
  case_name=$1; shift
  local vars=()
  while [ "$1" != "--" ]; do vars+=("$1"); shift; done
  shift
  rm -f "$rec/argv" "$rec/env" "$rec/cwd"
  rc=0
  out=$(cd "$work/submit" && env -i HOME="$work/home" PATH="$base_path" "${vars[@]}" bash "$@" 2>&1) || rc=$?
}
expect_argv() {
  [ "$rc" -eq 0 ] || { fail "exit code $rc, output: $out"; return; }
  [ -f "$rec/argv" ] || { fail "mpiexec was not run; output: $out"; return; }
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
  [ ! -f "$rec/argv" ] || fail "mpiexec was run despite the error"
}

# 1. The 48-rank script: 4 nodes x 12 ppn, arguments from CKPTMPI_ARGS, paths from CKPTMPI_INPUT/OUTPUT.
run twelve-ppn PBS_NODEFILE="$work/nodes4" PBS_O_WORKDIR="$work/submit" CKPTMPI_BIN="$bin" \
  CKPTMPI_ARGS="convert --from hf  --to zero --zero-stage 3 --dp-size 48" \
  CKPTMPI_INPUT="$work/in put" CKPTMPI_OUTPUT="$work/out,1" -- "$repo/launch/pbs-polaris-12ppn.sh"
expect_argv mpiexec -n 48 --ppn 12 --depth 2 --cpu-bind depth "$bin" convert --from hf --to zero \
  --zero-stage 3 --dp-size 48 --input "$work/in put" --output "$work/out,1"
expect_env TERM=dumb
expect_env DOTNET_gcServer=0
expect_env CKPTMPI_MPI=auto
expect_env UCX_ERROR_SIGNALS=
expect_env CKPTMPI_DEPTH=2
expect_env CKPTMPI_ENV_SOURCED=1
expect_no_env MPICH_GPU_SUPPORT_ENABLED
expect_no_env CKPTMPI_MPI_LIB
expect_no_env DOTNET_GCHeapCount
[ "$(cat "$rec/cwd" 2>/dev/null)" = "$work/submit" ] || fail "mpiexec did not run in PBS_O_WORKDIR"
[[ $out == *"4 node(s) x 12 rank(s) per node = 48 ranks, depth 2"* ]] || fail "no summary line: $out"
run oversubscribed PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN="$bin" CKPTMPI_NODE_CPUS=64 CKPTMPI_DEPTH=8 -- \
  "$repo/launch/pbs-polaris-12ppn.sh"
expect_argv mpiexec -n 48 --ppn 12 --depth 8 --cpu-bind depth "$bin" mpi-info
[[ $out == *"warning: 12 ranks per node x 8 cores each = 96 > the 64 CPUs of this node"* ]] || fail "no warning: $out"
run fits PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN="$bin" CKPTMPI_NODE_CPUS=64 -- "$repo/launch/pbs-polaris-12ppn.sh"
[[ $out != *warning* ]] || fail "12 x 2 fits in 64 CPUs, yet: $out"

# 2. The general script on a Cray node with GPU modules: defaults 4 ppn / depth 8, hosts counted once
#    each, arguments after `--` kept word for word, extra launcher words before the program.
mkdir -p "$work/cray/lib-abi-mpich"
: >"$work/cray/lib-abi-mpich/libmpi.so.12"
run cray-defaults PBS_NODEFILE="$work/nodes2x3" CKPTMPI_BIN="$bin" CRAY_MPICH_DIR="$work/cray" \
  CRAY_ACCEL_TARGET=nvidia80 MPICH_GPU_SUPPORT_ENABLED=1 CRAY_LD_LIBRARY_PATH=/opt/cray/pe/lib64 \
  LD_LIBRARY_PATH=/usr/local/lib CKPTMPI_MPIEXEC_ARGS="--env FOO=1 --no-transfer" -- \
  "$repo/launch/pbs-polaris.sh" -- estimate --model "/eagle/my model" '*'
expect_argv mpiexec -n 8 --ppn 4 --depth 8 --cpu-bind depth --env FOO=1 --no-transfer "$bin" \
  estimate --model "/eagle/my model" '*'
expect_env "CKPTMPI_MPI_LIB=$work/cray/lib-abi-mpich/libmpi.so.12"
expect_env MPICH_GPU_SUPPORT_ENABLED=0
expect_env LD_LIBRARY_PATH=/opt/cray/pe/lib64:/usr/local/lib
[ "$(cat "$rec/cwd" 2>/dev/null)" = "$work/submit" ] || fail "without PBS_O_WORKDIR the directory must not change"

# 2b. CKPTMPI_MODULES: `module load` (a shell function, as Lmod exports it) runs before env.sh, so
#     the library of the module it loads is the one chosen.
module_fn="() { echo \"\$*\" >>'$rec/modules'; [ \"\$2\" = cray-mpich-abi ] && export CRAY_MPICH_DIR='$work/cray'; [ \"\$2\" != nope ]; }"
rm -f "$rec/modules"
run modules PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN="$bin" CKPTMPI_MODULES="craype-x86-milan cray-mpich-abi" \
  "BASH_FUNC_module%%=$module_fn" -- "$repo/launch/pbs-polaris.sh"
expect_argv mpiexec -n 16 --ppn 4 --depth 8 --cpu-bind depth "$bin" mpi-info
expect_env "CKPTMPI_MPI_LIB=$work/cray/lib-abi-mpich/libmpi.so.12"
[ "$(cat "$rec/modules" 2>/dev/null)" = "load craype-x86-milan
load cray-mpich-abi" ] || fail "module calls: $(cat "$rec/modules" 2>/dev/null)"
run module-fails PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN="$bin" CKPTMPI_MODULES="nope" \
  "BASH_FUNC_module%%=$module_fn" -- "$repo/launch/pbs-polaris.sh"
expect_error "module load nope failed"
run no-module-command PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN="$bin" CKPTMPI_MODULES="cray-mpich-abi" -- \
  "$repo/launch/pbs-polaris.sh"
expect_error "CKPTMPI_MODULES=cray-mpich-abi but there is no 'module' command in this shell"

# 3. PBS runs a spooled copy: launch/ is then found through PBS_O_WORKDIR (both scripts).
cp "$repo/launch/pbs-polaris.sh" "$work/spool/1234.polaris-pbs-01.SC"
cp "$repo/launch/pbs-polaris-12ppn.sh" "$work/spool/1235.polaris-pbs-01.SC"
run spooled PBS_NODEFILE="$work/nodes4" PBS_O_WORKDIR="$repo" CKPTMPI_BIN="$bin" CKPTMPI_DEPTH=16 \
  CKPTMPI_RANKS_PER_NODE=2 -- "$work/spool/1234.polaris-pbs-01.SC"
expect_argv mpiexec -n 8 --ppn 2 --depth 16 --cpu-bind depth "$bin" mpi-info
[ "$(cat "$rec/cwd" 2>/dev/null)" = "$repo" ] || fail "mpiexec did not run in PBS_O_WORKDIR"
run spooled-12ppn PBS_NODEFILE="$work/nodes4" PBS_O_WORKDIR="$repo" CKPTMPI_BIN="$bin" -- \
  "$work/spool/1235.polaris-pbs-01.SC" mpi-info --verbose
expect_argv mpiexec -n 48 --ppn 12 --depth 2 --cpu-bind depth "$bin" mpi-info --verbose

# 3b. Relative paths (binary, input, nodefile, MPI library) mean the submission directory, as PBS
#     starts the job in $HOME: here the job starts in $work/home and PBS_O_WORKDIR=$work/submit.
mkdir -p "$work/submit/rel-in" "$work/submit/bin"
cp "$bin" "$work/submit/bin/ckptmpi"
cp "$work/nodes4" "$work/submit/nodes"
: >"$work/submit/libmpi.so.12"
case_name=relative
rm -f "$rec/argv"
rc=0
out=$(cd "$work/home" && env -i HOME="$work/home" PATH="$base_path" PBS_O_WORKDIR="$work/submit" \
  PBS_NODEFILE=nodes CKPTMPI_BIN=bin/ckptmpi CKPTMPI_INPUT=rel-in CKPTMPI_MPI_LIB=./libmpi.so.12 \
  bash "$repo/launch/pbs-polaris.sh" convert 2>&1) || rc=$?
expect_argv mpiexec -n 16 --ppn 4 --depth 8 --cpu-bind depth bin/ckptmpi convert --input rel-in
[ "$(cat "$rec/cwd" 2>/dev/null)" = "$work/submit" ] || fail "mpiexec did not run in PBS_O_WORKDIR"

# 4. ckptmpi found on PATH; a .dll runs through dotnet; a container prefix skips host-side checks;
#    CKPTMPI_NODES replaces the nodefile; the launcher's exit code is the job's.
mkdir -p "$work/onpath"
cp "$bin" "$work/onpath/ckptmpi"
run on-path CKPTMPI_NODES=3 PATH="$fakebin:$work/onpath:/usr/bin:/bin" -- "$repo/launch/pbs-polaris.sh"
expect_argv mpiexec -n 12 --ppn 4 --depth 8 --cpu-bind depth "$work/onpath/ckptmpi" mpi-info
dotnet_dir=$(dirname "$(command -v dotnet)")
: >"$work/ckptmpi.dll"
run dll CKPTMPI_NODES=1 CKPTMPI_BIN="$work/ckptmpi.dll" PATH="$fakebin:$dotnet_dir:/usr/bin:/bin" -- \
  "$repo/launch/pbs-polaris.sh" --version
expect_argv mpiexec -n 4 --ppn 4 --depth 8 --cpu-bind depth dotnet "$work/ckptmpi.dll" --version
run container PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN=/opt/ckptmpi/bin/ckptmpi \
  CKPTMPI_EXEC_PREFIX="apptainer exec -B /eagle ckptmpi.sif" CKPTMPI_MPI_LIB=/opt/cray-abi/libmpi.so.12 \
  CKPTMPI_INPUT=/eagle/p/hf -- "$repo/launch/pbs-polaris.sh" estimate
expect_argv mpiexec -n 16 --ppn 4 --depth 8 --cpu-bind depth apptainer exec -B /eagle ckptmpi.sif \
  /opt/ckptmpi/bin/ckptmpi estimate --input /eagle/p/hf
expect_env CKPTMPI_MPI_LIB=/opt/cray-abi/libmpi.so.12
run exit-code CKPTMPI_NODES=1 CKPTMPI_BIN="$bin" FAKE_MPIEXEC_EXIT=7 -- "$repo/launch/pbs-polaris.sh"
[ "$rc" -eq 7 ] || fail "exit code $rc, expected the launcher's 7"
run dry-run PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN="$bin" CKPTMPI_DRY_RUN=1 -- \
  "$repo/launch/pbs-polaris.sh" convert --input "a b"
if [ "$rc" -ne 0 ] || [ -f "$rec/argv" ]; then fail "dry run must print only (rc $rc)"; fi
[[ $out == *"mpiexec -n 16 --ppn 4 --depth 8 --cpu-bind depth $bin convert --input a\\ b"* ]] ||
  fail "dry run output: $out"

# 4b. The #PBS directives: PBS stops reading them at the first command, so all must come before it;
#     the 48-rank script asks for the 4 nodes its 12 ranks per node are meant for.
for script in pbs-polaris.sh pbs-polaris-12ppn.sh; do
  case_name="directives $script"
  first_cmd=$(grep -nvE '^[[:space:]]*(#|$)' "$repo/launch/$script" | head -1 | cut -d: -f1)
  last_pbs=$(grep -n '^#PBS' "$repo/launch/$script" | tail -1 | cut -d: -f1)
  if [ -z "$last_pbs" ] || [ "$last_pbs" -ge "$first_cmd" ]; then fail "#PBS line $last_pbs after the first command (line $first_cmd)"; fi
  grep -qx '#PBS -S /bin/bash' "$repo/launch/$script" || fail "no '#PBS -S /bin/bash' (PBS would use the login shell)"
  grep -q '^#PBS -l filesystems=' "$repo/launch/$script" || fail "Polaris requires -l filesystems="
done
case_name="directives 48 ranks"
select=$(sed -n 's/^#PBS -l select=\([0-9]*\).*/\1/p' "$repo/launch/pbs-polaris-12ppn.sh")
[ "$((select * 12))" -eq 48 ] || fail "select=$select nodes x 12 ranks is not 48"

# 5. Errors: non-zero, a message naming the problem, and mpiexec never started.
pbs="$repo/launch/pbs-polaris.sh"
run no-bin PBS_NODEFILE="$work/nodes4" -- "$pbs"
expect_error "CKPTMPI_BIN is not set and ckptmpi is not on PATH"
run missing-bin PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN="$work/nope" -- "$pbs"
expect_error "CKPTMPI_BIN=$work/nope does not exist"
run not-executable PBS_NODEFILE="$work/nodes4" CKPTMPI_BIN="$work/nodes4" -- "$pbs"
expect_error "is not executable"
run no-nodefile CKPTMPI_BIN="$bin" -- "$pbs"
expect_error "PBS_NODEFILE is not set"
run unreadable-nodefile CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/absent" -- "$pbs"
expect_error "PBS_NODEFILE=$work/absent cannot be read"
run empty-nodefile CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes0" -- "$pbs"
expect_error "lists no nodes"
run zero-ppn CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes4" CKPTMPI_RANKS_PER_NODE=0 -- "$pbs"
expect_error "CKPTMPI_RANKS_PER_NODE must be a whole number >= 1 (got '0')"
run bad-depth CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes4" CKPTMPI_DEPTH=eight -- "$pbs"
expect_error "CKPTMPI_DEPTH must be a whole number >= 1 (got 'eight')"
run bad-nodes CKPTMPI_BIN="$bin" CKPTMPI_NODES=-2 -- "$pbs"
expect_error "CKPTMPI_NODES must be a whole number >= 1"
run missing-input CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes4" CKPTMPI_INPUT="$work/absent-dir" -- "$pbs"
expect_error "CKPTMPI_INPUT=$work/absent-dir does not exist"
run bad-mpi-mode CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes4" CKPTMPI_MPI=maybe -- "$pbs"
expect_error "CKPTMPI_MPI must be auto, on or off (got 'maybe')"
run missing-mpi-lib CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes4" CKPTMPI_MPI_LIB=/absent/libmpi.so.12 -- "$pbs"
expect_error "CKPTMPI_MPI_LIB=/absent/libmpi.so.12 does not exist"
run no-launcher CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes4" CKPTMPI_MPIEXEC=no-such-mpiexec -- "$pbs"
expect_error "launcher 'no-such-mpiexec' not found on PATH"
run lost-spool CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes4" -- "$work/spool/1234.polaris-pbs-01.SC"
expect_error "cannot find launch/common.sh and launch/env.sh"
run lost-spool-12ppn CKPTMPI_BIN="$bin" PBS_NODEFILE="$work/nodes4" -- "$work/spool/1235.polaris-pbs-01.SC"
expect_error "cannot find launch/pbs-polaris.sh"

if [ "$failures" -ne 0 ]; then
  echo "launch-pbs: $failures failure(s)"
  exit 1
fi
echo "launch-pbs: all cases passed"
