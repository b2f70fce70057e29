# shellcheck shell=bash
# Sourced by the convert-*-mpi.sh scripts, which run one conversion as a plain process and again under each MPI
# launcher and I/O mode, and require the same bytes every time.
#   outputs_of DIR                  one line per output file of a finished conversion: path, size, CRC-32 (manifest)
#   same_as_single NAME DIR SINGLE  PASS when DIR holds exactly SINGLE's outputs; else FAIL with the difference, status=1

outputs_of() {
  /usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/ckptmpi-manifest.json")); [print(o["path"], o["size"], o["checksum"]) for o in sorted(m["outputs"], key=lambda o: o["path"])]' "$1"
}

same_as_single() {
  local name=$1 dir=$2 single=$3
  if diff <(outputs_of "$dir") <(outputs_of "$single") >/dev/null; then
    echo "PASS $name: identical to the single-process run"
  else
    echo "FAIL $name differs:"; diff <(outputs_of "$dir") <(outputs_of "$single") | head
    # shellcheck disable=SC2034 # the sourcing script's exit status
    status=1
  fi
}
