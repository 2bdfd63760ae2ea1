"""Match the cluster trees of two point clouds that share no coordinates: ``match_trees``.

Only basis-free quantities are used (see :mod:`topotree._descriptors`): masses, levels expressed
as the mass above them, the nesting of the clusters, and, when the point clouds are given,
geometry that no similarity transform changes (distance ratios through a Procrustes residual,
relative spreads, normalised covariance spectra).

The matching is made in three steps:

1. **Leaves** are paired by a minimum-cost assignment (Hungarian, with a deletion column for
   every leaf) on: the leaf's *growth curve* (the mass of the component holding its peak at 64
   mass-above levels, held flat below the level where the leaf merges, since merge levels move
   much more under noise and warps than the clusters do), its basin mass, and its *nesting curve*
   (for every mass t, the mass of the smallest cluster of the tree that holds the leaf and at
   least t of the points). None depends on the order of near-simultaneous merges, which is
   what defeats recursive matching of the binary shape.
2. With point clouds, geometry that similarity transforms leave alone is added: relative spreads,
   normalised covariance spectra, and each leaf's distribution of distances to the other leaves
   (relative to their mean; Memoli's local distribution of distances, a lower bound of
   Gromov-Wasserstein). Then, from several starts (the assignment above, fused
   Gromov-Wasserstein couplings of the leaf centroids, and assignments anchored on one of A's
   largest leaves paired in turn with each leaf of B), an orthogonal Procrustes fit
   (reflections allowed) of the standardised centroids of all matched nodes adds its residual to
   the leaf costs and the assignment is solved again, until stable; exchanges of two partners
   are then tried while they lower the objective. The lowest objective wins.
3. **Internal nodes** are paired through the leaves: a node of A and a node of B are paired when
   the matched leaves below them are the same pairs (clusters that agree); when several nodes
   on a chain qualify, the closest pair by descriptors. Pairs of laminar families that agree
   preserve the hierarchy: ancestors are matched to ancestors or left unmatched, never crossed.
   A leaf can thus be paired with a subtree of the other tree.

The cost of a matching is the edit cost of the mapping it defines, with every node described by
its *area* curve (its component's mass at every level it holds): matched nodes pay the L1
distance between their curves, unmatched nodes their whole area. Each tree's total area is 1/2,
so the cost divided by the sum of the areas lies in [0, 1], 0 for identical trees.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._pot import import_pot
from ._descriptors import TreeDescriptors, tree_descriptors
from ._validation import check_fraction, check_int, check_points
from .tree import ClusterTree

__all__ = ["TreeMatching", "match_trees", "matching_accuracy"]

_BIG = 1e6
_W_NEST = 0.5
_ANCHOR_MAX_LEAVES = 32
_ALT_TOL = 0.05  # relative objective gap under which another local optimum is 'as good'


@dataclass(frozen=True, eq=False)
class TreeMatching:
    """The result of :func:`match_trees` (immutable).

    Attributes
    ----------
    pairs : list of (node_a, node_b) ids of ``tree_a`` and ``tree_b`` (leaves and internal nodes),
        in preorder of ``tree_a``. Ancestors of matched nodes are matched to each other or left
        unmatched, never crossed.
    cost : float in [0, 1]; the normalised edit cost of the mapping (0 for identical trees).
    unmatched_a, unmatched_b : node ids left unmatched.
    confidence : (len(pairs),) in [0, 1]. 1 - exp(-margin / ambiguity_tol), the margin being the
        least cost increase of exchanging the pair's partner with another pair's (or with an
        unmatched leaf; for an internal pair, exchanges across its cluster's boundary); with point
        clouds, also at most 1 - exp(-gap / 0.05) when another local optimum of the geometric
        objective, worse by the relative ``gap``, does not contain the pair.
    ambiguous : list of tuples of pair indices (into ``pairs``): groups of pairs that can be
        exchanged for less than ``ambiguity_tol`` (e.g. sibling leaves of nearly equal mass), or
        that another local optimum within 5% of the objective pairs differently.
    tree_a, tree_b : the trees the ids refer to (simplified ones if ``match_trees`` simplified).
    leaf_cost : float; the final assignment cost of the leaves (descriptor + geometry terms).
    """

    pairs: list
    cost: float
    unmatched_a: list
    unmatched_b: list
    confidence: np.ndarray
    ambiguous: list
    tree_a: ClusterTree
    tree_b: ClusterTree
    leaf_cost: float

    def as_dict(self) -> dict:
        """Pairs as a dict node_a -> node_b."""
        return dict(self.pairs)

    @property
    def leaf_pairs(self) -> list:
        """The pairs in which at least one node is a leaf."""
        la, lb = self.tree_a.is_leaf, self.tree_b.is_leaf
        return [(a, b) for a, b in self.pairs if la[a] or lb[b]]

    def __repr__(self):
        return (f"TreeMatching(n_pairs={len(self.pairs)}, cost={self.cost:.4g}, "
                f"unmatched_a={len(self.unmatched_a)}, unmatched_b={len(self.unmatched_b)}, "
                f"ambiguous={len(self.ambiguous)})")


# ---------------------------------------------------------------------------------- validation
def _check_tree(tree, name):
    if not isinstance(tree, ClusterTree):
        raise TypeError(f"{name} must be a topotree ClusterTree, got {type(tree).__name__}")
    return tree


def _prepare(tree, X, name, xname, simplify):
    tree = _check_tree(tree, name)
    if X is not None:
        X = check_points(X, xname)
        if X.shape[0] != tree.n_points:
            raise ValueError(f"{xname} has {X.shape[0]} points but {name} is built on {tree.n_points}")
    if simplify and tree.simplification is None:
        tree = tree.simplify()
    return tree, X


def _check_correspondence(correspondence, n_a, n_b):
    """Return (ia, ib): index arrays of the corresponding point pairs."""
    c = np.asarray(correspondence)
    if c.dtype.kind not in "iu":
        raise TypeError(f"correspondence must hold integer point indices, got dtype {c.dtype}")
    if c.ndim == 1:
        if c.shape[0] != n_a:
            raise ValueError(f"correspondence has length {c.shape[0]} but tree_a has {n_a} points "
                             "(give an (n_a,) map, -1 for no partner, or (m, 2) pairs)")
        ia = np.flatnonzero(c >= 0)
        ib = c[ia].astype(np.int64)
    elif c.ndim == 2 and c.shape[1] == 2:
        ia, ib = c[:, 0].astype(np.int64), c[:, 1].astype(np.int64)
        if ia.size and (ia.min() < 0 or ia.max() >= n_a):
            raise ValueError(f"correspondence[:, 0] has indices outside [0, {n_a})")
    else:
        raise ValueError(f"correspondence must have shape (n_a,) or (m, 2), got {c.shape}")
    if ib.size and (ib.max() >= n_b or ib.min() < 0):
        raise ValueError(f"correspondence maps to indices outside [0, {n_b})")
    if ia.size == 0:
        raise ValueError("correspondence holds no point pairs")
    return ia, ib


# ---------------------------------------------------------------------------------- descriptors
def _nesting(tree: ClusterTree, D: TreeDescriptors, T: int) -> np.ndarray:
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


def _own_curve(tree, D):
    """(M, G) growth curve of each node down to its start, then flat (its mass as it merges).

    The curve above the merge describes the cluster itself; below it, it would depend on where
    the merges happen, which noise and warps of the density move much more than the clusters.
    """
    keep = D.q[None, :] <= D.start_q[:, None]
    last = np.maximum(keep.sum(axis=1) - 1, 0)
    flat = D.growth[np.arange(D.growth.shape[0]), last]
    return np.where(keep, D.growth, flat[:, None])


def _chain(parent, i):
    out = []
    while i >= 0:
        out.append(int(i))
        i = parent[i]
    return out


def _overlap(tree_a, tree_b, ia, ib):
    """(M_a, M_b) intersections, sizes for the Jaccard of node members through a correspondence."""
    Ma, Mb = tree_a.n_nodes, tree_b.n_nodes
    oa = np.asarray(tree_a.owner)[ia]
    ob = np.asarray(tree_b.owner)[ib]
    inter = np.zeros((Ma, Mb))
    np.add.at(inter, (oa, ob), 1.0)
    from ._descriptors import _subtree_rows

    _subtree_rows(np.asarray(tree_a.parent), inter)
    interT = np.ascontiguousarray(inter.T)
    _subtree_rows(np.asarray(tree_b.parent), interT)
    inter = interT.T
    # sizes: the members of a node that take part in the correspondence
    size_a = np.bincount(oa, minlength=Ma).astype(np.float64)[:, None]
    _subtree_rows(np.asarray(tree_a.parent), size_a)
    size_b = np.bincount(ob, minlength=Mb).astype(np.float64)[:, None]
    _subtree_rows(np.asarray(tree_b.parent), size_b)
    size_a, size_b = size_a[:, 0], size_b[:, 0]
    union = size_a[:, None] + size_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)


# ---------------------------------------------------------------------------------- assignment
def _assign(C, del_a, del_b):
    """Min-cost partial assignment: rows and columns may be deleted at del_a / del_b."""
    La, Lb = C.shape
    big = np.full((La + Lb, La + Lb), _BIG)
    big[:La, :Lb] = C
    big[np.arange(La), Lb + np.arange(La)] = del_a
    big[La + np.arange(Lb), np.arange(Lb)] = del_b
    big[La:, Lb:] = 0.0
    r, c = linear_sum_assignment(big)
    keep = (r < La) & (c < Lb)
    return r[keep], c[keep], float(big[r, c].sum())


def _swap_margins(C, del_a, del_b, ra, cb):
    """(P, P) cost increases of exchanging partners of pairs p and q, and (P,) best alternatives."""
    P = ra.shape[0]
    own = C[ra, cb]
    swap = C[ra[:, None], cb[None, :]] + C[ra[None, :], cb[:, None]] - own[:, None] - own[None, :]
    np.fill_diagonal(swap, np.inf)
    alt = np.full(P, np.inf)
    free_b = np.setdiff1d(np.arange(C.shape[1]), cb)
    free_a = np.setdiff1d(np.arange(C.shape[0]), ra)
    if free_b.size:  # give a's partner up for an unmatched leaf of B
        alt = np.minimum(alt, (C[ra[:, None], free_b[None, :]] + del_b[cb][:, None]
                               - own[:, None] - del_b[free_b][None, :]).min(axis=1))
    if free_a.size:
        alt = np.minimum(alt, (C[free_a[None, :], cb[:, None]] + del_a[ra][:, None]
                               - own[:, None] - del_a[free_a][None, :]).min(axis=1))
    # dropping the pair altogether
    alt = np.minimum(alt, del_a[ra] + del_b[cb] - own)
    return np.maximum(swap, 0.0), np.maximum(alt, 0.0)


def _procrustes_residual(Ca, Cb, w, Qa, Qb):
    """Residuals ||T(Qa_i) - Qb_j|| after a weighted orthogonal Procrustes fit of Ca -> Cb.

    Both anchor sets are centred and scaled to unit weighted RMS (a similarity fit that is
    symmetric in A and B); reflections are allowed (plain SVD).
    """
    w = w / w.sum()
    ma, mb = w @ Ca, w @ Cb
    sa = np.sqrt(w @ np.sum((Ca - ma) ** 2, axis=1)) or 1.0
    sb = np.sqrt(w @ np.sum((Cb - mb) ** 2, axis=1)) or 1.0
    A = (Ca - ma) / sa
    B = (Cb - mb) / sb
    d = max(A.shape[1], B.shape[1])
    A = np.pad(A, ((0, 0), (0, d - A.shape[1])))
    B = np.pad(B, ((0, 0), (0, d - B.shape[1])))
    U, _, Vt = np.linalg.svd((A * w[:, None]).T @ B)
    R = U @ Vt
    QA = np.pad((Qa - ma) / sa, ((0, 0), (0, d - Qa.shape[1]))) @ R
    QB = np.pad((Qb - mb) / sb, ((0, 0), (0, d - Qb.shape[1])))
    return np.sqrt(np.maximum(np.sum(QA**2, 1)[:, None] + np.sum(QB**2, 1)[None, :] - 2 * QA @ QB.T, 0.0))


# ---------------------------------------------------------------------------------- internal nodes
def _derive_pairs(tree_a, tree_b, leaves_a, leaves_b, ra, cb, node_cost):
    """All node pairs whose matched leaves agree, one pair per cluster (best node cost)."""
    pa, pb = np.asarray(tree_a.parent), np.asarray(tree_b.parent)

    def clusters(parent, leaf_ids, M):
        sets = [set() for _ in range(M)]
        for p, leaf in enumerate(leaf_ids):
            for a in _chain(parent, leaf):
                sets[a].add(p)
        return [frozenset(s) for s in sets]

    sa = clusters(pa, [leaves_a[i] for i in ra], tree_a.n_nodes)
    sb = clusters(pb, [leaves_b[j] for j in cb], tree_b.n_nodes)
    cand_a, cand_b = {}, {}
    for i, s in enumerate(sa):
        if s:
            cand_a.setdefault(s, []).append(i)
    for j, s in enumerate(sb):
        if s:
            cand_b.setdefault(s, []).append(j)
    pairs = []
    for s, nodes_a in cand_a.items():
        nodes_b = cand_b.get(s)
        if not nodes_b:
            continue
        sub = node_cost(np.asarray(nodes_a), np.asarray(nodes_b))
        k = int(np.argmin(sub))  # first minimum: deterministic
        pairs.append((nodes_a[k // len(nodes_b)], nodes_b[k % len(nodes_b)], s))
    pairs.sort()
    return pairs


# ---------------------------------------------------------------------------------- public
def match_trees(tree_a, tree_b, X_a=None, X_b=None, *, correspondence=None, simplify=True,
                geometry_weight=0.5, ambiguity_tol=0.005, n_levels=64, max_refine=10, n_starts=None) -> TreeMatching:
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
        ``None``: 8 when both trees have at most 64 leaves, else 0 (each start costs about
        0.3 s at 200 leaves); the descriptor-only start is always tried. Needs POT (the ``pot``
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
    tree_a, X_a = _prepare(tree_a, X_a, "tree_a", "X_a", simplify)
    tree_b, X_b = _prepare(tree_b, X_b, "tree_b", "X_b", simplify)
    if correspondence is None and _order_key(tree_b, X_b) < _order_key(tree_a, X_a):
        # solve in a canonical order, so that swapping a and b swaps the result exactly
        m = match_trees(tree_b, tree_a, X_b, X_a, simplify=False, geometry_weight=geometry_weight,
                        ambiguity_tol=ambiguity_tol, n_levels=n_levels, max_refine=max_refine,
                        n_starts=n_starts)
        return _swapped(m)
    geometry_weight = check_fraction(geometry_weight, "geometry_weight", allow_none=False)
    ambiguity_tol = check_fraction(ambiguity_tol, "ambiguity_tol", allow_none=False)
    if ambiguity_tol == 0:
        raise ValueError("ambiguity_tol must be > 0")
    n_levels = check_int(n_levels, "n_levels", low=2)
    max_refine = check_int(max_refine, "max_refine", low=0)
    if n_starts is None:
        n_lv = max(len(tree_a.leaves), len(tree_b.leaves))
        n_starts = 24 if n_lv <= 32 else 8 if n_lv <= 64 else 0
    n_starts = check_int(n_starts, "n_starts", low=0)
    use_geo = X_a is not None and X_b is not None and correspondence is None
    Da = tree_descriptors(tree_a, X_a if use_geo else None, n_levels)
    Db = tree_descriptors(tree_b, X_b if use_geo else None, n_levels)
    Na, Nb = _nesting(tree_a, Da, n_levels), _nesting(tree_b, Db, n_levels)
    leaves_a, leaves_b = np.asarray(tree_a.leaves), np.asarray(tree_b.leaves)

    # node-vs-node descriptor distances (mass units), computed only for the pairs needed
    Ha, Hb = _own_curve(tree_a, Da), _own_curve(tree_b, Db)
    Ba, Bb = np.asarray(tree_a.basin_mass), np.asarray(tree_b.basin_mass)
    del_a = Ha.mean(axis=1) + Ba + _W_NEST * Na.mean(axis=1)  # distance to the empty node
    del_b = Hb.mean(axis=1) + Bb + _W_NEST * Nb.mean(axis=1)
    if correspondence is not None:
        ia, ib = _check_correspondence(correspondence, tree_a.n_points, tree_b.n_points)
        jac = _overlap(tree_a, tree_b, ia, ib)
        del_a = np.full(tree_a.n_nodes, 0.45)  # pairs overlapping by less than 10% are not made
        del_b = np.full(tree_b.n_nodes, 0.45)

        def node_cost(u, v):
            return 1.0 - jac[np.ix_(u, v)]
    else:
        geo = geometry_weight if use_geo else None

        def node_cost(u, v):
            """Descriptor distances between nodes u of A and v of B (mass units), in row blocks."""
            out = np.empty((u.shape[0], v.shape[0]))
            step = max(1, 2_000_000 // max(1, v.shape[0] * Ha.shape[1]))
            for s0 in range(0, u.shape[0], step):
                r = u[s0:s0 + step]
                c = (np.abs(Ha[r][:, None, :] - Hb[v][None, :, :]).mean(axis=2)
                     + np.abs(Ba[r][:, None] - Bb[v][None, :])
                     + _W_NEST * np.abs(Na[r][:, None, :] - Nb[v][None, :, :]).mean(axis=2))
                if geo is not None:
                    Sa, Sb = _pad(Da.spectrum[r], Db.spectrum.shape[1]), _pad(Db.spectrum[v], Da.spectrum.shape[1])
                    shape = 0.5 * np.abs(Sa[:, None, :] - Sb[None, :, :]).sum(axis=2)
                    spread = np.abs(np.log(np.maximum(Da.spread[r], 1e-12)[:, None]
                                           / np.maximum(Db.spread[v], 1e-12)[None, :]))
                    c = c + geo * (0.2 * shape + 0.2 * spread)
                out[s0:s0 + step] = c
            return out
    C0 = node_cost(leaves_a, leaves_b)
    if use_geo and min(len(leaves_a), len(leaves_b)) >= 2:
        # each leaf's distribution of distances to the other leaves (weighted by basin mass,
        # divided by the mean distance): W1 between them, a lower bound of Gromov-Wasserstein
        C0 = C0 + geometry_weight * _distance_profiles(Da.centroid[leaves_a], Ba[leaves_a],
                                                       Db.centroid[leaves_b],
                                                       Bb[leaves_b])
    da, db = del_a[leaves_a], del_b[leaves_b]
    ra, cb, total = _assign(C0, da, db)
    C = C0
    optima = {}
    if use_geo and min(len(leaves_a), len(leaves_b)) >= 2 and geometry_weight > 0:
        # several starts (the descriptors alone; fused Gromov-Wasserstein on the leaf centroids'
        # distance matrices), each refined by Procrustes re-assignment; the lowest total wins
        starts = [(ra, cb)]
        rng = np.random.default_rng(0)
        for alpha, G0 in _FGW_STARTS(n_starts, rng, len(leaves_a), len(leaves_b)):
            start = _fgw_start(C0, Da.centroid[leaves_a], Db.centroid[leaves_b], Ba[leaves_a], Bb[leaves_b],
                               alpha, G0)
            if start is not None:
                starts.append(start)
        if max(len(leaves_a), len(leaves_b)) <= _ANCHOR_MAX_LEAVES:
            starts += _anchored_starts(C0, da, db, Da.centroid[leaves_a], Db.centroid[leaves_b],
                                       Ba[leaves_a], Bb[leaves_b], geometry_weight)
        ctx = (tree_a, tree_b, leaves_a, leaves_b, C0, da, db, node_cost, Da, Db, geometry_weight)
        best = None
        optima = {}
        for ra0, cb0 in starts:
            res = _refine(ctx, ra0, cb0, max_refine)
            optima[tuple(zip(res[0].tolist(), res[1].tolist()))] = res[3]
            if best is None or res[3] < best[3] - 1e-12:
                best = res
        ra, cb, C, total = best
        if np.isfinite(total):
            ra, cb, C, total = _two_opt(ctx, ra, cb, C, total)
            ra, cb, C, total = _refine(ctx, ra, cb, max_refine)
    conf_leaf, groups = _confidence(C, da, db, ra, cb, ambiguity_tol)
    derived = _derive_pairs(tree_a, tree_b, leaves_a, leaves_b, ra, cb, node_cost)
    pairs = [(int(u), int(v)) for u, v, _ in derived]
    # confidence of a derived pair: the least confident exchange across its cluster boundary
    swap, alt = _swap_margins(C, da, db, ra, cb)
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
    # other local optima of the geometric objective: the pairs they do not share are only as
    # certain as the objective's relative gap (several nearly equally good matchings)
    conf = np.asarray(conf, dtype=np.float64)
    key = tuple(zip(ra.tolist(), cb.tolist()))
    for alt_key, alt_obj in optima.items():
        if alt_key == key or not np.isfinite(alt_obj) or not np.isfinite(total):
            continue
        gap = max(0.0, alt_obj - total) / max(abs(total), 1e-12)
        alt_ra = np.array([i for i, _ in alt_key], dtype=np.int64)
        alt_cb = np.array([j for _, j in alt_key], dtype=np.int64)
        alt_pairs = {(u, v) for u, v, _ in _derive_pairs(tree_a, tree_b, leaves_a, leaves_b, alt_ra, alt_cb,
                                                         node_cost)}
        differ = [k for k, p in enumerate(pairs) if p not in alt_pairs]
        if not differ:
            continue
        conf[differ] = np.minimum(conf[differ], 1.0 - np.exp(-gap / _ALT_TOL))
        if gap < _ALT_TOL and len(differ) >= 2 and tuple(differ) not in ambiguous:
            ambiguous.append(tuple(differ))
    ma = {u for u, _ in pairs}
    mb = {v for _, v in pairs}
    unmatched_a = [i for i in range(tree_a.n_nodes) if i not in ma and not (tree_a.virtual_root and i == 0)]
    unmatched_b = [j for j in range(tree_b.n_nodes) if j not in mb and not (tree_b.virtual_root and j == 0)]
    cost = _edit_cost(Da, Db, pairs, unmatched_a, unmatched_b)
    return TreeMatching(pairs=pairs, cost=cost, unmatched_a=unmatched_a, unmatched_b=unmatched_b,
                        confidence=conf, ambiguous=ambiguous,
                        tree_a=tree_a, tree_b=tree_b, leaf_cost=float(total))


def _geo_fit(ctx, ra, cb):
    """Procrustes fit of the centroids of the nodes that (ra, cb) pairs; the leaf costs and objective.

    The objective is the assignment's cost under descriptor + geometry_weight * residual, deleted
    leaves paying their deletion cost; the fit weighs each matched node by sqrt(mass_a * mass_b).
    """
    tree_a, tree_b, leaves_a, leaves_b, C0, da, db, node_cost, Da, Db, w_geo = ctx
    derived = _derive_pairs(tree_a, tree_b, leaves_a, leaves_b, ra, cb, node_cost)
    if len(derived) < 2:
        return C0, np.inf
    na = np.array([u for u, _, _ in derived])
    nb = np.array([v for _, v, _ in derived])
    w = np.sqrt(Da.mass[na] * Db.mass[nb]) + 1e-9
    resid = _procrustes_residual(Da.centroid[na], Db.centroid[nb], w, Da.centroid[leaves_a], Db.centroid[leaves_b])
    C = C0 + w_geo * resid
    obj = C[ra, cb].sum() + da.sum() - da[ra].sum() + db.sum() - db[cb].sum()
    return C, float(obj)


def _refine(ctx, ra, cb, max_refine):
    """Alternate a Procrustes fit and a re-assignment; the best (ra, cb, C, objective) seen."""
    seen = set()
    best = None
    for _ in range(max(1, max_refine)):
        C, obj = _geo_fit(ctx, ra, cb)
        if best is None or obj < best[3] - 1e-12:
            best = (ra, cb, C, obj)
        if not np.isfinite(obj):
            break
        ra, cb, _ = _assign(C, ctx[5], ctx[6])
        key = tuple(zip(ra.tolist(), cb.tolist()))
        if key in seen:
            break
        seen.add(key)
    return best


def _two_opt(ctx, ra, cb, C, obj, max_pairs=40):
    """Exchange partners of two pairs, or a partner for an unmatched leaf, while it lowers the objective."""
    P = ra.shape[0]
    if P > max_pairs:
        return ra, cb, C, obj
    Lb = ctx[3].shape[0]
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
            C2, obj2 = _geo_fit(ctx, ra, cb2)
            if obj2 < obj - 1e-9:
                cb, C, obj, improved = cb2, C2, obj2, True
                break
    return ra, cb, C, obj


def _distance_profiles(Pa, wa, Pb, wb, n_grid=64):
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

    grid = np.linspace(0.0, 4.0, n_grid)
    Fa, Fb = cdfs(Pa, wa, grid), cdfs(Pb, wb, grid)
    return np.abs(Fa[:, None, :] - Fb[None, :, :]).sum(axis=2) * (grid[1] - grid[0])


def _anchored_starts(C0, da, db, Pa, Pb, wa, wb, w_geo, n_anchors=2):
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
            C[i, :] = _BIG
            C[:, j] = _BIG
            C[i, j] = -_BIG
            r, c, _ = _assign(C, da, db)
            out.append((r, c))
    return out


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _FGW_STARTS(n_starts, rng, La, Lb):
    """(alpha, initial coupling or None) for the fused Gromov-Wasserstein starts."""
    out = []
    for k in range(n_starts):
        alpha = (0.5, 0.9)[k % 2]
        G0 = None if k < 2 else rng.random((La, Lb))
        out.append((alpha, G0))
    return out


def _fgw_start(C0, Pa, Pb, wa, wb, alpha, G0):
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
        for _ in range(2000):
            G0 = G0 * (p / G0.sum(axis=1))[:, None]
            G0 = G0 * (q / G0.sum(axis=0))[None, :]
            if np.abs(G0.sum(axis=1) - p).max() < 1e-12:
                break
        else:
            return None
    with _one_blas_thread():  # small matrices: threads only add contention
        T = ot.gromov.fused_gromov_wasserstein(M, Ka, Kb, p, q, loss_fun="square_loss", alpha=alpha, G0=G0)
    r, c = linear_sum_assignment(-T / (p[:, None] * q[None, :]))
    return r, c


def _order_key(tree, X):
    return (len(tree.leaves), tree.n_nodes, tree.n_points, np.asarray(tree.mass).tobytes(),
            np.asarray(tree.log_density).tobytes(), b"" if X is None else X.tobytes())


def _swapped(m: TreeMatching) -> TreeMatching:
    """The same matching seen from the other side."""
    order = sorted(range(len(m.pairs)), key=lambda k: m.pairs[k][1])
    new_index = {k: i for i, k in enumerate(order)}
    return TreeMatching(pairs=[(m.pairs[k][1], m.pairs[k][0]) for k in order], cost=m.cost,
                        unmatched_a=m.unmatched_b, unmatched_b=m.unmatched_a,
                        confidence=m.confidence[order] if len(order) else m.confidence,
                        ambiguous=[tuple(sorted(new_index[k] for k in g)) for g in m.ambiguous],
                        tree_a=m.tree_b, tree_b=m.tree_a, leaf_cost=m.leaf_cost)


def _pad(S, d):
    return np.pad(S, ((0, 0), (0, max(0, d - S.shape[1]))))


def _confidence(C, da, db, ra, cb, tol):
    """Per leaf pair confidence 1 - exp(-margin / tol) and the groups exchangeable below tol."""
    P = ra.shape[0]
    if P == 0:
        return np.zeros(0), []
    swap, alt = _swap_margins(C, da, db, ra, cb)
    margin = np.minimum(swap.min(axis=1) if P > 1 else np.inf, alt)
    conf = 1.0 - np.exp(-margin / tol)
    # groups: connected components of the "cheap exchange" graph
    adj = swap < tol
    label = -np.ones(P, dtype=np.int64)
    groups = []
    for p in range(P):
        if label[p] >= 0:
            continue
        stack, comp = [p], []
        label[p] = p
        while stack:
            x = stack.pop()
            comp.append(x)
            for y in np.flatnonzero(adj[x]):
                if label[y] < 0:
                    label[y] = p
                    stack.append(int(y))
        if len(comp) > 1:
            groups.append(tuple(sorted(comp)))
    return conf, groups


def _edit_cost(Da, Db, pairs, unmatched_a, unmatched_b):
    """Normalised edit cost: L1 between matched nodes' area curves, whole area for the rest."""
    G = Da.area.shape[1]
    total = Da.area.sum() / G + Db.area.sum() / G
    if total <= 0:
        return 0.0
    c = sum(np.abs(Da.area[u] - Db.area[v]).sum() for u, v in pairs) / G
    c += Da.area[unmatched_a].sum() / G + Db.area[unmatched_b].sum() / G
    return float(min(1.0, max(0.0, c / total)))


def matching_accuracy(matching: TreeMatching, correspondence, *, leaves_only=False) -> float:
    """Mean Jaccard overlap of the members of matched nodes, through a point correspondence.

    Scores an (unsupervised) matching against paired data: node ``u`` of A and ``v`` of B overlap
    by |members(u) mapped to B  intersected with  members(v)| / |union|.

    Parameters
    ----------
    matching : TreeMatching (its ``tree_a`` and ``tree_b`` are used).
    correspondence : (n_a,) int array (-1: no partner) or (m, 2) point pairs.
    leaves_only : bool, score only the pairs that involve a leaf.

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> from topotree.datasets import hierarchical_mixture
    >>> X = hierarchical_mixture(1500, dim=2, n_leaves=3, seed=0).X
    >>> perm = np.random.default_rng(0).permutation(len(X))
    >>> m = tt.match_trees(tt.build_tree(X), tt.build_tree(X[perm]))
    >>> round(tt.matching_accuracy(m, np.argsort(perm)), 6)
    1.0
    """
    if not isinstance(matching, TreeMatching):
        raise TypeError(f"matching must be a TreeMatching, got {type(matching).__name__}")
    ta, tb = matching.tree_a, matching.tree_b
    ia, ib = _check_correspondence(correspondence, ta.n_points, tb.n_points)
    pairs = matching.leaf_pairs if leaves_only else matching.pairs
    if not pairs:
        return 0.0
    jac = _overlap(ta, tb, ia, ib)
    return float(np.mean([jac[u, v] for u, v in pairs]))
