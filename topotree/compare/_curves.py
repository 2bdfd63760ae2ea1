"""Node curves for the matching costs (beside ``_descriptors``): nesting curves, growth curves held
flat below a node's start, ancestor chains, padding of spectra."""
from __future__ import annotations

import numpy as np

from ..tree import ClusterTree
from ._descriptors import TreeDescriptors

__all__ = ["nesting", "own_curve", "chain", "pad"]


def nesting(tree: ClusterTree, D: TreeDescriptors, T: int) -> np.ndarray:
    """(M, T) per node: for t on a grid, the mass of the smallest ancestor-or-self with mass >= t."""
    t = (np.arange(T) + 0.5) / T
    M = tree.n_nodes
    out = np.zeros((M, T))
    parent = np.asarray(tree.parent)
    mass = D.mass
    for i in range(M):
        chain = []
        a = i
        while a >= 0:
            chain.append(mass[a])
            a = parent[a]
        m = np.maximum.accumulate(np.asarray(chain))  # masses grow towards the root
        k = np.searchsorted(m, t, side="left")
        out[i] = np.where(k < m.shape[0], m[np.minimum(k, m.shape[0] - 1)], 0.0)
    return out


def own_curve(tree, D):
    """(M, G) growth curve of each node down to its start, then flat (its mass as it merges).

    The curve above the merge describes the cluster itself; below it, it would depend on where
    the merges happen, which noise and warps of the density move much more than the clusters.
    """
    keep = D.q[None, :] <= D.start_q[:, None]
    last = np.maximum(keep.sum(axis=1) - 1, 0)
    flat = D.growth[np.arange(D.growth.shape[0]), last]
    return np.where(keep, D.growth, flat[:, None])


def chain(parent, i):
    """The node ``i`` and its ancestors up to the root."""
    out = []
    while i >= 0:
        out.append(int(i))
        i = parent[i]
    return out


def pad(S, d):
    """Pad the rows of ``S`` with zeros to ``d`` columns."""
    return np.pad(S, ((0, 0), (0, max(0, d - S.shape[1]))))
