"""The graph layer against independent references: scipy's cKDTree and connected components,
brute-force edge lists, and the gudhi backend, at sizes where the parallel block passes run
(n >= 20,000 points: several blocks, edges between blocks)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

import topotree as tt
from topotree._kdtree import build_kdtree, nearest_with_label, node_labels
from topotree.datasets import hierarchical_mixture
from topotree.graph import _leafsize, bridge_components, components, earlier_adjacency, knn, knn_local


@pytest.mark.parametrize("d", [1, 2, 3, 5, 8, 12, 20])
def test_knn_matches_ckdtree(d):
    rng = np.random.default_rng(d)
    X = np.r_[rng.normal(size=(3000, d)), rng.normal(size=(1000, d)) * 0.1 + 3]
    idx, dist = knn(X, 12)
    ref_d, ref_i = cKDTree(X).query(X, k=13)
    np.testing.assert_allclose(dist, ref_d[:, 1:], rtol=1e-12, atol=1e-12)
    # indices agree wherever the distance is not tied with the next one
    np.testing.assert_allclose(np.linalg.norm(X[idx] - X[:, None, :], axis=2), dist, rtol=1e-12)
    assert not np.any(idx == np.arange(len(X))[:, None])
    same = np.mean(idx == ref_i[:, 1:])
    assert same > 0.999


def test_knn_with_duplicates_excludes_self_not_twins():
    X = np.repeat(np.random.default_rng(0).normal(size=(500, 3)), 3, axis=0)
    idx, dist = knn(X, 4)
    assert not np.any(idx == np.arange(len(X))[:, None])
    np.testing.assert_array_equal(dist[:, :2], 0.0)  # the two twins come first
    assert np.all(dist[:, 2:] > 0)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 9), st.sampled_from([2, 8, 16, 64]))
def test_kdtree_invariants(seed, d, leafsize):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    X = rng.normal(size=(n, d))
    if n > 10:
        X[: n // 3] = X[0]  # a block of identical points
    Xs, perm, start, end, left, right, lo, hi = build_kdtree(X, leafsize)
    assert np.array_equal(np.sort(perm), np.arange(n))
    np.testing.assert_array_equal(Xs, X[perm])
    for i in range(len(start)):
        pts = Xs[start[i]:end[i]]
        assert end[i] > start[i]
        np.testing.assert_array_equal(lo[i], pts.min(axis=0))
        np.testing.assert_array_equal(hi[i], pts.max(axis=0))
        if left[i] == -1:
            assert end[i] - start[i] <= leafsize or np.all(pts == pts[0])
        else:
            a, b = left[i], right[i]
            assert (start[a], end[a], start[b], end[b]) == (start[i], (start[i] + end[i]) // 2, end[a], end[i])
            dim = np.argmax(hi[i] - lo[i])
            assert Xs[start[a]:end[a], dim].max() <= Xs[start[b]:end[b], dim].min()


def test_kdtree_overwrite_permutes_in_place_and_matches_the_copy():
    X = np.random.default_rng(0).normal(size=(500, 20))
    ref = build_kdtree(X, 16)
    Y = X.copy()
    got = build_kdtree(Y, 16, overwrite=True)
    assert got[0] is Y  # no n x d copy
    for a, b in zip(ref, got):
        np.testing.assert_array_equal(a, b)
    Z = np.asfortranarray(X)  # not C-contiguous: copied, the input left alone
    assert build_kdtree(Z, 16, overwrite=True)[0] is not Z
    np.testing.assert_array_equal(Z, X)
    with pytest.raises(ValueError, match="leafsize"):
        build_kdtree(X, 0)


def _knn_graph(n, seed, locality):
    m = hierarchical_mixture(n, dim=2, n_leaves=9, seed=seed)
    if locality:
        _, nb, _, _ = knn_local(m.X, 6)
    else:
        nb, _ = knn(m.X, 6)
    return nb


@pytest.mark.parametrize("locality", [True, False])
def test_components_match_scipy_across_blocks(locality):
    nb = _knn_graph(40_000, 3, locality)
    n, k = nb.shape
    A = coo_matrix((np.ones(n * k), (np.repeat(np.arange(n), k), nb.ravel())), shape=(n, n))
    c_ref, lab_ref = connected_components(A, directed=False)
    lab = components(nb)
    assert lab.max() + 1 == c_ref > 1
    # same partition, numbered in order of first point
    first = np.unique(lab_ref, return_index=True)[1]
    relabel = np.empty(c_ref, dtype=int)
    relabel[np.argsort(first)] = np.arange(c_ref)
    np.testing.assert_array_equal(lab, relabel[lab_ref])


@pytest.mark.parametrize("locality", [True, False])
def test_earlier_adjacency_is_the_edge_list_at_later_ends(locality):
    nb = _knn_graph(30_000, 4, locality)
    n, k = nb.shape
    rank = np.random.default_rng(0).permutation(n)
    bridges = np.array([[0, n - 1], [5, 17]])
    ptr, ind = earlier_adjacency(nb, bridges, rank)
    # brute force: every directed kNN edge and every bridge, stored at its later end
    a = np.r_[np.repeat(np.arange(n), k), bridges[:, 0]]
    b = np.r_[nb.ravel(), bridges[:, 1]]
    late = np.where(rank[a] > rank[b], a, b)
    early = np.where(rank[a] > rank[b], b, a)
    o = np.lexsort((early, late))
    np.testing.assert_array_equal(ptr, np.r_[0, np.cumsum(np.bincount(late, minlength=n))])
    got = np.concatenate([np.sort(ind[ptr[i]:ptr[i + 1]]) for i in range(n)])
    np.testing.assert_array_equal(got, early[o])


def test_nearest_with_label_matches_brute_force():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5000, 3))
    label = rng.integers(0, 4, size=5000)
    Xs, perm, start, end, left, right, lo, hi = build_kdtree(X, 16)
    lab = label[perm]
    nodes = node_labels(start, end, left, right, lab)
    Q = rng.normal(size=(50, 3))
    for target in range(4):
        d2, i = nearest_with_label(Xs, start, end, left, right, lo, hi, nodes, lab, Q, target, 5)
        P = Xs[lab == target]
        ref = np.sort(((Q[:, None, :] - P[None]) ** 2).sum(-1), axis=1)[:, :5]
        np.testing.assert_allclose(d2, ref, rtol=1e-12)
        assert np.all(lab[i] == target)


def test_bridges_between_large_components_are_single_linkage():
    """Components of thousands of points (the seeded path, not the exhaustive one)."""
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [40, 0], [0, 55], [70, 70], [-50, 20]], dtype=float)
    X = np.vstack([rng.normal(size=(4000, 2)) + c for c in centres])
    nb, _ = knn(X, 8)
    comp = components(nb)
    c = comp.max() + 1
    assert c == len(centres)
    gap = np.zeros((c, c))
    for a in range(c):
        tree = cKDTree(X[comp == a])
        for b in range(a + 1, c):
            gap[a, b] = tree.query(X[comp == b])[0].min()
    expected = minimum_spanning_tree(gap).sum()
    bridges = bridge_components(X, nb)
    assert bridges.shape == (c - 1, 2)
    assert np.isclose(np.linalg.norm(X[bridges[:, 0]] - X[bridges[:, 1]], axis=1).sum(), expected)


def test_large_tree_backends_agree_and_diagram_matches_tomato():
    """At 40,000 points (parallel blocks, KD-tree numbering, bridges) both backends give one tree,
    whose diagram is gudhi ToMATo's on the same graph and weights."""
    from gudhi.clustering.tomato import Tomato

    from topotree.graph import adjacency

    X = hierarchical_mixture(40_000, dim=2, n_leaves=12, seed=5).X
    a = tt.build_tree(X, k=10)
    b = tt.build_tree(X, k=10, backend="gudhi")
    assert a.essential.shape == (1,) and len(a.bridges) > 0
    for name in ("parent", "start", "end", "mass", "peak", "split", "owner", "basin", "member_order",
                 "diagram", "essential"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    ptr, ind = adjacency(a.neighbors, a.bridges)
    t = Tomato(graph_type="manual", density_type="manual").fit(
        [ind[ptr[i]:ptr[i + 1]] for i in range(len(X))], weights=a.log_density)
    # tied densities (two points sharing their k-th neighbour distance) are ordered differently by
    # ToMATo; they only add or remove pairs of zero persistence
    theirs = np.asarray(t.diagram_).reshape(-1, 2)
    ours = np.sort(a.diagram[a.diagram[:, 0] > a.diagram[:, 1]], axis=0)
    theirs = np.sort(theirs[theirs[:, 0] > theirs[:, 1]], axis=0)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_leafsize_grows_with_dimension():
    sizes = [_leafsize(d) for d in range(1, 17)]
    assert sizes == sorted(sizes) and sizes[0] == 16


def _brute_knn(X, k):
    from scipy.spatial.distance import cdist

    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


@pytest.mark.parametrize("d", [16, 17, 32, 64, 128])
def test_knn_equals_brute_force_in_many_dims(d):
    m = hierarchical_mixture(2500, dim=d, n_leaves=6, seed=d)
    X = np.r_[m.X, np.random.default_rng(d).normal(size=(300, d)) * 0.05 + m.X[0]]  # a tight clump
    idx, dist = knn(X, 15)
    ref_i, ref_d = _brute_knn(X, 15)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(X[idx] - X[:, None, :], axis=2), dist, rtol=1e-12)
    assert not np.any(idx == np.arange(len(X))[:, None])
    assert np.mean(idx == ref_i) > 0.999  # ties aside


@pytest.mark.parametrize("d", [3, 12, 16, 17, 40, 100])
def test_knn_method_switch_is_invisible(d, monkeypatch):
    import topotree.graph as graph

    X = hierarchical_mixture(3000, dim=d, n_leaves=6, seed=1).X
    results = []
    for method in ("kdtree", "blocks"):
        monkeypatch.setattr(graph, "_search_method", lambda n, d, m=method: m)
        results.append(knn(X, 12))
    (i0, d0), (i1, d1) = results
    np.testing.assert_array_equal(i0, i1)
    np.testing.assert_array_equal(d0, d1)  # one distance formula per dimension: identical to the last bit


def _manifold(n, d, seed=0):
    """A 3-dimensional curved cloud embedded in d dims with a little noise (a KD-tree prunes well)."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 3)) * [3.0, 2.0, 1.0]
    W = np.linalg.qr(rng.normal(size=(d, d)))[0][:, :3]
    return np.tanh(Z) @ W.T * 4 + Z @ W.T + 0.02 * rng.normal(size=(n, d))


def test_knn_probe_picks_by_pruning_and_stays_exact(monkeypatch):
    # 32 dims, 25,000 points: in the probed range; a full-dimensional mixture defeats the KD-tree's
    # pruning (the blocks take over), a 3-dimensional manifold does not (the KD-tree stays)
    from sklearn.neighbors import NearestNeighbors

    import topotree.graph as graph

    used = []
    real = graph.knn_blocks
    for X, blocks in ((hierarchical_mixture(25_000, dim=32, n_leaves=6, seed=2).X, True), (_manifold(25_000, 32), False)):
        assert graph._search_method(*X.shape) == "probe"
        used.clear()
        monkeypatch.setattr(graph, "knn_blocks", lambda *a, **kw: used.append(True) or real(*a, **kw))
        idx, dist = knn(X, 10)
        assert bool(used) == blocks
        ref_d, ref_i = NearestNeighbors(n_neighbors=11, algorithm="brute").fit(X).kneighbors(X)
        np.testing.assert_allclose(dist, ref_d[:, 1:], rtol=1e-10, atol=1e-10)
        assert np.mean(idx == ref_i[:, 1:]) > 0.999
        monkeypatch.setattr(graph, "_search_method", lambda n, d, m="blocks" if blocks else "kdtree": m)
        i2, d2 = knn(X, 10)  # the probed leaves' answers equal the unprobed search's, bit for bit
        np.testing.assert_array_equal(i2, idx)
        np.testing.assert_array_equal(d2, dist)
        monkeypatch.undo()


@pytest.mark.parametrize("direct", [0, 10**9])
def test_knn_blocks_in_place_and_gathered_runs_agree_with_brute_force(direct, monkeypatch):
    # runs of candidate points enter the products in place (long runs) or gathered (short ones):
    # forcing either path for every run gives the brute-force answer and the same bits;
    # several products a run, a partial one at its end
    _blocks_agree_with_brute_force(hierarchical_mixture(3000, dim=24, n_leaves=6, seed=4).X, 10,
                                   {"_DIRECT": direct, "_COLS": 300}, monkeypatch)


def _blocks_agree_with_brute_force(X, k, settings, monkeypatch):
    """The blocks search with ``settings`` of ``_knn_blocks`` gives the brute-force answer and,
    bit for bit, the default settings' answer."""
    import topotree._knn_blocks as blocks
    import topotree.graph as graph

    monkeypatch.setattr(graph, "_search_method", lambda n, d: "blocks")
    default = knn(X, k)
    for name, value in settings.items():
        monkeypatch.setattr(blocks, name, value)
    idx, dist = knn(X, k)
    ref_i, ref_d = _brute_knn(X, k)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-12, atol=1e-12)
    assert np.mean(idx == ref_i) > 0.999
    np.testing.assert_array_equal(idx, default[0])
    np.testing.assert_array_equal(dist, default[1])


def test_knn_blocks_certify_or_fall_back():
    # a far outlier makes the float32 screen's error bound huge: rows are searched exactly instead
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(size=(1500, 24)), np.full((1, 24), 1e7)]
    idx, dist = knn(X, 10)
    ref_i, ref_d = _brute_knn(X, 10)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-12, atol=1e-12)
    assert np.mean(idx == ref_i) > 0.999


def test_knn_blocks_with_duplicates_exclude_self_not_twins():
    X = np.repeat(np.random.default_rng(0).normal(size=(500, 20)), 3, axis=0)
    idx, dist = knn(X, 4)
    assert not np.any(idx == np.arange(len(X))[:, None])
    np.testing.assert_array_equal(dist[:, :2], 0.0)
    assert np.all(dist[:, 2:] > 0)


def _lists_after(bd, bi, values, rows, cols):
    """Brute force: each point's m smallest values over its list and the offered ``values``
    (rows ``rows``, columns ``cols``; NaN = not offered), as sorted (value, point) sets."""
    m = bd.shape[1]
    out = []
    for q in range(bd.shape[0]):
        cands = [(float(v), int(p)) for v, p in zip(bd[q], bi[q]) if p >= 0]
        for i in np.flatnonzero(rows == q):
            cands += [(float(values[i, j]), int(cols[j])) for j in range(len(cols)) if not np.isnan(values[i, j])]
        for j in np.flatnonzero(cols == q):
            cands += [(float(values[i, j]), int(rows[i])) for i in range(len(rows)) if not np.isnan(values[i, j])]
        out.append(sorted(cands)[:m])
    return out


@pytest.mark.parametrize("tri,gather", [(False, False), (False, True), (True, False)])
def test_screen_both_keeps_the_smallest_values_of_rows_and_columns(tri, gather):
    # one product serves two sets of lists: the row points' and the column points' (in place or
    # gathered); in the triangle (a contiguous block against itself) every point is a row and,
    # for the later rows, a column
    from topotree._knn_blocks import _screen_both

    rng = np.random.default_rng(7)
    n, d, m = 150, 5, 6
    Y = rng.normal(size=(n, d)).astype(np.float32)
    sq = np.einsum("ij,ij->i", Y, Y)
    bd = np.full((n, m), np.inf, dtype=np.float32)
    bi = np.full((n, m), -1, dtype=np.int64)
    for q in range(0, n, 3):  # some lists already hold candidates (far points), some are empty
        far = rng.choice(n, 3, replace=False)
        bd[q, :3] = np.sort(rng.uniform(5.0, 9.0, 3)).astype(np.float32)
        bi[q, :3] = far
    ref_bd, ref_bi = bd.copy(), bi.copy()
    if tri:
        rows = cols = np.arange(20, 20 + 70)
        P = Y[rows] @ Y[cols].T
        _screen_both(P, sq, 20, np.empty(0, dtype=np.int64), 20, True, bd, bi)
        offered = np.where(np.tril(np.ones((70, 70), dtype=bool), -1), sq[rows][:, None] + sq[cols][None, :] - 2 * P, np.nan)
    else:
        rows = np.arange(10, 50)
        cols = rng.choice(np.arange(60, n), 70, replace=False) if gather else np.arange(60, 130)
        P = Y[rows] @ Y[cols].T
        _screen_both(P, sq, 10, cols if gather else np.empty(0, dtype=np.int64), 0 if gather else 60, False, bd, bi)
        offered = sq[rows][:, None] + sq[cols][None, :] - np.float32(2) * P
    want = _lists_after(ref_bd, ref_bi, offered.astype(np.float32), rows, cols)
    for q in range(n):
        got = sorted((float(v), int(p)) for v, p in zip(bd[q], bi[q]) if p >= 0)
        assert [v for v, _ in got] == pytest.approx([v for v, _ in want[q]], rel=1e-6, abs=1e-6)
        assert np.all(bd[q][:-1] <= bd[q][1:])  # each list stays sorted


def test_pair_runs_give_every_pair_of_leaves_a_point_may_need_once():
    # the leaf pairs of the second pass: every pair of leaves M, L of different groups where a
    # point of either lies within its own bound of the other's box, once, from the earlier leaf
    # (brute force over all leaf pairs and points)
    from topotree._kdtree import box_gap_between
    from topotree._knn_blocks import _boxes, _inner_max, groups_of, pair_runs, parents

    X = hierarchical_mixture(6000, dim=6, n_leaves=5, seed=3).X
    Ys, perm, start, end, left, right, lo, hi = build_kdtree(X.copy(), 32)
    Y32 = Ys.astype(np.float32)
    blo, bhi = _boxes(Y32, start, end, left, right)
    leaves = np.flatnonzero(left == -1)
    leaves = leaves[np.argsort(start[leaves])]
    _, group = groups_of(leaves, start, end, parents(left, right))
    g = dict(zip(leaves.tolist(), group.tolist()))
    rng = np.random.default_rng(0)
    point = rng.uniform(0.0, 4.0, X.shape[0]) ** 2
    reach = np.zeros(left.shape[0])
    reach[leaves] = np.maximum.reduceat(point, start[leaves])
    _inner_max(reach, left, right)

    def gaps(L, M):  # squared distances of L's points to M's box
        y = Y32[start[L]:end[L]].astype(np.float64)
        return (np.maximum(0.0, np.maximum(blo[M] - y, y - bhi[M])) ** 2).sum(1)

    def needed(L, M):
        return bool((gaps(L, M) <= point[start[L]:end[L]]).any() or (gaps(M, L) <= point[start[M]:end[M]]).any())

    leaf_at = {int(start[L]): int(L) for L in leaves}
    n_leaf_level = n_needed = 0
    for L in leaves:
        runs = pair_runs(start, end, left, right, lo, hi, reach, L, g[int(L)], Y32, point, blo, bhi)
        got = sorted(leaf_at[s] for a, b in runs for s in range(a, b) if s in leaf_at)
        near = [int(M) for M in leaves if start[M] > start[L] and g[int(M)] != g[int(L)]
                and box_gap_between(lo, hi, M, lo, hi, L, X.shape[1]) <= max(reach[L], reach[M])]
        want = sorted(M for M in near if needed(int(L), M))
        assert got == want
        n_leaf_level += len(near)
        n_needed += len(want)
    assert n_needed < n_leaf_level  # the points' own bounds prune beyond the leaves' (else untested)


@pytest.mark.parametrize("tile,stripe", [(100, 7), (4096, 1024)])
def test_knn_blocks_tiles_and_locks_agree_with_brute_force(tile, stripe, monkeypatch):
    # a group multiplied in small tiles (ssyrk on the diagonal, general products off it) and
    # locks over stripes of 7 points (many locks a product) give the brute-force answer, bit
    # for bit the default's
    _blocks_agree_with_brute_force(hierarchical_mixture(4000, dim=40, n_leaves=6, seed=5).X, 12,
                                   {"_GROUP_TILE": tile, "_STRIPE": stripe}, monkeypatch)


@pytest.mark.heavy
def test_build_tree_approx_knn_close_to_exact():
    pytest.importorskip("pynndescent")
    from sklearn.metrics import adjusted_rand_score

    X = hierarchical_mixture(3000, dim=24, n_leaves=5, seed=2).X
    exact = tt.build_tree(X, k=15)
    approx = tt.build_tree(X, k=15, knn="approx")
    ref_i, _ = knn(X, 15)
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(approx.neighbors, ref_i)])
    assert recall > 0.9
    a, b = exact.simplify(), approx.simplify()
    assert adjusted_rand_score(a.labels(), b.labels()) > 0.9
    with pytest.raises(ValueError, match="knn"):
        tt.build_tree(X, k=15, knn="fast")
