#!/usr/bin/env bash
# Installs what the tests need, only where it is missing: the real peers our tests run against
# (Debian's Open MPI, MPICH and PyTorch) and the tools the checks use. Safe to run again.
set -euo pipefail

packages=(openmpi-bin mpich python3-torch python3-numpy shellcheck unzip procps strace tmux)
# python3-zarr reads the MaxText (Orbax zarr v2) arrays we write back (Formats/MaxText tests).
packages+=(python3-zarr)
# The Python modules DeepSpeed 0.14.4 imports, for the optional peer tests that load our ZeRO output into
# DeepSpeed itself (../shared/peers/deepspeed-0.14.4; those tests are skipped when the peer is absent).
packages+=(python3-pydantic python3-psutil python3-cpuinfo python3-tqdm python3-packaging python3-msgpack)
# Headless Chromium renders the run report as a person would see it (tests/e2e/report-browser.sh).
packages+=(chromium)
# A one-node Slurm cluster for launch/slurm.sh (tests/e2e/slurm-real.sh); libpmix-dev gives Slurm's pmix plugin
# the libpmix.so it loads for Open MPI jobs.
packages+=(slurm-wlm munge libpmix-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
command -v dotnet >/dev/null || { echo "install-deps: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
