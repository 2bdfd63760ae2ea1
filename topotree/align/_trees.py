"""Tree helpers of the alignment: the argument check for given trees, the simplified tree of a cloud
on the chosen density, each node's leaf set, leaf growth curves and leaf twins."""
from __future__ import annotations

import numpy as np

from .._gmm import fit_gmm, projected_log_density
from ..build import build_tree
from ..tree import ClusterTree
from ._params import GROWTH_LEVELS, GROWTH_MIN_MASS

__all__ = ["check_tree", "build", "subtree_leaves", "growth_curves", "twins"]


def check_tree(tree, n, name, xname):
    """A given tree (or None), checked to be a ClusterTree on as many points as its cloud."""
    if tree is None:
        return None
    if not isinstance(tree, ClusterTree):
        raise TypeError(f"{name} must be a topotree ClusterTree, got {type(tree).__name__}")
    if tree.n_points != n:
        raise ValueError(f"{name} has {tree.n_points} points but {xname} has {n}")
    return tree


def build(X, density, k, seed):
    """Simplified cluster tree of X: kNN density on X's own kNN graph ("knn"), or ("gmm") the
    log-density of a BIC-chosen Gaussian mixture's marginal in X's discriminant coordinates, on
    the kNN graph of those coordinates."""
    if density == "gmm":
        g = fit_gmm(X, seed=seed)
        P, logd = projected_log_density(X, g)
        return build_tree(P, log_density=logd, k=k, progress=False).simplify()
    return build_tree(X, k=k, progress=False).simplify()


def subtree_leaves(tree):
    """For every node, the positions (in ``tree.leaves``) of the leaves below it."""
    pos = {leaf: i for i, leaf in enumerate(tree.leaves)}
    out = [set() for _ in range(tree.n_nodes)]
    for i in range(tree.n_nodes - 1, -1, -1):  # children after parents in preorder
        if i in pos:
            out[i].add(pos[i])
        p = tree.parent[i]
        if p >= 0:
            out[p] |= out[i]
    return [frozenset(s) for s in out]


def growth_curves(tree, n_levels=GROWTH_LEVELS):
    """Per leaf: the mass of the component holding its peak at levels given as superlevel-set masses."""
    f = np.asarray(tree.log_density)
    n = f.shape[0]
    fs = np.sort(f)[::-1]
    qs = np.linspace(GROWTH_MIN_MASS, 1.0, n_levels)
    levels = fs[np.minimum((qs * n).astype(int), n - 1)]
    sub = subtree_leaves(tree)
    leaf_pos = tree.labels()  # basin leaf of each point
    curves = np.zeros((len(tree.leaves), n_levels))
    for li, leaf in enumerate(tree.leaves):
        chain = [leaf]
        while tree.parent[chain[-1]] >= 0:
            chain.append(int(tree.parent[chain[-1]]))
        for j, lam in enumerate(levels):
            node = chain[-1]
            for a in chain:
                if tree.start[a] < lam:
                    node = a
                    break
            members = tree.members(node)
            curves[li, j] = np.count_nonzero(f[members] >= lam) / n
    del sub, leaf_pos
    return curves


def twins(tree):
    """Per leaf position: the position of its twin (the other child of its parent when both
    children are leaves), or -1."""
    pos = {leaf: i for i, leaf in enumerate(tree.leaves)}
    out = np.full(len(tree.leaves), -1, dtype=np.int64)
    for node in range(tree.n_nodes):
        ch = tree.children(node)
        if len(ch) == 2 and all(c in pos for c in ch):
            out[pos[ch[0]]], out[pos[ch[1]]] = pos[ch[1]], pos[ch[0]]
    return out
