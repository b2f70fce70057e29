#!/usr/bin/env bash
# Meta's layout under mpiexec (MPICH and Open MPI, 4 ranks, --io direct and aggregate): meta -> hf of the fixture whose
# KV heads are stored twice (MP 4) and hf -> meta at MP 4 write byte-identical output to a plain one-process run
# (manifests' sizes and CRC-32), and the meta -> hf output equals transformers' (`ckptmpi verify --against`).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
fixtures="$repo/tests/fixtures/meta"
tmp=$(mktemp -d /tmp/ckptmpi-e2e-meta.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

to_hf() { # out io [launcher...]
  local out=$1 io=$2; shift 2
  "$@" dotnet "$dll" convert --from meta --to hf --input "$fixtures/l3_mp4_kvdup" --output "$out" --io "$io" --max-buffer 64KiB >/dev/null 2>&1
}
to_meta() { # out io [launcher...]
  local out=$1 io=$2; shift 2
  "$@" dotnet "$dll" convert --from hf --to meta --mp-size 4 --input "$fixtures/hf/l3" --output "$out" --io "$io" --max-buffer 64KiB >/dev/null 2>&1
}
# shellcheck source=tests/e2e/lib/same_bytes.sh
source "$repo/tests/e2e/lib/same_bytes.sh"

to_hf "$tmp/hf-single" direct
to_meta "$tmp/meta-single" direct
dotnet "$dll" verify "$tmp/hf-single" --against "$fixtures/hf/l3" >/dev/null 2>&1
echo "single process: meta -> hf equals transformers' output; hf -> meta wrote $(outputs_of "$tmp/meta-single" | wc -l) files"
status=0
for launcher in mpiexec.mpich mpiexec.openmpi; do
  for io in direct aggregate; do
    to_hf "$tmp/hf-$launcher-$io" "$io" "$launcher" -n 4
    to_meta "$tmp/meta-$launcher-$io" "$io" "$launcher" -n 4
    for kind in hf meta; do
      same_as_single "$launcher -n 4 --io $io ($kind)" "$tmp/$kind-$launcher-$io" "$tmp/$kind-single"
    done
  done
done
exit $status
