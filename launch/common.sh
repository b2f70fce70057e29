# shellcheck shell=bash
# Functions shared by the ckptmpi job scripts (pbs-polaris.sh, slurm.sh). Sourced, never run.
# Everything here reads the CKPTMPI_* variables documented in launch/README.md and fails early with
# one clear line on stderr: a mistake found on the login node costs nothing, one found after the
# queue wait costs the allocation.

ckptmpi_die() {
  echo "ckptmpi-launch: error: $*" >&2
  exit 2
}

ckptmpi_note() {
  echo "ckptmpi-launch: $*" >&2
}

# ckptmpi_require_count NAME VALUE: VALUE must be a whole number >= 1.
ckptmpi_require_count() {
  case $2 in
    '' | *[!0-9]* | 0*) ckptmpi_die "$1 must be a whole number >= 1 (got '$2')" ;;
  esac
}

# ckptmpi_check_layout PPN DEPTH: warns (does not fail) when PPN x DEPTH exceeds the CPUs of this
# node (the job's first node, which has the same hardware as the others; CKPTMPI_NODE_CPUS overrides):
# ranks would then share cores.
ckptmpi_check_layout() {
  local cpus=${CKPTMPI_NODE_CPUS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 0)}
  case $cpus in '' | *[!0-9]*) return 0 ;; esac
  if [ "$cpus" -gt 0 ] && [ $(($1 * $2)) -gt "$cpus" ]; then
    ckptmpi_note "warning: $1 ranks per node x $2 cores each = $(($1 * $2)) > the $cpus CPUs of this node; ranks will share cores"
  fi
}

# ckptmpi_load_modules: `module load` each word of CKPTMPI_MODULES (e.g. "cray-mpich-abi"), before
# env.sh looks at the environment the modules set. Lmod and Environment Modules both provide `module`
# as a shell function, exported to job scripts.
ckptmpi_load_modules() {
  local mods=() m
  ckptmpi_split_words mods "${CKPTMPI_MODULES:-}"
  [ "${#mods[@]}" -gt 0 ] || return 0
  declare -F module >/dev/null || command -v module >/dev/null 2>&1 ||
    ckptmpi_die "CKPTMPI_MODULES=${CKPTMPI_MODULES} but there is no 'module' command in this shell"
  for m in "${mods[@]}"; do
    module load "$m" || ckptmpi_die "module load $m failed"
  done
  ckptmpi_note "loaded modules: ${mods[*]}"
}

# ckptmpi_split_words NAME TEXT: splits TEXT on blanks into the array NAME, without glob expansion
# (CKPTMPI_ARGS='--input /eagle/p/*' must reach ckptmpi as written). Quotes are not interpreted:
# arguments that contain blanks go after `--` on the command line instead.
ckptmpi_split_words() {
  local -n _ckptmpi_out=$1
  _ckptmpi_out=()
  [ -n "$2" ] || return 0
  read -r -d '' -a _ckptmpi_out <<<"$2" || true
}

# ckptmpi_resolve_command ARGS...: sets the array CKPTMPI_COMMAND to what each rank runs:
#   [CKPTMPI_EXEC_PREFIX words] (dotnet if CKPTMPI_BIN is a .dll) CKPTMPI_BIN  program arguments.
# Program arguments: the script's own arguments (after an optional leading `--`), else CKPTMPI_ARGS,
# else `mpi-info`; then `--input CKPTMPI_INPUT` and `--output CKPTMPI_OUTPUT` when those are set.
ckptmpi_resolve_command() {
  local prefix=() args=() bin
  ckptmpi_split_words prefix "${CKPTMPI_EXEC_PREFIX:-}"

  if [ -n "${CKPTMPI_BIN:-}" ]; then
    bin=$CKPTMPI_BIN
  elif [ "${#prefix[@]}" -eq 0 ] && bin=$(command -v ckptmpi 2>/dev/null); then
    :
  else
    ckptmpi_die "CKPTMPI_BIN is not set and ckptmpi is not on PATH; set CKPTMPI_BIN to the published program (e.g. CKPTMPI_BIN=\$HOME/ckptmpi/ckptmpi from 'dotnet publish src/Ckptmpi -c Release -o \$HOME/ckptmpi')"
  fi
  # Inside a container (CKPTMPI_EXEC_PREFIX) the path is the container's, so it cannot be checked here.
  if [ "${#prefix[@]}" -eq 0 ]; then
    [ -e "$bin" ] || ckptmpi_die "CKPTMPI_BIN=$bin does not exist"
    case $bin in
      *.dll) command -v dotnet >/dev/null 2>&1 || ckptmpi_die "CKPTMPI_BIN=$bin is a .dll but dotnet is not on PATH" ;;
      *) [ -x "$bin" ] || ckptmpi_die "CKPTMPI_BIN=$bin is not executable" ;;
    esac
  fi

  if [ "$#" -gt 0 ] && [ "$1" = "--" ]; then shift; fi
  if [ "$#" -gt 0 ]; then
    args=("$@")
  elif [ -n "${CKPTMPI_ARGS:-}" ]; then
    ckptmpi_split_words args "$CKPTMPI_ARGS"
  else
    args=(mpi-info)
  fi
  if [ -n "${CKPTMPI_INPUT:-}" ]; then
    [ "${#prefix[@]}" -gt 0 ] || [ -e "$CKPTMPI_INPUT" ] || ckptmpi_die "CKPTMPI_INPUT=$CKPTMPI_INPUT does not exist"
    args+=(--input "$CKPTMPI_INPUT")
  fi
  if [ -n "${CKPTMPI_OUTPUT:-}" ]; then
    args+=(--output "$CKPTMPI_OUTPUT")
  fi

  CKPTMPI_COMMAND=("${prefix[@]}")
  case $bin in
    *.dll) CKPTMPI_COMMAND+=(dotnet "$bin") ;;
    *) CKPTMPI_COMMAND+=("$bin") ;;
  esac
  CKPTMPI_COMMAND+=("${args[@]}")
}

# ckptmpi_launch COMMAND...: logs the full command line (shell-quoted, so it can be pasted), then
# replaces this shell with it, or only prints it when CKPTMPI_DRY_RUN=1.
ckptmpi_launch() {
  local quoted
  printf -v quoted ' %q' "$@"
  if [ "${CKPTMPI_DRY_RUN:-0}" = 1 ]; then
    echo "${quoted# }"
    exit 0
  fi
  ckptmpi_note "running:${quoted}"
  command -v "$1" >/dev/null 2>&1 || ckptmpi_die "launcher '$1' not found on PATH"
  exec "$@"
}
