"""Reads a folder of HF safetensors files into {name: fp32 tensor} with nothing but torch, for the peer checkers'
references (the safetensors package is not a Debian package here)."""
import json
import os
import struct

DT = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


def read_safetensors(folder):
    import torch
    out = {}
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".safetensors"):
            continue
        with open(os.path.join(folder, f), "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
            data = fh.read()
        for name, t in header.items():
            if name == "__metadata__":
                continue
            a, b = t["data_offsets"]
            raw = bytearray(data[a:b])
            dt = getattr(torch, DT[t["dtype"]])
            x = torch.frombuffer(raw, dtype=dt) if raw else torch.zeros(0, dtype=dt)
            out[name] = x.reshape(t["shape"]).float()
    return out
