"""Correspondence-free distances: nearest neighbours, Chamfer, mixture divergence."""
import numpy as np


def test_nearest_blas_path_matches_kdtree():
    from scipy.spatial import cKDTree

    from topotree._nearest import nearest

    rng = np.random.default_rng(12)
    P = rng.normal(size=(700, 20))
    Q = rng.normal(size=(1500, 20))
    d, i = nearest(Q, P)
    d_ref, i_ref = cKDTree(P).query(Q)
    assert np.array_equal(i, i_ref)
    assert np.allclose(d, d_ref)
    # chamfer_score: zero for identical clouds, large when shifted by several spreads
    from topotree.align import chamfer_score

    assert chamfer_score(P, P) < 1e-6
    assert chamfer_score(P + 10.0, P) > 1.0


def test_mixture_divergence_sees_swapped_cluster_shapes():
    # two anisotropic clusters of equal weight in 10 dims: moving each cluster's points onto the
    # other's centre (keeping their own shapes) matches B's centres and weights but not its
    # cluster shapes, which the mixture divergence used by pick_density above 8 dims sees
    from topotree.align._diagnostics import mixture_divergence

    d = 10
    mu = np.zeros((2, d))
    mu[1, 0] = 8.0
    L = [np.diag(np.r_[3.0, np.ones(d - 1)]), np.diag(np.r_[1.0, 3.0, np.ones(d - 2)])]

    def sample(n, seed):
        r = np.random.default_rng(seed)
        lab = r.integers(0, 2, n)
        return np.stack([mu[c] + L[c] @ r.normal(size=d) for c in lab]), lab

    X, la = sample(1500, 1)
    B, _ = sample(1500, 2)
    swapped = X - mu[la] + mu[1 - la]
    assert mixture_divergence(X, B, 2) < 0.5 * mixture_divergence(swapped, B, 2)
    assert mixture_divergence(X, B, 2) >= -0.5
