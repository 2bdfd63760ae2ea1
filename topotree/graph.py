"""k-nearest-neighbour search and the symmetric neighbourhood graph.

The search uses the fastest exact method for the data: a KD-tree queried leaf by leaf on all
cores (``_kdtree.py``) where it prunes well, otherwise the same kind of tree's leaves compared with
the leaves they can reach by float32 matrix products, the candidates re-ranked exactly in float64
(``_knn_blocks.py``); between 10 and 32 dimensions a sample of the KD-tree's queries decides
(``_search_method``). Both return the tree's locality-preserving order, and the distances are
computed by one formula per dimension whichever search found the neighbours.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, parallel_chunksize, prange

from .disjoint_set import ds_find, ds_new, ds_union
from ._components import block_bounds, components
from ._kdtree import build_kdtree, nearest_with_label, node_labels, query_leaves, tree_distances
from ._knn_blocks import knn_blocks
from ._progress import progress_bar
from ._renumber import scatter, scatter_relabel
from ._threads import worker_threads

_KDTREE_MAX_DIM = 16  # up to here distances by the KD-tree query's own loop, whichever search ran (_search_method)
_BLOCK_BIG_LEAF_DIM = 16  # above this, the GEMM-screened search uses leaves of 256 (_block_leafsize)
_DIFF_BYTES = 4 << 20  # memory of one block of coordinate differences in exact_distances
# where the search is chosen by probing the KD-tree (_search_method)
_PROBE_MIN_DIM = 10  # below, the KD-tree won every measured case
_PROBE_MAX_DIM = 32  # above, the blocks did
_PROBE_MIN_POINTS = 20_000  # below, the KD-tree up to 32 dims (faster in every case measured at 1e4)
_PROBE_FRACTION = 0.005  # of the KD-tree's leaves queried to measure its pruning
_PROBE_MIN_LEAVES = 8
_BLOCKS_WORK = 60_000  # distances a point x dims beyond which the GEMM-screened blocks are faster


def _leafsize(d):
    """KD-tree leaf size: small leaves in few dimensions, larger ones where pruning is weak
    (a sweep of leaf sizes 8-256 over 1e5-1e6 mixture points in 2-16 dims: queries at d = 8 are
    2.5x faster with 64 than with 16)."""
    return 16 if d <= 3 else 32 if d <= 5 else 64 if d <= 10 else 128


def _block_leafsize(d):
    """Leaf size of the GEMM-screened search (``_knn_blocks``): the KD-tree's up to 16 dims; 256
    above, where boxes prune little and the larger products pay. With each pair of leaves
    multiplied once, both ways, 256 was 5-10% faster than 128 at 1e5 points in 20, 32 and 64
    dims and at 3e5 x 32 (2 threads, 3 runs each), equal at 12 and 16 dims and at 1e5 x 128 against
    512 (the one-way search before it: 256 only above 64 dims, 13% faster than 128 at 6e4 x 128)."""
    return _leafsize(d) if d <= _BLOCK_BIG_LEAF_DIM else 256


def knn(X, k, *, progress=None):
    """Exact k nearest neighbours of every point, the point itself excluded.

    Parameters
    ----------
    X : (n, d) float64 array, already validated.
    k : int, 1 <= k < n.
    progress : bool or None
        Show a progress bar; ``None`` shows one for n >= 100,000.

    Returns
    -------
    indices : (n, k) int64, sorted by distance.
    distances : (n, k) float64.

    Examples
    --------
    >>> import numpy as np
    >>> idx, dist = knn(np.array([[0.0], [1.0], [3.0]]), 1)
    >>> idx.ravel().tolist(), dist.ravel().tolist()
    ([1, 0, 1], [1.0, 1.0, 2.0])
    """
    perm, idx, dist, _ = knn_local(X, k, progress=progress)
    if perm is None:
        return idx, dist
    return scatter_relabel(perm, idx), scatter(perm, dist)


def knn_local(X, k, *, progress=None):
    """:func:`knn` in a locality-preserving numbering of the points.

    Returns ``(perm, indices, distances, tree)``: row i and the indices refer to point ``perm[i]``
    of X, ordered so that near points have near numbers (the KD-tree's leaf order), which makes
    every later pass over the graph cache-friendly; ``tree`` is the KD-tree's arrays
    ``(None, start, end, left, right, lo, hi)``: its points ``X[perm]`` are not kept (an n x d
    copy beside the lists; :func:`bridge_components` takes ``(X[perm], start, ...)``).
    """
    n, d = X.shape
    show = n >= 100_000 if progress is None else bool(progress)
    bar = progress_bar(total=n, desc="kNN", disable=not show)
    method = _search_method(n, d)
    if method != "blocks":
        Xs, perm, start, end, left, right, lo, hi = build_kdtree(X, _leafsize(d))
        tree = (Xs, start, end, left, right, lo, hi)
        leaves = np.flatnonzero(left == -1)
        dist = np.empty((n, k))
        idx = np.empty((n, k), dtype=np.int64)
        if method == "probe":
            probed = _probe_leaves(leaves)
            work = np.zeros(probed.shape[0], dtype=np.int64)
            query_leaves(*tree, probed, k, dist, idx, work)
            if work.sum() * d > _BLOCKS_WORK * (end[probed] - start[probed]).sum():
                method = "blocks"  # the tree prunes too little here: the GEMM screen wins
                del tree, Xs, dist, idx
            else:
                bar.update(int((end[probed] - start[probed]).sum()))
                leaves = np.setdiff1d(leaves, probed, assume_unique=True)
    if method == "blocks":
        # leaves against the leaves they can reach, float32 GEMM screen, exact re-rank
        perm, idx, tree = knn_blocks(X, k, _block_leafsize(d), bar)
        bar.close()
        return perm, idx, _exact_distances(X, perm, idx, tree_formula=d <= _KDTREE_MAX_DIM, rows=perm), tree
    n_batches = max(1, min(50, leaves.shape[0] // 64)) if show else 1  # batches only feed the bar
    for batch in np.array_split(leaves, n_batches):
        with parallel_chunksize(32):  # leaves differ in cost: hand them out in small chunks
            query_leaves(*tree, batch, k, dist, idx, np.zeros(batch.shape[0], dtype=np.int64))
        bar.update(int((end[batch] - start[batch]).sum()))
    bar.close()
    if idx.size and idx.min() < 0:  # cannot happen for finite points: never pass -1 on to the kernels
        raise RuntimeError("kNN search left a neighbour list unfilled")
    if d > _KDTREE_MAX_DIM:  # one distance formula above 16 dims, whichever search found them
        dist = exact_distances(Xs, perm, idx)
    # the copy of the points in the tree's order is dropped: X[perm] gives it again if needed
    return perm, idx, dist, (None, *tree[1:])


def _search_method(n, d):
    """Which exact search: ``"kdtree"`` (the scalar KD-tree query), ``"blocks"`` (GEMM-screened
    leaf blocks) or ``"probe"`` (the KD-tree on a sample of its leaves first; the blocks take over
    where it evaluates more than ``_BLOCKS_WORK / d`` distances a point).

    Which one wins depends on the data, not only on its size: measured side by side (k = 15,
    2 cores) on the benchmark's full-dimensional mixtures and on a 4-dimensional manifold embedded
    with noise, at 1e4-1e5 points and 8-32 dims, the blocks are 1.1-3.1x faster wherever the
    KD-tree computes more than ~60,000 / d distances a point (mixtures from 10 dims at 1e5 points,
    2.3x at 1e5 x 16) and 1.1-2.9x slower below (the manifold up to 32 dims, anything in 8 dims,
    every case at 1e4 points); above 32 dims the blocks won everywhere measured, and a sample's
    KD-tree queries would cost more there than they could save."""
    if d > _PROBE_MAX_DIM:
        return "blocks"
    if n < _PROBE_MIN_POINTS or d < _PROBE_MIN_DIM:
        return "kdtree"
    return "probe"


def _probe_leaves(leaves):
    """A fixed pseudo-random sample of the leaves (the choice of method is reproducible)."""
    m = min(leaves.shape[0], max(_PROBE_MIN_LEAVES, int(round(_PROBE_FRACTION * leaves.shape[0]))))
    return np.sort(np.random.default_rng(0).choice(leaves, m, replace=False))


def knn_approx(X, k, *, seed=0):
    """Approximate k nearest neighbours by nearest-neighbour descent (pynndescent, all cores).

    For many points in many dimensions, where even the blocked exact search grows with n**2 in
    the worst case. The neighbours found are approximate (recall@k is reported by
    ``benchmarks/bench_tree.py``); their distances are exact (computed as for the exact search),
    so the log-density of a found neighbour list is exact for that list.

    Returns ``(indices, distances)`` like :func:`knn`, in the caller's numbering.

    References
    ----------
    Dong, W., Moses, C. and Li, K. (2011). Efficient k-nearest neighbor graph construction for
    generic similarity measures. WWW.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(300, 20))
    >>> idx, dist = knn_approx(X, 5)  # doctest: +SKIP
    >>> idx.shape, bool(np.all(np.diff(dist, axis=1) >= 0))  # doctest: +SKIP
    ((300, 5), True)
    """
    try:
        from pynndescent import NNDescent
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('knn="approx" needs pynndescent: pip install "topotree[approx]"') from exc
    n = X.shape[0]
    index = NNDescent(X, n_neighbors=min(n, k + 1), random_state=seed, n_jobs=-1, low_memory=True,
                      compressed=False)
    found = index.neighbor_graph[0].astype(np.int64)
    idx = np.empty((n, k), dtype=np.int64)
    _drop_self_or_last(found, idx)
    perm = np.arange(n, dtype=np.int64)
    return idx, exact_distances(np.ascontiguousarray(X, dtype=np.float64), perm, idx)


@njit(cache=True)
def _drop_self_or_last(found, out):
    """Each row of ``found`` without the point itself (or without its last entry; -1 entries,
    rows pynndescent could not fill, become the point's first listed neighbour)."""
    n, kp1 = found.shape
    k = out.shape[1]
    for i in range(n):
        c = 0
        for j in range(kp1):
            u = found[i, j]
            if u != i and u >= 0 and c < k:
                out[i, c] = u
                c += 1
        while c < k:  # cannot happen with n > k on connected data: repeat a found neighbour
            out[i, c] = out[i, 0] if c > 0 else (i + 1) % n
            c += 1


def exact_distances(Xs, perm, idx, tree_formula=False):
    """Distances ``|Xs[i] - Xs[idx[i, j]]|`` (one numpy reduction, the same on every path above
    16 dimensions, so the method never shows in the last bits; ``tree_formula``: the KD-tree
    query's own loop instead, as up to 16 dimensions), rows reordered by distance, ties by the
    caller's index ``perm[idx]``; ``idx`` is reordered in place."""
    return _exact_distances(Xs, perm, idx, tree_formula)


def _exact_distances(Xs, perm, idx, tree_formula=False, rows=None):
    """:func:`exact_distances`; with ``rows``, point i is ``Xs[rows[i]]`` (the caller's points
    read through the tree's order, not copied into it)."""
    n, k = idx.shape
    dist = np.empty((n, k))
    block = max(1, _DIFF_BYTES // (8 * k * Xs.shape[1]))

    def one_block(lo):
        hi = min(n, lo + block)
        if tree_formula:
            dd = np.empty((hi - lo, k))
            tree_distances(Xs, idx[lo:hi], lo, dd, rows)
        elif rows is None:
            diff = Xs[lo:hi, None, :] - Xs[idx[lo:hi]]
            dd = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        else:
            diff = Xs[rows[lo:hi], None, :] - Xs[rows[idx[lo:hi]]]
            dd = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        o = np.lexsort((perm[idx[lo:hi]], dd), axis=-1)
        dist[lo:hi] = np.take_along_axis(dd, o, axis=1)
        idx[lo:hi] = np.take_along_axis(idx[lo:hi], o, axis=1)

    # blocks of rows are independent (numpy releases the GIL in them): on all workers
    with ThreadPoolExecutor(worker_threads()) as ex:
        list(ex.map(one_block, range(0, n, block)))
    return dist


@njit(cache=True)
def _csr_kernel(neighbors, bridges, n):
    """Symmetric adjacency (CSR) of the union of the kNN lists and the bridge edges, no self loops."""
    k = neighbors.shape[1]
    deg = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        for j in range(k):
            u = neighbors[i, j]
            if u != i:
                deg[i + 1] += 1
                deg[u + 1] += 1
    for e in range(bridges.shape[0]):
        deg[bridges[e, 0] + 1] += 1
        deg[bridges[e, 1] + 1] += 1
    indptr = np.cumsum(deg)
    fill = indptr[:-1].copy()
    indices = np.empty(indptr[-1], dtype=np.int64)
    for i in range(n):
        for j in range(k):
            u = neighbors[i, j]
            if u != i:
                indices[fill[i]] = u
                fill[i] += 1
                indices[fill[u]] = i
                fill[u] += 1
    for e in range(bridges.shape[0]):
        a, b = bridges[e, 0], bridges[e, 1]
        indices[fill[a]] = b
        fill[a] += 1
        indices[fill[b]] = a
        fill[b] += 1
    # deduplicate each row (mutual neighbours appear twice) with a marker array, no sorting
    mark = np.full(n, -1, dtype=np.int64)
    out_ptr = np.zeros(n + 1, dtype=np.int64)
    w = 0
    for i in range(n):
        for e in range(indptr[i], indptr[i + 1]):
            u = indices[e]
            if mark[u] != i:
                mark[u] = i
                indices[w] = u
                w += 1
        out_ptr[i + 1] = w
    return out_ptr, indices[:w].copy()


@njit(cache=True, inline="always")
def _put(ptr, ind, rank, a, b, fill_pass):
    """Edge a-b at its later end: count it (first pass) or store the earlier end (second pass)."""
    late, early = (a, b) if rank[a] > rank[b] else (b, a)
    if fill_pass:
        ind[ptr[late]] = early
        ptr[late] += 1
    else:
        ptr[late + 1] += 1


@njit(cache=True, parallel=True)
def _earlier_blocks(neighbors, rank, bounds, ptr, ind, crossing, fill_pass):
    """Count (first pass) or store (second pass) the edges whose two ends lie in one block, one
    block a thread; each edge goes to its later end. Rows with other edges are flagged."""
    k = neighbors.shape[1]
    for t in prange(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        for i in range(lo, hi):
            for j in range(k):
                u = neighbors[i, j]
                if u == i:
                    continue
                if u < lo or u >= hi:
                    crossing[i] = True
                else:
                    _put(ptr, ind, rank, i, u, fill_pass)


@njit(cache=True)
def _earlier_rest(neighbors, bridges, rank, bounds, ptr, ind, crossing, fill_pass):
    """The same for the edges between blocks and the bridges, serially."""
    k = neighbors.shape[1]
    for i in np.flatnonzero(crossing):
        t = np.searchsorted(bounds, i, side="right") - 1
        lo, hi = bounds[t], bounds[t + 1]
        for j in range(k):
            u = neighbors[i, j]
            if u != i and not lo <= u < hi:
                _put(ptr, ind, rank, i, u, fill_pass)
    for e in range(bridges.shape[0]):
        _put(ptr, ind, rank, bridges[e, 0], bridges[e, 1], fill_pass)


def earlier_adjacency(neighbors, bridges, rank):
    """CSR ``(indptr, indices)``: for each point, its graph neighbours that come before it in ``rank``.

    Each edge is stored once, at its later end (mutual kNN pairs twice; harmless for union-find).
    This is all the superlevel-set merge needs, at half the memory of the symmetric adjacency.
    Built by blocks of consecutive points in parallel (with the points in KD-tree order almost
    every edge lies inside a block); indices are int32 when the points allow it.

    Examples
    --------
    >>> import numpy as np
    >>> ptr, ind = earlier_adjacency(np.array([[1], [0], [1]]), np.zeros((0, 2)), np.array([1, 0, 2]))
    >>> [ind[ptr[i]:ptr[i + 1]].tolist() for i in range(3)]
    [[1, 1], [], [1]]
    """
    neighbors = np.ascontiguousarray(neighbors, dtype=np.int64)
    bridges = np.ascontiguousarray(bridges, dtype=np.int64).reshape(-1, 2)
    rank = np.ascontiguousarray(rank, dtype=np.int64)
    n = neighbors.shape[0]
    bounds = block_bounds(n)
    crossing = np.zeros(n, dtype=np.bool_)
    ptr = np.zeros(n + 1, dtype=np.int64)
    ind = np.empty(0, dtype=np.int32 if n < 2**31 else np.int64)
    with parallel_chunksize(1):
        _earlier_blocks(neighbors, rank, bounds, ptr, ind, crossing, False)
    _earlier_rest(neighbors, bridges, rank, bounds, ptr, ind, crossing, False)
    np.cumsum(ptr, out=ptr)
    ind = np.empty(int(ptr[n]), dtype=ind.dtype)
    fill = ptr[:-1].copy()
    with parallel_chunksize(1):
        _earlier_blocks(neighbors, rank, bounds, fill, ind, crossing, True)
    _earlier_rest(neighbors, bridges, rank, bounds, fill, ind, crossing, True)
    return ptr, ind


def adjacency(neighbors, bridges=None):
    """CSR arrays ``(indptr, indices)`` of the undirected graph: i ~ j if either lists the other.

    Examples
    --------
    >>> import numpy as np
    >>> ptr, ind = adjacency(np.array([[1], [0], [1]]))
    >>> [ind[ptr[i]:ptr[i + 1]].tolist() for i in range(3)]
    [[1], [0, 2], [1]]
    """
    n = neighbors.shape[0]
    if bridges is None:
        bridges = np.zeros((0, 2), dtype=np.int64)
    return _csr_kernel(np.ascontiguousarray(neighbors, dtype=np.int64),
                       np.ascontiguousarray(bridges, dtype=np.int64), n)


class _LabelledTree:
    """A KD-tree over the points with a label (component) per point, for nearest-point queries
    restricted to one label."""

    def __init__(self, X, label, tree=None):
        if tree is None:
            Xs, perm, *arrays = build_kdtree(X, _leafsize(X.shape[1]))
            self.label = np.ascontiguousarray(label[perm])
        else:
            Xs, arrays, perm = tree[0], tree[1:], None
            self.label = np.ascontiguousarray(label)
        self.X, self.perm, self.arrays = Xs, perm, arrays
        self.node_label = node_labels(arrays[0], arrays[1], arrays[2], arrays[3], self.label)

    def nearest(self, points, target, k=1):
        """(squared distances, internal indices) of the k nearest points labelled ``target``."""
        q = np.ascontiguousarray(np.atleast_2d(points), dtype=np.float64)
        return nearest_with_label(self.X, *self.arrays, self.node_label, self.label, q, int(target), int(k))

    def caller_index(self, i):
        return int(i) if self.perm is None else int(self.perm[i])


_EXACT_SIZE = 256  # components up to this size are joined by querying every one of their points


def _closest_pair(T, a, b, count, members, centroid, n_seed=8):
    """A closest pair (internal indices p in a, q in b, distance) between components a and b:
    exact (every point of the smaller one queried) when one is small; otherwise alternating
    nearest-neighbour steps started from the few points of each component nearest the other's
    centroid (exact for convex, well separated components)."""
    sa, sb = count[a], count[b]
    if min(sa, sb) <= _EXACT_SIZE:
        small, other, flip = (a, b, False) if sa <= sb else (b, a, True)
        pts = members[small]
        dd, ii = T.nearest(T.X[pts], other)
        j = int(np.argmin(dd[:, 0]))
        p, q = int(pts[j]), int(ii[j, 0])
        return (q, p, float(np.sqrt(dd[j, 0]))) if flip else (p, q, float(np.sqrt(dd[j, 0])))
    best = None
    for c1, c2, flip in ((a, b, False), (b, a, True)):
        _, seeds = T.nearest(centroid[c2], c1, k=n_seed)
        p, q, dist = _alternate(T.X, *T.arrays, T.node_label, T.label, seeds[0], c1, c2)
        if best is None or dist < best[2]:
            best = (q, p, dist) if flip else (p, q, dist)
    return best[0], best[1], float(np.sqrt(best[2]))


@njit(cache=True, nogil=True)
def _alternate(Xs, start, end, left, right, lo, hi, node_label, label, seeds, c1, c2):
    """From each seed p in c1, alternate nearest-neighbour steps (p -> nearest q in c2 -> nearest
    p in c1 ...) until the distance stops falling; the best pair (p, q, squared distance)."""
    best_p, best_q, best = -1, -1, np.inf
    for s in seeds:
        if s < 0:
            continue
        p, q, dist = s, -1, np.inf
        for _ in range(50):
            d_q, i_q = nearest_with_label(Xs, start, end, left, right, lo, hi, node_label, label,
                                          Xs[p:p + 1], c2, 1)
            d_p, i_p = nearest_with_label(Xs, start, end, left, right, lo, hi, node_label, label,
                                          Xs[i_q[0, 0]:i_q[0, 0] + 1], c1, 1)
            if d_q[0, 0] >= dist:
                break
            q, p, dist = i_q[0, 0], i_p[0, 0], d_p[0, 0]  # d_p <= d_q: p moved nearer q
        if dist < best:
            best_p, best_q, best = p, q, dist
    return best_p, best_q, best


def bridge_components(X, neighbors, max_exact=64, tree=None):
    """Edges that join the graph's connected components into one, shortest first.

    The components are linked by a minimum spanning tree over their closest point pairs
    (single linkage between components; each pair is found from the points nearest the other
    component's centroid, refined by alternating nearest-neighbour steps, which is exact for
    components of up to 256 points and for convex, well separated ones). With more than
    ``max_exact`` components the candidate pairs are restricted to a minimum spanning tree of the
    component centroids, each pair still joined through its exact closest points.

    ``tree``: the KD-tree arrays ``(Xs, start, end, left, right, lo, hi)`` of :func:`knn_local`
    when X is already in the tree's order (saves building one).

    Returns an (c - 1, 2) int64 array of point pairs.
    """
    return _bridge_labelled(X, components(neighbors), max_exact, tree)


def _bridge_labelled(X, comp, max_exact=64, tree=None):
    """:func:`bridge_components` of the components ``comp`` (a label per point, numbered from 0 in
    order of first point), however they were found (the blockwise path: from a spanning forest)."""
    c = int(comp.max()) + 1
    if c == 1:
        return np.zeros((0, 2), dtype=np.int64)
    T = _LabelledTree(X, comp, tree)
    count = np.bincount(comp, minlength=c)
    members = None  # each component's points (internal numbering), needed only for small ones
    if count.min() <= _EXACT_SIZE:
        members = np.split(np.argsort(T.label, kind="stable"), np.cumsum(count)[:-1])
    centroid = np.column_stack([np.bincount(comp, weights=X[:, j], minlength=c) for j in range(X.shape[1])])
    centroid /= count[:, None]
    if c <= max_exact:
        pairs = [(a, b) for a in range(c) for b in range(a + 1, c)]
    else:
        from scipy.sparse.csgraph import minimum_spanning_tree
        from scipy.spatial.distance import cdist

        mst = minimum_spanning_tree(cdist(centroid, centroid) + 1e-300).tocoo()
        pairs = list(zip(mst.row.tolist(), mst.col.tolist()))
    def closest(pair):
        a, b = pair
        p, q, dist = _closest_pair(T, a, b, count, members, centroid)
        p, q = T.caller_index(p), T.caller_index(q)
        return dist, min(p, q), max(p, q), a, b

    # the pairs are independent (their queries release the GIL): one thread each, on all workers
    with ThreadPoolExecutor(worker_threads()) as ex:
        cand = sorted(ex.map(closest, pairs))
    parent, size = ds_new(c)
    out = []
    for _, p, q, a, b in cand:
        ra, rb = ds_find(parent, a), ds_find(parent, b)
        if ra != rb:
            ds_union(parent, size, ra, rb)
            out.append((p, q))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)
