#!/usr/bin/env bash
# e2e: launch/env.sh exports what Cray MPICH, Open MPI and the .NET runtime need, and nothing it
# should not: each case sources it in a fresh `env -i` shell (under `set -euo pipefail`, as the job
# scripts do) with a fake Cray module environment, then records the exported environment with `env -0`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
envsh="$repo/launch/env.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cray/lib-abi-mpich" "$work/cray-noabi/lib" "$work/home"
: >"$work/cray/lib-abi-mpich/libmpi.so.12"
: >"$work/my-libmpi.so.12"

failures=0
fail() { echo "FAIL [$case_name]: $*"; failures=$((failures + 1)); }
# src NAME VAR=VALUE...: sources env.sh (twice when TWICE=1) in a clean shell; sets rc, out, and
# $work/env (the exported environment afterwards).
src() {
  case_name=$1; shift
  rm -f "$work/env"
  rc=0
  # shellcheck disable=SC2016 # $1/$2 are the inner shell's arguments, expanded there on purpose
  out=$(env -i HOME="$work/home" PATH=/usr/bin:/bin "$@" bash -c '
    set -euo pipefail
    source "$1"
    if [ "${TWICE:-0}" = 1 ]; then source "$1"; fi
    env -0 >"$2"' _ "$envsh" "$work/env" 2>&1) || rc=$?
}
expect_env() { grep -zqxF -- "$1" "$work/env" || fail "environment lacks $1 (rc $rc, output: $out)"; }
expect_no_env() { if grep -zq "^$1=" "$work/env"; then fail "environment has $1 but should not"; fi; }
expect_output() { [[ $out == *"$1"* ]] || fail "output lacks '$1': $out"; }

# 1. A plain Linux cluster: only the generic settings.
src plain TERM=xterm-256color
[ "$rc" -eq 0 ] || fail "rc $rc: $out"
expect_env TERM=dumb
expect_env CKPTMPI_MPI=auto
expect_env UCX_ERROR_SIGNALS=
expect_env DOTNET_gcServer=0
expect_env CKPTMPI_ENV_SOURCED=1
for v in CKPTMPI_MPI_LIB MPICH_GPU_SUPPORT_ENABLED LD_LIBRARY_PATH DOTNET_GCHeapCount; do expect_no_env "$v"; done
[ -z "$out" ] || fail "expected no output, got: $out"

# 2. Cray MPICH with cray-mpich-abi and GPU modules (sourced twice: nothing is added twice).
src cray-gpu TWICE=1 CRAY_MPICH_DIR="$work/cray" CRAY_LD_LIBRARY_PATH=/opt/cray/pe/lib64:/opt/cray/libfabric/lib64 \
  LD_LIBRARY_PATH=/soft/lib LOADEDMODULES=PrgEnv-nvhpc/8.5.0:craype-accel-nvidia80:cray-mpich/8.1.28 \
  MPICH_GPU_SUPPORT_ENABLED=1
expect_env "CKPTMPI_MPI_LIB=$work/cray/lib-abi-mpich/libmpi.so.12"
expect_env LD_LIBRARY_PATH=/opt/cray/pe/lib64:/opt/cray/libfabric/lib64:/soft/lib
expect_env MPICH_GPU_SUPPORT_ENABLED=0

# 3. Each GPU signal alone is enough; no GPU module keeps the user's 0 and adds nothing.
src gpu-by-target CRAY_ACCEL_TARGET=nvidia80
expect_env MPICH_GPU_SUPPORT_ENABLED=0
src gpu-by-module LOADEDMODULES=craype-accel-nvidia80
expect_env MPICH_GPU_SUPPORT_ENABLED=0
src gpu-by-flag MPICH_GPU_SUPPORT_ENABLED=1
expect_env MPICH_GPU_SUPPORT_ENABLED=0
src gpu-off-already MPICH_GPU_SUPPORT_ENABLED=0 LOADEDMODULES=craype-x86-milan:cray-mpich
expect_env MPICH_GPU_SUPPORT_ENABLED=0

# 4. Cray MPICH without the ABI library: a warning naming the fix, and no library chosen.
src cray-no-abi CRAY_MPICH_DIR="$work/cray-noabi"
[ "$rc" -eq 0 ] || fail "rc $rc: $out"
expect_output "lib-abi-mpich/libmpi.so.12 not found; run 'module load cray-mpich-abi' or set CKPTMPI_MPI_LIB"
expect_no_env CKPTMPI_MPI_LIB

# 5. The user's choices win: their library (a path, or a bare soname), UCX setting, heap count,
#    and CKPTMPI_CRAY_LD_PATH=0 leaves LD_LIBRARY_PATH alone.
src user-lib CRAY_MPICH_DIR="$work/cray" CKPTMPI_MPI_LIB="$work/my-libmpi.so.12" UCX_ERROR_SIGNALS=SIGILL \
  CRAY_LD_LIBRARY_PATH=/opt/cray/pe/lib64 CKPTMPI_CRAY_LD_PATH=0 DOTNET_gcServer=1 DOTNET_GCHeapCount=4
expect_env "CKPTMPI_MPI_LIB=$work/my-libmpi.so.12"
expect_env UCX_ERROR_SIGNALS=SIGILL
expect_env DOTNET_GCHeapCount=4
expect_no_env LD_LIBRARY_PATH
src soname CKPTMPI_MPI_LIB=libmpi.so.12 CKPTMPI_MPI=on
expect_env CKPTMPI_MPI_LIB=libmpi.so.12
expect_env CKPTMPI_MPI=on

# 6. Server GC: one heap per core a rank is bound to, in hexadecimal (.NET parses GC settings as hex).
src server-gc DOTNET_gcServer=1 CKPTMPI_DEPTH=12
expect_env DOTNET_GCHeapCount=c
src server-gc-32 DOTNET_gcServer=1 CKPTMPI_DEPTH=32
expect_env DOTNET_GCHeapCount=20
src server-gc-unknown DOTNET_gcServer=1
expect_no_env DOTNET_GCHeapCount
expect_output "DOTNET_gcServer=1 without DOTNET_GCHeapCount"

# 6b. DOTNET_ROOT: the real directory of the dotnet on PATH (through a symlink), unless already set.
mkdir -p "$work/dotnet-home/.dotnet" "$work/shims"
printf '#!/bin/sh\nexit 0\n' >"$work/dotnet-home/.dotnet/dotnet"
chmod +x "$work/dotnet-home/.dotnet/dotnet"
ln -s "$work/dotnet-home/.dotnet/dotnet" "$work/shims/dotnet"
src dotnet-root PATH="$work/shims:/usr/bin:/bin"
expect_env "DOTNET_ROOT=$work/dotnet-home/.dotnet"
src dotnet-root-kept PATH="$work/shims:/usr/bin:/bin" DOTNET_ROOT=/opt/dotnet
expect_env DOTNET_ROOT=/opt/dotnet

# 7. Bad settings: return 2 with a message, and never exit the shell that sourced the file
#    (an interactive user's login shell), nor leave helper functions behind.
for bad in "CKPTMPI_MPI=maybe|CKPTMPI_MPI must be auto, on or off (got 'maybe')" \
  "CKPTMPI_MPI_LIB=/absent/libmpi.so.12|CKPTMPI_MPI_LIB=/absent/libmpi.so.12 does not exist"; do
  case_name="rejects ${bad%%|*}"
  rc=0
  # shellcheck disable=SC2016 # $1 and $? belong to the inner shell, expanded there on purpose
  out=$(env -i PATH=/usr/bin:/bin "${bad%%|*}" bash -c 'source "$1"; echo "returned $? and the shell lives"; declare -F' _ "$envsh" 2>&1) || rc=$?
  [ "$rc" -eq 0 ] || fail "the sourcing shell died (rc $rc): $out"
  expect_output "${bad#*|}"
  expect_output "returned 2 and the shell lives"
  [[ $out != *_ckptmpi_env* ]] || fail "helper functions left behind: $out"
done
src in-container CKPTMPI_EXEC_PREFIX="apptainer exec x.sif" CKPTMPI_MPI_LIB=/opt/cray-abi/libmpi.so.12
[ "$rc" -eq 0 ] || fail "a container-side CKPTMPI_MPI_LIB must not be checked on the host: $out"
expect_env CKPTMPI_MPI_LIB=/opt/cray-abi/libmpi.so.12

# 8. Run instead of sourced: --print shows the exports, exactly; anything else is a usage error.
case_name=print
rc=0
out=$(env -i PATH=/usr/bin:/bin CRAY_MPICH_DIR="$work/cray" CRAY_ACCEL_TARGET=nvidia80 DOTNET_ROOT=/opt/dotnet \
  bash "$envsh" --print 2>&1) || rc=$?
expected="export TERM=dumb
export CKPTMPI_MPI=auto
export CKPTMPI_MPI_LIB=$work/cray/lib-abi-mpich/libmpi.so.12
export MPICH_GPU_SUPPORT_ENABLED=0
export UCX_ERROR_SIGNALS=''
export DOTNET_gcServer=0
export DOTNET_ROOT=/opt/dotnet
export CKPTMPI_ENV_SOURCED=1"
if [ "$rc" -ne 0 ] || [ "$out" != "$expected" ]; then fail "rc $rc, got:
$out"; fi
case_name=usage
rc=0
out=$(bash "$envsh" 2>&1) || rc=$?
[ "$rc" -eq 2 ] || fail "rc $rc, expected 2"
expect_output "usage: source launch/env.sh"

if [ "$failures" -ne 0 ]; then
  echo "launch-env: $failures failure(s)"
  exit 1
fi
echo "launch-env: all cases passed"
