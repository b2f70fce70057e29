#!/usr/bin/env bash
# The run report as a person sees it: a 4-rank conversion under mpiexec (MPICH) writes ckptmpi-report.html beside
# the manifest; headless Chromium (Debian's) renders it without a console error, its DOM has one timeline lane and
# one bar row per rank, and a screenshot is kept in artifacts/report-screenshot.png. The numbers in
# ckptmpi-report.json agree with the manifest (files, bytes, plan, per-rank shares).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
command -v chromium >/dev/null || { echo "FAIL chromium is not installed (tests/install-deps.sh installs Debian's chromium)"; exit 1; }
tmp=$(mktemp -d /tmp/ckptmpi-e2e-report.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "FAIL $*"; status=1; }

dotnet "$dll" bench-make-model --output "$tmp/hf" --layers 2 --max-shard-size 2MB >/dev/null
# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
mpiexec.mpich -n 4 dotnet "$dll" convert --from hf --to zero --zero-stage 3 --dp-size 8 "${train[@]}" --input "$tmp/hf" --output "$tmp/out" --max-buffer 1MiB >"$tmp/convert.log" 2>&1
html="$tmp/out/ckptmpi-report.html"
[ -f "$html" ] || { fail "no report beside the manifest"; exit 1; }
grep -q "report:   $html" "$tmp/convert.log" || fail "convert does not print where the report is"

# The numbers: the report agrees with the manifest.
if ! /usr/bin/python3 - "$tmp/out" <<'PY'
import json, sys
d = sys.argv[1]
m = json.load(open(d + "/ckptmpi-manifest.json")); r = json.load(open(d + "/ckptmpi-report.json"))
assert r["ranks"] == 4 and [k["rank"] for k in r["per_rank"]] == [0, 1, 2, 3], "one entry per rank"
assert r["output_files"] == len(m["outputs"]), (r["output_files"], len(m["outputs"]))
assert r["output_bytes"] == sum(o["size"] for o in m["outputs"]), "output bytes"
assert r["plan_hash"] == m["plan"]["hash"], "plan"
assert [k["bytes_written"] for k in r["per_rank"]] == [k["bytes_written"] for k in m["plan"]["per_rank"]], "per-rank shares"
assert sum(k["bytes_written"] for k in r["per_rank"]) == r["output_bytes"]
assert all("phase:write" in k["timeline"] and "write" in k["timeline"] for k in r["per_rank"]), "timelines"
assert r["wall_seconds"] >= m["wall_seconds"] > 0
assert r["mpi"].startswith("MPICH"), r["mpi"]
PY
then fail "the report's numbers disagree with the manifest"; fi

# What a browser shows: no console error, one lane and one bar row per rank, a screenshot.
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$tmp/profile")
timeout 120 "${chrome[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$html" >"$tmp/dom.html" 2>"$tmp/chrome.log" || fail "chromium could not render the report"
lanes=$(grep -o '<g class="lane"' "$tmp/dom.html" | wc -l)
bars=$(grep -o '<g class="rank"' "$tmp/dom.html" | wc -l)
[ "$lanes" -eq 4 ] || fail "the rendered page has $lanes timeline lanes, expected 4"
[ "$bars" -eq 4 ] || fail "the rendered page has $bars rank rows, expected 4"
if grep -E 'CONSOLE|Uncaught|Refused to|ERR_FILE_NOT_FOUND' "$tmp/chrome.log"; then fail "the browser reported errors loading the page"; fi
mkdir -p "$repo/artifacts"
shot="$repo/artifacts/report-screenshot.png"
timeout 120 "${chrome[@]}" --screenshot="$shot" --window-size=1300,1000 "file://$html" >/dev/null 2>&1 || fail "chromium could not take a screenshot"
size=$(stat -c %s "$shot" 2>/dev/null || echo 0)
[ "$size" -gt 20000 ] || fail "the screenshot is $size bytes: nothing rendered"
[ $status -eq 0 ] && echo "PASS report of a 4-rank MPICH run: $lanes lanes, $bars rank rows, no console error, numbers agree with the manifest; screenshot $shot ($size bytes)"
exit $status
