"""Exact k nearest neighbours of a Dask array, block against block (Dask schedules the blocks).

Each row block is queried against every column block in a chain of tasks: the chain of row block
i starts with block i itself and carries the current k best (index, distance) lists from one column
block to the next, so a task holds two blocks and an (m, k + 1) list, whatever n. Few dimensions
(<= 16): a KD-tree per column block (built once, one task a block), queried with the current k-th
distance as bound; more: brute force, one BLAS product per pair of blocks. The distances are
computed with the in-memory search's own formulas (the KD-tree's squared-difference loop; the
brute force's BLAS expansion to choose the candidates and the exact difference norm after), so the
lists equal those of :func:`topotree.graph.knn` bit for bit, up to the order of neighbours at
exactly equal distances.

Dask is imported inside the functions: ``import topotree`` never needs it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._kdtree import _FAST, _insert, _point_gap, build_kdtree
from .graph import _KDTREE_MAX_DIM, _drop_self, _leafsize

_PAIR_BYTES = 2**27  # brute force: at most this many bytes of squared distances at a time


def _kdtree_block(Xb, offset):
    """The KD-tree of one column block, with the points' global indices."""
    Xs, perm, start, end, left, right, lo, hi = build_kdtree(np.ascontiguousarray(Xb, dtype=np.float64),
                                                            _leafsize(Xb.shape[1]))
    return Xs, perm + offset, start, end, left, right, lo, hi


@njit(cache=True, nogil=True, fastmath=_FAST)
def _query_tree(Xs, gidx, start, end, left, right, lo, hi, Q, qidx, best_d, best_i):
    """Fold the points of one KD-tree into the k-best lists (squared distances, sorted) of the
    query rows ``Q`` (global indices ``qidx``; a point never lists itself). The distance loop is the
    one of :func:`topotree._kdtree.query_leaves`, with the same floating-point flags."""
    d = Xs.shape[1]
    k = best_d.shape[1]
    stack = np.empty(512, dtype=np.int64)
    for q in range(Q.shape[0]):
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            N = stack[top]
            if _point_gap(lo, hi, N, Q, q) > best_d[q, k - 1]:
                continue
            if left[N] == -1:
                worst = best_d[q, k - 1]
                for p in range(start[N], end[N]):
                    if gidx[p] == qidx[q]:
                        continue
                    dist = 0.0
                    for j in range(d):  # no early exit: the full loop vectorises
                        diff = Q[q, j] - Xs[p, j]
                        dist += diff * diff
                    if dist < worst or best_i[q, k - 1] < 0:
                        _insert(best_d, best_i, q, dist, gidx[p])
                        worst = best_d[q, k - 1]
            else:
                a, b = left[N], right[N]
                ga = _point_gap(lo, hi, a, Q, q)
                gb = _point_gap(lo, hi, b, Q, q)
                if ga <= gb:  # the nearer child is visited first
                    stack[top] = b
                    stack[top + 1] = a
                else:
                    stack[top] = a
                    stack[top + 1] = b
                top += 2


def _tree_step(state, Qb, q_offset, tree, k):
    """One link of a row block's chain (few dimensions): fold a column block's KD-tree in."""
    Q = np.ascontiguousarray(Qb, dtype=np.float64)
    if state is None:
        best_d = np.full((Q.shape[0], k), np.inf)
        best_i = np.full((Q.shape[0], k), -1, dtype=np.int64)
    else:
        best_d, best_i = state[0].copy(), state[1].copy()  # tasks never modify their inputs (retries)
    qidx = np.arange(q_offset, q_offset + Q.shape[0], dtype=np.int64)
    _query_tree(*tree, Q, qidx, best_d, best_i)
    return best_d, best_i


def _tree_finish(state):
    best_d, best_i = state
    if best_i.size and best_i.min() < 0:
        raise RuntimeError("blockwise kNN left a neighbour list unfilled")
    return best_i, np.sqrt(best_d)


def _brute_step(state, Qb, Cb, c_offset, k1):
    """One link of a row block's chain (many dimensions): the k + 1 candidates of smallest
    BLAS-expanded squared distance (the in-memory brute force's choice) among the kept ones and
    the column block's, with their exact distances (the in-memory formula, a function of the two
    points only)."""
    Q = np.ascontiguousarray(Qb, dtype=np.float64)
    C = np.ascontiguousarray(Cb, dtype=np.float64)
    sq_q = np.einsum("ij,ij->i", Q, Q)
    sq_c = np.einsum("ij,ij->i", C, C)
    m, mc = Q.shape[0], C.shape[0]
    keep = min(k1, mc)
    out_e = np.empty((m, keep))
    out_i = np.empty((m, keep), dtype=np.int64)
    out_d = np.empty((m, keep))
    rows = max(1, min(m, _PAIR_BYTES // (8 * max(mc, 1))))
    for lo in range(0, m, rows):
        hi = min(m, lo + rows)
        d2 = sq_q[lo:hi, None] + sq_c[None, :] - 2.0 * (Q[lo:hi] @ C.T)
        if keep < mc:
            part = np.argpartition(d2, keep - 1, axis=1)[:, :keep]
        else:
            part = np.broadcast_to(np.arange(mc), (hi - lo, mc))
        out_e[lo:hi] = np.take_along_axis(d2, part, axis=1)
        out_i[lo:hi] = part + c_offset
        diff = Q[lo:hi, None, :] - C[part]
        out_d[lo:hi] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    if state is not None:
        out_e = np.concatenate([state[0], out_e], axis=1)
        out_i = np.concatenate([state[1], out_i], axis=1)
        out_d = np.concatenate([state[2], out_d], axis=1)
    # the k + 1 smallest by (expanded distance, index)
    row = np.repeat(np.arange(m), out_e.shape[1])
    o = np.lexsort((out_i.ravel(), out_e.ravel(), row)).reshape(m, -1)[:, :k1] - \
        (np.arange(m) * out_e.shape[1])[:, None]
    return tuple(np.take_along_axis(a, o, axis=1) for a in (out_e, out_i, out_d))


def _brute_finish(state, q_offset):
    """Sorted by exact distance (equal ones by expanded distance, then index), self dropped."""
    _, idx, dist = state  # already in (expanded distance, index) order
    o = np.argsort(dist, axis=1, kind="stable")
    idx = np.take_along_axis(idx, o, axis=1)
    dist = np.take_along_axis(dist, o, axis=1)
    # _drop_self works on local row numbers: shift the indices so that row r is "point r"
    out_i, out_d = _drop_self(np.ascontiguousarray(idx - q_offset), np.ascontiguousarray(dist))
    return out_i + q_offset, out_d


def knn_blocks(X, k):
    """Exact kNN of a row-chunked Dask array: ``(indices, distances)`` as (n, k) Dask arrays.

    ``X``: (n, d) dask array, float64, one chunk across the columns. Lazy: nothing runs until the
    results are computed (or stored, e.g. with ``dask.array.to_zarr``).
    """
    import dask
    import dask.array as da

    n, d = X.shape
    blocks = X.to_delayed().ravel()
    sizes = np.asarray(X.chunks[0], dtype=np.int64)
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    B = len(blocks)
    idx_parts, dist_parts = [], []
    if d <= _KDTREE_MAX_DIM:
        trees = [dask.delayed(_kdtree_block, pure=True)(blocks[j], int(offsets[j])) for j in range(B)]
        for i in range(B):
            state = None
            for s in range(B):
                j = (i + s) % B  # the row block's own points first: a tight bound from the start
                state = dask.delayed(_tree_step, pure=True)(state, blocks[i], int(offsets[i]), trees[j], k)
            res = dask.delayed(_tree_finish, pure=True, nout=2)(state)
            idx_parts.append(da.from_delayed(res[0], (int(sizes[i]), k), dtype=np.int64))
            dist_parts.append(da.from_delayed(res[1], (int(sizes[i]), k), dtype=np.float64))
    else:
        for i in range(B):
            state = None
            for s in range(B):
                j = (i + s) % B
                state = dask.delayed(_brute_step, pure=True)(state, blocks[i], blocks[j], int(offsets[j]), k + 1)
            res = dask.delayed(_brute_finish, pure=True, nout=2)(state, int(offsets[i]))
            idx_parts.append(da.from_delayed(res[0], (int(sizes[i]), k), dtype=np.int64))
            dist_parts.append(da.from_delayed(res[1], (int(sizes[i]), k), dtype=np.float64))
    return da.concatenate(idx_parts, axis=0), da.concatenate(dist_parts, axis=0)
