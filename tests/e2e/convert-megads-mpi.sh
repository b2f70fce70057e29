#!/usr/bin/env bash
# --from megads --to hf of the real Megatron-DeepSpeed fixture (tp 2, pp 2, dp 2, after one training step), and
# --from hf --to megads of the HF model it started from (tp 2, pp 2, dp 2), and the reshard of that trained
# checkpoint to tp 1, pp 1, dp 1 with its Adam state (--from megads --to megads), under mpiexec -n 4 with Open MPI and
# with MPICH give the same bytes as one plain process.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fixtures="$repo/tests/fixtures/megads"
in="$fixtures/tp2_pp2_dp2/step1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/e2e/lib/same_bytes.sh
source "$repo/tests/e2e/lib/same_bytes.sh"
dotnet "$dll" convert --from megads --to hf --input "$in" --output "$tmp/one" --no-report >/dev/null
to_megads=(convert --from hf --to megads --input "$fixtures/hf" --tp-size 2 --pp-size 2 --dp-size 2
  --ds-config "$fixtures/tp2_pp2_dp2/ds_config.json" --max-buffer 1MiB --no-report)
dotnet "$dll" "${to_megads[@]}" --output "$tmp/m-one" >/dev/null
reshard=(convert --from megads --to megads --input "$in" --tp-size 1 --pp-size 1 --dp-size 1
  --ds-config "$fixtures/tp1_pp1_dp1/ds_config.json" --max-buffer 1MiB --no-report)
dotnet "$dll" "${reshard[@]}" --output "$tmp/r-one" >/dev/null
status=0
for mpi in openmpi mpich; do
    mpiexec.$mpi -n 4 dotnet "$dll" convert --from megads --to hf --input "$in" --output "$tmp/$mpi" --no-report >/dev/null
    cmp "$tmp/one/model.safetensors" "$tmp/$mpi/model.safetensors"
    cmp "$tmp/one/config.json" "$tmp/$mpi/config.json"
    mpiexec.$mpi -n 4 dotnet "$dll" "${to_megads[@]}" --output "$tmp/m-$mpi" >/dev/null
    same_as_single "hf -> megads under mpiexec.$mpi -n 4" "$tmp/m-$mpi" "$tmp/m-one"
    mpiexec.$mpi -n 4 dotnet "$dll" "${reshard[@]}" --output "$tmp/r-$mpi" >/dev/null
    same_as_single "megads -> megads (with Adam state) under mpiexec.$mpi -n 4" "$tmp/r-$mpi" "$tmp/r-one"
done
[ "$status" = 0 ] || exit 1
echo "PASS megads -> hf, hf -> megads and megads -> megads under mpiexec.openmpi -n 4 and mpiexec.mpich -n 4 equal one process"
