"""Matching with a point correspondence: the Jaccard overlap of node members, and
``matching_accuracy`` (an unsupervised matching scored against paired data)."""
from __future__ import annotations

import numpy as np

from .._typing import ArrayLike
from ._descriptors import _subtree_rows
from ._inputs import check_correspondence
from ._result import TreeMatching

__all__ = ["overlap", "matching_accuracy"]


def overlap(tree_a, tree_b, ia, ib):
    """(M_a, M_b) intersections, sizes for the Jaccard of node members through a correspondence."""
    Ma, Mb = tree_a.n_nodes, tree_b.n_nodes
    oa = np.asarray(tree_a.owner)[ia]
    ob = np.asarray(tree_b.owner)[ib]
    inter = np.zeros((Ma, Mb))
    np.add.at(inter, (oa, ob), 1.0)
    _subtree_rows(np.asarray(tree_a.parent), inter)
    interT = np.ascontiguousarray(inter.T)
    _subtree_rows(np.asarray(tree_b.parent), interT)
    inter = interT.T
    # sizes: the members of a node that take part in the correspondence
    size_a = np.bincount(oa, minlength=Ma).astype(np.float64)[:, None]
    _subtree_rows(np.asarray(tree_a.parent), size_a)
    size_b = np.bincount(ob, minlength=Mb).astype(np.float64)[:, None]
    _subtree_rows(np.asarray(tree_b.parent), size_b)
    size_a, size_b = size_a[:, 0], size_b[:, 0]
    union = size_a[:, None] + size_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 0.0)


def matching_accuracy(matching: TreeMatching, correspondence: ArrayLike, *, leaves_only: bool = False) -> float:
    """Mean Jaccard overlap of the members of matched nodes, through a point correspondence.

    Scores an (unsupervised) matching against paired data: node ``u`` of A and ``v`` of B overlap
    by |members(u) mapped to B  intersected with  members(v)| / |union|.

    Parameters
    ----------
    matching : TreeMatching (its ``tree_a`` and ``tree_b`` are used).
    correspondence : (n_a,) int array (-1: no partner) or (m, 2) point pairs.
    leaves_only : bool, score only the pairs that involve a leaf.

    Examples
    --------
    >>> import numpy as np, topotree as tt
    >>> from topotree.datasets import hierarchical_mixture
    >>> X = hierarchical_mixture(1500, dim=2, n_leaves=3, seed=0).X
    >>> perm = np.random.default_rng(0).permutation(len(X))
    >>> m = tt.match_trees(tt.build_tree(X), tt.build_tree(X[perm]))
    >>> round(tt.matching_accuracy(m, np.argsort(perm)), 6)
    1.0
    """
    if not isinstance(matching, TreeMatching):
        raise TypeError(f"matching must be a TreeMatching, got {type(matching).__name__}")
    ta, tb = matching.tree_a, matching.tree_b
    ia, ib = check_correspondence(correspondence, ta.n_points, tb.n_points)
    pairs = matching.leaf_pairs if leaves_only else matching.pairs
    if not pairs:
        return 0.0
    jac = overlap(ta, tb, ia, ib)
    return float(np.mean([jac[u, v] for u, v in pairs]))
