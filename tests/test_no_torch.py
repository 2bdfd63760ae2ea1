"""topotree never imports torch, even through POT's array backends."""
import subprocess
import sys

CODE = """
import sys
import numpy as np
import topotree as tt
from topotree.datasets import hierarchical_mixture
m = hierarchical_mixture(1500, dim=3, n_leaves=4, seed=0)
Xb, _ = m.sample(1500, seed=1)
a, b = tt.build_tree(m.X).simplify(), tt.build_tree(Xb).simplify()
tt.match_trees(a, b, m.X, Xb)
tt.tree_distance(a, b, "wasserstein")
try:
    tt.baselines.gromov_wasserstein_align(m.X[:200], Xb[:200])
except ImportError:
    pass
assert "torch" not in sys.modules, "topotree imported torch"
"""


def test_topotree_never_imports_torch():
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
