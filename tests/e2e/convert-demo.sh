#!/usr/bin/env bash
# The README's first command: `ckptmpi demo` (HF -> ZeRO-3 dp4 -> HF, bit-exact) exits 0 in one process and under
# mpiexec -n 2, and stays quick.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
start=$(date +%s)
out=$(dotnet "$dll" demo)
echo "$out"
echo "$out" | grep -q "round trip bit-exact"
echo "one process: $(( $(date +%s) - start )) s"
mpiexec.openmpi -n 2 dotnet "$dll" demo | grep "round trip bit-exact"
echo "PASS demo in one process and under mpiexec.openmpi -n 2"
