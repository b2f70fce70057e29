#!/usr/bin/env bash
# e2e: hostfiles/from-pbs-nodefile.sh turns PBS nodefiles into Open MPI and Hydra hostfiles with the
# exact expected text; the checked-in examples are its output; and the real launchers installed here
# (Debian's Open MPI and MPICH Hydra) accept what it writes and honour the slot counts.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
conv="$repo/hostfiles/from-pbs-nodefile.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
fail() { echo "FAIL [$case_name]: $*"; failures=$((failures + 1)); }
# expect NAME EXPECTED_STDOUT -- ARGS...: exit 0 and exactly this text on stdout.
expect() {
  case_name=$1
  local expected=$2 rc=0 got
  shift 3
  got=$(env -u PBS_NODEFILE bash "$conv" "$@" 2>"$work/err") || rc=$?
  if [ "$rc" -ne 0 ] || [ "$got" != "$expected" ]; then
    fail "rc $rc, stderr $(cat "$work/err"), stdout:"
    printf '    %s\n' "${got//$'\n'/$'\n'    }"
  fi
}
# expect_error NAME MESSAGE -- ARGS...: exit 2, MESSAGE on stderr, nothing on stdout.
expect_error() {
  case_name=$1
  local message=$2 rc=0 got
  shift 3
  got=$(env -u PBS_NODEFILE bash "$conv" "$@" 2>"$work/err") || rc=$?
  [ "$rc" -eq 2 ] || fail "rc $rc, expected 2"
  [ -z "$got" ] || fail "wrote to stdout: $got"
  grep -qF -- "$message" "$work/err" || fail "stderr lacks '$message': $(cat "$work/err")"
}

# Polaris style: one line per node (FQDN), slots chosen by the user.
printf 'x3006c0s13b0n0.hsn.cm.polaris.alcf.anl.gov\nx3006c0s13b1n0.hsn.cm.polaris.alcf.anl.gov\n' >"$work/polaris"
expect polaris-openmpi "x3006c0s13b0n0.hsn.cm.polaris.alcf.anl.gov slots=12
x3006c0s13b1n0.hsn.cm.polaris.alcf.anl.gov slots=12" -- --slots 12 "$work/polaris"
expect polaris-hydra "x3006c0s13b0n0.hsn.cm.polaris.alcf.anl.gov:12
x3006c0s13b1n0.hsn.cm.polaris.alcf.anl.gov:12" -- --format hydra --slots=12 "$work/polaris"
expect polaris-default-slots "x3006c0s13b0n0.hsn.cm.polaris.alcf.anl.gov slots=1
x3006c0s13b1n0.hsn.cm.polaris.alcf.anl.gov slots=1" -- "$work/polaris"

# mpiprocs style: repeats counted, first-appearance order kept (not sorted), blanks/comments/CRLF skipped.
printf 'node-b\nnode-b\n\n# comment\n  node-a  \nnode-b\nnode-a\r\nnode-c\n' >"$work/repeated"
expect repeated-openmpi "node-b slots=3
node-a slots=2
node-c slots=1" -- --format openmpi "$work/repeated"
expect repeated-hydra "node-b:3
node-a:2
node-c:1" -- --format=hydra "$work/repeated"
case_name=pbs-nodefile-variable
got=$(PBS_NODEFILE="$work/repeated" bash "$conv" --format hydra --slots 4) || fail "rc $?"
[ "$got" = "node-b:4
node-a:4
node-c:4" ] || fail "from \$PBS_NODEFILE got: $got"

# The examples in hostfiles/ are exactly the helper's output for the example nodefile.
expect example-openmpi "$(cat "$repo/hostfiles/polaris-4x12.openmpi")" -- --slots 12 "$repo/hostfiles/pbs-nodefile.example"
expect example-hydra "$(cat "$repo/hostfiles/polaris-4x12.hydra")" -- --format hydra --slots 12 "$repo/hostfiles/pbs-nodefile.example"
case_name=examples-not-empty
[ "$(wc -l <"$repo/hostfiles/polaris-4x12.openmpi")" -eq 4 ] || fail "polaris-4x12.openmpi should list 4 nodes"

# Errors.
: >"$work/empty"
printf '# only a comment\n\n' >"$work/comments"
printf 'good-host\nbad host\n' >"$work/spaces"
printf 'host:4\n' >"$work/hydra-style"
expect_error no-nodefile "no NODEFILE given and PBS_NODEFILE is not set" --
expect_error missing "cannot read nodefile $work/absent" -- "$work/absent"
expect_error empty "$work/empty lists no hosts" -- "$work/empty"
expect_error only-comments "$work/comments lists no hosts" -- "$work/comments"
expect_error space "$work/spaces line 2: \"bad host\" is not a host name" -- "$work/spaces"
expect_error already-hostfile "line 1: \"host:4\" is not a host name" -- "$work/hydra-style"
expect_error bad-format "--format must be openmpi or hydra (got 'slurm')" -- --format slurm "$work/polaris"
expect_error zero-slots "--slots must be a whole number >= 1 (got '0')" -- --slots 0 "$work/polaris"
expect_error word-slots "--slots must be a whole number >= 1 (got 'many')" -- --slots many "$work/polaris"
expect_error two-files "more than one NODEFILE given" -- "$work/polaris" "$work/repeated"
expect_error unknown-option "unknown option --hosts" -- --hosts "$work/polaris"

# The real launchers read what the helper writes. localhost twice = 2 slots on this machine.
printf 'localhost\nlocalhost\n' >"$work/local"
bash "$conv" --format openmpi "$work/local" >"$work/local.openmpi"
bash "$conv" --format hydra "$work/local" >"$work/local.hydra"
case_name=openmpi-runs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TERM=dumb
unset OMPI_MCA_rmaps_base_oversubscribe
# shellcheck disable=SC2016 # the rank variables are expanded by each rank's shell
got=$(timeout 60 mpiexec.openmpi --hostfile "$work/local.openmpi" -n 2 sh -c 'echo "rank $OMPI_COMM_WORLD_RANK of $OMPI_COMM_WORLD_SIZE"' | sort) ||
  fail "mpiexec.openmpi --hostfile failed"
[ "$got" = "rank 0 of 2
rank 1 of 2" ] || fail "got: $got"
case_name=openmpi-honours-slots
if timeout 60 mpiexec.openmpi --hostfile "$work/local.openmpi" -n 3 true >"$work/ompi3.log" 2>&1; then
  fail "3 ranks on a 2-slot hostfile should be refused (slots=2 not read?)"
fi
grep -q "not enough slots" "$work/ompi3.log" || fail "unexpected Open MPI failure: $(head -5 "$work/ompi3.log")"
case_name=hydra-runs
# shellcheck disable=SC2016 # the rank variables are expanded by each rank's shell
got=$(timeout 60 mpiexec.mpich -f "$work/local.hydra" -n 2 sh -c 'echo "rank $PMI_RANK of $PMI_SIZE"' | sort) ||
  fail "mpiexec.mpich -f failed"
[ "$got" = "rank 0 of 2
rank 1 of 2" ] || fail "got: $got"

if [ "$failures" -ne 0 ]; then
  echo "launch-hostfiles: $failures failure(s)"
  exit 1
fi
echo "launch-hostfiles: all cases passed"
