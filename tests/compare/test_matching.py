"""Tests of match_trees / matching_accuracy: invariances, symmetry, hierarchy, accuracy."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import topotree as tt
from topotree.datasets import hierarchical_mixture, warp_and_move

SETTINGS = dict(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------- helpers
def sample_mixture(mix, n, seed):
    """A fresh sample from the same mixture parameters (new points, no shared rows)."""
    return mix.sample(n, seed)


def similarity(X, seed, warp=0.0):
    """Random orthogonal map (det +-1), scale, translation, after a smooth tanh warp."""
    return warp_and_move(X, seed, warp)


def is_ancestor(tree, u, v):
    """u is a proper ancestor of v."""
    v = tree.parent[v]
    while v >= 0:
        if v == u:
            return True
        v = tree.parent[v]
    return False


def assert_hierarchy(m):
    ta, tb = m.tree_a, m.tree_b
    a = [u for u, _ in m.pairs]
    b = [v for _, v in m.pairs]
    assert len(set(a)) == len(a) and len(set(b)) == len(b)  # one-to-one
    for p in range(len(m.pairs)):
        for q in range(len(m.pairs)):
            if p != q:
                assert is_ancestor(ta, a[p], a[q]) == is_ancestor(tb, b[p], b[q]), (m.pairs[p], m.pairs[q])
    assert sorted(set(range(ta.n_nodes)) - set(a) - ({0} if ta.virtual_root else set())) == sorted(m.unmatched_a)
    assert sorted(set(range(tb.n_nodes)) - set(b) - ({0} if tb.virtual_root else set())) == sorted(m.unmatched_b)
    assert 0.0 <= m.cost <= 1.0
    assert m.confidence.shape == (len(m.pairs),)
    assert np.all((m.confidence >= 0) & (m.confidence <= 1))


def leaf_accuracy(m, la, lb):
    ta, tb = m.tree_a, m.tree_b
    ok = [np.bincount(la[ta.members(u)]).argmax() == np.bincount(lb[tb.members(v)]).argmax()
          for u, v in m.leaf_pairs]
    return float(np.mean(ok)), len(ok)


@pytest.fixture(scope="module")
def mix6():
    return hierarchical_mixture(2000, dim=3, n_leaves=6, seed=3)


# ---------------------------------------------------------------------------------- identity
@pytest.mark.parametrize("with_x", [False, True])
def test_self_match_is_identity_with_zero_cost(mix6, with_x):
    t = tt.build_tree(mix6.X).simplify()
    kw = dict(X_a=mix6.X, X_b=mix6.X) if with_x else {}
    m = tt.match_trees(t, t, **kw)
    assert m.pairs == [(i, i) for i in range(t.n_nodes)]
    assert m.cost == 0.0
    assert m.unmatched_a == [] and m.unmatched_b == []
    assert_hierarchy(m)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), dim=st.integers(2, 5), n_leaves=st.integers(2, 5))
def test_similarity_and_permutation_give_identity(seed, dim, n_leaves):
    mix = hierarchical_mixture(600, dim=dim, n_leaves=n_leaves, seed=seed)
    perm = np.random.default_rng(seed).permutation(600)
    Y = similarity(mix.X, seed + 1)[perm]
    ta, tb = tt.build_tree(mix.X, k=15), tt.build_tree(Y, k=15)
    for kw in ({}, dict(X_a=mix.X, X_b=Y)):
        m = tt.match_trees(ta, tb, **kw)
        assert m.cost < 1e-9
        # the identity matching, seen through the permutation: matched nodes have equal members
        assert len(m.pairs) == m.tree_a.n_nodes == m.tree_b.n_nodes
        for u, v in m.pairs:
            assert np.array_equal(np.sort(m.tree_a.members(u)), np.sort(perm[m.tree_b.members(v)]))
        # ... and the correspondence score agrees
        assert tt.matching_accuracy(m, np.argsort(perm)) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------- symmetry, hierarchy
@pytest.mark.parametrize("with_x", [False, True])
def test_matching_is_symmetric(mix6, with_x):
    Xb, _ = sample_mixture(mix6, 2000, 99)
    Xb = similarity(Xb, 5, warp=0.3)
    ta, tb = tt.build_tree(mix6.X).simplify(), tt.build_tree(Xb).simplify()
    kab = dict(X_a=mix6.X, X_b=Xb) if with_x else {}
    kba = dict(X_a=Xb, X_b=mix6.X) if with_x else {}
    ab, ba = tt.match_trees(ta, tb, **kab), tt.match_trees(tb, ta, **kba)
    assert sorted(ab.pairs) == sorted((v, u) for u, v in ba.pairs)
    assert ab.cost == pytest.approx(ba.cost, abs=1e-12)
    assert ab.unmatched_a == ba.unmatched_b
    conf_ab = dict(zip(ab.pairs, ab.confidence))
    conf_ba = {(u, v): c for (v, u), c in zip(ba.pairs, ba.confidence)}
    for p in ab.pairs:
        assert conf_ab[p] == pytest.approx(conf_ba[p], abs=1e-9)


@settings(**SETTINGS)
@given(seed=st.integers(0, 10_000), la=st.integers(1, 8), lb=st.integers(1, 8),
       pers=st.sampled_from([0.0, 0.1, None]), with_x=st.booleans())
def test_hierarchy_never_crossed(seed, la, lb, pers, with_x):
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(2, 5))
    A = hierarchical_mixture(400, dim=dim, n_leaves=la, seed=seed).X
    B = hierarchical_mixture(300, dim=int(rng.integers(2, 5)), n_leaves=lb, seed=seed + 1).X
    ta = tt.build_tree(A, k=10, connect=bool(rng.integers(2)))
    tb = tt.build_tree(B, k=10)
    ta = ta.simplify(min_persistence=pers, min_mass=0.0 if pers == 0.0 else None)
    kw = dict(X_a=A, X_b=B) if with_x else {}
    m = tt.match_trees(ta, tb, **kw)
    assert_hierarchy(m)
    for group in m.ambiguous:
        assert all(0 <= p < len(m.pairs) for p in group)


# ---------------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("dim,n_leaves,seed", [(3, 6, 7001), (6, 9, 7002)])
def test_fresh_sample_warped_leaves_match_true_components(dim, n_leaves, seed):
    mix = hierarchical_mixture(3000, dim=dim, n_leaves=n_leaves, seed=seed)
    Xb, lb = sample_mixture(mix, 3000, seed + 1)
    Xb = similarity(Xb, seed + 2, warp=0.3)
    m = tt.match_trees(tt.build_tree(mix.X), tt.build_tree(Xb), mix.X, Xb)
    acc, k = leaf_accuracy(m, mix.labels, lb)
    assert k >= n_leaves - 1
    assert acc >= 0.95
    assert_hierarchy(m)


def test_equal_mass_siblings_are_reported_as_ambiguous():
    # four equal, isotropic, equally spaced clusters: the tree alone cannot tell them apart
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    A = np.vstack([c + rng.normal(size=(500, 2)) for c in centers])
    B = np.vstack([c + rng.normal(size=(500, 2)) for c in centers])
    m = tt.match_trees(tt.build_tree(A), tt.build_tree(B))
    assert m.ambiguous
    amb = {p for g in m.ambiguous for p in g}
    assert all(m.tree_a.is_leaf[m.pairs[p][0]] for p in amb)
    assert np.mean(m.confidence[sorted(amb)]) < 0.8


# ---------------------------------------------------------------------------------- correspondence
def test_correspondence_matching_and_accuracy_against_brute_force(mix6):
    perm = np.random.default_rng(1).permutation(2000)
    Y = mix6.X[perm] + np.random.default_rng(2).normal(scale=0.3, size=mix6.X.shape)
    corr = np.argsort(perm)  # point i of A is row corr[i] of Y
    ta, tb = tt.build_tree(mix6.X).simplify(), tt.build_tree(Y).simplify()
    m = tt.match_trees(ta, tb, correspondence=corr)
    assert_hierarchy(m)
    # brute-force Jaccard of the matched nodes' members
    jac = []
    for u, v in m.pairs:
        a = set(corr[m.tree_a.members(u)].tolist())
        b = set(m.tree_b.members(v).tolist())
        jac.append(len(a & b) / len(a | b))
    assert tt.matching_accuracy(m, corr) == pytest.approx(np.mean(jac))
    assert np.mean(jac) > 0.8
    # the same correspondence given as (m, 2) pairs
    pairs = np.column_stack([np.arange(2000), corr])
    assert tt.matching_accuracy(m, pairs) == pytest.approx(np.mean(jac))
    # an unsupervised matching of the same trees, scored against the correspondence
    m0 = tt.match_trees(ta, tb, mix6.X, Y)
    assert tt.matching_accuracy(m0, corr, leaves_only=True) > 0.8


# ---------------------------------------------------------------------------------- simplification, errors
def test_raw_trees_are_simplified_unless_asked(mix6):
    raw = tt.build_tree(mix6.X, k=15)
    m = tt.match_trees(raw, raw)
    assert m.tree_a.simplification is not None and m.tree_a.n_nodes < raw.n_nodes
    m2 = tt.match_trees(raw, raw, simplify=False)
    assert m2.tree_a is raw and m2.cost == 0.0 and len(m2.pairs) == raw.n_nodes


def test_bad_inputs_raise_clear_errors(mix6):
    t = tt.build_tree(mix6.X).simplify()
    with pytest.raises(TypeError, match="tree_b"):
        tt.match_trees(t, mix6.X)
    with pytest.raises(ValueError, match="X_b"):
        tt.match_trees(t, t, mix6.X, mix6.X[:10])
    bad = mix6.X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="X_a"):
        tt.match_trees(t, t, bad, mix6.X)
    with pytest.raises(ValueError, match="correspondence"):
        tt.match_trees(t, t, correspondence=np.arange(5))
    with pytest.raises(TypeError, match="correspondence"):
        tt.match_trees(t, t, correspondence=np.zeros(2000))
    with pytest.raises(ValueError, match="correspondence"):
        tt.match_trees(t, t, correspondence=np.full(2000, 5000))
    with pytest.raises(ValueError, match="ambiguity_tol"):
        tt.match_trees(t, t, ambiguity_tol=0.0)
    with pytest.raises(TypeError, match="matching"):
        tt.matching_accuracy("no", np.arange(2000))


def test_works_without_pot(monkeypatch, mix6):
    import sys

    Xb, lb = sample_mixture(mix6, 2000, 5)
    Xb = similarity(Xb, 6, warp=0.2)
    ta, tb = tt.build_tree(mix6.X).simplify(), tt.build_tree(Xb).simplify()
    monkeypatch.setitem(sys.modules, "ot", None)  # "import ot" now raises ImportError
    m = tt.match_trees(ta, tb, mix6.X, Xb)
    assert_hierarchy(m)
    assert leaf_accuracy(m, mix6.labels, lb)[0] >= 0.8
