#!/usr/bin/env bash
# ckptmpi verify under mpiexec -n 4 (MPICH and Open MPI) and in one process: HF -> ZeRO-3 and ZeRO-3 -> HF bf16
# outputs verify against their manifests and, value by value, against their sources (exit 0); a flipped byte in a
# tensor is then reported by both checks with the file and the tensor (exit 3), and a deleted file as missing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dll="$repo/src/Ckptmpi/bin/Debug/net10.0/ckptmpi.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d /tmp/ckptmpi-e2e-verify.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

dotnet "$dll" bench-make-model --output "$tmp/hf" --layers 2 --max-shard-size 2MB >/dev/null
# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
dotnet "$dll" convert --from hf --to zero --zero-stage 3 --dp-size 4 "${train[@]}" --input "$tmp/hf" --output "$tmp/zero" >/dev/null
dotnet "$dll" convert --from zero --to hf --dtype bf16 --input "$tmp/zero" --output "$tmp/back" --max-shard-size 3MB >/dev/null

status=0
expect() { # want-exit grep-pattern... -- command...
  local want=$1; shift; local patterns=(); while [ "$1" != "--" ]; do patterns+=("$1"); shift; done; shift
  set +e; out=$("$@" 2>&1); code=$?; set -e
  local ok=1; [ "$code" -eq "$want" ] || ok=0
  for p in "${patterns[@]}"; do grep -q -- "$p" <<<"$out" || ok=0; done
  if [ $ok -eq 1 ]; then echo "PASS exit $code: ${*: -3}"; else echo "FAIL exit $code (want $want): $*"; echo "$out" | tail -8; status=1; fi
}
for launcher in "" "mpiexec.mpich -n 4" "mpiexec.openmpi -n 4"; do
  # shellcheck disable=SC2086
  expect 0 "all match" "all equal" "^OK" -- $launcher dotnet "$dll" verify "$tmp/zero" --against "$tmp/hf"
  # shellcheck disable=SC2086
  expect 0 "all match" "all equal" -- $launcher dotnet "$dll" verify "$tmp/back" --against "$tmp/zero"
  # shellcheck disable=SC2086
  expect 0 "all equal" -- $launcher dotnet "$dll" verify "$tmp/back" --against "$tmp/hf" --values-only
done

# Damage: one byte of the first tensor's data in the first HF shard, and one deleted ZeRO rank file.
shard=$(find "$tmp/back" -name 'model-00001-*.safetensors' | head -1)
/usr/bin/python3 - "$shard" <<'PY'
import json, struct, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
    name = sorted(k for k in h if k != "__metadata__")[0]
    at = 8 + n + h[name]["data_offsets"][0] + 6
    f.seek(at); b = f.read(1); f.seek(at); f.write(bytes([b[0] ^ 0x10]))
print(name)
PY
rm "$tmp/zero/global_step0/zero_pp_rank_3_mp_rank_00_optim_states.pt" 2>/dev/null || rm "$(find "$tmp/zero/global_step0" -name '*rank_3_*optim_states.pt' | head -1)"
for launcher in "" "mpiexec.mpich -n 4" "mpiexec.openmpi -n 4"; do
  # shellcheck disable=SC2086
  expect 3 "checksum $(basename "$shard")" "value .*element 3 of .* differs" "FAILED: 2 problem" -- $launcher dotnet "$dll" verify "$tmp/back" --against "$tmp/hf" --from hf
  # shellcheck disable=SC2086
  expect 3 "missing global_step0/.*rank_3_.*optim_states.pt" -- $launcher dotnet "$dll" verify "$tmp/zero"
done
exit $status
