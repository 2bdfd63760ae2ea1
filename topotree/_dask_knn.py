"""Exact k nearest neighbours of a Dask array, block against block (Dask schedules the blocks).

Each row block is queried against every column block in a chain of tasks: the chain of row block
i starts with block i itself and carries the current k best (index, distance) lists from one column
block to the next, so a task holds two blocks and an (m, k + 1) list, whatever n. A KD-tree per
block (built once, one task a block). Few dimensions: the column block's tree queried with the
current k-th distance as bound; where the in-memory search would screen instead (above 16 dims,
from 10 by :func:`screen_pays`): the row block's leaves against the column leaves within reach,
screened by float32 products and re-ranked exactly (:mod:`topotree._dask_screen`).
The distances are computed with the in-memory search's own formulas (the KD-tree's
squared-difference loop; above 16 dimensions the exact re-ranking's loop to choose and the
difference norm to report), so the lists equal those of :func:`topotree.graph.knn` bit for bit,
up to neighbours at exactly equal distances.

Dask is imported inside the functions: ``import topotree`` never needs it.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._dask_screen import principal_frame, screen_block, screen_finish, screen_step
from ._kdtree import _FAST, _insert, _point_gap, build_kdtree, query_leaves
from ._kdtree import box_gap_between as _box_gap_between
from .graph import _BLOCKS_WORK, _KDTREE_MAX_DIM, _PROBE_MIN_DIM, _PROBE_MIN_POINTS, _leafsize, _probe_leaves


def _kdtree_block(Xb, offset):
    """The KD-tree of one column block, with the points' global indices."""
    Xs, perm, start, end, left, right, lo, hi = build_kdtree(np.ascontiguousarray(Xb, dtype=np.float64),
                                                            _leafsize(Xb.shape[1]))
    return Xs, perm + offset, start, end, left, right, lo, hi


@njit(cache=True, nogil=True, fastmath=_FAST)
def _query_tree_leaves(Xs, gidx, start, end, left, right, lo, hi, Qs, qidx, qstart, qend, qleft, qlo, qhi,
                       best_d, best_i):
    """Fold the points of one KD-tree (a column block: coordinates ``Xs``, global indices
    ``gidx``) into the k-best lists (squared distances, sorted) of the points of another (the row
    block's own: ``Qs`` in its order, global indices ``qidx``); a point never lists itself. One
    traversal per leaf of the row block's tree, pruned by box-to-box gaps, then per point (as
    :func:`topotree._kdtree.query_leaves`, whose distance loop and floating-point flags it shares,
    so the distances are the same bits)."""
    d = Xs.shape[1]
    k = best_d.shape[1]
    stack = np.empty(512, dtype=np.int64)
    for L in range(qstart.shape[0]):
        if qleft[L] != -1:
            continue
        s, e = qstart[L], qend[L]
        bound = 0.0
        for q in range(s, e):
            if best_d[q, k - 1] > bound:
                bound = best_d[q, k - 1]
        stack[0] = 0
        top = 1
        while top > 0:
            top -= 1
            N = stack[top]
            if _box_gap_between(lo, hi, N, qlo, qhi, L, d) > bound:
                continue
            if left[N] == -1:
                for q in range(s, e):
                    worst = best_d[q, k - 1]
                    if _point_gap(lo, hi, N, Qs, q) > worst:
                        continue
                    for p in range(start[N], end[N]):
                        if gidx[p] == qidx[q]:
                            continue
                        dist = 0.0
                        for j in range(d):  # no early exit: the full loop vectorises
                            diff = Qs[q, j] - Xs[p, j]
                            dist += diff * diff
                        if dist < worst or best_i[q, k - 1] < 0:
                            _insert(best_d, best_i, q, dist, gidx[p])
                            worst = best_d[q, k - 1]
                bound = 0.0
                for q in range(s, e):
                    if best_d[q, k - 1] > bound:
                        bound = best_d[q, k - 1]
            else:
                a, b = left[N], right[N]
                ga = _box_gap_between(lo, hi, a, qlo, qhi, L, d)
                gb = _box_gap_between(lo, hi, b, qlo, qhi, L, d)
                if ga <= gb:  # the nearer child is visited first
                    stack[top] = b
                    stack[top + 1] = a
                else:
                    stack[top] = a
                    stack[top + 1] = b
                top += 2


def _tree_step(state, own, tree, k):
    """One link of a row block's chain (few dimensions): fold a column block's KD-tree into the
    k-best lists of the row block's points (kept in the row block's own KD-tree order, ``own``)."""
    Qs, qidx, qstart, qend, qleft, _, qlo, qhi = own
    if state is None:
        best_d = np.full((Qs.shape[0], k), np.inf)
        best_i = np.full((Qs.shape[0], k), -1, dtype=np.int64)
    else:
        best_d, best_i = state[0].copy(), state[1].copy()  # tasks never modify their inputs (retries)
    _query_tree_leaves(*tree, Qs, qidx, qstart, qend, qleft, qlo, qhi, best_d, best_i)
    return best_d, best_i


def _tree_finish(state, own, q_offset):
    """Back to the row block's order; distances from squared distances (as ``query_leaves``)."""
    best_d, best_i = state
    if best_i.size and best_i.min() < 0:
        raise RuntimeError("blockwise kNN left a neighbour list unfilled")
    rows = own[1] - q_offset
    idx = np.empty_like(best_i)
    dist = np.empty_like(best_d)
    idx[rows] = best_i
    dist[rows] = np.sqrt(best_d)
    return idx, dist


# --- spatially ordered blocks -------------------------------------------------------------------

_FRAME_SAMPLE = 2**14  # rows of X that place the frame of the blocks above 16 dims when none is given
_PROBE_GROWTH = 4  # screen_pays probes the sample at its full size and at this fraction of it
_PRUNE_SLACK = 1e-9  # a column block is skipped only when its gap exceeds the bound by this fraction


def median_cells(S, levels):
    """A k-d partition of space into ``2**levels`` cells from the sample ``S`` (each cell split at the
    median of its sample points along the coordinate of largest spread): ``(dims, values, lo, hi)``,
    the split of each internal node (heap order: node t's children 2t + 1, 2t + 2; a point goes
    right when ``x[dims[t]] > values[t]``) and each cell's box (infinite at the outer faces)."""
    S = np.asarray(S, dtype=np.float64)
    d = S.shape[1]
    n_inner = 2**levels - 1
    dims = np.zeros(n_inner, dtype=np.int64)
    values = np.zeros(n_inner, dtype=np.float64)
    lo = np.full((2**levels, d), -np.inf)
    hi = np.full((2**levels, d), np.inf)
    stack = [(0, S, np.full(d, -np.inf), np.full(d, np.inf))]
    while stack:
        t, P, blo, bhi = stack.pop()
        if t >= n_inner:
            lo[t - n_inner], hi[t - n_inner] = blo, bhi
            continue
        if P.shape[0]:
            j = int(np.argmax(P.max(axis=0) - P.min(axis=0)))
            v = float(np.partition(P[:, j], (P.shape[0] - 1) // 2)[(P.shape[0] - 1) // 2])
        else:  # no sample point here: split anywhere inside the box
            j, v = 0, float(blo[0] if np.isfinite(blo[0]) else (bhi[0] if np.isfinite(bhi[0]) else 0.0))
        dims[t], values[t] = j, v
        left = P[:, j] <= v
        lhi, rlo = bhi.copy(), blo.copy()
        lhi[j], rlo[j] = v, v
        stack.append((2 * t + 1, P[left], blo, lhi))
        stack.append((2 * t + 2, P[~left], rlo, bhi))
    return dims, values, lo, hi


@njit(cache=True, nogil=True)
def _cell_kernel(X, dims, values, out):
    n_inner = dims.shape[0]
    for i in range(X.shape[0]):
        t = 0
        while t < n_inner:
            t = 2 * t + 2 if X[i, dims[t]] > values[t] else 2 * t + 1
        out[i] = t - n_inner


def cell_of(X, dims, values):
    """The cell of :func:`median_cells` holding each row of ``X``."""
    out = np.empty(X.shape[0], dtype=np.int64)
    _cell_kernel(np.ascontiguousarray(X, dtype=np.float64), dims, values, out)
    return out


def box_gaps(alo, ahi, blo, bhi):
    """Squared distances between boxes (rows of alo/ahi against rows of blo/bhi), infinite faces allowed."""
    with np.errstate(invalid="ignore"):
        g = np.maximum(np.maximum(blo[None, :, :] - ahi[:, None, :], alo[:, None, :] - bhi[None, :, :]), 0.0)
    g = np.nan_to_num(g, nan=0.0, posinf=np.inf)
    return np.einsum("ijk,ijk->ij", g, g)


def chain_order(lo, hi):
    """For each block (cell boxes ``lo``, ``hi``), every block by increasing gap from it, itself first."""
    gaps = box_gaps(lo, hi, lo, hi)
    B = lo.shape[0]
    np.fill_diagonal(gaps, -1.0)
    return [np.lexsort((np.arange(B), gaps[i])) for i in range(B)]


def needed_columns(state, own, cell_lo, cell_hi, candidates, slack=0.0):
    """The column blocks (among ``candidates``) that can still give a point of the row block a
    nearer neighbour: those within the current k-th distance of one of its KD-tree leaves. ``state``:
    the row block's k-best lists after its own block (squared distances first, in its tree order);
    ``own``: its KD-tree (boxes in the frame of the cells' boxes; ``slack``: an absolute bound of
    the squared distances' rounding in that frame); a block farther than every bound cannot insert
    a point, so skipping it changes nothing."""
    best_d = state[0]
    qstart, qleft, qlo, qhi = own[2], own[4], own[6], own[7]
    leaves = np.flatnonzero(qleft == -1)
    leaves = leaves[np.argsort(qstart[leaves], kind="stable")]  # the leaves tile the rows, in this order
    bound = np.maximum.reduceat(best_d[:, -1], qstart[leaves]) if leaves.shape[0] else np.zeros(0)
    candidates = np.asarray(candidates, dtype=np.int64)
    gaps = box_gaps(qlo[leaves], qhi[leaves], cell_lo[candidates], cell_hi[candidates])
    keep = (gaps <= bound[:, None] * (1.0 + _PRUNE_SLACK) + slack).any(axis=0)
    return candidates[keep]


def screen_pays(S, n, k):
    """Whether the screened links (:mod:`topotree._dask_screen`) should search X (n points, of
    which ``S`` is a uniform sample), by the in-memory search's rule (``graph._search_method``):
    always above 16 dims, never below ``_PROBE_MIN_DIM`` or under ``_PROBE_MIN_POINTS`` points;
    between, when the KD-tree would compute more than ``_BLOCKS_WORK / d`` distances a point. That
    work is probed on a sample of the leaves of the sample's KD-tree at two sizes and extrapolated
    to n with its measured growth (close to linear in n on full-dimensional clusters, where the
    search is brute force inside each, flat on a low-dimensional manifold)."""
    m, d = S.shape
    if d > _KDTREE_MAX_DIM:
        return True
    if d < _PROBE_MIN_DIM or n < _PROBE_MIN_POINTS or m < 2 * _PROBE_GROWTH * (k + 1):
        return False
    perm = np.random.default_rng(0).permutation(m)
    sizes = (m // _PROBE_GROWTH, m)
    works = []
    for size in sizes:
        kk = min(k, size - 1)
        Xs, _, start, end, left, right, lo, hi = build_kdtree(np.ascontiguousarray(S[perm[:size]], dtype=np.float64),
                                                            _leafsize(d))
        probed = _probe_leaves(np.flatnonzero(left == -1))
        work = np.zeros(probed.shape[0], dtype=np.int64)
        query_leaves(Xs, start, end, left, right, lo, hi, probed, kk, np.empty((size, kk)),
                     np.empty((size, kk), dtype=np.int64), work)
        works.append(max(float(work.sum()), 1.0) / max(int((end[probed] - start[probed]).sum()), 1))
    growth = min(1.0, max(0.0, math.log(works[1] / works[0]) / math.log(sizes[1] / sizes[0])))
    return works[1] * (n / m) ** growth * d > _BLOCKS_WORK


def _screened(X, frame):
    """The screened links (:mod:`topotree._dask_screen`): above 16 dims, or when a frame is given."""
    return frame is not None or X.shape[1] > _KDTREE_MAX_DIM


def sample_frame(X):
    """The common frame of the blocks above 16 dimensions (Delayed): the principal axes of up to
    ``_FRAME_SAMPLE`` evenly spaced rows."""
    import dask

    n = X.shape[0]
    rows = np.unique(np.linspace(0, n - 1, min(n, _FRAME_SAMPLE)).astype(np.int64))
    return dask.delayed(principal_frame, pure=True)(X[rows])


def _block_trees(X, frame):
    import dask

    blocks = X.to_delayed().ravel()
    offsets = np.r_[0, np.cumsum(X.chunks[0])[:-1]].astype(np.int64)
    if _screened(X, frame):
        return [dask.delayed(screen_block, pure=True)(blocks[j], int(offsets[j]), frame) for j in range(len(blocks))]
    return [dask.delayed(_kdtree_block, pure=True)(blocks[j], int(offsets[j])) for j in range(len(blocks))]


def _step(X, frame):
    return screen_step if _screened(X, frame) else _tree_step


def own_states(X, k, frame=None):
    """The first link of every row block's chain (its own block): ``(trees, states)`` as lists of
    Delayed, for :func:`needed_columns` and :func:`knn_blocks` (``trees=``, ``states=``); above
    16 dimensions or with a ``frame``, the screened links' blocks, in ``frame`` (default
    :func:`sample_frame`)."""
    import dask

    screened = _screened(X, frame)
    if screened and frame is None:
        frame = sample_frame(X)
    trees = _block_trees(X, frame)
    step = _step(X, frame)
    extra = (True,) if screened else ()
    return trees, [dask.delayed(step, pure=True)(None, trees[i], trees[i], k, *extra) for i in range(len(trees))]


def knn_blocks(X, k, chains=None, trees=None, states=None, frame=None):
    """Exact kNN of a row-chunked Dask array: ``(indices, distances)`` as (n, k) Dask arrays.

    ``X``: (n, d) dask array, float64, one chunk across the columns. Lazy: nothing runs until the
    results are computed (or stored, e.g. with ``dask.array.to_zarr``). Indices are X's row numbers.

    ``chains[i]``: the column blocks row block i visits, in that order (its own first; default
    all of them, its own then the next ones); ``trees``, ``states``: the blocks' KD-trees and the
    states after the own block (:func:`own_states`), the chains then continue from them
    (``chains[i]`` without the own block). Above 16 dimensions, or with a ``frame`` (a
    :class:`~topotree._dask_screen.Frame` or a Delayed one; default :func:`sample_frame`), the
    links are the screened ones (:mod:`topotree._dask_screen`), the blocks' trees built in it.
    """
    import dask
    import dask.array as da

    many = _screened(X, frame)
    sizes = np.asarray(X.chunks[0], dtype=np.int64)
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    B = sizes.shape[0]
    if trees is None:
        if many and frame is None:
            frame = sample_frame(X)
        trees = _block_trees(X, frame)
    step = _step(X, frame)
    finish = screen_finish if many else _tree_finish
    idx_parts, dist_parts = [], []
    for i in range(B):
        state = None if states is None else states[i]
        # the row block's own points first: a tight bound from the start
        for j in (chains[i] if chains is not None else [(i + s) % B for s in range(B)]):
            extra = (int(j) == i,) if many else ()
            state = dask.delayed(step, pure=True)(state, trees[i], trees[int(j)], k, *extra)
        res = dask.delayed(finish, pure=True, nout=2)(state, trees[i], int(offsets[i]))
        idx_parts.append(da.from_delayed(res[0], (int(sizes[i]), k), dtype=np.int64))
        dist_parts.append(da.from_delayed(res[1], (int(sizes[i]), k), dtype=np.float64))
    return da.concatenate(idx_parts, axis=0), da.concatenate(dist_parts, axis=0)
