"""Exact all-k-nearest-neighbours in many dimensions: KD-tree leaves against their candidate
leaves, distances screened by float32 matrix products (BLAS), the survivors re-ranked exactly.

Above ~16 dimensions a KD-tree prunes whole clusters but little inside one, and a scalar
distance loop is several times slower than a matrix product. So each leaf's points are compared
with every point of the leaves its bounding box could reach (pruned by the k-th distance inside
the leaf itself, an upper bound of every point's k-th neighbour distance), by float32 GEMMs
(``Xq @ Xc.T``) on the runs of consecutive stored points those leaves form (in place, no copy;
short runs gathered), keeping ``k + _MARGIN`` candidates a point. The candidates' distances
are then computed exactly in float64 and the k nearest kept; a point is certified when its
screening threshold, less a bound of the float32 rounding error, still exceeds its exact k-th
distance (then no excluded point can be nearer); the rare point that is not is searched exactly
by brute force. The result is the exact kNN (ties aside), whatever the float32 rounding.

References
----------
Friedman, J. H., Bentley, J. L. and Finkel, R. A. (1977). An algorithm for finding best matches in
logarithmic expected time. ACM Trans. Math. Softw. 3(3).
Johnson, J., Douze, M. and Jegou, H. (2019). Billion-scale similarity search with GPUs. IEEE
Trans. Big Data (the GEMM-plus-selection form of brute-force search, as in faiss).
Higham, N. J. (2002). Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM, section 3.1
(the bound on the rounding error of a dot product used to certify the float32 screen).
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit, prange

from ._kdtree import box_gap_between, build_kdtree
from ._threads import blas_per_worker, worker_threads

_MARGIN = 16  # candidates kept a point beyond k: the float32 screen's slack for exact re-ranking
_COLS = 4096  # candidate points a GEMM: a (leaf x _COLS) float32 block, 2 MB for leaves of 128
_DIRECT = 512  # runs of consecutive candidate points at least this long enter the GEMM in place
_UP = 3  # a leaf is first screened against its ancestor this many levels up (~8 leaves)
_RUN = 32  # the screen tests runs of this many values together first
_CHUNKS_PER_THREAD = 8  # leaves are handed to the threads in this many chunks each
_ERR = 4.0  # safety factor on the float32 rounding bound (d + 8) u (|x| + |y|)^2, u = 2**-24
_REL = 1e-12  # relative tolerance of float64 comparisons of pruning bounds


@njit(cache=True, inline="always")
def _sq_dist(Xs, q, p, d):
    """Exact float64 squared distance of rows q and p (the re-ranking's one formula)."""
    dist = 0.0
    for j in range(d):
        diff = Xs[q, j] - Xs[p, j]
        dist += diff * diff
    return dist


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
            if nr > 0 and runs[nr - 1, 1] == start[N]:
                runs[nr - 1, 1] = end[N]  # the leaf right after the last run's end: extend it
                continue
            if nr == runs.shape[0]:
                grown = np.empty((2 * nr, 2), dtype=np.int64)
                grown[:nr] = runs
                runs = grown
            runs[nr, 0] = start[N]
            runs[nr, 1] = end[N]
            nr += 1
        else:
            stack[top] = right[N]  # right pushed first: leaves come out in the tree's order
            stack[top + 1] = left[N]
            top += 2
    return runs[:nr].copy()


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
            t = m - 1
            while t > 0 and bd[r, t - 1] > v:
                bd[r, t] = bd[r, t - 1]
                bi[r, t] = bi[r, t - 1]
                t -= 1
            bd[r, t] = v
            bi[r, t] = p


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
def _rerank(Xs, perm, cand, thr, slack, k, idx, ok):
    """Exact float64 squared distances of each row's candidates; the k nearest (ties by the
    caller's index) into ``idx``; ``ok[r]``: certified (no excluded point can be nearer)."""
    n, d = Xs.shape
    m = cand.shape[1]
    for q in prange(n):
        best_d = np.full(k, np.inf)
        best_k = np.full(k, np.iinfo(np.int64).max)
        best_i = np.full(k, -1, dtype=np.int64)
        for t in range(m):
            p = cand[q, t]
            if p < 0:
                continue
            _keep(best_d, best_k, best_i, _sq_dist(Xs, q, p, d), perm[p], p)
        for t in range(k):
            idx[q, t] = best_i[t]
        ok[q] = best_i[k - 1] >= 0 and thr[q] - slack[q] > best_d[k - 1] * (1.0 + _REL)


@njit(cache=True, parallel=True)
def _exact_rows(Xs, perm, rows, k, idx):
    """Brute-force exact k nearest (ties by the caller's index) of the given rows."""
    n, d = Xs.shape
    for t in prange(rows.shape[0]):
        q = rows[t]
        best_d = np.full(k, np.inf)
        best_k = np.full(k, np.iinfo(np.int64).max)
        best_i = np.full(k, -1, dtype=np.int64)
        for p in range(n):
            if p == q:
                continue
            _keep(best_d, best_k, best_i, _sq_dist(Xs, q, p, d), perm[p], p)
        for c in range(k):
            idx[q, c] = best_i[c]


def _leaf_pass(Xq, Xp, sq, slack, slack64, tree, parent, leaves, k, cand, thr):
    """Screen the leaves ``leaves``: first against the points of their ancestor ``_UP`` levels up
    (one contiguous block), whose screen bounds every point's k-th distance; then against the
    points of the other leaves within that bound. One thread, BLAS on one thread."""
    Xs, start, end, left, right, lo, hi = tree
    m = cand.shape[1]
    none = np.empty(0, dtype=np.int64)
    for L in leaves:
        s, e = int(start[L]), int(end[L])
        A = L
        for _ in range(_UP):
            if parent[A] >= 0:
                A = parent[A]
        a0, a1 = int(start[A]), int(end[A])
        bd = np.full((e - s, m), np.inf, dtype=np.float32)
        bi = np.full((e - s, m), -1, dtype=np.int64)
        Q = Xq[s:e]
        _screen(Q @ Xp[a0:a1].T, none, a0, s, bd, bi)
        # an upper bound of the k-th neighbour distance of every point of the leaf
        bound = float(np.max(bd[:, k - 1].astype(np.float64) + sq[s:e] + slack[s:e])) * (1.0 + _REL) + slack64
        runs = reach(start, end, left, right, lo, hi, lo, hi, L, A, bound)
        long = runs[:, 1] - runs[:, 0] >= _DIRECT
        for a, b in runs[long]:  # long runs: products straight on the stored rows, no copy
            for c0 in range(int(a), int(b), _COLS):
                _screen(Q @ Xp[c0:min(c0 + _COLS, int(b))].T, none, c0, s, bd, bi)
        if not long.all():  # the short ones gathered into blocks
            cols = np.concatenate([np.arange(a, b) for a, b in runs[~long]])
            for c0 in range(0, cols.shape[0], _COLS):
                c = cols[c0:c0 + _COLS]
                _screen(Q @ Xp[c].T, c, 0, s, bd, bi)
        cand[s:e] = bi
        thr[s:e] = bd[:, m - 1]


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
    ``(Xs, start, end, left, right, lo, hi)``, and the (n, k) neighbour indices in that order
    (self excluded), sorted by exact distance, ties by the caller's index. Distances are left
    to the caller (:func:`topotree.graph.knn_local` computes them one way for every method).
    """
    n, d = X.shape
    # the tree is built on the centred points in their principal axes (an exact rotation up to
    # rounding): on anisotropic clusters its boxes are far tighter (half the candidates at d = 32)
    # (the rotated points are a temporary: the tree permutes them in place, no n x d copy more)
    Xc = X - X.mean(axis=0)
    _, V = np.linalg.eigh(Xc.T @ Xc)
    Y = Xc @ V[:, ::-1]
    del Xc
    Ys, perm, start, end, left, right, lo, hi = build_kdtree(Y, leafsize, overwrite=True)
    leaves = np.flatnonzero(left == -1)
    parent = parents(left, right)
    m = min(n - 1, k + _MARGIN)
    Xq, Xp, sq = screen_operands(Ys)
    # the screen's value is |y|^2 - 2 x.y; the distance |x - y|^2 differs from it, plus |x|^2, by
    # the float32 rounding of the inputs and the products: at most (d + 8) u (|x| + |y|)^2; the
    # rotation moves squared distances by the float64 analogue, u = 2**-53
    norm = np.sqrt(np.einsum("ij,ij->i", Ys, Ys))
    slack = _ERR * (d + 8) * 2.0**-24 * (norm + norm.max()) ** 2
    slack64 = _ERR * (d + 8) * 2.0**-53 * (2.0 * norm.max()) ** 2
    del Y, Ys  # the screen needs only their float32 copies and the boxes from here on
    Xs = X[perm]
    tree = (None, start, end, left, right, lo, hi)
    cand = np.empty((n, m), dtype=np.int64)
    thr = np.empty(n)
    nt = worker_threads()
    chunks = np.array_split(leaves, min(leaves.shape[0], nt * _CHUNKS_PER_THREAD))

    def work(chunk):
        _leaf_pass(Xq, Xp, sq, slack, slack64, tree, parent, chunk, k, cand, thr)
        if bar is not None:
            bar.update(int((end[chunk] - start[chunk]).sum()))

    with blas_per_worker():  # our threads, one BLAS thread each: no two pools spinning
        with ThreadPoolExecutor(nt) as ex:
            list(ex.map(work, chunks))
    thr = thr + sq.astype(np.float64)
    idx = np.empty((n, k), dtype=np.int64)
    ok = np.empty(n, dtype=np.bool_)
    _rerank(Xs, perm, cand, thr, slack, k, idx, ok)
    bad = np.flatnonzero(~ok)
    if bad.shape[0]:
        _exact_rows(Xs, perm, bad, k, idx)
    lo, hi = _boxes(Xs, start, end, left, right)  # the same nodes, boxed in the caller's axes
    return perm, idx, (Xs, start, end, left, right, lo, hi)


@njit(cache=True)
def _boxes(Xs, start, end, left, right):
    """Bounding boxes of the tree's nodes for the points ``Xs`` (children have larger ids)."""
    m, d = start.shape[0], Xs.shape[1]
    lo = np.empty((m, d))
    hi = np.empty((m, d))
    for N in range(m - 1, -1, -1):
        if left[N] == -1:
            for j in range(d):
                lo[N, j] = Xs[start[N], j]
                hi[N, j] = Xs[start[N], j]
            for p in range(start[N] + 1, end[N]):
                for j in range(d):
                    lo[N, j] = min(lo[N, j], Xs[p, j])
                    hi[N, j] = max(hi[N, j], Xs[p, j])
        else:
            a, b = left[N], right[N]
            for j in range(d):
                lo[N, j] = min(lo[a, j], lo[b, j])
                hi[N, j] = max(hi[a, j], hi[b, j])
    return lo, hi
