"""Connected components of a kNN graph (numba, all cores).

The points are cut into contiguous blocks, one union-find pass per block in parallel over the
edges inside the block (every union stays inside its block, so the passes never touch the same
entries), then one serial pass over the few edges between blocks. With the points in the KD-tree's
order (near points, near numbers) almost every edge is inside a block.
"""
import numpy as np
from numba import get_num_threads, njit, parallel_chunksize, prange

from .disjoint_set import ds_find, ds_labels, ds_new, ds_union


@njit(cache=True, parallel=True)
def _block_unions(neighbors, parent, size, bounds, crossing):
    k = neighbors.shape[1]
    for t in prange(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        for v in range(lo, hi):
            a = ds_find(parent, v)
            for j in range(k):
                u = neighbors[v, j]
                if lo <= u < hi:
                    a = ds_union(parent, size, a, ds_find(parent, u))
                else:
                    crossing[v] = True


@njit(cache=True)
def _finish(neighbors, parent, size, crossing):
    n, k = neighbors.shape
    for v in range(n):
        if crossing[v]:
            for j in range(k):
                ds_union(parent, size, ds_find(parent, v), ds_find(parent, neighbors[v, j]))
    return ds_labels(parent)


def block_bounds(n):
    """Boundaries of the blocks of consecutive points handled one a thread: about four blocks a
    thread, none smaller than 10,000 points."""
    blocks = max(1, min(4 * get_num_threads(), n // 10_000))
    return np.linspace(0, n, blocks + 1).astype(np.int64)


def components(neighbors):
    """Connected component of every point of the kNN graph (numbered in order of first point).

    Examples
    --------
    >>> import numpy as np
    >>> components(np.array([[1], [0], [3], [2]])).tolist()
    [0, 0, 1, 1]
    """
    neighbors = np.ascontiguousarray(neighbors, dtype=np.int64)
    n = neighbors.shape[0]
    parent, size = ds_new(n)
    bounds = block_bounds(n)
    crossing = np.zeros(n, dtype=np.bool_)
    with parallel_chunksize(1):
        _block_unions(neighbors, parent, size, bounds, crossing)
    return _finish(neighbors, parent, size, crossing)
