"""Iterative closest points: restricted to matched clusters (``align``) and global with mutual
nearest neighbours (the k-means + QAP baseline). Each keeps a step only where its score improves.

References
----------
Besl, P. J. and McKay, N. D. (1992). A method for registration of 3-D shapes. IEEE TPAMI 14(2).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ._nearest import chamfer, nearest
from ._procrustes import fit_map

__all__ = ["restricted_icp", "global_icp"]

MAX_PER_CLUSTER = 800  # points per matched cluster in the restricted ICP
ICP_PAIR_WEIGHT = 0.5  # share of the fit's weight carried by the mutual pairs (the anchors: the rest)
IMPROVE_TOL = 1e-9  # a step is kept only if the score falls by more than this


def restricted_icp(A, B, lab_a, lab_b, leaf_map, kind, M, t, s, anchors, rounds, ridge, allow_reflection, rng,
                   max_per_cluster=MAX_PER_CLUSTER, score_fn=None):
    """ICP with mutual nearest neighbours restricted to matched clusters; keep steps that improve.

    Each round pairs every matched A leaf's mapped points with their mutual nearest neighbours in
    the partner B leaf and refits (M, t) on those pairs together with the tree ``anchors``
    ``(Pa, Pb, weights)``; ``score_fn(M, t)`` (lower is better) decides whether a step is kept.
    Returns ``(M, t, s, score, steps accepted)``."""
    Aa, Ab, wa = anchors
    best = score_fn(M, t)
    accepted = 0
    groups = []
    for ia, ib in enumerate(leaf_map):
        if ib < 0:
            continue
        pa = np.flatnonzero(lab_a == ia)
        pb = np.flatnonzero(lab_b == ib)
        if pa.size == 0 or pb.size == 0:
            continue
        if pa.size > max_per_cluster:
            pa = rng.choice(pa, max_per_cluster, replace=False)
        if pb.size > max_per_cluster:
            pb = rng.choice(pb, max_per_cluster, replace=False)
        groups.append((pa, pb))
    if not groups:
        return M, t, s, best, 0
    for _ in range(rounds):
        src, dst = [], []
        for pa, pb in groups:
            TA = A[pa] @ M + t
            _, j = nearest(TA, B[pb])
            _, i = nearest(B[pb], TA)
            mutual = np.flatnonzero(i[j] == np.arange(pa.size))
            if mutual.size == 0:
                continue
            src.append(A[pa[mutual]])
            dst.append(B[pb[j[mutual]]])
        if not src:
            break
        S = np.vstack(src)
        D = np.vstack(dst)
        # the mutual pairs carry ICP_PAIR_WEIGHT of the weight, the tree anchors the rest
        P = np.vstack([S, Aa])
        Q = np.vstack([D, Ab])
        w = np.r_[np.full(S.shape[0], ICP_PAIR_WEIGHT / S.shape[0]), (1.0 - ICP_PAIR_WEIGHT) * wa / wa.sum()]
        M2, t2, s2 = fit_map(P, Q, w, kind, allow_reflection, ridge)
        sc = score_fn(M2, t2)
        if sc < best - IMPROVE_TOL:
            M, t, s, best = M2, t2, s2, sc
            accepted += 1
        else:
            break
    return M, t, s, best, accepted


def global_icp(A, B, M, t, s, kind, rounds=5, ridge=0.1, max_points=3000, seed=0):
    """ICP over the whole clouds (subsampled to ``max_points``) with mutual nearest neighbours,
    keeping a step while the Chamfer distance falls. Returns ``(M, t, s)``."""
    rng = np.random.default_rng(seed)
    Sa = A[rng.choice(A.shape[0], min(max_points, A.shape[0]), replace=False)]
    Sb = B[rng.choice(B.shape[0], min(max_points, B.shape[0]), replace=False)]
    tb = cKDTree(Sb)
    best = chamfer(A @ M + t, B)
    for _ in range(rounds):
        TA = Sa @ M + t
        _, j = tb.query(TA)
        _, i = cKDTree(TA).query(Sb)
        mutual = np.flatnonzero(i[j] == np.arange(Sa.shape[0]))
        if mutual.size < Sa.shape[1] + 1:
            break
        M2, t2, s2 = fit_map(Sa[mutual], Sb[j[mutual]], np.full(mutual.size, 1.0 / mutual.size), kind, True, ridge)
        sc = chamfer(A @ M2 + t2, B)
        if sc >= best:
            break
        M, t, s, best = M2, t2, s2, sc
    return M, t, s
