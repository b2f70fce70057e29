#!/bin/bash
# Converts a PBS nodefile (one host per line; a host may repeat, once per mpiprocs slot) into an
# Open MPI or MPICH Hydra hostfile, on stdout. Hosts keep the order of their first appearance.
#
#   hostfiles/from-pbs-nodefile.sh [--format openmpi|hydra] [--slots N] [NODEFILE]
#
#   --format openmpi   "host slots=N"   (mpirun --hostfile FILE)        [default]
#   --format hydra     "host:N"         (mpiexec.hydra -f FILE; Intel MPI -machinefile FILE)
#   --slots N          N slots on every host; default: how often the host appears in NODEFILE
#   NODEFILE           default: $PBS_NODEFILE
# Blank lines and lines starting with # are skipped; surrounding blanks are trimmed.
#
# Example inside a PBS job, 12 ranks per node with Open MPI:
#   hostfiles/from-pbs-nodefile.sh --slots 12 > hosts && mpirun --hostfile hosts -n 48 ckptmpi mpi-info
set -euo pipefail

die() {
  echo "from-pbs-nodefile: error: $*" >&2
  exit 2
}

format=openmpi
slots=""
nodefile=""
while [ "$#" -gt 0 ]; do
  case $1 in
    --format) [ "$#" -ge 2 ] || die "--format needs a value (openmpi or hydra)"; format=$2; shift 2 ;;
    --format=*) format=${1#--format=}; shift ;;
    --slots) [ "$#" -ge 2 ] || die "--slots needs a value"; slots=$2; shift 2 ;;
    --slots=*) slots=${1#--slots=}; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$nodefile" ] || die "more than one NODEFILE given"; nodefile=$1; shift ;;
  esac
done

case $format in
  openmpi | hydra) ;;
  *) die "--format must be openmpi or hydra (got '$format')" ;;
esac
case $slots in
  '') ;;
  *[!0-9]* | 0*) die "--slots must be a whole number >= 1 (got '$slots')" ;;
esac
if [ -z "$nodefile" ]; then
  nodefile=${PBS_NODEFILE:-}
  [ -n "$nodefile" ] || die "no NODEFILE given and PBS_NODEFILE is not set"
fi
if [ ! -f "$nodefile" ] || [ ! -r "$nodefile" ]; then
  die "cannot read nodefile $nodefile"
fi

awk -v format="$format" -v slots="$slots" -v file="$nodefile" '
  { sub(/^[ \t\r]+/, ""); sub(/[ \t\r]+$/, "") }
  $0 == "" || /^#/ { next }
  /[ \t:,=]/ {
    printf "from-pbs-nodefile: error: %s line %d: \"%s\" is not a host name\n", file, NR, $0 > "/dev/stderr"
    bad = 1; exit 2
  }
  !($0 in count) { order[++n] = $0 }
  { count[$0]++ }
  END {
    if (bad) exit 2
    if (n == 0) { printf "from-pbs-nodefile: error: %s lists no hosts\n", file > "/dev/stderr"; exit 2 }
    for (i = 1; i <= n; i++) {
      h = order[i]; s = (slots != "") ? slots : count[h]
      if (format == "hydra") print h ":" s; else print h " slots=" s
    }
  }' "$nodefile"
