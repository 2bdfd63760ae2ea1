"""The selection score and leaf twins."""
import numpy as np

import topotree as tt
from topotree.datasets import hierarchical_mixture


def test_twins_are_leaf_siblings_and_symmetric():
    from topotree.align._trees import twins

    m = hierarchical_mixture(2000, dim=2, n_leaves=9, seed=3)
    tree = tt.build_tree(m.X).simplify()
    tw = twins(tree)
    leaves = tree.leaves
    assert tw.shape == (len(leaves),)
    for i, j in enumerate(tw):
        if j >= 0:
            assert tw[j] == i and j != i
            assert tree.parent[leaves[i]] == tree.parent[leaves[j]]
            assert len(tree.children(tree.parent[leaves[i]])) == 2
        else:  # no twin: its parent has a non-leaf child (or it is the root)
            p = tree.parent[leaves[i]]
            assert p < 0 or not all(tree.is_leaf[c] for c in tree.children(p))


def test_selection_score_twins_forgive_split_boundaries():
    # a map that sends one half of a split cluster to the other half of B's split is wrong only at
    # an arbitrary boundary: with twins it is fully consistent, without twins it is not
    from topotree.align._selection import SelectionScore

    r = np.random.default_rng(0)
    X = np.r_[r.normal(size=(300, 3)), r.normal(size=(300, 3)) + 10.0]
    lab = np.r_[np.zeros(300, int), np.ones(300, int)]
    lab[(lab == 0) & (X[:, 0] > 0)] = 2  # cluster 0 split in two leaves: 0 and 2
    twin = np.array([2, -1, 0])
    leaf_map = np.array([2, 1, 0])  # the halves swapped
    M, t = np.eye(3), np.zeros(3)
    plain = SelectionScore(X, X, lab, lab, 600, 0).consistency(M, t, leaf_map)
    lenient = SelectionScore(X, X, lab, lab, 600, 0, twin_b=twin).consistency(M, t, leaf_map)
    assert plain < 0.7 and lenient == 1.0
    assert SelectionScore(X, X, lab, lab, 600, 0, twin_b=twin).consistency(M, t, np.arange(3)) == 1.0
