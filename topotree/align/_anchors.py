"""Anchor pairs from a leaf map: the node pairs it implies (leaves, and internal nodes whose leaf
sets correspond; the roots always), and the centroids of the densest fractions of each node."""
from __future__ import annotations

import numpy as np

from ._params import ANCHOR_QUANTILES
from ._trees import subtree_leaves

__all__ = ["node_pairs", "anchors"]


def node_pairs(tree_a, tree_b, leaf_map):
    """Node pairs implied by a leaf map: leaves, plus internal nodes whose leaf sets correspond."""
    sub_a = subtree_leaves(tree_a)
    sub_b = subtree_leaves(tree_b)
    by_set_b = {s: i for i, s in enumerate(sub_b)}
    pairs = []
    for na in range(tree_a.n_nodes):
        s = sub_a[na]
        if not s:
            continue
        img = frozenset(int(leaf_map[i]) for i in s if leaf_map[i] >= 0)
        if len(img) != len(s):
            continue
        nb = by_set_b.get(img)
        if nb is not None:
            pairs.append((na, nb))
    if not any(tree_a.parent[a] < 0 for a, _ in pairs):
        pairs.append((0, 0))  # the roots always correspond
    return pairs, sub_a, sub_b


def anchors(X, f, labels, leafsets, quantiles=ANCHOR_QUANTILES):
    """Centroids of the densest fractions of each node's points (points whose basin leaf is below it)."""
    out = []
    for s in leafsets:
        m = np.flatnonzero(np.isin(labels, list(s)))
        order = m[np.argsort(-f[m], kind="stable")]
        for q in quantiles:
            top = order[: max(1, int(round(q * order.shape[0])))]
            out.append(X[top].mean(0))
    return np.array(out)
