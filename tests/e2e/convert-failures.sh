#!/usr/bin/env bash
# Failures are collective and leave nothing that looks complete: under mpiexec -n 4 a missing or
# truncated shard makes every rank report the same error and exit non-zero, with no manifest, no 'latest' and no
# temporary file left; an output directory holding a checkpoint is refused without --overwrite and replaced with it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/ckptmpi-e2e-fail.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "FAIL $*"; status=1; }

dotnet "$dll" bench-make-model --output "$tmp/hf" --layers 2 --max-shard-size 2MB >/dev/null
# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
convert() { dotnet "$dll" convert --from hf --to zero --zero-stage 3 --dp-size 4 "${train[@]}" --input "$1" --output "$2" "${@:3}"; }

# 1. A truncated shard, 4 ranks: same message on every rank, non-zero exit, nothing left behind.
cp -r "$tmp/hf" "$tmp/trunc"
shard=$(find "$tmp/trunc" -name 'model-00002-*.safetensors')
truncate -s 100000 "$shard"
set +e
mpiexec.mpich -n 4 dotnet "$dll" convert --from hf --to zero --zero-stage 3 --dp-size 4 "${train[@]}" --input "$tmp/trunc" --output "$tmp/out1" --log-dir "$tmp/logs1" >"$tmp/log1" 2>&1
code=$?
set -e
# Hydra forwards the ranks' streams concurrently and may splice one rank's line into another's, so read each rank's
# own log file (--log-dir), not the combined stream.
read -r errors distinct < <(/usr/bin/python3 -c 'import glob,re,sys; m=[x for f in sorted(glob.glob(sys.argv[1]+"/ckptmpi-rank*.log")) for x in re.findall(r"ERR (rank \d+ failed: .*?truncated)", open(f).read())]; print(len(m), len(set(m)))' "$tmp/logs1")
[ "$code" -ne 0 ] || fail "truncated shard: exit code 0"
{ [ "$errors" -eq 4 ] && [ "$distinct" -eq 1 ]; } || fail "truncated shard: expected the same error on 4 ranks, got $errors lines, $distinct distinct"
grep -q 'model-00002' "$tmp/log1" || fail "truncated shard: the message does not name the file"
[ -z "$(find "$tmp/out1" -type f 2>/dev/null)" ] || fail "truncated shard: files left in the output: $(find "$tmp/out1" -type f | head -3)"
[ $status -eq 0 ] && echo "PASS truncated shard under mpiexec -n 4: exit $code, the same message on all 4 ranks"

# 2. A missing shard named by the index: bad input (exit 3) in a plain process.
cp -r "$tmp/hf" "$tmp/missing"
rm "$(find "$tmp/missing" -name 'model-00001-*.safetensors')"
set +e; convert "$tmp/missing" "$tmp/out2" >/dev/null 2>"$tmp/log2"; code=$?; set -e
[ "$code" -eq 3 ] || fail "missing shard: exit $code, expected 3"
[ ! -e "$tmp/out2/latest" ] || fail "missing shard: 'latest' was written"
[ "$code" -eq 3 ] && echo "PASS missing shard: exit 3: $(head -1 "$tmp/log2" | sed 's/^.* ERR //')"

# 3. An existing checkpoint: refused (exit 5) without --overwrite, replaced with it.
convert "$tmp/hf" "$tmp/out3" >/dev/null
set +e; convert "$tmp/hf" "$tmp/out3" >/dev/null 2>"$tmp/log3"; code=$?; set -e
[ "$code" -eq 5 ] || fail "existing output: exit $code, expected 5"
grep -q -- '--overwrite' "$tmp/log3" || fail "existing output: message does not mention --overwrite"
convert "$tmp/hf" "$tmp/out3" --overwrite >/dev/null || fail "--overwrite did not replace the checkpoint"
dotnet "$dll" verify "$tmp/out3" >/dev/null || fail "the overwritten checkpoint does not verify"
[ "$code" -eq 5 ] && echo "PASS existing output refused (exit 5) and replaced with --overwrite"
exit $status
