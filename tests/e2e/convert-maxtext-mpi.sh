#!/usr/bin/env bash
# HF -> MaxText (bf16 scanned and AQT int8) under mpiexec (MPICH and Open MPI, 4 ranks; each kind runs both MPIs and
# both --io modes between them, to stay quick) writes byte-identical output to a plain one-process run, compared through the manifests' per-file sizes and
# CRC-32; the one-process output equals MaxText's own converter tree (check_maxtext.py) and has _METADATA.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
fixtures="$repo/tests/fixtures/maxtext"
checker="$repo/tests/Ckptmpi.Tests/Formats/MaxText/check_maxtext.py"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/ckptmpi-e2e-maxtext.XXXXXX)
# shellcheck disable=SC2317 # called by the EXIT trap
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -f "$tmp/stderr.log" ]; then tail -20 "$tmp/stderr.log" >&2; fi
  rm -rf "$tmp"
}
trap on_exit EXIT

to_maxtext() { # out io extra-options [launcher...]
  local out=$1 io=$2 extra=$3; shift 3
  # shellcheck disable=SC2086 # extra holds several options
  "$@" dotnet "$dll" convert --from hf --to maxtext --maxtext-model llama3.1-8b --input "$fixtures/hf/l3" --output "$out" \
    --io "$io" --max-buffer 64KiB --maxtext-chunk-size 2KiB --no-report $extra >/dev/null
}
# shellcheck source=tests/e2e/lib/same_bytes.sh
source "$repo/tests/e2e/lib/same_bytes.sh"

status=0
for kind in bf16 int8; do
  extra=""; ref="l3_llama3.1-8b_scanned.npz"
  if [ "$kind" = int8 ]; then extra="--quantize int8"; ref="l3_llama3.1-8b_unscanned_int8.npz"; fi
  to_maxtext "$tmp/$kind-single" direct "$extra" 2>>"$tmp/stderr.log"
  /usr/bin/python3 "$checker" "$tmp/$kind-single" "$fixtures/$ref" >/dev/null
  echo "single process ($kind): $(outputs_of "$tmp/$kind-single" | wc -l) files, equal to MaxText's tree"
  runs="mpiexec.mpich:direct mpiexec.openmpi:aggregate"
  [ "$kind" = int8 ] && runs="mpiexec.mpich:aggregate mpiexec.openmpi:direct"
  for run in $runs; do
    launcher=${run%%:*} io=${run#*:}
    to_maxtext "$tmp/$kind-$launcher-$io" "$io" "$extra" "$launcher" -n 4 2>>"$tmp/stderr.log"
    [ -f "$tmp/$kind-$launcher-$io/_METADATA" ] || { echo "FAIL $launcher -n 4 --io $io ($kind): no _METADATA"; status=1; }
    same_as_single "$launcher -n 4 --io $io ($kind)" "$tmp/$kind-$launcher-$io" "$tmp/$kind-single"
  done
done
exit $status
