"""Move per-point arrays between two numberings of the same points (numba, all cores).

Internally the points are numbered in the KD-tree's leaf order (near points, near numbers), which
keeps the graph passes cache-friendly; ``perm[i]`` is the caller's index of internal point i.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def scatter(perm, a):
    """``out[perm[i]] = a[i]`` along the first axis (1-D or 2-D ``a``)."""
    out = np.empty_like(a)
    for i in prange(perm.shape[0]):
        out[perm[i]] = a[i]
    return out


@njit(cache=True, parallel=True)
def scatter_relabel(perm, nb):
    """``out[perm[i], j] = perm[nb[i, j]]``: a neighbour table in the caller's numbering."""
    n, k = nb.shape
    out = np.empty_like(nb)
    for i in prange(n):
        r = perm[i]
        for j in range(k):
            out[r, j] = perm[nb[i, j]]
    return out


@njit(cache=True, parallel=True)
def relabel(perm, a):
    """``perm[a]`` with -1 kept as -1 (1-D)."""
    out = np.empty_like(a)
    for i in prange(a.shape[0]):
        out[i] = perm[a[i]] if a[i] >= 0 else -1
    return out
