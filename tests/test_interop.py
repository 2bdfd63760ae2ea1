"""The tree in other libraries' conventions: diagrams for gudhi/persim/ripser (checked against their
distances, gudhi's lower-star persistence and their plots), hdbscan's condensed-tree table, scipy's
linkage matrix, and the two index spaces (node ids, leaf positions)."""
import warnings

import matplotlib
import numpy as np
import pytest

import topotree as tt
from topotree.datasets import hierarchical_mixture

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def trees():
    a = tt.build_tree(hierarchical_mixture(1500, dim=2, n_leaves=5, seed=1).X).simplify()
    b = tt.build_tree(hierarchical_mixture(1200, dim=3, n_leaves=4, seed=2).X).simplify()
    return a, b


def test_stored_diagram_is_superlevel_converted_is_sublevel(trees):
    a, _ = trees
    assert np.all(a.diagram[:, 0] >= a.diagram[:, 1])
    for library in ("gudhi", "persim"):
        d = a.diagram_for(library)
        assert d.shape == a.diagram.shape and np.all(d[:, 0] <= d[:, 1])
        assert np.array_equal(d, -np.asarray(a.diagram))
    r = a.diagram_for("ripser", essential=True)
    assert isinstance(r, list) and len(r) == 1 and np.isinf(r[0][:, 1]).sum() == len(a.essential)
    m = a.diagram_for("gudhi", levels="mass", essential=True)
    assert np.array_equal(m, tt.mass_diagram(a))


def test_converted_diagram_equals_gudhi_lower_star_persistence():
    gudhi = pytest.importorskip("gudhi")
    tree = tt.build_tree(hierarchical_mixture(300, dim=2, n_leaves=3, seed=4).X, k=8)
    st = gudhi.SimplexTree()
    f = -np.asarray(tree.log_density)  # superlevel sets of f = sublevel sets of -f
    for i in range(tree.n_points):
        st.insert([i], filtration=f[i])
    edges = {tuple(sorted((i, int(j)))) for i in range(tree.n_points) for j in tree.neighbors[i]}
    edges |= {tuple(sorted(map(int, e))) for e in tree.bridges}
    for i, j in edges:
        st.insert([i, j], filtration=max(f[i], f[j]))
    ref = np.array([p for dim, p in st.persistence() if dim == 0 and p[0] < p[1]])
    ours = tree.diagram_for("gudhi", essential=True)
    ours = ours[ours[:, 0] < ours[:, 1]]  # zero-persistence pairs: gudhi leaves them out
    key = lambda d: d[np.lexsort((d[:, 1], d[:, 0]))]  # noqa: E731
    assert np.allclose(key(ours), key(ref), rtol=0, atol=1e-12)


def test_gudhi_and_persim_distances_equal_tree_distance(trees):
    a, b = trees
    from gudhi.hera import bottleneck_distance

    da = a.diagram_for("gudhi", levels="mass", essential=True)
    db = b.diagram_for("gudhi", levels="mass", essential=True)
    ours = tt.tree_distance(a, b, "bottleneck")
    assert ours > 0
    assert bottleneck_distance(da, db, delta=0.0) == pytest.approx(ours, abs=1e-12)
    pytest.importorskip("ot")
    from gudhi.wasserstein import wasserstein_distance

    assert wasserstein_distance(da, db, order=1.0, internal_p=np.inf) == pytest.approx(
        tt.tree_distance(a, b, "wasserstein"), abs=1e-12)
    persim = pytest.importorskip("persim")
    assert persim.bottleneck(da, db) == pytest.approx(ours, abs=1e-12)
    # on log-density levels too: persim and gudhi agree once converted (and the stored diagrams,
    # read as birth > death, give gudhi 0 and persim a negative number: the reason to convert)
    la, lb = a.diagram_for("persim"), b.diagram_for("persim")
    assert persim.bottleneck(la, lb) == pytest.approx(bottleneck_distance(la, lb, delta=0.0), abs=1e-12)


def test_persim_and_gudhi_plots_put_points_above_the_diagonal(trees):
    import matplotlib.pyplot as plt

    a, _ = trees
    d = a.diagram_for("persim")
    persim = pytest.importorskip("persim")
    fig, ax = plt.subplots()
    persim.plot_diagrams(d, ax=ax)
    pts = np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())])
    assert len(pts) == len(d) and np.all(pts[:, 1] >= pts[:, 0])
    plt.close(fig)
    import gudhi

    fig, ax = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "usetex mode requires TeX"
        gudhi.plot_persistence_diagram(a.diagram_for("gudhi"), axes=ax)
    pts = ax.lines[1].get_xydata()  # gudhi draws the diagonal, then the points as one line of markers
    assert len(pts) == len(a.diagram) and np.all(pts[:, 1] >= pts[:, 0])
    plt.close(fig)


def test_to_pandas_round_trip(trees):
    pytest.importorskip("pandas")
    for tree in (*trees, tt.build_tree(np.r_[np.zeros((30, 2)) + np.arange(30)[:, None] * 0.01,
                                             np.ones((30, 2)) * 50 + np.arange(30)[:, None] * 0.01],
                                       k=5, connect=False)):
        df = tree.to_pandas()
        n = tree.n_points
        assert list(df.columns) == ["parent", "child", "lambda_val", "child_size"]
        nodes = df[df.child >= n]
        points = df[df.child < n].sort_values("child")
        parent = np.full(tree.n_nodes, -1)
        parent[nodes.child.to_numpy() - n] = nodes.parent.to_numpy() - n
        assert np.array_equal(parent, tree.parent)
        start = np.asarray(tree.start).copy()
        start[nodes.child.to_numpy() - n] = nodes.lambda_val.to_numpy()
        assert np.array_equal(start, tree.start)
        assert np.array_equal(points.parent.to_numpy() - n, tree.owner)
        assert np.array_equal(points.lambda_val.to_numpy(), tree.log_density)
        # a node's members are the points whose node lies in its subtree: sizes follow from the table
        for c in nodes.child.to_numpy() - n:
            below = {c}
            for i in range(c + 1, tree.n_nodes):  # preorder: a subtree is contiguous
                if parent[i] in below:
                    below.add(i)
            size = int(np.isin(points.parent.to_numpy() - n, list(below)).sum())
            assert size == int(nodes[nodes.child == n + c].child_size.iloc[0]) == tree.nodes[c].size


def test_linkage_matrix(trees):
    from scipy.cluster.hierarchy import cophenet, fcluster, is_valid_linkage
    from scipy.spatial.distance import squareform

    for tree in trees:
        Z = tree.to_linkage()
        assert is_valid_linkage(Z) and Z.shape == (len(tree.leaves) - 1, 4)
        coph = squareform(cophenet(Z))
        peaks = np.asarray(tree.peak)[list(tree.leaves)]
        i, j = np.triu_indices(len(peaks), 1)
        top = float(np.max(tree.log_density))
        assert np.allclose(coph[i, j], top - tree.merge_height(peaks[i], peaks[j]), rtol=0, atol=1e-12)
        # two flat clusters: the root's two subtrees
        two = fcluster(Z, 2, criterion="maxclust")
        first = {int(tree.leaf_position[x]) for x in tree.leaves if _under(tree, x, tree.children(0)[0])}
        assert {int(k) for k in np.flatnonzero(two == two[min(first)])} == first
    forest = tt.build_tree(np.r_[np.random.default_rng(0).normal(size=(40, 2)),
                                 np.random.default_rng(1).normal(size=(40, 2)) + 100], k=5, connect=False)
    with pytest.raises(ValueError, match="virtual root"):
        forest.to_linkage()


def _under(tree, node, top):
    while node >= 0:
        if node == top:
            return True
        node = int(tree.parent[node])
    return False


def test_node_ids_and_leaf_positions(trees):
    import matplotlib.pyplot as plt

    a, _ = trees
    pos, ids = a.labels(), a.labels(node_ids=True)
    assert np.array_equal(np.asarray(a.leaves)[pos], ids)
    assert np.array_equal(a.leaf_position[ids], pos)
    assert np.array_equal(a.labels(core=True, node_ids=True) >= 0, a.labels(core=True) >= 0)
    ax = tt.plot_dendrogram(a, leaf_labels="node")
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"#{x}" for x in a.leaves)
    plt.close(ax.figure)
