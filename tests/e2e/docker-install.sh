#!/usr/bin/env bash
# e2e: docker/install.sh, the image's install steps, really run here (no Docker engine needed).
#  1. The build stage: the files docker/Dockerfile's build-stage COPY lines name are copied (without
#     bin/obj, as Dockerfile.dockerignore says) into a fresh context, and its RUN line runs there with
#     a temporary prefix: so the COPY set is proven enough to publish, and the publish step runs.
#  2. The published program runs: --version is Directory.Build.props' version, --help lists mpi-info,
#     mpi-info succeeds, and, through launch/pbs-polaris.sh and a PALS-to-Hydra stand-in, it runs on
#     2 ranks under the real MPICH with launch/env.sh's variables reaching each rank.
#  3. The runtime stage in safe mode: --skip-apt checks the MPICH packages with dpkg-query (a stand-in
#     reporting one missing must fail), and --dry-run prints exactly the apt commands the image runs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 TERM=dumb
# Safety net: nothing here may change this machine's packages. Stand-ins for apt-get and sudo come
# first on PATH and fail loudly; a case that reaches them fails.
mkdir -p "$work/guard"
for tool in apt-get sudo; do
  printf '#!/bin/sh\necho "GUARD: %s called with: $*" >&2\nexit 97\n' "$tool" >"$work/guard/$tool"
  chmod +x "$work/guard/$tool"
done
export PATH="$work/guard:$PATH"

failures=0
fail() { echo "FAIL [$case_name]: $*"; failures=$((failures + 1)); }

# Dockerfile instructions, one per line, continuations joined, comments dropped.
instructions() {
  awk '/^[[:space:]]*#/ { next }
       { line = line $0 }
       /\\$/ { sub(/\\$/, "", line); next }
       { if (line ~ /[^[:space:]]/) print line; line = "" }' "$repo/docker/Dockerfile"
}

# 1. Replay the first (build) stage's WORKDIR/COPY/RUN into $work/ctx.
case_name=build-stage
ctx="$work/ctx"
stage=0; workdir=/; run_args=(); runtime_apt_args=()
while read -r instr rest; do
  case ${instr^^} in
    FROM) stage=$((stage + 1)) ;;
    WORKDIR) [ "$stage" -eq 1 ] && workdir=$rest ;;
    COPY)
      [ "$stage" -eq 1 ] || continue
      read -r -a parts <<<"$rest"
      dest=${parts[-1]}
      [[ $dest == /* ]] || dest="$workdir/$dest"
      for src in "${parts[@]:0:${#parts[@]}-1}"; do
        [[ $src == --* ]] && { fail "build-stage COPY flag $src not replayed by this check"; continue; }
        # Docker copies a directory's contents, and a file into DEST/ or as DEST.
        if [ -d "$repo/$src" ]; then
          mkdir -p "$ctx$dest"
          cp -r "$repo/${src%/}/." "$ctx$dest"
        elif [[ $dest == */ ]]; then
          mkdir -p "$ctx$dest"
          cp "$repo/$src" "$ctx$dest"
        else
          mkdir -p "$(dirname "$ctx$dest")"
          cp "$repo/$src" "$ctx$dest"
        fi
      done ;;
    RUN)
      read -r -a parts <<<"$rest"
      if [ "$stage" -eq 2 ] && [[ " ${parts[*]} " == *" --steps apt "* ]]; then runtime_apt_args=("${parts[@]:2}"); fi
      [ "$stage" -eq 1 ] || continue
      [ "${parts[0]} ${parts[1]}" = "bash docker/install.sh" ] || fail "build-stage RUN is not 'bash docker/install.sh ...': $rest"
      run_args=("${parts[@]:2}") ;;
  esac
done < <(instructions)
find "$ctx" -type d \( -name bin -o -name obj \) -prune -exec rm -rf {} +
[ -f "$ctx$workdir/src/Ckptmpi/Ckptmpi.csproj" ] || fail "the build stage's COPY lines do not bring src/Ckptmpi"
[[ " ${run_args[*]} " == *" --steps publish,verify "* ]] || fail "build-stage RUN should run the publish and verify steps: ${run_args[*]}"

prefix="$work/prefix"
start=$(date +%s)
if (cd "$ctx$workdir" && bash docker/install.sh "${run_args[@]}" --prefix "$prefix") >"$work/publish.log" 2>&1; then
  echo "build stage (publish + verify) took $(($(date +%s) - start)) s"
else
  fail "install.sh ${run_args[*]} failed:"; tail -20 "$work/publish.log"
fi
grep -qF "ckptmpi --help lists the commands" "$work/publish.log" || fail "verify step did not report success"

# 2. The published program.
case_name=published
exe="$prefix/bin/ckptmpi"
[ "$(readlink "$exe")" = ../lib/ckptmpi/ckptmpi ] || fail "$exe should link to ../lib/ckptmpi/ckptmpi"
for f in ckptmpi ckptmpi.dll ckptmpi.runtimeconfig.json ckptmpi.deps.json System.CommandLine.dll; do
  [ -f "$prefix/lib/ckptmpi/$f" ] || fail "published output lacks $f"
done
want=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$repo/Directory.Build.props" | head -1)
[ -n "$want" ] || fail "no <Version> in Directory.Build.props"
got=$("$exe" --version 2>&1) || fail "--version exit $?"
[[ $got == "$want"* ]] || fail "--version printed '$got', expected $want"
got=$("$exe" --help 2>&1) || fail "--help exit $?"
[[ $got == *mpi-info* ]] || fail "--help does not list mpi-info: $got"
"$exe" mpi-info >"$work/mpi-info.log" 2>&1 || fail "mpi-info as a plain process failed: $(cat "$work/mpi-info.log")"
[ -s "$work/mpi-info.log" ] || fail "mpi-info printed nothing"

# ... and launched by the PBS script, PALS options translated for MPICH's Hydra (which has -ppn but
# no --depth/--cpu-bind); each rank first prints what the launch environment gave it.
case_name=launched
cat >"$work/pals-to-hydra" <<EOF
#!/bin/bash
printf '%s\0' "\$@" >"$work/pals-argv"
[ "\$1 \$3 \$5 \$7 \$8" = "-n --ppn --depth --cpu-bind depth" ] || { echo "unexpected PALS options: \$*" >&2; exit 99; }
n=\$2; ppn=\$4; shift 8
exec mpiexec.mpich -n "\$n" -ppn "\$ppn" sh -c 'echo "rank \$PMI_RANK/\$PMI_SIZE TERM=\$TERM gcServer=\$DOTNET_gcServer env=\$CKPTMPI_ENV_SOURCED"; exec "\$@"' rank "\$@"
EOF
chmod +x "$work/pals-to-hydra"
rc=0
env -u PBS_NODEFILE -u CKPTMPI_MPI_LIB CKPTMPI_MPIEXEC="$work/pals-to-hydra" CKPTMPI_BIN="$exe" CKPTMPI_NODES=1 \
  CKPTMPI_RANKS_PER_NODE=2 CKPTMPI_DEPTH=1 timeout 120 bash "$repo/launch/pbs-polaris.sh" -- mpi-info \
  >"$work/launched.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "pbs-polaris.sh -> mpiexec.mpich -> ckptmpi mpi-info exited $rc: $(tail -20 "$work/launched.log")"
printf '%s\0' -n 2 --ppn 2 --depth 1 --cpu-bind depth "$exe" mpi-info | cmp -s - "$work/pals-argv" ||
  fail "launcher argv: $(tr '\0' ' ' <"$work/pals-argv" 2>/dev/null)"
for r in 0 1; do
  grep -qxF "rank $r/2 TERM=dumb gcServer=0 env=1" "$work/launched.log" || fail "rank $r line missing: $(cat "$work/launched.log")"
done
# Once mpi-info reports the MPI world (the parallel branch's binding), it must see both ranks: N
# singletons of size 1 would mean the wrong library was loaded (docs/mpi.md).
if grep -q '^world size:' "$work/launched.log"; then
  grep -qxF 'world size: 2' "$work/launched.log" || fail "mpi-info under 2 ranks: $(grep '^world size:' "$work/launched.log")"
fi

# 3. The runtime stage's apt step, safely: packages checked, commands printed.
case_name=skip-apt
if (bash "$repo/docker/install.sh" --steps apt,verify --skip-apt --prefix "$prefix") >"$work/skip.log" 2>&1; then
  grep -qF "apt skipped; mpich libmpich12 ca-certificates procps already installed" "$work/skip.log" ||
    fail "no package report: $(cat "$work/skip.log")"
else
  fail "--skip-apt on this host failed: $(cat "$work/skip.log")"
fi
mkdir -p "$work/fakedpkg"
cat >"$work/fakedpkg/dpkg-query" <<'EOF'
#!/bin/sh
for last; do :; done
[ "$last" = libmpich12 ] && exit 1
printf 'install ok installed'
EOF
chmod +x "$work/fakedpkg/dpkg-query"
case_name=skip-apt-missing
rc=0
PATH="$work/fakedpkg:$PATH" bash "$repo/docker/install.sh" --skip-apt --steps apt,verify --prefix "$prefix" >"$work/miss.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "rc $rc, expected 2"
grep -qF -- "--skip-apt, but these packages are not installed: libmpich12" "$work/miss.log" || fail "$(cat "$work/miss.log")"
case_name=verify-empty-prefix
rc=0
bash "$repo/docker/install.sh" --steps verify --prefix "$work/empty" >"$work/empty.log" 2>&1 || rc=$?
if [ "$rc" -ne 2 ] || ! grep -qF "run the publish step first" "$work/empty.log"; then fail "rc $rc: $(cat "$work/empty.log")"; fi

case_name=dry-run
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo "
apt_lines="+ ${sudo}apt-get update -q
+ ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mpich libmpich12 ca-certificates procps"
expected="$apt_lines
+ env DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 dotnet publish $repo/src/Ckptmpi -c Release -o /opt/ckptmpi/lib/ckptmpi -nologo -v quiet
+ mkdir -p /opt/ckptmpi/bin
+ ln -sfn ../lib/ckptmpi/ckptmpi /opt/ckptmpi/bin/ckptmpi
+ env TERM=dumb /opt/ckptmpi/bin/ckptmpi --version
+ env TERM=dumb /opt/ckptmpi/bin/ckptmpi --help"
got=$(bash "$repo/docker/install.sh" --dry-run 2>&1) || fail "dry run exit $?"
[ "$got" = "$expected" ] || fail "dry run printed:
$got"
case_name=dry-run-runtime-stage
[ "${#runtime_apt_args[@]}" -gt 0 ] || fail "no 'install.sh --steps apt' RUN in the runtime stage"
got=$(bash "$repo/docker/install.sh" "${runtime_apt_args[@]}" --dry-run 2>&1) || fail "dry run exit $?"
[ "$got" = "$apt_lines
+ ${sudo}find /var/lib/apt/lists -mindepth 1 -delete" ] || fail "runtime stage (${runtime_apt_args[*]}) would run:
$got"
case_name=bad-arguments
rc=0; out=$(bash "$repo/docker/install.sh" --steps apt,compile --dry-run 2>&1) || rc=$?
if [ "$rc" -ne 2 ] || [[ $out != *"unknown step 'compile'"* ]]; then fail "rc $rc: $out"; fi
rc=0; out=$(bash "$repo/docker/install.sh" --frobnicate 2>&1) || rc=$?
if [ "$rc" -ne 2 ] || [[ $out != *"unknown argument --frobnicate"* ]]; then fail "rc $rc: $out"; fi

if [ "$failures" -ne 0 ]; then
  echo "docker-install: $failures failure(s)"
  exit 1
fi
echo "docker-install: all cases passed"
