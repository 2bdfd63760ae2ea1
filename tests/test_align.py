import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import topotree as tt
from topotree.align import align, procrustes
from topotree.datasets import hierarchical_mixture


def _rot(d, seed):
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))[0]


@pytest.mark.parametrize("kind", ["orthogonal", "similarity", "affine"])
def test_procrustes_exact_recovery(kind):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 4))
    Q = _rot(4, 1)
    s = 1.0 if kind == "orthogonal" else 2.5
    M = s * Q if kind != "affine" else rng.normal(size=(4, 4))
    t = rng.normal(size=4)
    al = procrustes(A, A @ M + t, kind)
    assert np.abs(al.matrix - M).max() < 1e-6
    assert np.abs(al.offset - t).max() < 1e-6
    assert np.abs(al.inverse_transform(al.transform(A)) - A).max() < 1e-6
    assert al.residuals.max() < 1e-6


def test_procrustes_reflection_and_different_dims():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(40, 3))
    F = np.diag([1.0, 1.0, -1.0])
    assert np.abs(procrustes(A, A @ F).transform(A) - A @ F).max() < 1e-9
    proper = procrustes(A, A @ F, allow_reflection=False)
    assert np.linalg.det(proper.matrix) > 0
    # 3 -> 5 dims: a semi-orthogonal embedding
    E = np.linalg.qr(rng.normal(size=(5, 5)))[0][:3]
    al = procrustes(A, 2 * A @ E + 1, "similarity")
    assert al.matrix.shape == (3, 5)
    assert np.abs(al.transform(A) - (2 * A @ E + 1)).max() < 1e-9
    assert np.abs(al.inverse_transform(2 * A @ E + 1) - A).max() < 1e-9
    # 5 -> 3 is not injective
    back = procrustes(2 * A @ E + 1, A, "similarity")
    with pytest.raises(ValueError, match="inverse"):
        back.inverse_transform(A)


def test_procrustes_weights_and_ridge():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(20, 3))
    B = A * 3.0 + 1
    B[0] += 100  # an outlier with zero weight is ignored
    w = np.ones(20)
    w[0] = 0
    assert abs(procrustes(A, B, "similarity", weights=w).scale - 3.0) < 1e-9
    # two anchors in 3 dims: affine is underdetermined, the ridge keeps it near the similarity fit
    al = procrustes(A[:2], B[1:3], "affine", ridge=1.0)
    assert np.isfinite(al.matrix).all()


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 10.0))
def test_procrustes_similarity_invariance(seed, scale):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(12, 3))
    Q = _rot(3, seed + 1)
    t = rng.normal(size=3) * 5
    al = procrustes(A, scale * A @ Q + t, "similarity")
    assert abs(al.scale - scale) < 1e-6 * scale
    assert np.abs(al.transform(A) - (scale * A @ Q + t)).max() < 1e-6 * (1 + scale)


def _fresh(mix, n, seed):
    rng = np.random.default_rng(seed)
    lab = rng.choice(len(mix.weights), size=n, p=mix.weights)
    L = np.linalg.cholesky(mix.covariances)
    return mix.means[lab] + np.einsum("nij,nj->ni", L[lab], rng.normal(size=(n, mix.means.shape[1])))


def test_align_recovers_similarity_transform():
    mix = hierarchical_mixture(3000, dim=3, n_leaves=6, seed=3)
    A = mix.X
    Q = _rot(3, 4)
    B = 1.8 * A @ Q + np.array([3.0, -2.0, 5.0])
    perm = np.random.default_rng(5).permutation(A.shape[0])
    al = align(A, B[perm], "similarity")
    err = np.linalg.norm(al.transform(A) - B) / np.linalg.norm(B - B.mean(0))
    assert err < 0.02
    assert abs(al.scale - 1.8) < 0.03
    assert al.score < 0.05
    assert len(al.anchors[0]) == len(al.residuals)


def test_align_fresh_samples_of_different_sizes():
    mix = hierarchical_mixture(2500, dim=4, n_leaves=5, seed=6)
    Xb = _fresh(mix, 1700, 7)
    Q = _rot(4, 8)
    B = 0.5 * Xb @ Q - 3.0
    al = align(mix.X, B, "affine")
    # fresh sample: compare the mapped component means with B's true means
    Tm = al.transform(mix.means)
    Bm = 0.5 * mix.means @ Q - 3.0
    assert np.linalg.norm(Tm - Bm) / np.linalg.norm(Bm - Bm.mean(0)) < 0.05


def test_align_different_dims():
    mix = hierarchical_mixture(2000, dim=3, n_leaves=4, seed=9)
    E = np.linalg.qr(np.random.default_rng(10).normal(size=(5, 5)))[0][:3]
    B = mix.X @ E
    al = align(mix.X, B, "orthogonal")
    assert al.matrix.shape == (3, 5)
    assert np.linalg.norm(al.transform(mix.X) - B) / np.linalg.norm(B - B.mean(0)) < 0.02


def test_align_given_trees_and_match_trees_result():
    mix = hierarchical_mixture(2000, dim=2, n_leaves=4, seed=11)
    B = mix.X[::-1] * 2.0
    ta = tt.build_tree(mix.X).simplify()
    tb = tt.build_tree(B).simplify()
    al = align(mix.X, B, "similarity", tree_a=ta, tree_b=tb)
    assert al.info["tree_a"] is ta
    assert np.abs(al.transform(mix.X) - mix.X * 2.0).max() < 0.05 * np.abs(B).max()


@pytest.mark.parametrize("bad, match", [
    (dict(A=np.full((50, 2), np.nan)), "A contains NaN"),
    (dict(A=np.zeros(50)), "A must be a 2-D"),
    (dict(B=np.zeros((5, 2))), "B has 5 points"),
    (dict(transform="rigid"), "transform must be one of"),
    (dict(density="kde"), "density must be one of"),
    (dict(n_refine=0), "n_refine"),
])
def test_align_bad_input(bad, match):
    rng = np.random.default_rng(0)
    args = dict(A=rng.normal(size=(200, 2)), B=rng.normal(size=(200, 2)), transform="similarity")
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        align(args.pop("A"), args.pop("B"), **args)


def test_procrustes_bad_input():
    with pytest.raises(ValueError, match="same number of rows"):
        procrustes(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="transform"):
        procrustes(np.eye(3), np.eye(3), "projective")
    with pytest.raises(ValueError, match="anchors_a contains NaN"):
        procrustes(np.array([[np.nan, 1.0]]), np.array([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="weights"):
        procrustes(np.eye(3), np.eye(3), weights=[1, 2])
    al = procrustes(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="X must have 3 columns"):
        al.transform(np.zeros((2, 4)))


def test_nearest_blas_path_matches_kdtree():
    from scipy.spatial import cKDTree

    from topotree.align import _nearest

    rng = np.random.default_rng(12)
    P = rng.normal(size=(700, 20))
    Q = rng.normal(size=(1500, 20))
    d, i = _nearest(Q, P)
    d_ref, i_ref = cKDTree(P).query(Q)
    assert np.array_equal(i, i_ref)
    assert np.allclose(d, d_ref)
    # chamfer_score: zero for identical clouds, large when shifted by several spreads
    from topotree.align import chamfer_score

    assert chamfer_score(P, P) < 1e-6
    assert chamfer_score(P + 10.0, P) > 1.0


def test_align_many_dims_whitened_fresh():
    # 16 dims, whitened clouds (identity covariance: principal axes carry no information), fresh
    # sample of another size: the GMM density and discriminant coordinates recover the clusters
    mix = hierarchical_mixture(2000, dim=16, n_leaves=5, seed=13)
    Xb = _fresh(mix, 1500, 14)

    def whiten(Z):
        Z = Z - Z.mean(0)
        e, V = np.linalg.eigh(np.cov(Z.T))
        return Z @ V / np.sqrt(e)

    A = whiten(mix.X)
    Q = _rot(16, 15)
    B = whiten(Xb @ Q)
    lab_b = np.random.default_rng(14).choice(len(mix.weights), size=1500, p=mix.weights)  # _fresh's labels
    al = align(A, B, "affine")
    assert set(al.info["density_energy"]) == {"knn", "gmm"}  # auto runs both
    assert al.info["density_energy"][al.info["density"]] == min(al.info["density_energy"].values())
    gm = align(A, B, "affine", density="gmm")
    assert len(gm.info["tree_a"].leaves) == 5 and len(gm.info["tree_b"].leaves) == 5
    from topotree import baselines, metrics

    acc = metrics.label_transfer_accuracy(al.transform(A), mix.labels, B, lab_b)
    oracle = baselines.oracle_procrustes(A, B, "affine", labels_a=mix.labels, labels_b=lab_b)
    acc_o = metrics.label_transfer_accuracy(oracle.transform(A), mix.labels, B, lab_b)
    assert acc >= 0.95 * acc_o
    assert acc > metrics.label_transfer_accuracy(baselines.moment_align(A, B).transform(A), mix.labels, B, lab_b)


def test_discriminant_coordinates_rotation_invariant_distances():
    from topotree.align import _discriminant_coordinates, _gmm_fit

    mix = hierarchical_mixture(1500, dim=10, n_leaves=4, seed=16)
    g = _gmm_fit(mix.X, seed=0)
    assert g.n_components >= 4
    P = _discriminant_coordinates(mix.X, g)
    assert P.shape == (1500, g.n_components - 1)
    # leaves of the tree built in these coordinates are the mixture's components
    tree = tt.build_tree(P, log_density=g.score_samples(mix.X)).simplify()
    assert len(tree.leaves) == 4


def test_mixture_divergence_sees_swapped_cluster_shapes():
    # two anisotropic clusters of equal weight in 10 dims: moving each cluster's points onto the
    # other's centre (keeping their own shapes) matches B's centres and weights but not its
    # cluster shapes, which the mixture divergence used by pick_density above 8 dims sees
    from topotree.align import _mixture_divergence

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
    assert _mixture_divergence(X, B, 2) < 0.5 * _mixture_divergence(swapped, B, 2)
    assert _mixture_divergence(X, B, 2) >= -0.5


def test_moment_corrected_matches_moments_and_keeps_exact_map():
    from topotree.align import _moment_corrected

    rng = np.random.default_rng(31)
    A = rng.normal(size=(800, 3)) * [3.0, 1.0, 0.5] + rng.exponential(size=(800, 3))
    Q = _rot(3, 32)
    B = 2.0 * A @ Q + 1.0
    Pa = A[:20]
    w = np.full(20, 1 / 20)
    # from the exact map: unchanged
    M, t = _moment_corrected(A, B, 2.0 * Q, np.ones(3), Pa, B[:20], w)
    assert np.allclose(M, 2.0 * Q, atol=1e-8) and np.allclose(t, 1.0, atol=1e-8)
    # from a distorted map: T(A) gets B's mean and covariance exactly
    M0 = 2.0 * Q @ np.diag([1.3, 0.8, 1.1])
    M, t = _moment_corrected(A, B, M0, np.zeros(3), Pa, B[:20], w)
    TA = A @ M + t
    assert np.allclose(TA.mean(0), B.mean(0)) and np.allclose(np.cov(TA.T), np.cov(B.T))


def test_twins_are_leaf_siblings_and_symmetric():
    from topotree.align import _twins

    m = hierarchical_mixture(2000, dim=2, n_leaves=9, seed=3)
    tree = tt.build_tree(m.X).simplify()
    tw = _twins(tree)
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
    from topotree.align import _selection_score

    r = np.random.default_rng(0)
    X = np.r_[r.normal(size=(300, 3)), r.normal(size=(300, 3)) + 10.0]
    lab = np.r_[np.zeros(300, int), np.ones(300, int)]
    lab[(lab == 0) & (X[:, 0] > 0)] = 2  # cluster 0 split in two leaves: 0 and 2
    twin = np.array([2, -1, 0])
    leaf_map = np.array([2, 1, 0])  # the halves swapped
    M, t = np.eye(3), np.zeros(3)
    plain = _selection_score(X, X, lab, lab, 600, 0).consistency(M, t, leaf_map)
    lenient = _selection_score(X, X, lab, lab, 600, 0, twin_b=twin).consistency(M, t, leaf_map)
    assert plain < 0.7 and lenient == 1.0
    assert _selection_score(X, X, lab, lab, 600, 0, twin_b=twin).consistency(M, t, np.arange(3)) == 1.0


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


def _whiten(Z):
    Z = Z - Z.mean(0)
    e, V = np.linalg.eigh(np.cov(Z.T))
    return Z @ V / np.sqrt(e)


def test_directional_variances_affine_invariant_and_equivariant():
    from topotree.align import _directional_variances

    m = hierarchical_mixture(1500, dim=10, n_leaves=5, seed=21)
    rng = np.random.default_rng(22)
    M = rng.normal(size=(10, 10)) + 3 * np.eye(10)
    V = _directional_variances(m.X, m.labels, 5)
    assert np.allclose(_directional_variances(m.X @ M + 4.0, m.labels, 5), V, atol=1e-8)
    # relabelling the leaves permutes the signature
    p = rng.permutation(5)
    assert np.allclose(_directional_variances(m.X, p[m.labels], 5)[np.ix_(p, p)], V, atol=1e-10)
    assert np.all(np.diag(V) == 0) and np.all(V[~np.eye(5, dtype=bool)] > 0)


def test_gaussian_fit_recovers_map_and_sees_swaps():
    # B is an exact affine image of A with the same leaves: the right leaf map's fit carries
    # every leaf's mean onto its image and its divergence is well below that of a map with two
    # leaves swapped, though the centroids of equal-weight leaves of whitened clouds nearly form
    # a regular simplex (which the swap maps onto itself)
    from topotree import metrics
    from topotree.align import _GaussianFit

    m = hierarchical_mixture(2000, dim=12, n_leaves=4, weights="equal", seed=23)
    A = _whiten(m.X)
    rng = np.random.default_rng(24)
    M = _rot(12, 25) @ np.diag(rng.uniform(0.5, 2.0, 12))
    t = rng.normal(size=12)
    B = A @ M + t
    g = _GaussianFit(A, B, m.labels, m.labels, 4, 4)
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
    from topotree.align import _directional_variances, _signature_maps

    m = hierarchical_mixture(3000, dim=16, n_leaves=6, weights="equal", seed=26)
    Xb, lb = m.sample(2500, seed=27)
    perm = np.random.default_rng(28).permutation(6)  # A leaf i is B leaf perm[i]
    A = _whiten(m.X)
    B = _whiten(Xb @ _rot(16, 29))
    maps = _signature_maps(_directional_variances(A, m.labels, 6), _directional_variances(B, perm[lb], 6))
    assert np.array_equal(maps[0], perm)


def test_align_equal_weight_clusters_whitened_many_dims():
    # four equal-weight clusters in 16 dims, both clouds whitened, fresh sample of another size:
    # the centroids form a near-regular simplex, so every leaf map fits them equally well; the
    # clusters' shapes decide (the earlier centroid-based choice got 3 of 12 such seeds right)
    mix = hierarchical_mixture(2000, dim=16, n_leaves=4, weights="equal", seed=44)
    Xb, lb = mix.sample(1500, seed=45)
    A = _whiten(mix.X)
    B = _whiten(Xb @ _rot(16, 46))
    from topotree import baselines, metrics

    al = align(A, B, "affine")
    acc = metrics.label_transfer_accuracy(al.transform(A), mix.labels, B, lb)
    oracle = baselines.oracle_procrustes(A, B, "affine", labels_a=mix.labels, labels_b=lb)
    assert acc >= 0.95 * metrics.label_transfer_accuracy(oracle.transform(A), mix.labels, B, lb)


def test_pick_density_sees_swapped_equal_weight_clusters():
    # 12 dims, four equal-weight clusters, both clouds whitened: a map that sends two clusters onto
    # each other's places fits the centroids (a near-regular simplex) as well as the right map;
    # pick_density's Gaussian-shape criterion above 8 dims still prefers the right one
    from topotree.align import _build

    m = hierarchical_mixture(2000, dim=12, n_leaves=4, weights="equal", seed=30)
    A = _whiten(m.X)
    B = A @ _rot(12, 31)
    mu_a = np.array([A[m.labels == c].mean(0) for c in range(4)])
    mu_b = np.array([B[m.labels == c].mean(0) for c in range(4)])
    good = procrustes(mu_a, mu_b, "orthogonal")
    bad = procrustes(mu_a, mu_b[[1, 0, 2, 3]], "orthogonal")
    trees = dict(tree_a=_build(A, "gmm", None, 0), tree_b=_build(B, "gmm", None, 0))
    good.info.update(trees, density_a="good")
    bad.info.update(trees, density_a="bad")
    from topotree.align import pick_density

    picked = pick_density(A, B, [bad, good])
    assert picked is good
    assert picked.info["density_energy"]["good"] < picked.info["density_energy"]["bad"]
