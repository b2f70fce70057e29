#!/usr/bin/env bash
# ckptmpi convert under mpiexec (MPICH and Open MPI, 4 ranks) writes byte-identical output to a plain
# one-process run, for both --io modes: compared through the manifests' per-file CRC-32 and sizes.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/ckptmpi-e2e-convert.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

dotnet "$dll" bench-make-model --output "$tmp/hf" --layers 2 --max-shard-size 2MB >/dev/null

# The target: ZeRO-3 dp 8 when this build has the ZeRO writer, otherwise HF fp32 resharded.
if dotnet "$dll" convert --help | grep -q "zero ("; then
  target=(--to zero --zero-stage 3 --dp-size 8)
else
  target=(--to hf --dtype fp32 --max-shard-size 3MB)
fi

convert() { # launcher... -- output io
  local out=$1 io=$2; shift 2
  "$@" dotnet "$dll" convert --from hf "${target[@]}" --input "$tmp/hf" --output "$out" --io "$io" --max-buffer 1MiB >/dev/null
}
outputs_of() { /usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/ckptmpi-manifest.json")); [print(o["path"], o["size"], o["checksum"]) for o in sorted(m["outputs"], key=lambda o: o["path"])]' "$1"; }

convert "$tmp/single" direct
outputs_of "$tmp/single" > "$tmp/single.txt"
echo "single process: $(wc -l < "$tmp/single.txt") files"
status=0
for launcher in mpiexec.mpich mpiexec.openmpi; do
  for io in direct aggregate; do
    out="$tmp/$launcher-$io"
    convert "$out" "$io" "$launcher" -n 4
    if diff <(outputs_of "$out") "$tmp/single.txt" >/dev/null; then
      echo "PASS $launcher -n 4 --io $io: identical to the single-process run"
    else
      echo "FAIL $launcher -n 4 --io $io differs:"; diff <(outputs_of "$out") "$tmp/single.txt" | head; status=1
    fi
  done
done
exit $status
