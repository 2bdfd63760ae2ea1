"""The result of a tree matching, ``TreeMatching``, and the same matching seen from the other side."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..tree import ClusterTree

__all__ = ["TreeMatching", "swapped", "order_key"]


@dataclass(frozen=True, eq=False)
class TreeMatching:
    """The result of :func:`match_trees` (immutable).

    Attributes
    ----------
    pairs : list of (node_a, node_b) ids of ``tree_a`` and ``tree_b`` (leaves and internal nodes),
        in preorder of ``tree_a``. Ancestors of matched nodes are matched to each other or left
        unmatched, never crossed.
    cost : float in [0, 1]; the normalised edit cost of the mapping (0 for identical trees).
    unmatched_a, unmatched_b : node ids left unmatched.
    confidence : (len(pairs),) in [0, 1]. 1 - exp(-margin / ambiguity_tol), the margin being the
        least cost increase of exchanging the pair's partner with another pair's (or with an
        unmatched leaf; for an internal pair, exchanges across its cluster's boundary); with point
        clouds, also at most 1 - exp(-gap / 0.05) when another local optimum of the geometric
        objective, worse by the relative ``gap``, does not contain the pair.
    ambiguous : list of tuples of pair indices (into ``pairs``): groups of pairs that can be
        exchanged for less than ``ambiguity_tol`` (e.g. sibling leaves of nearly equal mass), or
        that another local optimum within 5% of the objective pairs differently.
    tree_a, tree_b : the trees the ids refer to (simplified ones if ``match_trees`` simplified).
    leaf_cost : float; the final assignment cost of the leaves (descriptor + geometry terms).
    """

    pairs: list
    cost: float
    unmatched_a: list
    unmatched_b: list
    confidence: np.ndarray
    ambiguous: list
    tree_a: ClusterTree
    tree_b: ClusterTree
    leaf_cost: float

    def as_dict(self) -> dict:
        """Pairs as a dict node_a -> node_b."""
        return dict(self.pairs)

    @property
    def leaf_pairs(self) -> list:
        """The pairs in which at least one node is a leaf."""
        la, lb = self.tree_a.is_leaf, self.tree_b.is_leaf
        return [(a, b) for a, b in self.pairs if la[a] or lb[b]]

    def __repr__(self):
        return (f"TreeMatching(n_pairs={len(self.pairs)}, cost={self.cost:.4g}, "
                f"unmatched_a={len(self.unmatched_a)}, unmatched_b={len(self.unmatched_b)}, "
                f"ambiguous={len(self.ambiguous)})")


def swapped(m: TreeMatching) -> TreeMatching:
    """The same matching seen from the other side."""
    order = sorted(range(len(m.pairs)), key=lambda k: m.pairs[k][1])
    new_index = {k: i for i, k in enumerate(order)}
    return TreeMatching(pairs=[(m.pairs[k][1], m.pairs[k][0]) for k in order], cost=m.cost,
                        unmatched_a=m.unmatched_b, unmatched_b=m.unmatched_a,
                        confidence=m.confidence[order] if len(order) else m.confidence,
                        ambiguous=[tuple(sorted(new_index[k] for k in g)) for g in m.ambiguous],
                        tree_a=m.tree_b, tree_b=m.tree_a, leaf_cost=m.leaf_cost)


def order_key(tree, X):
    """A total order on (tree, cloud) inputs: matching solves in this canonical order, so swapping
    the inputs swaps the result exactly."""
    return (len(tree.leaves), tree.n_nodes, tree.n_points, np.asarray(tree.mass).tobytes(),
            np.asarray(tree.log_density).tobytes(), b"" if X is None else X.tobytes())
