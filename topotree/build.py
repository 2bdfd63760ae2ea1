"""``build_tree``: the density cluster tree of a point cloud."""
from __future__ import annotations

import math
import os
from functools import partial
from typing import Literal

import numpy as np

from ._assemble import assemble
from ._merge import merge_tree_kernel, owners_from_basins
from ._renumber import relabel, scatter, scatter_relabel
from ._typing import ArrayLike, LogDensity
from ._validation import as_numpy, check_bool, check_choice, check_int, check_points, check_vector, scale_exponent
from .density import knn_log_density
from .disjoint_set import ds_find, ds_new, ds_union
from ._components import components
from .graph import _bridge_labelled, adjacency, earlier_adjacency, knn_approx, knn_local
from .tree import ClusterTree

__all__ = ["build_tree", "default_k"]


def _is_blockwise_input(X) -> bool:
    """Whether ``build_tree`` takes the blockwise (Dask) path: a Dask array, or a path (str or
    PathLike; it must name a .zarr or .npy store). Dask itself is not imported."""
    if isinstance(X, (str, os.PathLike)):
        return True
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


def default_k(n: int) -> int:
    """The default number of neighbours: about 1% of the points, clipped to [15, 50] (and < n)."""
    return int(max(1, min(n - 1, min(50, max(15, round(0.01 * n))))))


def build_tree(X: ArrayLike, log_density: LogDensity = None, *, k: int | None = None,
               backend: Literal["numba", "gudhi"] = "numba", connect: bool = True,
               neighbors: ArrayLike | None = None, progress: bool | None = None,
               knn: Literal["exact", "approx"] = "exact") -> ClusterTree:
    """Build the level-set tree of a density on a point cloud.

    The k-nearest-neighbour graph (i ~ j if either is among the other's k nearest) carries the
    log-density (estimated from the same neighbours, or given); the merge tree of its superlevel
    sets is computed by sorting the points by decreasing log-density and joining components with
    a union-find (elder rule for the persistence pairs).

    Parameters
    ----------
    X : (n, d) array of points; or a Dask array, or the path of a .zarr or .npy store (read
        blockwise): then the kNN graph (and a ``log_density`` callable) is computed block against
        block on Dask, with the active ``dask.distributed.Client`` or the local threaded scheduler,
        and reduced there to its maximum spanning forest under the density order, the merge of the
        forest on the client; the tree is the same exactly (:mod:`topotree.blockwise`; needs
        ``pip install topotree[dask]``).
    log_density : None, (n,) array, or callable
        ``None`` estimates it with the kNN estimator (:func:`topotree.density.knn_log_density`);
        an array gives its value at every point; a callable maps an (m, d) array to (m,) values
        (the exact log-density, e.g. of a flow autoencoder's latent prior). Values identical
        to the kNN estimate give the same tree as ``None``, with ``density="knn"`` (so the same
        default simplification).
    k : int, optional
        Neighbours for the graph and the density. Default :func:`default_k` (1% of n in [15, 50]).
    backend : {"numba", "gudhi"}
        Union-find in numba (default, the faster by ``benchmarks/bench_tree.py``) or gudhi's ToMATo
        hierarchy on the same graph; both give identical trees.
    connect : bool
        Join the graph's connected components by their shortest inter-component edges (single
        linkage), so the top of the tree says how the clusters nest. ``False`` keeps a forest under a
        virtual root.
    neighbors : (n, k) int array, optional
        Use this neighbour list as the graph instead of computing the kNN graph (then
        ``log_density`` must be given).
    progress : bool or None
        Progress bar for the kNN search (``None``: shown for n >= 100,000); Dask's own progress bar
        (and the dashboard link with a distributed Client) for a Dask input. Only in a terminal.
    knn : {"exact", "approx"}
        ``"exact"`` (default): the exact k nearest neighbours (a KD-tree; above 16 dimensions its
        leaves compared by float32 matrix products, re-ranked exactly). ``"approx"``: nearest-
        neighbour descent (pynndescent, ``pip install "topotree[approx]"``), for many points in
        many dimensions; its distances are exact, its neighbours approximate (recall and the
        tree's agreement with the exact one: ``benchmarks/bench_tree.py``). A Dask input is
        searched exactly (``"approx"`` is refused there).

    Returns
    -------
    ClusterTree

    References
    ----------
    Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
    Riemannian manifolds. J. ACM 60(6).
    Kent, B. P., Rinaldo, A. and Verstynen, T. (2013). DeBaCl: a Python package for interactive
    density-based clustering. arXiv:1307.8136.

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(400, 2)), rng.normal(size=(200, 2)) + [7, 0]]
    >>> tree = tt.build_tree(X, k=15).simplify()
    >>> len(tree.leaves), [round(float(tree.mass[i]), 2) for i in tree.leaves]
    (2, [0.66, 0.32])
    """
    knn = check_choice(knn, "knn", {"exact", "approx"})
    if _is_blockwise_input(X):  # a Dask array or a .zarr/.npy path: the kNN graph on Dask
        from .blockwise import build_tree_blockwise

        if knn != "exact":
            raise ValueError("knn='approx' is not available for a Dask array or a .zarr/.npy path: the blockwise "
                             "search is exact; pass knn='exact' (the default)")

        return build_tree_blockwise(X, log_density, k=k, backend=backend, connect=connect, neighbors=neighbors,
                                    progress=progress)
    X = check_points(X, "X")
    n, d = X.shape
    backend = check_choice(backend, "backend", {"numba", "gudhi"})
    connect = check_bool(connect, "connect")
    if k is None:
        if n < 2:
            raise ValueError(f"X has {n} point; at least 2 are needed to build a neighbour graph")
        k = default_k(n)
    else:
        k = check_int(k, "k", low=1)
        if n < k + 1:
            raise ValueError(f"X has {n} points but k={k} neighbours need at least k + 1 = {k + 1} points")
    # distances are computed on X * 2**-E: E = 0 for ordinary data (X used exactly as given); for
    # data whose squared distances would overflow or underflow, a power of two (exact) that brings
    # the spread to [0.5, 1). The tree is then that of the rescaled points, levels shifted back.
    E = scale_exponent(X, "X")
    Xd = np.ldexp(X, -E) if E else X
    if neighbors is not None:
        nb, k = _check_neighbors(neighbors, n, log_density)
        perm, dist, tree = None, None, None
    elif knn == "approx":
        nb, dist = knn_approx(Xd, k)
        perm, tree = None, None
    else:
        # work in the KD-tree's numbering (near points, near numbers: cache-friendly passes below);
        # everything is mapped back to the caller's numbering at the end
        perm, nb, dist, tree = knn_local(Xd, k, progress=progress)
    f = _log_density_values(log_density, X, n, perm)
    transient = _Transient(dist, tree, partial(_rows, Xd, perm))
    del dist, tree, Xd, X  # held by ``transient`` alone from here on: freed before the merge
    return _tree_from_graph(nb, transient, f, d=d, E=E, k=int(k), connect=connect, backend=backend, perm=perm)


def _rows(X, perm, rows=None):
    """The points in the internal numbering (``X[perm]``; ``X`` itself when ``perm`` is None), all
    or some ``rows`` of them: gathered when asked for, never kept beside the kNN lists."""
    if perm is None:
        return X if rows is None else X[rows]
    return X[perm] if rows is None else X[perm[rows]]


class _Transient:
    """What the graph passes of :func:`_tree_from_graph` need and the merge does not: the kNN
    distances ``dist`` (None when the caller gave the neighbours), the KD-tree arrays ``tree``
    of :func:`~topotree.graph.knn_local` (its points slot None; None: no tree) and ``points(rows=None)``
    (the points in the internal numbering, all or some rows, gathered on demand). Handed over in this holder, which
    :func:`_tree_from_graph` empties once they are used: the caller keeps only the empty holder,
    so no n x d array is alive during the merge (at 1e5 x 128 the points' 100 MB are freed there)."""

    __slots__ = ("dist", "tree", "points")

    def __init__(self, dist=None, tree=None, points=None):
        self.dist, self.tree, self.points = dist, tree, points

    def take(self):
        """``(dist, tree, points)``, the holder emptied."""
        out = (self.dist, self.tree, self.points)
        self.dist = self.tree = self.points = None
        return out


def _check_neighbors(neighbors, n, log_density):
    """A caller's neighbour list as a C-contiguous int64 (n, k) array, and k."""
    nb = np.asarray(neighbors)
    if nb.ndim != 2 or nb.shape[0] != n:
        raise ValueError(f"neighbors must have shape (n_points, k) = ({n}, k), got {nb.shape}")
    if nb.dtype.kind not in "iu":
        raise TypeError(f"neighbors must be integer point indices, got dtype {nb.dtype}")
    if nb.size and (nb.min() < 0 or nb.max() >= n):
        raise ValueError(f"neighbors has indices outside [0, {n})")
    if log_density is None:
        raise ValueError("log_density must be given when neighbors is given (no distances to estimate it)")
    return np.ascontiguousarray(nb, dtype=np.int64), int(nb.shape[1])


def call_log_density(fn, X, what):
    """``fn(X)`` as an array, an (m, 1) result flattened; a failing callable is a ValueError naming
    ``what`` (the points it was given: "X", "a block of X")."""
    try:
        values = fn(X)
    except Exception as exc:
        raise ValueError(f"log_density callable failed on {what} of shape {X.shape}: {exc}") from exc
    values = as_numpy(values)
    return values[:, 0] if values.ndim == 2 and values.shape[1] == 1 else values


def _log_density_values(log_density, X, n, perm):
    """The given log-density as an (n,) array in the internal numbering (None for the kNN estimate)."""
    if log_density is None:
        return None
    if callable(log_density):
        f = check_vector(call_log_density(log_density, X, "X"), n, "log_density(X)")
    else:
        f = check_vector(log_density, n, "log_density")
    return f if perm is None else f[perm]


def _tree_from_graph(nb, transient, f, *, d, E, k, connect, backend, perm=None):
    """The merge tree from the kNN graph: shared by the in-memory and the blockwise (Dask) paths.

    ``nb``: (n, k) neighbours in the internal numbering (``perm[i]``: caller's index of point i;
    None: the caller's numbering); ``transient``: a :class:`_Transient` holding their distances,
    the KD-tree and the (rescaled) points in that numbering, emptied here once they are used;
    ``f``: the given log-density in that numbering, or None for the kNN estimate. The points are
    gathered (in memory) or loaded (blockwise) only when bridges or duplicate chains need
    coordinates: not at all for a connected graph without exact copies.
    """
    dist, tree, points = transient.take()
    n = nb.shape[0]
    estimated = f is None
    if estimated:
        f = knn_log_density(dist, d)
        kind = "knn"
    else:
        kind = "given"
        if dist is not None and _is_knn_estimate(f, dist, d, E):
            # the very values the kNN estimator gives: the same tree, recorded as such, so that
            # simplify() picks the same data-driven thresholds as for log_density=None
            kind = "knn"
    # ties (two points that are each other's k-th neighbour share r_k) are broken by an intrinsic
    # key, the mean log-distance to the neighbours, then by the caller's point index, so the tree
    # does not depend on the points' order or on the internal numbering
    order = _order(f, dist, perm)
    if E and estimated:  # r = r_scaled * 2**E: log f = log f_scaled - d E log 2 (order unchanged)
        f = f - d * E * math.log(2.0)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    chains = np.zeros((0, 2), dtype=np.int64)
    if dist is not None:
        # a point with k or more exact copies lists only k of them: which ones depends on the
        # points' order, and copies that list each other by chance split into zero-persistence
        # leaves. Each group of such copies is chained in the order the points enter, so the
        # group is one component from its first copy on, whatever the order of the input.
        chains = _duplicate_chains(points, dist[:, -1], rank)
    del dist  # freed before the bridges' search
    bridges = np.zeros((0, 2), dtype=np.int64)
    if connect:
        comp = components(nb)
        if comp.max() > 0:  # several components: the points gathered (or loaded) only now, to join them
            pts = points()
            bridges = _bridge_labelled(pts, comp, tree=None if tree is None else (pts, *tree[1:]))
            del pts
    if chains.shape[0]:
        bridges = np.concatenate([bridges, chains])
    del tree, points  # not needed any more: freed before the graph passes
    return _merged_tree(f, order, rank, nb, bridges, neighbors=nb, bridges=bridges, k=k, kind=kind,
                        backend=backend, perm=perm)


def _merged_tree(f, order, rank, graph, edges, *, neighbors, bridges, k, kind, backend, perm):
    """The superlevel merge of ``f`` (points entering in ``order``; ``rank`` its inverse) on the
    graph of the (n, k') lists ``graph`` plus the (e, 2) ``edges``, as a ClusterTree storing
    ``neighbors`` and ``bridges``; the in-memory path merges on the kNN lists and bridges
    themselves, the blockwise path on their maximum spanning forest (``graph`` (n, 0), the forest
    in ``edges``), which gives the same tree (:mod:`topotree._forest`)."""
    if backend == "numba":
        parent, vertex, owner, basin = merge_tree_kernel(order, *earlier_adjacency(graph, edges, rank))
    else:
        parent, vertex, owner, basin = _gudhi_hierarchy(order, rank, *adjacency(graph, edges))
    is_leaf = np.ones(parent.shape[0], dtype=bool)
    is_leaf[parent[parent >= 0]] = False
    split = np.where(is_leaf, -1, vertex)
    arrays = assemble(f, order, rank, parent, split, owner, basin)
    if perm is not None:
        f, order, neighbors, bridges, arrays = _to_caller(perm, f, order, neighbors, bridges, arrays)
    return ClusterTree(log_density=f, order=order, neighbors=neighbors, bridges=bridges, k=int(k), density=kind,
                       **arrays)


def _is_knn_estimate(f, dist, d, E):
    """Whether the given log-density ``f`` is bit for bit the kNN estimate from ``dist``."""
    return _is_estimate_of(f, knn_log_density(dist, d), d, E)


def _is_estimate_of(f, est, d, E):
    """Whether ``f`` is bit for bit ``est`` (the kNN estimate of the rescaled points), shifted by
    the rescaling ``E``."""
    if E:
        est = est - d * E * math.log(2.0)
    return bool(np.array_equal(f, est))


_TIE_FLOOR = 1e-300  # distances floored here before the log of the tie key (exact copies: distance 0)


def _tie_key(dist):
    """The tie key of points with the (m, k) neighbour distances ``dist``: the mean log-distance
    (row by row, so any block of rows gives the same bits as the whole)."""
    return np.log(np.maximum(dist, _TIE_FLOOR)).mean(axis=1)


def _order(f, dist, perm=None, tie=None):
    """Points by decreasing f; equal values by increasing mean log-distance to the neighbours,
    then by index in the caller's numbering (``perm[i]``: caller's index of point i). ``tie``: the
    tie keys of all points (:func:`_tie_key`), when the distances are not at hand."""
    # with a tie key every tied run is re-sorted below, so the first sort need not be stable
    keyed = dist is not None or tie is not None
    order = np.argsort(-f, kind="quicksort" if keyed else "stable").astype(np.int64)
    if not keyed:
        return order
    fs = f[order]
    tied = np.flatnonzero(fs[1:] == fs[:-1])
    if tied.size:
        runs = np.unique(np.r_[tied, tied + 1])
        # re-sort only the tied runs by (f, tie key, caller's index): lexsort on the few tied points
        sub = order[runs]
        key = tie[sub] if tie is not None else _tie_key(dist[sub])
        o = np.lexsort((sub if perm is None else perm[sub], key, -f[sub]))
        order[runs] = sub[o]
    return order


def _duplicate_chains(points, r_k, rank):
    """Edges chaining, in rank order, each group of exact copies that have k or more copies (k-th
    neighbour distance ``r_k`` 0); (0, 2) when there are none. ``points(rows)``: those rows' coordinates."""
    full = np.flatnonzero(r_k == 0)
    if full.shape[0] < 2:
        return np.zeros((0, 2), dtype=np.int64)
    _, group = np.unique(np.asarray(points(full)) + 0.0, axis=0, return_inverse=True)  # + 0.0: -0.0 and 0.0 alike
    group = group.ravel()
    o = np.lexsort((rank[full], group))
    members, group = full[o], group[o]
    same = group[1:] == group[:-1]
    return np.column_stack([members[:-1][same], members[1:][same]]).astype(np.int64)


def _to_caller(perm, f, order, nb, bridges, arrays):
    """Map per-point arrays from the internal numbering back to the caller's (point i -> perm[i])."""
    arrays = dict(arrays)
    for key in ("owner", "basin"):
        arrays[key] = scatter(perm, arrays[key])
    for key in ("member_order", "peak", "split"):
        arrays[key] = relabel(perm, arrays[key])
    return (scatter(perm, f), relabel(perm, order), scatter_relabel(perm, nb),
            np.sort(perm[bridges], axis=1), arrays)


def _gudhi_hierarchy(order, rank, indptr, indices):
    """The same hierarchy from gudhi's ToMATo (Chazal et al. 2013), in the numba kernel's terms.

    ToMATo gives the raw clusters (steepest-ascent basins) and the persistence pairs in the order of
    the merges; the density is passed as ``-rank`` so ties are broken exactly as in the numba kernel.
    Each merge vertex's node is then joined to the current clusters of its higher neighbours.
    """
    from gudhi.clustering.tomato import Tomato

    n = order.shape[0]
    lists = [indices[indptr[i]:indptr[i + 1]] for i in range(n)]
    weights = -rank.astype(np.float64)
    t = Tomato(graph_type="manual", density_type="manual").fit(lists, weights=weights)
    raw = np.asarray(t.leaf_labels_, dtype=np.int64)
    n_raw = int(raw.max()) + 1 if n else 0
    # a raw cluster's peak is its point of lowest rank; its node id is assigned in rank order below
    peak_rank = np.full(n_raw, n, dtype=np.int64)
    np.minimum.at(peak_rank, raw, rank)
    merge_ranks = np.unique((-np.asarray(t.diagram_, dtype=np.float64).reshape(-1, 2)[:, 1]).astype(np.int64))
    # nodes in creation order: leaves at their peaks, merge nodes at their vertices
    events = np.sort(np.concatenate([peak_rank, merge_ranks]))
    node_of_rank = np.full(n, -1, dtype=np.int64)
    node_of_rank[events] = np.arange(events.shape[0])
    node_parent = np.full(events.shape[0], -1, dtype=np.int64)
    node_vertex = order[events]
    cluster_node = node_of_rank[peak_rank]  # current node of each raw-cluster union-find root
    uf, size = ds_new(n_raw)
    for r in merge_ranks:
        v = order[r]
        nb = indices[indptr[v]:indptr[v + 1]]
        roots = {ds_find(uf, raw[u]) for u in nb[rank[nb] < r]}
        node = node_of_rank[r]
        root = roots.pop()
        node_parent[cluster_node[root]] = node
        for c in roots:
            node_parent[cluster_node[c]] = node
            root = ds_union(uf, size, root, c)
        cluster_node[root] = node
    # owner: the ancestor of a point's basin leaf whose level interval holds the point
    basin = node_of_rank[peak_rank[raw]]
    start_rank = np.where(node_parent >= 0, events[np.maximum(node_parent, 0)], n)
    owner = owners_from_basins(basin, rank, node_parent, start_rank)
    return node_parent, node_vertex, owner, basin
