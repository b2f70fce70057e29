"""Compares a MaxText checkpoint written by ckptmpi with a reference parameter tree (.npz from MaxText's converter).

usage: check_maxtext.py OUTPUT_DIR REFERENCE.npz
Every array of the reference must be a zarr v2 folder of OUTPUT_DIR, equal bit for bit (bf16 as uint16 bit
patterns, int8 values); arrays are assembled from the raw chunk files and, where python3-zarr knows the dtype (not
bfloat16), also read by zarr. _METADATA must list exactly these arrays. Prints one JSON line of counts; exits 1 with
the first difference otherwise.
"""
import json, os, sys
import numpy as np

out, ref = sys.argv[1], sys.argv[2]
try:
    import zarr
except ImportError:
    zarr = None

z = np.load(ref)
manifest = json.loads(bytes(z['__manifest__']).decode())
int8 = 'aqt/' in ' '.join(z.keys())

def key_path(name):
    """The npz key as the Orbax key path of our tree: bf16 trees sit under params/params, int8 under params/{aqt,params}."""
    parts = name.split('/')
    return ['params'] + parts if int8 else ['params', 'params'] + parts

def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)

expected = {}
for leaf in manifest['leaves']:
    if leaf['path'].startswith('alt/'):
        continue
    expected['.'.join(key_path(leaf['path']))] = leaf['path']

folders = {d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d)) and not d.startswith('.')}
if folders != set(expected):
    fail(f'array folders differ: missing {sorted(set(expected) - folders)}, extra {sorted(folders - set(expected))}')

def assemble(folder, meta):
    dt = {'bfloat16': np.uint16, '|i1': np.int8, '<f4': np.float32}[meta['dtype']]
    shape, chunks = meta['shape'], meta['chunks']
    if meta['compressor'] is not None or meta['order'] != 'C' or meta['zarr_format'] != 2 or meta.get('dimension_separator') != '.':
        fail(f'{folder}: not an uncompressed C-order zarr v2 array: {meta}')
    grid = [s // c for s, c in zip(shape, chunks)]
    if any(s % c for s, c in zip(shape, chunks)):
        fail(f'{folder}: chunks {chunks} do not divide {shape}')
    a = np.zeros(shape, dtype=dt)
    names = set()
    for idx in np.ndindex(*grid):
        name = '.'.join(str(i) for i in idx) if idx else '0'
        names.add(name)
        raw = np.fromfile(os.path.join(out, folder, name), dtype=dt)
        if raw.size != int(np.prod(chunks)):
            fail(f'{folder}/{name}: {raw.size} elements, chunk {chunks}')
        a[tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, chunks))] = raw.reshape(chunks)
    present = set(os.listdir(os.path.join(out, folder))) - {'.zarray'}
    if present != names:
        fail(f'{folder}: chunk files {sorted(present)} but the grid has {sorted(names)}')
    return a

by_zarr = 0
for folder, name in sorted(expected.items()):
    meta = json.load(open(os.path.join(out, folder, '.zarray')))
    want = z[name]
    got = assemble(folder, meta)
    if got.shape != want.shape or got.dtype != want.dtype:
        fail(f'{folder}: {got.dtype}{list(got.shape)}, reference {want.dtype}{list(want.shape)}')
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)
        fail(f'{folder}: {len(bad)} elements differ, first at {tuple(bad[0])}: {got[tuple(bad[0])]} vs {want[tuple(bad[0])]}')
    if zarr is not None and meta['dtype'] != 'bfloat16':
        read = zarr.open(os.path.join(out, folder), mode='r')[...]
        if not np.array_equal(read, want):
            fail(f'{folder}: python3-zarr reads different values')
        by_zarr += 1

md = json.load(open(os.path.join(out, '_METADATA')))
tree = md['tree_metadata']
want_keys = {}
for folder, name in expected.items():
    path = key_path(name)
    want_keys[str(tuple(path))] = [{'key': int(k) if k.isdigit() else k, 'key_type': 1 if k.isdigit() else 2} for k in path]
if set(tree) != set(want_keys):
    fail(f'_METADATA entries differ: missing {sorted(set(want_keys) - set(tree))}, extra {sorted(set(tree) - set(want_keys))}')
for k, entry in tree.items():
    if entry['key_metadata'] != want_keys[k]:
        fail(f'_METADATA {k}: key_metadata {entry["key_metadata"]}')
    if entry['value_metadata'] != {'value_type': 'jax.Array', 'skip_deserialize': False}:
        fail(f'_METADATA {k}: value_metadata {entry["value_metadata"]}')
if md.get('use_ocdbt') is not False or md.get('use_zarr3') is not False:
    fail(f'_METADATA: use_ocdbt {md.get("use_ocdbt")}, use_zarr3 {md.get("use_zarr3")}')

alt = 0
if int8:
    for folder, name in expected.items():
        if name.endswith('/qvalue'):
            alt += int(np.sum(z['alt/' + name + '_f32arith'] != z[name]))
print(json.dumps({'arrays': len(expected), 'read_by_zarr': by_zarr, 'zarr': zarr is not None, 'metadata_entries': len(tree),
                  'qvalue_elements_differing_from_f32_arithmetic': alt}))
