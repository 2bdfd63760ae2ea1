"""ClusterTree properties: invariances, simplification, bad input, round trips."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import special_ortho_group

import topotree as tt
from topotree.datasets import hierarchical_mixture


def _canonical(tree, perm=None):
    """Node structure with members expressed in original point ids (perm maps new -> old)."""
    out = []
    for node in tree.nodes:
        m = node.members if perm is None else perm[node.members]
        out.append((node.parent, node.children, round(node.mass, 12), tuple(sorted(m.tolist()))))
    return out


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([2, 3, 5]), st.floats(0.01, 100.0), st.booleans())
def test_invariant_to_similarity_and_permutation(seed, d, scale, reflect):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(size=(120, d)), rng.normal(size=(80, d)) * 0.7 + 5]
    R = special_ortho_group.rvs(d, random_state=seed) if d > 1 else np.eye(1)
    if reflect:
        R[:, 0] *= -1
    perm = rng.permutation(X.shape[0])
    Y = (scale * X @ R.T + rng.normal(size=d) * 10)[perm]
    a = tt.build_tree(X, k=10)
    b = tt.build_tree(Y, k=10)
    assert _canonical(a) == _canonical(b, perm)
    # kNN log-density shifts by -d log(scale): same levels up to that constant
    np.testing.assert_allclose(b.log_density, a.log_density[perm] - d * np.log(scale), atol=1e-8)
    sa, sb = a.simplify(), b.simplify()
    assert _canonical(sa) == _canonical(sb, perm)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["exp", "cube", "affine", "logistic"]))
def test_invariant_to_monotone_change_of_density(seed, kind):
    mix = hierarchical_mixture(300, dim=2, n_leaves=4, seed=seed % 50)
    f = mix.log_density(mix.X)
    g = {"exp": np.exp(f - f.max()) * 10, "cube": f**3, "affine": 3 * f + 7,
         "logistic": 1 / (1 + np.exp(-(f - f.mean())))}[kind]
    if len(np.unique(g)) < len(g):  # a monotone map that creates ties changes the tie-break
        return
    a = tt.build_tree(mix.X, log_density=f, k=10)
    b = tt.build_tree(mix.X, log_density=g, k=10)
    assert _canonical(a) == _canonical(b)


CASES = [(2, 2), (2, 9), (2, 27), (4, 5), (4, 16), (8, 9), (8, 27), (16, 5), (16, 16), (12, 12)]


@pytest.mark.parametrize("dim,leaves", CASES)
@pytest.mark.parametrize("density", ["knn", "exact"])
def test_default_simplify_recovers_true_number_of_clusters(dim, leaves, density):
    mix = hierarchical_mixture(6000 if leaves > 10 else 3000, dim=dim, n_leaves=leaves, seed=100 + dim + leaves)
    tree = tt.build_tree(mix.X, log_density=None if density == "knn" else mix.log_density).simplify()
    assert len(tree.leaves) == leaves
    # each leaf's core is one true component
    core = tree.labels(core=True)
    for j in range(leaves):
        comp = np.bincount(mix.labels[core == j], minlength=leaves)
        assert comp.max() / comp.sum() > 0.98
    assert tree.simplification.rule


def test_simplify_thresholds_and_idempotence():
    mix = hierarchical_mixture(2000, dim=2, n_leaves=6, seed=3)
    raw = tt.build_tree(mix.X)
    same = raw.simplify(min_persistence=0, min_mass=0)
    assert len(same.leaves) == len(raw.leaves)
    s = raw.simplify()
    assert len(s.simplify(s.simplification.min_persistence, s.simplification.min_mass).leaves) == len(s.leaves)
    one = raw.simplify(min_persistence=1e9)
    assert len(one.leaves) == 1 and one.n_nodes == 1
    # leaves of the simplified tree: persistence and basin mass at least the thresholds
    for leaf in s.leaves:
        if s.parent[leaf] >= 0:
            assert s.persistence[leaf] >= s.simplification.min_persistence
    assert np.isclose(s.mass[0], 1.0)


def test_labels_basin_and_core():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(300, 2)), rng.normal(size=(200, 2)) + [8, 0]]
    s = tt.build_tree(X, k=15).simplify()
    lab, core = s.labels(), s.labels(core=True)
    assert lab.shape == (500,) and lab.min() == 0 and lab.max() == 1
    assert np.all((core == lab) | (core == -1))
    assert (lab[:300] == lab[0]).mean() > 0.99 and (lab[300:] == lab[300]).mean() > 0.99


def test_forest_with_virtual_root_and_bridging():
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 100]
    forest = tt.build_tree(X, k=5, connect=False)
    assert forest.virtual_root and forest.start[0] == -np.inf and len(forest.essential) == 2
    assert forest.merge_height(0, 150) == -np.inf
    joined = tt.build_tree(X, k=5)
    assert not joined.virtual_root and joined.bridges.shape == (1, 2) and len(joined.essential) == 1
    assert np.isfinite(joined.merge_height(0, 150))
    s = forest.simplify()
    assert s.virtual_root and len(s.leaves) == 2


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_load_round_trip_exact(tmp_path, suffix):
    mix = hierarchical_mixture(800, dim=3, n_leaves=4, seed=5)
    for tree in (tt.build_tree(mix.X), tt.build_tree(mix.X).simplify()):
        path = tree.save(tmp_path / f"t{suffix}")
        back = tt.load_tree(path)
        for name in ("log_density", "neighbors", "bridges", "parent", "start", "end", "mass", "peak", "split", "order",
                     "member_order", "member_lo", "member_hi", "owner", "basin", "diagram", "essential"):
            a, b = getattr(tree, name), getattr(back, name)
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        assert back.simplification == tree.simplification and back.k == tree.k


def test_load_rejects_foreign_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a topotree"):
        tt.load_tree(p)
    with pytest.raises(FileNotFoundError):
        tt.load_tree(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="json or .npz"):
        tt.build_tree(np.random.default_rng(0).normal(size=(30, 2)), k=5).save(tmp_path / "t.pkl")


def test_to_networkx():
    tree = tt.build_tree(hierarchical_mixture(500, dim=2, n_leaves=3, seed=1).X).simplify()
    g = tree.to_networkx()
    import networkx as nx

    assert nx.is_tree(g) and g.number_of_nodes() == tree.n_nodes
    assert sorted(n for n in g if g.out_degree(n) == 0) == list(tree.leaves)


def test_duplicate_points_are_legal():
    rng = np.random.default_rng(0)
    X = np.r_[np.zeros((40, 2)), rng.normal(size=(100, 2)), np.ones((30, 2)) * 5]
    tree = tt.build_tree(X, k=10)
    assert np.isfinite(tree.log_density).all()
    assert len(tree.simplify().leaves) >= 1
    same = tt.build_tree(np.zeros((20, 3)), k=5)
    assert np.isfinite(same.log_density).all() and len(same.leaves) == 1


def test_high_dimensional_log_density_is_finite():
    X = np.random.default_rng(0).normal(size=(300, 128)) * 1e-3
    tree = tt.build_tree(X, k=10)
    assert np.isfinite(tree.log_density).all()


def test_callable_log_density():
    mix = hierarchical_mixture(400, dim=2, n_leaves=3, seed=2)
    a = tt.build_tree(mix.X, log_density=mix.log_density)
    b = tt.build_tree(mix.X, log_density=mix.log_density(mix.X))
    np.testing.assert_array_equal(a.parent, b.parent)
    assert a.density == "given"


X_OK = np.random.default_rng(0).normal(size=(50, 2))


@pytest.mark.parametrize("X,kwargs,exc,match", [
    (np.array([[0.0, np.nan]] * 20), {}, ValueError, "X contains NaN"),
    (np.array([[0.0, np.inf]] * 20), {}, ValueError, "X contains NaN or inf"),
    (np.zeros(20), {}, ValueError, "X must be a 2-D"),
    (np.zeros((4, 5, 2)), {}, ValueError, "X must be a 2-D"),
    (np.zeros((0, 2)), {}, ValueError, "X is empty"),
    (np.zeros((5, 2)), {"k": 10}, ValueError, "k=10"),
    (np.array([["a", "b"]] * 20), {}, TypeError, "X must be numeric"),
    (np.ones((20, 2), dtype=complex), {}, TypeError, "complex"),
    (X_OK, {"log_density": np.zeros(49)}, ValueError, "log_density has length 49"),
    (X_OK, {"log_density": np.r_[np.zeros(49), np.nan]}, ValueError, "log_density contains NaN"),
    (X_OK, {"log_density": lambda Z: np.zeros(3)}, ValueError, r"log_density\(X\) has length 3"),
    (X_OK, {"log_density": lambda Z: np.full(len(Z), np.nan)}, ValueError, r"log_density\(X\) contains NaN"),
    (X_OK, {"k": 0}, ValueError, "k must be >= 1"),
    (X_OK, {"k": 2.5}, TypeError, "k must be an integer"),
    (X_OK, {"backend": "cuda"}, ValueError, "backend must be one of"),
    (X_OK, {"neighbors": np.zeros((50, 3), dtype=int)}, ValueError, "log_density must be given"),
    (X_OK, {"neighbors": np.zeros((49, 3), dtype=int), "log_density": np.zeros(50)}, ValueError, "neighbors must have shape"),
])
def test_bad_input_gives_clear_errors(X, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        tt.build_tree(X, **kwargs)


def test_bad_simplify_and_merge_height_arguments():
    tree = tt.build_tree(X_OK, k=5)
    with pytest.raises(ValueError, match="min_persistence"):
        tree.simplify(min_persistence=-1)
    with pytest.raises(TypeError, match="min_mass"):
        tree.simplify(min_mass="big")
    with pytest.raises(ValueError, match="outside"):
        tree.merge_height(0, 50)
    with pytest.raises(TypeError, match="integer"):
        tree.merge_height(0.5, 1)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_bridges_are_single_linkage_between_components(seed, c):
    """Bridges join the kNN graph's components by a minimum spanning tree of their closest pairs."""
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist

    from topotree.graph import bridge_components, components, knn

    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(rng.integers(10, 60), 2)) + rng.uniform(-60, 60, size=2) for _ in range(c)])
    nb, _ = knn(X, 5)
    comp = components(nb)
    m = comp.max() + 1
    gap = np.full((m, m), np.inf)
    for a in range(m):
        for b in range(a + 1, m):
            gap[a, b] = cdist(X[comp == a], X[comp == b]).min()
    expected = minimum_spanning_tree(np.where(np.isfinite(gap), gap, 0)).sum()
    bridges = bridge_components(X, nb)
    assert bridges.shape == (m - 1, 2)
    assert np.isclose(np.linalg.norm(X[bridges[:, 0]] - X[bridges[:, 1]], axis=1).sum(), expected)


def test_min_mass_is_a_fraction():
    tree = tt.build_tree(np.random.default_rng(0).normal(size=(100, 2)))
    with pytest.raises(ValueError, match=r"min_mass is a fraction.*in \[0, 1\]"):
        tree.simplify(min_mass=2)
    assert len(tree.simplify(min_mass=1.0).leaves) == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_knn_values_given_as_log_density_simplify_the_same(seed):
    from sklearn.datasets import make_moons

    X = make_moons(1000, noise=0.05, random_state=seed)[0]
    est = tt.build_tree(X)
    given = tt.build_tree(X, log_density=np.asarray(est.log_density))
    assert given.density == "knn"
    for name in ("parent", "owner", "basin", "diagram"):
        assert np.array_equal(getattr(est, name), getattr(given, name))
    a, b = est.simplify(), given.simplify()
    assert a.simplification == b.simplification and np.array_equal(a.labels(), b.labels())
    # other values (here the same plus a constant) are a given density, with the graph rule
    shifted = tt.build_tree(X, log_density=np.asarray(est.log_density) + 1.0)
    assert shifted.density == "given"


@pytest.mark.parametrize("dim", [3, 40])  # the KD-tree search and the GEMM-screened blocks
def test_no_copy_of_the_points_is_alive_during_the_merge(dim, monkeypatch):
    # the search keeps no copy of the points in the tree's order beside its lists; the points are
    # gathered in that order only for the bridges, after the kNN distances are freed, and both
    # are gone before the merge, whose arrays are O(n k)
    import weakref

    from topotree import build

    refs, alive, copies, at_bridges = [], [], [], []
    real_knn, real_merge, real_bridges = build.knn_local, build._merged_tree, build._bridge_labelled

    def knn_local(X, k, progress=None):
        perm, nb, dist, tree = real_knn(X, k, progress=progress)
        copies.append(tree[0])
        refs.append(weakref.ref(dist))
        return perm, nb, dist, tree

    def bridge_labelled(points, comp, **kwargs):
        at_bridges.append([r() is not None for r in refs])
        refs.append(weakref.ref(points))
        return real_bridges(points, comp, **kwargs)

    def merged_tree(*args, **kwargs):
        alive.append([r() is not None for r in refs])
        return real_merge(*args, **kwargs)

    monkeypatch.setattr(build, "knn_local", knn_local)
    monkeypatch.setattr(build, "_bridge_labelled", bridge_labelled)
    monkeypatch.setattr(build, "_merged_tree", merged_tree)
    X = hierarchical_mixture(1500, dim=dim, n_leaves=3, seed=0).X
    X = np.r_[X, X[:300] + 1e3 * X.std()]  # a far copy of some points: two components to bridge
    tree = tt.build_tree(X, k=10)
    assert copies == [None] and at_bridges == [[False]] and alive == [[False, False]]
    monkeypatch.undo()
    assert np.array_equal(tree.labels(), tt.build_tree(X, k=10).labels())
