#!/usr/bin/env bash
# usage: fsize_rank.sh RANK KIB [--] command...
# Runs the command; on rank RANK (OMPI_COMM_WORLD_RANK or PMI_RANK; 0 in a plain process) under a file-size limit of
# KIB KiB (ulimit -f) with SIGXFSZ ignored, so the first write or pre-sizing past it fails with EFBIG ("File too
# large") like a full disk would, on that rank only.
set -euo pipefail
victim=$1 kib=$2; shift 2; [ "$1" = -- ] && shift
if [ "${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}" = "$victim" ]; then
  ulimit -f "$kib"
  trap '' XFSZ
fi
exec "$@"
