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
