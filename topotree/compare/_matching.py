"""``match_trees``: match the cluster trees of two point clouds that share no coordinates, as a
short sequence of phases (see the package docstring for the method).

prepare -> canonical order -> cost model -> leaf assignment (multistart geometric refinement) ->
internal pairs -> confidence and ambiguity -> edit cost.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._assignment import partial_assignment
from .._typing import ArrayLike
from .._validation import check_fraction, check_int
from ..tree import ClusterTree
from ._confidence import confidence, swap_margins
from ._costs import DescriptorCost, JaccardCost, distance_profiles
from ._curves import nesting, own_curve
from ._descriptors import tree_descriptors
from ._hierarchy import derive_pairs, edit_cost
from ._inputs import check_correspondence, prepare
from ._params import (
    ALT_TOL,
    AMBIGUITY_TOL,
    ANCHOR_MAX_LEAVES,
    FEW_LEAVES,
    GEOMETRY_WEIGHT,
    IMPROVE_TOL,
    MAX_REFINE,
    N_LEVELS,
    N_STARTS_FEW,
    N_STARTS_MANY,
    N_STARTS_SOME,
    SOME_LEAVES,
)
from ._refine import MatchContext, refine, two_opt
from ._result import TreeMatching, order_key, swapped
from ._starts import anchored_starts, fgw_start, fgw_start_params
from ._supervised import overlap

__all__ = ["match_trees", "match_checked"]


class _CostModel(NamedTuple):
    """The trees' descriptors, leaves, node cost, deletion costs of every node, and the leaf costs."""

    Da: object
    Db: object
    leaves_a: np.ndarray
    leaves_b: np.ndarray
    node_cost: object
    del_a: np.ndarray
    del_b: np.ndarray
    C0: np.ndarray
    use_geo: bool


class _LeafAssignment(NamedTuple):
    """The leaf pairs (rows ra of A's leaves, columns cb of B's), the final leaf costs C, the
    objective, and every local optimum reached from the starts (pairs -> objective)."""

    ra: np.ndarray
    cb: np.ndarray
    C: np.ndarray
    total: float
    optima: dict


def match_trees(tree_a: ClusterTree, tree_b: ClusterTree, X_a: ArrayLike | None = None, X_b: ArrayLike | None = None,
                *, correspondence: ArrayLike | None = None, simplify: bool = True,
                geometry_weight: float = GEOMETRY_WEIGHT, ambiguity_tol: float = AMBIGUITY_TOL,
                n_levels: int = N_LEVELS, max_refine: int = MAX_REFINE, n_starts: int | None = None) -> TreeMatching:
    """Match the nodes of two cluster trees using only basis-free quantities.

    Parameters
    ----------
    tree_a, tree_b : ClusterTree
    X_a, X_b : (n_a, d_a), (n_b, d_b) arrays, optional
        The point clouds the trees were built on (the dimensions may differ). When both are given,
        similarity-invariant geometry (Procrustes residual of matched centroids, relative spreads,
        normalised covariance spectra) refines the matching; coordinates are never compared
        directly.
    correspondence : (n_a,) int array (index of each A point in B, -1 for none) or (m, 2) pairs, optional
        Paired data: match by the Jaccard overlap of the nodes' members instead.
    simplify : bool
        Simplify raw (unsimplified) trees with their default thresholds first (default). The ids of
        the result refer to ``result.tree_a`` / ``result.tree_b``. Raw trees of many points have
        thousands of spurious leaves; the leaf assignment is quadratic in the number of leaves.
    geometry_weight : float
        Weight of the geometric terms (Procrustes residual and distance profiles, in units of the
        standardised centroid cloud) against the mass-curve distances (in units of mass).
    ambiguity_tol : float
        Exchanges of pairs that cost less than this (in mass units) are reported as ambiguous;
        also the scale of the confidence.
    n_levels : int
        Mass-above levels of the growth and area curves.
    max_refine : int
        At most this many Procrustes re-assignment rounds.
    n_starts : int or None
        Fused Gromov-Wasserstein starts of the geometric refinement (with point clouds): two from
        the independent coupling, the rest from random couplings (fixed seed: deterministic).
        ``None``: 24 when both trees have at most 32 leaves, 8 up to 64, else 0 (each start
        costs about 0.3 s at 200 leaves); the descriptor-only start is always tried. Needs POT (the ``pot``
        extra); without it only the descriptor start is used.

    Returns
    -------
    TreeMatching

    References
    ----------
    Zhang, K. (1996). A constrained edit distance between unordered labeled trees. Algorithmica 15
    (the edit cost of a mapping; here the mapping is found by leaf assignment, not by the DP).
    Pont, M., Vidal, J., Delon, J. and Tierny, J. (2022). Wasserstein distances, geodesics and
    barycenters of merge trees. IEEE TVCG 28(1).
    Kuhn, H. W. (1955). The Hungarian method for the assignment problem. Naval Res. Logist. Q. 2.
    Schonemann, P. H. (1966). A generalized solution of the orthogonal Procrustes problem.
    Psychometrika 31.
    Memoli, F. (2011). Gromov-Wasserstein distances and the metric approach to object matching.
    Found. Comput. Math. 11 (local distributions of distances).
    Vayer, T., Chapel, L., Flamary, R., Tavenard, R. and Courty, N. (2019). Optimal transport for
    structured data with application on graphs. ICML (fused Gromov-Wasserstein).

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> from topotree.datasets import hierarchical_mixture
    >>> X = hierarchical_mixture(2000, dim=3, n_leaves=4, seed=0).X
    >>> Q = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    >>> m = tt.match_trees(tt.build_tree(X), tt.build_tree(2 * X @ Q + 5))
    >>> m.cost < 1e-9, len(m.unmatched_a)
    (True, 0)
    """
    tree_a, X_a = prepare(tree_a, X_a, "tree_a", "X_a", simplify)
    tree_b, X_b = prepare(tree_b, X_b, "tree_b", "X_b", simplify)
    geometry_weight = check_fraction(geometry_weight, "geometry_weight", allow_none=False)
    ambiguity_tol = check_fraction(ambiguity_tol, "ambiguity_tol", allow_none=False)
    if ambiguity_tol == 0:
        raise ValueError("ambiguity_tol must be > 0")
    n_levels = check_int(n_levels, "n_levels", low=2)
    max_refine = check_int(max_refine, "max_refine", low=0)
    if n_starts is not None:
        n_starts = check_int(n_starts, "n_starts", low=0)
    if correspondence is not None:
        correspondence = check_correspondence(correspondence, tree_a.n_points, tree_b.n_points)
    return _match(tree_a, tree_b, X_a, X_b, correspondence, geometry_weight, ambiguity_tol, n_levels, max_refine,
                  n_starts)


def match_checked(tree_a, tree_b, X_a=None, X_b=None):
    """:func:`match_trees` with its defaults on simplified trees and clouds already checked (for
    callers that validated them at their own boundary, as ``align`` does)."""
    return _match(tree_a, tree_b, X_a, X_b, None, GEOMETRY_WEIGHT, AMBIGUITY_TOL, N_LEVELS, MAX_REFINE, None)


def _match(tree_a, tree_b, X_a, X_b, corr, geometry_weight, ambiguity_tol, n_levels, max_refine, n_starts):
    """The phases on checked arguments (``corr``: the (ia, ib) point pairs or None)."""
    if corr is None and order_key(tree_b, X_b) < order_key(tree_a, X_a):
        # solve in a canonical order, so that swapping a and b swaps the result exactly
        return swapped(_match(tree_b, tree_a, X_b, X_a, None, geometry_weight, ambiguity_tol, n_levels,
                              max_refine, n_starts))
    if n_starts is None:
        n_lv = max(len(tree_a.leaves), len(tree_b.leaves))
        n_starts = N_STARTS_FEW if n_lv <= FEW_LEAVES else N_STARTS_SOME if n_lv <= SOME_LEAVES else N_STARTS_MANY
    cm = _cost_model(tree_a, tree_b, X_a, X_b, corr, geometry_weight, n_levels)
    da, db = cm.del_a[cm.leaves_a], cm.del_b[cm.leaves_b]
    la = _assign_leaves(tree_a, tree_b, cm, da, db, geometry_weight, max_refine, n_starts)
    derived = derive_pairs(tree_a, tree_b, cm.leaves_a, cm.leaves_b, la.ra, la.cb, cm.node_cost)
    pairs = [(int(u), int(v)) for u, v, _ in derived]
    conf, ambiguous = _pair_confidence(la.C, da, db, la.ra, la.cb, derived, ambiguity_tol)
    _other_optima(tree_a, tree_b, cm, la, pairs, conf, ambiguous)
    ma = {u for u, _ in pairs}
    mb = {v for _, v in pairs}
    unmatched_a = [i for i in range(tree_a.n_nodes) if i not in ma and not (tree_a.virtual_root and i == 0)]
    unmatched_b = [j for j in range(tree_b.n_nodes) if j not in mb and not (tree_b.virtual_root and j == 0)]
    cost = edit_cost(cm.Da, cm.Db, pairs, unmatched_a, unmatched_b)
    return TreeMatching(pairs=pairs, cost=cost, unmatched_a=unmatched_a, unmatched_b=unmatched_b,
                        confidence=conf, ambiguous=ambiguous,
                        tree_a=tree_a, tree_b=tree_b, leaf_cost=float(la.total))


def _cost_model(tree_a, tree_b, X_a, X_b, corr, geometry_weight, n_levels):
    """Descriptors, the node cost (Jaccard overlap with a correspondence, else descriptor
    distances in mass units, with similarity-invariant geometry when both clouds are given), the
    deletion costs, and the leaf-vs-leaf costs (with clouds, plus the distance profiles)."""
    use_geo = X_a is not None and X_b is not None and corr is None
    Da = tree_descriptors(tree_a, X_a if use_geo else None, n_levels)
    Db = tree_descriptors(tree_b, X_b if use_geo else None, n_levels)
    Na, Nb = nesting(tree_a, Da, n_levels), nesting(tree_b, Db, n_levels)
    leaves_a, leaves_b = np.asarray(tree_a.leaves), np.asarray(tree_b.leaves)
    Ha, Hb = own_curve(tree_a, Da), own_curve(tree_b, Db)
    Ba, Bb = np.asarray(tree_a.basin_mass), np.asarray(tree_b.basin_mass)
    descriptor = DescriptorCost(Ha, Hb, Ba, Bb, Na, Nb, Da, Db, geometry_weight if use_geo else None)
    del_a, del_b = descriptor.deletions(tree_a, tree_b)
    node_cost = descriptor
    if corr is not None:
        node_cost = JaccardCost(overlap(tree_a, tree_b, *corr))
        del_a, del_b = node_cost.deletions(tree_a, tree_b)
    C0 = node_cost(leaves_a, leaves_b)
    if use_geo and min(len(leaves_a), len(leaves_b)) >= 2:
        # each leaf's distribution of distances to the other leaves (weighted by basin mass,
        # divided by the mean distance): W1 between them, a lower bound of Gromov-Wasserstein
        C0 = C0 + geometry_weight * distance_profiles(Da.centroid[leaves_a], Ba[leaves_a],
                                                      Db.centroid[leaves_b], Bb[leaves_b])
    return _CostModel(Da, Db, leaves_a, leaves_b, node_cost, del_a, del_b, C0, use_geo)


def _assign_leaves(tree_a, tree_b, cm, da, db, geometry_weight, max_refine, n_starts):
    """The leaf assignment on the descriptor costs; with clouds, from several starts (the
    descriptors alone; fused Gromov-Wasserstein on the leaf centroids' distance matrices;
    anchored on a large leaf), each refined by Procrustes re-assignment; the lowest objective
    wins and is polished by exchanges."""
    leaves_a, leaves_b, C0 = cm.leaves_a, cm.leaves_b, cm.C0
    ra, cb, total = partial_assignment(C0, da, db)
    if not (cm.use_geo and min(len(leaves_a), len(leaves_b)) >= 2 and geometry_weight > 0):
        return _LeafAssignment(ra, cb, C0, total, {})
    Pa, Pb = cm.Da.centroid[leaves_a], cm.Db.centroid[leaves_b]
    Ba, Bb = np.asarray(tree_a.basin_mass), np.asarray(tree_b.basin_mass)
    starts = [(ra, cb)]
    rng = np.random.default_rng(0)
    for alpha, G0 in fgw_start_params(n_starts, rng, len(leaves_a), len(leaves_b)):
        start = fgw_start(C0, Pa, Pb, Ba[leaves_a], Bb[leaves_b], alpha, G0)
        if start is not None:
            starts.append(start)
    if max(len(leaves_a), len(leaves_b)) <= ANCHOR_MAX_LEAVES:
        starts += anchored_starts(C0, da, db, Pa, Pb, Ba[leaves_a], Bb[leaves_b], geometry_weight)
    ctx = MatchContext(tree_a, tree_b, leaves_a, leaves_b, C0, da, db, cm.node_cost, cm.Da, cm.Db, geometry_weight)
    best = None
    optima = {}
    for ra0, cb0 in starts:
        res = refine(ctx, ra0, cb0, max_refine)
        optima[tuple(zip(res[0].tolist(), res[1].tolist()))] = res[3]
        if best is None or res[3] < best[3] - IMPROVE_TOL:
            best = res
    ra, cb, C, total = best
    if np.isfinite(total):
        ra, cb, C, total = two_opt(ctx, ra, cb, C, total)
        ra, cb, C, total = refine(ctx, ra, cb, max_refine)
    return _LeafAssignment(ra, cb, C, total, optima)


def _pair_confidence(C, da, db, ra, cb, derived, ambiguity_tol):
    """Confidence of every derived pair (the least confident exchange across its cluster's
    boundary) and the ambiguous groups of pairs (cheap exchanges of leaf partners)."""
    conf_leaf, groups = confidence(C, da, db, ra, cb, ambiguity_tol)
    swap, alt = swap_margins(C, da, db, ra, cb)
    conf = []
    for _, _, s in derived:
        inside = np.fromiter(s, dtype=np.int64)
        outside = np.setdiff1d(np.arange(ra.shape[0]), inside)
        m = alt[inside].min() if len(s) == 1 else np.inf
        if outside.size:
            m = min(m, swap[np.ix_(inside, outside)].min())
        conf.append(1.0 - np.exp(-m / ambiguity_tol) if np.isfinite(m) else 1.0)
    pair_index = {s: k for k, (_, _, s) in enumerate(derived)}
    ambiguous = []
    for g in groups:
        idx = tuple(sorted(pair_index[frozenset([p])] for p in g if frozenset([p]) in pair_index))
        if len(idx) >= 2:
            ambiguous.append(idx)
    return np.asarray(conf, dtype=np.float64), ambiguous


def _other_optima(tree_a, tree_b, cm, la, pairs, conf, ambiguous):
    """Other local optima of the geometric objective: the pairs they do not share are only as
    certain as the objective's relative gap (several nearly equally good matchings). Lowers
    ``conf`` and extends ``ambiguous`` in place."""
    key = tuple(zip(la.ra.tolist(), la.cb.tolist()))
    total = la.total
    for alt_key, alt_obj in la.optima.items():
        if alt_key == key or not np.isfinite(alt_obj) or not np.isfinite(total):
            continue
        gap = max(0.0, alt_obj - total) / max(abs(total), 1e-12)
        alt_ra = np.array([i for i, _ in alt_key], dtype=np.int64)
        alt_cb = np.array([j for _, j in alt_key], dtype=np.int64)
        alt_pairs = {(u, v) for u, v, _ in derive_pairs(tree_a, tree_b, cm.leaves_a, cm.leaves_b, alt_ra, alt_cb,
                                                        cm.node_cost)}
        differ = [k for k, p in enumerate(pairs) if p not in alt_pairs]
        if not differ:
            continue
        conf[differ] = np.minimum(conf[differ], 1.0 - np.exp(-gap / ALT_TOL))
        if gap < ALT_TOL and len(differ) >= 2 and tuple(differ) not in ambiguous:
            ambiguous.append(tuple(differ))
