"""Exact all-k-nearest-neighbours with a KD-tree, queried leaf by leaf (numba, all cores).

The points of one leaf are queried together: one traversal per leaf, pruned by the distance
between the leaf's bounding box and each node's, then per query point by its current k-th
distance. Leaves are processed in parallel.

References
----------
Friedman, J. H., Bentley, J. L. and Finkel, R. A. (1977). An algorithm for finding best matches in
logarithmic expected time. ACM Trans. Math. Softw. 3(3).
Gray, A. G. and Moore, A. W. (2001). N-body problems in statistical learning. NIPS.
"""
import numpy as np
from numba import njit, parallel_chunksize, prange


@njit(cache=True)
def _select(Xs, perm, lo, hi, kth, dim):
    """Reorder rows lo..hi of ``Xs`` (and of ``perm``) so that row kth holds their median by
    coordinate ``dim``, smaller rows before it and larger after (quickselect, median of three)."""
    d = Xs.shape[1]
    while hi > lo:
        a, b, c = Xs[lo, dim], Xs[(lo + hi) // 2, dim], Xs[hi, dim]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = lo, hi
        while i <= j:
            while Xs[i, dim] < pivot:
                i += 1
            while Xs[j, dim] > pivot:
                j -= 1
            if i <= j:
                for t in range(d):
                    Xs[i, t], Xs[j, t] = Xs[j, t], Xs[i, t]
                perm[i], perm[j] = perm[j], perm[i]
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            return


@njit(cache=True, parallel=True)
def _split_level(Xs, perm, start, end, left, right, lo, hi, nodes, leafsize, first_child):
    """Bounding boxes of one level's nodes; split those larger than a leaf at their median along
    the widest axis. Children of the t-th splitting node get ids ``first_child + 2 t, + 1``."""
    d = Xs.shape[1]
    m = nodes.shape[0]
    dims = np.full(m, -1, dtype=np.int64)
    for t in prange(m):
        node = nodes[t]
        s, e = start[node], end[node]
        for j in range(d):
            lo[node, j] = np.inf
            hi[node, j] = -np.inf
        for p in range(s, e):
            for j in range(d):
                v = Xs[p, j]
                if v < lo[node, j]:
                    lo[node, j] = v
                if v > hi[node, j]:
                    hi[node, j] = v
        if e - s > leafsize:
            width = -1.0
            for j in range(d):
                if hi[node, j] - lo[node, j] > width:
                    width = hi[node, j] - lo[node, j]
                    dims[t] = j
            if width <= 0.0:  # all points identical: keep as one (large) leaf
                dims[t] = -1
    child = np.full(m, -1, dtype=np.int64)
    c = first_child
    for t in range(m):
        if dims[t] >= 0:
            child[t] = c
            c += 2
    for t in prange(m):
        if dims[t] >= 0:
            node = nodes[t]
            s, e = start[node], end[node]
            mid = (s + e) // 2
            _select(Xs, perm, s, e - 1, mid, dims[t])
            a = child[t]
            start[a], end[a], start[a + 1], end[a + 1] = s, mid, mid, e
            left[node], right[node] = a, a + 1
    return c


def build_kdtree(X, leafsize, overwrite=False):
    """Return ``(Xs, perm, start, end, left, right, lo, hi)``: median splits on the widest axis.

    ``overwrite=True`` permutes ``X`` itself in place when it is already a C-contiguous float64
    array (then ``Xs`` is ``X``): one n x d copy less, for callers whose ``X`` is a temporary.

    ``Xs = X[perm]`` is the points in the tree's order; node i holds rows ``start[i]:end[i]``,
    its children are ``left[i]``, ``right[i]`` (-1 for a leaf), its bounding box ``lo[i]``, ``hi[i]``.
    Built level by level, the nodes of a level in parallel.
    """
    n, d = X.shape
    cap = 2 * (n // max(1, leafsize // 2) + 1) + 1
    start = np.empty(cap, dtype=np.int64)
    end = np.empty(cap, dtype=np.int64)
    left = np.full(cap, -1, dtype=np.int64)
    right = np.full(cap, -1, dtype=np.int64)
    lo = np.empty((cap, d))
    hi = np.empty((cap, d))
    if leafsize < 1:
        raise ValueError(f"leafsize must be a positive integer, got {leafsize}")
    reuse = overwrite and isinstance(X, np.ndarray) and X.dtype == np.float64 and X.flags.c_contiguous \
        and X.flags.writeable
    Xs = X if reuse else np.array(X, dtype=np.float64, order="C", copy=True)
    perm = np.arange(n, dtype=np.int64)
    start[0], end[0] = 0, n
    level_lo, level_hi = 0, 1
    while level_hi > level_lo:
        nodes = np.arange(level_lo, level_hi, dtype=np.int64)
        with parallel_chunksize(max(1, nodes.shape[0] // 64)):  # dynamic: a slow core slows no level
            m = _split_level(Xs, perm, start, end, left, right, lo, hi, nodes, leafsize, level_hi)
        level_lo, level_hi = level_hi, m
    m = level_hi
    return Xs, perm, start[:m], end[:m], left[:m], right[:m], lo[:m], hi[:m]


@njit(cache=True, nogil=True, inline="always", fastmath={"reassoc", "contract", "arcp", "nsz"})
def box_gap_between(lo, hi, a, qlo, qhi, b, d):
    """Squared distance between box a of one tree (``lo``, ``hi``) and box b of another (or the same)."""
    s = 0.0
    for j in range(d):
        g = lo[a, j] - qhi[b, j]
        g2 = qlo[b, j] - hi[a, j]
        if g2 > g:
            g = g2
        if g > 0.0:
            s += g * g
    return s


@njit(cache=True, inline="always")
def _box_gap(lo, hi, a, b, d):
    """Squared distance between boxes a and b of one tree."""
    return box_gap_between(lo, hi, a, lo, hi, b, d)


@njit(cache=True, inline="always")
def _point_gap(lo, hi, N, X, q):
    """Squared distance from point ``X[q]`` to the bounding box of node N."""
    s = 0.0
    for j in range(X.shape[1]):
        x = X[q, j]
        g = lo[N, j] - x
        if x - hi[N, j] > g:
            g = x - hi[N, j]
        if g > 0.0:
            s += g * g
    return s


@njit(cache=True, inline="always")
def _insert(best_d, best_i, r, dist, p):
    """Put (dist, p) into row r of the k-best lists, kept sorted (dist beats the current k-th, or
    the list is not full yet)."""
    t = best_d.shape[1] - 1
    # empty slots (index -1, distance inf) are passed over too, so an infinite distance fills the
    # first empty slot rather than the last; for finite distances the second test never decides
    while t > 0 and (best_d[r, t - 1] > dist or best_i[r, t - 1] < 0):
        best_d[r, t] = best_d[r, t - 1]
        best_i[r, t] = best_i[r, t - 1]
        t -= 1
    best_d[r, t] = dist
    best_i[r, t] = p


# reassociation lets the distance loop vectorise (2-3x faster in 8 dims); no 'nnan'/'ninf' flags,
# since the bounds start at inf
_FAST = {"reassoc", "contract", "arcp", "nsz"}


@njit(cache=True, parallel=True, fastmath=_FAST)
def query_leaves(Xs, start, end, left, right, lo, hi, leaves, k, out_d, out_i, work):
    """k nearest neighbours (the point itself excluded) of the points of ``leaves``.

    Everything is in the tree's numbering (``Xs = X[perm]``): row i of ``out_d`` (distances) and
    ``out_i`` (indices) belongs to ``Xs[i]``, sorted by distance. ``work[j]``: the number of
    point-to-point distances leaf ``leaves[j]`` computed (how well the tree prunes here).
    """
    d = Xs.shape[1]
    for li in prange(leaves.shape[0]):
        L = leaves[li]
        s, e = start[L], end[L]
        m = e - s
        best_d = np.full((m, k), np.inf)
        best_i = np.full((m, k), -1, dtype=np.int64)
        stack = np.empty(512, dtype=np.int64)
        stack[0] = 0
        top = 1
        bound = np.inf
        evaluated = 0
        while top > 0:
            top -= 1
            N = stack[top]
            if _box_gap(lo, hi, N, L, d) > bound:
                continue
            if left[N] == -1:
                for q in range(s, e):
                    r = q - s
                    worst = best_d[r, k - 1]
                    if _point_gap(lo, hi, N, Xs, q) > worst:
                        continue
                    evaluated += end[N] - start[N]
                    for p in range(start[N], end[N]):
                        if p == q:
                            continue
                        dist = 0.0
                        for j in range(d):  # no early exit: the full loop vectorises
                            diff = Xs[q, j] - Xs[p, j]
                            dist += diff * diff
                        # the second test fills the list even with infinite distances, so no
                        # row is ever left with index -1 (which later kernels would write through)
                        if dist < worst or best_i[r, k - 1] < 0:
                            _insert(best_d, best_i, r, dist, p)
                            worst = best_d[r, k - 1]
                bound = 0.0
                for r in range(m):
                    if best_d[r, k - 1] > bound:
                        bound = best_d[r, k - 1]
            else:
                a, b = left[N], right[N]
                ga = _box_gap(lo, hi, a, L, d)
                gb = _box_gap(lo, hi, b, L, d)
                if ga <= gb:  # push the farther child first: the nearer is visited first
                    stack[top] = b
                    stack[top + 1] = a
                else:
                    stack[top] = a
                    stack[top + 1] = b
                top += 2
        for r in range(m):
            for t in range(k):
                out_d[s + r, t] = np.sqrt(best_d[r, t])
                out_i[s + r, t] = best_i[r, t]
        work[li] = evaluated


@njit(cache=True, parallel=True, fastmath=_FAST)
def tree_distances(Xs, idx, row0, out, rows=None):
    """``out[i, j] = |Xs[row0 + i] - Xs[idx[i, j]]|`` by :func:`query_leaves`' own distance loop
    and floating-point flags (the same bits), for neighbours another search found; with
    ``rows``, point i is ``Xs[rows[i]]``."""
    d = Xs.shape[1]
    for i in prange(idx.shape[0]):
        q = row0 + i if rows is None else rows[row0 + i]
        for t in range(idx.shape[1]):
            p = idx[i, t] if rows is None else rows[idx[i, t]]
            dist = 0.0
            for j in range(d):
                diff = Xs[q, j] - Xs[p, j]
                dist += diff * diff
            out[i, t] = np.sqrt(dist)


@njit(cache=True)
def node_labels(start, end, left, right, label):
    """Per node, the label shared by all its points (``label`` in the tree's order), or -1."""
    m = start.shape[0]
    out = np.empty(m, dtype=np.int64)
    for node in range(m - 1, -1, -1):  # children have larger ids than their parent
        if left[node] == -1:
            lab = label[start[node]]
            for p in range(start[node] + 1, end[node]):
                if label[p] != lab:
                    lab = -1
                    break
            out[node] = lab
        else:
            a, b = out[left[node]], out[right[node]]
            out[node] = a if a == b else -1
    return out


@njit(cache=True, fastmath=_FAST, nogil=True)
def nearest_with_label(Xs, start, end, left, right, lo, hi, node_label, label, queries, target, k):
    """The k nearest points labelled ``target`` of each row of ``queries`` (coordinates).

    Returns squared distances and indices (tree numbering), (q, k) each, sorted; subtrees whose
    points all carry another label are skipped.
    """
    d = Xs.shape[1]
    nq = queries.shape[0]
    out_d = np.full((nq, k), np.inf)
    out_i = np.full((nq, k), -1, dtype=np.int64)
    stack = np.empty(512, dtype=np.int64)
    for q in range(nq):
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            N = stack[top]
            lab = node_label[N]
            if lab != -1 and lab != target:
                continue
            if _point_gap(lo, hi, N, queries, q) > out_d[q, k - 1]:
                continue
            if left[N] == -1:
                for p in range(start[N], end[N]):
                    if label[p] != target:
                        continue
                    dist = 0.0
                    for j in range(d):
                        diff = queries[q, j] - Xs[p, j]
                        dist += diff * diff
                    if dist < out_d[q, k - 1] or out_i[q, k - 1] < 0:
                        _insert(out_d, out_i, q, dist, p)
            else:
                a, b = left[N], right[N]
                ca = 0.0
                cb = 0.0
                for j in range(d):  # visit the child whose box centre is nearer first
                    x = queries[q, j]
                    ua = x - 0.5 * (lo[a, j] + hi[a, j])
                    ub = x - 0.5 * (lo[b, j] + hi[b, j])
                    ca += ua * ua
                    cb += ub * ub
                if ca <= cb:
                    stack[top] = b
                    stack[top + 1] = a
                else:
                    stack[top] = a
                    stack[top + 1] = b
                top += 2
    return out_d, out_i
