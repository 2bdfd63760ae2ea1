"""Alignment's summary repr and the info keys that say what they hold."""
import numpy as np

import topotree as tt
from topotree.align import pick_density
from topotree.datasets import hierarchical_mixture


def test_repr_is_a_summary_not_the_matrix():
    X = hierarchical_mixture(600, dim=2, n_leaves=3, seed=0).X
    al = tt.align(X, X[:, ::-1] + 3.0, transform="affine", search="trees")  # a tree matching: leaves shown
    text = repr(al)
    assert text.startswith("Alignment(kind='affine', dims=2->2") and "leaves=" in text and "array" not in text
    assert "\n" not in text and len(text) < 200
    big = tt.procrustes(np.random.default_rng(0).normal(size=(300, 40)), np.random.default_rng(1).normal(size=(300, 40)))
    assert "array" not in repr(big) and "dims=40->40" in repr(big)


def test_density_score_says_what_it_holds():
    rng = np.random.default_rng(0)
    for d, kind in ((3, "energy distance"), (10, "divergence")):
        X = rng.normal(size=(200, d))
        good, bad = tt.procrustes(X, X), tt.procrustes(X, X + 5.0)
        best = pick_density(X, X, [bad, good])
        assert best is good and kind in best.info["density_score_kind"]
        assert best.info["density_score"] == best.info["density_energy"]  # the old key is kept
