#!/usr/bin/env bash
# One conversion against a plain copy of the bytes it writes, best of N runs each, alternating copy and conversion.
# Why best of N: on a VM whose guest memory is handed back to the host when free, writing into page cache is fast or
# several times slower depending on whether the pages were freed a moment ago, so one run of each says little; the
# best runs are the ones where both found the same warm pages. tests/bench/convert.sh times one run of each.
# Usage: tests/bench/ratio.sh N RANKS OUTPUT -- ckptmpi convert args (without --output)
# Prints: best copy s, best conversion s, ratio (copy / conversion; >= 1 means as fast as copying the bytes).
set -euo pipefail
n=$1 ranks=$2 out=$3; shift 4
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dotnet build "$repo/src/Ckptmpi/Ckptmpi.csproj" -c Release -nologo -v quiet
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
rm -rf "$out"
bytes=$(dotnet "$dll" convert "$@" --output "$out" --dry-run --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["plan"]["bytes_written"])')
input=""
prev=""
for a in "$@"; do [ "$prev" = "--input" ] && input=$a; prev=$a; done
[ -d "$input" ] || input=$(dirname "$input")
in_bytes=$(du -sb "$input" | cut -f1)
reps=$(( bytes / in_bytes + 1 ))
copy_best=1e9 conv_best=1e9
for _ in $(seq "$n"); do
  rm -rf "$out"; sync
  s=$(date +%s.%N)
  # The input's bytes, read over and over until the conversion's output size is reached, written once and synced.
  for _ in $(seq "$reps"); do find "$input" -type f -print0 | sort -z | xargs -0 cat; done 2>/dev/null | head -c "$bytes" > "$out.copy" || true
  sync
  e=$(date +%s.%N)
  rm -f "$out.copy"
  copy_best=$(/usr/bin/python3 -c "print(min($copy_best, $e - $s))")
  s=$(date +%s.%N)
  if [ "$ranks" -eq 1 ]; then
    dotnet "$dll" convert "$@" --output "$out" >/dev/null 2>&1
  else
    mpiexec.mpich -n "$ranks" dotnet "$dll" convert "$@" --output "$out" >/dev/null 2>&1
  fi
  e=$(date +%s.%N)
  conv_best=$(/usr/bin/python3 -c "print(min($conv_best, $e - $s))")
done
rm -rf "$out"
/usr/bin/python3 -c "c=$copy_best; t=$conv_best; print(f'{$bytes/1e9:.2f} GB written: copy {c:.2f} s, conversion {t:.2f} s, ratio {c/t:.2f} (best of $n)')"
