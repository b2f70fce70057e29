#!/usr/bin/env bash
# HF -> NxDT (tp 8, pp 2, KV replication 2, fused QKV) and back under mpiexec (MPICH and Open MPI, 4 ranks, --io direct
# and aggregate) writes byte-identical output to a plain one-process run (manifests' per-file sizes and CRC-32), and the
# round trip equals the source value by value (`ckptmpi verify --against`). Saved with --xser (the converter's inline
# form: the rank files beside an empty <file>.tensors/ folder each, which rank 0 creates at commit), so every run must
# also leave exactly those empty folders.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/ckptmpi-e2e-nxdt.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

dotnet "$dll" bench-make-model --output "$tmp/hf" --layers 3 --max-shard-size 2MB >/dev/null
layout=(--hw-backend trn1 --qkv-linear --kv-size-multiplier 2 --fuse-qkv --xser)

to_nxdt() { # out io [launcher...]
  local out=$1 io=$2; shift 2
  "$@" dotnet "$dll" convert --from hf --to nxdt --tp-size 8 --pp-size 2 "${layout[@]}" --input "$tmp/hf" --output "$out" --io "$io" --max-buffer 1MiB --no-report >/dev/null
}
to_hf() { # nxdt out io [launcher...]
  local nxdt=$1 out=$2 io=$3; shift 3
  "$@" dotnet "$dll" convert --from nxdt --to hf "${layout[@]}" --input "$nxdt" --output "$out" --io "$io" --max-buffer 1MiB --no-report >/dev/null
}
# shellcheck source=tests/e2e/lib/same_bytes.sh
source "$repo/tests/e2e/lib/same_bytes.sh"
empty_folders() { # NAME DIR: one empty dp_rank_..._pp_rank_PP.pt.tensors/ per rank file (tp 8 x pp 2), nothing else in them
  local n
  n=$(find "$2/model" -name '*.pt.tensors' -type d -empty | wc -l)
  if [ "$n" -eq 16 ] && [ "$(find "$2/model" -mindepth 2 | wc -l)" -eq 0 ]; then echo "PASS $1: 16 empty .pt.tensors folders"
  else echo "FAIL $1: $n empty .pt.tensors folders, expected 16"; status=1; fi
}

to_nxdt "$tmp/n-single" direct
to_hf "$tmp/n-single" "$tmp/hf-single" direct
dotnet "$dll" verify "$tmp/hf-single" --against "$tmp/hf" >/dev/null
echo "single process: $(outputs_of "$tmp/n-single" | wc -l) NxDT files, $(outputs_of "$tmp/hf-single" | wc -l) HF files, round trip verified"
status=0
empty_folders "single process" "$tmp/n-single"
for launcher in mpiexec.mpich mpiexec.openmpi; do
  for io in direct aggregate; do
    to_nxdt "$tmp/n-$launcher-$io" "$io" "$launcher" -n 4
    to_hf "$tmp/n-$launcher-$io" "$tmp/hf-$launcher-$io" "$io" "$launcher" -n 4
    empty_folders "$launcher -n 4 --io $io" "$tmp/n-$launcher-$io"
    for kind in n hf; do
      same_as_single "$launcher -n 4 --io $io ($kind)" "$tmp/$kind-$launcher-$io" "$tmp/$kind-single"
    done
  done
done
exit $status
