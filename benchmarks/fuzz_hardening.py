"""Fuzz of the public API, the file formats and the CLI (issue 14): count the outcomes.

    NUMBA_NUM_THREADS=1 python benchmarks/fuzz_hardening.py [--only CATEGORY] [--verbose]

Each case is a snippet run in a worker process (a worker that dies is restarted after the case
that killed it). Outcomes:

* ``clear``: bad input raised one clear ValueError/TypeError (or FileNotFoundError, ...), or good
  input gave the right answer;
* ``crash``: the process died (memory corruption, abort, signal), hung, or a raw exception of
  another type escaped (a traceback for the user);
* ``wrong``: bad input was silently accepted, or the answer was wrong.

Categories ``lead`` (align, match_trees, tree_distance, merge_distortion, baselines) are counted
separately: they belong to another change.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from collections import Counter, defaultdict

PRELUDE = r'''
import io, json, os, sys, tempfile, zipfile, contextlib, warnings
import numpy as np
warnings.simplefilter("ignore")
import topotree as tt
from topotree.tree import load_tree
rng = np.random.default_rng(0)
X = np.r_[rng.normal(size=(150, 2)), rng.normal(size=(100, 2)) + [6, 0]]
TMP = tempfile.mkdtemp()
def same_tree(a, b):
    return (np.array_equal(a.parent, b.parent) and np.array_equal(a.mass, b.mass)
            and np.array_equal(a.member_order, b.member_order) and np.array_equal(a.owner, b.owner)
            and np.array_equal(a.basin, b.basin) and np.array_equal(a.neighbors, b.neighbors))
def structure(t):
    t = t.simplify()
    return (t.parent.tolist(), np.round(t.mass, 12).tolist(), sorted(sorted(t.members(i).tolist()) for i in range(t.n_nodes)))
_T = tt.build_tree(X, k=10)
def tree_file(suffix, mutate=None, raw=None):
    """Write the small tree, optionally mutate the JSON document / npz arrays, return the path."""
    path = os.path.join(TMP, "t" + suffix)
    _T.save(path)
    if suffix == ".json" and mutate is not None:
        doc = json.loads(open(path).read())
        mutate(doc)
        open(path, "w").write(json.dumps(doc))
    if suffix == ".npz" and mutate is not None:
        with np.load(path, allow_pickle=False) as z:
            arrs = {k: z[k] for k in z.files}
        mutate(arrs)
        np.savez(path, **arrs)
    if raw is not None:
        with open(path, "rb") as fh:
            data = raw(fh.read())
        with open(path, "wb") as fh:
            fh.write(data)
    return path
def cli(*argv):
    from topotree.cli import main
    err = io.StringIO(); out = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(list(argv))
    e = err.getvalue().strip()
    return code, e
def cli_bad(*argv):
    code, e = cli(*argv)
    if code != 2 or "Traceback" in e or len(e.splitlines()) != 1:
        raise AssertionError(f"exit {code}, stderr {e[:300]!r}")
    raise ValueError(e)   # a clear, one-line error
'''

# (category, name, expect, code); expect "error": a clear error is the right outcome,
# "ok": the code must run and its asserts hold.
CASES = []


def case(cat, name, expect, code):
    CASES.append((cat, name, expect, textwrap.dedent(code)))


# ------------------------------------------------------------------ 1. memory corruption
for name, code in [
    ("X*1e300", "tt.build_tree(X * 1e300)"),
    ("X*1e300 d=20", "tt.build_tree(np.random.default_rng(1).normal(size=(300, 20)) * 1e300)"),
    ("one point at (1.7e308,-1.7e308)", "Y = X.copy(); Y[0] = [1.7e308, -1.7e308]; tt.build_tree(Y)"),
    ("extreme corners", "Y = X.copy(); Y[:2] = [[1.7e308, -1.7e308], [-1.7e308, 1.7e308]]; tt.build_tree(Y)"),
    ("columns 1e200/1e-200", "tt.build_tree(X * [1e200, 1e-200])"),
    ("columns 1e-200/1e200 d=20", "Y = np.random.default_rng(2).normal(size=(300, 20)); Y[:, ::2] *= 1e200; Y[:, 1::2] *= 1e-200; tt.build_tree(Y)"),
    ("X*1e300 given density", "tt.build_tree(X * 1e300, log_density=np.zeros(len(X)))"),
    ("X*1e300 gudhi", "tt.build_tree(X * 1e300, backend='gudhi')"),
    ("X*1e300 connect=False", "tt.build_tree(X * 1e300, connect=False)"),
    ("far apart clusters 1e300", "Y = X.copy(); Y[150:] += 1e300; tt.build_tree(Y)"),
    ("max float spread d=3", "Y = np.random.default_rng(3).uniform(-1, 1, size=(200, 3)) * 1.7e308; tt.build_tree(Y)"),
]:
    case("memory", name, "ok", code + "\n")  # must not crash; a clear ValueError also counts as clear

# ------------------------------------------------------------------ 2. silent wrong answers (core)
case("wrong", "X*1e-200 same tree", "ok", "assert structure(tt.build_tree(X * 2.0**-700)) == structure(tt.build_tree(X)); assert structure(tt.build_tree(X * 1e-200)) == structure(tt.build_tree(X))")
case("wrong", "X*1e154 same tree", "ok", "assert structure(tt.build_tree(X * 1e154)) == structure(tt.build_tree(X))")
case("wrong", "X*1e-300 same tree", "ok", "assert structure(tt.build_tree(X * 1e-300)) == structure(tt.build_tree(X))")
case("wrong", "20d X*1e155 same tree", "ok", """
Y = np.random.default_rng(4).normal(size=(300, 20)); Y[:150] += 4
assert structure(tt.build_tree(Y * 1e155)) == structure(tt.build_tree(Y))
""")
case("wrong", "20d X*1e-160 same tree", "ok", """
Y = np.random.default_rng(4).normal(size=(300, 20)); Y[:150] += 4
assert structure(tt.build_tree(Y * 1e-160)) == structure(tt.build_tree(Y))
""")
for seed in range(3):
    case("wrong", f"duplicates order-independent {seed}", "ok", f"""
r = np.random.default_rng({seed})
Y = np.r_[np.repeat([[0.3, 0.2]], 17, axis=0), r.normal(size=(80, 2))]
ref = structure(tt.build_tree(Y, k=15))
for s in range(6):
    p = np.random.default_rng(100 + s).permutation(len(Y))
    t = tt.build_tree(Y[p], k=15).simplify()
    inv = np.argsort(p)
    got = (t.parent.tolist(), np.round(t.mass, 12).tolist(), sorted(sorted(p[t.members(i)].tolist()) for i in range(t.n_nodes)))
    assert got == ref, (got[:2], ref[:2])
""")
case("wrong", "duplicates raw masses order-independent", "ok", """
Y = np.r_[np.repeat([[0.0, 0.0]], 17, axis=0), np.random.default_rng(5).normal(size=(60, 2)) * 3]
masses = set()
for s in range(8):
    p = np.random.default_rng(s).permutation(len(Y))
    t = tt.build_tree(Y[p], k=15)
    masses.add((t.n_nodes, tuple(np.round(np.sort(t.mass), 12))))
assert len(masses) == 1, masses
""")
case("wrong", "all points identical", "ok", "t = tt.build_tree(np.ones((40, 3)), k=5); assert t.n_nodes == 1 and t.mass[0] == 1.0")

# ------------------------------------------------------------------ 3. load_tree validation
JSON_MUT = {
    "empty file": "raw=lambda b: b''",
    "not json": "raw=lambda b: b'hello'",
    "a list": "raw=lambda b: b'[1, 2, 3]'",
    "truncated": "raw=lambda b: b[: len(b) // 2]",
    "missing key arrays": "mutate=lambda d: d.pop('arrays')",
    "missing array parent": "mutate=lambda d: d['arrays'].pop('parent')",
    "missing k": "mutate=lambda d: d.pop('k')",
    "nan log_density": "mutate=lambda d: d['arrays']['log_density']['data'].__setitem__(0, float('nan'))",
    "inf log_density": "mutate=lambda d: d['arrays']['log_density']['data'].__setitem__(0, float('inf'))",
    "str log_density": "mutate=lambda d: d['arrays']['log_density']['data'].__setitem__(0, '1.5')",
    "complex dtype": "mutate=lambda d: d['arrays']['log_density'].__setitem__('dtype', 'complex128')",
    "object dtype": "mutate=lambda d: d['arrays']['log_density'].__setitem__('dtype', 'object')",
    "float parents": "mutate=lambda d: d['arrays']['parent'].update(dtype='float64', data=[float(x) + 0.5 for x in d['arrays']['parent']['data']])",
    "reshaped neighbors": "mutate=lambda d: d['arrays']['neighbors'].update(shape=[d['arrays']['neighbors']['shape'][1], d['arrays']['neighbors']['shape'][0]])",
    "parent 1e7": "mutate=lambda d: d['arrays']['parent']['data'].__setitem__(1, 10**7)",
    "parent cycle": "mutate=lambda d: d['arrays']['parent']['data'].__setitem__(1, 2) if len(d['arrays']['parent']['data']) > 2 else None",
    "owner out of range": "mutate=lambda d: d['arrays']['owner']['data'].__setitem__(0, 999)",
    "neighbor out of range": "mutate=lambda d: d['arrays']['neighbors']['data'].__setitem__(0, 10**6)",
    "member_order out of range": "mutate=lambda d: d['arrays']['member_order']['data'].__setitem__(0, -5)",
    "member_hi beyond": "mutate=lambda d: d['arrays']['member_hi']['data'].__setitem__(0, 10**6)",
    "mass 5": "mutate=lambda d: d['arrays']['mass']['data'].__setitem__(0, 5.0)",
    "mass not monotone": "mutate=lambda d: d['arrays']['mass']['data'].__setitem__(0, 0.01)",
    "int 1e30": "mutate=lambda d: d['arrays']['order']['data'].__setitem__(0, 10**30)",
    "huge shape": "mutate=lambda d: d['arrays']['log_density'].__setitem__('shape', [10**12])",
    "negative shape": "mutate=lambda d: d['arrays']['log_density'].__setitem__('shape', [-1])",
    "deeply nested": "raw=lambda b: b'[' * 100000 + b']' * 100000",
    "nested data": "mutate=lambda d: d['arrays']['log_density'].__setitem__('data', [[[0.0]]])",
    "k string": "mutate=lambda d: d.__setitem__('k', 'ten')",
    "k mismatch": "mutate=lambda d: d.__setitem__('k', 3)",
    "density bad": "mutate=lambda d: d.__setitem__('density', ['x'])",
    "simplification junk": "mutate=lambda d: d.__setitem__('simplification', {'evil': 1})",
    "order not permutation": "mutate=lambda d: d['arrays']['order']['data'].__setitem__(0, d['arrays']['order']['data'][1])",
    "virtual_root str": "mutate=lambda d: d.__setitem__('virtual_root', 'no')",
}
for name, arg in JSON_MUT.items():
    case("load", f"json {name}", "error", f"load_tree(tree_file('.json', {arg}))")
NPZ_MUT = {
    "empty file": "raw=lambda b: b''",
    "not zip": "raw=lambda b: b'PK' + b'x' * 100",
    "truncated": "raw=lambda b: b[: len(b) // 2]",
    "missing array": "mutate=lambda a: a.pop('parent')",
    "missing meta": "mutate=lambda a: a.pop('__meta__')",
    "nan log_density": "mutate=lambda a: a.__setitem__('log_density', np.where(np.arange(len(a['log_density'])) == 0, np.nan, a['log_density']))",
    "complex log_density": "mutate=lambda a: a.__setitem__('log_density', a['log_density'].astype(complex))",
    "str log_density": "mutate=lambda a: a.__setitem__('log_density', a['log_density'].astype(str))",
    "float parents": "mutate=lambda a: a.__setitem__('parent', a['parent'] + 0.5)",
    "reshaped neighbors": "mutate=lambda a: a.__setitem__('neighbors', a['neighbors'].T.copy())",
    "parent 1e7": "mutate=lambda a: a['parent'].__setitem__(1, 10**7)",
    "owner out of range": "mutate=lambda a: a['owner'].__setitem__(0, 10**7)",
    "meta not json": "mutate=lambda a: a.__setitem__('__meta__', np.array('{{{'))",
    "meta list": "mutate=lambda a: a.__setitem__('__meta__', np.array('[1]'))",
    "2d log_density": "mutate=lambda a: a.__setitem__('log_density', a['log_density'][:, None])",
}
for name, arg in NPZ_MUT.items():
    case("load", f"npz {name}", "error", f"load_tree(tree_file('.npz', {arg}))")
for suffix in (".json", ".npz"):
    for pos in (0.1, 0.3, 0.5, 0.7, 0.9):
        case("load", f"{suffix[1:]} bit flip at {pos}", "ok", f"""
p = tree_file({suffix!r}, raw=lambda b: b[:int(len(b) * {pos})] + bytes([b[int(len(b) * {pos})] ^ 0x55]) + b[int(len(b) * {pos}) + 1:])
try:
    t = load_tree(p)
except ValueError as exc:
    assert 'valid topotree' in str(exc) and p in str(exc), str(exc)
else:  # a flip in a harmless place: the tree must be the same, or at least valid
    t.simplify(); t.merge_height(np.arange(5), np.arange(5))
""")
case("load", "npz huge declared shape", "error", """
path = os.path.join(TMP, 'huge.npz')
_T.save(path)
with zipfile.ZipFile(path) as z:
    members = {n: z.read(n) for n in z.namelist()}
hdr = np.lib.format.header_data_from_array_1_0(np.zeros(3))
buf = io.BytesIO(); np.lib.format.write_array_header_1_0(buf, dict(hdr, shape=(10**11,)))
members['log_density.npy'] = buf.getvalue() + np.zeros(3).tobytes()
with zipfile.ZipFile(path, 'w') as z:
    for n, b in members.items(): z.writestr(n, b)
import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
load_tree(path)
""")
case("load", "npz pickled object", "error", """
path = os.path.join(TMP, 'obj.npz')
np.savez(path, log_density=np.array([{'a': 1}], dtype=object))
load_tree(path)
""")
case("load", "round trip json", "ok", "t = _T.simplify(); p = os.path.join(TMP, 'r.json'); t.save(p); assert same_tree(load_tree(p), t)")
case("load", "round trip npz", "ok", "t = _T; p = os.path.join(TMP, 'r.npz'); t.save(p); assert same_tree(load_tree(p), t)")
case("load", "flow load: wrong keys", "error", """
import torch; from topotree.adapters import FlowAutoencoder
p = os.path.join(TMP, 'm.pt'); torch.save({'format': 'x'}, p); FlowAutoencoder.load(p)
""")
case("load", "flow load: config junk", "error", """
import torch; from topotree.adapters import FlowAutoencoder
m = FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4); p = os.path.join(TMP, 'm.pt'); m.save(p)
b = torch.load(p, weights_only=True); b['config']['evil'] = 1; torch.save(b, p); FlowAutoencoder.load(p)
""")
case("load", "flow load: missing config", "error", """
import torch; from topotree.adapters import FlowAutoencoder
m = FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4); p = os.path.join(TMP, 'm.pt'); m.save(p)
b = torch.load(p, weights_only=True); del b['config']; torch.save(b, p); FlowAutoencoder.load(p)
""")
case("load", "flow load: wrong shapes", "error", """
import torch; from topotree.adapters import FlowAutoencoder
m = FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4); p = os.path.join(TMP, 'm.pt'); m.save(p)
b = torch.load(p, weights_only=True); k = next(iter(b['state_dict'])); b['state_dict'][k] = torch.zeros(7, 7, 7); torch.save(b, p); FlowAutoencoder.load(p)
""")
case("load", "flow load: nan weights", "error", """
import torch; from topotree.adapters import FlowAutoencoder
m = FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4); p = os.path.join(TMP, 'm.pt'); m.save(p)
b = torch.load(p, weights_only=True); k = [k for k, v in b['state_dict'].items() if v.is_floating_point() and v.numel()][0]; b['state_dict'][k] = b['state_dict'][k] * float('nan'); torch.save(b, p); FlowAutoencoder.load(p)
""")
case("load", "flow load: crafted pickle", "error", """
import pickle; from topotree.adapters import FlowAutoencoder
class Evil:
    def __reduce__(self): return (os.system, ('touch ' + os.path.join(TMP, 'pwned'),))
p = os.path.join(TMP, 'evil.pt'); open(p, 'wb').write(pickle.dumps(Evil()))
try:
    FlowAutoencoder.load(p)
finally:
    assert not os.path.exists(os.path.join(TMP, 'pwned'))
""")
case("load", "flow load: not a file", "error", "from topotree.adapters import FlowAutoencoder; p = os.path.join(TMP, 'x.pt'); open(p, 'wb').write(b'garbage'); FlowAutoencoder.load(p)")
case("load", "flow load: empty", "error", "from topotree.adapters import FlowAutoencoder; p = os.path.join(TMP, 'e.pt'); open(p, 'wb').close(); FlowAutoencoder.load(p)")
case("load", "flow load: truncated", "error", """
from topotree.adapters import FlowAutoencoder
m = FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4); p = os.path.join(TMP, 'm.pt'); m.save(p)
b = open(p, 'rb').read(); open(p, 'wb').write(b[: len(b) // 2]); FlowAutoencoder.load(p)
""")

# ------------------------------------------------------------------ 4. atomic writes
case("atomic", "tree save: failed write keeps old file (json)", "ok", """
p = os.path.join(TMP, 'a.json'); _T.save(p); before = open(p, 'rb').read()
import topotree.tree as T
orig = T.json.dumps
T.json.dumps = lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt())
try:
    _T.simplify().save(p)
except KeyboardInterrupt:
    pass
finally:
    T.json.dumps = orig
assert open(p, 'rb').read() == before
assert sorted(os.listdir(TMP)).count('a.json') == 1 and not [f for f in os.listdir(TMP) if f.startswith('a.json') and f != 'a.json']
""")
case("atomic", "tree save: failed write keeps old file (npz)", "ok", """
p = os.path.join(TMP, 'a.npz'); _T.save(p); before = open(p, 'rb').read()
orig = np.savez_compressed
def boom(fh, **kw):
    fh.write(b'partial'); raise KeyboardInterrupt()
np.savez_compressed = boom
import topotree.tree as T; T.np.savez_compressed = boom
try:
    _T.simplify().save(p)
except KeyboardInterrupt:
    pass
finally:
    np.savez_compressed = orig; T.np.savez_compressed = orig
assert open(p, 'rb').read() == before
""")
case("atomic", "tree save: killed mid-write leaves no loadable partial", "ok", """
import subprocess, signal, time
p = os.path.join(TMP, 'k.npz'); _T.save(p); before = open(p, 'rb').read()
code = ("import numpy as np, topotree as tt, os, signal\\n"
        "import topotree.tree as T\\n"
        "orig = T.np.savez_compressed\\n"
        "def slow(fh, **kw):\\n    fh.write(b'PK'); fh.flush(); os.kill(os.getpid(), signal.SIGKILL)\\n"
        "T.np.savez_compressed = slow\\n"
        "X = np.random.default_rng(0).normal(size=(100, 2)); tt.build_tree(X, k=5).save(%r)\\n" % p)
subprocess.run([sys.executable, '-c', code])
assert open(p, 'rb').read() == before
""")
case("atomic", "tree save: missing folder", "error", "_T.save(os.path.join(TMP, 'nope', 'x.json'))")
case("atomic", "tree save: onto a directory", "error", "d = os.path.join(TMP, 'dir.json'); os.makedirs(d, exist_ok=True); _T.save(d)")
case("atomic", "tree save: bad suffix", "error", "_T.save(os.path.join(TMP, 'x.txt'))")
case("atomic", "flow save: failed write keeps old file", "ok", """
import torch; from topotree.adapters import FlowAutoencoder
m = FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4); p = os.path.join(TMP, 'f.pt'); m.save(p); before = open(p, 'rb').read()
orig = torch.save
def boom(obj, f, *a, **k):
    if hasattr(f, 'write'): f.write(b'partial')
    else: open(f, 'wb').write(b'partial')
    raise KeyboardInterrupt()
torch.save = boom
import topotree.adapters.autoencoder as A; A.torch.save = boom
try:
    FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4, seed=1).save(p)
except KeyboardInterrupt:
    pass
finally:
    torch.save = orig; A.torch.save = orig
assert open(p, 'rb').read() == before
""")
case("atomic", "flow save: missing folder", "error", "from topotree.adapters import FlowAutoencoder; FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4).save(os.path.join(TMP, 'nope', 'm.pt'))")
case("atomic", "flow save: onto a directory", "error", "from topotree.adapters import FlowAutoencoder; d = os.path.join(TMP, 'd.pt'); os.makedirs(d, exist_ok=True); FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4).save(d)")
case("atomic", "flow save/load round trip", "ok", """
from topotree.adapters import FlowAutoencoder; import torch
m = FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4); p = os.path.join(TMP, 'rt.pt'); m.save(p)
m2 = FlowAutoencoder.load(p)
assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))
""")

# ------------------------------------------------------------------ 5. arguments
for fn in ["tt.plot_embedding(X, _T, seed={s}, max_points=10)",
           "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(100, seed={s})",
           "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(100, seed=0).sample(10, seed={s})",
           "from topotree.datasets import warp_and_move; warp_and_move(X, seed={s})",
           "from topotree.adapters import FlowAutoencoder; FlowAutoencoder(3, 2, seed={s})",
           "from topotree.adapters import FlowAutoencoder, fit; fit(FlowAutoencoder(2, 1, n_components=2, depth=1, hidden=4), X, epochs=1, progress=False, seed={s})",
           "from topotree.adapters import FlowAutoencoder; FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4).sample(3, seed={s})",
           "from topotree.adapters import FlowAutoencoder; FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4).decode(np.zeros((2, 2)), noise='sample', seed={s})"]:
    for s in ("'x'", "1.5", "2**70", "-1"):
        case("args", f"seed={s}: {fn.split(';')[-1].strip()[:40]}", "error", fn.format(s=s))
for name, code in [
    ("numpy float32 sigma", "from topotree.adapters import FlowAutoencoder; FlowAutoencoder(3, 2, sigma=np.float32(0.1))"),
    ("numpy float32 reg_covar", "from topotree.adapters import FlowAutoencoder; FlowAutoencoder(3, 2, reg_covar=np.float32(0.01))"),
    ("numpy int k", "tt.build_tree(X, k=np.int64(10))"),
    ("numpy float min_persistence", "_T.simplify(min_persistence=np.float32(0.5), min_mass=np.float64(0.01))"),
    ("numpy float lr", "from topotree.adapters import FlowAutoencoder, fit; fit(FlowAutoencoder(2, 1, n_components=2, depth=1, hidden=4), X, epochs=1, progress=False, lr=np.float32(1e-3), weight_decay=np.float64(0.0), grad_clip=np.float32(5))"),
    ("numpy int seed", "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(100, seed=np.int64(3))"),
    ("merge_height int8", "r = _T.merge_height(np.array([0, 1], dtype=np.int8), np.array([2, 3], dtype=np.uint8)); assert np.array_equal(r, _T.merge_height(np.array([0, 1]), np.array([2, 3])))"),
    ("merge_height int8 negative", "r = _T.merge_height(np.array([-1], dtype=np.int8), np.array([0], dtype=np.int8)); assert r[0] == _T.merge_height(len(X) - 1, 0)"),
    ("log-density tensor requiring grad", "import torch; t = tt.build_tree(X, log_density=lambda Y: -torch.tensor((Y**2).sum(1), requires_grad=True)); assert t.density == 'given'"),
    ("log-density callable (m,1)", "t = tt.build_tree(X, log_density=lambda Y: -(Y**2).sum(1, keepdims=True))"),
]:
    case("args", name, "ok", code)
for name, code in [
    ("backend list", "tt.build_tree(X, backend=['numba'])"),
    ("backend dict", "tt.build_tree(X, backend={})"),
    ("k float", "tt.build_tree(X, k=5.0)"),
    ("k bool", "tt.build_tree(X, k=True)"),
    ("k huge", "tt.build_tree(X, k=10**12)"),
    ("connect str", "tt.build_tree(X, connect='no')"),
    ("log_density callable raising", "tt.build_tree(X, log_density=lambda Y: 1 / 0)"),
    ("log_density callable wrong length", "tt.build_tree(X, log_density=lambda Y: np.zeros(3))"),
    ("log_density callable nan", "tt.build_tree(X, log_density=lambda Y: np.full(len(Y), np.nan))"),
    ("log_density str", "tt.build_tree(X, log_density='abc')"),
    ("merge_height float", "_T.merge_height(0.5, 1)"),
    ("merge_height not broadcastable", "_T.merge_height(np.arange(3), np.arange(4))"),
    ("merge_height out of range", "_T.merge_height(10**6, 0)"),
    ("merge_height bool", "_T.merge_height(np.array([True]), np.array([False]))"),
    ("merge_height str", "_T.merge_height('a', 0)"),
    ("merge_height uint64 huge", "_T.merge_height(np.array([2**63], dtype=np.uint64), np.array([0]))"),
    ("simplify nan", "_T.simplify(min_persistence=float('nan'))"),
    ("simplify str", "_T.simplify(min_mass='0.1')"),
    ("plot ax str", "tt.plot_dendrogram(_T, ax='x')"),
    ("plot color bad", "tt.plot_dendrogram(_T, color='notacolour')"),
    ("plot cmap bad", "tt.plot_dendrogram(_T, cmap='nocmap')"),
    ("plot leaf_labels wrong length", "tt.plot_dendrogram(_T, leaf_labels=['a'])"),
    ("plot y bad", "tt.plot_dendrogram(_T, y='height')"),
    ("plot max_width nan", "tt.plot_dendrogram(_T, max_width=float('nan'))"),
    ("plot figsize bad", "tt.plot_dendrogram(_T, figsize=(-1, 'a'))"),
    ("plot persistence max_bars 1e12 (a cap, fine)", "tt.plot_persistence(_T, max_bars=10**12, barcode=True)"),
    ("plot persistence max_bars -1", "tt.plot_persistence(_T, max_bars=-1)"),
    ("plot persistence max_bars float", "tt.plot_persistence(_T, max_bars=2.5)"),
    ("plot persistence threshold str", "tt.plot_persistence(_T, threshold='high')"),
    ("plot matching names", "tt.plot_matching(_T, _T, names='ab')"),
    ("plot matching names 3", "tt.plot_matching(_T, _T, names=('a', 'b', 'c'))"),
    ("plot matching line_color bad", "tt.plot_matching(_T, _T, line_color='nocolour')"),
    ("plot matching leaf_labels str", "tt.plot_matching(_T, _T, leaf_labels='yes')"),
    ("plot embedding max_points 1e12 (a cap, fine)", "tt.plot_embedding(X, _T, max_points=10**12, contour=False)"),
    ("plot embedding point_size neg", "tt.plot_embedding(X, _T, point_size=-3)"),
    ("plot embedding X wrong n", "tt.plot_embedding(X[:10], _T)"),
    ("plot embedding 3d X, contour ignored (fine)", "tt.plot_embedding(np.c_[X, X[:, 0]], _T, contour=True)"),
    ("datasets sample 1e12", "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(100, seed=0).sample(10**12)"),
    ("datasets sample -1", "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(100, seed=0).sample(-1)"),
    ("datasets sample 2.5", "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(100, seed=0).sample(2.5)"),
    ("datasets n 1e12", "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(10**12)"),
    ("datasets dim 0", "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(100, dim=0)"),
    ("datasets weights bad", "from topotree.datasets import hierarchical_mixture; hierarchical_mixture(100, weights='heavy')"),
    ("datasets warp nan", "from topotree.datasets import warp_and_move; warp_and_move(X, warp=float('nan'))"),
    ("flow sample 1e12", "from topotree.adapters import FlowAutoencoder; FlowAutoencoder(3, 2, n_components=2, depth=1, hidden=4).sample(10**12)"),
    ("flow sigma float32 nan", "from topotree.adapters import FlowAutoencoder; FlowAutoencoder(3, 2, sigma=np.float32('nan'))"),
    ("latent_cloud device banana", "import torch; from topotree.adapters import latent_cloud; latent_cloud(torch.nn.Linear(2, 1), X, device='banana')"),
    ("latent_cloud device cuda:99", "import torch; from topotree.adapters import latent_cloud; latent_cloud(torch.nn.Linear(2, 1), X, device='cuda:99')"),
    ("latent_cloud device int list", "import torch; from topotree.adapters import latent_cloud; latent_cloud(torch.nn.Linear(2, 1), X, device=[0])"),
    ("latent_cloud batch_size 0", "from topotree.adapters import FlowAutoencoder, latent_cloud; latent_cloud(FlowAutoencoder(2, 1, n_components=2, depth=1, hidden=4), X, batch_size=0)"),
]:
    case("args", name, "ok" if "fine)" in name else "error", code)

# ------------------------------------------------------------------ adapters fit
FIT = "from topotree.adapters import FlowAutoencoder, fit; fit(FlowAutoencoder(2, 1, n_components=2, depth=1, hidden=4), X, epochs=2, progress=False, {})"
for kw in ["weight_decay=float('nan')", "weight_decay=-1.0", "weight_decay='a'", "grad_clip=float('nan')", "grad_clip=-1.0",
           "grad_clip=0.0", "lr=0.0", "lr=-1e-3", "lr=float('nan')", "lr='fast'", "lr=None", "val_fraction=1.5", "val_fraction=float('nan')",
           "val_fraction=-0.1", "val_fraction='a'", "anneal_sigma=-1.0", "anneal_sigma=float('nan')", "anneal_sigma='a'",
           "adversarial_weight=float('nan')", "adversarial_weight=-1.0", "adversarial_weight='a'", "device='banana'",
           "device='cuda:99'", "batch_size=0", "patience=1.5", "patience=0", "X_val=np.zeros((3, 5))", "num_threads=0"]:
    case("fit", f"fit({kw})", "error", FIT.format(kw))
case("fit", "fit numpy scalars", "ok", FIT.format("lr=np.float32(1e-3), weight_decay=np.float32(1e-4), val_fraction=np.float64(0.2), grad_clip=np.int64(3), adversarial_weight=np.float32(0.1)"))

# ------------------------------------------------------------------ 6. CLI
for name, argv in [
    ("show empty json", "open(os.path.join(TMP, 'e.json'), 'w').close(); cli_bad('show', os.path.join(TMP, 'e.json'))"),
    ("show not json", "p = tree_file('.json', raw=lambda b: b'xx'); cli_bad('show', p)"),
    ("show json list", "p = tree_file('.json', raw=lambda b: b'[]'); cli_bad('show', p)"),
    ("show truncated json", "p = tree_file('.json', raw=lambda b: b[:len(b)//2]); cli_bad('show', p)"),
    ("show nested json", "p = tree_file('.json', raw=lambda b: b'[' * 100000 + b']' * 100000); cli_bad('show', p)"),
    ("show parent 1e7", "p = tree_file('.json', mutate=lambda d: d['arrays']['parent']['data'].__setitem__(1, 10**7)); cli_bad('show', p)"),
    ("show int 1e30", "p = tree_file('.json', mutate=lambda d: d['arrays']['order']['data'].__setitem__(0, 10**30)); cli_bad('show', p)"),
    ("show npz truncated", "p = tree_file('.npz', raw=lambda b: b[:len(b)//2]); cli_bad('show', p)"),
    ("show npz bit flip", "p = tree_file('.npz', raw=lambda b: b[:len(b)//2] + bytes([b[len(b)//2] ^ 0x55]) + b[len(b)//2+1:]); cli_bad('show', p)"),
    ("show npz missing array", "p = tree_file('.npz', mutate=lambda a: a.pop('owner')); cli_bad('show', p)"),
    ("plot owner out of range", "p = tree_file('.json', mutate=lambda d: d['arrays']['owner']['data'].__setitem__(0, 999)); cli_bad('plot', p, '--out', os.path.join(TMP, 'o.png'))"),
    ("plot member_hi beyond", "p = tree_file('.json', mutate=lambda d: d['arrays']['member_hi']['data'].__setitem__(0, 10**6)); cli_bad('plot', p, '--out', os.path.join(TMP, 'o.png'))"),
    ("plot dpi huge", "p = tree_file('.json'); cli_bad('plot', p, '--out', os.path.join(TMP, 'o.png'), '--dpi', '1000000000')"),
    ("plot dpi 0", "p = tree_file('.json'); cli_bad('plot', p, '--out', os.path.join(TMP, 'o.png'), '--dpi', '0')"),
    ("plot dpi -5", "p = tree_file('.json'); cli_bad('plot', p, '--out', os.path.join(TMP, 'o.png'), '--dpi', '-5')"),
    ("plot onto dir", "p = tree_file('.json'); d = os.path.join(TMP, 'dd.png'); os.makedirs(d, exist_ok=True); cli_bad('plot', p, '--out', d)"),
    ("tree out onto dir", "np.save(os.path.join(TMP, 'p.npy'), X); d = os.path.join(TMP, 'dt.json'); os.makedirs(d, exist_ok=True); cli_bad('tree', os.path.join(TMP, 'p.npy'), '--out', d)"),
    ("tree X*1e300", "np.save(os.path.join(TMP, 'big.npy'), X * 1e300); code, e = cli('tree', os.path.join(TMP, 'big.npy'), '--out', os.path.join(TMP, 'big.json')); assert code in (0, 2) and 'Traceback' not in e"),
    ("tree k 0", "np.save(os.path.join(TMP, 'p.npy'), X); cli_bad('tree', os.path.join(TMP, 'p.npy'), '--out', os.path.join(TMP, 'x.json'), '--k', '0')"),
    ("tree k 1e9", "np.save(os.path.join(TMP, 'p.npy'), X); cli_bad('tree', os.path.join(TMP, 'p.npy'), '--out', os.path.join(TMP, 'x.json'), '--k', '1000000000')"),
    ("tree object npy", "np.save(os.path.join(TMP, 'o.npy'), np.array([{}], dtype=object), allow_pickle=True); cli_bad('tree', os.path.join(TMP, 'o.npy'), '--out', os.path.join(TMP, 'x.json'))"),
    ("tree corrupt npy", "open(os.path.join(TMP, 'c.npy'), 'wb').write(b'\\x93NUMPY garbage'); cli_bad('tree', os.path.join(TMP, 'c.npy'), '--out', os.path.join(TMP, 'x.json'))"),
    ("tree corrupt npz", "open(os.path.join(TMP, 'c.npz'), 'wb').write(b'PK garbage'); cli_bad('tree', os.path.join(TMP, 'c.npz'), '--out', os.path.join(TMP, 'x.json'))"),
    ("tree ragged csv (first row short)", "open(os.path.join(TMP, 'r.csv'), 'w').write('1\\n' + '\\n'.join(f'{a},{b}' for a, b in X)); cli_bad('tree', os.path.join(TMP, 'r.csv'), '--out', os.path.join(TMP, 'x.json'))"),
    ("tree ragged csv (first row wider)", "open(os.path.join(TMP, 'w.csv'), 'w').write('1,2,3\\n' + '\\n'.join(f'{a},{b}' for a, b in X)); cli_bad('tree', os.path.join(TMP, 'w.csv'), '--out', os.path.join(TMP, 'x.json'))"),
    ("tree ragged csv (middle row)", "rows = [f'{a},{b}' for a, b in X]; rows[50] = '1,2,3'; open(os.path.join(TMP, 'm.csv'), 'w').write('\\n'.join(rows)); cli_bad('tree', os.path.join(TMP, 'm.csv'), '--out', os.path.join(TMP, 'x.json'))"),
    ("tree csv with text", "rows = [f'{a},{b}' for a, b in X]; rows[50] = 'a,b'; open(os.path.join(TMP, 't.csv'), 'w').write('\\n'.join(rows)); cli_bad('tree', os.path.join(TMP, 't.csv'), '--out', os.path.join(TMP, 'x.json'))"),
    ("tree csv header ok", "open(os.path.join(TMP, 'h.csv'), 'w').write('x,y\\n' + '\\n'.join(f'{a},{b}' for a, b in X)); code, e = cli('tree', os.path.join(TMP, 'h.csv'), '--out', os.path.join(TMP, 'h.json')); assert code == 0, e; assert load_tree(os.path.join(TMP, 'h.json')).n_points == len(X)"),
    ("tree binary garbage csv", "open(os.path.join(TMP, 'g.csv'), 'wb').write(bytes(range(256)) * 4); cli_bad('tree', os.path.join(TMP, 'g.csv'), '--out', os.path.join(TMP, 'x.json'))"),
    ("no subcommand", "code, e = cli(); assert code == 2 and 'usage' in e.lower() and 'Traceback' not in e"),
    ("console script alone", "import subprocess; r = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'topotree')], capture_output=True, text=True); assert r.returncode == 2 and 'usage' in r.stderr.lower() and 'Traceback' not in r.stderr, r.stderr[:300]"),
    ("tree log-density wrong length", "np.save(os.path.join(TMP, 'p.npy'), X); np.save(os.path.join(TMP, 'f.npy'), np.zeros(3)); cli_bad('tree', os.path.join(TMP, 'p.npy'), '--out', os.path.join(TMP, 'x.json'), '--log-density', os.path.join(TMP, 'f.npy'))"),
]:
    case("cli", name, "error" if "cli_bad" in argv else "ok", argv)

# ------------------------------------------------------------------ lead's: align, matching, compare, baselines
LEAD = [
    ("align ridge=-5", "tt.align(X, X @ [[0, 1], [1, 0]], ridge=-5)"),
    ("align ridge=nan", "tt.align(X, X, ridge=float('nan'))"),
    ("align seed='x'", "tt.align(X, X, seed='x')"),
    ("align seed=1.5", "tt.align(X, X, seed=1.5)"),
    ("align seed=2**70", "tt.align(X, X, seed=2**70)"),
    ("align transform list", "tt.align(X, X, transform=['affine'])"),
    ("align A*1e200 (subprocess)", "tt.align(X * 1e200, X)"),
    ("match_trees tree str", "tt.match_trees('a', _T)"),
    ("tree_distance order=-1", "tt.tree_distance(_T, _T, 'wasserstein', order=-1)"),
    ("tree_distance order=nan", "tt.tree_distance(_T, _T, 'wasserstein', order=float('nan'))"),
    ("tree_distance method list", "tt.tree_distance(_T, _T, ['matching'])"),
    ("merge_distortion n_pairs 1e12", "tt.merge_distortion(_T, _T, n_pairs=10**12)"),
    ("merge_distortion reduce bad", "tt.merge_distortion(_T, _T, reduce='median')"),
    ("baselines gw seed x", "tt.baselines.gromov_wasserstein_align(X, X, seed='x')"),
    ("baselines random_orthogonal seed 2**70", "tt.baselines.random_orthogonal(X, X, seed=2**70)"),
    ("baselines kmeans n_clusters 0", "tt.baselines.kmeans_qap_align(X, X, n_clusters=0)"),
    ("baselines oracle ridge -1", "tt.baselines.oracle_procrustes(X, X, ridge=-1)"),
    ("baselines anchor k 1e12", "tt.baselines.anchor_procrustes(X, X, None, 10**12)"),
]
for name, code in LEAD:
    case("lead", name, "error" if "1e200" not in name else "ok", code)


# ------------------------------------------------------------------ runner
def worker(indices):
    ns = {}
    exec(PRELUDE, ns)
    for i in indices:
        cat, name, expect, code = CASES[i]
        print(json.dumps({"start": i}), flush=True)
        local = dict(ns)
        try:
            exec(code, local)
            outcome = "clear" if expect == "ok" else "wrong"
            detail = "accepted" if expect == "error" else ""
        except (ValueError, TypeError, FileNotFoundError, IsADirectoryError, NotADirectoryError, MemoryError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else ""
            if expect == "error" or cat == "memory":
                # MemoryError counts as clear only when raised by our own check (it never is)
                outcome = "clear" if not isinstance(exc, MemoryError) else "crash"
            else:
                outcome = "crash"
            detail = f"{type(exc).__name__}: {msg[:160]}"
        except AssertionError as exc:
            outcome, detail = "wrong", f"assert: {str(exc)[:160]}"
        except BaseException as exc:  # noqa: BLE001 - everything else is a raw traceback
            outcome, detail = "crash", f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        print(json.dumps({"done": i, "outcome": outcome, "detail": detail}), flush=True)


def run(indices, timeout):
    results = {}
    todo = list(indices)
    while todo:
        env = dict(os.environ)
        proc = subprocess.Popen([sys.executable, __file__, "--worker", ",".join(map(str, todo))], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        try:
            out, err = proc.communicate(timeout=timeout)
            died = f"exit {proc.returncode}: {err.strip().splitlines()[-1][:160] if err.strip() else ''}"
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            died = "timeout (hang)"
        started = None
        for line in out.splitlines():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "start" in msg:
                started = msg["start"]
            elif "done" in msg:
                results[msg["done"]] = (msg["outcome"], msg["detail"])
                started = None
        if started is not None and started not in results:
            results[started] = ("crash", died)
        todo = [i for i in todo if i not in results]
        if started is None and todo:  # the worker died before starting anything
            for i in todo:
                results[i] = ("crash", died)
            todo = []
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--json", help="write the per-case results here")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    if args.worker:
        worker([int(i) for i in args.worker.split(",")])
        return
    idx = [i for i, c in enumerate(CASES) if not args.only or c[0] in args.only]
    results = {}
    for cat in dict.fromkeys(CASES[i][0] for i in idx):
        results.update(run([i for i in idx if CASES[i][0] == cat], args.timeout))
    table = defaultdict(Counter)
    for i in idx:
        table[CASES[i][0]][results[i][0]] += 1
        if args.verbose and results[i][0] != "clear":
            print(f"  [{results[i][0]:5}] {CASES[i][0]}: {CASES[i][1]} -> {results[i][1]}")
    print(f"{'category':10} {'tried':>6} {'clear':>6} {'crash':>6} {'wrong':>6}")
    tot = Counter()
    for cat, c in table.items():
        n = sum(c.values())
        print(f"{cat:10} {n:>6} {c['clear']:>6} {c['crash']:>6} {c['wrong']:>6}")
        if cat != "lead":
            tot.update(c)
    print(f"{'total*':10} {sum(tot.values()):>6} {tot['clear']:>6} {tot['crash']:>6} {tot['wrong']:>6}   (* without lead)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({f"{CASES[i][0]}: {CASES[i][1]}": results[i] for i in idx}, fh, indent=1)


if __name__ == "__main__":
    main()
