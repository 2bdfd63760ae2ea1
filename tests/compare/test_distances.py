"""Tests of tree_distance, mass_diagram and merge_distortion against independent references."""
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topotree as tt
from topotree.datasets import hierarchical_mixture

SETTINGS = dict(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_tree(seed, n=300):
    rng = np.random.default_rng(seed)
    X = hierarchical_mixture(n, dim=int(rng.integers(2, 4)), n_leaves=int(rng.integers(1, 6)), seed=seed).X
    t = tt.build_tree(X, k=10)
    return t if rng.uniform() < 0.5 else t.simplify()


# ---------------------------------------------------------------------------------- tree_distance
@pytest.mark.parametrize("method", ["matching", "bottleneck", "wasserstein"])
def test_distance_zero_on_identical_and_symmetric(method):
    a, b = random_tree(1), random_tree(2)
    assert tt.tree_distance(a, a, method) == 0.0
    d_ab, d_ba = tt.tree_distance(a, b, method), tt.tree_distance(b, a, method)
    assert d_ab > 0
    assert d_ab == pytest.approx(d_ba, abs=1e-12)
    if method == "matching":
        assert d_ab <= 1.0


@settings(**SETTINGS)
@given(seeds=st.lists(st.integers(0, 10_000), min_size=3, max_size=3, unique=True))
def test_diagram_distances_satisfy_triangle_inequality(seeds):
    trees = [random_tree(s) for s in seeds]
    for method in ("bottleneck", "wasserstein"):
        d = {(i, j): tt.tree_distance(trees[i], trees[j], method) for i, j in itertools.permutations(range(3), 2)}
        for i, j, k in itertools.permutations(range(3)):
            assert d[i, k] <= d[i, j] + d[j, k] + 1e-9


def brute_bottleneck(a, b):
    """Smallest threshold admitting a perfect matching (points or their diagonal projections)."""
    from scipy.optimize import linear_sum_assignment

    n, m = len(a), len(b)
    C = np.full((n + m, n + m), np.inf)
    C[:n, :m] = np.abs(a[:, None, :] - b[None, :, :]).max(-1)
    C[np.arange(n), m + np.arange(n)] = (a[:, 1] - a[:, 0]) / 2
    C[n + np.arange(m), np.arange(m)] = (b[:, 1] - b[:, 0]) / 2
    C[n:, m:] = 0.0
    for t in np.unique(C[np.isfinite(C)]):
        M = (C > t).astype(float)
        r, c = linear_sum_assignment(M)
        if M[r, c].sum() == 0:
            return t


def test_bottleneck_matches_brute_force():
    # gudhi 3.13's exact bottleneck_distance says 0.69 one way and 0.6933 the other on these two
    # trees (found by the triangle-inequality test); the true distance is 0.42.
    a, b = random_tree(124), random_tree(239)
    assert brute_bottleneck(tt.mass_diagram(a), tt.mass_diagram(b)) == pytest.approx(0.42)
    assert tt.tree_distance(a, b, "bottleneck") == pytest.approx(0.42, abs=1e-12)
    assert tt.tree_distance(b, a, "bottleneck") == pytest.approx(0.42, abs=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        trees = [random_tree(int(s)) for s in rng.integers(0, 10_000, size=2)]
        da, db = (tt.mass_diagram(t) for t in trees)
        assert tt.tree_distance(*trees, "bottleneck") == pytest.approx(brute_bottleneck(da, db), abs=1e-12)


def test_diagram_distances_ignore_density_scale_and_coordinates():
    mix = hierarchical_mixture(800, dim=3, n_leaves=4, seed=5)
    f = mix.log_density(mix.X)
    a = tt.build_tree(mix.X, log_density=f, k=12)
    Q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))
    b = tt.build_tree(3 * mix.X @ Q - 2, log_density=2.5 * f - 7, k=12)  # monotone change of density
    np.testing.assert_allclose(tt.mass_diagram(a), tt.mass_diagram(b))
    for method in ("bottleneck", "wasserstein", "matching"):
        assert tt.tree_distance(a, b, method) == pytest.approx(0.0, abs=1e-12)


def test_mass_diagram_matches_brute_force_ranks():
    t = random_tree(11)
    f = np.asarray(t.log_density)
    D = tt.mass_diagram(t)
    expect = [[np.mean(f >= b), np.mean(f >= d)] for b, d in t.diagram] + [[np.mean(f >= b), 1.0] for b in t.essential]
    np.testing.assert_allclose(D, np.array(expect).reshape(-1, 2))
    assert np.all(D[:, 0] <= D[:, 1])


def test_tree_distance_errors():
    t = random_tree(3)
    with pytest.raises(ValueError, match="method"):
        tt.tree_distance(t, t, "euclid")
    with pytest.raises(TypeError, match="tree_a"):
        tt.tree_distance(None, t)
    with pytest.raises(ValueError, match="order"):
        tt.tree_distance(t, t, "wasserstein", order=0.5)
    with pytest.raises(TypeError, match="unexpected"):
        tt.tree_distance(t, t, "bottleneck", X_a=None)


# ---------------------------------------------------------------------------------- merge distortion
def brute_merge_heights(tree):
    """All-pairs merge heights by a union-find sweep over the tree's graph (independent of the tree)."""
    n = tree.n_points
    f = np.asarray(tree.log_density)
    adj = [set() for _ in range(n)]
    for i, row in enumerate(np.asarray(tree.neighbors)):
        for j in row:
            adj[i].add(int(j))
            adj[int(j)].add(i)
    for i, j in np.asarray(tree.bridges):
        adj[i].add(int(j))
        adj[int(j)].add(int(i))
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    H = np.full((n, n), -np.inf)
    members = {i: [i] for i in range(n)}
    active = np.zeros(n, dtype=bool)
    for v in np.argsort(-f, kind="stable"):
        active[v] = True
        H[v, v] = f[v]
        for u in adj[v]:
            if not active[u]:
                continue
            ru, rv = find(u), find(v)
            if ru == rv:
                continue
            mu, mv = members[ru], members[rv]
            H[np.ix_(mu, mv)] = f[v]
            H[np.ix_(mv, mu)] = f[v]
            parent[ru] = rv
            members[rv] = mv + mu
            del members[ru]
    return H


@pytest.mark.parametrize("connect", [True, False])
def test_merge_distortion_matches_brute_force(connect):
    mix = hierarchical_mixture(120, dim=2, n_leaves=3, seed=2)
    a = tt.build_tree(mix.X, k=6, connect=connect)
    b = tt.build_tree(mix.X, log_density=mix.log_density(mix.X), k=6, connect=connect)
    Ha, Hb = brute_merge_heights(a), brute_merge_heights(b)
    iu = np.triu_indices(120, k=1)
    ha, hb = Ha[iu], Hb[iu]
    both = np.isneginf(ha) & np.isneginf(hb)
    with np.errstate(invalid="ignore"):
        diff = np.where(both, 0.0, np.abs(ha - hb))
    assert tt.merge_distortion(a, b) == pytest.approx(diff.max())
    assert tt.merge_distortion(a, b, reduce="mean") == pytest.approx(diff.mean())
    # in mass-above terms (each tree's own ranks)
    fa, fb = np.asarray(a.log_density), np.asarray(b.log_density)
    qa = np.where(np.isneginf(ha), -np.inf, (fa[None, :] >= ha[:, None]).mean(axis=1))
    qb = np.where(np.isneginf(hb), -np.inf, (fb[None, :] >= hb[:, None]).mean(axis=1))
    with np.errstate(invalid="ignore"):
        dq = np.where(both, 0.0, np.abs(qa - qb))
    assert tt.merge_distortion(a, b, levels="mass") == pytest.approx(dq.max())
    assert tt.merge_distortion(a, b, levels="mass", reduce="mean") == pytest.approx(dq.mean())
    assert tt.merge_distortion(a, a) == 0.0


def test_merge_distortion_sampled_pairs_estimate_the_mean():
    mix = hierarchical_mixture(600, dim=2, n_leaves=3, seed=4)
    a = tt.build_tree(mix.X, k=10)
    b = tt.build_tree(mix.X, log_density=mix.log_density(mix.X), k=10)
    exact = tt.merge_distortion(a, b, reduce="mean", levels="mass")
    approx = tt.merge_distortion(a, b, reduce="mean", levels="mass", n_pairs=50_000, seed=0)
    assert approx == pytest.approx(exact, rel=0.05)
    assert tt.merge_distortion(a, b, n_pairs=1000, seed=0) <= tt.merge_distortion(a, b) + 1e-12


def test_merge_distortion_errors():
    a = random_tree(1, n=300)
    b = random_tree(2, n=200)
    with pytest.raises(ValueError, match="same points"):
        tt.merge_distortion(a, b)
    with pytest.raises(ValueError, match="reduce"):
        tt.merge_distortion(a, a, reduce="median")
    with pytest.raises(ValueError, match="levels"):
        tt.merge_distortion(a, a, levels="rank")
    with pytest.raises(TypeError, match="n_pairs"):
        tt.merge_distortion(a, a, n_pairs=1.5)
    with pytest.raises(ValueError, match="n_pairs must be <="):
        tt.merge_distortion(a, a, n_pairs=10**12)  # would allocate terabytes
    with pytest.raises(ValueError, match="seed must be in"):
        tt.merge_distortion(a, a, n_pairs=10, seed=-1)


def test_wasserstein_without_pot_uses_hera(monkeypatch):
    import sys

    a, b = random_tree(7), random_tree(8)
    exact = tt.tree_distance(a, b, "wasserstein")
    monkeypatch.setitem(sys.modules, "ot", None)
    assert tt.tree_distance(a, b, "wasserstein") == pytest.approx(exact, rel=1e-5)
