"""Turn a merge hierarchy (parent links, split vertices, point owners) into ClusterTree arrays.

Both backends (numba, gudhi) and ``simplify`` produce the same three things: for each node its
parent and the vertex at which it splits (-1 for a leaf), and for each point the node that owns
it. Everything else (preorder ids, levels, masses, member ranges, peaks, the diagram) is derived
here, once, so every path yields an identical tree.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def _preorder(child_ptr, child_idx, roots, m):
    out = np.empty(m, dtype=np.int64)
    stack = np.empty(m, dtype=np.int64)
    w = 0
    for r in range(roots.shape[0] - 1, -1, -1):
        stack[0] = roots[r]
        top = 1
        while top > 0:
            top -= 1
            i = stack[top]
            out[w] = i
            w += 1
            for c in range(child_ptr[i + 1] - 1, child_ptr[i] - 1, -1):
                stack[top] = child_idx[c]
                top += 1
    return out[:w]


@njit(cache=True)
def _reduce_up(preorder, parent, sub_min, sub_max, sub_cnt):
    for t in range(preorder.shape[0] - 1, -1, -1):
        i = preorder[t]
        p = parent[i]
        if p >= 0:
            if sub_min[i] < sub_min[p]:
                sub_min[p] = sub_min[i]
            if sub_max[i] > sub_max[p]:
                sub_max[p] = sub_max[i]
            sub_cnt[p] += sub_cnt[i]


@njit(cache=True)
def subtree_sum(parent, values):
    """Sum of ``values`` over each node's subtree; nodes in preorder (parents first)."""
    out = values.astype(np.float64).copy()
    for i in range(parent.shape[0] - 1, -1, -1):
        if parent[i] >= 0:
            out[parent[i]] += out[i]
    return out


@njit(cache=True)
def node_depth(parent):
    """Depth of every node; nodes in preorder (parents first)."""
    d = np.zeros(parent.shape[0], dtype=np.int64)
    for i in range(parent.shape[0]):
        if parent[i] >= 0:
            d[i] = d[parent[i]] + 1
    return d


@njit(cache=True)
def _owner_stats(owner, rank, m):
    """Per node: how many points it owns and the lowest and highest rank among them."""
    n = owner.shape[0]
    cnt = np.zeros(m, dtype=np.int64)
    lo = np.full(m, n, dtype=np.int64)
    hi = np.full(m, -1, dtype=np.int64)
    for v in range(n):
        o = owner[v]
        cnt[o] += 1
        if rank[v] < lo[o]:
            lo[o] = rank[v]
        if rank[v] > hi[o]:
            hi[o] = rank[v]
    return cnt, lo, hi


@njit(cache=True)
def _members_by_node(order, owner, first):
    """Points grouped by owner (node ``i``'s block starts at ``first[i]``), each block in rank
    order: a counting sort."""
    fill = first.copy()
    out = np.empty(order.shape[0], dtype=np.int64)
    for r in range(order.shape[0]):
        v = order[r]
        o = owner[v]
        out[fill[o]] = v
        fill[o] += 1
    return out


def _children_csr(parent, key):
    m = parent.shape[0]
    has = parent >= 0
    kids = np.flatnonzero(has)
    kids = kids[np.lexsort((key[kids], parent[kids]))]
    ptr = np.zeros(m + 1, dtype=np.int64)
    np.add.at(ptr, parent[kids] + 1, 1)
    return np.cumsum(ptr), kids


def assemble(log_density, order, rank, node_parent, node_split, owner, basin_node):
    """Return a dict of ClusterTree node arrays, nodes renumbered in preorder (elder child first)."""
    n = log_density.shape[0]
    m = node_parent.shape[0]
    node_parent = np.asarray(node_parent, dtype=np.int64)
    own_cnt, sub_min, sub_max = _owner_stats(owner, rank, m)
    roots = np.flatnonzero(node_parent < 0)
    ptr, kids = _children_csr(node_parent, np.zeros(m, dtype=np.int64))
    pre = _preorder(ptr, kids, roots, m)
    sub_cnt = own_cnt.copy()
    _reduce_up(pre, node_parent, sub_min, sub_max, sub_cnt)
    # final preorder: children and roots sorted by peak (highest first: the elder)
    ptr, kids = _children_csr(node_parent, sub_min)
    roots = roots[np.argsort(sub_min[roots], kind="stable")]
    pre = _preorder(ptr, kids, roots, m)
    virtual = roots.shape[0] > 1
    shift = 1 if virtual else 0
    new_id = np.empty(m, dtype=np.int64)
    new_id[pre] = np.arange(m) + shift
    M = m + shift

    parent = np.full(M, -1, dtype=np.int64)
    old_parent = node_parent[pre]
    parent[shift:] = np.where(old_parent >= 0, new_id[np.maximum(old_parent, 0)], 0 if virtual else -1)
    split = np.full(M, -1, dtype=np.int64)
    split[shift:] = node_split[pre]
    peak_rank = np.empty(M, dtype=np.int64)
    peak_rank[shift:] = sub_min[pre]
    low_rank = np.empty(M, dtype=np.int64)
    low_rank[shift:] = sub_max[pre]
    cnt = np.empty(M, dtype=np.int64)
    cnt[shift:] = sub_cnt[pre]
    own = np.zeros(M, dtype=np.int64)
    own[shift:] = own_cnt[pre]
    if virtual:
        peak_rank[0] = peak_rank[shift:].min()
        low_rank[0] = n - 1
        cnt[0] = n
    peak = order[peak_rank]
    f = log_density
    end = np.where(split >= 0, f[np.maximum(split, 0)], f[peak])
    real_roots = np.flatnonzero(parent == 0) if virtual else np.array([0])
    start = np.empty(M)
    nonroot = parent >= 0
    start[nonroot] = end[parent[nonroot]]
    start[real_roots] = f[order[low_rank[real_roots]]]
    if virtual:
        start[0] = end[0] = -np.inf
    lo = np.zeros(M, dtype=np.int64)
    lo[1:] = np.cumsum(own)[:-1]
    hi = lo + cnt
    new_owner = new_id[owner]
    member_order = _members_by_node(order, new_owner, lo)

    # children in the new numbering are already sorted elder first; first child = elder
    first_child = np.full(M, -1, dtype=np.int64)
    ch = np.flatnonzero(parent >= 0)[::-1]
    first_child[parent[ch]] = ch  # reversed, so the smallest id (elder) is written last
    elder_leaf = np.arange(M)
    for i in range(M - 1, -1, -1):
        if first_child[i] >= 0:
            elder_leaf[i] = elder_leaf[first_child[i]]
    basin = elder_leaf[new_id[basin_node]]

    # diagram (elder rule): every non-elder child of a real split dies at the split level
    is_young = nonroot & (first_child[np.maximum(parent, 0)] != np.arange(M))
    if virtual:
        is_young &= parent != 0
    young = np.flatnonzero(is_young)
    diagram = np.column_stack([f[peak[young]], end[parent[young]]]) if young.size else np.zeros((0, 2))
    essential = f[peak[real_roots]]
    return dict(
        parent=parent, start=start, end=end, mass=cnt / n, peak=peak, split=split,
        member_order=member_order, member_lo=lo, member_hi=hi, owner=new_owner, basin=basin,
        diagram=np.ascontiguousarray(diagram, dtype=np.float64), essential=essential,
        virtual_root=bool(virtual),
    )
