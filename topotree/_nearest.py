"""Nearest neighbours between two clouds (a k-d tree in few dims, BLAS blocks above), the mean
pairwise distance, and the symmetric Chamfer distance built on them: unchecked internals behind
the public diagnostics."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["KDTREE_MAX_DIM", "nearest", "mean_dist", "chamfer"]

KDTREE_MAX_DIM = 8  # up to this many dims a k-d tree answers the queries; above, BLAS blocks
BLOCK = 1024  # query rows per BLAS block


def nearest(Q, P):
    """Distance and index of each row of Q's nearest row of P (k-d tree in few dims, BLAS above)."""
    if Q.shape[1] <= KDTREE_MAX_DIM:
        return cKDTree(P).query(Q)
    sq_p = np.einsum("ij,ij->i", P, P)
    dist = np.empty(Q.shape[0])
    idx = np.empty(Q.shape[0], dtype=np.int64)
    for s in range(0, Q.shape[0], BLOCK):
        blk = Q[s:s + BLOCK]
        D = sq_p[None, :] - 2.0 * (blk @ P.T)
        j = np.argmin(D, axis=1)
        idx[s:s + BLOCK] = j
        dist[s:s + BLOCK] = np.sqrt(np.maximum(D[np.arange(blk.shape[0]), j] + np.einsum("ij,ij->i", blk, blk), 0.0))
    return dist, idx


def mean_dist(P, Q):
    sq = np.einsum("ij,ij->i", P, P)[:, None] + np.einsum("ij,ij->i", Q, Q)[None, :] - 2.0 * (P @ Q.T)
    return float(np.sqrt(np.maximum(sq, 0.0)).mean())


def chamfer(TA, B, max_points=3000, seed=0, return_mutual=False):
    """Symmetric mean nearest-neighbour distance between two clouds over B's RMS spread (both
    subsampled to ``max_points``), optionally with the mutual-nearest-neighbour fraction. Unchecked:
    see :func:`topotree.align.chamfer_score`."""
    rng = np.random.default_rng(seed)
    if TA.shape[0] > max_points:
        TA = TA[rng.choice(TA.shape[0], max_points, replace=False)]
    if B.shape[0] > max_points:
        B = B[rng.choice(B.shape[0], max_points, replace=False)]
    spread = np.sqrt(np.mean(np.sum((B - B.mean(0)) ** 2, axis=1))) or 1.0
    da, ia = nearest(TA, B)
    db, ib = nearest(B, TA)
    score = 0.5 * (da.mean() + db.mean()) / spread
    if return_mutual:
        return float(score), float(np.mean(ib[ia] == np.arange(TA.shape[0])))
    return float(score)
