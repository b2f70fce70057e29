# Compares our universal tag folder with DeepSpeed's ds_to_universal output of the same checkpoint, with torch:
# the same files; in every state file the same pickle bytes (object graph, keys, order, markers, dtypes, shapes,
# storage sizes) and the same tensor values bit for bit; the model-state copies byte for byte. The one listed
# difference: a vocabulary tensor's storage beyond its rows (ds_to_universal saves the padded rows it sliced off,
# we write zeros there); the zip framing is torch 2.1's in ours. Usage: OURS THEIRS [--rebuilt-model-states] (a ZeRO
# source: the model-state file is rebuilt, so its pickle and storage bytes are compared, not the file's)
# [--states-only] (only the parameter folders: a ZeRO-3 source against the output of its ZeRO-2 reshard, whose
# optimizer dict and model-state file are another stage's). Prints "OK <n> files".
import os, pickle, sys, zipfile, torch

ours, theirs = sys.argv[1], sys.argv[2]
rebuilt = '--rebuilt-model-states' in sys.argv[3:]

def files(root):
    out = []
    for d, _, fs in os.walk(root):
        out += [os.path.relpath(os.path.join(d, f), root) for f in fs]
    return sorted(out)

a, b = files(ours), files(theirs)
if '--states-only' in sys.argv[3:]:
    keep = lambda fs: [f for f in fs if not os.path.basename(f).startswith('mp_rank_') and f != os.path.join('zero', 'optimizer_state.pt')]
    a, b = keep(a), keep(b)
assert a == b, f"file sets differ: only ours {sorted(set(a) - set(b))}, only theirs {sorted(set(b) - set(a))}"

def record(path, suffix):
    z = zipfile.ZipFile(path)
    names = [n for n in z.namelist() if n.endswith(suffix)]
    assert len(names) == 1, (path, z.namelist())
    return z.read(names[0])

def storages(path):
    z = zipfile.ZipFile(path)
    return {n.split('/data/')[1]: z.read(n) for n in z.namelist() if '/data/' in n}

for rel in a:
    pa, pb = os.path.join(ours, rel), os.path.join(theirs, rel)
    if os.path.basename(rel).startswith('mp_rank_'):
        if rebuilt:
            assert record(pa, '/data.pkl') == record(pb, '/data.pkl'), f"{rel}: pickles differ"
            assert storages(pa) == storages(pb), f"{rel}: storage bytes differ"
        else:
            assert open(pa, 'rb').read() == open(pb, 'rb').read(), f"{rel}: not a byte copy"
        continue
    x, y = torch.load(pa), torch.load(pb)
    if record(pa, '/data.pkl') != record(pb, '/data.pkl'):
        # The one pickle that may differ: a ZeRO-1/2 optimizer's zero_stage enum keeps the source file's encoding
        # (ZeroStageEnum(1)) in ours, where ds_to_universal's Python re-pickles it by name; both load as the same member.
        assert rebuilt and rel == os.path.join('zero', 'optimizer_state.pt') and b'ZeroStageEnum' in record(pa, '/data.pkl'), f"{rel}: pickles differ"
        assert pickle.dumps(x, protocol=2) == pickle.dumps(y, protocol=2), f"{rel}: objects differ"
    if isinstance(y, dict):
        assert list(x.keys()) == list(y.keys()), (rel, list(x.keys()), list(y.keys()))
        vocab = y.get('vocab_tensor', False)
        for k in y:
            if torch.is_tensor(y[k]):
                assert x[k].dtype == y[k].dtype and x[k].shape == y[k].shape and x[k].stride() == y[k].stride(), rel
                assert torch.equal(x[k].view(torch.int32), y[k].view(torch.int32)), f"{rel}: {k} values differ"
            elif hasattr(y[k], '__dict__'):
                assert type(x[k]) is type(y[k]) and vars(x[k]) == vars(y[k]), (rel, k, vars(x[k]), vars(y[k]))
            else:
                assert x[k] == y[k], (rel, k, x[k], y[k])
        sa, sb = storages(pa), storages(pb)
        assert sa.keys() == sb.keys()
        for k in sa:
            n = y['param'].numel() * 4
            assert sa[k][:n] == sb[k][:n], f"{rel}: storage bytes differ"
            if not vocab:
                assert sa[k] == sb[k], f"{rel}: storage bytes differ"
            else:
                assert len(sa[k]) == len(sb[k]) and sa[k][n:] == bytes(len(sa[k]) - n), f"{rel}: padded rows of the storage should be zeros"
    else:
        assert torch.is_tensor(x) and x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y), rel
        assert storages(pa) == storages(pb), rel
print(f"OK {len(a)} files")
