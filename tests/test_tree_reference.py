"""build_tree against independent references: gudhi ToMATo, gudhi SimplexTree, networkx, brute force."""
import gudhi
import networkx as nx
import numpy as np
import pytest
from gudhi.clustering.tomato import Tomato
from hypothesis import given, settings
from hypothesis import strategies as st

import topotree as tt
from topotree.graph import adjacency


@st.composite
def graph_and_density(draw, max_n=40):
    n = draw(st.integers(2, max_n))
    k = draw(st.integers(1, min(4, n - 1)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    nb = np.array([rng.choice(np.delete(np.arange(n), i), size=k, replace=False) for i in range(n)])
    f = rng.normal(size=n) * draw(st.sampled_from([1e-3, 1.0, 1e3]))
    return nb, f


def _lists(tree):
    ptr, ind = adjacency(tree.neighbors, tree.bridges)
    return [ind[ptr[i]:ptr[i + 1]].tolist() for i in range(tree.n_points)]


def _multiset(a):
    a = np.asarray(a, dtype=float).reshape(-1, 2)
    return a[np.lexsort((a[:, 1], a[:, 0]))]


@settings(max_examples=60, deadline=None)
@given(graph_and_density(), st.booleans())
def test_diagram_equals_tomato_and_simplextree(gf, connect):
    nb, f = gf
    n = f.shape[0]
    X = np.random.default_rng(0).normal(size=(n, 2))
    tree = tt.build_tree(X, log_density=f, neighbors=nb, connect=connect)
    lists = _lists(tree)
    t = Tomato(graph_type="manual", density_type="manual").fit(lists, weights=f)
    np.testing.assert_allclose(_multiset(tree.diagram), _multiset(t.diagram_), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.sort(tree.essential), np.sort(t.max_weight_per_cc_), rtol=0, atol=1e-12)
    # lower-star persistence of -f: 0-dim pairs (birth, death) = (-peak, -merge level)
    st_ = gudhi.SimplexTree()
    for i in range(n):
        st_.insert([i], filtration=-f[i])
    for i, row in enumerate(lists):
        for j in row:
            if i < j:
                st_.insert([i, j], filtration=max(-f[i], -f[j]))
    pers = st_.persistence(persistence_dim_max=True)
    finite = [(-b, -d) for dim, (b, d) in pers if dim == 0 and np.isfinite(d) and d > b]
    essential = [-b for dim, (b, d) in pers if dim == 0 and not np.isfinite(d)]
    ours = tree.diagram[tree.diagram[:, 0] > tree.diagram[:, 1]]
    np.testing.assert_allclose(_multiset(ours), _multiset(finite), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.sort(tree.essential), np.sort(essential), rtol=0, atol=1e-12)
    # ToMATo's raw clusters are our basins
    assert _same_partition(tree.labels(), t.leaf_labels_)


def _same_partition(a, b):
    a, b = np.asarray(a), np.asarray(b)
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@settings(max_examples=40, deadline=None)
@given(graph_and_density(max_n=60), st.floats(0.0, 2.0))
def test_simplified_labels_equal_tomato_merge_threshold(gf, tau):
    nb, f = gf
    X = np.zeros((f.shape[0], 1))
    tree = tt.build_tree(X, log_density=f, neighbors=nb, connect=False)
    s = tree.simplify(min_persistence=tau, min_mass=0)
    t = Tomato(graph_type="manual", density_type="manual", merge_threshold=tau).fit(_lists(tree), weights=f)
    # ToMATo keeps prominence > tau, we keep >= tau: equal unless a persistence equals tau exactly
    pers = tree.diagram[:, 0] - tree.diagram[:, 1]
    if not np.any(pers == tau):
        assert len(s.leaves) == t.n_clusters_ or (tau == 0 and len(s.leaves) >= t.n_clusters_)
        if tau > 0:
            # each kept leaf's core lies in one ToMATo cluster, and distinct leaves in distinct ones
            core = s.labels(core=True)
            seen = {}
            for leaf_pos in range(len(s.leaves)):
                clusters = set(t.labels_[core == leaf_pos].tolist())
                assert len(clusters) == 1
                seen[leaf_pos] = clusters.pop()
            assert len(set(seen.values())) == len(seen)
            # every point is labelled with a leaf
            assert s.labels().min() >= 0


@settings(max_examples=40, deadline=None)
@given(graph_and_density(max_n=30))
def test_members_are_connected_components_of_superlevel_sets(gf):
    nb, f = gf
    n = f.shape[0]
    tree = tt.build_tree(np.zeros((n, 1)), log_density=f, neighbors=nb, connect=False)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for i, row in enumerate(_lists(tree)):
        g.add_edges_from((i, j) for j in row)
    for node in tree.nodes:
        if node.parent == -1 and tree.virtual_root:
            assert sorted(node.members.tolist()) == list(range(n))
            continue
        if node.parent == -1 or (tree.virtual_root and node.parent == 0):
            comps = list(nx.connected_components(g))
        else:
            comps = list(nx.connected_components(g.subgraph(np.flatnonzero(f > node.start).tolist())))
        comp = next(c for c in comps if node.peak in c)
        assert sorted(comp) == sorted(node.members.tolist())
        assert node.mass == pytest.approx(len(comp) / n)
        assert f[node.peak] == f[node.members].max()


@settings(max_examples=40, deadline=None)
@given(graph_and_density(max_n=25))
def test_merge_height_matches_brute_force(gf):
    nb, f = gf
    n = f.shape[0]
    tree = tt.build_tree(np.zeros((n, 1)), log_density=f, neighbors=nb, connect=False)
    lists = _lists(tree)
    levels = np.sort(f)[::-1]
    expected = np.full((n, n), -np.inf)
    for lam in levels[::-1]:  # from low to high: the last level at which they are connected wins
        g = nx.Graph()
        alive = np.flatnonzero(f >= lam)
        g.add_nodes_from(alive.tolist())
        g.add_edges_from((i, j) for i in alive for j in lists[i] if f[j] >= lam)
        for comp in nx.connected_components(g):
            c = np.array(sorted(comp))
            expected[np.ix_(c, c)] = lam
    I, J = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    np.testing.assert_array_equal(tree.merge_height(I, J), expected)
    assert tree.merge_height(0, 0) == f[0]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 200), st.integers(1, 6))
def test_backends_give_identical_trees(seed, n, d):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(size=(n, d)), rng.normal(size=(n // 2, d)) + 4]
    a = tt.build_tree(X, k=min(10, n - 1), backend="numba")
    b = tt.build_tree(X, k=min(10, n - 1), backend="gudhi")
    for name in ("parent", "start", "end", "mass", "peak", "split", "owner", "basin", "member_order",
                 "member_lo", "member_hi", "diagram", "essential"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
