#!/usr/bin/env bash
# --from megads --to universal of the real Megatron-DeepSpeed fixture (tp 2, pp 2, dp 2, after one training step),
# and --from universal --to hf of DeepSpeed's own ds_to_universal output of it, under mpiexec -n 4 with Open MPI and
# with MPICH (--io direct and aggregate) give the same bytes as one plain process; so does --from zero --to universal
# of DeepSpeed's own ZeRO-3 and ZeRO-1 fixtures.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
# shellcheck source=tests/e2e/lib/same_bytes.sh
. "$repo/tests/e2e/lib/same_bytes.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fixture="$repo/tests/fixtures/megads/tp2_pp2_dp2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
to_universal=(convert --from megads --to universal --with-optimizer-states --input "$fixture/step1" --no-report)
to_hf=(convert --from universal --to hf --with-optimizer-states --input "$fixture/step1_universal" --no-report)
dotnet "$dll" "${to_universal[@]}" --output "$tmp/u-one" >/dev/null
dotnet "$dll" "${to_hf[@]}" --output "$tmp/h-one" >/dev/null
for mpi in openmpi mpich; do
    for io in direct aggregate; do
        mpiexec.$mpi -n 4 dotnet "$dll" "${to_universal[@]}" --io "$io" --output "$tmp/u-$mpi-$io" >/dev/null
        same_as_single "megads -> universal, mpiexec.$mpi -n 4, --io $io" "$tmp/u-$mpi-$io" "$tmp/u-one"
        mpiexec.$mpi -n 4 dotnet "$dll" "${to_hf[@]}" --io "$io" --output "$tmp/h-$mpi-$io" >/dev/null
        same_as_single "universal -> hf, mpiexec.$mpi -n 4, --io $io" "$tmp/h-$mpi-$io" "$tmp/h-one"
    done
done
for z in z3_w4_bf16 z1_w2_fp16; do
    from_zero=(convert --from zero --to universal --input "$repo/tests/fixtures/deepspeed/$z" --no-report)
    dotnet "$dll" "${from_zero[@]}" --output "$tmp/z-$z-one" >/dev/null
    for mpi in openmpi mpich; do
        for io in direct aggregate; do
            mpiexec.$mpi -n 4 dotnet "$dll" "${from_zero[@]}" --io "$io" --output "$tmp/z-$z-$mpi-$io" >/dev/null
            same_as_single "zero ($z) -> universal, mpiexec.$mpi -n 4, --io $io" "$tmp/z-$z-$mpi-$io" "$tmp/z-$z-one"
        done
    done
done
exit $status
