"""The alignment's own leaf matcher (``use_matching="fallback"``, and extra candidates beside
:func:`topotree.match_trees`): leaf features, an objective of growth-curve, distance-profile and
covariance-spectrum unaries plus centroid-distance agreement, its local search, candidate leaf
maps (exhaustive for few leaves, else Hungarian and FAQ starts), the maps a TreeMatching implies,
and geometric re-pairing of leaves under a fitted map.

References
----------
Vogelstein, J. T. et al. (2015). Fast approximate quadratic programming for graph matching.
PLoS ONE 10(4) (FAQ). Kuhn, H. W. (1955). The Hungarian method. Naval Res. Logist. Q. 2.
"""
from __future__ import annotations

from itertools import permutations
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._assignment import faq_map
from ._params import (
    ENUMERATE_MAX_MAPS,
    FAQ_RESTARTS,
    LOCAL_SEARCH_ROUNDS,
    MAX_AMBIGUOUS_GROUP,
    SPECTRUM_FLOOR,
    SPECTRUM_WEIGHT,
    UNARY_SCALE,
)

__all__ = ["LeafFeatures", "leaf_features", "candidate_leaf_maps", "maps_from_matching", "rematch"]


class LeafFeatures(NamedTuple):
    """Per leaf of one tree: basin labels of the points, centroids, masses, centroid distances over
    the cloud's RMS spread, and log covariance spectra (descending, relative to the spread)."""

    labels: np.ndarray
    centroids: np.ndarray
    mass: np.ndarray
    distances: np.ndarray
    spectrum: np.ndarray


def leaf_features(tree, X):
    labels = tree.labels()
    k = len(tree.leaves)
    cent = np.zeros((k, X.shape[1]))
    mass = np.bincount(labels, minlength=k) / X.shape[0]
    for i in range(k):
        m = labels == i
        cent[i] = X[m].mean(0) if m.any() else X[tree.peak[tree.leaves[i]]]
    spread = np.sqrt(np.mean(np.sum((X - X.mean(0)) ** 2, axis=1))) or 1.0
    D = np.linalg.norm(cent[:, None] - cent[None], axis=2) / spread
    # shape: log-eigenvalues of each leaf's covariance (descending), relative to the cloud's spread
    spec = np.zeros((k, X.shape[1]))
    for i in range(k):
        m = labels == i
        if m.sum() > X.shape[1]:
            ev = np.linalg.eigvalsh(np.cov(X[m].T).reshape(X.shape[1], X.shape[1]))[::-1]
            spec[i] = np.log(np.maximum(ev, SPECTRUM_FLOOR * spread**2) / spread**2)
    return LeafFeatures(labels, cent, mass, D, spec)


def _pairwise_cost(perm, Da, Db):
    """Mean absolute discrepancy of the normalised centroid distances under the leaf map perm."""
    sel = perm >= 0
    idx = np.flatnonzero(sel)
    if idx.size < 2:
        return 0.0
    return float(np.mean(np.abs(Da[np.ix_(idx, idx)] - Db[np.ix_(perm[idx], perm[idx])])))


def _objective(perm, U, Da, Db, alpha):
    idx = np.flatnonzero(perm >= 0)
    return alpha * float(U[idx, perm[idx]].mean()) + _pairwise_cost(perm, Da, Db)


def _local_search(perm, U, Da, Db, alpha, kb, max_rounds=LOCAL_SEARCH_ROUNDS):
    """2-opt: swap the images of two A-leaves, or move an A-leaf to an unused B-leaf."""
    perm = perm.copy()
    best = _objective(perm, U, Da, Db, alpha)
    ka = perm.shape[0]
    for _ in range(max_rounds):
        improved = False
        for i in range(ka):
            for j in range(i + 1, ka):
                perm[i], perm[j] = perm[j], perm[i]
                c = _objective(perm, U, Da, Db, alpha)
                if c < best - 1e-12:
                    best, improved = c, True
                else:
                    perm[i], perm[j] = perm[j], perm[i]
            used = set(perm.tolist())
            for b in range(kb):
                if b in used:
                    continue
                old = perm[i]
                perm[i] = b
                c = _objective(perm, U, Da, Db, alpha)
                if c < best - 1e-12:
                    best, improved = c, True
                    used = set(perm.tolist())
                else:
                    perm[i] = old
        if not improved:
            break
    return perm, best


def candidate_leaf_maps(fa, fb, curves_a, curves_b, n_candidates=24, seed=0, n_restarts=FAQ_RESTARTS):
    """Candidate injective leaf maps A -> B (A assumed to have no more leaves than B), best first."""
    _, _, mass_a, Da, spec_a = fa
    _, _, mass_b, Db, spec_b = fb
    ka, kb = Da.shape[0], Db.shape[0]
    U = np.abs(curves_a[:, None, :] - curves_b[None, :, :]).mean(2)
    U = U / (np.median(U) + 1e-12) * UNARY_SCALE  # unary in the units of the pairwise cost
    # distance profiles: each leaf's sorted distances to the other leaves (similarity-invariant)
    m = min(ka, kb) - 1
    if m >= 1:
        pa = np.sort(Da, axis=1)[:, 1:m + 1]
        pb = np.sort(Db, axis=1)[:, 1:m + 1]
        U = U + np.abs(pa[:, None, :] - pb[None, :, :]).mean(2)
    r = min(spec_a.shape[1], spec_b.shape[1])
    U = U + SPECTRUM_WEIGHT * np.abs(spec_a[:, None, :r] - spec_b[None, :, :r]).mean(2)
    alpha = 1.0
    starts = []
    r, c = linear_sum_assignment(U)
    p = np.full(ka, -1)
    p[r] = c
    starts.append(p)
    rng = np.random.default_rng(seed)
    n = max(ka, kb)
    Sa = np.zeros((n, n))
    Sb = np.zeros((n, n))
    Sa[:ka, :ka] = Da
    Sb[:kb, :kb] = Db
    if ka >= 2:
        for trial in range(n_restarts):
            opts = {"maximize": True, "rng": np.random.default_rng(int(rng.integers(1 << 31)))}
            if trial == 0:
                P0 = np.zeros((n, n))
                full = np.full(n, -1)
                full[:ka] = p
                rest = [b for b in range(n) if b not in set(p.tolist())]
                full[ka:] = rest[: n - ka]
                P0[np.arange(n), full] = 1
                opts["P0"] = P0
            else:
                opts["P0"] = "randomized"
            out = faq_map(Sa, Sb, opts, ka, kb)
            if out is None:
                continue
            q = out[0]
            # fill any A-leaf sent to padding with the cheapest free B-leaf
            free = [b for b in range(kb) if b not in set(q.tolist())]
            for i in np.flatnonzero(q < 0):
                if free:
                    q[i] = free.pop(0)
            starts.append(q)
    seen = {}
    n_maps = 1
    for i in range(ka):
        n_maps *= kb - i
    if n_maps <= ENUMERATE_MAX_MAPS:  # few leaves: enumerate every injective map
        for q in permutations(range(kb), ka):
            seen[q] = _objective(np.array(q), U, Da, Db, alpha)
        starts = []
    for s in starts:
        perm, cost = _local_search(s, U, Da, Db, alpha, kb)
        seen[tuple(perm.tolist())] = cost
    # near-ties: single swaps of the best map (ambiguous siblings)
    best = min(seen, key=seen.get)
    bp = np.array(best)
    for i in range(ka):
        for j in range(i + 1, ka):
            q = bp.copy()
            q[i], q[j] = q[j], q[i]
            key = tuple(q.tolist())
            if key not in seen:
                seen[key] = _objective(q, U, Da, Db, alpha)
    ranked = sorted(seen, key=seen.get)[:n_candidates]
    return [np.array(r) for r in ranked], [seen[r] for r in ranked]


def maps_from_matching(tm, tree_a, tree_b):
    """Leaf maps (position in A's leaves -> position in B's, -1 unmatched) from a TreeMatching:
    its own, then the exchanges within each ambiguous group."""
    pos_a = {leaf: i for i, leaf in enumerate(tree_a.leaves)}
    pos_b = {leaf: i for i, leaf in enumerate(tree_b.leaves)}
    base = np.full(len(tree_a.leaves), -1)
    for a, b in tm.pairs:
        if a in pos_a and b in pos_b:
            base[pos_a[a]] = pos_b[b]
    maps = [base]
    for group in tm.ambiguous:
        ids = [(pos_a.get(tm.pairs[g][0]), pos_b.get(tm.pairs[g][1])) for g in group]
        ids = [(i, j) for i, j in ids if i is not None and j is not None]
        if len(ids) < 2 or len(ids) > MAX_AMBIGUOUS_GROUP:
            continue
        src = [i for i, _ in ids]
        for perm in permutations([j for _, j in ids]):
            q = base.copy()
            q[src] = perm
            if not np.array_equal(q, base):
                maps.append(q)
    return maps


def rematch(Ta, Cb, leaf_map):
    """Re-pair leaves by Hungarian on the distances between mapped A-centroids and B-centroids."""
    n_match = int(np.count_nonzero(leaf_map >= 0))
    D = np.linalg.norm(Ta[:, None] - Cb[None], axis=2)
    r, c = linear_sum_assignment(D)
    out = np.full(Ta.shape[0], -1)
    keep = np.argsort(D[r, c])[:n_match]
    out[r[keep]] = c[keep]
    return out
