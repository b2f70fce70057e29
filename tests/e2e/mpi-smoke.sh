#!/usr/bin/env bash
# End-to-end smoke test of the Release build under both MPI launchers: `ckptmpi mpi-info` on 2 ranks must load
# the launcher's own libmpi (ABI family), see 2 ranks, and exit 0; a plain run must not load MPI at all.
# NUnit (tests/Ckptmpi.Tests/Parallel/MpiCommunicatorTests.cs) covers the collectives; this checks the shipped build.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || { echo "missing $dll: build Release first (tests/run-all.sh does)"; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 TERM=dumb

out=$(env -u OMPI_COMM_WORLD_RANK -u PMI_RANK timeout 60 dotnet "$dll" mpi-info --probe-size 0)
grep -q "MPI: not loaded" <<<"$out" || { echo "plain run loaded MPI:"; echo "$out"; exit 1; }
echo "plain: ok"

check() {
  local launcher=$1 abi=$2
  if ! command -v "$launcher" >/dev/null; then
    echo "$launcher not installed: skipped"
    return 0
  fi
  local result
  result=$(timeout 120 "$launcher" -n 2 dotnet "$dll" mpi-info --probe-size 1MiB)
  grep -q "world size: 2" <<<"$result" || { echo "$launcher: wrong world size"; echo "$result"; return 1; }
  grep -q "ABI: $abi" <<<"$result" || { echo "$launcher: expected ABI $abi"; echo "$result"; return 1; }
  grep -q "alltoallv 1 MiB per rank: " <<<"$result" || { echo "$launcher: no probe figures"; echo "$result"; return 1; }
  echo "$launcher: ok ($(grep -E '^(bcast|alltoallv)' <<<"$result" | tr '\n' ' '))"
}
check mpiexec.mpich Mpich
check mpiexec.openmpi OpenMpi
