"""Union-find (disjoint sets) on plain integer arrays, for numba kernels.

State is two arrays: ``parent`` (parent[i] == i for a root) and ``size``.
Union by size, path halving: amortised near-constant time per operation.

References
----------
Tarjan, R. E. (1975). Efficiency of a good but not linear set union algorithm. J. ACM 22(2).
"""
import numpy as np
from numba import njit


@njit(cache=True)
def ds_new(n):
    return np.arange(n, dtype=np.int64), np.ones(n, dtype=np.int64)


@njit(cache=True)
def ds_find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def ds_union(parent, size, a, b):
    """Join the sets of roots ``a`` and ``b``; return the new root."""
    if a == b:
        return a
    if size[a] < size[b]:
        a, b = b, a
    parent[b] = a
    size[a] += size[b]
    return a


@njit(cache=True)
def ds_labels(parent):
    """Each element's set as a label 0, 1, ... numbered in order of the sets' first elements."""
    n = parent.shape[0]
    label = np.full(n, -1, dtype=np.int64)
    comp = np.empty(n, dtype=np.int64)
    c = 0
    for v in range(n):
        r = ds_find(parent, v)
        if label[r] < 0:
            label[r] = c
            c += 1
        comp[v] = label[r]
    return comp
