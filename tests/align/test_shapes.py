"""Leaf Gaussians and shape-based leaf maps (many dims)."""
import numpy as np

from tests.helpers import rot, whiten
from topotree.datasets import hierarchical_mixture


def test_directional_variances_affine_invariant_and_equivariant():
    from topotree.align._shapes import directional_variances

    m = hierarchical_mixture(1500, dim=10, n_leaves=5, seed=21)
    rng = np.random.default_rng(22)
    M = rng.normal(size=(10, 10)) + 3 * np.eye(10)
    V = directional_variances(m.X, m.labels, 5)
    assert np.allclose(directional_variances(m.X @ M + 4.0, m.labels, 5), V, atol=1e-8)
    # relabelling the leaves permutes the signature
    p = rng.permutation(5)
    assert np.allclose(directional_variances(m.X, p[m.labels], 5)[np.ix_(p, p)], V, atol=1e-10)
    assert np.all(np.diag(V) == 0) and np.all(V[~np.eye(5, dtype=bool)] > 0)


def test_gaussian_fit_recovers_map_and_sees_swaps():
    # B is an exact affine image of A with the same leaves: the right leaf map's fit carries
    # every leaf's mean onto its image and its divergence is well below that of a map with two
    # leaves swapped, though the centroids of equal-weight leaves of whitened clouds nearly form
    # a regular simplex (which the swap maps onto itself)
    from topotree import metrics
    from topotree.align._shapes import GaussianFit

    m = hierarchical_mixture(2000, dim=12, n_leaves=4, weights="equal", seed=23)
    A = whiten(m.X)
    rng = np.random.default_rng(24)
    M = rot(12, 25) @ np.diag(rng.uniform(0.5, 2.0, 12))
    t = rng.normal(size=12)
    B = A @ M + t
    g = GaussianFit(A, B, m.labels, m.labels, 4, 4)
    Mf, tf, div = g.fit(np.arange(4), 300)
    mu_a = np.array([A[m.labels == c].mean(0) for c in range(4)])
    mu_b = np.array([B[m.labels == c].mean(0) for c in range(4)])
    assert np.linalg.norm(mu_a @ Mf + tf - mu_b) / np.linalg.norm(mu_b - mu_b.mean(0)) < 0.05
    assert metrics.label_transfer_accuracy(A @ Mf + tf, m.labels, B, m.labels) > 0.99
    for swap in ([1, 0, 2, 3], [0, 1, 3, 2], [2, 1, 0, 3]):
        assert g.fit(np.array(swap), 300)[2] > 1.5 * div


def test_signature_maps_find_permutation_of_simplex_clusters():
    # equal-weight clusters, whitened, fresh sample, rotated, leaves numbered differently in B:
    # the directional-variance signature recovers the leaf permutation
    from topotree.align._shapes import directional_variances, signature_maps

    m = hierarchical_mixture(3000, dim=16, n_leaves=6, weights="equal", seed=26)
    Xb, lb = m.sample(2500, seed=27)
    perm = np.random.default_rng(28).permutation(6)  # A leaf i is B leaf perm[i]
    A = whiten(m.X)
    B = whiten(Xb @ rot(16, 29))
    maps = signature_maps(directional_variances(A, m.labels, 6), directional_variances(B, perm[lb], 6))
    assert np.array_equal(maps[0], perm)
