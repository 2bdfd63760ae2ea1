"""Geometric refinement of a leaf assignment: an orthogonal Procrustes fit of the matched nodes'
centroids adds its residual to the leaf costs and the assignment is solved again, until stable;
then exchanges of two partners while they lower the objective."""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .._assignment import partial_assignment
from .._procrustes import residuals_after_fit
from ..tree import ClusterTree
from ._descriptors import TreeDescriptors
from ._hierarchy import derive_pairs
from ._params import IMPROVE_TOL, MASS_WEIGHT_FLOOR, TWO_OPT_MAX_PAIRS, TWO_OPT_TOL

__all__ = ["MatchContext", "geo_fit", "refine", "two_opt"]


class MatchContext(NamedTuple):
    """What the refinement of one matching works on: the trees, their leaves, the leaf costs
    ``C0``, the leaves' deletion costs ``da``/``db``, the node cost, the descriptors and the
    weight of the geometric residual."""

    tree_a: ClusterTree
    tree_b: ClusterTree
    leaves_a: np.ndarray
    leaves_b: np.ndarray
    C0: np.ndarray
    da: np.ndarray
    db: np.ndarray
    node_cost: Callable
    Da: TreeDescriptors
    Db: TreeDescriptors
    w_geo: float


def geo_fit(ctx, ra, cb):
    """Procrustes fit of the centroids of the nodes that (ra, cb) pairs; the leaf costs and objective.

    The objective is the assignment's cost under descriptor + geometry_weight * residual, deleted
    leaves paying their deletion cost; the fit weighs each matched node by sqrt(mass_a * mass_b).
    """
    tree_a, tree_b, leaves_a, leaves_b, C0, da, db, node_cost, Da, Db, w_geo = ctx
    derived = derive_pairs(tree_a, tree_b, leaves_a, leaves_b, ra, cb, node_cost)
    if len(derived) < 2:
        return C0, np.inf
    na = np.array([u for u, _, _ in derived])
    nb = np.array([v for _, v, _ in derived])
    w = np.sqrt(Da.mass[na] * Db.mass[nb]) + MASS_WEIGHT_FLOOR
    resid = residuals_after_fit(Da.centroid[na], Db.centroid[nb], w, Da.centroid[leaves_a], Db.centroid[leaves_b])
    C = C0 + w_geo * resid
    obj = C[ra, cb].sum() + da.sum() - da[ra].sum() + db.sum() - db[cb].sum()
    return C, float(obj)


def refine(ctx, ra, cb, max_refine):
    """Alternate a Procrustes fit and a re-assignment; the best (ra, cb, C, objective) seen."""
    seen = set()
    best = None
    for _ in range(max(1, max_refine)):
        C, obj = geo_fit(ctx, ra, cb)
        if best is None or obj < best[3] - IMPROVE_TOL:
            best = (ra, cb, C, obj)
        if not np.isfinite(obj):
            break
        ra, cb, _ = partial_assignment(C, ctx.da, ctx.db)
        key = tuple(zip(ra.tolist(), cb.tolist()))
        if key in seen:
            break
        seen.add(key)
    return best


def two_opt(ctx, ra, cb, C, obj, max_pairs=TWO_OPT_MAX_PAIRS):
    """Exchange partners of two pairs, or a partner for an unmatched leaf, while it lowers the objective."""
    P = ra.shape[0]
    if P > max_pairs:
        return ra, cb, C, obj
    Lb = ctx.leaves_b.shape[0]
    improved = True
    while improved:
        improved = False
        moves = [(p, q) for p in range(P) for q in range(p + 1, P)]
        moves += [(p, -1 - j) for p in range(P) for j in np.setdiff1d(np.arange(Lb), cb)]
        for p, q in moves:
            cb2 = cb.copy()
            if q >= 0:
                cb2[p], cb2[q] = cb[q], cb[p]
            else:
                cb2[p] = -1 - q
            C2, obj2 = geo_fit(ctx, ra, cb2)
            if obj2 < obj - TWO_OPT_TOL:
                cb, C, obj, improved = cb2, C2, obj2, True
                break
    return ra, cb, C, obj
