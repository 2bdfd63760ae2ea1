"""pick_density: choosing between alignments on different densities."""
import numpy as np

import topotree as tt
from tests.helpers import rot, whiten
from topotree.align import procrustes
from topotree.datasets import hierarchical_mixture


def test_pick_density_compares_at_one_mixture_size():
    # B: four clusters in 10 dims. A moment-matched but cluster-scrambled map looks perfect to a
    # one-component fit; pick_density must use the same (largest) mixture size for every candidate
    from types import SimpleNamespace

    from topotree.align import pick_density

    m = hierarchical_mixture(2000, dim=10, n_leaves=4, separation=8.0, seed=5)
    X = m.X
    good = procrustes(X, X)
    good.info["tree_b"] = SimpleNamespace(leaves=(1, 2, 3, 4))
    # scramble: whiten, rotate at random, colour back (same mean and covariance as X)
    mu = X.mean(0)
    C = np.cov(X.T)
    e, V = np.linalg.eigh(C)
    W, Wi = (V / np.sqrt(e)) @ V.T, (V * np.sqrt(e)) @ V.T
    Q = np.linalg.qr(np.random.default_rng(1).normal(size=(10, 10)))[0]
    Mb = W @ Q @ Wi
    bad = tt.Alignment("affine", Mb, mu - mu @ Mb, 1.0, info={"tree_b": SimpleNamespace(leaves=(1,))})
    assert pick_density(X, X, [bad, good]) is good


def test_pick_density_sees_swapped_equal_weight_clusters():
    # 12 dims, four equal-weight clusters, both clouds whitened: a map that sends two clusters onto
    # each other's places fits the centroids (a near-regular simplex) as well as the right map;
    # pick_density's Gaussian-shape criterion above 8 dims still prefers the right one
    from topotree.align._trees import build

    m = hierarchical_mixture(2000, dim=12, n_leaves=4, weights="equal", seed=30)
    A = whiten(m.X)
    B = A @ rot(12, 31)
    mu_a = np.array([A[m.labels == c].mean(0) for c in range(4)])
    mu_b = np.array([B[m.labels == c].mean(0) for c in range(4)])
    good = procrustes(mu_a, mu_b, "orthogonal")
    bad = procrustes(mu_a, mu_b[[1, 0, 2, 3]], "orthogonal")
    trees = dict(tree_a=build(A, "gmm", None, 0), tree_b=build(B, "gmm", None, 0))
    good.info.update(trees, density_a="good")
    bad.info.update(trees, density_a="bad")
    from topotree.align import pick_density

    picked = pick_density(A, B, [bad, good])
    assert picked is good
    assert picked.info["density_energy"]["good"] < picked.info["density_energy"]["bad"]
