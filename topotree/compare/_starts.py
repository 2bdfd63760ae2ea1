"""Starting leaf assignments for the geometric refinement: anchored on one of A's largest leaves,
and fused Gromov-Wasserstein couplings of the leaf centroids (POT, optional).

References
----------
Vayer, T., Chapel, L., Flamary, R., Tavenard, R. and Courty, N. (2019). Optimal transport for
structured data with application on graphs. ICML.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .._assignment import BIG, partial_assignment
from .._pot import import_pot
from ._params import FGW_ALPHAS, FGW_FIXED_STARTS, N_ANCHOR_LEAVES, SINKHORN_ITER, SINKHORN_TOL

__all__ = ["anchored_starts", "fgw_start_params", "fgw_start", "one_blas_thread"]


def anchored_starts(C0, da, db, Pa, Pb, wa, wb, w_geo, n_anchors=N_ANCHOR_LEAVES):
    """Assignments that pair one of A's largest leaves with each leaf of B in turn.

    Given the anchor pair (i, j), leaf k of A and leaf l of B cost C0[k, l] plus the difference of
    their distances to the anchor (relative to each tree's mean distance): distances from one
    point break most symmetries that the mass descriptors leave (e.g. equal-mass leaves).
    """
    def rel(P, w):
        K = np.sqrt(np.maximum(((P[:, None, :] - P[None, :, :]) ** 2).sum(-1), 0.0))
        w = w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / len(w))
        return K / (float(w @ K @ w) or 1.0)

    Ka, Kb = rel(Pa, wa), rel(Pb, wb)
    out = []
    for i in np.argsort(-wa, kind="stable")[:n_anchors]:
        for j in range(Pb.shape[0]):
            C = C0 + w_geo * np.abs(Ka[i][:, None] - Kb[j][None, :])
            C[i, :] = BIG
            C[:, j] = BIG
            C[i, j] = -BIG
            r, c, _ = partial_assignment(C, da, db)
            out.append((r, c))
    return out


def one_blas_thread():
    """BLAS on one thread (a context manager; a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def fgw_start_params(n_starts, rng, La, Lb):
    """(alpha, initial coupling or None) for the fused Gromov-Wasserstein starts."""
    out = []
    for k in range(n_starts):
        alpha = FGW_ALPHAS[k % len(FGW_ALPHAS)]
        G0 = None if k < FGW_FIXED_STARTS else rng.random((La, Lb))
        out.append((alpha, G0))
    return out


def fgw_start(C0, Pa, Pb, wa, wb, alpha, G0):
    """A leaf assignment from fused Gromov-Wasserstein between the leaves' centroid distances.

    Distances are divided by their mean (a similarity invariant); node features are the
    descriptor costs ``C0``. The coupling's largest entries give the assignment.
    """
    try:
        ot = import_pot()
    except ImportError:  # POT is an optional extra: no such start
        return None

    Ka = np.sqrt(np.maximum(((Pa[:, None, :] - Pa[None, :, :]) ** 2).sum(-1), 0.0))
    Kb = np.sqrt(np.maximum(((Pb[:, None, :] - Pb[None, :, :]) ** 2).sum(-1), 0.0))
    Ka /= Ka.mean() or 1.0
    Kb /= Kb.mean() or 1.0
    p = wa / wa.sum() if wa.sum() > 0 else np.full(len(wa), 1 / len(wa))
    q = wb / wb.sum() if wb.sum() > 0 else np.full(len(wb), 1 / len(wb))
    M = C0 / (C0.mean() or 1.0)
    if G0 is not None:  # a random coupling with the right marginals (Sinkhorn scaling)
        for _ in range(SINKHORN_ITER):
            G0 = G0 * (p / G0.sum(axis=1))[:, None]
            G0 = G0 * (q / G0.sum(axis=0))[None, :]
            if np.abs(G0.sum(axis=1) - p).max() < SINKHORN_TOL:
                break
        else:
            return None
    with one_blas_thread():  # small matrices: threads only add contention
        T = ot.gromov.fused_gromov_wasserstein(M, Ka, Kb, p, q, loss_fun="square_loss", alpha=alpha, G0=G0)
    r, c = linear_sum_assignment(-T / (p[:, None] * q[None, :]))
    return r, c
