#!/usr/bin/env bash
# Benchmark of `ckptmpi estimate` on config-only inputs (Llama-3.3-70B and Llama-3.1-405B):
# process wall time (dotnet start-up included) and the in-process compute time the command reports
# in its --json output (load config.json, derive tensors, count, evaluate every ZeRO row; JIT included).
# Usage: tests/bench/estimate.sh [runs]   (default 5 runs per model; prints min and median)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
runs=${1:-5}
configs="$repo/tests/fixtures/configs"
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/Ckptmpi/Ckptmpi.csproj -c Release -nologo -v quiet >/dev/null

stats() { # prints "min X median Y" of the numbers on stdin
  sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "min %.3f  median %.3f", a[1], m}'
}

printf 'host: %s, %s cores; dotnet %s; %s runs each\n' "$(uname -n)" "$(nproc)" "$(dotnet --version)" "$runs"
for model in llama-3.3-70b-instruct llama-3.1-405b; do
  args=(estimate --model "$configs/$model.json" --gpus-per-node 12 --nodes 4 --exclude lm_head)
  walls=() computes=()
  for ((i = 0; i < runs; i++)); do
    start=$(date +%s%N)
    dotnet "$dll" "${args[@]}" >/dev/null
    end=$(date +%s%N)
    walls+=("$(awk -v ns=$((end - start)) 'BEGIN {printf "%.4f", ns / 1e6}')")
    computes+=("$(dotnet "$dll" "${args[@]}" --json | sed -n 's/.*"compute_seconds": *\([0-9.eE+-]*\).*/\1/p' | awk '{printf "%.4f", $1 * 1000}')")
  done
  tensors=$(dotnet "$dll" "${args[@]}" --json | sed -n 's/.*"tensors": *\([0-9]*\).*/\1/p')
  echo "$model ($tensors tensors):"
  echo "  process wall time (ms):     $(printf '%s\n' "${walls[@]}" | stats)"
  echo "  in-process compute (ms):    $(printf '%s\n' "${computes[@]}" | stats)"
done
