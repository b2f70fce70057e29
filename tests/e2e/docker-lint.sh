#!/usr/bin/env bash
# e2e: a small lint of docker/Dockerfile (no Docker engine here, so it cannot be built in CI):
#  - FROM: mcr.microsoft.com/dotnet/{sdk,runtime} with one pinned tag (ARG default), never latest;
#  - COPY: every source exists in the repository and is not dropped by Dockerfile.dockerignore;
#    --from names a stage; root files MSBuild imports (Directory.*.props, global.json, NuGet.config)
#    are all copied into the build stage; no ADD;
#  - RUN: every one calls install.sh copied earlier in the same stage, with arguments that
#    docker/install.sh accepts (checked with --dry-run); the build stage publishes, the runtime
#    stage installs MPICH;
#  - the runtime stage copies the build stage's prefix and its ENTRYPOINT is PREFIX/bin/ckptmpi;
#  - ENV carries launch/env.sh's defaults (TERM=dumb, DOTNET_gcServer=0, UCX_ERROR_SIGNALS="").
# The same lint then runs on broken copies of the Dockerfile, each of which it must reject.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# lint FILE: prints one line per problem; returns the number of problems (0 = clean).
lint() {
  local file=$1 problems=0 stage=0 instr rest from_tag="" prefix="" entry=""
  local -A args=() stages=() copied=()
  local envs="" saw_install_copy_in_stage="" workdir="" prefix_copy="" apt_in_runtime=0
  local w=() image tag a x src pat kv f i script
  problem() { echo "  $file: $*"; problems=$((problems + 1)); }

  while read -r instr rest; do
    case ${instr^^} in
      ARG)
        if [[ $rest == *=* ]]; then args[${rest%%=*}]=${rest#*=}; fi ;;
      FROM)
        stage=$((stage + 1)); saw_install_copy_in_stage=""
        read -r -a w <<<"$rest"
        image=${w[0]}
        for a in "${!args[@]}"; do image=${image//"\${$a}"/${args[$a]}}; done
        if [ "${#w[@]}" -ge 3 ] && [ "${w[1]^^}" = AS ]; then stages[${w[2]}]=$stage; fi
        case $image in
          mcr.microsoft.com/dotnet/sdk:* | mcr.microsoft.com/dotnet/runtime:*) ;;
          *) problem "FROM $image: expected mcr.microsoft.com/dotnet/sdk or runtime" ;;
        esac
        tag=${image##*:}
        if [[ $image != *:* ]] || [ "$tag" = latest ] || [[ $tag == *'$'* ]]; then
          problem "FROM $image: pin a tag (an ARG with a default)"
        elif [ -z "$from_tag" ]; then
          from_tag=$tag
        elif [ "$tag" != "$from_tag" ]; then
          problem "FROM $image: the stages use different tags ($from_tag, $tag); SDK and runtime must match"
        fi ;;
      ADD) problem "ADD $rest: use COPY (no URLs or archives in this image)" ;;
      COPY)
        read -r -a w <<<"$rest"
        local from="" srcs=() dest=${w[-1]}
        for x in "${w[@]:0:${#w[@]}-1}"; do
          case $x in
            --from=*) from=${x#--from=} ;;
            --*) ;;
            *) srcs+=("$x") ;;
          esac
        done
        if [ -n "$from" ]; then
          [ -n "${stages[$from]:-}" ] || problem "COPY --from=$from: no stage of that name"
          [ "$stage" -eq 1 ] || prefix_copy="${srcs[0]}"
          continue
        fi
        for src in "${srcs[@]}"; do
          [ -e "$repo/$src" ] || problem "COPY $src: not in the repository"
          while read -r pat; do
            case $pat in '' | '#'*) continue ;; esac
            pat=${pat%/}; pat=${pat#'**/'}
            case /${src%/}/ in */"$pat"/*) problem "COPY $src: excluded by Dockerfile.dockerignore ($pat)" ;; esac
          done <"$repo/docker/Dockerfile.dockerignore"
          [ "$stage" -ne 1 ] || copied[${src%/}]=1
          if [ "$src" = docker/install.sh ]; then
            [[ $dest == /* ]] || dest="${workdir:-/}/$dest"
            dest=${dest//\/\//\/}
            if [[ $dest == */ ]]; then saw_install_copy_in_stage="${dest}install.sh"; else saw_install_copy_in_stage=$dest; fi
          fi
        done ;;
      RUN)
        read -r -a w <<<"$rest"
        if [ "${w[0]}" != bash ] || [[ ${w[1]:-} != *install.sh ]]; then
          problem "RUN $rest: every install step belongs in docker/install.sh"
          continue
        fi
        local script=${w[1]}
        [[ $script == /* ]] || script="${workdir:-/}/$script"
        script=${script//\/\//\/}
        [ "$script" = "$saw_install_copy_in_stage" ] || problem "RUN $rest: ${w[1]} was not copied into this stage first"
        if ! PATH="$work/guard:$PATH" bash "$repo/docker/install.sh" "${w[@]:2}" --dry-run >"$work/dry.log" 2>&1; then
          problem "RUN $rest: install.sh rejects these arguments: $(tail -1 "$work/dry.log")"
        fi
        if [ "$stage" -eq 1 ]; then
          [[ " ${w[*]} " == *" --steps publish"* ]] || problem "RUN $rest: the build stage must run the publish step"
          for ((i = 2; i < ${#w[@]} - 1; i++)); do [ "${w[i]}" = --prefix ] && prefix=${w[i + 1]}; done
        elif [[ " ${w[*]} " == *" --steps apt "* ]]; then
          apt_in_runtime=1
        fi ;;
      WORKDIR) workdir=$rest ;;
      ENV) envs+=" $rest" ;;
      ENTRYPOINT) entry=$rest ;;
    esac
  done < <(awk '/^[[:space:]]*#/ { next }
               { line = line $0 }
               /\\$/ { sub(/\\$/, "", line); next }
               { if (line ~ /[^[:space:]]/) print line; line = "" }' "$file")

  [ "$stage" -ge 2 ] || problem "expected a build stage and a runtime stage, found $stage stage(s)"
  [ "$apt_in_runtime" = 1 ] || problem "the runtime stage must run install.sh --steps apt (MPICH)"
  for f in Directory.Build.props Directory.Build.targets Directory.Packages.props global.json NuGet.config nuget.config; do
    if [ -e "$repo/$f" ] && [ -z "${copied[$f]:-}" ]; then problem "$f is in the repository but not copied into the build stage"; fi
  done
  [ -n "${copied[src]:-}" ] || problem "the build stage does not copy src/"
  if [ -z "$prefix" ]; then
    problem "the build stage's install.sh has no --prefix"
  else
    [ "$prefix_copy" = "$prefix" ] || problem "the runtime stage copies '${prefix_copy:-nothing}' from the build stage, not its prefix $prefix"
    [ "$entry" = "[\"$prefix/bin/ckptmpi\"]" ] || problem "ENTRYPOINT $entry: expected [\"$prefix/bin/ckptmpi\"]"
  fi
  for kv in TERM=dumb DOTNET_gcServer=0 'UCX_ERROR_SIGNALS=""'; do
    [[ " $envs " == *" $kv "* ]] || problem "ENV lacks $kv (launch/env.sh's default)"
  done
  return "$problems"
}

mkdir -p "$work/guard"
for tool in apt-get sudo dotnet; do
  printf '#!/bin/sh\necho "GUARD: %s must not run in a lint" >&2\nexit 97\n' "$tool" >"$work/guard/$tool"
  chmod +x "$work/guard/$tool"
done

failures=0
echo "linting docker/Dockerfile"
if ! lint "$repo/docker/Dockerfile"; then
  echo "FAIL: docker/Dockerfile has lint problems (above)"
  failures=$((failures + 1))
fi
if ! grep -qxF '**/bin/' "$repo/docker/Dockerfile.dockerignore" || ! grep -qxF '**/obj/' "$repo/docker/Dockerfile.dockerignore"; then
  echo "FAIL: Dockerfile.dockerignore must exclude **/bin/ and **/obj/"; failures=$((failures + 1))
fi

# Each broken copy must be rejected with the expected message.
mutant() {
  local name=$1 sed_expr=$2 message=$3
  sed "$sed_expr" "$repo/docker/Dockerfile" >"$work/Dockerfile.$name"
  if cmp -s "$repo/docker/Dockerfile" "$work/Dockerfile.$name"; then
    echo "FAIL: mutant $name did not change the Dockerfile (stale sed expression)"; failures=$((failures + 1)); return
  fi
  if lint "$work/Dockerfile.$name" >"$work/lint.$name" 2>&1; then
    echo "FAIL: the lint accepted mutant $name"; failures=$((failures + 1))
  elif ! grep -qF -- "$message" "$work/lint.$name"; then
    echo "FAIL: mutant $name: expected '$message', got:"; cat "$work/lint.$name"; failures=$((failures + 1))
  fi
}
mutant missing-copy 's|^COPY Directory.Build.props ./|COPY Directory.Build.props missing.props ./|' "COPY missing.props: not in the repository"
mutant no-props 's|^COPY Directory.Build.props ./|COPY src/ other/|' "Directory.Build.props is in the repository but not copied"
mutant raw-apt 's|^RUN bash /usr/local/share/ckptmpi/install.sh --steps apt.*|RUN apt-get install -y mpich|' "every install step belongs in docker/install.sh"
mutant bad-step 's|--steps publish,verify|--steps publish,verify,compile|' "install.sh rejects these arguments"
mutant latest 's|^ARG DOTNET_TAG=.*|ARG DOTNET_TAG=latest|' "pin a tag"
mutant wrong-stage 's|COPY --from=build|COPY --from=builder|' "COPY --from=builder: no stage of that name"
mutant wrong-entry 's|^ENTRYPOINT .*|ENTRYPOINT ["/usr/bin/ckptmpi"]|' "ENTRYPOINT"
mutant no-term 's|TERM=dumb|TERM=xterm|' "ENV lacks TERM=dumb"
mutant add 's|^COPY src/ src/|ADD src/ src/|' "use COPY"
mutant uncopied-script 's|^COPY docker/install.sh /usr/local/share/ckptmpi/install.sh|COPY docker/install.sh /tmp/install.sh|' "was not copied into this stage first"

if [ "$failures" -ne 0 ]; then
  echo "docker-lint: $failures failure(s)"
  exit 1
fi
echo "docker-lint: Dockerfile clean; all 10 broken copies rejected"
