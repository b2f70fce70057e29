#!/usr/bin/env bash
# The cast and checksum kernels pick AVX-512, AVX2 or scalar code at run time; the NUnit run only exercises what this
# machine has. Re-run their exhaustive tests with the JIT told to hide AVX-512 (the AVX2 path: Polaris' EPYC Milan)
# and all hardware intrinsics (the scalar path, slice-by-8 CRC). Uses the Release build made by tests/run-all.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
filter="FullyQualifiedName~Ckptmpi.Tests.Tensors.Kernels|FullyQualifiedName~Ckptmpi.Tests.Tensors.Checksums"
for setting in DOTNET_EnableAVX512F=0 DOTNET_EnableHWIntrinsic=0; do
  echo "== $setting"
  env "$setting" dotnet test tests/Ckptmpi.Tests/Ckptmpi.Tests.csproj -c Release --no-build --filter "$filter" | tail -3
  # dotnet test exits non-zero on any failure, which set -e turns into ours
done
