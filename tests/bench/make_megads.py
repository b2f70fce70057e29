# A trained-looking Megatron-DeepSpeed checkpoint (tp 2, pp 2, dp --dp, iteration 1, BF16_Optimizer with Adam state)
# of a larger Llama than the repository's fixture, for timing --from megads --to universal and DeepSpeed's own
# ds_to_universal on the same files. Made from the fixture's real files: their model-state dicts with args,
# param_shapes and universal_checkpoint_info rescaled, the optimizer files' structure (flat fp32 partitions,
# base_optimizer_state, param_slice_mappings) rebuilt for the new shapes with random values. Not a model anyone
# trained; the layout is the real one.
# Usage: make_megads.py FIXTURE_STEP1 OUT_SAVE_DIR [--layers 8 --hidden 1024 --ffn 2816 --heads 16 --kv 8 --vocab 32000 --dp 2]
import argparse, collections, os, sys, types

ap = argparse.ArgumentParser()
ap.add_argument('fixture'); ap.add_argument('out')
ap.add_argument('--layers', type=int, default=8); ap.add_argument('--hidden', type=int, default=1024)
ap.add_argument('--ffn', type=int, default=2816); ap.add_argument('--heads', type=int, default=16)
ap.add_argument('--kv', type=int, default=8); ap.add_argument('--vocab', type=int, default=32000)
ap.add_argument('--dp', type=int, default=2)
# 'last': as BF16_Optimizer records it (the last data rank holds the whole padding); 'none': 0 everywhere, which
# DeepSpeed's readers accept even where the padding exceeds a partition (the values are the same).
ap.add_argument('--group-paddings', choices=['last', 'none'], default='last')
a = ap.parse_args()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'peer'))
import megatron_stub  # noqa: E402
ModelType = megatron_stub.install()
# DeepSpeed's fragment_address, a plain dataclass: pickled by module and name, so this stand-in writes what it
# writes and reads the fixture's optimizer files without DeepSpeed installed.
import dataclasses
@dataclasses.dataclass
class fragment_address:
    numel: int
    start: int
fragment_address.__module__ = 'deepspeed.utils.tensor_fragment'
deepspeed, ds_utils, ds_fragment = (types.ModuleType(n) for n in ('deepspeed', 'deepspeed.utils', 'deepspeed.utils.tensor_fragment'))
ds_fragment.fragment_address = fragment_address
deepspeed.utils, ds_utils.tensor_fragment = ds_utils, ds_fragment
sys.modules.update({'deepspeed': deepspeed, 'deepspeed.utils': ds_utils, 'deepspeed.utils.tensor_fragment': ds_fragment})
import torch

TP, PP, DP = 2, 2, a.dp
L, H, F, NH, KV, V = a.layers, a.hidden, a.ffn, a.heads, a.kv, a.vocab
hd = H // NH
Vp = -(-V // (128 * TP)) * 128 * TP
src = os.path.join(a.fixture, 'global_step1')
tag = os.path.join(a.out, 'global_step1')
os.makedirs(tag, exist_ok=True)
for f in ('latest', 'latest_checkpointed_iteration.txt'):
    open(os.path.join(a.out, f), 'w').write(open(os.path.join(a.fixture, f)).read())

def local(layer, name):
    return {'word_embeddings.weight': (Vp // TP, H), 'lm_head.weight': (Vp // TP, H), 'weight': (H,),
            'input_layernorm.weight': (H,), 'post_attention_layernorm.weight': (H,),
            'self_attention.query_key_value.weight': ((NH + 2 * KV) // TP * hd, H),
            'self_attention.dense.weight': (H, NH * hd // TP),
            'mlp.dense_h_to_4h.weight': (2 * F // TP, H), 'mlp.dense_4h_to_h.weight': (H, F // TP)}[name]

half = L // 2
stages = [list(range(2, 2 + half)), list(range(2 + half, 2 + L))]
g = torch.Generator().manual_seed(1)
for pp in range(PP):
    wd, nowd = [], []
    if pp == 0: wd.append((1, 'word_embeddings.weight'))
    for layer in stages[pp]:
        wd += [(layer, n) for n in ('self_attention.query_key_value.weight', 'self_attention.dense.weight', 'mlp.dense_h_to_4h.weight', 'mlp.dense_4h_to_h.weight')]
        nowd += [(layer, n) for n in ('input_layernorm.weight', 'post_attention_layernorm.weight')]
    if pp == PP - 1:
        wd.append((L + 3, 'lm_head.weight'))
        nowd.append((L + 2, 'weight'))
    groups = [wd, nowd]
    for tp in range(TP):
        mp = pp * TP + tp
        ms = torch.load(os.path.join(src, 'mp_rank_%02d_model_states.pt' % mp))
        args = ms['args']
        for k, v in dict(num_layers=L, hidden_size=H, ffn_hidden_size=F, num_attention_heads=NH, num_key_value_heads=KV,
                         kv_channels=hd, padded_vocab_size=Vp).items():
            setattr(args, k, v)
        ms['dp_world_size'] = DP
        if hasattr(args, 'data_parallel_size'): args.data_parallel_size = DP
        args.world_size = TP * PP * DP
        ms['universal_checkpoint_info']['original_vocab_size'] = V
        ms['universal_checkpoint_info']['padded_vocab_size'] = Vp
        ms['param_shapes'] = [collections.OrderedDict(('%d.%s' % p, torch.Size(local(*p))) for p in grp) for grp in groups]
        torch.save(ms, os.path.join(tag, 'mp_rank_%02d_model_states.pt' % mp))
        # The norms (group 1) are replicated over tensor ranks, their moments too: ds_to_universal checks they agree.
        gens = [g, torch.Generator().manual_seed(100 + pp)]
        flats = [torch.randn(sum(torch.Size(local(*p)).numel() for p in grp), generator=gen) * 0.02 for grp, gen in zip(groups, gens)]
        # Layer files: the bf16 module weights (the fp32 masters rounded), local names.
        layers = collections.OrderedDict()
        for grp, flat in zip(groups, flats):
            at = 0
            for layer, name in grp:
                n = torch.Size(local(layer, name)).numel()
                layers.setdefault(layer, collections.OrderedDict())[name] = flat[at:at + n].view(local(layer, name)).to(torch.bfloat16).clone()
                at += n
        for layer, sd in layers.items():
            torch.save(sd, os.path.join(tag, 'layer_%02d-model_%02d-model_states.pt' % (layer, tp)))
        template = torch.load(os.path.join(src, 'bf16_zero_pp_rank_0_mp_rank_%02d_optim_states.pt' % mp))
        for dp in range(DP):
            osd = dict(template['optimizer_state_dict'])
            parts, state, maps, paddings = [], {}, [], []
            for gi, (grp, flat) in enumerate(zip(groups, flats)):
                # BF16_Optimizer pads each flat group to a multiple of 2 x dp and splits it evenly; the last data rank
                # records the whole padding, which exceeds its partition when the group is small and dp large.
                n = flat.numel()
                align = 2 * DP
                total = -(-n // align) * align
                size = total // DP
                padded = torch.cat([flat, torch.zeros(total - n)])
                paddings.append(total - n if dp == DP - 1 and a.group_paddings == 'last' else 0)
                lo, hi = dp * size, (dp + 1) * size
                parts.append(padded[lo:hi].clone().requires_grad_(True))
                gen = gens[gi] if gi == 0 else torch.Generator().manual_seed(200 + 10 * pp + dp)
                state[gi] = {'step': torch.tensor(1.0), 'exp_avg': torch.randn(size, generator=gen) * 1e-3,
                             'exp_avg_sq': torch.rand(size, generator=gen) * 1e-6}
                m, at = collections.OrderedDict(), 0
                for layer, name in grp:
                    k = torch.Size(local(layer, name)).numel()
                    s, e = max(at, lo), min(at + k, hi)
                    if s < e: m['%d.%s' % (layer, name)] = fragment_address(numel=e - s, start=s - lo)
                    at += k
                maps.append(m)
            base = dict(template['optimizer_state_dict']['base_optimizer_state'])
            base['state'] = state
            osd.update(base_optimizer_state=base, single_partition_of_fp32_groups=parts, group_paddings=paddings, param_slice_mappings=maps,
                       partition_count=[DP] * len(groups))
            out = dict(template)
            out['optimizer_state_dict'] = osd
            torch.save(out, os.path.join(tag, 'bf16_zero_pp_rank_%d_mp_rank_%02d_optim_states.pt' % (dp, mp)))
print(f"megads tp {TP} pp {PP} dp {DP}: {L} layers, hidden {H}, ffn {F}, heads {NH}/{KV}, vocab {V} (padded {Vp})")
