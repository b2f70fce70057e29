#!/usr/bin/env bash
# ckptmpi convert under mpiexec (MPICH and Open MPI, 4 ranks, --io direct and aggregate) writes byte-identical
# output to a plain one-process run, HF -> ZeRO-3 (dp 8) and back ZeRO -> HF; compared through the manifests'
# per-file sizes and CRC-32, and the round trip checked value by value with `ckptmpi verify --against`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/ckptmpi-e2e-convert.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

dotnet "$dll" bench-make-model --output "$tmp/hf" --layers 2 --max-shard-size 2MB >/dev/null

# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
to_zero() { # out io [launcher...]
  local out=$1 io=$2; shift 2
  "$@" dotnet "$dll" convert --from hf --to zero --zero-stage 3 --dp-size 8 "${train[@]}" --input "$tmp/hf" --output "$out" --io "$io" --max-buffer 1MiB >/dev/null
}
to_hf() { # zero out io [launcher...]
  local zero=$1 out=$2 io=$3; shift 3
  "$@" dotnet "$dll" convert --from zero --to hf --dtype bf16 --max-shard-size 3MB --input "$zero" --output "$out" --io "$io" --max-buffer 1MiB >/dev/null
}
# shellcheck source=tests/e2e/lib/same_bytes.sh
source "$repo/tests/e2e/lib/same_bytes.sh"

to_zero "$tmp/z-single" direct
to_hf "$tmp/z-single" "$tmp/hf-single" direct
dotnet "$dll" verify "$tmp/hf-single" --against "$tmp/hf" >/dev/null
echo "single process: $(outputs_of "$tmp/z-single" | wc -l) ZeRO files, $(outputs_of "$tmp/hf-single" | wc -l) HF files, round trip verified"
status=0
for launcher in mpiexec.mpich mpiexec.openmpi; do
  for io in direct aggregate; do
    to_zero "$tmp/z-$launcher-$io" "$io" "$launcher" -n 4
    to_hf "$tmp/z-$launcher-$io" "$tmp/hf-$launcher-$io" "$io" "$launcher" -n 4
    for kind in z hf; do
      same_as_single "$launcher -n 4 --io $io ($kind)" "$tmp/$kind-$launcher-$io" "$tmp/$kind-single"
    done
  done
done
exit $status
