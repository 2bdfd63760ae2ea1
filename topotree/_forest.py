"""The maximum spanning forest of a graph under a vertex order: all the superlevel merge needs.

The points enter the superlevel sets in ``order`` (rank 0 first: the highest log-density, ties
broken as in :func:`topotree.build._order`). An edge u-v enters with its later end, so its key is
``late * n + early`` (the two ends' ranks; one int64 per edge, distinct for distinct edges). Kruskal's
pass over the edges by increasing key keeps an edge when it joins two components. The kept edges (a
maximum spanning forest for the weight min(f(u), f(v)), ties broken by the rank order) give the
merge kernel (:func:`topotree._merge.merge_tree_kernel`) the same tree as the whole graph:

- for every rank r, the edges with both ends before r are a prefix of the key order, so the forest
  joins the points of rank < r into the same components as the graph (the superlevel sets);
- when point v enters, the forest keeps one edge from v to each component of earlier points that
  v touches in the graph (its edges are met in turn, each joining v to a new component or not),
  so v starts a leaf, extends a node or merges the same nodes;
- v's edge to its earliest neighbour (steepest ascent: its basin) is its first edge in key order,
  met while v is still alone, so it is always kept.

Extra edges (bridges, chains of exact copies) may be added to forest and graph alike. The forest
of a union of graphs is the forest of the union of their forests (with distinct keys, an edge
dropped in one part is the latest of a cycle, dropped in the union too), so the forest of a large
graph is computed block by block and the blocks' forests combined pairwise (on Dask: the
blockwise path of ``build_tree``); only the final forest, at most n - 1 edges, reaches the merge.

References
----------
Carr, H., Snoeyink, J. and Axen, U. (2003). Computing contour trees in all dimensions. Comput. Geom.
26(1), 75-94 (the join tree of a graph from its vertex order and a union-find).
Morozov, D. and Weber, G. H. (2013). Distributed merge trees. PPoPP '13, 93-102 (merge trees of
blocks, combined by their boundary edges).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .disjoint_set import ds_find, ds_labels, ds_new, ds_union

MAX_POINTS = 3_037_000_499  # the largest n with n * n < 2**63: keys late * n + early fit in an int64


@njit(cache=True)
def _row_keys_kernel(nb, offset, rank, n, out):
    """The keys of the edges i-nb[r, j] of rows i = offset + r (self loops skipped); their count."""
    m, k = nb.shape
    c = 0
    for r in range(m):
        i = offset + r
        ri = rank[i]
        for j in range(k):
            u = nb[r, j]
            if u == i:
                continue
            ru = rank[u]
            out[c] = ru * n + ri if ru > ri else ri * n + ru
            c += 1
    return c


def row_keys(nb, offset, rank):
    """Sorted edge keys of the neighbour lists ``nb`` of rows ``offset, offset + 1, ...`` (indices
    into ``rank``, the (n,) rank of every point)."""
    nb = np.ascontiguousarray(nb, dtype=np.int64)
    out = np.empty(nb.size, dtype=np.int64)
    c = _row_keys_kernel(nb, int(offset), np.ascontiguousarray(rank, dtype=np.int64), int(rank.shape[0]), out)
    out = out[:c]
    out.sort()
    return out


_HASH_START = 1 << 16  # first size of the vertex hash table (doubled while more than half full)
_HASH_MULT = -7046029254386353131  # 0x9E3779B97F4A7C15 as an int64: Fibonacci hashing


@njit(cache=True, inline="always")
def _slot(table, v, mask):
    h = (v * _HASH_MULT) & mask
    while table[h] != -1 and table[h] != v:
        h = (h + 1) & mask
    return h


@njit(cache=True)
def _compact_kernel(late, early, ids):
    """Number the vertices the edges touch 0, 1, ... in order of first appearance (an open
    addressing hash table, grown as it fills): ``ids[:m]`` for the later ends, ``ids[m:]`` for the
    earlier ones; returns how many there are."""
    m = late.shape[0]
    size = _HASH_START
    table = np.full(size, -1, dtype=np.int64)
    value = np.empty(size, dtype=np.int64)
    count = 0
    for t in range(2 * m):
        v = late[t] if t < m else early[t - m]
        h = _slot(table, v, size - 1)
        if table[h] == -1:
            if 2 * (count + 1) > size:  # grow: re-insert every vertex in a table twice as large
                size *= 2
                new_table = np.full(size, -1, dtype=np.int64)
                new_value = np.empty(size, dtype=np.int64)
                for s in range(table.shape[0]):
                    if table[s] != -1:
                        g = _slot(new_table, table[s], size - 1)
                        new_table[g] = table[s]
                        new_value[g] = value[s]
                table, value = new_table, new_value
                h = _slot(table, v, size - 1)
            table[h] = v
            value[h] = count
            count += 1
        ids[t] = value[h]
    return count


@njit(cache=True)
def _kruskal_kernel(late, early, n_vertices, keep):
    """Kruskal's pass: edge e (compact vertex ids, in key order) is kept if it joins two components."""
    parent, size = ds_new(n_vertices)
    for e in range(late.shape[0]):
        a = ds_find(parent, late[e])
        b = ds_find(parent, early[e])
        if a != b:
            ds_union(parent, size, a, b)
            keep[e] = True


def spanning_forest(keys, n):
    """The forest of the edges with sorted ``keys`` (n points): the keys Kruskal's pass keeps, sorted.

    Union-find over the vertices the edges touch only (renumbered through a hash table), so the
    memory follows the number of edges, not n.

    Examples
    --------
    >>> import numpy as np
    >>> n = 3  # a triangle: edges 1-0 (key 3), 2-0 (key 6), 2-1 (key 7); the last closes a cycle
    >>> spanning_forest(np.array([3, 6, 7]), n).tolist()
    [3, 6]
    """
    keys = np.asarray(keys, dtype=np.int64)
    if keys.shape[0] == 0:
        return keys.copy()
    late, early = np.divmod(keys, np.int64(n))
    m = keys.shape[0]
    ids = np.empty(2 * m, dtype=np.int64)
    n_vertices = _compact_kernel(late, early, ids)
    keep = np.zeros(m, dtype=np.bool_)
    _kruskal_kernel(ids[:m], ids[m:], n_vertices, keep)
    return keys[keep]


def union_forest(a, b, n):
    """The forest of the union of two forests (sorted key arrays): its edges' keys, sorted."""
    return spanning_forest(np.sort(np.concatenate([a, b]), kind="stable"), n)  # two sorted runs: a merge


def forest_edges(keys, order):
    """The forest's edges as (e, 2) point pairs (later end, earlier end); ``order[r]``: the point of rank r."""
    late, early = np.divmod(keys, np.int64(order.shape[0]))
    return np.column_stack([order[late], order[early]]).astype(np.int64)


@njit(cache=True)
def _edge_components_kernel(edges, n):
    parent, size = ds_new(n)
    for e in range(edges.shape[0]):
        ds_union(parent, size, ds_find(parent, edges[e, 0]), ds_find(parent, edges[e, 1]))
    return ds_labels(parent)


def edge_components(edges, n):
    """Connected component of each of ``n`` points joined by the (e, 2) ``edges``, numbered in order
    of first point (as :func:`topotree._components.components`).

    Examples
    --------
    >>> import numpy as np
    >>> edge_components(np.array([[2, 0]]), 4).tolist()
    [0, 1, 0, 2]
    """
    return _edge_components_kernel(np.ascontiguousarray(edges, dtype=np.int64).reshape(-1, 2), int(n))
