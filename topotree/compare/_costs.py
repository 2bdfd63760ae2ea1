"""The cost model of the matching: node-to-node costs (mass curves, nesting, and with clouds
similarity-invariant shape and spread; or, with a correspondence, one minus the Jaccard overlap),
deletion costs, and each leaf's distribution of distances to the other leaves.

References
----------
Memoli, F. (2011). Gromov-Wasserstein distances and the metric approach to object matching.
Found. Comput. Math. 11 (local distributions of distances).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._curves import pad
from ._descriptors import TreeDescriptors
from ._params import (COST_BLOCK, JACCARD_DELETION, PROFILE_GRID, PROFILE_MAX, SHAPE_WEIGHT, SPREAD_FLOOR,
                      SPREAD_WEIGHT, W_NEST)

__all__ = ["DescriptorCost", "JaccardCost", "distance_profiles"]


@dataclass(frozen=True)
class JaccardCost:
    """With a point correspondence: node u of A and v of B cost one minus the Jaccard overlap of
    their members; deleting a node costs JACCARD_DELETION (pairs overlapping by less than 10% are
    not made)."""

    jaccard: np.ndarray

    def __call__(self, u, v):
        return 1.0 - self.jaccard[np.ix_(u, v)]

    def deletions(self, tree_a, tree_b):
        return np.full(tree_a.n_nodes, JACCARD_DELETION), np.full(tree_b.n_nodes, JACCARD_DELETION)


@dataclass(frozen=True)
class DescriptorCost:
    """Descriptor distances between nodes u of A and v of B (mass units): own growth curves ``H``,
    basin masses ``Bm``, nesting curves ``N`` (weight W_NEST) and, with clouds (``geo`` not None),
    ``geo`` times the normalised covariance spectra and log spread ratios."""

    Ha: np.ndarray
    Hb: np.ndarray
    Ba: np.ndarray
    Bb: np.ndarray
    Na: np.ndarray
    Nb: np.ndarray
    Da: TreeDescriptors
    Db: TreeDescriptors
    geo: float | None

    def __call__(self, u, v):
        """Costs of the nodes u against v, in row blocks."""
        Ha, Hb, Ba, Bb, Na, Nb, Da, Db, geo = (self.Ha, self.Hb, self.Ba, self.Bb, self.Na, self.Nb, self.Da,
                                               self.Db, self.geo)
        out = np.empty((u.shape[0], v.shape[0]))
        step = max(1, COST_BLOCK // max(1, v.shape[0] * Ha.shape[1]))
        for s0 in range(0, u.shape[0], step):
            r = u[s0:s0 + step]
            c = (np.abs(Ha[r][:, None, :] - Hb[v][None, :, :]).mean(axis=2)
                 + np.abs(Ba[r][:, None] - Bb[v][None, :])
                 + W_NEST * np.abs(Na[r][:, None, :] - Nb[v][None, :, :]).mean(axis=2))
            if geo is not None:
                Sa, Sb = pad(Da.spectrum[r], Db.spectrum.shape[1]), pad(Db.spectrum[v], Da.spectrum.shape[1])
                shape = 0.5 * np.abs(Sa[:, None, :] - Sb[None, :, :]).sum(axis=2)
                spread = np.abs(np.log(np.maximum(Da.spread[r], SPREAD_FLOOR)[:, None]
                                       / np.maximum(Db.spread[v], SPREAD_FLOOR)[None, :]))
                c = c + geo * (SHAPE_WEIGHT * shape + SPREAD_WEIGHT * spread)
            out[s0:s0 + step] = c
        return out

    def deletions(self, tree_a, tree_b):
        """The distance of every node to the empty node."""
        return (self.Ha.mean(axis=1) + self.Ba + W_NEST * self.Na.mean(axis=1),
                self.Hb.mean(axis=1) + self.Bb + W_NEST * self.Nb.mean(axis=1))


def distance_profiles(Pa, wa, Pb, wb, n_grid=PROFILE_GRID):
    """(La, Lb) W1 distances between the leaves' weighted distributions of relative distances.

    Mémoli's local distribution of distances: for leaf i, the distribution of ||c_i - c_k|| / s
    over the other leaves k, weighted by their mass, s the mass-weighted mean distance; it does
    not change under similarity transforms and needs no matching.
    """
    def cdfs(P, w, grid):
        K = np.sqrt(np.maximum(((P[:, None, :] - P[None, :, :]) ** 2).sum(-1), 0.0))
        w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
        s = float(w @ K @ w) or 1.0
        K = K / s
        W = np.broadcast_to(w[None, :], K.shape).copy()
        np.fill_diagonal(W, 0.0)
        W /= np.maximum(W.sum(axis=1, keepdims=True), 1e-300)
        return ((K[:, :, None] <= grid[None, None, :]) * W[:, :, None]).sum(axis=1)

    grid = np.linspace(0.0, PROFILE_MAX, n_grid)
    Fa, Fb = cdfs(Pa, wa, grid), cdfs(Pb, wb, grid)
    return np.abs(Fa[:, None, :] - Fb[None, :, :]).sum(axis=2) * (grid[1] - grid[0])
