"""Compile every numba kernel of the common paths into numba's on-disk cache (``cache=True``).

Run once at install (``make venv`` does it): ``python -m topotree._warmup``. Afterwards a fresh
interpreter's first :func:`topotree.build_tree` loads the compiled kernels instead of compiling
them (about 10 s on 2 cores with an empty cache, under a second from the cache).
"""
import time

import numpy as np


def warm(verbose=False):
    """Build, simplify and label small trees in 2, 8, 20 (the scalar KD-tree; above 16 dims its
    distances by one numpy formula) and 40 dimensions (the GEMM-screened leaf blocks: every cloud
    in more than 32 dims), with both union-find backends' shared kernels."""
    import topotree as tt
    from topotree.datasets import hierarchical_mixture

    t0 = time.perf_counter()
    for d in (2, 8, 20, 40):
        X = hierarchical_mixture(600, dim=d, n_leaves=4, seed=0).X
        tree = tt.build_tree(X, k=10, progress=False)
        simple = tree.simplify()
        simple.labels()
    tt.build_tree(np.repeat(X[:50], 3, axis=0), k=5, progress=False)  # duplicate chains
    if verbose:
        print(f"topotree: numba kernels compiled and cached in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    warm(verbose=True)
