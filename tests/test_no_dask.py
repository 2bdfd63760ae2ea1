"""Dask is an optional extra: topotree imports and builds trees without it, and never imports it
for in-memory arrays."""
import subprocess
import sys

NOT_IMPORTED = """
import sys
import numpy as np
import topotree as tt
tt.build_tree(np.random.default_rng(0).normal(size=(300, 2)))
assert "dask" not in sys.modules and "distributed" not in sys.modules, "topotree imported dask"
"""

BLOCKED = """
import sys
sys.modules["dask"] = None  # as if dask were not installed: importing it raises ImportError
sys.modules["distributed"] = None
import numpy as np
import topotree as tt
from topotree.blockwise import knn_graph  # the module itself imports without dask
tt.build_tree(np.random.default_rng(0).normal(size=(300, 2)))
try:
    tt.build_tree("points.npy")
except ImportError as exc:
    assert "topotree[dask]" in str(exc), exc
else:
    raise AssertionError("a path without dask should raise ImportError")
"""


def _run(code):
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_in_memory_path_never_imports_dask():
    _run(NOT_IMPORTED)


def test_core_works_without_dask_installed():
    _run(BLOCKED)
