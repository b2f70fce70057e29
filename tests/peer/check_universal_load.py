#!/usr/bin/env python3
"""Load a DeepSpeed universal checkpoint into a real DeepSpeed engine (ZeRO-1/2, `checkpoint.load_universal`) on W
ranks of the peer's CPU harness, compare what the engine holds with a reference, then train one step. Exit 0 only if
all is well.

    /usr/bin/python3 check_universal_load.py PEER_DIR SAVE_ROOT --stage S --world W --dtype bf16|fp32|fp16
                                             --ref REF.pt --model config.json --ds-config ds_config.json

SAVE_ROOT holds `latest_universal`. REF.pt: a dict with `fp32`, `exp_avg`, `exp_avg_sq` ({HF name: tensor}) and
`step`. The harness's own dsenv builds the model and the ranks (PEER_DIR/harness; DS_SRC as check_load.py takes it).

Checks, on every rank:
 1. load_checkpoint finds the universal tag and loads it (global_steps is the reference's step);
 2. the fp32 masters, exp_avg and exp_avg_sq, read from the optimizer's own flat partitions of every rank (gathered
    and cut at the params' offsets in the flat group), equal the reference bit for bit. Not through
    safe_get_full_fp32_param: after a universal load DeepSpeed 0.14.4's per-param hp mapping of the masters still
    shows the engine's init values (so it does for ds_to_universal's own output), while the flat partitions, which
    the optimizer steps and copies into the module, hold the loaded ones; the optimizer's step equals the reference's; the module's weights equal the masters cast to the dtype;
 3. one training step: finite loss, every weight moves, the loss on the same batch drops.
"""
import argparse
import copy
import json
import math
import os
import sys


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("peer")
    ap.add_argument("root")
    ap.add_argument("--stage", type=int, required=True)
    ap.add_argument("--world", type=int, required=True)
    ap.add_argument("--dtype", choices=["bf16", "fp32", "fp16"], required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ds-config", required=True)
    ap.add_argument("--timeout", type=int, default=600)
    return ap.parse_args()


def gathered(dist, t):
    """This rank's flat partition, every rank's joined in rank order (ZeRO-1/2 partitions are equal in size)."""
    import torch
    parts = [torch.zeros_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def worker(a, dsenv):
    dsenv.setup_env()
    import torch
    deepspeed = dsenv.init_deepspeed()
    import deepspeed.comm as dist

    if a.dtype == "fp16":
        dsenv.allow_fp16_on_cpu()
    bad, lines = [], []
    ref = torch.load(a.ref, map_location="cpu")
    cfg = dsenv.model_config(a.model)
    conf = json.load(open(a.ds_config))
    conf.setdefault("zero_optimization", {})["stage"] = a.stage
    conf.setdefault("checkpoint", {})["load_universal"] = True
    model = dsenv.build_model(cfg)
    dsenv.init_weights(model, seed=778)  # not the reference's values: the load must overwrite every one
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=copy.deepcopy(conf))

    path, _ = engine.load_checkpoint(a.root, load_optimizer_states=True, load_lr_scheduler_states=True)
    if path is None:
        bad.append("load_checkpoint returned None (no latest_universal?)")
    elif engine.global_steps != int(ref["step"]):
        bad.append(f"global_steps {engine.global_steps} != the reference's step {int(ref['step'])}")
    else:
        lines.append(f"loaded {path}; global_steps={engine.global_steps}")

    opt = engine.optimizer
    names = {id(p): n for n, p in engine.module.named_parameters()}
    got = {"fp32": {}, "exp_avg": {}, "exp_avg_sq": {}}
    steps = set()
    for i, flat_partition in enumerate(opt.single_partition_of_fp32_groups):
        state = opt.optimizer.state[flat_partition]
        flats = {"fp32": gathered(dist, flat_partition.detach()),
                 "exp_avg": gathered(dist, state["exp_avg"]), "exp_avg_sq": gathered(dist, state["exp_avg_sq"])}
        steps.add(int(state["step"]))
        at = 0
        for p in opt.bit16_groups[i]:
            for key, flat in flats.items():
                got[key][names[id(p)]] = flat[at:at + p.numel()].view(p.shape).clone()
            at += p.numel()
    for key in ("fp32", "exp_avg", "exp_avg_sq"):
        want = ref[key]
        diff = [n for n in want if n not in got[key] or not torch.equal(got[key][n].view(torch.int32), want[n].float().view(torch.int32))]
        extra = sorted(set(got[key]) - set(want))
        if diff or extra:
            bad.append(f"{key}: {len(diff)} of {len(want)} tensors differ {diff[:3]}, extra {extra[:3]}")
        else:
            lines.append(f"{key}: {len(want)} tensors equal the reference bit for bit")
    if steps != {int(ref["step"])}:
        bad.append(f"optimizer step {sorted(steps)} != {int(ref['step'])}")
    else:
        lines.append(f"optimizer step {sorted(steps)}")
    lp = torch.bfloat16 if a.dtype == "bf16" else torch.float16 if a.dtype == "fp16" else torch.float32
    off = [n for n, p in engine.module.named_parameters() if not torch.equal(p.detach(), ref["fp32"][n].to(lp))]
    if off:
        bad.append(f"module weights differ from the masters cast to {a.dtype}: {off[:3]}")
    else:
        lines.append(f"module weights are the masters cast to {a.dtype}")

    batch = dsenv.make_batch(cfg, seed=99)
    before = {n: p.detach().clone() for n, p in engine.module.named_parameters()}
    loss1 = engine(batch)
    engine.backward(loss1)
    engine.step()
    loss2 = engine(batch)
    l1, l2 = float(loss1), float(loss2)
    moved = sum(int(not torch.equal(p.detach(), before[n])) for n, p in engine.module.named_parameters())
    if not (math.isfinite(l1) and math.isfinite(l2) and l2 < l1 and moved == len(before)):
        bad.append(f"training: loss {l1} -> {l2}, {moved}/{len(before)} tensors moved")
    else:
        lines.append(f"trains: loss {l1:.5f} -> {l2:.5f}, all {moved} tensors moved")

    flag = torch.tensor([len(bad)], dtype=torch.int64)
    dist.all_reduce(flag)
    rank = dist.get_rank()
    if rank == 0 or bad:
        print("\n".join([f"[rank {rank}] ok   {l}" for l in lines] + [f"[rank {rank}] FAIL {b}" for b in bad]), flush=True)
    dist.barrier()
    return 1 if int(flag) else 0


def main():
    a = parse()
    sys.path.insert(0, os.path.join(os.path.abspath(a.peer), "harness"))
    import dsenv
    if dsenv.is_worker():
        return worker(a, dsenv)
    args = [os.path.abspath(a.peer), os.path.abspath(a.root), "--stage", str(a.stage), "--world", str(a.world),
            "--dtype", a.dtype, "--ref", os.path.abspath(a.ref), "--model", os.path.abspath(a.model),
            "--ds-config", os.path.abspath(a.ds_config)]
    rcs = dsenv.launch(os.path.abspath(__file__), args, a.world, timeout=a.timeout)
    ok = not any(rcs)
    print(f"check_universal_load: {'PASS' if ok else 'FAIL'} {a.root} (rank exit codes {rcs})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
