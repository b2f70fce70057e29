#!/usr/bin/env bash
# A job stopped from outside: SIGTERM (scancel, qdel, walltime) to a plain process and to mpiexec (MPICH, Open MPI)
# stops every rank at a safe point with a clear message and exit 143, writes no manifest and no 'latest', keeps the
# journal, and `--resume` then finishes to the same bytes as a clean run. A launcher killed outright (SIGKILL) leaves
# no rank that later commits. A second job started on an output that a running job holds is refused (exit 5).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/ckptmpi-e2e-signals.XXXXXX)
trap 'pkill -KILL -f "ckptmpi.dll convert.*$tmp" 2>/dev/null || true; rm -rf "$tmp"' EXIT

# About 150 MB of bf16 weights, converted in 64 KiB pieces: a few seconds, thousands of journal lines.
dotnet "$dll" bench-make-model --output "$tmp/hf" --hidden 1024 --intermediate 2816 --layers 4 --vocab 16000 --max-shard-size 50MB >/dev/null
# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
args=(convert --from hf --to zero --zero-stage 3 --dp-size 8 "${train[@]}" --input "$tmp/hf" --max-buffer 64KiB)
outputs_of() { /usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/ckptmpi-manifest.json")); [print(o["path"], o["size"], o["checksum"]) for o in sorted(m["outputs"], key=lambda o: o["path"])]' "$1"; }
dotnet "$dll" "${args[@]}" --output "$tmp/clean" >/dev/null
outputs_of "$tmp/clean" > "$tmp/clean.txt"

status=0
fail() { echo "FAIL $*"; status=1; }
launch() { # launcher output log: starts the conversion in the background, sets $job
  if [ "$1" = plain ]; then dotnet "$dll" "${args[@]}" --output "$2" >"$3" 2>&1 &
  else "$1" -n 3 dotnet "$dll" "${args[@]}" --output "$2" >"$3" 2>&1 &
  fi
  job=$!
}
wait_for_pieces() { # output: until the journal holds a few pieces (the job is writing), at most 60 s
  for _ in $(seq 1 3000); do
    [ "$(cat "$1"/.ckptmpi-journal/rank-*.jsonl 2>/dev/null | wc -l)" -ge 2 ] && return 0
    sleep 0.02
  done
  return 1
}
# Until every thread of every rank writing to OUTPUT is stopped: SIGSTOP takes effect per thread on its way out of
# the kernel, and a thread still running could take a SIGTERM sent meanwhile, leaving nothing pending to wait for.
all_stopped() {
  local pid running
  for _ in $(seq 1 400); do
    running=0
    for pid in $(pgrep -f "^dotnet .*ckptmpi.dll convert.*--output $1"); do
      if grep -qv '^[^)]*) [tTZX]' /proc/"$pid"/task/*/stat 2>/dev/null; then running=1; fi
    done
    [ "$running" -eq 0 ] && return 0
    sleep 0.05
  done
  return 1
}
# term_reached_ranks OUTPUT [refreeze]: until every rank of the job writing to OUTPUT holds a pending SIGTERM (bit 15 of
# ShdPnd, the process-wide pending set, in /proc/PID/status) or runs again. A fixed sleep was not enough: on a loaded machine the
# launcher forwarded the signal after the ranks were thawed and had finished. And Open MPI's mpirun sends SIGCONT
# first and SIGTERM about a second later, time enough for a small job on an idle machine to finish: with 'refreeze', a
# rank the launcher thaws without the signal is frozen again until the signal is there.
term_reached_ranks() {
  local pid pnd state waiting
  for _ in $(seq 1 400); do
    waiting=0
    for pid in $(pgrep -f "^dotnet .*ckptmpi.dll convert.*--output $1"); do
      pnd=$(awk '/^ShdPnd:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
      state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
      [ -n "$pnd" ] || continue
      [ $(( 0x$pnd & 0x4000 )) -ne 0 ] && continue
      if [ "$state" = T ]; then waiting=1
      elif [ "$2" = refreeze ]; then waiting=1; kill -STOP "$pid" 2>/dev/null || true
      fi
    done
    [ "$waiting" -eq 0 ] && return 0
    sleep 0.05
  done
  return 1
}
no_rank_left() { for _ in $(seq 1 40); do pgrep -f "ckptmpi.dll convert.*$1" >/dev/null || return 0; sleep 0.5; done; return 1; }
resume_and_compare() { # launcher output name
  local pre=()
  [ "$1" != plain ] && pre=("$1" -n 3)
  if ! "${pre[@]}" dotnet "$dll" "${args[@]}" --output "$2" --resume >"$2.resume.log" 2>&1; then fail "$3: --resume failed"; tail -5 "$2.resume.log"; return; fi
  if ! diff <(outputs_of "$2") "$tmp/clean.txt" >/dev/null; then fail "$3: resumed output differs from the clean run"; return; fi
  dotnet "$dll" verify "$2" >/dev/null 2>&1 || fail "$3: verify failed after resume"
  [ -e "$2/ckptmpi.lock" ] && fail "$3: lock left after a successful resume"
  echo "PASS $3: resumed to the clean run's bytes, verify OK"
}

for launcher in plain mpiexec.mpich mpiexec.openmpi; do
  name="SIGTERM to $launcher"
  out="$tmp/term-${launcher#mpiexec.}"
  launch "$launcher" "$out" "$out.log"
  wait_for_pieces "$out" || { fail "$name: the job never started writing"; kill -KILL "$job"; continue; }
  # Freeze the ranks, signal the launcher, let it forward the signal, then thaw: a fast machine cannot finish the
  # conversion between the check above and the signal's arrival.
  pkill -STOP -f "^dotnet .*ckptmpi.dll convert.*--output $out" || true
  all_stopped "$out" || fail "$name: the ranks did not stop within 20 s"
  [ -e "$out/ckptmpi-manifest.json" ] && fail "$name: the job finished before it could be signalled (the check is void)"
  kill -TERM "$job"
  # A rank may take the signal in the moment between a launcher's SIGCONT and our freezing it again; then nothing stays
  # pending and the wait runs out, and what the job did is judged below as usual.
  refreeze=""; [ "$launcher" = mpiexec.openmpi ] && refreeze=refreeze
  term_reached_ranks "$out" "$refreeze" || echo "NOTE $name: SIGTERM was not seen pending on every rank within 20 s"
  pkill -CONT -f "^dotnet .*ckptmpi.dll convert.*--output $out" || true
  set +e; wait "$job"; code=$?; set -e
  # Open MPI's mpirun reports its own code (1) for a job it terminated; the ranks' 143 is in the log.
  if [ "$launcher" = mpiexec.openmpi ]; then [ "$code" -ne 0 ] || fail "$name: exit 0"; else [ "$code" -eq 143 ] || fail "$name: exit $code, expected 143"; fi
  # Open MPI's mpirun, on SIGTERM, sends the ranks SIGCONT, SIGTERM a second later and SIGKILL a second after that
  # (strace of mpirun): a rank may be killed before it logs or releases the lock, which --resume takes over as stale.
  # What must hold with every launcher: nothing that looks complete, and --resume finishing to the clean bytes.
  if [ "$launcher" != mpiexec.openmpi ]; then
    grep -q "interrupted by SIGTERM" "$out.log" || { fail "$name: no 'interrupted by SIGTERM' in the log"; tail -5 "$out.log"; }
    [ -e "$out/ckptmpi.lock" ] && fail "$name: lock left behind by a clean stop"
  fi
  [ -e "$out/ckptmpi-manifest.json" ] && fail "$name: manifest written"
  [ -e "$out/latest" ] && fail "$name: 'latest' written"
  [ -d "$out/.ckptmpi-journal" ] || fail "$name: journal removed"
  no_rank_left "$out" || fail "$name: ranks still running"
  echo "PASS $name: exit $code, stopped at a safe point"
  resume_and_compare "$launcher" "$out" "$name"
done

for launcher in mpiexec.mpich mpiexec.openmpi; do
  name="SIGKILL to $launcher"
  out="$tmp/kill-${launcher#mpiexec.}"
  launch "$launcher" "$out" "$out.log"
  wait_for_pieces "$out" || { fail "$name: the job never started writing"; kill -KILL "$job"; continue; }
  kill -KILL "$job"
  wait "$job" || true
  no_rank_left "$out" || fail "$name: ranks still running 20 s after their launcher died"
  [ -e "$out/ckptmpi-manifest.json" ] && fail "$name: an orphaned rank wrote the manifest"
  [ -e "$out/latest" ] && fail "$name: an orphaned rank committed 'latest'"
  echo "PASS $name: no rank outlived its launcher to commit"
  resume_and_compare "$launcher" "$out" "$name"
done

# A second job on an output a running job holds (a requeued job racing the old one).
out="$tmp/race"
launch mpiexec.mpich "$out" "$out.first.log"
first=$job
wait_for_pieces "$out" || fail "race: the first job never started writing"
# Freeze the first job's ranks while the second starts, so it cannot finish first on a busy machine.
pkill -STOP -f "ckptmpi.dll convert.*$out" || true
set +e; dotnet "$dll" "${args[@]}" --output "$out" --resume >"$out.second.log" 2>&1; code=$?; set -e
pkill -CONT -f "ckptmpi.dll convert.*$out" || true
[ "$code" -eq 5 ] || { fail "race: the second job exited $code, expected 5"; cat "$out.second.log"; }
grep -q "another conversion is writing here" "$out.second.log" || fail "race: the second job's message does not name the holder"
if wait "$first"; then
  diff <(outputs_of "$out") "$tmp/clean.txt" >/dev/null || fail "race: the first job's output differs from the clean run"
  echo "PASS race: the second job was refused (exit 5) and the first finished intact"
else
  fail "race: the first job failed"; tail -5 "$out.first.log"
fi
exit $status
