"""Plots render with Agg and draw what the tree says: one branch per node at its levels, one label per
leaf, one line per matched pair, axis limits covering every birth and death."""
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

import topotree as tt  # noqa: E402
from topotree.plot import (dendrogram_layout, leaf_colors, plot_dendrogram, plot_embedding,  # noqa: E402
                           plot_matching, plot_persistence)


def _blobs(seed=0, n=(300, 200, 150), centres=((0, 0), (7, 0), (0, 7))):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(size=(m, 2)) + c for m, c in zip(n, centres)])


@pytest.fixture(scope="module")
def X3():
    return _blobs()


@pytest.fixture(scope="module")
def raw3(X3):
    return tt.build_tree(X3, k=15)


@pytest.fixture(scope="module")
def tree3(raw3):
    return raw3.simplify()


@pytest.fixture(scope="module")
def bushy():
    """A raw tree with more than 200 leaves (random log-density on a 5-NN graph)."""
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(3000, 2))
    t = tt.build_tree(X, log_density=rng.normal(size=3000), k=5)
    assert len(t.leaves) > 200
    return t


def _collections(ax, label):
    return [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == label]


# ------------------------------------------------------------------------------------ dendrogram
def test_dendrogram_branches_are_the_node_levels(tree3):
    ax = plot_dendrogram(tree3)
    (branches,) = _collections(ax, "branches")
    (joins,) = _collections(ax, "joins")
    segs = branches.get_segments()
    assert len(segs) == tree3.n_nodes
    for i, s in enumerate(segs):  # node i's branch runs from start to end (root: start = min density)
        assert s[0, 1] == pytest.approx(tree3.start[i])
        assert s[1, 1] == pytest.approx(tree3.end[i])
    assert len(joins.get_segments()) == tree3.n_nodes - len(tree3.leaves)
    # leaves at 0..L-1 in tree.leaves order; an internal node centred between its first and last child
    x = np.array([s[0, 0] for s in segs])
    np.testing.assert_allclose(x[list(tree3.leaves)], np.arange(len(tree3.leaves)))
    for i in range(tree3.n_nodes):
        kids = tree3.children(i)
        if kids:
            assert x[i] == pytest.approx(0.5 * (x[kids[0]] + x[kids[-1]]))
    # widths proportional to mass
    np.testing.assert_allclose(branches.get_linewidths(), np.maximum(0.6, 10.0 * tree3.mass))


def test_dendrogram_leaf_labels_and_limits(tree3):
    L = len(tree3.leaves)
    ax = plot_dendrogram(tree3)
    assert [t.get_text() for t in ax.texts] == [str(j) for j in range(L)]
    lo, hi = ax.get_ylim()
    assert lo <= tree3.start.min() and hi >= tree3.end.max()
    assert ax.get_xlim()[0] < 0 and ax.get_xlim()[1] > L - 1
    names = [f"digit {j} ({0.9:.2f})" for j in range(L)]
    ax = plot_dendrogram(tree3, leaf_labels=names)
    assert [t.get_text() for t in ax.texts] == names
    assert len(plot_dendrogram(tree3, leaf_labels=False).texts) == 0
    with pytest.raises(ValueError, match="leaf_labels"):
        plot_dendrogram(tree3, leaf_labels=["a"])


def test_dendrogram_mass_axis_is_fraction_above_level(raw3):
    ax = plot_dendrogram(raw3, y="mass")
    (branches,) = _collections(ax, "branches")
    f = raw3.log_density
    for i, s in enumerate(branches.get_segments()):
        assert s[0, 1] == pytest.approx(np.mean(f >= raw3.start[i]))
        assert s[1, 1] == pytest.approx(np.mean(f >= raw3.end[i]))
    bottom, top = ax.get_ylim()
    assert bottom >= 1.0 > top  # inverted: the root (mass 1) at the bottom
    assert ax.get_ylabel() == "mass above level"


def test_dendrogram_large_tree_is_two_artists_without_labels(bushy):
    ax = plot_dendrogram(bushy)
    assert len(ax.texts) == 0
    assert len(ax.collections) == 2
    assert sum(len(c.get_segments()) for c in ax.collections) == 2 * bushy.n_nodes - len(bushy.leaves)


def test_dendrogram_virtual_root_drawn_at_lowest_level():
    X = _blobs(n=(60, 60), centres=((0, 0), (50, 0)))
    t = tt.build_tree(X, k=5, connect=False)
    assert t.virtual_root
    ax = plot_dendrogram(t)
    (branches,) = _collections(ax, "branches")
    (joins,) = _collections(ax, "joins")
    assert len(branches.get_segments()) == t.n_nodes - 1  # no branch for the virtual root
    ys = np.concatenate([s[:, 1] for s in joins.get_segments()])
    assert np.isfinite(ys).all() and ys.min() == pytest.approx(t.log_density.min())
    assert np.isfinite(ax.get_ylim()).all()


def test_dendrogram_colours(tree3):
    L = len(tree3.leaves)
    (branches,) = _collections(plot_dendrogram(tree3), "branches")
    np.testing.assert_allclose(branches.get_colors()[list(tree3.leaves)], leaf_colors(L))
    (branches,) = _collections(plot_dendrogram(tree3, color={0: "red"}), "branches")
    np.testing.assert_allclose(branches.get_colors()[0], to_rgba("red"))
    (branches,) = _collections(plot_dendrogram(tree3, color=np.arange(tree3.n_nodes, dtype=float)), "branches")
    assert len(np.unique(branches.get_colors(), axis=0)) == tree3.n_nodes
    (branches,) = _collections(plot_dendrogram(tree3, color="k"), "branches")
    np.testing.assert_allclose(branches.get_colors(), np.tile(to_rgba("k"), (tree3.n_nodes, 1)))
    with pytest.raises(ValueError, match="color"):
        plot_dendrogram(tree3, color=["red"])
    with pytest.raises(ValueError, match="node id"):
        plot_dendrogram(tree3, color={99: "red"})


def test_dendrogram_bad_arguments(tree3):
    with pytest.raises(TypeError, match="tree"):
        plot_dendrogram(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="y must be"):
        plot_dendrogram(tree3, y="height")


def test_layout_matches_node_levels(tree3):
    lay = dendrogram_layout(tree3)
    np.testing.assert_allclose(lay["y0"], tree3.start)
    np.testing.assert_allclose(lay["y1"], tree3.end)


# ------------------------------------------------------------------------------------ persistence
def _covers(lim, values):
    lo, hi = min(lim), max(lim)
    return lo <= np.min(values) and hi >= np.max(values)


def test_persistence_of_tree_covers_pairs_and_shows_threshold(raw3, tree3):
    ax = plot_persistence(raw3)
    d = raw3.diagram
    assert _covers(ax.get_xlim(), np.r_[d[:, 0], raw3.essential])
    assert _covers(ax.get_ylim(), d[:, 1])
    pts = ax.collections[-2].get_offsets()  # finite pairs, then essential
    assert len(pts) == len(d)
    ess = ax.collections[-1].get_offsets()
    assert len(ess) == len(raw3.essential)
    # superlevel: axes run high to low, so the essential line (death -inf) is drawn at the top
    assert ax.yaxis_inverted() and ax.xaxis_inverted()
    assert np.all(ess[:, 1] < d[:, 1].min())
    assert min(ax.get_ylim()) <= ess[0, 1]
    band = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(band) == 1 and "0.775" in band[0].get_label()  # 3 / sqrt(15): what simplify() chooses
    assert tree3.simplification.min_persistence == pytest.approx(3 / np.sqrt(15))
    ax = plot_persistence(tree3, threshold=None)
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_persistence_gudhi_format():
    gudhi = pytest.importorskip("gudhi")
    pts = _blobs(n=(30, 30), centres=((0, 0), (5, 0)))
    st = gudhi.RipsComplex(points=pts, max_edge_length=3.0).create_simplex_tree(max_dimension=2)
    dgm = st.persistence()
    ax = plot_persistence(dgm)
    fin = np.array([p for _, p in dgm if np.isfinite(p[1])])
    ess = np.array([p[0] for _, p in dgm if not np.isfinite(p[1])])
    assert _covers(ax.get_xlim(), np.r_[fin[:, 0], ess])
    assert _covers(ax.get_ylim(), fin[:, 1])
    assert not ax.yaxis_inverted()
    top = max(ax.get_ylim())
    n_ess = sum(len(c.get_offsets()) for c in ax.collections
                if len(c.get_offsets()) and np.allclose(c.get_offsets()[:, 1], c.get_offsets()[0, 1])
                and c.get_offsets()[0, 1] > fin[:, 1].max())
    assert n_ess == len(ess) and top > fin[:, 1].max()


def test_persistence_array_barcode_and_errors():
    d = np.array([[0.0, 1.0], [0.5, 3.0], [1.0, np.inf]])
    ax = plot_persistence(d, barcode=True)
    (bars,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(bars.get_segments()) == 3
    assert _covers(ax.get_xlim(), [0.0, 3.0])
    ax = plot_persistence(d, barcode=True, threshold=1.5)
    grey = np.isclose(ax.collections[0].get_colors()[:, 0], 0.6)
    assert grey.sum() == 1  # the pair of persistence 1.0 < 1.5
    assert len(plot_persistence(np.zeros((0, 2))).collections) >= 1
    with pytest.raises(ValueError, match="NaN"):
        plot_persistence(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="shape"):
        plot_persistence(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="threshold"):
        plot_persistence(d, threshold=-1.0)


# ------------------------------------------------------------------------------------ matching
class _Matching:
    def __init__(self, pairs, confidence):
        self.pairs = pairs
        self.confidence = confidence


def test_matching_lines_and_facing_trees(tree3, raw3):
    pairs = [(i, i) for i in range(tree3.n_nodes)]
    ax = plot_matching(tree3, tree3, pairs)
    (lines,) = [c for c in ax.collections if c.get_gid() == "matching"]
    segs = np.array(lines.get_segments())
    assert len(segs) == len(pairs)
    assert np.all(segs[:, 0, 0] <= 0.5) and np.all(segs[:, 1, 0] >= 0.5)  # A on the left, B facing it
    # identical trees: each line is horizontal (same leaf position on both sides), mirror images
    np.testing.assert_allclose(segs[:, 0, 1], segs[:, 1, 1])
    np.testing.assert_allclose(segs[:, 0, 0], 1 - segs[:, 1, 0])
    assert len([t for t in ax.texts if t.get_gid() == "leaf-label"]) == 2 * len(tree3.leaves)

    conf = np.linspace(0, 1, 3)
    ax = plot_matching(tree3, raw3, _Matching(np.array([(0, 0), (1, 2), (2, 5)]), conf))
    (lines,) = [c for c in ax.collections if c.get_gid() == "matching"]
    alpha = lines.get_colors()[:, 3]
    assert len(lines.get_segments()) == 3 and np.all(np.diff(alpha) > 0)


def test_matching_none_draws_side_by_side(tree3, raw3):
    ax = plot_matching(tree3, raw3)
    assert not [c for c in ax.collections if c.get_gid() == "matching"]
    assert len(ax.collections) == 4
    with pytest.raises(ValueError, match="tree_b"):
        plot_matching(tree3, tree3, [(0, tree3.n_nodes)])
    with pytest.raises(ValueError, match="confidence"):
        plot_matching(tree3, tree3, _Matching([(0, 0)], [0.1, 0.2]))
    with pytest.raises(TypeError, match="tree_b"):
        plot_matching(tree3, None)


# ------------------------------------------------------------------------------------ embedding
def test_embedding_2d_colours_match_dendrogram(X3, tree3):
    ax = plot_embedding(X3, tree3)
    sc = ax.collections[0]
    np.testing.assert_allclose(sc.get_offsets(), X3)
    np.testing.assert_allclose(sc.get_facecolors(), leaf_colors(len(tree3.leaves))[tree3.labels()])
    assert len(ax.collections) > 1  # contour lines
    ax = plot_embedding(X3, tree3, max_points=100, contour=False)
    assert len(ax.collections[0].get_offsets()) == 100 and len(ax.collections) == 1


def test_embedding_pca_for_high_dims(tree3):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(tree3.n_points, 5)) * [5, 3, 1, 0.5, 0.1]
    ax = plot_embedding(X, tree3)
    P = ax.collections[0].get_offsets()
    Xc = X - X.mean(0)
    vecs = np.linalg.eigh(Xc.T @ Xc)[1][:, ::-1][:, :2]  # independent reference: covariance eigenvectors
    ref = Xc @ vecs
    for j in range(2):
        assert abs(np.corrcoef(P[:, j], ref[:, j])[0, 1]) == pytest.approx(1.0)
    assert ax.get_xlabel().startswith("PC1")
    with pytest.raises(ValueError, match="points"):
        plot_embedding(X[:10], tree3)


# ------------------------------------------------------------------------------------ files, import
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_saves_png_and_svg(tmp_path, tree3, X3, fmt):
    fig, axs = plt.subplots(2, 2, figsize=(8, 7))
    plot_dendrogram(tree3, ax=axs[0, 0])
    plot_persistence(tree3, ax=axs[0, 1])
    plot_matching(tree3, tree3, [(0, 0)], ax=axs[1, 0])
    plot_embedding(X3, tree3, ax=axs[1, 1])
    path = tmp_path / f"fig.{fmt}"
    fig.savefig(path, dpi=50)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" if fmt == "png" else b"<svg" in data[:2000]


def test_ax_is_returned_and_never_shown(tree3, monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() called"))
    fig, ax = plt.subplots()
    assert plot_dendrogram(tree3, ax=ax) is ax
    assert plot_persistence(tree3, ax=ax) is ax


def test_import_topotree_does_not_import_matplotlib():
    code = "import sys, topotree; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
