#!/usr/bin/env bash
# --from megads --to hf of the real Megatron-DeepSpeed fixture (tp 2, pp 2, dp 2, after one training step) under
# mpiexec -n 4 with Open MPI and with MPICH gives the same bytes as one plain process.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
in="$repo/tests/fixtures/megads/tp2_pp2_dp2/step1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dotnet "$dll" convert --from megads --to hf --input "$in" --output "$tmp/one" --no-report >/dev/null
for mpi in openmpi mpich; do
    mpiexec.$mpi -n 4 dotnet "$dll" convert --from megads --to hf --input "$in" --output "$tmp/$mpi" --no-report >/dev/null
    cmp "$tmp/one/model.safetensors" "$tmp/$mpi/model.safetensors"
    cmp "$tmp/one/config.json" "$tmp/$mpi/config.json"
done
echo "PASS megads -> hf under mpiexec.openmpi -n 4 and mpiexec.mpich -n 4 equals one process"
