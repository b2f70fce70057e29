#!/usr/bin/env bash
# launch/pbs-polaris.sh running a real conversion, as close to PBS Pro as this machine allows (PBS Pro is not
# packaged for Debian): a one-node $PBS_NODEFILE, and a stand-in for Cray PALS `mpiexec` that checks what PALS
# would be asked (-n = nodes x --ppn, --depth, --cpu-bind depth, the environment launch/env.sh exports) and then
# starts the ranks with the real MPICH launcher. The job must form one 4-rank MPI job and its output must verify:
# the same things tests/e2e/slurm-real.sh proves for launch/slurm.sh on a real Slurm.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
work=$(mktemp -d /tmp/ckptmpi-e2e-pbs.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/submit"

cat >"$work/bin/mpiexec" <<'EOF2'
#!/bin/bash
# Cray PALS mpiexec, one node: check the request, then launch it with MPICH's Hydra.
n="" ppn="" depth="" bind=""
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=$2; shift 2 ;;
    --ppn) ppn=$2; shift 2 ;;
    --depth) depth=$2; shift 2 ;;
    --cpu-bind) bind=$2; shift 2 ;;
    --*) echo "stand-in PALS: unexpected option $1" >&2; exit 9 ;;
    *) break ;;
  esac
done
nodes=$(sort -u "$PBS_NODEFILE" | grep -c .)
[ "$n" = "$((nodes * ppn))" ] || { echo "stand-in PALS: -n $n is not nodes ($nodes) x ppn ($ppn)" >&2; exit 9; }
[ "$depth" = "$CKPTMPI_DEPTH" ] || { echo "stand-in PALS: --depth $depth but CKPTMPI_DEPTH=$CKPTMPI_DEPTH" >&2; exit 9; }
[ "$bind" = depth ] || { echo "stand-in PALS: --cpu-bind $bind, expected depth" >&2; exit 9; }
for v in TERM=dumb CKPTMPI_ENV_SOURCED=1 DOTNET_gcServer=0; do
  [ "$(printenv "${v%%=*}")" = "${v#*=}" ] || { echo "stand-in PALS: the environment lacks $v" >&2; exit 9; }
done
echo "stand-in PALS: $nodes node(s) x $ppn rank(s), depth $depth: starting $n ranks with mpiexec.mpich" >&2
exec mpiexec.mpich -n "$n" "$@"
EOF2
chmod +x "$work/bin/mpiexec"
hostname >"$work/nodefile"
dotnet "$dll" bench-make-model --output "$work/hf" --layers 2 --max-shard-size 2MB >/dev/null

# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
log="$work/job.log"
if ! (cd "$work/submit" && env -i HOME="$HOME" PATH="$work/bin:$PATH" PBS_NODEFILE="$work/nodefile" PBS_O_WORKDIR="$repo" \
      CKPTMPI_BIN="$dll" CKPTMPI_RANKS_PER_NODE=4 CKPTMPI_DEPTH=1 CKPTMPI_INPUT="$work/hf" CKPTMPI_OUTPUT="$work/out" \
      bash "$repo/launch/pbs-polaris.sh" -- convert --from hf --to zero --zero-stage 3 --dp-size 8 "${train[@]}") >"$log" 2>&1; then
  echo "FAIL the job failed:"; tail -15 "$log"; exit 1
fi
status=0
grep -q "starting 4 ranks" "$log" || { echo "FAIL the launcher was not asked for 4 ranks"; status=1; }
grep -q "\[r0/4@" "$log" || { echo "FAIL the ranks did not form one 4-rank MPI job"; status=1; }
grep -q "on 4 rank(s)" "$log" || { echo "FAIL the conversion did not run on 4 ranks"; status=1; }
dotnet "$dll" verify "$work/out" >/dev/null 2>&1 || { echo "FAIL the output does not verify"; status=1; }
[ $status -eq 0 ] && echo "PASS launch/pbs-polaris.sh: 1 node x 4 ranks (depth 1) through PALS-style mpiexec, one MPI job, the output verifies"
exit $status
