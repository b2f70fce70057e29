#!/usr/bin/env python3
"""Load a ZeRO checkpoint of any model family into DeepSpeed's real engine (the shared peer harness's check_load.py),
with a plain-torch module built from a parameter list instead of the harness's Llama.

    /usr/bin/python3 check_family.py CKPT --spec SPEC.json --hf HF_DIR --stage S --world W --dtype bf16|fp16
                                     --ds-config ds_config.json [--harness PEER/harness]

SPEC.json: {"params": [[name, shape], ...] in named_parameters() order, "tied": [head, embedding] or null}. The module
has exactly those parameters, registered in that order (one nn.Module per owner, created in first-use order), and the
tied head shares the embedding's Parameter, so named_parameters() of the module is the spec. Its forward calls every
owner module (ZeRO-3 gathers parameters in module hooks) and returns sum(mean(p^2)), which every parameter feeds.

HF_DIR: the safetensors checkpoint that was converted; its values (as fp32) are the reference for check_load.py (module
weights, fp32 masters, one training step) and for check_fp32.py (DeepSpeed's zero_to_fp32 rebuilds it, tied head
included). After engine.load_checkpoint every rank also checks that the engine kept the ds_config's settings: the
optimizer's param_groups (lr, betas, eps, weight_decay), clip_grad (gradient_clipping) and, for fp16, the loss scaler.
Exit 0 only if everything passes.
"""
import json
import math
import os
import subprocess
import sys


def harness_dir():
    h = os.environ.get("PEER_HARNESS")
    if not h:
        sys.exit("set PEER_HARNESS to the peer's harness folder")
    return os.path.abspath(h)


def link_text(path):
    """The target of a git symlink that was checked out as a small text file, or None."""
    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 200:
        return None
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace").strip()
    target = os.path.normpath(os.path.join(os.path.dirname(path), text))
    return target if text.startswith(".") and os.path.exists(target) else None


def source_with_links(src, farm):
    """The peer's DeepSpeed source with its git symlinks (deepspeed/accelerator, deepspeed/ops/op_builder) as real links.
    Stored copies of the peer hold them as text files, and `import deepspeed` then fails; the peer itself is read-only,
    so a tree of links beside the test's files stands in for it."""
    def needs_farm(d):
        return any(link_text(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)

    def mirror(s, d):
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(s):
            sp, dp = os.path.join(s, name), os.path.join(d, name)
            if os.path.lexists(dp):
                continue
            target = link_text(sp)
            if target:
                os.symlink(target, dp)
            elif os.path.isdir(sp) and needs_farm(sp):
                mirror(sp, dp)
            else:
                os.symlink(os.path.abspath(sp), dp)

    if not needs_farm(src):
        return src
    mirror(src, farm)
    return farm


if "DS_SRC" not in os.environ:
    os.environ["DS_SRC"] = source_with_links(os.path.join(harness_dir(), "..", "src"),
                                             os.path.join(os.environ.get("PEER_WORK", "/tmp"), f"ds-src-{os.getpid()}"))
sys.path.insert(0, harness_dir())
import dsenv  # noqa: E402
import check_load  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_read import read_safetensors  # noqa: E402


# --------------------------------------------------------------------------- the model
def load_spec(path):
    with open(path) as f:
        spec = json.load(f)
    spec["vocab_size"] = 8  # for check_load's batch only: the module ignores token values
    return spec


def build_model(spec):
    import torch
    import torch.nn as nn

    class Owner(nn.Module):
        def forward(self, x):
            s = x
            for p in self._parameters.values():
                s = s + (p.float() ** 2).mean()
            return s

    class FamilyModel(nn.Module):
        def forward(self, ids):
            total = torch.zeros((), dtype=torch.float32)
            seen = set()
            for m in self.modules():
                own = [p for p in m._parameters.values() if p is not None]
                if own and id(own[0]) not in seen:
                    seen.update(id(p) for p in own)
                    total = m(total)
            return total

    root = FamilyModel()
    owners = {}

    def owner(path):
        if path in owners:
            return owners[path]
        parent = root if "." not in path else owner(path.rsplit(".", 1)[0])
        m = Owner()
        parent.add_module(path.rsplit(".", 1)[-1], m)
        owners[path] = m
        return m

    for name, shape in spec["params"]:
        path, leaf = name.rsplit(".", 1)
        owner(path).register_parameter(leaf, nn.Parameter(torch.zeros(shape)))
    if spec.get("tied"):
        head, embed = spec["tied"]
        hp, hl = head.rsplit(".", 1)
        ep, el = embed.rsplit(".", 1)
        setattr(owner(hp), hl, getattr(owners[ep], el))
    got = [n for n, _ in root.named_parameters()]
    want = [n for n, _ in spec["params"]]
    if got != want:
        raise SystemExit(f"the built module's named_parameters() differ from the spec: {got[:5]} vs {want[:5]}")
    return root


# --------------------------------------------------------------------------- the reference
# --------------------------------------------------------------------------- settings kept by the engine
def check_settings(engine, conf):
    bad = []
    opt = engine.optimizer
    want = conf["optimizer"]["params"]
    for g in opt.param_groups:
        for key in ("lr", "eps", "weight_decay"):
            if key in want and not math.isclose(g[key], want[key], rel_tol=0, abs_tol=0):
                bad.append(f"param_groups {key} {g[key]} != ds_config {want[key]}")
        if "betas" in want and [float(b) for b in g["betas"]] != [float(b) for b in want["betas"]]:
            bad.append(f"param_groups betas {list(g['betas'])} != ds_config {want['betas']}")
    clip = float(conf.get("gradient_clipping", 0.0))
    if float(opt.clip_grad) != clip:
        bad.append(f"clip_grad {opt.clip_grad} != ds_config gradient_clipping {clip}")
    fp16 = conf.get("fp16", {})
    if fp16.get("enabled"):
        s = opt.loss_scaler
        expect = {"cur_scale": 2.0 ** fp16.get("initial_scale_power", 16), "scale_window": fp16.get("loss_scale_window", 1000),
                  "min_scale": fp16.get("min_loss_scale", 1), "delayed_shift": fp16.get("hysteresis", 2)}
        for k, v in expect.items():
            if float(getattr(s, k)) != float(v):
                bad.append(f"loss scaler {k} {getattr(s, k)} != ds_config {v}")
    if bad:
        raise SystemExit("settings not kept after load_checkpoint: " + "; ".join(bad))
    print(f"ok   engine keeps ds_config settings after load_checkpoint (clip_grad {opt.clip_grad}, lr {opt.param_groups[0]['lr']})", flush=True)


def patch():
    dsenv.model_config = load_spec
    dsenv.build_model = build_model
    conf_path = None
    for i, a in enumerate(sys.argv):
        if a == "--ds-config":
            conf_path = sys.argv[i + 1]
    orig = check_load.fresh_engine

    def fresh_engine(deepspeed, cfg, conf, seed):
        engine = orig(deepspeed, cfg, conf, seed)
        load = engine.load_checkpoint

        def checked(*a, **k):
            r = load(*a, **k)
            if not k.get("load_module_only") and conf_path:
                with open(conf_path) as f:
                    check_settings(engine, json.load(f))
            return r

        engine.load_checkpoint = checked
        return engine

    check_load.fresh_engine = fresh_engine
    check_load.__file__ = os.path.abspath(__file__)  # the ranks check_load launches run this script, patched


def main():
    import torch
    args = sys.argv[1:]
    hf = args[args.index("--hf") + 1]
    del args[args.index("--hf"):args.index("--hf") + 2]
    spec = load_spec(args[args.index("--spec") + 1])
    args[args.index("--spec")] = "--model"
    ckpt = args[0]
    ref = read_safetensors(hf)
    tied = spec.get("tied")
    params = {n: ref[n] for n, _ in spec["params"]}
    full = dict(params)
    if tied:
        full[tied[0]] = params[tied[1]]
    work = os.path.dirname(os.path.abspath(ckpt))
    ref_params, ref_full = os.path.join(work, "ref_params.pt"), os.path.join(work, "ref_full.pt")
    torch.save(params, ref_params)
    torch.save(full, ref_full)
    sys.argv = [sys.argv[0]] + args + ["--ref", ref_params]
    patch()
    rc = check_load.main()
    fp32 = subprocess.run([sys.executable, os.path.join(harness_dir(), "check_fp32.py"), ckpt, "--ref", ref_full])
    return rc or fp32.returncode


if __name__ == "__main__":
    if dsenv.is_worker():
        patch()
        sys.exit(check_load.main())
    sys.exit(main())
