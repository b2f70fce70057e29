# Compares a ckptmpi HF output with the truth of a Megatron-DeepSpeed fixture, independently of ckptmpi's merge:
#   step0: the HF model the run was initialised from (hf_fp32.pt), as fp32, or rounded to bf16 for module weights;
#   step1: the live engine's fp32 masters (refs/step1_mp_rank_XX.pt), merged over tensor ranks here with torch.
#   KIND exp_avg / exp_avg_sq: the Adam moments of step 1 in OUT_DIR/optimizer_states against the same references.
# Usage: megads_refs.py OUT_DIR FIXTURE_DIR STEP(0|1) DTYPE(float32|bfloat16) HF_FP32_PT [KIND]
import json, os, struct, sys, glob
import torch

out, fixture, step, dtype, hf_pt = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
kind = sys.argv[6] if len(sys.argv) > 6 else 'fp32'

def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, m in header.items():
        if name == '__metadata__':
            continue
        a, b = m['data_offsets']
        dt = {'F32': torch.float32, 'BF16': torch.bfloat16}[m['dtype']]
        tensors[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dt).reshape(m['shape'])
    return tensors

if kind == 'fp32':
    got = load_safetensors(os.path.join(out, 'model.safetensors'))
else:
    states = {}
    for f in sorted(glob.glob(os.path.join(out, 'optimizer_states', '*.safetensors'))):
        states.update(load_safetensors(f))
    got = {k[:-len('.' + kind)]: v for k, v in states.items() if k.endswith('.' + kind)}
cfg = json.load(open(os.path.join(fixture, 'fixture.json')))
tp, pp = cfg['topology']['tp'], cfg['topology']['pp']
want_dtype = getattr(torch, dtype)

if step == 0:
    want = {k: v.to(want_dtype) for k, v in torch.load(hf_pt).items()}
    if cfg['tied_embeddings']:
        want.pop('lm_head.weight', None)
else:
    args = cfg['megatron_args']
    def arg(name):
        return int(args[args.index(name) + 1])
    L, H, F, heads, kv = arg('--num-layers'), arg('--hidden-size'), arg('--ffn-hidden-size'), arg('--num-attention-heads'), arg('--num-key-value-heads')
    hd, V = H // heads, cfg['original_vocab_size']
    shards = {}
    for mp in range(tp * pp):
        ref = torch.load(os.path.join(fixture, 'refs', 'step1_mp_rank_%02d.pt' % mp))[kind]
        for name, t in ref.items():
            name = name.replace('tied_modules.embed.', '1.')
            shards.setdefault(name, {}).setdefault(mp % tp, t)
    def cat(name, dim):
        return torch.cat([shards[name][t] for t in range(tp)], dim)
    want = {'model.embed_tokens.weight': cat('1.word_embeddings.weight', 0)[:V]}
    for i in range(L):
        p, l = 'model.layers.%d.' % i, '%d.' % (i + 2)
        qkv = cat(l + 'self_attention.query_key_value.weight', 0).view(kv, heads // kv + 2, hd, H)
        want[p + 'self_attn.q_proj.weight'] = qkv[:, :heads // kv].reshape(-1, H)
        want[p + 'self_attn.k_proj.weight'] = qkv[:, heads // kv].reshape(-1, H)
        want[p + 'self_attn.v_proj.weight'] = qkv[:, heads // kv + 1].reshape(-1, H)
        want[p + 'self_attn.o_proj.weight'] = cat(l + 'self_attention.dense.weight', 1)
        h4h = [shards[l + 'mlp.dense_h_to_4h.weight'][t] for t in range(tp)]
        want[p + 'mlp.gate_proj.weight'] = torch.cat([x[:F // tp] for x in h4h], 0)
        want[p + 'mlp.up_proj.weight'] = torch.cat([x[F // tp:] for x in h4h], 0)
        want[p + 'mlp.down_proj.weight'] = cat(l + 'mlp.dense_4h_to_h.weight', 1)
        want[p + 'input_layernorm.weight'] = shards[l + 'input_layernorm.weight'][0]
        want[p + 'post_attention_layernorm.weight'] = shards[l + 'post_attention_layernorm.weight'][0]
    want['model.norm.weight'] = shards['%d.weight' % (L + 2)][0]
    if not cfg['tied_embeddings']:
        want['lm_head.weight'] = cat('%d.lm_head.weight' % (L + 3), 0)[:V]
    want = {k: v.to(want_dtype) for k, v in want.items()}

bad = []
if sorted(got) != sorted(want):
    bad.append('names differ: got %s want %s' % (sorted(set(got) - set(want)), sorted(set(want) - set(got))))
for k in sorted(set(got) & set(want)):
    g, w = got[k], want[k]
    if g.dtype != w.dtype or g.shape != w.shape:
        bad.append('%s: got %s %s want %s %s' % (k, g.dtype, list(g.shape), w.dtype, list(w.shape)))
    elif not torch.equal(g.view(torch.int16) if g.dtype == torch.bfloat16 else g.view(torch.int32),
                         w.view(torch.int16) if w.dtype == torch.bfloat16 else w.view(torch.int32)):
        bad.append('%s: values differ (max abs %g)' % (k, (g.float() - w.float()).abs().max().item()))
print('OK %d tensors' % len(got) if not bad else '\n'.join(bad))
