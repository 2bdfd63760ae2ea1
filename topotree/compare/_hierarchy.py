"""Internal nodes through the leaves: the node pairs whose matched leaves agree, and the edit
cost of the mapping a matching defines."""
from __future__ import annotations

import numpy as np

from ._curves import chain

__all__ = ["derive_pairs", "edit_cost"]


def derive_pairs(tree_a, tree_b, leaves_a, leaves_b, ra, cb, node_cost):
    """All node pairs whose matched leaves agree, one pair per cluster (best node cost)."""
    pa, pb = np.asarray(tree_a.parent), np.asarray(tree_b.parent)

    def clusters(parent, leaf_ids, M):
        sets = [set() for _ in range(M)]
        for p, leaf in enumerate(leaf_ids):
            for a in chain(parent, leaf):
                sets[a].add(p)
        return [frozenset(s) for s in sets]

    sa = clusters(pa, [leaves_a[i] for i in ra], tree_a.n_nodes)
    sb = clusters(pb, [leaves_b[j] for j in cb], tree_b.n_nodes)
    cand_a, cand_b = {}, {}
    for i, s in enumerate(sa):
        if s:
            cand_a.setdefault(s, []).append(i)
    for j, s in enumerate(sb):
        if s:
            cand_b.setdefault(s, []).append(j)
    pairs = []
    for s, nodes_a in cand_a.items():
        nodes_b = cand_b.get(s)
        if not nodes_b:
            continue
        sub = node_cost(np.asarray(nodes_a), np.asarray(nodes_b))
        k = int(np.argmin(sub))  # first minimum: deterministic
        pairs.append((nodes_a[k // len(nodes_b)], nodes_b[k % len(nodes_b)], s))
    pairs.sort()
    return pairs


def edit_cost(Da, Db, pairs, unmatched_a, unmatched_b):
    """Normalised edit cost: L1 between matched nodes' area curves, whole area for the rest."""
    G = Da.area.shape[1]
    total = Da.area.sum() / G + Db.area.sum() / G
    if total <= 0:
        return 0.0
    c = sum(np.abs(Da.area[u] - Db.area[v]).sum() for u, v in pairs) / G
    c += Da.area[unmatched_a].sum() / G + Db.area[unmatched_b].sum() / G
    return float(min(1.0, max(0.0, c / total)))
