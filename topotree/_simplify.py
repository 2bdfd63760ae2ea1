"""Simplification of a level-set tree: remove branches below thresholds, fuse single-child chains.

All loops over nodes run in numba, so a raw tree of a million points (tens of thousands of
leaves) simplifies in well under a second.

References
----------
Chazal, F., Guibas, L. J., Oudot, S. Y. and Skraba, P. (2013). Persistence-based clustering in
Riemannian manifolds. J. ACM 60(6).
"""
import numpy as np
from numba import njit

from ._assemble import assemble, subtree_sum
from .graph import earlier_adjacency


@njit(cache=True)
def _chains(parent, keep, virtual):
    """alive (kept with all ancestors), rep (chain top of each node), n_alive_kids, top_pruned."""
    M = parent.shape[0]
    alive = keep.copy()
    for i in range(M):  # preorder: a parent comes before its children
        p = parent[i]
        if p >= 0 and not alive[p]:
            alive[i] = False
    kids = np.zeros(M, dtype=np.int64)
    for i in range(M):
        if alive[i] and parent[i] >= 0:
            kids[parent[i]] += 1
    rep = np.arange(M)
    top_pruned = np.full(M, -1, dtype=np.int64)
    for i in range(M):
        p = parent[i]
        if p < 0:
            continue
        if not alive[i]:
            rep[i] = rep[p]
            top_pruned[i] = i if alive[p] else top_pruned[p]
        elif kids[p] == 1 and not (virtual and p == 0):
            rep[i] = rep[p]
    return alive, rep, kids, top_pruned


@njit(cache=True)
def _targets(parent, split, owner, basin, rank, alive, kids, top_pruned, size, ptr, ind):
    """For each removed branch, the basin leaf that absorbs it (-1: its parent becomes a leaf).

    A branch hanging from node P, which splits at vertex v, goes to the basin of v's highest
    neighbour inside a kept child of P, as ToMATo joins a pruned cluster to the cluster on the
    other side of the merge vertex.
    """
    M = parent.shape[0]
    target = np.full(M, -1, dtype=np.int64)
    for c in range(M):
        if top_pruned[c] != c:
            continue
        p = parent[c]
        if kids[p] == 0:
            continue
        v = split[p]
        best = -1
        best_rank = rank.shape[0]
        for e in range(ptr[v], ptr[v + 1]):
            u = ind[e]
            if rank[u] >= rank[v] or rank[u] >= best_rank:
                continue
            o = owner[u]
            # the kept children of p are the alive nodes k with parent p; o lies under one of them
            # when its ancestor at depth(p)+1 is alive: climb via subtree ranges
            k = p + 1
            inside = False
            while k < p + size[p]:
                if o >= k and o < k + size[k]:
                    inside = alive[k]
                    break
                k += size[k]
            if inside:
                best = u
                best_rank = rank[u]
        if best >= 0:
            target[c] = basin[best]
    return target


@njit(cache=True)
def _resolve(parent, rep, depth_order, target, top_pruned):
    M = parent.shape[0]
    resolved = np.full(M, -1, dtype=np.int64)
    for t in depth_order:  # deepest branches first: a target lies deeper than its branch
        if top_pruned[t] != t:
            continue
        if target[t] < 0:
            resolved[t] = rep[parent[t]]
        else:
            top = top_pruned[target[t]]
            resolved[t] = rep[target[t]] if top < 0 else resolved[top]
    leaf_of = rep.copy()
    for i in range(M):
        if top_pruned[i] >= 0:
            leaf_of[i] = resolved[top_pruned[i]]
    return leaf_of


def simplified_arrays(tree, min_persistence, min_mass):
    """Node arrays of ``tree`` simplified at the given thresholds (see ``ClusterTree.simplify``)."""
    M = tree.n_nodes
    parent = np.asarray(tree.parent)
    virtual = tree.virtual_root
    keep = (tree.persistence >= min_persistence) & (tree.basin_mass >= min_mass)
    keep |= parent < 0
    if virtual:
        keep |= parent == 0
    alive, rep, kids, top_pruned = _chains(parent, keep, virtual)
    chain_end = alive & (kids != 1)
    bottom = np.arange(M)
    bottom[rep[chain_end]] = np.flatnonzero(chain_end)
    tops = np.flatnonzero(alive & (rep == np.arange(M)))
    if virtual:
        tops = tops[tops != 0]
    idx = np.full(M, -1, dtype=np.int64)
    idx[tops] = np.arange(tops.shape[0])
    par = parent[tops]
    new_parent = np.where(par >= 0, idx[rep[np.maximum(par, 0)]], -1)
    if virtual:
        new_parent[par == 0] = -1
    b = bottom[tops]
    new_split = np.where(kids[b] >= 2, tree.split[b], -1)
    order = np.asarray(tree.order)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    if np.any(top_pruned >= 0):
        size = subtree_sum(parent, np.ones(M)).astype(np.int64)
        ptr, ind = earlier_adjacency(tree.neighbors, tree.bridges, rank)
        target = _targets(parent, np.asarray(tree.split), np.asarray(tree.owner), np.asarray(tree.basin),
                          rank, alive, kids, top_pruned, size, ptr, ind)
        depth_order = np.argsort(-tree.depth, kind="stable")
        leaf_of = _resolve(parent, rep, depth_order, target, top_pruned)
    else:
        leaf_of = rep
    return assemble(tree.log_density, order, rank, new_parent, new_split,
                    idx[rep[tree.owner]], idx[leaf_of[tree.basin]])
