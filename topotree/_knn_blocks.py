"""Exact all-k-nearest-neighbours in many dimensions: KD-tree leaves against their candidate
leaves, distances screened by float32 matrix products (BLAS), the survivors re-ranked exactly.

Above ~16 dimensions a KD-tree prunes whole clusters but little inside one, and a scalar
distance loop is several times slower than a matrix product. So points are compared block
against block by float32 products, each product serving both blocks (the distance is
symmetric: a product of leaves L and M updates the lists of L's points and of M's), keeping
``k + _MARGIN`` candidates a point in sorted lists. First every group of ~8 leaves (the
ancestor ``_UP`` levels up) against itself, by one symmetric product (``ssyrk``: half a general
product's work); its lists bound every point's k-th neighbour distance, and so each leaf's
reach. Then every pair of leaves of different groups that a point of either may need (the boxes
within either leaf's reach, then a point of either within its own bound of the other's box:
:func:`pair_runs`; the points' own bounds take out 15% of the products at 1e6 x 32), once, from
the earlier leaf in the tree's order, by general products
(``Y_L @ Y_M.T``) on the runs of consecutive stored points those leaves form (in place, no copy;
short runs gathered); threads update the lists of a product's rows and columns holding the
locks of the stripes of points they touch. Before, each leaf was multiplied against everything
it reached, one way: each pair of leaves twice (1.3-1.6x slower at 1e5 points, 20-128 dims).
The candidates' distances are then computed exactly in float64 and the k nearest kept; a point
is certified when its screening threshold, less a bound of the float32 rounding error, still
exceeds its exact k-th distance (then no excluded point can be nearer); the rare point that is
not is searched exactly by brute force. The result is the exact kNN (ties aside), whatever the
float32 rounding. (The Dask path, :mod:`topotree._dask_screen`, folds one block into another one
way, with :func:`reach` and :func:`_screen`.)

References
----------
Friedman, J. H., Bentley, J. L. and Finkel, R. A. (1977). An algorithm for finding best matches in
logarithmic expected time. ACM Trans. Math. Softw. 3(3).
Johnson, J., Douze, M. and Jegou, H. (2019). Billion-scale similarity search with GPUs. IEEE
Trans. Big Data (the GEMM-plus-selection form of brute-force search, as in faiss).
Higham, N. J. (2002). Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM, section 3.1
(the bound on the rounding error of a dot product used to certify the float32 screen).
"""
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
from numba import njit, prange
from scipy.linalg.blas import ssyrk

from ._kdtree import box_gap_between, build_kdtree
from ._threads import blas_per_worker, worker_threads

_MARGIN = 16  # candidates kept a point beyond k: the float32 screen's slack for exact re-ranking
_COLS = 4096  # candidate points a GEMM: a (leaf x _COLS) float32 block, 2 MB for leaves of 128
_DIRECT = 512  # runs of consecutive candidate points at least this long enter the GEMM in place
_UP = 3  # a leaf is first screened against its ancestor this many levels up (~8 leaves)
_RUN = 32  # the screen tests runs of this many values together first
_OWNER_CHUNKS_PER_THREAD = 32  # leaves are handed to the threads in this many chunks each (the earlier
# leaves of the tree's order have more pairs after them)
_GROUP_TILE = 4096  # a group is multiplied against itself in tiles of at most this many points
_STRIPE = 1024  # points under one lock while a product's lists are updated
_TWO = np.float32(2.0)
_ERR = 4.0  # safety factor on the float32 rounding bound (d + 8) u (|x| + |y|)^2, u = 2**-24
_REL = 1e-12  # relative tolerance of float64 comparisons of pruning bounds
_ROTATE_ROWS = 8192  # rows rotated into the principal axes at a time


@njit(cache=True, inline="always")
def _sq_dist(Xs, q, p, d):
    """Exact float64 squared distance of rows q and p (the re-ranking's one formula)."""
    dist = 0.0
    for j in range(d):
        diff = Xs[q, j] - Xs[p, j]
        dist += diff * diff
    return dist


@njit(cache=True, nogil=True, inline="always")
def _add_run(runs, nr, s, e):
    """Append positions ``[s, e)`` to the first ``nr`` runs: extend the last run if it ends at s
    (adjacent leaves), else a new run (the array doubled when full). Returns ``(runs, nr)``."""
    if nr > 0 and runs[nr - 1, 1] == s:
        runs[nr - 1, 1] = e
        return runs, nr
    if nr == runs.shape[0]:
        grown = np.empty((2 * nr, 2), dtype=np.int64)
        grown[:nr] = runs
        runs = grown
    runs[nr, 0] = s
    runs[nr, 1] = e
    return runs, nr + 1


@njit(cache=True, nogil=True)
def reach(start, end, left, right, lo, hi, qlo, qhi, L, A, bound):
    """The points of the leaves of a tree (``start``, ``end``, ``left``, ``right``, boxes ``lo``,
    ``hi``) whose box lies within squared distance ``bound`` of leaf L's box (``qlo``, ``qhi``: of
    the same tree or of another), those of node A (already compared; -1: none) left out: as runs
    ``[runs[t, 0], runs[t, 1])`` of consecutive positions (adjacent leaves merged), in the tree's
    order."""
    d = lo.shape[1]
    stack = np.empty(512, dtype=np.int64)
    runs = np.empty((64, 2), dtype=np.int64)
    nr = 0
    stack[0] = 0
    top = 1
    while top > 0:
        top -= 1
        N = stack[top]
        if N == A or box_gap_between(lo, hi, N, qlo, qhi, L, d) > bound:
            continue
        if left[N] == -1:
            runs, nr = _add_run(runs, nr, start[N], end[N])
        else:
            stack[top] = right[N]  # right pushed first: leaves come out in the tree's order
            stack[top + 1] = left[N]
            top += 2
    return runs[:nr].copy()


@njit(cache=True, nogil=True, inline="always")
def _insert(bd, bi, r, v, p):
    """Insert the value v of point p into row r's sorted list (v below its last value)."""
    t = bd.shape[1] - 1
    while t > 0 and bd[r, t - 1] > v:
        bd[r, t] = bd[r, t - 1]
        bi[r, t] = bi[r, t - 1]
        t -= 1
    bd[r, t] = v
    bi[r, t] = p


@njit(cache=True, nogil=True, inline="always")
def _offer(g, cols, c0, q, j0, j1, bd, bi, r):
    """Offer the values g[j0:j1] (points cols[j], or c0 + j if cols is empty) to row r's sorted
    list."""
    m = bd.shape[1]
    gather = cols.shape[0] > 0
    for j in range(j0, j1):
        v = g[j]
        p = cols[j] if gather else c0 + j
        if v < bd[r, m - 1] and p != q:
            _insert(bd, bi, r, v, p)


@njit(cache=True, nogil=True)
def _screen(G, cols, c0, q0, bd, bi):
    """Keep in the sorted rows of (bd, bi) the smallest values ``G[r, j]`` (the squared distance
    less the query's own squared norm) with their points p = cols[j] (or c0 + j if cols is
    empty), the query q0 + r itself excluded. Runs of _RUN values are first tested together
    (does any fall below the row's current last? a vectorised test): almost all stop there."""
    h, w = G.shape
    m = bd.shape[1]
    full = w - w % _RUN
    for r in range(h):
        g = G[r]
        worst = bd[r, m - 1]
        for j0 in range(0, full, _RUN):
            below = False
            for j in range(_RUN):  # fixed length: the loop vectorises
                below |= g[j0 + j] < worst
            if below:
                _offer(g, cols, c0, q0 + r, j0, j0 + _RUN, bd, bi, r)
                worst = bd[r, m - 1]
        _offer(g, cols, c0, q0 + r, full, w, bd, bi, r)


@njit(cache=True, inline="always")
def _keep(best_d, best_k, best_i, dist, key, p):
    """Insert (dist, key, p) into the sorted k-best lists if it beats the last by (dist, key)."""
    k = best_d.shape[0]
    if dist > best_d[k - 1] or (dist == best_d[k - 1] and key >= best_k[k - 1]):
        return
    t = k - 1
    while t > 0 and (best_d[t - 1] > dist or (best_d[t - 1] == dist and best_k[t - 1] > key)):
        best_d[t] = best_d[t - 1]
        best_k[t] = best_k[t - 1]
        best_i[t] = best_i[t - 1]
        t -= 1
    best_d[t] = dist
    best_k[t] = key
    best_i[t] = p


@njit(cache=True, parallel=True)
def _rerank(X, perm, cand, thr, slack, k, idx, ok):
    """Exact float64 squared distances of each row's candidates; the k nearest (ties by the
    caller's index) into ``idx``; ``ok[r]``: certified (no excluded point can be nearer).
    Row q is the caller's point ``X[perm[q]]`` (no copy of the points in the tree's order)."""
    n, d = cand.shape[0], X.shape[1]
    m = cand.shape[1]
    for q in prange(n):
        best_d = np.full(k, np.inf)
        best_k = np.full(k, np.iinfo(np.int64).max)
        best_i = np.full(k, -1, dtype=np.int64)
        for t in range(m):
            p = cand[q, t]
            if p < 0:
                continue
            _keep(best_d, best_k, best_i, _sq_dist(X, perm[q], perm[p], d), perm[p], p)
        for t in range(k):
            idx[q, t] = best_i[t]
        ok[q] = best_i[k - 1] >= 0 and thr[q] - slack[q] > best_d[k - 1] * (1.0 + _REL)


@njit(cache=True, parallel=True)
def _exact_rows(X, perm, rows, k, idx):
    """Brute-force exact k nearest (ties by the caller's index) of the given rows (row q: the
    caller's point ``X[perm[q]]``)."""
    n, d = X.shape
    for t in prange(rows.shape[0]):
        q = rows[t]
        best_d = np.full(k, np.inf)
        best_k = np.full(k, np.iinfo(np.int64).max)
        best_i = np.full(k, -1, dtype=np.int64)
        for p in range(n):
            if p == q:
                continue
            _keep(best_d, best_k, best_i, _sq_dist(X, perm[q], perm[p], d), perm[p], p)
        for c in range(k):
            idx[q, c] = best_i[c]


@njit(cache=True, nogil=True, inline="always")
def _offer_both(row, sqq, sqc, pc, worstc, q, j0, j1, worst, bd, bi):
    """Offer the values of columns j0..j1 of one row to the row's list and to the columns';
    returns the row's new last value."""
    m = bd.shape[1]
    for j in range(j0, j1):
        v = sqq + sqc[j] - _TWO * row[j]
        if v < worst:
            _insert(bd, bi, q, v, pc[j])
            worst = bd[q, m - 1]
        if v < worstc[j]:
            p = pc[j]
            _insert(bd, bi, p, v, q)
            worstc[j] = bd[p, m - 1]
    return worst


@njit(cache=True, nogil=True)
def _screen_both(P, sq, r0, cols, c0, tri, bd, bi):
    """Offer the float32 squared distances ``sq[q] + sq[p] - 2 P[i, j]`` of the row points
    q = r0 + i and the column points p = cols[j] (or c0 + j if cols is empty) to the sorted lists
    of both q and p (rows of ``bd``, ``bi``): each product of two blocks serves both. ``tri``: only
    j < i (P then holds the lower triangle of a block against itself, r0 = c0). Every list's
    last value is tracked as it moves, so a value is inserted only below it. Runs of _RUN values are
    first tested together against the row's and the columns' current last values (a vectorised
    test): almost all stop there."""
    h, w = P.shape
    m = bd.shape[1]
    gather = cols.shape[0] > 0
    pc = np.empty(w, dtype=np.int64)
    sqc = np.empty(w, dtype=np.float32)
    worstc = np.empty(w, dtype=np.float32)
    for j in range(w):
        p = cols[j] if gather else c0 + j
        pc[j] = p
        sqc[j] = sq[p]
        worstc[j] = bd[p, m - 1]
    for i in range(h):
        q = r0 + i
        sqq = sq[q]
        worst = bd[q, m - 1]
        row = P[i]
        stop = i if tri else w
        full = stop - stop % _RUN
        for j0 in range(0, full, _RUN):
            below = False
            for t in range(_RUN):  # fixed length: the loop vectorises
                v = sqq + sqc[j0 + t] - _TWO * row[j0 + t]
                below |= (v < worst) | (v < worstc[j0 + t])
            if below:
                worst = _offer_both(row, sqq, sqc, pc, worstc, q, j0, j0 + _RUN, worst, bd, bi)
        worst = _offer_both(row, sqq, sqc, pc, worstc, q, full, stop, worst, bd, bi)
        if tri:  # q is column i of the later rows: its list's last value has moved
            worstc[i] = worst


@njit(cache=True, nogil=True, inline="always")
def _any_point_within(Y, reach_pt, s, e, blo, bhi, B):
    """Does any point q of rows ``[s, e)`` of ``Y`` lie within squared distance ``reach_pt[q]`` of
    box B (``blo``, ``bhi``)?"""
    d = Y.shape[1]
    for q in range(s, e):
        gap = 0.0
        for j in range(d):
            y = np.float64(Y[q, j])
            g = max(blo[B, j] - y, y - bhi[B, j])
            if g > 0.0:
                gap += g * g
        if gap <= reach_pt[q]:
            return True
    return False


@njit(cache=True, nogil=True)
def pair_runs(start, end, left, right, lo, hi, reach_sq, L, A, Y, reach_pt, blo, bhi):
    """The leaves M after leaf L in the tree's order that a point of L or of M may need: boxes
    within squared distance ``max(reach_sq[L], reach_sq[M])`` of each other (``reach_sq`` of an
    inner node: the largest of its leaves'; this prunes the traversal), and then a point q of
    either leaf (rows of ``Y``) within ``reach_pt[q]`` of the other leaf's box (``blo``, ``bhi``:
    the boxes of ``Y``'s own values). Those of node A (L's group, already compared) left out. As
    runs ``[runs[t, 0], runs[t, 1])`` of consecutive positions (adjacent leaves merged). Every pair
    of leaves that a point of either needs comes out once, from the earlier leaf."""
    d = lo.shape[1]
    stack = np.empty(512, dtype=np.int64)
    runs = np.empty((64, 2), dtype=np.int64)
    nr = 0
    stack[0] = 0
    top = 1
    own = reach_sq[L]
    after = end[L]
    while top > 0:
        top -= 1
        N = stack[top]
        if N == A or end[N] <= after:  # nothing after L in it
            continue
        if box_gap_between(lo, hi, N, lo, hi, L, d) > max(own, reach_sq[N]):
            continue
        if left[N] == -1:
            # the leaves' boxes are near: does a point of either one reach the other's box?
            if (_any_point_within(Y, reach_pt, start[L], end[L], blo, bhi, N)
                    or _any_point_within(Y, reach_pt, start[N], end[N], blo, bhi, L)):
                runs, nr = _add_run(runs, nr, start[N], end[N])
        else:
            stack[top] = right[N]  # right pushed first: leaves come out in the tree's order
            stack[top + 1] = left[N]
            top += 2
    return runs[:nr].copy()


@njit(cache=True)
def _inner_max(values, left, right):
    """``values`` given on the leaves, filled in on the inner nodes with the largest of their
    leaves' (children have larger ids than their parent)."""
    for N in range(left.shape[0] - 1, -1, -1):
        if left[N] != -1:
            values[N] = max(values[left[N]], values[right[N]])
    return values


def groups_of(leaves, start, end, parent):
    """Each leaf's group: its ancestor ``_UP`` levels up, or the group holding that ancestor when
    leaves of different depths give nested ones. Returns ``(group_nodes, group_of_leaf)``, the
    groups disjoint and in the tree's order."""
    A = leaves.copy()
    for _ in range(_UP):
        A = np.where(parent[A] >= 0, parent[A], A)
    nodes = np.unique(A)
    nodes = nodes[np.lexsort((-end[nodes], start[nodes]))]
    kept, last = [], -1
    for N in nodes:
        if start[N] >= last:
            kept.append(N)
            last = end[N]
    kept = np.asarray(kept, dtype=np.int64)
    at = np.searchsorted(start[kept], start[leaves], side="right") - 1
    return kept, kept[at]


def _group_pass(Y32, sq, g0, g1, bd, bi):
    """Screen the points of one group ``[g0, g1)`` against each other: diagonal tiles by one
    symmetric product (``ssyrk``: half the work of a general one), the rest by general ones."""
    none = np.empty(0, dtype=np.int64)
    for a in range(g0, g1, _GROUP_TILE):
        b = min(a + _GROUP_TILE, g1)
        C = ssyrk(1.0, Y32[a:b].T, trans=1)  # upper triangle of Y Y^T, Fortran order
        _screen_both(C.T, sq, a, none, a, True, bd, bi)
        for a2 in range(b, g1, _GROUP_TILE):
            _screen_both(Y32[a:b] @ Y32[a2:min(a2 + _GROUP_TILE, g1)].T, sq, a, none, a2, False, bd, bi)


class _Reach(NamedTuple):
    """What the second pass prunes with: ``leaf``, the squared reach of each node (a leaf's: the
    largest bound of its points; an inner node's: of its leaves); ``point``, each point's own;
    ``lo``, ``hi``: the nodes' boxes of the float32 points."""

    leaf: np.ndarray
    point: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _stripe_locks(n):
    """One lock per stripe of ``_STRIPE`` consecutive points."""
    return [threading.Lock() for _ in range(n // _STRIPE + 1)]


@contextmanager
def _holding(locks, stripes):
    """Hold the locks of ``stripes`` (sorted): a product's row and column lists are updated
    holding every stripe they touch, taken in increasing order by every thread (no deadlock)."""
    for t in stripes:
        locks[t].acquire()
    try:
        yield
    finally:
        for t in reversed(stripes):
            locks[t].release()


def _owner_pass(Y32, sq, tree, group, reach, owners, bd, bi, locks):
    """Screen each leaf of ``owners`` against the leaves after it within reach (``pair_runs``),
    both ways: one product per block of columns updates the leaf's lists and the columns'. (A
    leaf of many equal points, which the tree cannot split, is taken ``_GROUP_TILE`` rows at a
    time: the products stay bounded.)"""
    _, start, end, left, right, lo, hi = tree
    none = np.empty(0, dtype=np.int64)

    def screen(r0, r1, c0, c1, cols):
        P = Y32[r0:r1] @ (Y32[c0:c1] if cols is None else Y32[cols]).T
        touched = set(range(r0 // _STRIPE, (r1 - 1) // _STRIPE + 1))
        touched.update(range(c0 // _STRIPE, (c1 - 1) // _STRIPE + 1) if cols is None else np.unique(cols // _STRIPE).tolist())
        with _holding(locks, sorted(touched)):
            _screen_both(P, sq, r0, none if cols is None else cols, c0, False, bd, bi)

    for L in owners:
        s, e = int(start[L]), int(end[L])
        runs = pair_runs(start, end, left, right, lo, hi, reach.leaf, L, group[L], Y32, reach.point, reach.lo, reach.hi)
        long = runs[:, 1] - runs[:, 0] >= _DIRECT
        for r0 in range(s, e, _GROUP_TILE):
            r1 = min(r0 + _GROUP_TILE, e)
            for a, b in runs[long]:  # long runs: products straight on the stored rows, no copy
                for c0 in range(int(a), int(b), _COLS):
                    screen(r0, r1, c0, min(c0 + _COLS, int(b)), None)
            if not long.all():  # the short ones gathered into blocks
                cols = np.concatenate([np.arange(a, b) for a, b in runs[~long]])
                for c0 in range(0, cols.shape[0], _COLS):
                    screen(r0, r1, 0, 0, cols[c0:c0 + _COLS])


def parents(left, right):
    """Each node's parent in a KD-tree (-1 for the root)."""
    parent = np.full(left.shape[0], -1, dtype=np.int64)
    inner = np.flatnonzero(left >= 0)
    parent[left[inner]] = inner
    parent[right[inner]] = inner
    return parent


def screen_operands(Ys):
    """The float32 operands of the screen, ``(queries [y, 1], points [-2 y, |y|^2], |y|^2)``: one
    product of a query and a point gives ``|y|^2 - 2 x.y``."""
    n, d = Ys.shape
    Xq = np.empty((n, d + 1), dtype=np.float32)
    Xq[:, :d] = Ys
    Xq[:, d] = 1.0
    Y32 = Xq[:, :d]
    sq = np.einsum("ij,ij->i", Y32, Y32)
    Xp = np.empty((n, d + 1), dtype=np.float32)
    np.multiply(Y32, -2.0, out=Xp[:, :d])
    Xp[:, d] = sq
    return Xq, Xp, sq


def knn_blocks(X, k, leafsize, bar=None):
    """Exact kNN by KD-tree leaves and float32 GEMM screening (see the module's docstring).

    Returns ``(perm, idx, tree)``: the KD-tree's order ``perm`` and arrays
    ``(None, start, end, left, right, lo, hi)`` (no copy of its points ``X[perm]``; the boxes are
    of them, in the caller's axes), and the (n, k) neighbour indices in that order
    (self excluded), sorted by exact distance, ties by the caller's index. Distances are left
    to the caller (:func:`topotree.graph.knn_local` computes them one way for every method).
    """
    n, d = X.shape
    # the tree is built on the centred points in their principal axes (an exact rotation up to
    # rounding): on anisotropic clusters its boxes are far tighter (half the candidates at d = 32)
    # (the rotated points are a temporary: the tree permutes them in place, no n x d copy more)
    Y = X - X.mean(axis=0)
    _, V = np.linalg.eigh(Y.T @ Y)
    V = np.ascontiguousarray(V[:, ::-1])
    for r0 in range(0, n, _ROTATE_ROWS):  # rotated in place, by row blocks: no second n x d array
        Y[r0:r0 + _ROTATE_ROWS] = Y[r0:r0 + _ROTATE_ROWS] @ V
    Ys, perm, start, end, left, right, lo, hi = build_kdtree(Y, leafsize, overwrite=True)
    leaves = np.flatnonzero(left == -1)
    leaves = leaves[np.argsort(start[leaves], kind="stable")]  # in the tree's order
    parent = parents(left, right)
    m = min(n - 1, k + _MARGIN)
    Y32 = Ys.astype(np.float32)
    sq = np.einsum("ij,ij->i", Y32, Y32)
    # the screen's value sq[x] + sq[y] - 2 x.y (float32) differs from the distance |x - y|^2 by the
    # float32 rounding of the inputs and the products: at most (d + 8) u (|x| + |y|)^2; the
    # rotation moves squared distances by the float64 analogue, u = 2**-53
    norm = np.sqrt(np.einsum("ij,ij->i", Ys, Ys))
    slack = _ERR * (d + 8) * 2.0**-24 * (norm + norm.max()) ** 2
    norm_max = float(norm.max())
    slack64 = _ERR * (d + 8) * 2.0**-53 * (2.0 * norm_max) ** 2
    del Y, Ys, norm  # the screen needs only the float32 copy and the boxes from here on
    tree = (None, start, end, left, right, lo, hi)
    bd = np.full((n, m), np.inf, dtype=np.float32)
    cand = np.full((n, m), -1, dtype=np.int32 if n < 2**31 else np.int64)  # int32: half the memory
    nt = worker_threads()
    groups, group = groups_of(leaves, start, end, parent)
    with blas_per_worker():  # our threads, one BLAS thread each: no two pools spinning
        with ThreadPoolExecutor(nt) as ex:
            # 1. every group (~8 leaves) against itself: bounds every point's k-th distance
            list(ex.map(lambda G: _group_pass(Y32, sq, int(start[G]), int(end[G]), bd, cand), groups))
            # an upper bound of the k-th neighbour distance of every point of each leaf
            upper = bd[:, k - 1].astype(np.float64) + slack
            reach_sq = np.zeros(left.shape[0])
            reach_sq[leaves] = np.maximum.reduceat(upper, start[leaves]) * (1.0 + _REL) + slack64
            _inner_max(reach_sq, left, right)
            # each point's own bound, for its float32 coordinates (rounded by at most u |y| each:
            # distances between them move by at most 2 u max|y|) against the leaves' boxes of them
            reach = _Reach(reach_sq, (np.sqrt(upper) + 2.0**-23 * norm_max) ** 2 * (1.0 + _REL) + slack64,
                           *_boxes(Y32, start, end, left, right))
            # 2. every pair of leaves of different groups within either one's bound, once, both ways
            group_of = np.empty(left.shape[0], dtype=np.int64)
            group_of[leaves] = group
            locks = _stripe_locks(n)

            def work(owners):
                _owner_pass(Y32, sq, tree, group_of, reach, owners, bd, cand, locks)
                if bar is not None:
                    bar.update(int((end[owners] - start[owners]).sum()))

            list(ex.map(work, np.array_split(leaves, min(leaves.shape[0], nt * _OWNER_CHUNKS_PER_THREAD))))
    thr = bd[:, m - 1].astype(np.float64)
    del bd, Y32, sq, reach  # the screen's arrays: the re-ranking needs only the candidates
    idx = np.empty((n, k), dtype=np.int64)
    ok = np.empty(n, dtype=np.bool_)
    # the caller's points read through perm: no n x d copy in the tree's order beside the lists
    _rerank(X, perm, cand, thr, slack, k, idx, ok)
    del cand, thr
    bad = np.flatnonzero(~ok)
    if bad.shape[0]:
        _exact_rows(X, perm, bad, k, idx)
    lo, hi = _boxes(X, start, end, left, right, perm)  # the same nodes, boxed in the caller's axes
    return perm, idx, (None, start, end, left, right, lo, hi)


@njit(cache=True)
def _boxes(Xs, start, end, left, right, order=None):
    """Bounding boxes of the tree's nodes for the points ``Xs`` in the tree's order, or, with
    ``order``, for the points ``Xs[order]`` (children have larger ids)."""
    m, d = start.shape[0], Xs.shape[1]
    lo = np.empty((m, d))
    hi = np.empty((m, d))
    for N in range(m - 1, -1, -1):
        if left[N] == -1:
            lo[N] = np.inf
            hi[N] = -np.inf
            for p in range(start[N], end[N]):
                r = p if order is None else order[p]
                for j in range(d):
                    lo[N, j] = min(lo[N, j], Xs[r, j])
                    hi[N, j] = max(hi[N, j], Xs[r, j])
        else:
            a, b = left[N], right[N]
            for j in range(d):
                lo[N, j] = min(lo[a, j], lo[b, j])
                hi[N, j] = max(hi[a, j], hi[b, j])
    return lo, hi
