"""Distances between clusters for the Gromov-Wasserstein starts: a contract over every metric,
networkx shortest paths as the reference, and the invariances that make hop counts useful."""
import importlib

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from tests.helpers import rot
from topotree.datasets import hierarchical_mixture

cd = importlib.import_module("topotree.align._cluster_distances")
gw_starts = importlib.import_module("topotree.align._gw_starts")
GRAPH_K = importlib.import_module("topotree.align._params").GRAPH_K


def _clusters(n=300, dim=3, k=6, seed=0):
    m = hierarchical_mixture(n, dim=dim, n_leaves=4, seed=seed)
    labels = np.arange(n) % k
    labels[np.argsort(m.X[:, 0])] = np.repeat(np.arange(k), n // k)  # slabs along the first axis
    centres = np.array([m.X[labels == c].mean(0) for c in range(k)])
    return m.X, labels, centres


@pytest.mark.parametrize("name", sorted(cd.CLUSTER_DISTANCES))
def test_every_metric_is_a_finite_symmetric_dissimilarity_with_zero_diagonal(name):
    X, labels, centres = _clusters()
    D = cd.CLUSTER_DISTANCES[name](X, labels, centres)
    assert D.shape == (6, 6) and np.isfinite(D).all()
    assert np.allclose(D, D.T) and np.all(np.diag(D) == 0) and np.all(D[~np.eye(6, dtype=bool)] > 0)


@pytest.mark.parametrize("name", sorted(cd.CLUSTER_DISTANCES))
def test_every_metric_scales_with_the_cloud_or_ignores_scale(name):
    X, labels, centres = _clusters(seed=1)
    D = cd.CLUSTER_DISTANCES[name](X, labels, centres)
    D2 = cd.CLUSTER_DISTANCES[name](3.0 * X @ rot(3, 2) + 7.0, labels, 3.0 * centres @ rot(3, 2) + 7.0)
    factor = 1.0 if name == "hops" else 3.0
    assert np.allclose(D2, factor * D, rtol=1e-9, atol=1e-9)


def _networkx_graph(X, weighted):
    """The kNN graph (GRAPH_K neighbours, symmetrised) plus the Euclidean minimum spanning tree."""
    n = X.shape[0]
    dist, idx = cKDTree(X).query(X, GRAPH_K + 1)
    full = nx.Graph()
    full.add_weighted_edges_from((i, j, float(np.linalg.norm(X[i] - X[j]))) for i in range(n) for j in range(i + 1, n))
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(nx.minimum_spanning_edges(full, data=True))
    g.add_edges_from((i, int(j), {"weight": float(d)}) for i in range(n) for d, j in zip(dist[i, 1:], idx[i, 1:]))
    return g if weighted else nx.Graph(g.edges())


@pytest.mark.parametrize("name,weighted", [("hops", False), ("geodesic", True)])
def test_graph_distances_match_networkx_shortest_paths(name, weighted):
    # two far-apart blobs: the kNN graph alone is disconnected, the spanning tree joins it
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 50.0]
    labels = np.r_[np.zeros(20, int), np.ones(20, int), np.full(40, 2)]
    centres = np.array([X[labels == c].mean(0) for c in range(3)])
    g = _networkx_graph(X, weighted)
    sp = dict(nx.all_pairs_dijkstra_path_length(g, weight="weight" if weighted else None))
    P = np.array([[sp[i][j] for j in range(80)] for i in range(80)])
    expect = np.array([[P[np.ix_(labels == a, labels == b)].mean() for b in range(3)] for a in range(3)])
    np.fill_diagonal(expect, 0.0)
    assert np.allclose(cd.CLUSTER_DISTANCES[name](X, labels, centres), expect, rtol=1e-10)


def test_euclidean_is_the_distance_between_centres():
    X, labels, centres = _clusters(seed=2)
    assert np.allclose(cd.euclidean(X, labels, centres), cdist(centres, centres))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), name=st.sampled_from(sorted(cd.CLUSTER_DISTANCES)))
def test_every_metric_ignores_the_order_of_the_rows(seed, name):
    X, labels, centres = _clusters(n=240, seed=seed % 50)
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    D = cd.CLUSTER_DISTANCES[name](X, labels, centres)
    assert np.allclose(cd.CLUSTER_DISTANCES[name](X[perm], labels[perm], centres), D, rtol=1e-10, atol=1e-12)


def test_quantise_subsamples_the_graph_keeping_every_cluster(monkeypatch):
    monkeypatch.setattr(gw_starts, "GRAPH_POINTS", 200)
    X = hierarchical_mixture(3000, dim=4, n_leaves=5, seed=4).X
    q = gw_starts._quantise(X, 60, "hops", seed=0)
    assert q.distances.shape == (60, 60) and np.isfinite(q.distances).all() and q.distances.max() == 1.0
    assert abs(q.masses.sum() - 1.0) < 1e-12
    # 200 graph rows for 60 clusters: some clusters have no member there and are represented by
    # the graph row nearest their centre; every cluster is still at a distance from the others
    assert (q.distances[~np.eye(60, dtype=bool)] > 0).mean() > 0.99


def test_a_cluster_with_no_member_takes_the_row_nearest_its_centre():
    D = np.array([[0.0, 1.0, 4.0], [1.0, 0.0, 2.0], [4.0, 2.0, 0.0]])
    labels = np.array([0, 0, 1])  # cluster 2 has no member; row 1 stands in for it
    out = cd.member_means(D, labels, 3, {2: 1})
    assert np.allclose(out, [[0.0, 3.0, 0.5], [3.0, 0.0, 2.0], [0.5, 2.0, 0.0]])


@pytest.mark.parametrize("metric", sorted(cd.POINT_DISTANCES))
def test_quantisations_sharing_a_cache_give_exactly_the_distances_computed_afresh(metric, monkeypatch):
    # the cache holds the distances between the cloud's points; each quantisation's clusters are
    # means over them
    X = hierarchical_mixture(600, dim=3, n_leaves=5, seed=6).X
    cache = {}
    for seed, k in ((0, 30), (1, 45), (2, 30)):
        fresh = gw_starts._quantise(X, k, metric, seed=seed, n_init=1)
        cached = gw_starts._quantise(X, k, metric, seed=seed, n_init=1, cache=cache)
        assert np.array_equal(fresh.distances, cached.distances) and np.array_equal(fresh.centres, cached.centres)
    assert set(cache) == {"rows", metric} and cache[metric].shape == (600, 600)


@pytest.mark.parametrize("metric", sorted(cd.POINT_DISTANCES))
def test_a_subsampled_graph_is_drawn_once_per_cloud_and_shared(metric, monkeypatch):
    # beyond GRAPH_POINTS rows the graph is a sample, drawn by the first quantisation and reused
    # by the next ones (fresh k-means clusters, the same graph rows)
    monkeypatch.setattr(gw_starts, "GRAPH_POINTS", 200)
    X = hierarchical_mixture(600, dim=3, n_leaves=5, seed=6).X
    cache = {}
    first = gw_starts._quantise(X, 20, metric, seed=0, n_init=1, cache=cache)
    assert np.array_equal(first.distances, gw_starts._quantise(X, 20, metric, seed=0, n_init=1).distances)
    rows = cache["rows"]
    assert rows.shape == (200,) and np.unique(rows).size == 200 and cache[metric].shape == (200, 200)
    second = gw_starts._quantise(X, 15, metric, seed=1, n_init=1, cache=cache)
    assert cache["rows"] is rows
    labels = np.argmin(cdist(X[rows], second.centres, "sqeuclidean"), axis=1)
    assert np.bincount(labels, minlength=15).min() > 0  # no stand-ins in this case: a plain mean
    expect = cd.CLUSTER_DISTANCES[metric](X[rows], labels, second.centres)
    assert np.allclose(second.distances, expect / expect.max(), rtol=1e-12)
