#!/usr/bin/env bash
# Kernel throughput per core vs a page-cache read of the same bytes (the bar: no kernel slower than the read).
# Usage: tests/bench/kernels.sh [MiB=256] [chunkKiB=4096] [passes=40]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Fully optimised code from the first call: with tiering, early passes would time tier-0 code.
dotnet build "$here/KernelBench/KernelBench.csproj" -c Release -nologo -v quiet >/dev/null
DOTNET_TieredCompilation=0 exec dotnet "$here/KernelBench/bin/Release/net10.0/KernelBench.dll" "$@"
