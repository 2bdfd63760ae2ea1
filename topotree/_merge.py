"""The merge tree of the superlevel sets of a function on a graph (numba kernel).

Vertices are taken by decreasing value (ties: lower index first); a union-find tracks the
connected components of the superlevel subgraph. A vertex with no processed neighbour starts a
new leaf; a vertex that joins two or more components starts a new (merge) node, the parent of the
nodes of the components it joins. Each vertex also records its *basin*: the leaf reached by steepest
ascent on the graph (the leaf of its highest processed neighbour), as ToMATo does.

References
----------
Carr, H., Snoeyink, J. and Axen, U. (2003). Computing contour trees in all dimensions. Comput. Geom.
Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
Riemannian manifolds. J. ACM 60(6).
"""
import numpy as np
from numba import njit

from .disjoint_set import ds_find, ds_new, ds_union


@njit(cache=True)
def merge_tree_kernel(order, indptr, indices):
    """Return ``(node_parent, node_vertex, owner, basin)``; node ids in creation order.

    ``node_vertex`` is the vertex that created each node (a peak for a leaf, the joining vertex
    for a merge node); ``owner[v]`` the node whose component held v when v entered; ``basin[v]``
    the leaf of v's steepest-ascent path.
    """
    n = order.shape[0]
    rank = np.empty(n, dtype=np.int64)
    for r in range(n):
        rank[order[r]] = r
    maxdeg = 1
    for v in range(n):
        if indptr[v + 1] - indptr[v] > maxdeg:
            maxdeg = indptr[v + 1] - indptr[v]
    parent, size = ds_new(n)
    comp_node = np.full(n, -1, dtype=np.int64)
    node_parent = np.full(n, -1, dtype=np.int64)
    node_vertex = np.empty(n, dtype=np.int64)
    owner = np.empty(n, dtype=np.int64)
    basin = np.empty(n, dtype=np.int64)
    roots = np.empty(maxdeg, dtype=np.int64)
    m = 0
    touched = 0
    for r in range(n):
        if r + 16 < n:  # start loading a later vertex's data now: its cache misses overlap this work
            w = order[r + 16]
            touched += indptr[w] + rank[w] + parent[w]
        v = order[r]
        best = -1
        best_rank = n
        nr = 0
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            ru = rank[u]
            if ru < r:
                if ru < best_rank:
                    best_rank = ru
                    best = u
                root = ds_find(parent, u)
                dup = False
                for t in range(nr):
                    if roots[t] == root:
                        dup = True
                        break
                if not dup:
                    roots[nr] = root
                    nr += 1
        if nr == 0:
            node_vertex[m] = v
            owner[v] = m
            basin[v] = m
            comp_node[v] = m
            m += 1
        elif nr == 1:
            node = comp_node[roots[0]]
            root = ds_union(parent, size, roots[0], v)
            comp_node[root] = node
            owner[v] = node
            basin[v] = basin[best]
        else:
            node_vertex[m] = v
            root = v
            for t in range(nr):
                node_parent[comp_node[roots[t]]] = m
                root = ds_union(parent, size, root, roots[t])
            comp_node[root] = m
            owner[v] = m
            basin[v] = basin[best]
            m += 1
    if touched == -1:  # never true; keeps the early loads from being optimised away
        owner[0] = -1
    return node_parent[:m].copy(), node_vertex[:m].copy(), owner, basin


@njit(cache=True)
def owners_from_basins(basin, rank, node_parent, start_rank):
    """Owner of each point: the ancestor of its basin leaf whose rank interval holds the point."""
    owner = basin.copy()
    for v in range(basin.shape[0]):
        a = owner[v]
        while start_rank[a] <= rank[v]:
            a = node_parent[a]
        owner[v] = a
    return owner


@njit(cache=True)
def lift_table(parent, levels):
    """Binary-lifting ancestor table: ``up[j, i]`` is the 2**j-th ancestor of node i (root: itself)."""
    m = parent.shape[0]
    up = np.empty((levels, m), dtype=np.int64)
    for i in range(m):
        up[0, i] = parent[i] if parent[i] >= 0 else i
    for j in range(1, levels):
        for i in range(m):
            up[j, i] = up[j - 1, up[j - 1, i]]
    return up


@njit(cache=True)
def lca_kernel(up, depth, a, b):
    out = np.empty(a.shape[0], dtype=np.int64)
    levels = up.shape[0]
    for q in range(a.shape[0]):
        x = a[q]
        y = b[q]
        if depth[x] < depth[y]:
            x, y = y, x
        diff = depth[x] - depth[y]
        j = 0
        while diff > 0:
            if diff & 1:
                x = up[j, x]
            diff >>= 1
            j += 1
        if x != y:
            for j in range(levels - 1, -1, -1):
                if up[j, x] != up[j, y]:
                    x = up[j, x]
                    y = up[j, y]
            x = up[0, x]
        out[q] = x
    return out
