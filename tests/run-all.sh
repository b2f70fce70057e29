#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, runs every NUnit test and every
# end-to-end check (tests/e2e/*.sh), and ends with one line "N passed, N failed", followed by ", N skipped" when
# tests were skipped (an absent optional peer, a missing MPI launcher): skipped is never counted as passed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1

bash tests/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 TERM=dumb
# Open MPI refuses root and more ranks than cores unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

if ! dotnet build Converter.sln -c Release -nologo -v quiet; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

results="$repo/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"
dotnet test Converter.sln -c Release --no-build --logger "trx;LogFileName=nunit.trx" --results-directory "$results" 2>&1 | tee "$results/nunit.log"
test_rc=${PIPESTATUS[0]}
trx="$results/nunit.trx"
nunit_passed=0; nunit_failed=0; nunit_skipped=0
if [ -f "$trx" ]; then
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  nunit_passed=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  nunit_failed=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  errors=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
  nunit_failed=$(( ${nunit_failed:-0} + ${errors:-0} ))
  # The trx logger counts ignored tests in notExecuted, or (some versions) only as total minus executed.
  total=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
  executed=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  not_executed=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters")
  nunit_skipped=$(( ${total:-0} - ${executed:-0} ))
  [ "${not_executed:-0}" -gt "$nunit_skipped" ] && nunit_skipped=$not_executed
else
  nunit_failed=1
fi
# A crashed test host ("Test Run Aborted") leaves a trx that counts only the tests run before the crash:
# whatever the counters say, a non-zero exit of dotnet test is a failure.
if [ "$test_rc" -ne 0 ] && [ "${nunit_failed:-0}" -eq 0 ]; then
  echo "dotnet test exited with $test_rc (test host crashed or run aborted): counted as a failure"
  nunit_failed=1
fi

e2e_passed=0; e2e_failed=0; e2e_skipped=0
for check in tests/e2e/*.sh; do
  [ -e "$check" ] || continue
  name=$(basename "$check" .sh)
  start=$(date +%s)
  bash "$check" >"$results/e2e-$name.log" 2>&1
  rc=$?
  if [ "$rc" -eq 77 ]; then
    # 77 (the automake convention): the check cannot run here, and says why on its last line.
    e2e_skipped=$((e2e_skipped + 1)); echo "e2e SKIP $name: $(tail -1 "$results/e2e-$name.log")"
  elif [ "$rc" -eq 0 ]; then
    e2e_passed=$((e2e_passed + 1)); echo "e2e PASS $name ($(( $(date +%s) - start ))s)"
  else
    e2e_failed=$((e2e_failed + 1)); echo "e2e FAIL $name ($(( $(date +%s) - start ))s); last lines of its log:"
    tail -20 "$results/e2e-$name.log" | sed 's/^/    /'
  fi
done

passed=$(( ${nunit_passed:-0} + e2e_passed )); failed=$(( ${nunit_failed:-0} + e2e_failed ))
skipped=$(( nunit_skipped + e2e_skipped ))
echo "NUnit: ${nunit_passed:-0} passed, ${nunit_failed:-0} failed, $nunit_skipped skipped; end-to-end: $e2e_passed passed, $e2e_failed failed, $e2e_skipped skipped"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
