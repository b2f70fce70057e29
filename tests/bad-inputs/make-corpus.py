#!/usr/bin/python3
"""Regenerates tests/bad-inputs/cases/: tiny broken checkpoints, one folder per case (see cases.tsv).

Usage: /usr/bin/python3 tests/bad-inputs/make-corpus.py [path/to/ckptmpi.dll]
The healthy bases are written by ckptmpi itself (bench-make-model: a 3,376-parameter Llama; convert --to zero:
its ZeRO-2 dp-2 checkpoint); each case then breaks one thing with plain file operations below, so the corpus is
reproducible and small (about 200 KB). Commit the result; the tests never regenerate it.
"""
import json, os, shutil, struct, subprocess, sys, zipfile

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(here))
dll = sys.argv[1] if len(sys.argv) > 1 else os.path.join(repo, "src/Ckptmpi/bin/Release/net10.0/ckptmpi.dll")
cases = os.path.join(here, "cases")
shutil.rmtree(cases, ignore_errors=True)
os.makedirs(cases)
base = os.path.join(cases, ".base")

def ckptmpi(*args):
    subprocess.run(["dotnet", dll, *args], check=True, stdout=subprocess.DEVNULL)

ckptmpi("bench-make-model", "--output", base + "/hf", "--hidden", "16", "--intermediate", "32", "--layers", "1",
        "--vocab", "32", "--heads", "2", "--kv-heads", "1", "--max-shard-size", "4KB")
ckptmpi("convert", "--from", "hf", "--to", "zero", "--zero-stage", "2", "--dp-size", "2",
        "--optimizer", "adamw", "--lr", "1e-3", "--betas", "0.9,0.999", "--eps", "1e-8", "--weight-decay", "0.01", "--gradient-clipping", "1.0",
        "--input", base + "/hf", "--output", base + "/zero", "--no-report")
os.remove(base + "/zero/ckptmpi-manifest.json")
# Meta's layout at MP 2, more shards than the one KV head: each shard stores it (in place).
ckptmpi("convert", "--from", "hf", "--to", "meta", "--mp-size", "2", "--input", base + "/hf", "--output", base + "/meta", "--no-report")
os.remove(base + "/meta/ckptmpi-manifest.json")
SHARD1, SHARD2, INDEX = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"

def case(name, kind):
    d = os.path.join(cases, name)
    shutil.copytree(os.path.join(base, kind), d, symlinks=True)
    return d

def read_st(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return header, data

def write_st(path, header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)

def edit_json(path, fn):
    with open(path) as f:
        doc = json.load(f)
    fn(doc)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)

# 1. A shard cut short (a copy that stopped early).
d = case("hf-truncated-shard", "hf")
with open(os.path.join(d, SHARD2), "r+b") as f:
    f.truncate(os.path.getsize(os.path.join(d, SHARD2)) - 100)

# 2. The index names a shard that is not there.
d = case("hf-index-missing-file", "hf")
def point_to_missing(doc):
    name = sorted(k for k, v in doc["weight_map"].items() if v == SHARD2)[0]
    doc["weight_map"][name] = "model-00003-of-00003.safetensors"
edit_json(os.path.join(d, INDEX), point_to_missing)

# 3. One tensor stored in both shards (the index names one of them).
d = case("hf-tensor-in-two-shards", "hf")
h1, d1 = read_st(os.path.join(d, SHARD1))
h2, d2 = read_st(os.path.join(d, SHARD2))
name = sorted(k for k in h1 if k != "__metadata__")[0]
start, end = h1[name]["data_offsets"]
h2[name] = dict(h1[name], data_offsets=[len(d2), len(d2) + end - start])
write_st(os.path.join(d, SHARD2), h2, d2 + d1[start:end])

# 4. config.json contradicts the shapes in the shards.
d = case("hf-shapes-contradict-config", "hf")
edit_json(os.path.join(d, "config.json"), lambda c: c.update(hidden_size=24))

# 5. The index names a file outside the checkpoint directory.
d = case("hf-index-path-traversal", "hf")
def traverse(doc):
    for k, v in doc["weight_map"].items():
        if v == SHARD2: doc["weight_map"][k] = "../hf-outside/" + SHARD2
edit_json(os.path.join(d, INDEX), traverse)
os.makedirs(os.path.join(cases, "hf-outside"), exist_ok=True)
shutil.copy(os.path.join(base, "hf", SHARD2), os.path.join(cases, "hf-outside", SHARD2))

# 6. A shard that is a symlink leading outside the checkpoint directory.
d = case("hf-symlink-escape", "hf")
os.remove(os.path.join(d, SHARD2))
os.symlink("../hf-outside/" + SHARD2, os.path.join(d, SHARD2))

# 7. A header length larger than the file.
d = case("hf-header-length-beyond-file", "hf")
with open(os.path.join(d, SHARD1), "r+b") as f:
    f.write(struct.pack("<Q", 1 << 40))

# 8. A dtype no format we write can represent.
d = case("hf-unsupported-dtype", "hf")
h1, d1 = read_st(os.path.join(d, SHARD1))
name = sorted(k for k in h1 if k != "__metadata__")[0]
h1[name]["dtype"] = "C64"
h1[name]["shape"] = [ (h1[name]["data_offsets"][1] - h1[name]["data_offsets"][0]) // 8 ]
write_st(os.path.join(d, SHARD1), h1, d1)

# 9. A ZeRO checkpoint missing one rank's optimizer file.
d = case("zero-missing-rank-file", "zero")
os.remove(os.path.join(d, "global_step0", "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"))

# 10. A ZeRO checkpoint with one rank file too many.
d = case("zero-extra-rank-file", "zero")
shutil.copy(os.path.join(d, "global_step0", "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"),
            os.path.join(d, "global_step0", "bf16_zero_pp_rank_2_mp_rank_00_optim_states.pt"))

# 11. Mixed tags: 'latest' names global_step5, but that save holds rank 0's files only; rank 1's sit in global_step0.
d = case("zero-mixed-tags", "zero")
shutil.copytree(os.path.join(d, "global_step0"), os.path.join(d, "global_step5"))
os.remove(os.path.join(d, "global_step5", "bf16_zero_pp_rank_1_mp_rank_00_optim_states.pt"))
with open(os.path.join(d, "latest"), "w") as f:
    f.write("global_step5")

# 12. 'latest' names a tag folder that does not exist.
d = case("zero-latest-names-missing-tag", "zero")
with open(os.path.join(d, "latest"), "w") as f:
    f.write("global_step9")

# 13. A ZeRO rank file cut short.
d = case("zero-truncated-rank-file", "zero")
p = os.path.join(d, "global_step0", "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt")
with open(p, "r+b") as f:
    f.truncate(os.path.getsize(p) // 2)

# 14. A ZeRO checkpoint whose config.json (beside 'latest') contradicts the parameter shapes.
d = case("zero-shapes-contradict-config", "zero")
edit_json(os.path.join(d, "config.json"), lambda c: c.update(intermediate_size=48))

# 15-17. 'latest' is data from the checkpoint: it may name only one folder inside it.
d = case("zero-latest-traversal", "zero")
shutil.copytree(os.path.join(d, "global_step0"), os.path.join(cases, "zero-outside", "global_step0"))
with open(os.path.join(d, "latest"), "w") as f:
    f.write("../zero-outside/global_step0")
d = case("zero-latest-absolute", "zero")
with open(os.path.join(d, "latest"), "w") as f:
    f.write("/etc")
d = case("zero-latest-huge", "zero")
with open(os.path.join(d, "latest"), "w") as f:
    f.write("global_step0" * 500)

# 18. config.json is a link out of the checkpoint directory (read like a shard: refused, not followed and copied).
d = case("hf-config-symlink-escape", "hf")
shutil.copy(os.path.join(d, "config.json"), os.path.join(cases, "hf-outside", "config.json"))
os.remove(os.path.join(d, "config.json"))
os.symlink("../hf-outside/config.json", os.path.join(d, "config.json"))

# 19. An absurd size in config.json: bad input, never an overflow or an allocation sized by it.
d = case("hf-config-absurd-layers", "hf")
edit_json(os.path.join(d, "config.json"), lambda c: c.update(num_hidden_layers=1000000000))

# 20. A Meta checkpoint missing one of its shards.
d = case("meta-missing-shard", "meta")
os.remove(os.path.join(d, "consolidated.01.pth"))

# 21. A Meta checkpoint with one shard too many.
d = case("meta-extra-shard", "meta")
shutil.copy(os.path.join(d, "consolidated.01.pth"), os.path.join(d, "consolidated.02.pth"))

# 22. params.json whose FFN width (multiple_of) is not what the shards hold.
d = case("meta-shapes-contradict-params", "meta")
edit_json(os.path.join(d, "params.json"), lambda p: p.update(multiple_of=64))

# 23. The KV head stored in both shards, but the copies differ (one byte of layer 0's wv in shard 1).
d = case("meta-kv-copies-differ", "meta")
p = os.path.join(d, "consolidated.01.pth")
with zipfile.ZipFile(p) as z:
    info = z.getinfo("consolidated.01/data/3")  # storages in Meta's key order: tok_embeddings, wq, wk, wv
with open(p, "r+b") as f:
    f.seek(info.header_offset + 26)
    name_len, extra_len = struct.unpack("<HH", f.read(4))
    at = info.header_offset + 30 + name_len + extra_len
    f.seek(at)
    b = f.read(1)[0]
    f.seek(at)
    f.write(bytes([b ^ 0x40]))

shutil.rmtree(base)
print("wrote", len([n for n in os.listdir(cases) if not n.startswith(".")]), "entries to", cases)
