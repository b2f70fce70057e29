# shellcheck shell=bash
# ckptmpi run-time environment: which libmpi to load and the variables Cray MPICH, Open MPI and the
# .NET runtime need. The job scripts source it; you can too, on a compute node, before a manual run.
#
#   source launch/env.sh            # sets and exports the variables below (returns 2 on a bad setting)
#   bash launch/env.sh --print      # shows what it would export, as `export NAME=value` lines
#
# What it does (docs/mpi.md):
#   TERM=dumb                     Open MPI gives each rank a pty; .NET then writes terminal escapes.
#   CKPTMPI_MPI=auto|on|off       validated; default auto.
#   CKPTMPI_MPI_LIB               kept if you set it (must exist unless CKPTMPI_EXEC_PREFIX runs a
#                                 container); else on Cray MPICH $CRAY_MPICH_DIR/lib-abi-mpich/libmpi.so.12
#                                 when it exists: Cray's normal lib/ has only mangled sonames.
#   LD_LIBRARY_PATH               on Cray, $CRAY_LD_LIBRARY_PATH is put in front so libmpi.so.12 finds
#                                 the PMI/PALS/libfabric versions of the loaded modules
#                                 (CKPTMPI_CRAY_LD_PATH=0 turns this off).
#   MPICH_GPU_SUPPORT_ENABLED=0   when GPU modules are loaded (craype-accel-*, CRAY_ACCEL_TARGET, or it
#                                 is already non-zero): without the GTL linked, MPI_Init aborts.
#   UCX_ERROR_SIGNALS=""          unless set: UCX's SIGSEGV handler turns the CLR's first
#                                 NullReferenceException into a crash of the whole job.
#   DOTNET_gcServer=0             unless set: workstation GC, one heap per rank. With
#                                 DOTNET_gcServer=1 it sets DOTNET_GCHeapCount to CKPTMPI_DEPTH (the
#                                 cores one rank is bound to), written in hexadecimal as .NET reads it.
#   DOTNET_ROOT                   unless set: the directory of the `dotnet` on PATH, so the published
#                                 apphost finds a .NET installed under $HOME on every node.
#   CKPTMPI_ENV_SOURCED=1         so a wrapper can tell the script ran.

_ckptmpi_env_main() {
  local abi gpu=0 dotnet_path

  export TERM=dumb

  case ${CKPTMPI_MPI:=auto} in
    auto | on | off) export CKPTMPI_MPI ;;
    *) echo "ckptmpi-env: error: CKPTMPI_MPI must be auto, on or off (got '$CKPTMPI_MPI')" >&2; return 2 ;;
  esac

  if [ -n "${CKPTMPI_MPI_LIB:-}" ]; then
    case $CKPTMPI_MPI_LIB in
      */*)
        if [ -z "${CKPTMPI_EXEC_PREFIX:-}" ] && [ ! -e "$CKPTMPI_MPI_LIB" ]; then
          echo "ckptmpi-env: error: CKPTMPI_MPI_LIB=$CKPTMPI_MPI_LIB does not exist" >&2
          return 2
        fi ;;
    esac
    export CKPTMPI_MPI_LIB
  elif [ -n "${CRAY_MPICH_DIR:-}" ]; then
    abi="$CRAY_MPICH_DIR/lib-abi-mpich/libmpi.so.12"
    if [ -e "$abi" ]; then
      export CKPTMPI_MPI_LIB="$abi"
    else
      echo "ckptmpi-env: warning: $abi not found; run 'module load cray-mpich-abi' or set CKPTMPI_MPI_LIB, else ckptmpi finds no MPICH-ABI libmpi" >&2
    fi
  fi

  if [ -n "${CRAY_LD_LIBRARY_PATH:-}" ] && [ "${CKPTMPI_CRAY_LD_PATH:-1}" != 0 ]; then
    case :${LD_LIBRARY_PATH:-}: in
      *":$CRAY_LD_LIBRARY_PATH:"*) ;;
      *) export LD_LIBRARY_PATH="$CRAY_LD_LIBRARY_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
    esac
  fi

  if [ -n "${CRAY_ACCEL_TARGET:-}" ]; then gpu=1; fi
  case :${LOADEDMODULES:-}: in *:craype-accel-*) gpu=1 ;; esac
  case ${MPICH_GPU_SUPPORT_ENABLED:-0} in 0) ;; *) gpu=1 ;; esac
  if [ "$gpu" = 1 ]; then
    export MPICH_GPU_SUPPORT_ENABLED=0
  fi

  if [ -z "${UCX_ERROR_SIGNALS+set}" ]; then
    export UCX_ERROR_SIGNALS=""
  fi

  export DOTNET_gcServer="${DOTNET_gcServer:-0}"
  if [ "$DOTNET_gcServer" = 1 ] && [ -z "${DOTNET_GCHeapCount:-}" ]; then
    case ${CKPTMPI_DEPTH:-} in
      '' | *[!0-9]* | 0) echo "ckptmpi-env: warning: DOTNET_gcServer=1 without DOTNET_GCHeapCount: each rank makes one heap per visible core; set DOTNET_GCHeapCount (hex) or CKPTMPI_DEPTH" >&2 ;;
      *) printf -v DOTNET_GCHeapCount '%x' "$((10#$CKPTMPI_DEPTH))"; export DOTNET_GCHeapCount ;;
    esac
  fi

  # The published ckptmpi (an apphost) looks for the runtime in DOTNET_ROOT, else /usr/share/dotnet:
  # a .NET installed under $HOME (dotnet-install.sh, usual on clusters) needs DOTNET_ROOT.
  if [ -z "${DOTNET_ROOT:-}" ] && dotnet_path=$(command -v dotnet 2>/dev/null); then
    DOTNET_ROOT=$(dirname "$(readlink -f "$dotnet_path")")
    export DOTNET_ROOT
  fi

  export CKPTMPI_ENV_SOURCED=1
}

_ckptmpi_env_print() {
  local name
  for name in TERM CKPTMPI_MPI CKPTMPI_MPI_LIB LD_LIBRARY_PATH MPICH_GPU_SUPPORT_ENABLED UCX_ERROR_SIGNALS \
    DOTNET_gcServer DOTNET_GCHeapCount DOTNET_ROOT CKPTMPI_ENV_SOURCED; do
    if [ -n "${!name+set}" ]; then
      printf 'export %s=%q\n' "$name" "${!name}"
    fi
  done
}

if (return 0 2>/dev/null); then
  # Sourced: never exit the caller's shell, and leave no helper functions behind.
  if _ckptmpi_env_main; then
    unset -f _ckptmpi_env_main _ckptmpi_env_print
    return 0
  fi
  unset -f _ckptmpi_env_main _ckptmpi_env_print
  return 2
else
  case ${1:-} in
    --print) _ckptmpi_env_main || exit $?; _ckptmpi_env_print ;;
    *) echo "usage: source launch/env.sh   |   bash launch/env.sh --print" >&2; exit 2 ;;
  esac
fi
