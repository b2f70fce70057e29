# Runs DeepSpeed's own ds_to_universal (the peer's source, ../shared/peers/deepspeed-0.14.4) on a Megatron-DeepSpeed
# tag folder, for timing beside ckptmpi. Two things stand in for a training install: a tree of the peer's source
# with its relative symlinks restored (a copy without symlinks turns deepspeed/accelerator into a small file), and
# megatron.core.enums.ModelType, which unpickling Megatron's args needs.
# Usage: ds_to_universal.py PEER_DIR WORK_DIR INPUT_TAG_FOLDER OUTPUT_TAG_FOLDER (WORK_DIR keeps the source tree for
# later runs). Used by the universal peer test and tests/bench/convert.sh.
import os, shutil, sys

peer, work, src_tag, out_tag = sys.argv[1:5]
src = os.path.join(peer, 'src')
tree = os.path.join(work, 'deepspeed-src')
if not os.path.isdir(tree):
    for d, _, files in os.walk(src):
        to = os.path.join(tree, os.path.relpath(d, src))
        os.makedirs(to, exist_ok=True)
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p) and os.path.getsize(p) < 64 and f in ('accelerator', 'op_builder'):
                os.symlink(open(p).read().strip().rstrip('/'), os.path.join(to, f))
            else:
                shutil.copy(p, os.path.join(to, f))
sys.path[:0] = [tree, os.path.join(peer, 'harness', 'stubs')]
os.environ.setdefault('DS_ACCELERATOR', 'cpu')
os.environ.setdefault('DS_BUILD_OPS', '0')

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import megatron_stub  # noqa: E402
megatron_stub.install()

sys.argv = ['ds_to_universal.py', '--input_folder', src_tag, '--output_folder', out_tag]
# Imported, not run as __main__: its worker processes pickle its functions by module name.
from deepspeed.checkpoint import ds_to_universal
ds_to_universal.main(ds_to_universal.parse_arguments())
