#!/usr/bin/env bash
# Hostile surroundings through the real program, one plain process and mpiexec -n 3 with MPICH and Open MPI: a FIFO
# where a shard is expected (refused at once, never a hang), links planted in the output directory (never written
# through; a linked folder is refused), --overwrite onto a checkpoint ckptmpi did not write (refused, untouched), an
# absurd --max-buffer (usage error), and verify of a manifest listing one file 200,000 times (refused before reading).
# Every rank exits with the same code, every run ends within 60 s.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/ckptmpi-e2e-outdir.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dotnet "$dll" bench-make-model --output "$tmp/hf" --hidden 64 --intermediate 172 --layers 2 --vocab 500 --max-shard-size 200KB >/dev/null

passed=0; failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
# run NAME LAUNCHER WANT FRAGMENT ARGS...: every rank's log must hold FRAGMENT and the job must exit WANT.
run() {
  local name=$1 launcher=$2 want=$3 fragment=$4; shift 4
  local logs="$tmp/logs-$RANDOM$RANDOM" n=1
  [ -n "$launcher" ] && n=3
  # shellcheck disable=SC2086
  timeout 60 $launcher dotnet "$dll" "$@" --log-dir "$logs" >"$logs.out" 2>&1 </dev/null
  local code=$? what="$name [${launcher:-single process}]"
  if [ "$code" -eq 124 ]; then fail "$what: hung (killed after 60 s)"; return 1; fi
  if [ "$code" -ne "$want" ]; then fail "$what: exit $code, expected $want"; tail -3 "$logs.out"; return 1; fi
  if [ -n "$fragment" ]; then
    local count; count=$(grep -lF -- "$fragment" "$logs"/ckptmpi-rank*.log 2>/dev/null | wc -l)
    if [ "$count" -ne "$n" ]; then fail "$what: $count of $n rank logs say '$fragment'"; tail -3 "$logs.out"; return 1; fi
  fi
  echo "PASS $what: exit $code${fragment:+, every rank: $fragment}"
  passed=$((passed + 1))
}

# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
for launcher in "" "mpiexec.mpich -n 3" "mpiexec.openmpi -n 3"; do
  key=${launcher:-plain}; key=${key// /}
  d="$tmp/$key"; mkdir -p "$d"

  cp -r "$tmp/hf" "$d/fifo-in"
  shard=$(ls "$d"/fifo-in/model-00002-*.safetensors); rm "$shard"; mkfifo "$shard"
  run "FIFO shard" "$launcher" 3 "FIFO" convert --from hf --to hf --input "$d/fifo-in" --output "$d/fifo-out"

  mkdir -p "$d/linked-out" "$d/elsewhere"; ln -s "$d/elsewhere" "$d/linked-out/global_step0"
  run "folder link in the output" "$launcher" 5 "symbolic link" convert --from hf --to zero --zero-stage 3 --dp-size 2 "${train[@]}" --input "$tmp/hf" --output "$d/linked-out" \
    && { [ -z "$(ls -A "$d/elsewhere")" ] || fail "folder link [$key]: files landed outside the output"; }

  mkdir -p "$d/tmp-out"; echo precious > "$d/victim"
  for f in "$tmp"/hf/*; do ln -s "$d/victim" "$d/tmp-out/$(basename "$f").tmp"; done
  run "links under temporary names" "$launcher" 0 "" convert --from hf --to hf --input "$tmp/hf" --output "$d/tmp-out" \
    && { [ "$(cat "$d/victim")" = precious ] || fail "temporary links [$key]: written through"; }

  cp -r "$tmp/hf" "$d/foreign"; before=$(find "$d/foreign" -mindepth 1 -printf '%P %s %T@\n' | sort | md5sum)
  run "--overwrite onto a foreign checkpoint" "$launcher" 5 "did not write them" convert --from hf --to hf --max-shard-size 1TB --input "$tmp/hf" --output "$d/foreign" --overwrite \
    && { [ "$before" = "$(find "$d/foreign" -mindepth 1 -printf '%P %s %T@\n' | sort | md5sum)" ] || fail "foreign checkpoint [$key]: changed"; }

  run "absurd --max-buffer" "$launcher" 2 "" convert --from hf --to hf --input "$tmp/hf" --output "$d/x" --max-buffer 9999999999999999999999

  /usr/bin/python3 - "$d/tmp-out" <<'PY'
import json, sys
p = sys.argv[1] + "/ckptmpi-manifest.json"
m = json.load(open(p)); m["outputs"] = m["outputs"][:1] * 200000
json.dump(m, open(p, "w"))
PY
  run "verify of a manifest listing a file 200,000 times" "$launcher" 3 "more than once" verify "$d/tmp-out"
done
echo "output directory and hostile input: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
