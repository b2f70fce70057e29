#!/usr/bin/env python3
"""Load a Megatron-DeepSpeed checkpoint (`ckptmpi convert --to megads`, or our universal output) into DeepSpeed 0.14.4's
real PipelineEngine, the way a Megatron-DeepSpeed job does, and check every value.  Exit 0 only if all is well.

    /usr/bin/python3 check_pipe_load.py SAVE_DIR --pp P --dp D --ds-config ds_config.json
                                        (--hf HF_DIR [--padding mean|zero] | --universal --ref REF.pt)

What it builds, and why: Megatron itself is not installed (it needs apex, CUDA kernels and its own initialisation),
so the model is a pure-torch stand-in for GPTModelPipe (argonne-lcf/Megatron-DeepSpeed megatron/model/gpt_model.py)
that DeepSpeed cannot tell apart where checkpoints are concerned: a deepspeed.pipe.PipelineModule over the same layer
list, index for index - 0 the bf16 cast function, 1 EmbeddingPipe (`word_embeddings.weight`, padded vocabulary),
2 .. L+1 ParallelTransformerLayerPipe (`input_layernorm.weight`, `self_attention.query_key_value.weight` fused per KV
group as [its query heads, its key head, its value head], `self_attention.dense.weight`, `post_attention_layernorm.
weight`, `mlp.dense_h_to_4h.weight` = [gate; up], `mlp.dense_4h_to_h.weight`), L+2 the final RMSNorm (`weight`), L+3
LMHeadPipe (`lm_head.weight`), L+4 the fp32 cast function - with GPTModelPipe's topology (PipeModelDataParallel, tensor
parallel 1), partition_method 'type:transformer', Megatron's two optimizer groups (weight-decayed matrices, then the
norms) over torch Adam, and the job's ds_config (bf16, ZeRO-1; with data_types.grad_accum_dtype fp32 DeepSpeed picks
BF16_Optimizer). The forward pass is a Llama (RMSNorm, rotary half-split, GQA, SwiGLU), so one training step is real.

Run on P x D ranks (gloo, CPU; the peer harness's dsenv.py fills torch 1.13's gloo gaps, and this script adds bf16
point-to-point sends, which the pipeline's activations and gradients need). On every rank:
 1. the names and shapes of the stage's parameters, per optimizer group, equal `param_shapes` in its
    mp_rank_XX_model_states.pt (so the flat fp32 partitions line up with DeepSpeed's own stage partition);
 2. engine.load_checkpoint(SAVE_DIR, load_optimizer_states=True) loads the layer files and the ZeRO partitions;
 3. --hf: every module weight (bf16) equals the HF weight put through Megatron's layout (fused QKV per KV group, gate
    then up, vocabulary padded with the mean of the real rows (fp64 sum, fp32, bf16) or zeros), and every fp32 master
    equals the HF value (padded rows: that bf16 value); the Adam state is empty (iteration 0), param_groups have the
    checkpoint's lr and weight decay (0 for norms) and clip_grad is the config's;
    --universal: (checkpoint.load_universal) fp32 masters, exp_avg, exp_avg_sq equal REF (engine names, as the live
    engine had them; padded vocabulary rows zero, as DeepSpeed pads the universal's unpadded vocabulary), the module
    weights are the masters in bf16, and Adam's step is REF's (1 by default). Masters are read from the optimizer's
    flat fp32 partition (see full_master for why not safe_get_full_fp32_param);
 4. train_batch twice on one fixed batch: finite losses, every fp32 master moved, the second loss lower.
"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def harness_dir():
    h = os.environ.get("PEER_HARNESS") or os.path.join(HERE, "..", "..", "..", "shared", "peers", "deepspeed-0.14.4",
                                                        "harness")
    if not os.path.isfile(os.path.join(h, "dsenv.py")):
        sys.exit(f"the DeepSpeed peer harness is not at {h} (set PEER_HARNESS)")
    return os.path.abspath(h)


if "DS_SRC" not in os.environ:
    # The peer's source as stored may hold its symlinks as small text files; check_family.py builds a linked tree.
    os.environ.setdefault("PEER_HARNESS", harness_dir())
    sys.path.insert(0, HERE)
    import check_family  # noqa: E402,F401  (sets DS_SRC)
sys.path.insert(0, harness_dir())
import dsenv  # noqa: E402
sys.path.insert(0, HERE)
import megatron_stub  # noqa: E402
from safetensors_read import read_safetensors  # noqa: E402


def patch_bf16_p2p():
    """torch 1.13's gloo refuses bfloat16 in send/recv too; the pipeline sends bf16 activations and gradients. They
    travel as float16-typed bit patterns (a pure copy, exact)."""
    import torch
    import torch.distributed as tdist
    import torch.distributed.distributed_c10d as c10d
    orig_send, orig_recv = c10d.send, c10d.recv

    def bits(t):
        return t.view(torch.float16) if t.dtype == torch.bfloat16 else t

    def send(tensor, dst, group=None, tag=0):
        return orig_send(bits(tensor), dst, group=group, tag=tag)

    def recv(tensor, src=None, group=None, tag=0):
        return orig_recv(bits(tensor), src, group=group, tag=tag)

    for mod in (tdist, c10d):
        mod.send, mod.recv = send, recv


# --------------------------------------------------------------------------- HF weights in Megatron's layout
def padded_rows(w, vp, padding):
    """Megatron-DeepSpeed's converter fills padded vocabulary rows with the mean of the real rows; the fp32 master
    copies the bf16 weight, so both hold the bf16 value."""
    import torch
    extra = vp - w.shape[0]
    if padding == "zero":
        fill = torch.zeros(w.shape[1])
    else:
        fill = (w.double().sum(0) / w.shape[0]).float().bfloat16().float()
    return torch.cat([w, fill.expand(extra, -1)])


def megatron_reference(hf, cfg, vp, padding):
    """{engine name: fp32 tensor}: HF weights in GPTModelPipe's layer files' layout (tensor parallel 1)."""
    import torch
    L, nh = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh
    H = cfg["hidden_size"]
    ref = {"1.word_embeddings.weight": padded_rows(hf["model.embed_tokens.weight"], vp, padding)}
    for i in range(L):
        p, e = f"model.layers.{i}.", f"{i + 2}."
        q = hf[p + "self_attn.q_proj.weight"].view(nkv, nh // nkv * hd, H)
        k = hf[p + "self_attn.k_proj.weight"].view(nkv, hd, H)
        v = hf[p + "self_attn.v_proj.weight"].view(nkv, hd, H)
        ref[e + "input_layernorm.weight"] = hf[p + "input_layernorm.weight"]
        ref[e + "self_attention.query_key_value.weight"] = torch.cat([q, k, v], 1).reshape(-1, H)
        ref[e + "self_attention.dense.weight"] = hf[p + "self_attn.o_proj.weight"]
        ref[e + "post_attention_layernorm.weight"] = hf[p + "post_attention_layernorm.weight"]
        ref[e + "mlp.dense_h_to_4h.weight"] = torch.cat([hf[p + "mlp.gate_proj.weight"], hf[p + "mlp.up_proj.weight"]])
        ref[e + "mlp.dense_4h_to_h.weight"] = hf[p + "mlp.down_proj.weight"]
    ref[f"{L + 2}.weight"] = hf["model.norm.weight"]
    if cfg.get("tie_word_embeddings"):
        # GPTModelPipe's TiedLayerSpec('embed'): one module, named under tied_modules on every stage that holds it
        ref["tied_modules.embed.word_embeddings.weight"] = ref.pop("1.word_embeddings.weight")
    else:
        ref[f"{L + 3}.lm_head.weight"] = padded_rows(hf["lm_head.weight"], vp, padding)
    return ref


# --------------------------------------------------------------------------- GPTModelPipe in plain torch
def build_pipe(cfg, vp, pp, dp, seed):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from deepspeed.pipe import PipelineModule, LayerSpec, TiedLayerSpec
    from deepspeed.runtime.pipe.topology import PipeModelDataParallelTopology

    H, F_ = cfg["hidden_size"], cfg["intermediate_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    eps, theta = cfg.get("rms_norm_eps", 1e-5), cfg.get("rope_theta", 10000.0)

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(H))

        def forward(self, x):
            h = x.float()
            return self.weight * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)

    def rope(x):  # [b, heads, s, hd], Megatron's rotary = HF's half split
        s = x.shape[-2]
        inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        f = torch.outer(torch.arange(s, dtype=torch.float32), inv)
        emb = torch.cat([f, f], -1)
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        return (x.float() * emb.cos() + torch.cat([-x2, x1], -1).float() * emb.sin()).to(x.dtype)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query_key_value = nn.Linear(H, (nh + 2 * nkv) * hd, bias=False)
            self.dense = nn.Linear(nh * hd, H, bias=False)

        def forward(self, x):
            b, s, _ = x.shape
            g = nh // nkv
            qkv = self.query_key_value(x).view(b, s, nkv, (g + 2) * hd)
            q, k, v = qkv.split([g * hd, hd, hd], -1)
            q = q.reshape(b, s, nh, hd).transpose(1, 2)
            k = k.transpose(1, 2).repeat_interleave(g, 1)
            v = v.transpose(1, 2).repeat_interleave(g, 1)
            q, k = rope(q), rope(k)
            a = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(hd)
            a = a.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
            o = (a @ v.float()).to(x.dtype).transpose(1, 2).reshape(b, s, nh * hd)
            return self.dense(o)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense_h_to_4h = nn.Linear(H, 2 * F_, bias=False)
            self.dense_4h_to_h = nn.Linear(F_, H, bias=False)

        def forward(self, x):
            gate, up = self.dense_h_to_4h(x).chunk(2, -1)
            return self.dense_4h_to_h(F.silu(gate) * up)

    # Class names matter: partition_method 'type:transformer' weighs the layers whose class name contains it.
    class ParallelTransformerLayerPipe(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layernorm = RMSNorm()
            self.self_attention = SelfAttention()
            self.post_attention_layernorm = RMSNorm()
            self.mlp = MLP()

        def forward(self, x):
            x = x + self.self_attention(self.input_layernorm(x))
            return x + self.mlp(self.post_attention_layernorm(x))

    class EmbeddingPipe(nn.Module):
        def __init__(self):
            super().__init__()
            self.word_embeddings = nn.Embedding(vp, H)

        @property
        def word_embeddings_weight(self):
            return self.word_embeddings.weight

        def forward(self, ids):
            return self.word_embeddings(ids)

    class LMHeadPipe(nn.Module):
        def __init__(self):
            super().__init__()
            self.lm_head = nn.Linear(H, vp, bias=False)

        def forward(self, x):
            return self.lm_head(x)

    def _to_float16(inputs):
        return inputs.bfloat16() if inputs.is_floating_point() else inputs

    def float16_to_fp32(x):
        return x.float()

    def loss_fn(logits, labels):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    def _logits_helper(embedding, lm_output):
        return F.linear(lm_output, embedding.word_embeddings_weight)

    tied = bool(cfg.get("tie_word_embeddings"))
    torch.manual_seed(seed)  # weights unlike the checkpoint's: loading must overwrite every one
    embed = TiedLayerSpec("embed", EmbeddingPipe, tied_weight_attr="word_embeddings_weight") if tied else LayerSpec(
        EmbeddingPipe)
    head = TiedLayerSpec("embed", EmbeddingPipe, forward_fn=_logits_helper,
                         tied_weight_attr="word_embeddings_weight") if tied else LayerSpec(LMHeadPipe)
    specs = [_to_float16, embed]
    specs += [LayerSpec(ParallelTransformerLayerPipe) for _ in range(cfg["num_hidden_layers"])]
    specs += [LayerSpec(RMSNorm), head, float16_to_fp32]
    topo = PipeModelDataParallelTopology(num_pp=pp, num_mp=1, num_dp=dp)

    class GPTModelPipe(PipelineModule):
        pass

    model = GPTModelPipe(layers=specs, loss_fn=loss_fn, topology=topo, activation_checkpoint_interval=0,
                         partition_method="type:transformer")
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model


def full_master(engine, p, dist):
    """The fp32 master of p, whole over data parallel, read from the flat partition the optimizer steps. (DeepSpeed's
    safe_get_full_fp32_param reads the parameter's hp_fragment view; after a universal load 0.14.4's
    map_to_flat_opt_states leaves that view on the last optimizer-state buffer instead, so it returns a moment.)"""
    import torch
    m = p._hp_mapping
    buf = torch.zeros(p.numel(), dtype=torch.float32)
    if m is not None:
        opt = engine.optimizer
        flat = (opt.fp32_groups_flat_partition if hasattr(opt, "fp32_groups_flat_partition")
                else opt.single_partition_of_fp32_groups)[m.param_group_index]
        lp, hp = m.lp_fragment_address, m.hp_fragment_address
        buf.narrow(0, lp.start, lp.numel).copy_(flat.detach().narrow(0, hp.start, hp.numel))
    dist.all_reduce(buf, group=p._dp_group)
    return buf.view_as(p)


def without_padding(ref, info):
    """A universal checkpoint holds the vocabulary without its padded rows; DeepSpeed's load pads with zeros."""
    import re
    v, pats = info["original_vocab_size"], info.get("vocabulary_parameter_patterns", [])
    out = {}
    for key, tensors in ref.items():
        out[key] = {}
        for n, t in tensors.items():
            if any(re.match(pat, n) for pat in pats):
                t = t.clone()
                t[v:] = 0
            out[key][n] = t
    return out


def param_groups(model):
    """Megatron's get_param_groups with nothing lr-scaled: weight-decayed (matrices), then not (norms, biases)."""
    wd, no_wd = [], []
    for name, p in model.named_parameters():
        (no_wd if name.endswith(".bias") or p.dim() == 1 else wd).append((name, p))
    return [g for g in (wd, no_wd) if g]


# --------------------------------------------------------------------------- the check
class Report:
    def __init__(self, rank, stage):
        self.rank, self.stage, self.bad, self.lines = rank, stage, 0, []

    def fail(self, msg):
        self.bad += 1
        self.lines.append("FAIL " + msg)

    def ok(self, msg):
        self.lines.append("ok   " + msg)

    def compare(self, what, got, want):
        import torch
        problems = []
        for n, g in got.items():
            if n not in want:
                problems.append(f"{n}: not in the reference")
                continue
            w = want[n]
            if tuple(g.shape) != tuple(w.shape):
                problems.append(f"{n}: shape {tuple(g.shape)} != {tuple(w.shape)}")
            elif not torch.equal(g, w):
                d = (g.float() - w.float()).abs()
                problems.append(f"{n}: {int((d > 0).sum())}/{d.numel()} elements differ, max |diff| {float(d.max()):.3g}")
        if problems:
            self.fail(f"{what}: " + "; ".join(problems[:4]) + (" ..." if len(problems) > 4 else ""))
        else:
            self.ok(f"{what}: {len(got)} tensors equal, bit for bit")


def worker(a):
    dsenv.setup_env()
    megatron_stub.install()
    import torch
    deepspeed = dsenv.init_deepspeed()
    patch_bf16_p2p()
    import deepspeed.comm as dist
    from deepspeed.utils import safe_get_full_fp32_param, safe_get_full_optimizer_state

    with open(a.ds_config) as f:
        conf = json.load(f)
    if a.universal:
        conf.setdefault("checkpoint", {})["load_universal"] = True
    tag_file = os.path.join(a.ckpt, "latest_universal" if a.universal else "latest")
    with open(tag_file) as f:
        tag = f.read().strip()
    state0 = torch.load(os.path.join(a.ckpt, tag, "mp_rank_00_model_states.pt"), map_location="cpu")
    margs = state0["args"]
    with open(a.config) as f:
        cfg = json.load(f)
    vp = margs.padded_vocab_size

    model = build_pipe(cfg, vp, a.pp, a.dp, seed=1000 + dist.get_rank())
    groups = param_groups(model)
    opt = torch.optim.Adam([{"params": [p for _, p in g]} for g in groups], lr=0.5, betas=(0.5, 0.5), eps=0.5,
                           weight_decay=0.5)  # values unlike the checkpoint's: loading must set them
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=opt, config=conf)
    stage = engine.stage_id
    rep = Report(dist.get_rank(), stage)
    rep.lines.append(f"info stage {stage} of {engine.num_stages}: layers {model._local_start}..{model._local_stop - 1}"
                     f", optimizer {type(engine.optimizer).__name__}")

    # 1. the stage's parameters are the ones DeepSpeed's own partition of the checkpoint put there, in order
    mine = engine.mpu.get_model_parallel_rank()
    own_path = os.path.join(a.ckpt, tag, f"mp_rank_{mine:02d}_model_states.pt")
    got_shapes = [[(n, tuple(p.shape)) for n, p in g] for g in groups]
    if a.universal and state0["mp_world_size"] != a.pp:
        rep.lines.append(f"info the universal checkpoint was saved at pipeline size {state0['mp_world_size']}, not "
                         f"{a.pp}: its parameters are found by name")
    else:
        own = torch.load(own_path, map_location="cpu")
        want_shapes = [[(n, tuple(s)) for n, s in g.items()] for g in own["param_shapes"]]
        if want_shapes != got_shapes:
            rep.fail(f"mp_rank_{mine:02d} param_shapes {want_shapes} != this stage's parameters {got_shapes}")
        else:
            rep.ok(f"mp_rank_{mine:02d} param_shapes: this stage's {sum(map(len, got_shapes))} parameters in "
                   f"{len(got_shapes)} groups, same names, shapes and order")

    # 2. load, spying on the ZeRO partitions' load (DeepSpeed falls back to the module weights without them)
    zero_loaded = []
    orig = engine._load_zero_checkpoint

    def spy(*args, **kw):
        r = orig(*args, **kw)
        zero_loaded.append(r)
        return r

    engine._load_zero_checkpoint = spy
    path, _ = engine.load_checkpoint(a.ckpt, tag=None, load_optimizer_states=True, load_lr_scheduler_states=False)
    if path is None:
        rep.fail("load_checkpoint returned None")
    elif zero_loaded != [True]:
        rep.fail(f"DeepSpeed did not load the optimizer partitions (_load_zero_checkpoint -> {zero_loaded})")
    else:
        what = "the universal parameter files" if a.universal else "the layer files and the optimizer partitions"
        rep.ok(f"load_checkpoint({a.ckpt}, {tag}) loaded {what} (global_steps {engine.global_steps})")

    # 3. values
    params = dict(engine.module.named_parameters())
    module = {n: p.detach().clone() for n, p in params.items()}
    master = {n: full_master(engine, p, dist) for n, p in params.items()}
    adam_entries = len(engine.optimizer.optimizer.state)
    if a.universal:
        # BF16_Optimizer links the Adam state to per-parameter views lazily (at the next step); reading it needs that
        engine.optimizer._lazy_init_hp_params_optimizer_state()
        ref = without_padding(torch.load(a.ref, map_location="cpu"), state0["universal_checkpoint_info"])
        rep.compare("module weights (bf16) = the masters in bf16", module,
                    {n: t.bfloat16() for n, t in ref["fp32"].items()})
        rep.compare("fp32 masters", master, ref["fp32"])
        for key in ("exp_avg", "exp_avg_sq"):
            got = {n: safe_get_full_optimizer_state(p, key).detach().clone() for n, p in params.items()}
            rep.compare(f"Adam {key}", got, ref[key])
        steps = sorted({int(s["step"]) for s in engine.optimizer.optimizer.state.values() if "step" in s})
        (rep.ok if steps == [a.step] else rep.fail)(f"Adam step {steps} (want [{a.step}])")
    else:
        ref = megatron_reference(read_safetensors(a.hf), cfg, vp, a.padding)
        rep.compare("module weights (bf16) = HF in Megatron's layout", module, {n: t.bfloat16() for n, t in ref.items()})
        rep.compare("fp32 masters = HF values", master, ref)
        rep.compare("fp32 masters through DeepSpeed's safe_get_full_fp32_param",
                    {n: safe_get_full_fp32_param(p).detach().clone() for n, p in params.items()}, ref)
        (rep.ok if adam_entries == 0 else rep.fail)(f"Adam state after load: {adam_entries} entries (iteration 0: none)")
        pgs = engine.optimizer.optimizer.param_groups
        want_pg = [(margs.lr, margs.weight_decay), (margs.lr, 0.0)][:len(pgs)]
        got_pg = [(g["lr"], g["weight_decay"]) for g in pgs]
        betas = {tuple(g["betas"]) for g in pgs} | {(margs.adam_beta1, margs.adam_beta2)}
        if got_pg != want_pg or len(betas) != 1 or float(engine.optimizer.clip_grad) != float(conf["gradient_clipping"]):
            rep.fail(f"param_groups (lr, wd) {got_pg} betas {betas} clip {engine.optimizer.clip_grad}; want {want_pg},"
                     f" ({margs.adam_beta1}, {margs.adam_beta2}), {conf['gradient_clipping']}")
        else:
            rep.ok(f"param_groups (lr, weight decay) {got_pg}, betas {betas.pop()}, clip_grad {engine.optimizer.clip_grad}")

    # 4. train: one batch of the configured size, twice
    g = torch.Generator().manual_seed(a.batch_seed)
    mb, seq = engine.train_micro_batch_size_per_gpu(), margs.seq_length
    batches = [(lambda t: (t[:, :-1].contiguous(), t[:, 1:].contiguous()))(
        torch.randint(0, cfg["vocab_size"], (mb, seq + 1), generator=g)) for _ in range(engine.gradient_accumulation_steps())]
    loss1 = float(engine.train_batch(iter(batches)))
    moved = sum(int(not torch.equal(full_master(engine, p, dist), master[n])) for n, p in params.items())
    loss2 = float(engine.train_batch(iter(batches)))
    if not (math.isfinite(loss1) and math.isfinite(loss2)):
        rep.fail(f"non-finite loss {loss1} {loss2}")
    elif moved < len(params):
        rep.fail(f"only {moved}/{len(params)} fp32 masters changed after a step")
    elif not loss2 < loss1:
        rep.fail(f"loss did not drop after one step: {loss1:.5f} -> {loss2:.5f}")
    else:
        rep.ok(f"trains: loss {loss1:.5f} -> {loss2:.5f} after one step, all {moved} masters moved")

    flag = torch.tensor([rep.bad], dtype=torch.int64)
    dist.all_reduce(flag)
    for r in range(dist.get_world_size()):
        if r == dist.get_rank():
            print("\n".join(f"[rank {rep.rank} stage {stage}] {l}" for l in rep.lines), flush=True)
        dist.barrier()
    return 1 if int(flag) else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt", help="the save folder (holds latest / latest_universal)")
    ap.add_argument("--pp", type=int, required=True)
    ap.add_argument("--dp", type=int, required=True)
    ap.add_argument("--ds-config", required=True)
    ap.add_argument("--config", help="HF config.json of the model (default: CKPT/config.json, else HF_DIR's)")
    ap.add_argument("--hf", help="the HF folder the checkpoint was converted from")
    ap.add_argument("--padding", choices=["mean", "zero"], default="mean")
    ap.add_argument("--universal", action="store_true")
    ap.add_argument("--ref", help="--universal: torch.save of {fp32, exp_avg, exp_avg_sq: {engine name: tensor}}")
    ap.add_argument("--step", type=int, default=1, help="--universal: Adam's step in the reference")
    ap.add_argument("--batch-seed", type=int, default=99)
    ap.add_argument("--timeout", type=int, default=600)
    a = ap.parse_args()
    if bool(a.universal) == bool(a.hf) or (a.universal and not a.ref):
        ap.error("give --hf HF_DIR, or --universal with --ref REF.pt")
    if not a.config:
        a.config = next((c for c in (os.path.join(a.ckpt, "config.json"), os.path.join(a.hf or "", "config.json"))
                         if os.path.isfile(c)), None)
        if not a.config:
            ap.error("no config.json beside the checkpoint: give --config")
    if dsenv.is_worker():
        return worker(a)
    args = [os.path.abspath(a.ckpt), "--pp", str(a.pp), "--dp", str(a.dp), "--ds-config", os.path.abspath(a.ds_config),
            "--config", os.path.abspath(a.config), "--padding", a.padding, "--step", str(a.step),
            "--batch-seed", str(a.batch_seed)]
    args += ["--hf", os.path.abspath(a.hf)] if a.hf else ["--universal", "--ref", os.path.abspath(a.ref)]
    rcs = dsenv.launch(os.path.abspath(__file__), args, a.pp * a.dp, timeout=a.timeout)
    ok = not any(rcs)
    print(f"check_pipe_load: {'PASS' if ok else 'FAIL'} {a.ckpt} pp={a.pp} dp={a.dp} (rank exit codes {rcs})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
