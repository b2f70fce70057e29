#!/bin/bash
# Installs ckptmpi into a prefix: the steps docker/Dockerfile runs, kept here so that CI can run
# them too (no Docker engine or image registry is needed for that).
#
#   docker/install.sh [--prefix DIR] [--source DIR] [--steps apt,publish,verify]
#                     [--skip-apt] [--skip-publish] [--skip-verify] [--clean-apt] [--no-build] [--dry-run]
#
# Steps, in this order:
#   apt      apt-get install MPICH (mpich, libmpich12) and what the runtime needs. Under Apptainer on
#            a Cray system, the host's MPICH-ABI libmpi.so.12 is bound in and chosen with
#            CKPTMPI_MPI_LIB; the container's MPICH serves single-node runs and plain Linux clusters.
#            --clean-apt then empties /var/lib/apt/lists (for image layers; never on a workstation).
#            With --skip-apt the packages must already be there (checked with dpkg-query);
#            --steps without apt skips it unchecked (the Dockerfile's SDK stage needs no MPICH).
#   publish  dotnet publish src/Ckptmpi (Release, framework-dependent) into PREFIX/lib/ckptmpi,
#            and PREFIX/bin/ckptmpi pointing at it. Needs the .NET 10 SDK.
#   verify   runs PREFIX/bin/ckptmpi --version and --help; fails unless the version is the one
#            in Directory.Build.props (when the source tree is present) and the help lists mpi-info.
# --prefix DIR   [/opt/ckptmpi]       --source DIR   repository root [this script's ../]
# --skip-STEP    leave STEP out (applied after --steps, in any order)
# --no-build     publish without building (after `dotnet build -c Release`)
# --dry-run      print the commands, run nothing
set -euo pipefail

die() {
  echo "install.sh: error: $*" >&2
  exit 2
}

prefix=/opt/ckptmpi
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
steps=apt,publish,verify
dry_run=0
no_build=0
clean_apt=0
skips=()
check_packages=0
packages=(mpich libmpich12 ca-certificates procps)

while [ "$#" -gt 0 ]; do
  case $1 in
    --prefix) [ "$#" -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --source) [ "$#" -ge 2 ] || die "--source needs a directory"; source_dir=$2; shift 2 ;;
    --steps) [ "$#" -ge 2 ] || die "--steps needs a list"; steps=$2; shift 2 ;;
    --skip-apt | --skip-publish | --skip-verify) skips+=("${1#--skip-}"); shift ;;
    --clean-apt) clean_apt=1; shift ;;
    --no-build) no_build=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
# --skip-* apply after --steps, whatever their order on the command line.
for skip in "${skips[@]}"; do
  if [ "$skip" = apt ]; then check_packages=1; fi
  steps=$(tr ',' '\n' <<<"$steps" | grep -vx "$skip" | paste -sd, -) || steps=""
done
for s in ${steps//,/ }; do
  case $s in apt | publish | verify) ;; *) die "unknown step '$s' (steps: apt, publish, verify)" ;; esac
done
has_step() { [[ ,$steps, == *",$1,"* ]]; }
case $prefix in /*) ;; *) prefix="$PWD/$prefix" ;; esac

# run COMMAND...: prints it (shell-quoted, as `+ ...`), then runs it unless --dry-run.
run() {
  local quoted
  printf -v quoted ' %q' "$@"
  echo "+${quoted}"
  if [ "$dry_run" = 0 ]; then "$@"; fi
}

if has_step apt; then
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  run "${sudo_cmd[@]}" apt-get update -q
  run "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
  if [ "$clean_apt" = 1 ]; then
    run "${sudo_cmd[@]}" find /var/lib/apt/lists -mindepth 1 -delete
  fi
elif [ "$check_packages" = 1 ] && [ "$dry_run" = 0 ]; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] || die "--skip-apt, but these packages are not installed: ${missing[*]} (run without --skip-apt)"
  echo "install.sh: apt skipped; ${packages[*]} already installed"
fi

if has_step publish; then
  [ -f "$source_dir/src/Ckptmpi/Ckptmpi.csproj" ] || die "no src/Ckptmpi/Ckptmpi.csproj under --source $source_dir"
  [ "$dry_run" = 1 ] || command -v dotnet >/dev/null || die "the publish step needs the .NET 10 SDK (dotnet not on PATH)"
  publish=(dotnet publish "$source_dir/src/Ckptmpi" -c Release -o "$prefix/lib/ckptmpi" -nologo -v quiet)
  if [ "$no_build" = 1 ]; then publish+=(--no-build); fi
  run env DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 "${publish[@]}"
  run mkdir -p "$prefix/bin"
  run ln -sfn ../lib/ckptmpi/ckptmpi "$prefix/bin/ckptmpi"
fi

if has_step verify; then
  exe="$prefix/bin/ckptmpi"
  if [ "$dry_run" = 0 ]; then
    [ -x "$exe" ] || die "$exe is missing: run the publish step first"
    # The apphost finds the runtime through DOTNET_ROOT or the default /usr/share/dotnet.
    if [ -z "${DOTNET_ROOT:-}" ] && [ ! -e /usr/share/dotnet/dotnet ] && command -v dotnet >/dev/null; then
      DOTNET_ROOT=$(dirname "$(readlink -f "$(command -v dotnet)")")
      export DOTNET_ROOT
      echo "install.sh: DOTNET_ROOT=$DOTNET_ROOT (set it too when you run $exe)"
    fi
  fi
  expected_version=""
  if [ -f "$source_dir/Directory.Build.props" ]; then
    expected_version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$source_dir/Directory.Build.props" | head -1)
  fi
  if [ "$dry_run" = 1 ]; then
    run env TERM=dumb "$exe" --version
    run env TERM=dumb "$exe" --help
  else
    version=$(TERM=dumb "$exe" --version) || die "$exe --version failed"
    echo "install.sh: $exe --version: $version"
    if [ -n "$expected_version" ] && [[ $version != "$expected_version"* ]]; then
      die "$exe --version printed '$version', expected $expected_version (Directory.Build.props)"
    fi
    help=$(TERM=dumb "$exe" --help) || die "$exe --help failed"
    [[ $help == *mpi-info* ]] || die "$exe --help does not list the mpi-info command"
    echo "install.sh: $exe --help lists the commands; ckptmpi is installed in $prefix"
  fi
fi
