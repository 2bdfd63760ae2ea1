"""topotree._forest: the maximum spanning forest under the rank order gives the merge kernel the
same tree as the whole graph, and the forest of blocks combined pairwise is the forest of the whole."""
import numpy as np
import pytest

from topotree._components import components
from topotree._forest import edge_components, forest_edges, row_keys, spanning_forest, union_forest
from topotree._merge import merge_tree_kernel
from topotree.build import _order
from topotree.graph import earlier_adjacency


def _graph(n, k, seed, ties):
    rng = np.random.default_rng(seed)
    nb = rng.integers(0, n, size=(n, k))
    loops = rng.random((n, k)) < 0.05
    nb[loops] = np.nonzero(loops)[0]  # a few self loops (never edges)
    f = rng.normal(size=n)
    if ties:
        f = np.round(f, 1)  # many equal values: the rank order's ties decide
    order = _order(f, None)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return nb.astype(np.int64), order, rank


def _forest_by_blocks(nb, rank, bounds):
    n = nb.shape[0]
    parts = [spanning_forest(row_keys(nb[lo:hi], lo, rank), n) for lo, hi in zip(bounds[:-1], bounds[1:])]
    while len(parts) > 1:
        parts = [union_forest(parts[j], parts[j + 1], n) if j + 1 < len(parts) else parts[j]
                 for j in range(0, len(parts), 2)]
    return parts[0]


@pytest.mark.parametrize("seed, ties, k", [(0, False, 3), (1, True, 2), (2, True, 1), (3, False, 6)])
def test_merge_on_the_forest_equals_merge_on_the_graph(seed, ties, k):
    n = 3000
    nb, order, rank = _graph(n, k, seed, ties)
    bridges = np.zeros((0, 2), dtype=np.int64)
    expect = merge_tree_kernel(order, *earlier_adjacency(nb, bridges, rank))
    whole = spanning_forest(row_keys(nb, 0, rank), n)
    assert whole.shape[0] == n - int(components(nb).max()) - 1  # a spanning forest: one tree a component
    for bounds in ([0, n], [0, 700, 1500, 1501, 2999, n], np.linspace(0, n, 9).astype(np.int64)):
        keys = _forest_by_blocks(nb, rank, bounds)
        assert np.array_equal(keys, whole)  # the same forest, however the rows are cut
    edges = forest_edges(whole, order)
    got = merge_tree_kernel(order, *earlier_adjacency(np.zeros((n, 0), dtype=np.int64), edges, rank))
    for a, b in zip(expect, got):
        assert np.array_equal(a, b)
    assert np.array_equal(edge_components(edges, n), components(nb))


def test_keys_skip_self_loops_and_order_edges_by_later_end():
    rank = np.array([2, 0, 1])  # point 1 enters first, then 2, then 0
    keys = row_keys(np.array([[0, 1], [2, 1]]), 0, rank)  # rows 0 and 1: edges 0-1 and 1-2 (1-1 skipped)
    assert keys.tolist() == [1 * 3 + 0, 2 * 3 + 0]  # (late rank, early rank): 2-1 (ranks 1, 0), 0-1 (2, 0)
    assert spanning_forest(np.zeros(0, dtype=np.int64), 3).shape == (0,)
    assert forest_edges(keys, np.argsort(rank)).tolist() == [[2, 1], [0, 1]]
