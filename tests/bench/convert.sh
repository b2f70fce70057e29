#!/usr/bin/env bash
# Conversion benchmark: a synthetic ~1.1B-parameter Llama-shaped HF checkpoint (bf16, 1 GB shards),
# HF -> ZeRO-3 dp 48 and ZeRO-3 -> HF bf16/fp32, HF -> Meta MP 8 and back, Meta -> MaxText, HF -> NxDT and back, HF -> megads tp 2 pp 2 dp 4 and back, megads -> universal, on 1 and 2 ranks (MPICH), --io direct and aggregate; GB/s read
# and written, peak RSS per rank (/usr/bin/time -v), and the ratio to a plain copy measured in the same run.
# Then peak RSS for a model holding a 1 GiB tensor with --max-buffer 64MiB.
#
# Copy baseline, measured right before each conversion: a plain copy of the same number of bytes the conversion
# writes (the source shards read over and over, `head -c W > file`, then `sync`, as the conversion fsyncs), page
# cache warm (not dropped: that needs root and disturbs other jobs on a shared node). "vs copy" = copy time /
# conversion time (1.0 = as fast as copying the bytes it writes). A `cp -r` of the HF checkpoint is shown too.
# Usage: tests/bench/convert.sh [WORKDIR]   (needs about 10 GB free in WORKDIR; removed at the end)
# BENCH_ROWS=REGEX measures only the rows whose label matches (the others still run, untimed and without their copy
# baseline, as later rows read their outputs), e.g. BENCH_ROWS='Meta|MaxText'.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dll="$repo/src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll"
[ -f "$dll" ] || dotnet build "$repo/src/Ckptmpi/Ckptmpi.csproj" -c Release -nologo -v quiet
work=${1:-/tmp/ckptmpi-bench}
rm -rf "$work"; mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

py() { /usr/bin/python3 -c "$@"; }
sources() { find "$work/hf" "$work/big" -name '*.safetensors' 2>/dev/null | sort || true; }
# run LABEL RANKS OUT -- ckptmpi args...: times the job, collects each rank's peak RSS, prints one table row.
rows=()
run() {
  local label=$1 ranks=$2 out=$3; shift 4
  rm -rf "$out" "$work"/rss.*
  if [ -n "${BENCH_ROWS:-}" ] && ! [[ "$label" =~ $BENCH_ROWS ]]; then
    dotnet "$dll" convert "$@" --output "$out" >/dev/null 2>"$work/log" || { cat "$work/log"; return 1; }
    return 0
  fi
  local bytes copy_start copy_end start end
  bytes=$(dotnet "$dll" convert "$@" --output "$out" --dry-run --json | py 'import json,sys; print(json.load(sys.stdin)["plan"]["bytes_written"])')
  sync
  copy_start=$(date +%s.%N)
  local src_bytes reps
  src_bytes=$(sources | xargs du -cb | tail -1 | cut -f1)
  reps=$(( bytes / src_bytes + 1 ))
  for _ in $(seq "$reps"); do sources | xargs cat 2>/dev/null; done | head -c "$bytes" > "$work/copy.bin" || true
  sync
  copy_end=$(date +%s.%N)
  rm -f "$work/copy.bin"
  copy_rate=$(py "print($copy_end - $copy_start)")
  start=$(date +%s.%N)
  if [ "$ranks" -eq 1 ]; then
    /usr/bin/time -v -o "$work/rss.0" dotnet "$dll" convert "$@" --output "$out" >/dev/null 2>"$work/log"
  else
    # shellcheck disable=SC2016 # $PMI_RANK is expanded by each rank's shell
    mpiexec.mpich -n "$ranks" sh -c '/usr/bin/time -v -o "$0.$PMI_RANK" "$@" >/dev/null' "$work/rss" dotnet "$dll" convert "$@" --output "$out" 2>"$work/log"
  fi
  end=$(date +%s.%N)
  local rss cpu report
  # The run report's cost: rank 0 logs how long gathering the timelines and writing the report took, as a share of the job.
  report=$(grep -o 'written in [0-9.]* s ([0-9.]*% of the job)' "$work/log" | grep -o '[0-9.]*%' | head -1)
  rss=$(cat "$work"/rss.* | sed -n 's/.*Maximum resident set size (kbytes): //p' | sort -n | tail -1)
  # CPU seconds (user + system, all ranks): what the conversion costs, whatever else the node is running.
  cpu=$(cat "$work"/rss.* | sed -n 's/.*\(User\|System\) time (seconds): //p' | py 'import sys; print(sum(float(x) for x in sys.stdin.read().split()))')
  rows+=("$(py '
import json, sys
m = json.load(open(sys.argv[1] + "/ckptmpi-manifest.json"))
t = float(sys.argv[3]) - float(sys.argv[2]); r = m["plan"]["bytes_read"]; w = m["plan"]["bytes_written"]
copy = float(sys.argv[6])
print(f"| {sys.argv[4]} | {sys.argv[5]} | {t:.1f} | {float(sys.argv[8]):.1f} | {r/1e9:.2f} | {w/1e9:.2f} | {r/1e9/t:.2f} | {w/1e9/t:.2f} | {int(sys.argv[7])/1024:.0f} | {copy:.1f} | {copy/t:.2f} | {sys.argv[9]} |")
' "$out" "$start" "$end" "$label" "$ranks" "$copy_rate" "$rss" "$cpu" "${report:-n/a}")")
  echo "${rows[-1]}"
}

echo "== generating the ~1.1B-parameter model (TinyLlama shapes, bf16)"
dotnet "$dll" bench-make-model --preset 1b --output "$work/hf"
hf_bytes=$(du -sb "$work/hf" | cut -f1)

echo "== copy baseline: cp -r + sync of $hf_bytes bytes"
sync
start=$(date +%s.%N); cp -r "$work/hf" "$work/copy"; sync; end=$(date +%s.%N)
printf 'cp -r + sync: %.2f s\n' "$(py "print($end - $start)")"
rm -rf "$work/copy"

# The training job's settings: without a --ds-config, --to zero needs them all (a default would be baked in).
train=(--optimizer adamw --lr 1e-3 --betas "0.9,0.999" --eps 1e-8 --weight-decay 0.01 --gradient-clipping 1.0)
run "HF -> ZeRO-3 dp48 (direct)" 1 "$work/z3" -- --from hf --to zero --zero-stage 3 --dp-size 48 "${train[@]}" --input "$work/hf"
run "HF -> ZeRO-3 dp48 (direct)" 2 "$work/z3" -- --from hf --to zero --zero-stage 3 --dp-size 48 "${train[@]}" --input "$work/hf"
run "HF -> ZeRO-3 dp48 (aggregate)" 2 "$work/z3" -- --from hf --to zero --zero-stage 3 --dp-size 48 "${train[@]}" --input "$work/hf" --io aggregate
for dtype in bf16 fp32; do
  for ranks in 1 2; do
    run "ZeRO-3 dp48 -> HF $dtype" "$ranks" "$work/back" -- --from zero --to hf --dtype "$dtype" --input "$work/z3"
  done
done
# Meta's original layout (MP 8, as Llama 2 70B / 3.1 70B ship): its shards are the source of the meta -> hf rows.
run "HF -> Meta MP8" 2 "$work/meta" -- --from hf --to meta --mp-size 8 --input "$work/hf"
for ranks in 1 2; do
  run "Meta MP8 -> HF" "$ranks" "$work/mback" -- --from meta --to hf --input "$work/meta"
done
# Meta's download to MaxText (the seed job of the 405B recipe), bf16 and AQT int8.
run "Meta MP8 -> MaxText bf16 scanned" 2 "$work/mt" -- --from meta --to maxtext --maxtext-model llama3.1-8b --input "$work/meta"
run "Meta MP8 -> MaxText AQT int8" 2 "$work/mt" -- --from meta --to maxtext --maxtext-model llama3.1-8b --quantize int8 --input "$work/meta"
rm -rf "$work/meta" "$work/mback" "$work/mt"
# NeuronX Distributed Training (tp 8, pp 4; the model's 4 KV heads replicated twice so each tp rank holds one whole head).
nxdt=(--hw-backend trn1 --tp-size 8 --pp-size 4 --qkv-linear --kv-size-multiplier 2)
run "HF -> NxDT tp8 pp4" 2 "$work/nxdt" -- --from hf --to nxdt "${nxdt[@]}" --input "$work/hf"
for ranks in 1 2; do
  run "NxDT tp8 pp4 -> HF" "$ranks" "$work/nback" -- --from nxdt --to hf "${nxdt[@]}" --input "$work/nxdt"
done
rm -rf "$work/nxdt" "$work/nback"
# Megatron-DeepSpeed (GPTModelPipe tp 2, pp 2, dp 4; BF16_Optimizer) and back from its fp32 masters.
megads=(--tp-size 2 --pp-size 2 --dp-size 4)
run "HF -> megads tp2 pp2 dp4" 2 "$work/megads" -- --from hf --to megads "${megads[@]}" --input "$work/hf"
for ranks in 1 2; do
  run "megads tp2 pp2 dp4 -> HF bf16" "$ranks" "$work/megback" -- --from megads --to hf --dtype bf16 --input "$work/megads"
done
rm -rf "$work/megads" "$work/megback"
run "HF -> ZeRO-2 dp48" 2 "$work/z2" -- --from hf --to zero --zero-stage 2 --dp-size 48 "${train[@]}" --input "$work/hf"
run "ZeRO-2 dp48 -> HF bf16" 2 "$work/back" -- --from zero --to hf --dtype bf16 --input "$work/z2"
run "HF -> MaxText bf16 scanned (llama3.1 rotary)" 2 "$work/mt" -- --from hf --to maxtext --maxtext-model llama3.1-8b --input "$work/hf"
run "HF -> MaxText AQT int8" 2 "$work/mt" -- --from hf --to maxtext --maxtext-model llama3.1-8b --quantize int8 --input "$work/hf"
rm -rf "$work/z2" "$work/back" "$work/z3" "$work/mt"

# Megatron-DeepSpeed (tp 2, pp 2, dp 2, iteration 1 with Adam state; ~160M parameters rescaled from the repository's
# fixture) -> DeepSpeed universal, then DeepSpeed's own ds_to_universal on the same files when the peer is there.
/usr/bin/python3 "$repo/tests/bench/make_megads.py" "$repo/tests/fixtures/megads/tp2_pp2_dp2/step1" "$work/megads"
for ranks in 1 2; do
  run "megads tp2 pp2 dp2 -> universal" "$ranks" "$work/univ" -- --from megads --to universal --with-optimizer-states --input "$work/megads"
done
peer="$repo/../shared/peers/deepspeed-0.14.4"
if [ -f "$peer/src/deepspeed/checkpoint/ds_to_universal.py" ]; then
  # Its defaults: 4 extract and 2 merge worker processes.
  start=$(date +%s.%N)
  (cd "$work" && /usr/bin/python3 "$repo/tests/peer/ds_to_universal.py" "$peer" "$work" "$work/megads/global_step1" "$work/megads/global_step1_universal" >"$work/log" 2>&1)
  end=$(date +%s.%N)
  echo "DeepSpeed ds_to_universal on the same checkpoint: $(py "print(f'{$end - $start:.1f}')") s"
fi
rm -rf "$work/megads" "$work/univ" "$work/hf"

echo "== a model with a 1 GiB tensor (embed and lm_head 262144 x 2048 bf16), --max-buffer 64MiB"
dotnet "$dll" bench-make-model --output "$work/big" --vocab 262144 --hidden 2048 --layers 1 --intermediate 256 --heads 16 --kv-heads 4 --max-shard-size 5GB
run "1 GiB tensor: HF -> ZeRO-3 dp4, 64MiB buffer" 1 "$work/bigz" -- --from hf --to zero --zero-stage 3 --dp-size 4 "${train[@]}" --input "$work/big" --max-buffer 64MiB
run "1 GiB tensor: ZeRO-3 -> HF fp32, 64MiB buffer" 1 "$work/bigback" -- --from zero --to hf --dtype fp32 --input "$work/bigz" --max-buffer 64MiB
echo
echo "| conversion | ranks | s | CPU s | GB read | GB written | GB/s read | GB/s written | peak RSS/rank MiB | copy s | vs copy | report |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
