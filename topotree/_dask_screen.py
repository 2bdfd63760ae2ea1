"""Exact kNN of a Dask array in many dimensions: one link of a row block's chain, the leaves of
the row block's KD-tree against the leaves of a column block's within reach, screened by float32
matrix products, the survivors re-ranked exactly.

The in-memory search (:mod:`topotree._knn_blocks`), cut along blocks; used where it would be
(above 16 dimensions, and from 10 where the KD-tree prunes too little:
:func:`topotree._dask_knn.screen_pays`). Each block is put once into a common principal frame
(the centre and axes of a sample: tight boxes on anisotropic clouds) and a KD-tree; a link folds
one column block into the row block's k-best lists. For each leaf of the row block, the column
leaves whose boxes lie within the leaf's current largest k-th distance are multiplied in float32
against it (``|y|^2 - 2 x.y``, one product per run of consecutive points); each row keeps its
``k + _MARGIN`` smallest values below its current k-th distance plus a bound of the float32 and
rotation rounding, whose distances are then computed exactly in float64 from the original
coordinates (the in-memory re-ranking's formula) and merged, ties by index. A row is certified
when no value it left out can be nearer than its new k-th distance; the rare other row is folded
value by value. So no point is dropped by rounding and the lists hold the exact k nearest (ties
aside), whatever the blocks. The own block goes first: each leaf against its ancestor ``_UP``
levels up, then the rest in reach.

Distances are reported by the in-memory formulas too (up to 16 dimensions the KD-tree's loop,
above :func:`topotree.graph.exact_distances`' difference norm), so the lists equal the in-memory
ones.

References
----------
Friedman, J. H., Bentley, J. L. and Finkel, R. A. (1977). An algorithm for finding best matches in
logarithmic expected time. ACM Trans. Math. Softw. 3(3).
Johnson, J., Douze, M. and Jegou, H. (2019). Billion-scale similarity search with GPUs. IEEE
Trans. Big Data.
Higham, N. J. (2002). Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM, section 3.1.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ._kdtree import _FAST, build_kdtree
from ._knn_blocks import _COLS, _DIRECT, _ERR, _MARGIN, _REL, _RUN, _UP, _screen, parents, reach, screen_operands
from .graph import _DIFF_BYTES, _KDTREE_MAX_DIM, _block_leafsize

_U32 = 2.0**-24  # unit roundoff of float32
_U64 = 2.0**-53  # and of float64
_NO_SELF = -(2**62)  # row offset for the float32 screen of another block: no column is the row itself


class Frame(NamedTuple):
    """The common principal frame of every block: ``y = (x - centre) @ axes``."""

    centre: np.ndarray
    axes: np.ndarray


class ScreenBlock(NamedTuple):
    """One block, ready to be screened against: its KD-tree in the common frame.

    The first eight fields are laid out as a KD-tree block of the few-dimensional search
    (:func:`topotree._dask_knn.needed_columns` reads ``start``, ``left``, ``lo``, ``hi``)."""

    X: np.ndarray  # (m, d) float64: the original coordinates, in the tree's order
    gidx: np.ndarray  # (m,) int64: the points' global row numbers
    start: np.ndarray
    end: np.ndarray
    left: np.ndarray
    right: np.ndarray
    lo: np.ndarray  # node boxes, in the common frame
    hi: np.ndarray
    query: np.ndarray  # (m, d + 1) float32: [y, 1]
    point: np.ndarray  # (m, d + 1) float32: [-2 y, |y|^2]
    sq: np.ndarray  # (m,) float64: |y|^2 of the float32 y
    norm: np.ndarray  # (m,) float64: |y|
    parent: np.ndarray


def principal_frame(S) -> Frame:
    """Centre and principal axes (largest variance first) of the sample ``S``."""
    S = np.asarray(S, dtype=np.float64)
    centre = S.mean(axis=0) if S.shape[0] else np.zeros(S.shape[1])
    C = S - centre
    _, V = np.linalg.eigh(C.T @ C)
    return Frame(centre, np.ascontiguousarray(V[:, ::-1]))


def screen_block(Xb, offset, frame) -> ScreenBlock:
    """A block's KD-tree in the common frame, with the float32 operands of the screen."""
    X = np.ascontiguousarray(Xb, dtype=np.float64)
    m, d = X.shape
    Y = (X - frame.centre) @ frame.axes
    Ys, perm, start, end, left, right, lo, hi = build_kdtree(np.ascontiguousarray(Y), _block_leafsize(d),
                                                            overwrite=True)
    query, point, sq32 = screen_operands(Ys)
    return ScreenBlock(X[perm], perm.astype(np.int64) + int(offset), start, end, left, right, lo, hi, query, point,
                       sq32.astype(np.float64), np.sqrt(np.einsum("ij,ij->i", Ys, Ys)), parents(left, right))


@njit(cache=True, nogil=True, inline="always")
def _exact(A, q, B, p, d):
    """The exact float64 squared distance of ``A[q]`` and ``B[p]``: ``_knn_blocks._sq_dist``'s loop
    (the in-memory re-ranking's formula, the same bits) across two arrays."""
    dist = 0.0
    for j in range(d):
        diff = A[q, j] - B[p, j]
        dist += diff * diff
    return dist


@njit(cache=True, nogil=True, fastmath=_FAST)
def _tree_formula(A, rows, B, cols, out):
    """``out[i] = |A[rows[i]] - B[cols[i]]|`` by the KD-tree query's own loop and floating-point
    flags (:func:`topotree._kdtree.tree_distances`: the same bits), the distance reported up to
    16 dims."""
    d = A.shape[1]
    for i in range(rows.shape[0]):
        q, p = rows[i], cols[i]
        dist = 0.0
        for j in range(d):
            diff = A[q, j] - B[p, j]
            dist += diff * diff
        out[i] = np.sqrt(dist)


@njit(cache=True, nogil=True, inline="always")
def _put(best_e, best_i, best_d, fresh, q, e, gp, p):
    """Insert (squared distance e, global index gp, column position p) into row q's sorted
    k-best lists if it beats the last by (distance, index); its distance is filled in later."""
    k = best_e.shape[1]
    last = best_e[q, k - 1]
    if e > last or (e == last and best_i[q, k - 1] >= 0 and gp >= best_i[q, k - 1]):
        return
    s = k - 1
    if best_i[q, s] < 0:  # not full: start at the first free slot (the filled ones come first)
        a = 0
        while a < s:
            mid = (a + s) // 2
            if best_i[q, mid] < 0:
                s = mid
            else:
                a = mid + 1
    while s > 0 and (best_e[q, s - 1] > e or (best_e[q, s - 1] == e and best_i[q, s - 1] > gp)):
        best_e[q, s] = best_e[q, s - 1]
        best_i[q, s] = best_i[q, s - 1]
        best_d[q, s] = best_d[q, s - 1]
        fresh[q, s] = fresh[q, s - 1]
        s -= 1
    best_e[q, s] = e
    best_i[q, s] = gp
    best_d[q, s] = np.nan
    fresh[q, s] = p


@njit(cache=True, nogil=True, inline="always")
def _listed(best_i, q, gp):
    for c in range(best_i.shape[1]):
        if best_i[q, c] == gp:
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def _above32(t):
    """A float32 at least ``t`` (the screen compares float32 values: no float64 conversions)."""
    if t > 0.0:
        return np.float32(t * (1.0 + _U32 * 4.0))
    return np.float32(t * (1.0 - _U32 * 4.0))


@njit(cache=True, nogil=True)
def _fold(G, cols, c0, q0, QX, qg, CX, cg, sq, slack, best_e, best_i, best_d, fresh):
    """Fold the screened values ``G[r, j]`` (``|y|^2 - 2 x.y`` of row q0 + r and column point
    p = cols[j], or c0 + j if cols is empty) into the rows' exact k-best lists, value by value: a
    value below the row's k-th squared distance, less |x|^2, plus its rounding bound, gets its
    exact distance and is inserted unless listed (ties by global index; ``best_d`` set to NaN and
    ``fresh`` to p: filled after). For the rows the screen could not certify."""
    h, w = G.shape
    k = best_e.shape[1]
    d = QX.shape[1]
    gather = cols.shape[0] > 0
    full = w - w % _RUN
    for r in range(h):
        q = q0 + r
        g = G[r]
        t = _above32(best_e[q, k - 1] - sq[q] + slack[q])
        for j0 in range(0, w, _RUN):
            j1 = min(j0 + _RUN, w)
            if j0 < full:
                below = False
                for j in range(_RUN):  # fixed length: the loop vectorises
                    below |= g[j0 + j] < t
                if not below:
                    continue
            for j in range(j0, j1):
                if not g[j] < t:
                    continue
                p = cols[j] if gather else c0 + j
                gp = cg[p]
                if gp == qg[q]:
                    continue
                if _listed(best_i, q, gp):  # merged from the screen already
                    continue
                _put(best_e, best_i, best_d, fresh, q, _exact(QX, q, CX, p, d), gp, p)
                t = _above32(best_e[q, k - 1] - sq[q] + slack[q])


@njit(cache=True, nogil=True)
def _merge(bd, bi, q0, QX, qg, CX, cg, sq, slack, best_e, best_i, best_d, fresh):
    """Re-rank the screened candidates ``bi`` (column positions, -1: none) of rows q0.. exactly
    into the k-best lists; returns the rows not certified: a full candidate list whose last
    screened value, less its rounding bound, does not exceed the new k-th distance (an excluded
    point might be nearer). A list that is not full kept every value below the row's bound."""
    h, m = bi.shape
    k = best_e.shape[1]
    d = QX.shape[1]
    bad = np.zeros(h, dtype=np.bool_)
    for r in range(h):
        q = q0 + r
        for c in range(m):
            p = bi[r, c]
            if p < 0:
                continue
            gp = cg[p]
            if gp == qg[q]:
                continue
            _put(best_e, best_i, best_d, fresh, q, _exact(QX, q, CX, p, d), gp, p)
        if bi[r, m - 1] >= 0 and not (np.float64(bd[r, m - 1]) + sq[q] - slack[q] > best_e[q, k - 1] * (1.0 + _REL)):
            bad[r] = True
    return bad


def _thresholds(best_e, s, e, sq, slack):
    """Each row's screen bound as a float32 at least it: the k-th squared distance less |x|^2,
    plus the rounding bound (a value above it cannot enter the list)."""
    t = best_e[s:e, -1] - sq[s:e] + slack[s:e]
    t32 = t.astype(np.float32)
    return np.where(t32 < t, np.nextafter(t32, np.float32(np.inf)), t32)


def _screen_runs(own, col, s, e, runs, q0, bd, bi, products, buf):
    """Screen rows s:e of the row block against the column points of ``runs`` in float32 (long
    runs in place, short ones gathered, at most ``_COLS`` columns a product), keeping the
    smallest values in (bd, bi); the products' columns are appended to ``products``. ``buf``:
    (products, gathered rows) preallocated for the step, so that no product maps fresh pages (Dask
    workers run with a small ``MALLOC_TRIM_THRESHOLD_``, which makes every large temporary a new
    mmap: 1.6x slower)."""
    Q = own.query[s:e]
    h = e - s
    out, rows = buf
    none = np.empty(0, dtype=np.int64)
    long = runs[:, 1] - runs[:, 0] >= _DIRECT
    mine = []  # (columns or empty, first column, end column)
    for a, b in runs[long]:
        for c0 in range(int(a), int(b), _COLS):
            mine.append((none, c0, min(c0 + _COLS, int(b))))
    if not long.all():
        cols = np.concatenate([np.arange(a, b) for a, b in runs[~long]])
        for c0 in range(0, cols.shape[0], _COLS):
            mine.append((cols[c0:c0 + _COLS], 0, 0))
    for cols, c0, c1 in mine:
        if cols.shape[0] == 0:
            P = col.point[c0:c1]
        else:
            P = np.take(col.point, cols, axis=0, out=rows[:cols.shape[0]])
        G = out[:h * P.shape[0]].reshape(h, P.shape[0])
        np.matmul(Q, P.T, out=G)
        _screen(G, cols, c0, q0, bd, bi)
    products.extend(mine)


def _settle(own, col, s, bd, bi, products, sq, slack, lists):
    """Re-rank the screened candidates of rows s.. exactly into the lists; a row the screen
    cannot certify is folded exactly, value by value, over every product (rare)."""
    bad = _merge(bd, bi, s, own.X, own.gidx, col.X, col.gidx, sq, slack, *lists)
    for r in np.flatnonzero(bad):
        q = s + int(r)
        for cols, c0, c1 in products:
            P = col.point[c0:c1] if cols.shape[0] == 0 else col.point[cols]
            _fold(own.query[q:q + 1] @ P.T, cols, c0, q, own.X, own.gidx, col.X, col.gidx, sq, slack, *lists)


def screen_step(state, own, col, k, same=False):
    """One link of a row block's chain: fold column block ``col`` into the exact k-best lists of
    the row block ``own`` (``same``: it is the row block itself, the chain's first link). State:
    ``(squared distances, global indices, distances)``, rows in ``own``'s tree order."""
    m, d = own.X.shape
    if state is None:
        best_e = np.full((m, k), np.inf)
        best_i = np.full((m, k), -1, dtype=np.int64)
        best_d = np.full((m, k), np.inf)
    else:
        best_e, best_i, best_d = (a.copy() for a in state)  # tasks never modify their inputs (retries)
    fresh = np.full((m, k), -1, dtype=np.int64)
    lists = (best_e, best_i, best_d, fresh)
    cmax = float(col.norm.max()) if col.norm.shape[0] else 0.0
    # |x - y|^2 - (|y|^2 - 2 x.y + |x|^2): the float32 rounding of inputs and products, and the
    # frame's float64 rotation, at most (d + 8) (u32 + u64) (|x| + |y|)^2 (Higham 2002, 3.1)
    slack = _ERR * (d + 8) * (_U32 + _U64) * (own.norm + cmax) ** 2
    slack_box = _ERR * (d + 8) * _U64 * (2.0 * ((float(own.norm.max()) if m else 0.0) + cmax)) ** 2
    leaves = np.flatnonzero(own.left == -1)
    m_keep = min(k + _MARGIN, col.X.shape[0])
    q0 = 0 if same else _NO_SELF  # a column position equal to the row's is the point itself
    widest = int((own.end[leaves] - own.start[leaves]).max()) if leaves.shape[0] else 0
    buf = (np.empty(widest * _COLS, dtype=np.float32), np.empty((_COLS, d + 1), dtype=np.float32))
    bd_buf = np.empty((widest, m_keep), dtype=np.float32)
    bi_buf = np.empty((widest, m_keep), dtype=np.int64)
    for L in leaves[np.argsort(own.start[leaves], kind="stable")]:
        s, e = int(own.start[L]), int(own.end[L])
        # each row keeps the k + _MARGIN smallest screened values below its current bound
        bd, bi = bd_buf[:e - s], bi_buf[:e - s]
        bd[:] = _thresholds(best_e, s, e, own.sq, slack)[:, None]
        bi[:] = -1
        products = []
        A = -1
        kth = best_e[s:e, k - 1]
        if same:  # first its ancestor _UP levels up (one run): a bound for every point of the leaf
            A = L
            for _ in range(_UP):
                if own.parent[A] >= 0:
                    A = own.parent[A]
            _screen_runs(own, col, s, e, np.array([[own.start[A], own.end[A]]], dtype=np.int64), q0 + s, bd, bi,
                         products, buf)
            if m_keep >= k:  # k screened candidates bound the k-th distance (with their rounding)
                kth = np.minimum(kth, bd[:, k - 1].astype(np.float64) + own.sq[s:e] + slack[s:e])
        bound = float(kth.max()) * (1.0 + _REL) + slack_box if kth.shape[0] else 0.0
        runs = reach(col.start, col.end, col.left, col.right, col.lo, col.hi, own.lo, own.hi, L, A, bound)
        if runs.shape[0]:
            _screen_runs(own, col, s, e, runs, q0 + s, bd, bi, products, buf)
        if products:
            _settle(own, col, s, bd, bi, products, own.sq, slack, lists)
    r, t = np.nonzero(fresh >= 0)
    if d <= _KDTREE_MAX_DIM:  # the in-memory formula of the reported distance: the KD-tree's loop
        out = np.empty(r.shape[0])
        _tree_formula(own.X, r, col.X, fresh[r, t], out)
        best_d[r, t] = out
        return best_e, best_i, best_d
    step = max(1, _DIFF_BYTES // (8 * d))
    for a in range(0, r.shape[0], step):  # above 16 dims: exact_distances' difference norm
        rr, tt = r[a:a + step], t[a:a + step]
        diff = own.X[rr][:, None, :] - col.X[fresh[rr, tt]][:, None, :]
        best_d[rr, tt] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))[:, 0]
    return best_e, best_i, best_d


def screen_finish(state, own, q_offset):
    """Back to the row block's order, each row sorted by distance, ties by index."""
    _, best_i, best_d = state
    if best_i.size and best_i.min() < 0:
        raise RuntimeError("blockwise kNN left a neighbour list unfilled")
    o = np.lexsort((best_i, best_d), axis=-1)
    rows = own.gidx - q_offset
    idx = np.empty_like(best_i)
    dist = np.empty_like(best_d)
    idx[rows] = np.take_along_axis(best_i, o, axis=1)
    dist[rows] = np.take_along_axis(best_d, o, axis=1)
    return idx, dist
