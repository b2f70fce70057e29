#!/usr/bin/env bash
# launch/slurm.sh on a real Slurm: a one-node cluster from Debian's slurm-wlm and munge (slurmctld + slurmd on this
# host, loopback ports, a config written here, no cgroups) runs `sbatch launch/slurm.sh` for an HF -> ZeRO-3
# conversion on 4 tasks, once with MPICH through `srun --mpi=pmi2` and once with Open MPI through
# `srun --mpi=pmix`; each job's output must verify and its log must show 4 ranks. The cluster is torn down
# afterwards, also on failure. Exit 77 (skipped) only where the packages are not installed and cannot be.
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
for tool in slurmctld slurmd munged mungekey sbatch sinfo; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool is not installed (tests/install-deps.sh installs slurm-wlm and munge where apt can)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "skipped: starting slurmd needs root"; exit 77; }

tmp=$(mktemp -d /tmp/ckptmpi-e2e-slurm.XXXXXX)
chmod 755 "$tmp"
host=$(hostname -s)
export SLURM_CONF="$tmp/etc/slurm.conf"
# shellcheck disable=SC2317 # called by the EXIT trap
teardown() {
  scancel --full -u root >/dev/null 2>&1 || true
  [ -f "$tmp/slurmd.pid" ] && kill "$(cat "$tmp/slurmd.pid")" 2>/dev/null
  [ -f "$tmp/slurmctld.pid" ] && kill "$(cat "$tmp/slurmctld.pid")" 2>/dev/null
  [ -f "$tmp/munge/munged.pid" ] && kill "$(cat "$tmp/munge/munged.pid")" 2>/dev/null
  sleep 1
  pkill -KILL -f "slurm.*$tmp" 2>/dev/null || true
  pkill -KILL -f "munged.*$tmp" 2>/dev/null || true
  rm -rf "$tmp"
}
trap teardown EXIT
status=0
fail() { echo "FAIL $*"; status=1; }

# munge: a key and a daemon of our own (socket in $tmp), so nothing on the machine is touched.
mkdir -p "$tmp/munge" "$tmp/etc" "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/jobs"
chmod 700 "$tmp/munge"
mungekey --create --keyfile="$tmp/munge/munge.key" --force >/dev/null 2>&1 || { echo "FAIL mungekey"; exit 1; }
munged --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/munge.socket" --pid-file="$tmp/munge/munged.pid" \
  --log-file="$tmp/munge/munged.log" --seed-file="$tmp/munge/seed" --force || { echo "FAIL munged did not start"; cat "$tmp/munge/munged.log"; exit 1; }

# A node with 4 CPUs whatever the machine has (config_overrides): the 4 tasks may share 2 cores.
cat >"$SLURM_CONF" <<CONF
ClusterName=ckptmpi-e2e
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 RealMemory=4000 State=UNKNOWN
PartitionName=e2e Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -f "$SLURM_CONF" || { echo "FAIL slurmctld did not start"; cat "$tmp/log/slurmctld.log"; exit 1; }
slurmd -f "$SLURM_CONF" -N "$host" || { echo "FAIL slurmd did not start"; cat "$tmp/log/slurmd.log"; exit 1; }
for _ in $(seq 1 60); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -1)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || { echo "FAIL the node never became idle (state '$state')"; tail -20 "$tmp/log/slurmctld.log" "$tmp/log/slurmd.log"; exit 1; }
echo "one-node Slurm $(sinfo --version | cut -d' ' -f2) up on $host"

dotnet "$dll" bench-make-model --output "$tmp/jobs/hf" --layers 2 --max-shard-size 2MB >/dev/null

# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
# job NAME MPI_PLUGIN MPI_LIB
job() {
  local name=$1 plugin=$2 lib=$3 out="$tmp/jobs/out-$1"
  local id
  id=$(cd "$repo" && sbatch --parsable --wait --nodes=1 --ntasks-per-node=4 --cpus-per-task=1 --time=00:05:00 \
        --output="$tmp/jobs/$name-%j.log" \
        --export="ALL,CKPTMPI_BIN=$dll,CKPTMPI_SRUN_MPI=$plugin,CKPTMPI_MPI_LIB=$lib,CKPTMPI_INPUT=$tmp/jobs/hf,CKPTMPI_OUTPUT=$out,OMPI_ALLOW_RUN_AS_ROOT=1,OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" \
        launch/slurm.sh -- convert --from hf --to zero --zero-stage 3 --dp-size 8 "${train[@]}")
  local rc=$? log
  log=$(find "$tmp/jobs" -maxdepth 1 -name "$name-*.log" | head -1)
  if [ "$rc" -ne 0 ]; then fail "$name: sbatch --wait exited $rc (job ${id:-?})"; [ -n "$log" ] && tail -15 "$log"; return; fi
  dotnet "$dll" verify "$out" >/dev/null 2>&1 || { fail "$name: the output does not verify"; tail -15 "$log"; return; }
  grep -q "srun .*--ntasks=4 .*--mpi=$plugin" "$log" || { fail "$name: the log does not show the srun line"; tail -5 "$log"; return; }
  grep -q "on 4 rank(s)" "$log" || { fail "$name: the conversion did not run on 4 ranks"; tail -5 "$log"; return; }
  grep -q "\[r0/4@" "$log" || { fail "$name: rank 0 is not rank 0 of 4 (the ranks did not form one MPI job)"; return; }
  echo "PASS $name: sbatch launch/slurm.sh (job $id) ran 4 ranks through srun --mpi=$plugin; the output verifies"
}
job mpich pmi2 /usr/lib/x86_64-linux-gnu/libmpich.so.12
job openmpi pmix /usr/lib/x86_64-linux-gnu/libmpi.so.40
exit $status
