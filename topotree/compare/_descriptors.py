"""Basis-free node descriptors of a cluster tree (for matching trees of unrelated coordinates).

Levels are expressed as *mass above*: the fraction of points whose log-density is at least the
level. Any monotone change of the density and any change of coordinates leaves them unchanged,
so two models that learned the same data give comparable numbers.

Per node (on a grid of ``G`` mass-above levels ``q_g = (g + 1/2) / G``):

* ``area[i, g]``: the mass of node ``i``'s component at level ``q_g`` when ``i`` holds that level
  (its start < level <= its end), else 0. Over all nodes the column sums are ``q_g`` (every point
  above a level is in exactly one component), so a tree's total area is 1/2.
* ``growth[i, g]``: the mass of the component holding node ``i``'s top at level ``q_g`` (0 above
  its end): the sum of ``area`` over the node's ancestors (the leaf *growth curve*).
* ``start_q``, ``end_q``, ``persistence_q`` and ``n_leaves``.

With the point cloud, the geometry no similarity transform changes: node centroids (used only
through distance ratios and Procrustes residuals), the node's RMS radius over the cloud's, and
the eigenvalue spectrum of its covariance divided by its trace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class TreeDescriptors:
    q: np.ndarray            # (G,) mass-above grid
    mass: np.ndarray         # (M,)
    start_q: np.ndarray      # (M,) mass above the start level (1 for a root)
    end_q: np.ndarray        # (M,) mass above the end level
    persistence_q: np.ndarray  # (M,) start_q - mass above the peak
    n_leaves: np.ndarray     # (M,)
    area: np.ndarray         # (M, G)
    growth: np.ndarray       # (M, G)
    centroid: np.ndarray | None = None   # (M, d)
    spread: np.ndarray | None = None     # (M,) RMS radius / the cloud's RMS radius
    spectrum: np.ndarray | None = None   # (M, d) covariance eigenvalues / trace, descending


def mass_above(sorted_f: np.ndarray, levels) -> np.ndarray:
    """Fraction of points with log-density >= level (``sorted_f`` ascending)."""
    n = sorted_f.shape[0]
    return (n - np.searchsorted(sorted_f, levels, side="left")) / n


@njit(cache=True)
def _accumulate(parent, area, out):
    out[:] = area
    for i in range(parent.shape[0]):  # preorder: parents first
        p = parent[i]
        if p >= 0:
            out[i] += out[p]


@njit(cache=True)
def _subtree_rows(parent, rows):
    for i in range(parent.shape[0] - 1, -1, -1):
        p = parent[i]
        if p >= 0:
            rows[p] += rows[i]


def tree_descriptors(tree, X=None, n_levels: int = 64) -> TreeDescriptors:
    """Basis-free descriptors of every node of ``tree`` (see the module docstring)."""
    f = np.asarray(tree.log_density)
    n = f.shape[0]
    M = tree.n_nodes
    G = int(n_levels)
    sf = np.sort(f)
    q = (np.arange(G) + 0.5) / G
    # level L_g: the log-density of the ceil(q n)-th highest point
    r = np.clip(np.ceil(q * n).astype(np.int64), 1, n)
    L = sf[n - r]
    parent = np.asarray(tree.parent)
    start = np.asarray(tree.start)
    end = np.asarray(tree.end)
    # H[node, g]: points owned by node with f >= L_g; a point counts for every g with L_g <= f
    g_first = np.searchsorted(-L, -f, side="left")  # first g with L_g <= f (L decreasing)
    H = np.zeros((M, G + 1))
    np.add.at(H, (np.asarray(tree.owner), g_first), 1.0)
    H = np.cumsum(H[:, :G], axis=1)
    _subtree_rows(parent, H)
    holds = (start[:, None] < L[None, :]) & (L[None, :] <= end[:, None])
    area = np.where(holds, H / n, 0.0)
    growth = np.empty_like(area)
    _accumulate(parent, area, growth)
    start_q = np.where(parent >= 0, mass_above(sf, start), 1.0)
    if tree.virtual_root:
        start_q[0] = 1.0
    end_q = mass_above(sf, end)
    end_q = np.where(np.isfinite(end), end_q, 1.0)
    peak_q = mass_above(sf, f[np.asarray(tree.peak)])
    n_leaves = np.bincount(np.asarray(tree.leaves), minlength=M).astype(np.float64)
    _subtree_rows(parent, n_leaves[:, None])
    out = dict(q=q, mass=np.asarray(tree.mass, dtype=np.float64), start_q=start_q, end_q=end_q,
               persistence_q=start_q - peak_q, n_leaves=n_leaves.astype(np.int64), area=area,
               growth=growth)
    if X is not None:
        out.update(_geometry(tree, X))
    return TreeDescriptors(**out)


def _geometry(tree, X):
    M = tree.n_nodes
    d = X.shape[1]
    mu = X.mean(axis=0)
    scale = np.sqrt(np.mean(np.sum((X - mu) ** 2, axis=1))) or 1.0
    cen = np.zeros((M, d))
    spectrum = np.zeros((M, d))
    spread = np.zeros(M)
    for i in range(M):  # simplified trees have few nodes; members include the subtree
        Z = (X[tree.members(i)] - mu) / scale
        if Z.shape[0] == 0:
            continue
        cen[i] = Z.mean(axis=0)
        Zc = Z - cen[i]
        # eigenvalues of the covariance from the singular values (no d x d x n temporaries)
        sv = np.linalg.svd(Zc, compute_uv=False) ** 2 / Z.shape[0]
        tr = sv.sum()
        spectrum[i, :sv.shape[0]] = sv / tr if tr > 0 else 0.0
        spread[i] = np.sqrt(tr)
    return dict(centroid=cen, spread=spread, spectrum=spectrum)
